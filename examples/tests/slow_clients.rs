//! Slow clients through the reference server binary: a client that sends a
//! byte now and then (a command line, message text, an HTTP header, a TLS
//! handshake) is cut off on every listener by the listener's request time
//! (2 s here), and one address cannot hold more than its share of
//! connections.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{Server, client_script};
use serde_json::Value;

const CONFIG: &str = r#"data_dir = "data"
[delivery]
enabled = false
[log]
format = "json"
[[listener]]
name = "smtp"
service = "smtp"
bind = "127.0.0.1:0"
request_timeout = "2s"
min_data_rate = 100
[[listener]]
name = "imap"
service = "imap"
bind = "127.0.0.1:0"
request_timeout = "2s"
[[listener]]
name = "imaps"
service = "imap"
bind = "127.0.0.1:0"
tls = "implicit"
request_timeout = "2s"
[[listener]]
name = "pop3"
service = "pop3"
bind = "127.0.0.1:0"
request_timeout = "2s"
max_connections_per_ip = 3
[[listener]]
name = "http"
service = "http"
bind = "127.0.0.1:0"
request_timeout = "2s"
[[directory.domain]]
name = "example.com"
[[directory.account]]
address = "slow@example.com"
password = "slow-pw"
"#;

/// Seconds between two bytes of a slow client.
const INTERVAL: &str = "0.4";

fn slow(server: &Server, scenario: &str, listener: &str) -> Value {
    let (host, port) = server.host_port(listener);
    let out = Command::new("python3")
        .arg(client_script("slow_client.py"))
        .args([scenario, &host, &port, INTERVAL])
        .output()
        .unwrap();
    assert!(out.status.success(), "{scenario}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{scenario}: {e}"))
}

/// A client that connects from `source` and holds the connection; returns
/// it with what it saw first.
fn hold(server: &Server, listener: &str, source: &str) -> (Child, Value) {
    let (host, port) = server.host_port(listener);
    let mut child = Command::new("python3")
        .arg(client_script("slow_client.py"))
        .args(["hold", &host, &port, INTERVAL, source])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
    (child, serde_json::from_str(first.trim()).unwrap_or_else(|e| panic!("{e}: {first:?}")))
}

/// Holders are stopped even when an assertion fails.
struct Holders(Vec<Child>);

impl Drop for Holders {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn slow_clients_are_cut_off_on_every_listener_and_hold_only_their_share() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = Server::start(&config, &["smtp", "imap", "imaps", "pop3", "http"]);

    for (scenario, listener, last) in [
        ("smtp_command", "smtp", "421"),
        ("smtp_data", "smtp", "421"),
        ("imap_command", "imap", "* BYE"),
        ("pop3_command", "pop3", "-ERR"),
        ("http_header", "http", ""),
        ("tls_handshake", "imaps", ""),
    ] {
        let r = slow(&server, scenario, listener);
        assert_eq!(r["closed"], true, "{scenario}: the server kept a trickling client: {r}");
        let seconds = r["seconds"].as_f64().unwrap();
        // The request time is 2 s: cut off after it, long before the
        // client would have finished (every request here is hundreds of
        // bytes, a byte every 0.4 s).
        assert!((1.5..8.0).contains(&seconds), "{scenario}: closed after {seconds} s: {r}");
        assert!(r["last"].as_str().unwrap().contains(last), "{scenario}: {r}");
    }

    // Three connections from one address are its share on the pop3
    // listener: a fourth is closed at once; another address is served.
    let mut holders = Holders(Vec::new());
    for _ in 0..3 {
        let (child, seen) = hold(&server, "pop3", "127.0.0.5");
        assert!(seen["greeting"].as_str().is_some_and(|g| g.starts_with("+OK")), "{seen}");
        holders.0.push(child);
    }
    let (child, seen) = hold(&server, "pop3", "127.0.0.5");
    holders.0.push(child);
    assert_eq!(seen["closed"], true, "a fourth connection from the same address: {seen}");
    let (child, seen) = hold(&server, "pop3", "127.0.0.6");
    holders.0.push(child);
    assert!(seen["greeting"].as_str().is_some_and(|g| g.starts_with("+OK")), "another address: {seen}");
    drop(holders);
    server.terminate();
}
