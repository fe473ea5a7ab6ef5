//! ActiveSync ItemOperations end to end: the reference server binary over
//! HTTPS, driven by the real client `pyactivesync`
//! (tests/clients/activesync_client.py). A message with attachments
//! delivered over SMTP is synced (its attachments listed with their
//! FileReference), fetched as plain text and as MIME, with truncation and
//! AllOrNone, its attachment fetched whole and by Range; unknown items,
//! bad references, ranges and stores and malformed requests get their
//! statuses; EmptyFolderContents empties the Inbox (seen by Sync and IMAP)
//! and, with DeleteSubFolders, a folder's subfolders.

mod common;

use std::process::Command;

use base64::Engine as _;
use common::client_script;
use common::licensed::{Licensed, pyactivesync_installed};
use serde_json::Value;

/// Runs one client action; its JSON output.
fn device(server: &str, user: &str, action: &str, args: &[&str]) -> Value {
    let mut cmd = Command::new("python3");
    cmd.arg(client_script("activesync_client.py")).args([server, user, &format!("pw-{user}"), "opsphone", action]);
    cmd.args(args);
    let out = cmd.output().expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{action} for {user} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Runs an imaplib script against the implicit-TLS IMAP listener as `user`;
/// its standard output.
fn imap(imaps: &str, user: &str, body: &str) -> String {
    let (host, port) = imaps.rsplit_once(':').unwrap();
    let script = format!(
        "import imaplib, ssl, sys\nctx = ssl.create_default_context()\nctx.check_hostname = False\n\
         ctx.verify_mode = ssl.CERT_NONE\nm = imaplib.IMAP4_SSL(sys.argv[1], int(sys.argv[2]), ssl_context=ctx)\n\
         m.login(sys.argv[3], sys.argv[4])\n{body}\nm.logout()\n"
    );
    let out = Command::new("python3").args(["-c", &script, host, port, user, &format!("pw-{user}")]).output().unwrap();
    assert!(out.status.success(), "imap script failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The attachment's bytes: every byte value, so any re-encoding shows.
fn attachment_bytes() -> Vec<u8> {
    (0..1000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// Delivers, over SMTP, a message with two attachments (a binary file and
/// an inline image with a Content-ID) and a plain message.
fn deliver(smtp: &str, rcpt: &str) {
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let script = r#"
import smtplib, sys
from email.message import EmailMessage
host, port, rcpt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = bytes(i * 7 % 256 for i in range(1000))
msg = EmailMessage()
msg["From"] = "Carol <carol@remote.example>"
msg["To"] = rcpt
msg["Subject"] = "With attachment"
msg["Message-ID"] = "<att1@remote.example>"
msg.set_content("The report is attached.\n")
msg.add_attachment(data, maintype="application", subtype="octet-stream", filename="report.bin")
msg.add_attachment(b"\x89PNG\r\n\x1a\nfake", maintype="image", subtype="png", filename="logo.png",
                   disposition="inline", cid="<logo@remote.example>")
plain = EmailMessage()
plain["From"] = "dave@remote.example"
plain["To"] = rcpt
plain["Subject"] = "Plain one"
plain["Message-ID"] = "<plain1@remote.example>"
plain.set_content("Nothing attached.\n")
s = smtplib.SMTP(host, port)
s.send_message(msg, "carol@remote.example", [rcpt])
s.send_message(plain, "dave@remote.example", [rcpt])
s.quit()
"#;
    let ok = Command::new("python3").args(["-c", script, host, port, rcpt]).status().unwrap().success();
    assert!(ok, "SMTP delivery failed");
}

#[test]
fn pyactivesync_item_operations_fetch_attachments_and_empty_folder() {
    if !pyactivesync_installed() {
        eprintln!("skipped: pyactivesync is not installed");
        return;
    }
    let srv = Licensed::start("business", "activesync=3");
    let eas = srv.listener("https");
    let (smtp, imaps) = (srv.listener("smtp"), srv.listener("imaps"));
    let call = |method: &str, path: &str, body: Option<&str>| srv.call(method, path, body);
    call("POST", "/domains", Some(r#"{"name":"example.com"}"#));
    call("POST", "/domains/example.com/accounts", Some(r#"{"local_part":"ops","password":"pw-ops@example.com"}"#));
    call("PATCH", "/accounts/ops@example.com/settings", Some(r#"{"activesync.enabled": true}"#));
    let user = "ops@example.com";

    // Mail, and a folder with subfolders, before the device looks.
    deliver(&smtp, user);
    imap(
        &imaps,
        user,
        r#"m.create("Projects")
m.create("Projects/2026")
m.create("Projects/2026/Q1")
m.append("Projects", None, None, b"From: a@example.com\r\nSubject: project note\r\n\r\nnote\r\n")
m.append("Projects/2026", None, None, b"From: a@example.com\r\nSubject: deep note\r\n\r\ndeep\r\n")"#,
    );

    let provisioned = device(&eas, user, "provision", &[]);
    let key = provisioned["key"].as_str().unwrap().to_owned();
    let folders = provisioned["folders"].as_array().unwrap().clone();
    let folder_id = |name: &str, kind: i64| {
        folders.iter().find(|f| f[3] == name && f[2] == kind).unwrap_or_else(|| panic!("{name} missing: {provisioned}"))
            [0]
        .as_str()
        .unwrap()
        .to_owned()
    };
    let inbox = folder_id("Inbox", 2);
    let projects = folder_id("Projects", 12);
    let contacts = folder_id("Contacts", 9);

    // Fetches.
    let ops = device(&eas, user, "itemops", &[&key, &inbox, "With attachment"]);
    let sid = ops["sync"]["id"].as_str().unwrap().to_owned();
    let uid = sid.strip_prefix(&format!("{inbox}:")).unwrap_or_else(|| panic!("{ops}")).to_owned();
    // Sync lists the attachments (the last one wins in the client's flat view).
    assert_eq!(ops["sync"]["file_reference"], format!("{inbox}:{uid}:1"), "{ops}");
    assert_eq!(ops["sync"]["display_name"], "logo.png", "{ops}");
    assert_eq!(ops["sync"]["method"], "1", "{ops}");
    // Plain text, with the attachments' metadata.
    let plain = &ops["plain"];
    assert_eq!(plain["subject"], "With attachment", "{ops}");
    assert!(plain["from"].as_str().unwrap().contains("carol@remote.example"), "{ops}");
    assert_eq!(plain["type"], 1, "{ops}");
    assert!(plain["body"].as_str().unwrap().contains("The report is attached."), "{ops}");
    assert_ne!(plain["truncated"], true, "{ops}");
    let atts = plain["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2, "{ops}");
    assert_eq!(atts[0]["name"], "report.bin", "{ops}");
    assert_eq!(atts[0]["ref"], format!("{inbox}:{uid}:0"), "{ops}");
    assert_eq!(atts[0]["method"], 1, "{ops}");
    assert_eq!(atts[0]["size"], 1000, "{ops}");
    assert_eq!(atts[0]["inline"], false, "{ops}");
    assert_eq!(atts[1]["name"], "logo.png", "{ops}");
    assert_eq!(atts[1]["inline"], true, "{ops}");
    assert_eq!(atts[1]["content_id"], "logo@remote.example", "{ops}");
    // MIME: the whole message as stored.
    let mime = &ops["mime"];
    assert_eq!(mime["type"], 4, "{ops}");
    let mime_text = mime["data"].as_str().unwrap();
    assert!(mime_text.contains("Subject: With attachment"), "{ops}");
    assert!(mime_text.contains("Message-ID: <att1@remote.example>"), "{ops}");
    assert!(mime_text.contains("filename=\"report.bin\""), "{ops}");
    assert_eq!(mime["size"].as_u64().unwrap() as usize, mime_text.len(), "{ops}");
    // The envelope of a fetch.
    let env = &ops["envelope"];
    assert_eq!(env["status"], serde_json::json!({"top": "1", "ops": ["1"]}), "{ops}");
    assert_eq!(env["collection"], inbox.as_str(), "{ops}");
    assert_eq!(env["server_id"], sid.as_str(), "{ops}");
    assert_eq!(env["class"], "Email", "{ops}");
    // TruncationSize cuts the body; AllOrNone sends none of a body that would be cut.
    assert_eq!(ops["truncated"]["truncated"], "1", "{ops}");
    assert_eq!(ops["truncated"]["data"], "The r", "{ops}");
    assert_eq!(ops["all_or_none"]["truncated"], "1", "{ops}");
    assert_eq!(ops["all_or_none"]["has_data"], false, "{ops}");
    // The attachment, byte for byte, and a range of it.
    let data = attachment_bytes();
    let fetched = base64::engine::general_purpose::STANDARD.decode(ops["attachment"].as_str().unwrap()).unwrap();
    assert_eq!(fetched, data, "{ops}");
    let range = &ops["range"];
    assert_eq!(range["status"]["ops"], serde_json::json!(["1"]), "{ops}");
    assert_eq!(range["range"], "2-5", "{ops}");
    assert_eq!(range["total"], "1000", "{ops}");
    assert_eq!(range["content_type"], "application/octet-stream", "{ops}");
    let part = base64::engine::general_purpose::STANDARD.decode(range["data"].as_str().unwrap()).unwrap();
    assert_eq!(part, &data[2..6], "{ops}");
    // Refusals: per operation, or for the whole request when it is malformed.
    let refused = &ops["refused"];
    assert_eq!(refused["unknown_item"], "6", "{ops}");
    assert_eq!(refused["wrong_collection"], serde_json::json!(["6"]), "{ops}");
    assert_eq!(refused["bad_reference"], serde_json::json!(["15"]), "{ops}");
    assert_eq!(refused["garbage_reference"], serde_json::json!(["15"]), "{ops}");
    assert_eq!(refused["bad_range"], serde_json::json!(["8"]), "{ops}");
    assert_eq!(refused["past_end"], serde_json::json!(["8"]), "{ops}");
    assert_eq!(refused["unknown_store"], serde_json::json!(["9"]), "{ops}");
    assert_eq!(refused["no_store"], serde_json::json!(["2"]), "{ops}");
    assert_eq!(refused["no_target"], serde_json::json!(["2"]), "{ops}");
    assert_eq!(refused["empty_request"], "2", "{ops}");
    assert_eq!(refused["wrong_root"], "2", "{ops}");
    assert_eq!(refused["not_wbxml"], "102", "{ops}");
    assert_eq!(refused["batch"], serde_json::json!(["1", "6"]), "{ops}");
    let inbox_key = ops["key"].as_str().unwrap().to_owned();

    // EmptyFolderContents of a folder the device does not see as mail, of
    // one that does not exist, and without a CollectionId.
    let denied = device(&eas, user, "empty", &[&key, &contacts, "-"]);
    assert_eq!(denied["status"]["ops"], serde_json::json!(["6"]), "{denied}");
    assert_eq!(denied["missing"], serde_json::json!(["6"]), "{denied}");
    assert_eq!(denied["no_id"], serde_json::json!(["2"]), "{denied}");

    // The Inbox emptied: the next Sync deletes both messages; IMAP agrees.
    let emptied = device(&eas, user, "empty", &[&key, &inbox, &inbox_key]);
    assert_eq!(emptied["status"], serde_json::json!({"top": "1", "ops": ["1"]}), "{emptied}");
    assert_eq!(emptied["collection"], inbox.as_str(), "{emptied}");
    let mut deleted: Vec<String> =
        emptied["deleted"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
    deleted.sort();
    assert_eq!(deleted.len(), 2, "{emptied}");
    assert!(deleted.contains(&sid), "{emptied}");
    assert_eq!(emptied["added"], serde_json::json!([]), "{emptied}");
    let seen = imap(&imaps, user, r#"print("inbox", m.select("INBOX")[1])"#);
    assert!(seen.contains("inbox [b'0']"), "{seen}");

    // Projects with DeleteSubFolders: its message expunged, its subfolders
    // deleted (FolderSync no longer lists them), itself kept.
    let emptied = device(&eas, user, "empty", &[&key, &projects, "-", "subfolders"]);
    assert_eq!(emptied["status"]["ops"], serde_json::json!(["1"]), "{emptied}");
    let names: Vec<&str> = emptied["folders"].as_array().unwrap().iter().map(|f| f[3].as_str().unwrap()).collect();
    assert!(names.contains(&"Projects"), "{emptied}");
    assert!(!names.contains(&"2026") && !names.contains(&"Q1"), "{emptied}");
    let listed = imap(
        &imaps,
        user,
        r#"print("list", m.list()[1])
print("projects", m.select("Projects")[1])"#,
    );
    assert!(!listed.contains("Projects/2026"), "{listed}");
    assert!(listed.contains("projects [b'0']"), "{listed}");

    assert_eq!(srv.server.terminate(), 0);
}
