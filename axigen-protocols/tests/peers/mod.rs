//! Real network peers for the tests, started on loopback: dnsmasq serving
//! a local `test` zone, and aiosmtpd as a remote SMTP host
//! (clients/delivery_peer.py). Shared by the DNS and delivery tests here
//! and by the reference server's delivery test (`#[path]` include).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, stopped when dropped.
pub struct Peer {
    child: Child,
    _stdin: Option<ChildStdin>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self._stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a tool is there; under CI its absence fails the test.
pub fn available(what: &str, program: &str, check: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(check)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok || std::env::var_os("CI").is_none(), "{what} is required under CI");
    if !ok {
        eprintln!("skipped: {what} is not installed");
    }
    ok
}

/// A port free for TCP on 127.0.0.1 and for UDP.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// dnsmasq on 127.0.0.1:`port`, authoritative for `test` with `records`
/// (dnsmasq options such as `--mx-host=...`); `None` when not installed.
pub fn dnsmasq(port: u16, records: &[&str]) -> Option<Peer> {
    if !available("dnsmasq", "dnsmasq", &["--version"]) {
        return None;
    }
    let port_arg = format!("--port={port}");
    let mut args = vec![
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        "--pid-file=",
        "--user=root",
        "--local=/test/",
        &port_arg,
    ];
    args.extend_from_slice(records);
    let child = Command::new("dnsmasq").args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Ready once it answers on its TCP port.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "dnsmasq did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Peer { child, _stdin: None })
}

/// aiosmtpd on `ip`:`port` with STARTTLS (`cert`, `key`), writing what it
/// accepts to `out` (see clients/delivery_peer.py); `None` when aiosmtpd
/// is not installed.
pub fn smtp_host(ip: &str, port: u16, out: &Path, cert: &Path, key: &Path) -> Option<Peer> {
    if !available("aiosmtpd", "python3", &["-c", "import aiosmtpd"]) {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../axigen-protocols/tests/clients/delivery_peer.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([ip, &port.to_string()])
        .args([out, cert, key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let stdin = child.stdin.take();
    Some(Peer { child, _stdin: stdin })
}
