//! Damaged store files through the reference server binary.
//!
//! - A table file of the message records gets a few flipped bytes while the
//!   server is stopped: the server refuses to start, saying what is damaged
//!   and what to do, and `server check --deep` names the file and the
//!   messages it holds.
//! - A blob file (message contents) gets flipped bytes: the server starts
//!   (contents are verified when read), an IMAP FETCH of the damaged
//!   message is refused instead of answered with wrong data, the damage is
//!   recorded, the next start is refused, and the check names the message.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, server_binary};
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
[[listener]]
name = "imap"
service = "imap"
bind = "127.0.0.1:0"
tls = "starttls"
[[directory.domain]]
name = "example.com"
[[directory.account]]
address = "dora@example.com"
password = "dora-pw"
"#;

const MESSAGES: usize = 20;

const SCRIPT: &str = r#"
import imaplib, json, smtplib, ssl, sys
host, smtp_port, imap_port, action = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
out = {}
if action == "deliver":
    with smtplib.SMTP(host, smtp_port, timeout=30) as s:
        for i in range(int(sys.argv[5])):
            # Over 2 KiB each, so that the contents go to blob files.
            body = "".join(f"line {n} of message {i}, padded to be long enough\r\n" for n in range(80))
            s.sendmail("x@remote.example", ["dora@example.com"], f"Subject: m{i}\r\n\r\n{body}")
else:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = imaplib.IMAP4(host, imap_port)
    c.starttls(ssl_context=ctx)
    c.login("dora@example.com", "dora-pw")
    c.select("INBOX", readonly=True)
    results = []
    for n in range(1, int(sys.argv[5]) + 1):
        try:
            typ, data = c.fetch(str(n), "(BODY.PEEK[])")
            body = data[0][1].decode(errors="replace") if typ == "OK" else ""
            results.append([typ, "line 0 of message" in body])
        except imaplib.IMAP4.error as e:
            results.append(["NO", str(e)])
    out["fetch"] = results
    c.logout()
print(json.dumps(out))
"#;

fn client(server: &Server, action: &str) -> Value {
    let (host, smtp) = server.host_port("smtp");
    let (_, imap) = server.host_port("imap");
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &host, &smtp, &imap, action, &MESSAGES.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A store with the messages delivered, stopped cleanly (everything in
/// table and blob files).
fn prepared(dir: &Path) -> PathBuf {
    let config = dir.join("server.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = Server::start(&config, &["smtp", "imap"]);
    client(&server, "deliver");
    assert_eq!(server.terminate(), 0);
    config
}

/// The live table files of a column family, from RocksDB's own metadata.
fn table_files(store: &Path, column_family: &str) -> Vec<PathBuf> {
    let opts = rocksdb::Options::default();
    let cfs = rocksdb::DB::list_cf(&opts, store).unwrap();
    let db = rocksdb::DB::open_cf_for_read_only(&opts, store, &cfs, false).unwrap();
    db.live_files()
        .unwrap()
        .into_iter()
        .filter(|f| f.column_family_name == column_family)
        .map(|f| store.join(f.name.trim_start_matches('/')))
        .collect()
}

/// Flips the bytes of `file` in `range` (a disk's bit rot).
fn damage(file: &Path, range: std::ops::Range<usize>) {
    let mut bytes = std::fs::read(file).unwrap();
    assert!(bytes.len() > range.end, "{} is only {} bytes", file.display(), bytes.len());
    for b in &mut bytes[range] {
        *b ^= 0x5a;
    }
    std::fs::write(file, bytes).unwrap();
}

/// Runs the server binary to completion (it should refuse to start).
fn start_refused(config: &Path) -> String {
    let out = Command::new(server_binary()).args(["--config", config.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success(), "the server started on a damaged store");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn check_deep(config: &Path) -> (bool, String) {
    let out =
        Command::new(server_binary()).args(["--config", config.to_str().unwrap(), "check", "--deep"]).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_damaged_table_file_stops_the_server_from_starting_and_the_check_names_the_messages() {
    let dir = tempfile::tempdir().unwrap();
    let config = prepared(dir.path());
    let store = dir.path().join("data/store");
    let files = table_files(&store, "message");
    assert_eq!(files.len(), 1, "{files:?}");
    // The first data block starts at offset 0.
    damage(&files[0], 64..96);

    let refused = start_refused(&config);
    assert!(refused.contains("damaged"), "{refused}");
    assert!(refused.contains("message records of account 1 folder 1 UIDs 1..20"), "{refused}");
    assert!(refused.contains("What to do"), "{refused}");

    let (clean, report) = check_deep(&config);
    assert!(!clean, "{report}");
    let name = files[0].file_name().unwrap().to_str().unwrap();
    assert!(report.contains(&format!("PROBLEM file {}", files[0].display())) || report.contains(name), "{report}");
    assert!(report.contains("message records of account 1 folder 1 UIDs 1..20"), "{report}");
}

#[test]
fn a_damaged_message_content_is_refused_not_served_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let config = prepared(dir.path());
    let store = dir.path().join("data/store");
    let blobs: Vec<PathBuf> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "blob"))
        .collect();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    let size = std::fs::metadata(&blobs[0]).unwrap().len() as usize;
    // Inside the records, past the file's header.
    damage(&blobs[0], size / 2..size / 2 + 16);

    // Contents are verified when read: the server starts...
    let server = Server::start(&config, &["smtp", "imap"]);
    let r = client(&server, "fetch");
    let fetched = r["fetch"].as_array().unwrap();
    let refused: Vec<usize> = (0..MESSAGES).filter(|&i| fetched[i][0] != "OK").collect();
    // ... the damaged message is refused, every other one is intact.
    assert!(!refused.is_empty(), "the damaged message was served: {r}");
    for (i, f) in fetched.iter().enumerate() {
        if !refused.contains(&i) {
            assert_eq!(f[1], true, "message {} came back wrong: {r}", i + 1);
        }
    }
    assert_eq!(server.terminate(), 0);

    // The damage was recorded: the next start is refused.
    let marker = std::fs::read_to_string(store.join("DAMAGED")).expect("the damage is recorded");
    assert!(marker.contains("What to do"), "{marker}");
    let refused_start = start_refused(&config);
    assert!(refused_start.contains("damaged"), "{refused_start}");

    // The check names the messages that hold the damaged content.
    let (clean, report) = check_deep(&config);
    assert!(!clean, "{report}");
    let uid = refused[0] + 1;
    assert!(report.contains(&format!("account 1 folder 1 UID {uid}")), "{report}");
}
