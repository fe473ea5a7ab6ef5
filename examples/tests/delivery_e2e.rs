//! SMTP sending through the reference server binary: a user submits mail
//! (Python's smtplib, STARTTLS and AUTH) to an outside domain; the server
//! resolves its MX through a real DNS server (dnsmasq) and hands it to a
//! real SMTP host (aiosmtpd, tests/clients/delivery_peer.py of
//! axigen-protocols). The queue survives a SIGKILL while the remote host is
//! down, and every message arrives exactly once after the restart; the
//! admin API shows the counters.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, curl};

#[path = "../../axigen-protocols/tests/peers/mod.rs"]
mod peers;

use peers::{Peer, free_port};

/// dnsmasq: `remote.test` has its MX at 127.0.0.23.
fn dns(port: u16) -> Option<Peer> {
    peers::dnsmasq(port, &["--mx-host=remote.test,mx.remote.test,10", "--host-record=mx.remote.test,127.0.0.23"])
}

/// Submits `count` messages to remote recipients; the number accepted.
fn submit(submission: &str, from: usize, count: usize) -> usize {
    let (host, port) = submission.rsplit_once(':').unwrap();
    let script = r#"
import smtplib, ssl, sys
host, port, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
accepted = 0
with smtplib.SMTP(host, port, timeout=30) as s:
    s.starttls(context=ctx)
    s.login("ann@example.com", "ann-pw")
    for i in range(first, first + count):
        msg = f"From: <ann@example.com>\r\nTo: <r{i}@remote.test>\r\nSubject: out {i}\r\n\r\nmessage {i}\r\n"
        s.sendmail("ann@example.com", [f"r{i}@remote.test"], msg)
        accepted += 1
print(accepted)
"#;
    let out = Command::new("python3")
        .args(["-c", script, host, port, &from.to_string(), &count.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// How many copies of each recipient the remote host has.
fn copies(out: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        *m.entry(name.rsplit_once('.').unwrap().0.to_owned()).or_default() += 1;
    }
    m
}

fn wait_for(out: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while copies(out).len() < n {
        assert!(Instant::now() < deadline, "only {:?} arrived", copies(out));
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn config(dir: &Path, dns_port: u16, smtp_port: u16) -> PathBuf {
    let path = dir.join("server.toml");
    std::fs::write(
        &path,
        format!(
            r#"data_dir = "data"
hostname = "mx.example.com"
[delivery]
port = {smtp_port}
ca_file = "/nonexistent"
[delivery.retry]
intervals = ["1s"]
[dns]
nameservers = ["127.0.0.1:{dns_port}"]
timeout_seconds = 2
attempts = 1
[log]
format = "json"
[[listener]]
name = "submission"
service = "submission"
bind = "127.0.0.1:0"
tls = "starttls"
[[listener]]
name = "http"
service = "http"
bind = "127.0.0.1:0"
[[directory.domain]]
name = "example.com"
[[directory.account]]
address = "ann@example.com"
password = "ann-pw"
settings = {{ "relay.allowed" = true }}
"#
        ),
    )
    .unwrap();
    path
}

#[test]
fn submitted_mail_reaches_the_remote_mx_and_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (dns_port, smtp_port) = (free_port(), free_port());
    let Some(_dns) = dns(dns_port) else { return };
    let (cert, key, _) = axigen_protocols::tls::ensure_dev_certificate(dir.path(), &["mx.remote.test".into()]).unwrap();
    let out = dir.path().join("received");
    std::fs::create_dir(&out).unwrap();
    let config = config(dir.path(), dns_port, smtp_port);

    // The remote host is down: the messages wait in the queue; a crash
    // then loses none of them.
    let server = Server::start(&config, &["submission", "http"]);
    // The admin credential is printed at the first start only.
    let admin = format!("admin:{}", server.admin_password().unwrap());
    assert_eq!(submit(&server.listeners["submission"], 0, 10), 10);
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();

    // Back with the remote host up: all ten arrive, once each.
    let Some(peer) = peers::smtp_host("127.0.0.23", smtp_port, &out, &cert, &key) else { return };
    let server = Server::start(&config, &["submission", "http"]);
    wait_for(&out, 10);
    // And new mail goes straight out.
    assert_eq!(submit(&server.listeners["submission"], 10, 5), 5);
    wait_for(&out, 15);
    let got = copies(&out);
    assert_eq!(got.len(), 15, "{got:?}");
    assert!(got.values().all(|n| *n == 1), "exactly one copy each: {got:?}");

    // The counters in the admin API: nothing left, 15 delivered.
    let api = format!("{}/api/v1/queue", server.url("http", "http"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, v) = curl("GET", &api, &admin, None);
        assert_eq!(code, 200, "{v}");
        if v["stats"]["queued"] == 0 {
            assert_eq!(v["stats"]["delivered"], 15, "{v}");
            assert_eq!(v["stats"]["failed"], 0, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(server.terminate(), 0);
    drop(peer);
}
