//! The login throttle through the reference server binary, over every
//! protocol that logs in (SMTP submission, IMAP, POP3, ActiveSync, the
//! admin API), with real clients (smtplib, imaplib, poplib, http.client):
//!
//! - one device keeps sending a stale password while 50 other accounts log
//!   in from the same address: the others are never delayed, the stale
//!   device's answers are;
//! - one address tries one password on 30 accounts (spraying): answered at
//!   once, then delayed, then refused without checking, even for accounts
//!   it has not tried;
//! - the admin API lists what the throttle holds and clears an address.
//!
//! Each scenario runs from a loopback address of its own (127.0.0.0/8 is
//! all loopback), so that the scenarios do not count against each other.

mod common;

use std::process::Command;
use std::thread;

use common::{Server, client_script, curl};
use serde_json::Value;

const DOMAIN: &str = "example.com";
const OTHERS: usize = 50;
const STALE_TRIES: usize = 6;
const SPRAYED: usize = 30;

fn config() -> String {
    let mut c = String::from(
        r#"data_dir = "data"
[delivery]
enabled = false
[log]
format = "json"
[auth]
# Every login below is checked for real (argon2), not answered from the cache.
verified_cache_seconds = 0
[auth.throttle]
window = "10m"
guess_free = 3
guess_refuse = 10
spray_free = 5
spray_refuse = 15
first_delay = "1s"
max_delay = "1s"
[[listener]]
name = "submission"
service = "submission"
bind = "127.0.0.1:0"
tls = "starttls"
max_connections_per_ip = 200
[[listener]]
name = "imap"
service = "imap"
bind = "127.0.0.1:0"
tls = "starttls"
max_connections_per_ip = 200
[[listener]]
name = "pop3"
service = "pop3"
bind = "127.0.0.1:0"
tls = "starttls"
max_connections_per_ip = 200
[[listener]]
name = "https"
service = "http"
bind = "127.0.0.1:0"
tls = "implicit"
max_connections_per_ip = 200
[[directory.domain]]
name = "example.com"
[[directory.account]]
address = "stale@example.com"
password = "the new password"
"#,
    );
    for k in 1..=OTHERS {
        c.push_str(&format!("[[directory.account]]\naddress = \"user{k}@{DOMAIN}\"\npassword = \"pw-user{k}\"\n"));
    }
    c
}

fn run_client(args: &[String]) -> Value {
    let out = Command::new("python3").arg(client_script("throttle_client.py")).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{args:?}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

fn attempts(v: &Value) -> Vec<(f64, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| (a["seconds"].as_f64().unwrap(), a["outcome"].as_str().unwrap().to_owned()))
        .collect()
}

/// An SMTP refusal by the throttle is `421` and a closed connection.
fn refused_by_throttle(protocol: &str, outcome: &str) -> bool {
    match protocol {
        "smtp" => outcome == "refused 421" || outcome == "closed",
        _ => outcome == "unavailable",
    }
}

fn wrong_password(protocol: &str, outcome: &str) -> bool {
    match protocol {
        "smtp" => outcome == "refused 535",
        _ => outcome == "refused",
    }
}

#[test]
fn a_stale_device_slows_only_itself_and_spraying_is_slowed_then_refused_over_every_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("server.toml");
    std::fs::write(&config_path, config()).unwrap();
    let server = Server::start(&config_path, &["submission", "imap", "pop3", "https"]);
    let admin_password = server.admin_password().expect("first start prints the admin password");
    let protocols =
        [("smtp", "submission"), ("imap", "imap"), ("pop3", "pop3"), ("activesync", "https"), ("admin", "https")];
    let args = |scenario: &str, protocol: &str, listener: &str, source: String, extra: &[String]| -> Vec<String> {
        let (host, port) = server.host_port(listener);
        let mut a = vec![scenario.to_owned(), protocol.to_owned(), source, host, port, DOMAIN.to_owned()];
        a.extend_from_slice(extra);
        a
    };

    // Spraying, one address per protocol, all at once (mostly waiting).
    let sprays: Vec<_> = protocols
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| *p != "admin")
        .map(|(i, (protocol, listener))| {
            let a = args("spray", protocol, listener, format!("127.0.0.{}", 20 + i), &[SPRAYED.to_string()]);
            let protocol = protocol.to_string();
            thread::spawn(move || (protocol, run_client(&a)))
        })
        .collect();

    // The stale device and the others, one protocol after the other.
    for (i, (protocol, listener)) in protocols.iter().enumerate() {
        let extra = [
            STALE_TRIES.to_string(),
            (if *protocol == "admin" { 5 } else { OTHERS }).to_string(),
            admin_password.clone(),
        ];
        let out = run_client(&args("stale", protocol, listener, format!("127.0.0.{}", 10 + i), &extra));
        let stale = attempts(&out["stale"]);
        assert!(stale.iter().all(|(_, o)| wrong_password(protocol, o)), "{protocol}: {stale:?}");
        // The first failures are answered at once; from the fourth on, the
        // answers wait (first_delay = 1 s).
        assert!(stale[0].0 < 0.9, "{protocol}: {stale:?}");
        assert!(
            stale[STALE_TRIES - 2..].iter().all(|(s, _)| *s >= 1.0),
            "{protocol}: the stale device is slowed: {stale:?}"
        );
        // Nobody else from the address waits, the owner's right password included.
        let others = attempts(&out["others"]);
        assert!(!others.is_empty());
        for (seconds, outcome) in &others {
            assert_eq!(outcome, "ok", "{protocol}: {others:?}");
            assert!(*seconds < 0.9, "{protocol}: a login with the right password waited {seconds} s: {others:?}");
        }
    }

    for spray in sprays {
        let (protocol, out) = spray.join().unwrap();
        let tries = attempts(&out["spray"]);
        assert_eq!(tries.len(), SPRAYED);
        // Five accounts answered at once...
        for (seconds, outcome) in &tries[..5] {
            assert!(wrong_password(&protocol, outcome), "{protocol}: {tries:?}");
            assert!(*seconds < 0.9, "{protocol}: {tries:?}");
        }
        // ... ten more, each after a delay ...
        for (seconds, outcome) in &tries[5..15] {
            assert!(wrong_password(&protocol, outcome), "{protocol}: {tries:?}");
            assert!(*seconds >= 1.0, "{protocol}: spraying is slowed: {tries:?}");
        }
        // ... then refused without being checked.
        for (_, outcome) in &tries[15..] {
            assert!(refused_by_throttle(&protocol, outcome), "{protocol}: spraying is refused: {tries:?}");
        }
    }

    // The administrator, from an address of its own, sees the spraying
    // addresses and clears one; that address may log in again.
    let admin = format!("admin:{admin_password}");
    let base = server.url("https", "https");
    let (status, report) = curl("GET", &format!("{base}/api/v1/throttle"), &admin, None);
    assert_eq!(status, 200, "{report}");
    let refused: Vec<&str> = report["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "refused")
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    for i in 0..4 {
        assert!(refused.contains(&format!("127.0.0.{}", 20 + i).as_str()), "{report}");
    }
    let stale_pairs = report["pairs"].as_array().unwrap().iter().filter(|p| p["login"] == "stale@example.com").count();
    assert_eq!(stale_pairs, 4, "the stale device shows on every protocol's address: {report}");
    let (status, _) = curl("DELETE", &format!("{base}/api/v1/throttle/addresses/127.0.0.21"), &admin, None);
    assert_eq!(status, 200);
    let (host, port) = server.host_port("imap");
    let again = run_client(&[
        "stale".into(),
        "imap".into(),
        "127.0.0.21".into(),
        host,
        port,
        DOMAIN.into(),
        "0".into(),
        "1".into(),
    ]);
    assert_eq!(attempts(&again["others"])[0].1, "ok");
    server.terminate();
}
