//! IMAP through the reference server binary with real clients: a message
//! delivered with smtplib reaches an IMAP IDLE session (imaplib) within a
//! second and reads back; a full desktop-client session with `imapclient`.

mod common;

use std::process::Command;

use common::{Server, client_script, curl};
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

/// A desktop client's whole session through the PyPI library `imapclient`
/// over implicit TLS, on an account made with the admin API (curl): the
/// script checks each reply's values and exits non-zero at the first
/// mismatch. Skipped when `imapclient` is not installed, except in CI (`CI`
/// set), where `.ci/run` installs it and its absence is a failure.
#[test]
fn imapclient_session_over_implicit_tls() {
    let have = Command::new("python3").args(["-c", "import imapclient"]).status().is_ok_and(|s| s.success());
    if !have {
        assert!(std::env::var_os("CI").is_none(), "python3 cannot import imapclient; .ci/run must install it");
        eprintln!("imapclient not installed (python3 -m pip install imapclient): skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        r#"data_dir = "data"
[log]
format = "json"
[[listener]]
name = "http"
service = "http"
bind = "127.0.0.1:0"
[[listener]]
name = "imaps"
service = "imap"
bind = "127.0.0.1:0"
tls = "implicit"
"#,
    )
    .unwrap();
    let server = Server::start(&config, &["http", "imaps"]);
    let admin = format!("admin:{}", server.admin_password().expect("first start prints the admin credential"));
    let api = format!("{}/api/v1", server.url("http", "http"));
    let (code, v) = curl("POST", &format!("{api}/domains"), &admin, Some(r#"{"name":"client.test"}"#));
    assert_eq!(code, 201, "{v}");
    let (code, v) = curl(
        "POST",
        &format!("{api}/domains/client.test/accounts"),
        &admin,
        Some(r#"{"local_part":"desk","password":"desk-pw","display_name":"Desk"}"#),
    );
    assert_eq!(code, 201, "{v}");

    let (host, port) = server.host_port("imaps");
    let out = Command::new("python3")
        .arg(client_script("imapclient_session.py"))
        .args([&host, &port, "desk@client.test", "desk-pw"])
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "imapclient session failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["appended_uids"], serde_json::json!([1, 2, 3]), "{r}");
    assert!(r["uidvalidity"].as_u64().unwrap() > 0, "{r}");
    assert!(r["idle_seconds"].as_f64().unwrap() < 1.0, "IDLE woke too late: {r}");
    // The script may list server behaviour it saw as wrong without stopping;
    // none is acceptable.
    let bugs = r["known_bugs"].as_array().unwrap();
    assert!(bugs.is_empty(), "server bugs seen through imapclient: {bugs:?}");
    assert_eq!(server.terminate(), 0);
}

/// The IMAP behaviour that Dovecot's compliance suite found wrong, and the
/// extensions added with it, each rule checked line by line over a real
/// socket (`imap_compliance.py`): binary APPEND read back with BODY[],
/// BODY[1] and BINARY[1]; keywords announced in FLAGS before a FETCH
/// carries them; \Recent for IMAP4rev1 sessions; MOVE into the selected
/// mailbox; the CONDSTORE and ESEARCH MODSEQ details; odd mailbox names;
/// FROM across comments; LSUB; CATENATE; LIST-EXTENDED; ESORT and
/// CONTEXT=SEARCH/SORT; NOTIFY lines pushed with no command sent.
#[test]
fn imap_rules_from_the_compliance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        r#"data_dir = "data"
[log]
format = "json"
[imap]
allow_plaintext_auth = true
[[listener]]
name = "imap"
service = "imap"
bind = "127.0.0.1:0"
tls = "none"
[[directory.domain]]
name = "example.com"
[[directory.account]]
address = "rules@example.com"
password = "rules-pw"
"#,
    )
    .unwrap();
    let server = Server::start(&config, &["imap"]);
    let (host, port) = server.host_port("imap");
    let out = Command::new("python3")
        .arg(client_script("imap_compliance.py"))
        .args([&host, &port, "rules@example.com", "rules-pw"])
        .output()
        .expect("python3 is installed");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    assert_eq!(server.terminate(), 0);
}
