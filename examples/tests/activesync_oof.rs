//! Out-of-office end to end: a device sets the reply with the real client
//! `pyactivesync` (Settings Oof, tests/clients/activesync_oof.py), mail
//! arrives over SMTP (Python's smtplib), and the replies are read over IMAP
//! (imaplib) in the senders' mailboxes, or found in the outbound queue for
//! an outside sender. Covered: one reply per sender, replies to mail sent to
//! an alias, none to bulk mail or to a blind copy, none while off or before
//! a scheduled period, HTML and text bodies, and invalid settings refused.

mod common;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use axigen_core::queue::QueueStore;
use common::licensed::{Licensed, pyactivesync_installed};
use serde_json::{Value, json};

/// `2026-11-28T15:20:00.000Z` for a Unix time.
fn eas_date(unix: i64) -> String {
    let (y, m, d) = axigen_core::civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z", s / 3600, s / 60 % 60, s % 60)
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Sends one message over SMTP: envelope sender, envelope recipient, and
/// the header fields (To defaults to the envelope recipient).
fn send(smtp: &str, from: &str, rcpt: &str, headers: &[(&str, &str)]) {
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let script = r#"
import json, smtplib, sys
from email.message import EmailMessage
host, port, sender, rcpt, headers = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
msg = EmailMessage()
msg["From"] = sender
for name, value in headers:
    msg[name] = value
if "To" not in msg:
    msg["To"] = rcpt
msg.set_content("Hello.\n")
with smtplib.SMTP(host, port) as s:
    s.send_message(msg, sender, [rcpt])
"#;
    let headers = serde_json::to_string(headers).unwrap();
    let ok = Command::new("python3").args(["-c", script, host, port, from, rcpt, &headers]).status().unwrap().success();
    assert!(ok, "SMTP delivery from {from} failed");
}

/// The messages in a user's INBOX over IMAP: subject, from, to, the
/// automatic-reply fields and the text.
fn inbox(imaps: &str, user: &str) -> Vec<Value> {
    let (host, port) = imaps.rsplit_once(':').unwrap();
    let script = r#"
import email, email.policy, imaplib, json, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(sys.argv[1], int(sys.argv[2]), ssl_context=ctx)
m.login(sys.argv[3], sys.argv[4])
m.select("INBOX", readonly=True)
out = []
for num in m.search(None, "ALL")[1][0].split():
    raw = m.fetch(num, "(RFC822)")[1][0][1]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(("html", "plain"))
    out.append({
        "subject": str(msg["Subject"]), "from": str(msg["From"]), "to": str(msg["To"]),
        "auto_submitted": str(msg["Auto-Submitted"]), "in_reply_to": str(msg["In-Reply-To"]),
        "type": body.get_content_type(), "text": body.get_content().replace("\r\n", "\n"),
    })
m.logout()
print(json.dumps(out))
"#;
    let out = Command::new("python3").args(["-c", script, host, port, user, &format!("pw-{user}")]).output().unwrap();
    assert!(out.status.success(), "imap failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// Runs Settings Oof operations from the device; their results.
fn device(eas: &str, operations: Value) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(common::client_script("activesync_oof.py"))
        .args([eas, "ops@example.com", "pw-ops@example.com", "oofphone", &operations.to_string()])
        .output()
        .expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn out_of_office_set_from_a_device_answers_mail() {
    if !pyactivesync_installed() {
        eprintln!("skipped: pyactivesync is not installed");
        return;
    }
    let env = Licensed::start("business", "activesync=3");
    let (eas, smtp, imaps) = (env.listener("https"), env.listener("smtp"), env.listener("imaps"));
    env.call("POST", "/domains", Some(r#"{"name":"example.com"}"#));
    for user in ["ops", "ann", "bob", "dave", "erin", "frank"] {
        let display = if user == "ops" { "Olive Ops" } else { "" };
        let body = json!({"local_part": user, "password": format!("pw-{user}@example.com"), "display_name": display});
        env.call("POST", "/domains/example.com/accounts", Some(&body.to_string()));
    }
    env.call("PUT", "/aliases/help@example.com", Some(r#"{"account":"ops@example.com"}"#));
    env.call("PATCH", "/accounts/ops@example.com/settings", Some(r#"{"activesync.enabled": true}"#));

    // Nothing set yet: off, and empty messages for the three audiences.
    let r = device(&eas, json!([{"get": "Text"}]));
    assert_eq!(r[0]["state"], 0, "{r:?}");
    assert_eq!(r[0]["messages"].as_array().unwrap().len(), 3, "{r:?}");

    // On, one text for everyone.
    let r = device(
        &eas,
        json!([{"set": {"state": 1, "message": "I am away until Monday.\nAsk help@example.com."}}, {"get": "Text"}]),
    );
    assert_eq!(r[0], "1");
    assert_eq!(r[1]["state"], 1, "{r:?}");
    let scopes: Vec<&Value> = r[1]["messages"].as_array().unwrap().iter().map(|m| &m["applies_to"]).collect();
    assert_eq!(scopes, ["Internal", "ExternalKnown", "ExternalUnknown"], "{r:?}");
    for m in r[1]["messages"].as_array().unwrap() {
        assert_eq!(m["enabled"], true, "{m}");
        assert_eq!(m["message"], "I am away until Monday.\nAsk help@example.com.", "{m}");
    }

    send(
        &smtp,
        "ann@example.com",
        "ops@example.com",
        &[("Subject", "Quarterly plan"), ("Message-ID", "<plan-1@example.com>")],
    );
    send(&smtp, "ann@example.com", "ops@example.com", &[("Subject", "Follow-up")]);
    send(&smtp, "bob@example.com", "ops@example.com", &[("Subject", "Newsletter"), ("Precedence", "bulk")]);
    send(&smtp, "bob@example.com", "help@example.com", &[("Subject", "Question")]);
    send(&smtp, "dave@example.com", "ops@example.com", &[("Subject", "Blind"), ("To", "team@example.com")]);
    send(&smtp, "carol@remote.example", "ops@example.com", &[("Subject", "Hello from outside")]);

    // One reply to ann, to her first message, threaded and marked automatic.
    let ann = inbox(&imaps, "ann@example.com");
    assert_eq!(ann.len(), 1, "{ann:?}");
    assert_eq!(ann[0]["subject"], "Automatic reply: Quarterly plan", "{ann:?}");
    assert_eq!(ann[0]["from"], "Olive Ops <ops@example.com>", "{ann:?}");
    assert_eq!(ann[0]["to"], "ann@example.com", "{ann:?}");
    assert_eq!(ann[0]["auto_submitted"], "auto-replied", "{ann:?}");
    assert_eq!(ann[0]["in_reply_to"], "<plan-1@example.com>", "{ann:?}");
    assert_eq!(ann[0]["text"].as_str().unwrap().trim(), "I am away until Monday.\nAsk help@example.com.");
    // Bob: no reply to the bulk mail, one to the mail sent to the alias.
    let bob = inbox(&imaps, "bob@example.com");
    let subjects: Vec<&Value> = bob.iter().map(|m| &m["subject"]).collect();
    assert_eq!(subjects, ["Automatic reply: Question"], "{bob:?}");
    // Dave sent a blind copy: no reply.
    assert_eq!(inbox(&imaps, "dave@example.com"), Vec::<Value>::new());

    // Off: nobody is answered.
    assert_eq!(device(&eas, json!([{"set": {"state": 0}}])), ["1"]);
    send(&smtp, "erin@example.com", "ops@example.com", &[("Subject", "While off")]);
    assert_eq!(inbox(&imaps, "erin@example.com"), Vec::<Value>::new());

    // Scheduled in the future, an HTML text for internal senders only; the
    // other audiences keep theirs. Invalid periods are refused.
    let (start, end) = (now() + 86_400, now() + 3 * 86_400);
    let r = device(
        &eas,
        json!([
            {"set": {"state": 2, "start": eas_date(start), "end": eas_date(end), "body_type": "HTML",
                     "message": "<p>On leave &amp; offline</p>", "applies_to": ["Internal"]}},
            {"get": "HTML"},
            {"get": "Text"},
            {"set": {"state": 2}},
            {"set": {"state": 2, "start": eas_date(end), "end": eas_date(start)}},
        ]),
    );
    assert_eq!(r[0], "1", "{r:?}");
    assert_eq!(r[1]["state"], 2, "{r:?}");
    assert_eq!(r[1]["messages"][0]["message"], "<p>On leave &amp; offline</p>", "{r:?}");
    assert_eq!(r[1]["messages"][0]["body_type"], "HTML", "{r:?}");
    assert_eq!(r[2]["start"], eas_date(start), "{r:?}");
    assert_eq!(r[2]["end"], eas_date(end), "{r:?}");
    assert_eq!(r[2]["messages"][0]["message"], "On leave & offline", "the HTML given as text: {r:?}");
    assert_eq!(r[2]["messages"][2]["message"], "I am away until Monday.\nAsk help@example.com.", "{r:?}");
    assert_eq!(&r[3..], ["Settings.Oof:5", "Settings.Oof:5"], "{r:?}");
    send(&smtp, "frank@example.com", "ops@example.com", &[("Subject", "Before the leave")]);
    assert_eq!(inbox(&imaps, "frank@example.com"), Vec::<Value>::new());

    // The period has begun: frank gets the HTML reply.
    let r = device(&eas, json!([{"set": {"state": 2, "start": eas_date(now() - 60), "end": eas_date(end)}}]));
    assert_eq!(r, ["1"]);
    send(&smtp, "frank@example.com", "ops@example.com", &[("Subject", "During the leave")]);
    let frank = inbox(&imaps, "frank@example.com");
    assert_eq!(frank.len(), 1, "{frank:?}");
    assert_eq!(frank[0]["subject"], "Automatic reply: During the leave", "{frank:?}");
    assert_eq!(frank[0]["type"], "text/html", "{frank:?}");
    assert!(frank[0]["text"].as_str().unwrap().contains("On leave &amp; offline"), "{frank:?}");

    // The outside sender's reply waits in the outbound queue, with the null
    // reverse path.
    assert_eq!(env.server.terminate(), 0);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = axigen_store::Store::open(env.dir.path().join("data/store"), Default::default()).unwrap();
        let queued = store.queued().await.unwrap();
        assert_eq!(queued.len(), 1, "{queued:?}");
        assert_eq!(queued[0].from, "");
        assert_eq!(queued[0].recipients[0].address, "carol@remote.example");
        assert_eq!(queued[0].recipients.len(), 1);
        let report = store.check(true).unwrap();
        assert!(report.is_clean(), "{:?}", report.findings);
    });
}
