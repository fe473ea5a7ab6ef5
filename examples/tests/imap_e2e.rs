//! SMTP in, IMAP out, through the reference server binary: a message
//! delivered with smtplib reaches an IMAP IDLE session (imaplib) within a
//! second, and reads back.

mod common;

use std::process::Command;

use common::{Server, client_script};
use serde_json::Value;

#[test]
fn smtp_delivery_wakes_imap_idle_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        r#"data_dir = "data"
[log]
format = "json"
[[listener]]
name = "smtp"
service = "smtp"
bind = "127.0.0.1:0"
[[listener]]
name = "imap"
service = "imap"
bind = "127.0.0.1:0"
tls = "starttls"
[[directory.domain]]
name = "example.com"
[[directory.account]]
address = "reader@example.com"
password = "reader-pw"
"#,
    )
    .unwrap();
    let server = Server::start(&config, &["smtp", "imap"]);
    let (host, imap) = server.host_port("imap");
    let (_, smtp) = server.host_port("smtp");
    let out = Command::new("python3")
        .arg(client_script("imap_idle.py"))
        .args([&host, &imap, &smtp, "reader@example.com", "reader-pw"])
        .output()
        .expect("python3 is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["logindisabled_before_tls"], true, "{r}");
    assert!(r["idle_line"].as_str().unwrap().ends_with("EXISTS"), "{r}");
    assert!(r["seconds_after_250"].as_f64().unwrap() < 1.0, "IDLE woke too late: {r}");
    assert_eq!(r["fetched_subject"].as_str().unwrap(), format!("Subject: {}", r["subject"].as_str().unwrap()));
    assert_eq!(server.terminate(), 0);
}
