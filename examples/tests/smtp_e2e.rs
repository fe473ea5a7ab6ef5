//! SMTP receiving and submission end to end: the reference server binary,
//! real clients (Python's smtplib, swaks) over real sockets, and the store
//! checked afterwards.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use axigen_core::directory::Directory;
use axigen_core::mailstore::MailStore;
use axigen_core::model::Address;
use axigen_core::queue::QueueStore;
use common::{Server, client_script, curl};
use serde_json::Value;

const CONFIG: &str = r#"data_dir = "data"
hostname = "mx.example.com"
[delivery]
# The tests read the outbound queue: nothing leaves it.
enabled = false
[log]
format = "json"
[smtp]
max_message_size = 200000
[[processing.rule]]
name = "newsletters"
header = "List-Id"
contains = "weekly"
action = "file"
folder = "Newsletters"
[[listener]]
name = "smtp"
service = "smtp"
bind = "127.0.0.1:0"
tls = "starttls"
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
address = "user@example.com"
password = "user-pw"
[[directory.account]]
address = "full@example.com"
password = "full-pw"
settings = { "quota.messages" = 1 }
[[directory.account]]
address = "small@example.com"
password = "small-pw"
settings = { "limits.max_message_size" = 1000 }
[[directory.account]]
address = "sender@example.com"
password = "sender-pw"
[[directory.alias]]
address = "sales@example.com"
account = "user@example.com"
[[directory.domain]]
name = "second.example"
postmaster = "boss"
[[directory.account]]
address = "first@second.example"
password = "first-pw"
[[directory.account]]
address = "boss@second.example"
password = "boss-pw"
[[directory.domain]]
name = "empty.example"
"#;

fn python(case: &str, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(client_script("smtp_client.py"))
        .arg(case)
        .args(args)
        .output()
        .expect("python3 is installed");
    assert!(out.status.success(), "{case}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{case}: {e}: {text}"))
}

fn swaks(args: &[&str]) -> (bool, String) {
    let out = Command::new("swaks").args(args).output().expect("swaks is installed");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Messages in a folder of an account: (subject, full content).
fn folder_contents(data: &Path, address: &str, folder: &str) -> Vec<(String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = axigen_store::Store::open(data.join("store"), Default::default()).unwrap();
        let account = store.account_by_address(&Address::parse(address).unwrap()).await.unwrap().unwrap();
        let Some(f) = store.folder_by_name(account.id, folder).await.unwrap() else { return Vec::new() };
        let mut out = Vec::new();
        for m in store.messages(account.id, f.id).await.unwrap() {
            let content = String::from_utf8_lossy(&store.content(m.blob).await.unwrap()).into_owned();
            let subject = content.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or("").to_owned();
            out.push((subject, content));
        }
        out
    })
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("server.toml");
    std::fs::write(&path, CONFIG).unwrap();
    path
}

#[test]
fn real_clients_deliver_and_submit() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(&config, &["smtp", "submission", "http"]);
    let password = server.admin_password().unwrap();
    let (host, mx) = server.host_port("smtp");
    let (_, sub) = server.host_port("submission");

    // Plain delivery; the EHLO lists the extensions.
    let r = python("plain", &[&host, &mx, "user@example.com", "plain-1"]);
    let ehlo = r["ehlo"].as_str().unwrap();
    for ext in ["PIPELINING", "SIZE 200000", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "STARTTLS"] {
        assert!(ehlo.contains(ext), "EHLO lacks {ext}: {ehlo}");
    }
    assert!(!ehlo.contains("AUTH"), "no AUTH on the MX listener: {ehlo}");
    // Through an alias, over STARTTLS.
    let r = python("starttls", &[&host, &mx, "sales@example.com", "tls-1"]);
    assert_eq!((r["offered_before"].as_bool(), r["offered_after"].as_bool()), (Some(true), Some(false)), "{r}");
    python("dot_stuffing", &[&host, &mx, "user@example.com", "dots-1"]);
    python("eightbit", &[&host, &mx, "user@example.com", "8bit-1"]);
    let r = python("smtputf8", &[&host, &mx, "user@example.com", "utf8-1"]);
    assert_eq!(r["offered"], true);
    let r = python("bdat", &[&host, &mx, "user@example.com", "bdat-1"]);
    assert_eq!(
        (r["offered"].as_bool(), r["first"].as_u64(), r["last"].as_u64()),
        (Some(true), Some(250), Some(250)),
        "{r}"
    );
    // Pipelining: per transaction MAIL 250, RCPT 250, RCPT 550 (unknown), DATA 354, end 250.
    let r = python("pipelining", &[&host, &mx, "user@example.com", "pipe", "3"]);
    assert_eq!(r["pipelining"], true);
    let codes = r["codes"].as_array().unwrap();
    for c in &codes[..3] {
        assert_eq!(c, &serde_json::json!([250, 250, 550, 354, 250]), "{r}");
    }
    // swaks, the mail admin's tool: a header rule files the newsletter.
    let (ok, transcript) = swaks(&[
        "--server",
        &format!("{host}:{mx}"),
        "--to",
        "user@example.com",
        "--from",
        "news@remote.example",
        "--header",
        "Subject: weekly-1",
        "--header",
        "List-Id: <weekly.news.remote.example>",
        "--body",
        "news",
    ]);
    assert!(ok, "{transcript}");

    // Unknown recipient and relaying are refused at RCPT.
    let r = python("rcpt", &[&host, &mx, "nobody@example.com", "0"]);
    assert_eq!(r["rcpt"][0], 550, "{r}");
    assert!(r["rcpt"][1].as_str().unwrap().starts_with("5.1.1"), "{r}");
    let r = python("rcpt", &[&host, &mx, "victim@elsewhere.example", "0"]);
    assert_eq!(r["rcpt"][0], 550, "{r}");
    assert!(r["rcpt"][1].as_str().unwrap().contains("5.7.1"), "{r}");
    let (ok, transcript) =
        swaks(&["--server", &format!("{host}:{mx}"), "--to", "victim@elsewhere.example", "--from", "a@b.example"]);
    assert!(!ok && transcript.contains("550"), "swaks relay attempt: {transcript}");

    // Size limits: announced too big, per-account limit, and actually too big.
    let r = python("rcpt", &[&host, &mx, "user@example.com", "300000"]);
    assert_eq!(r["mail"][0], 552, "{r}");
    let r = python("rcpt", &[&host, &mx, "small@example.com", "5000"]);
    assert_eq!(r["rcpt"][0], 552, "{r}");
    let r = python("big", &[&host, &mx, "user@example.com", "250000"]);
    assert_eq!(r["data"][0], 552, "{r}");
    assert_eq!(r["noop"], 250, "the session goes on after a refused message");

    // Accepted for one recipient, refused at DATA for another (its own size
    // limit): the local sender gets a delivery status notification.
    let r =
        python("multi", &[&host, &mx, "sender@example.com", "user@example.com,small@example.com", "partial-1", "3000"]);
    assert_eq!(r["rcpt"], serde_json::json!({"user@example.com": 250, "small@example.com": 250}), "{r}");
    assert_eq!(r["data"], 250, "{r}");

    // Over quota: the first message fills the mailbox, the next is refused at RCPT.
    python("plain", &[&host, &mx, "full@example.com", "quota-1"]);
    let r = python("rcpt", &[&host, &mx, "full@example.com", "0"]);
    assert_eq!(r["rcpt"][0], 452, "{r}");
    assert!(r["rcpt"][1].as_str().unwrap().starts_with("4.2.2"), "{r}");

    // The STARTTLS injection: the command pipelined behind STARTTLS is discarded.
    let r = python("injection", &[&host, &mx]);
    assert!(r["ready"].as_str().unwrap().starts_with("220"), "{r}");
    assert_eq!(r["stray"], "", "the injected command was answered: {r}");
    assert!(r["after"].as_str().unwrap().starts_with("503"), "after TLS the session starts over (EHLO first): {r}");

    // Submission: AUTH only after TLS; the sender must be the account's; remote recipients are queued.
    let r = python(
        "submission",
        &[
            &host,
            &sub,
            "sender@example.com",
            "sender-pw",
            "sender@example.com",
            "user@example.com,friend@remote.example",
            "sub-1",
        ],
    );
    assert_eq!(r["auth_before_tls"], false, "{r}");
    assert_eq!(r["refused"], serde_json::json!({}), "{r}");
    let r = python(
        "submission",
        &[&host, &sub, "sender@example.com", "sender-pw", "user@example.com", "user@example.com", "sub-2"],
    );
    assert_eq!(r["sender_refused"][0], 553, "{r}");
    let r = python("bad_login", &[&host, &sub, "sender@example.com", "wrong"]);
    assert_eq!((r["result"].as_str(), r["code"].as_u64()), (Some("refused"), Some(535)), "{r}");
    let (ok, transcript) = swaks(&[
        "--server",
        &format!("{host}:{sub}"),
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "user@example.com",
        "--auth-password",
        "user-pw",
        "--from",
        "sales@example.com",
        "--to",
        "sender@example.com",
        "--header",
        "Subject: swaks-sub",
    ]);
    assert!(ok, "submission from an alias with swaks: {transcript}");

    // The admin API sees the delivered mail.
    let (code, folders) = curl(
        "GET",
        &format!("{}/api/v1/accounts/user@example.com/folders", server.url("http", "http")),
        &format!("admin:{password}"),
        None,
    );
    assert_eq!(code, 200, "{folders}");
    assert_eq!(server.terminate(), 0);

    // Everything is in the store, as sent.
    let inbox = folder_contents(&dir.path().join("data"), "user@example.com", "INBOX");
    let subjects: Vec<&str> = inbox.iter().map(|(s, _)| s.as_str()).collect();
    for s in ["plain-1", "tls-1", "dots-1", "8bit-1", "utf8-1", "bdat-1", "pipe-0", "pipe-1", "pipe-2", "sub-1"] {
        assert!(subjects.contains(&s), "{s} missing from INBOX: {subjects:?}");
    }
    let get = |s: &str| &inbox.iter().find(|(x, _)| x == s).unwrap().1;
    assert!(get("dots-1").contains("\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\n"), "{}", get("dots-1"));
    assert!(get("8bit-1").contains("Grüße aus Köln"), "8-bit body intact");
    assert!(get("bdat-1").contains("\r\n.no stuffing here\r\n"), "BDAT is not dot-stuffed");
    assert!(get("tls-1").starts_with("Received: from client.example ("), "{}", get("tls-1"));
    assert!(get("tls-1").contains("with ESMTPS"), "{}", get("tls-1"));
    assert!(get("sub-1").contains("with ESMTPSA"), "{}", get("sub-1"));
    assert!(subjects.contains(&"partial-1"));
    let bounces = folder_contents(&dir.path().join("data"), "sender@example.com", "INBOX");
    let dsn =
        bounces.iter().find(|(s, _)| s == "Undelivered Mail Returned to Sender").expect("a DSN reached the sender");
    assert!(dsn.1.contains("Final-Recipient: rfc822; small@example.com"), "{}", dsn.1);
    assert!(dsn.1.contains("Status: 5.3.4"), "{}", dsn.1);
    assert!(dsn.1.contains("Subject: partial-1"), "the DSN carries the original headers");
    assert!(folder_contents(&dir.path().join("data"), "small@example.com", "INBOX").is_empty());
    let news = folder_contents(&dir.path().join("data"), "user@example.com", "Newsletters");
    assert_eq!(news.len(), 1, "the rule filed the newsletter");
    assert!(!subjects.contains(&"weekly-1"));

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = axigen_store::Store::open(dir.path().join("data/store"), Default::default()).unwrap();
        let queued = store.queued().await.unwrap();
        assert_eq!(queued.len(), 1, "{queued:?}");
        let to: Vec<&str> = queued[0].recipients.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(to, ["friend@remote.example"]);
        assert_eq!(queued[0].from, "sender@example.com");
        let report = store.check(true).unwrap();
        assert!(report.is_clean(), "{:?}", report.findings);
    });
}

/// RFC 5321 4.5.1: postmaster, bare or at any hosted domain, is accepted
/// even with no account of that name; each message of a session gets its
/// own id, the one its Received: field carries.
#[test]
fn postmaster_is_always_accepted_and_every_message_has_its_own_id() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(&config, &["smtp"]);
    let (host, mx) = server.host_port("smtp");
    let rcpts = [
        "Postmaster",
        "postmaster@example.com",
        "POSTMASTER@second.example",
        "postmaster@empty.example",
        "PostMaster@Example.COM",
    ];
    let r = python("postmaster", &[&host, &mx, &rcpts.join(",")]);
    let results = r["results"].as_array().unwrap();
    let mut ids = Vec::new();
    for (rcpt, result) in rcpts.iter().zip(results) {
        assert_eq!(result["rcpt_code"], 250, "{rcpt}: {r}");
        assert_eq!(result["data_code"], 250, "{rcpt}: {r}");
        let text = result["data_text"].as_str().unwrap();
        let id = text.split_whitespace().nth(3).unwrap_or_else(|| panic!("{text}")).to_owned();
        ids.push(id);
    }
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "one id per message: {ids:?}");
    assert_eq!(server.terminate(), 0);

    // The host's domain (mx.example.com is under example.com) has no
    // postmaster account: its first account takes bare and qualified
    // postmaster mail, and that of a domain with no account at all.
    let data = dir.path().join("data");
    let inbox = folder_contents(&data, "user@example.com", "INBOX");
    for (i, rcpt) in rcpts.iter().enumerate() {
        let expected_here = i != 2;
        let found = inbox.iter().find(|(s, _)| *s == format!("to-{rcpt}"));
        assert_eq!(found.is_some(), expected_here, "{rcpt}");
        if let Some((_, content)) = found {
            assert!(content.starts_with("Received: ") && content.contains(&format!(" id {}", ids[i])), "{content}");
        }
    }
    // A domain that names its postmaster: that account, not its first one.
    let boss = folder_contents(&data, "boss@second.example", "INBOX");
    assert_eq!(boss.len(), 1);
    assert_eq!(boss[0].0, "to-POSTMASTER@second.example");
    assert!(folder_contents(&data, "first@second.example", "INBOX").is_empty());
}

#[test]
fn kill_9_during_a_stream_of_deliveries_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut acked = Vec::new();
    for round in 0..3 {
        let server = Server::start(&config, &["smtp"]);
        let (host, port) = server.host_port("smtp");
        let mut clients = Vec::new();
        for c in 0..4 {
            let child = Command::new("python3")
                .arg(client_script("smtp_client.py"))
                .args(["stream", &host, &port, "user@example.com", "100000"])
                .env("PYTHONUNBUFFERED", "1")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            clients.push((c, child));
        }
        std::thread::sleep(Duration::from_millis(700 + 300 * round));
        server.kill();
        for (c, mut child) in clients {
            let stdout = child.stdout.take().unwrap();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(id) = line.strip_prefix("ACK ") {
                    acked.push(format!("{round}-{c}-{id}"));
                }
            }
            child.wait().unwrap();
        }
    }
    assert!(acked.len() > 20, "too few acknowledged messages to mean anything: {}", acked.len());
    eprintln!("{} messages acknowledged across 3 crashes", acked.len());
    // Each client's stream numbers restart per round, so count per (round, client).
    let inbox = folder_contents(&dir.path().join("data"), "user@example.com", "INBOX");
    let stored: std::collections::HashMap<String, usize> = inbox.iter().fold(Default::default(), |mut m, (s, _)| {
        *m.entry(s.clone()).or_default() += 1;
        m
    });
    let mut wanted: std::collections::HashMap<String, usize> = Default::default();
    for id in &acked {
        let subject = id.splitn(3, '-').nth(2).unwrap().to_owned();
        *wanted.entry(subject).or_default() += 1;
    }
    for (subject, n) in wanted {
        let have = stored.get(&subject).copied().unwrap_or(0);
        assert!(have >= n, "{subject}: {n} acknowledged, {have} stored");
    }
}
