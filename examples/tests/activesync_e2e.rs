//! ActiveSync end to end: the reference server binary over HTTPS with its
//! development certificate, driven by the real client `pyactivesync`
//! (tests/clients/activesync_client.py); the directory, licence and devices
//! are managed through the admin API with curl.
//!
//! Covers access as the seed describes it (explicit, inherited from the
//! class, inherited from the domain, disabled, sub-options, edition, seat
//! limit), provisioning with a policy key that changes only with the policy,
//! FolderSync with retry and stale keys, malformed WBXML, and the
//! administrator's device controls (block, quarantine, remote wipe).

mod common;

use std::process::Command;

use common::licensed::{Licensed, pyactivesync_installed};
use common::{client_script, curl};
use serde_json::Value;

/// Runs one client action; its JSON output.
fn device(server: &str, user: &str, device_id: &str, action: &str, args: &[&str]) -> Value {
    let mut cmd = Command::new("python3");
    cmd.arg(client_script("activesync_client.py")).args([server, user, &format!("pw-{user}"), device_id, action]);
    cmd.args(args);
    let out = cmd.output().expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{action} for {user} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Delivers messages `Delivery {first}..{last}` to `rcpt` over SMTP.
fn deliver(smtp: &str, rcpt: &str, first: usize, last: usize) {
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let script = r#"
import smtplib, sys
host, port, rcpt, first, last = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
s = smtplib.SMTP(host, port)
for i in range(first, last):
    msg = (f"From: Sender {i} <sender{i}@remote.example>\r\nTo: {rcpt}\r\nSubject: Delivery {i}\r\n"
           f"Message-ID: <d{i}@remote.example>\r\n\r\nBody of delivery {i}.\r\n")
    s.sendmail(f"sender{i}@remote.example", [rcpt], msg)
s.quit()
"#;
    let ok = Command::new("python3")
        .args(["-c", script, host, port, rcpt, &first.to_string(), &last.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "SMTP delivery failed");
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

#[test]
fn pyactivesync_provisioning_access_rules_and_device_control() {
    if !pyactivesync_installed() {
        eprintln!("skipped: pyactivesync is not installed");
        return;
    }
    let env = Licensed::start("business", "activesync=3");
    let trial = env.issue("trial", "activesync=3", "trial.json");
    let business = std::fs::read_to_string(env.dir.path().join("license.json")).unwrap();
    let (admin, api, eas) = (env.admin().to_owned(), env.api().to_owned(), env.listener("https"));
    let call = |method: &str, path: &str, body: Option<&str>| env.call(method, path, body);

    // example.com: the class `mobile` enables ActiveSync; corp.example
    // enables it for the whole domain; the server default is off.
    call("POST", "/domains", Some(r#"{"name":"example.com"}"#));
    call("POST", "/domains", Some(r#"{"name":"corp.example"}"#));
    call("PATCH", "/domains/corp.example/settings", Some(r#"{"activesync.enabled": true}"#));
    call("POST", "/domains/example.com/classes", Some(r#"{"name":"mobile"}"#));
    call("PATCH", "/domains/example.com/classes/mobile/settings", Some(r#"{"activesync.enabled": true}"#));
    for (domain, name, class) in [
        ("example.com", "ann", Some("mobile")),
        ("corp.example", "dan", None),
        ("example.com", "eve", None),
        ("example.com", "pat", None),
        ("example.com", "zed", None),
    ] {
        let class = class.map_or(String::new(), |c| format!(r#","class":"{c}""#));
        let body = format!(r#"{{"local_part":"{name}","password":"pw-{name}@{domain}"{class}}}"#);
        call("POST", &format!("/domains/{domain}/accounts"), Some(&body));
    }
    // pat: enabled explicitly, mail only, no relaying; zed: enabled explicitly.
    call(
        "PATCH",
        "/accounts/pat@example.com/settings",
        Some(
            r#"{"activesync.enabled": true, "activesync.contacts": false, "activesync.pim": false, "relay.allowed": false}"#,
        ),
    );
    call("PATCH", "/accounts/zed@example.com/settings", Some(r#"{"activesync.enabled": true}"#));

    // Inherited from the class: provisions, and provisioning again keeps the key.
    let ann = device(&eas, "ann@example.com", "annphone1", "provision", &[]);
    let key = ann["key"].as_str().unwrap().to_owned();
    assert_eq!(ann["again"], ann["key"], "the key changes only with the policy: {ann}");
    let folders: Vec<(String, i64)> = ann["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[3].as_str().unwrap().to_owned(), f[2].as_i64().unwrap()))
        .collect();
    for expected in
        [("Inbox", 2), ("Drafts", 3), ("Trash", 4), ("Sent", 5), ("Tasks", 7), ("Calendar", 8), ("Contacts", 9)]
    {
        assert!(folders.contains(&(expected.0.to_owned(), expected.1)), "{expected:?} missing: {folders:?}");
    }
    // Inherited from the domain.
    let dan = device(&eas, "dan@corp.example", "danphone", "provision", &[]);
    assert!(dan["folders"].as_array().unwrap().len() >= 7, "{dan}");
    // Disabled (server default): refused, with the reason.
    let eve = device(&eas, "eve@example.com", "evephone", "refused", &[]);
    assert_eq!(eve["status"], 403, "{eve}");
    assert!(eve["text"].as_str().unwrap().contains("disabled"), "{eve}");
    // Sub-options: mail folders only.
    let pat = device(&eas, "pat@example.com", "patphone", "provision", &[]);
    let kinds: Vec<i64> = pat["folders"].as_array().unwrap().iter().map(|f| f[2].as_i64().unwrap()).collect();
    assert!(kinds.iter().all(|k| [2, 3, 4, 5, 12].contains(k)) && kinds.contains(&2), "{pat}");
    let pat_key = pat["key"].as_str().unwrap().to_owned();
    let inbox = pat["folders"].as_array().unwrap().iter().find(|f| f[2] == 2).unwrap()[0].as_str().unwrap().to_owned();
    // Three seats, taken by ann, dan and pat: zed is refused, with the reason.
    let zed = device(&eas, "zed@example.com", "zedphone", "refused", &[]);
    assert_eq!(zed["status"], 403, "{zed}");
    assert!(zed["text"].as_str().unwrap().contains("seats"), "{zed}");
    let (_, eff) = curl("GET", &format!("{api}/accounts/zed@example.com/effective"), &admin, None);
    assert!(eff["activesync"]["reason"].as_str().unwrap().contains("seats"), "{eff}");

    // Without a key: 142; a new policy makes the old key stale (144) and
    // provisioning gives a new key.
    assert_eq!(device(&eas, "ann@example.com", "annphone1", "folders", &["0"])["status"], "142");
    call("PATCH", "/accounts/ann@example.com/settings", Some(r#"{"limits.max_message_size": 1048576}"#));
    assert_eq!(device(&eas, "ann@example.com", "annphone1", "folders", &[&key])["status"], "144");
    let again = device(&eas, "ann@example.com", "annphone1", "provision", &[]);
    let key = again["key"].as_str().unwrap().to_owned();
    assert_ne!(again["key"], ann["key"], "a new policy, a new key");
    assert!(device(&eas, "ann@example.com", "annphone1", "folders", &[&key])["folders"].is_array());

    // FolderSync keys: a first sync, an unchanged one, a retry, a stale key.
    let sync = device(&eas, "ann@example.com", "annphone1", "resync", &[&key]);
    assert_eq!(sync["first"]["status"], "1", "{sync}");
    assert!(sync["first"]["adds"].as_i64().unwrap() >= 7, "{sync}");
    assert_eq!(sync["second"]["status"], "1", "{sync}");
    assert_eq!(sync["second"]["adds"], 0, "{sync}");
    assert_eq!(sync["retry"]["status"], "1", "{sync}");
    assert_eq!(sync["stale"]["status"], "9", "{sync}");
    // Malformed WBXML: the protocol's status, and the server carries on.
    assert_eq!(device(&eas, "ann@example.com", "annphone1", "malformed", &[&key])["status"], "102");

    // The administrator's view of the device.
    let devices = call("GET", "/accounts/ann@example.com/devices", None);
    let phone = devices.as_array().unwrap().iter().find(|d| d["device_id"] == "annphone1").expect("listed").clone();
    assert_eq!(phone["device_type"], "TestPhone", "{phone}");
    assert_eq!(phone["model"], "pyactivesync", "{phone}");
    assert_eq!(phone["provisioned"], true, "{phone}");
    assert!(phone["last_sync"].as_i64().unwrap() > 0, "{phone}");
    // Blocked: refused at once; allowed again: back.
    call("PUT", "/accounts/ann@example.com/devices/annphone1/access", Some(r#"{"access":"blocked"}"#));
    let blocked = device(&eas, "ann@example.com", "annphone1", "refused", &[]);
    assert_eq!(blocked["status"], 403, "{blocked}");
    assert!(blocked["text"].as_str().unwrap().contains("blocked"), "{blocked}");
    // Quarantined: the folder list, but no content command.
    call("PUT", "/accounts/ann@example.com/devices/annphone1/access", Some(r#"{"access":"quarantined"}"#));
    assert!(device(&eas, "ann@example.com", "annphone1", "folders", &[&key])["folders"].is_array());
    call("PUT", "/accounts/ann@example.com/devices/annphone1/access", Some(r#"{"access":"allowed"}"#));

    // Remote wipe: the device gets 140 for content, RemoteWipe when it
    // provisions, and its acknowledgement shows in the admin API.
    call("POST", "/accounts/ann@example.com/devices/annphone1/wipe", Some(r#"{"account_only": false}"#));
    let wipe = device(&eas, "ann@example.com", "annphone1", "wipe", &[&key]);
    assert_eq!(wipe["before"], "140", "{wipe}");
    assert!(wipe["told"].to_string().contains("Provision.RemoteWipe"), "{wipe}");
    assert_eq!(wipe["ack_status"], "1", "{wipe}");
    let phone = call("GET", "/accounts/ann@example.com/devices/annphone1", None);
    assert_eq!(phone["wipe"]["state"], "acknowledged", "{phone}");

    // Autodiscover: a phone with only an address and a password finds the
    // endpoint; another account's address is not answered.
    let ask = |address: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"><Request><EMailAddress>{address}</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006</AcceptableResponseSchema></Request></Autodiscover>"#
        )
    };
    let url = format!("https://{eas}/autodiscover/autodiscover.xml");
    let (code, found) = curl("POST", &url, "pat@example.com:pw-pat@example.com", Some(&ask("pat@example.com")));
    assert_eq!(code, 200, "{found}");
    let found = found.as_str().unwrap().to_owned();
    assert!(found.contains(&format!("<Url>https://{eas}/Microsoft-Server-ActiveSync</Url>")), "{found}");
    assert!(
        found.contains("<Type>MobileSync</Type>") && found.contains("<EMailAddress>pat@example.com</EMailAddress>"),
        "{found}"
    );
    let (_, other) = curl("POST", &url, "pat@example.com:pw-pat@example.com", Some(&ask("ann@example.com")));
    assert!(other.as_str().unwrap().contains("<ErrorCode>600</ErrorCode>"), "{other}");
    assert_eq!(curl("POST", &url, "pat@example.com:wrong", Some(&ask("pat@example.com"))).0, 401);

    // Mail sync. 25 messages delivered over SMTP reach the device in windows
    // of 10 (MoreAvailable), with their headers and bodies decoded.
    let smtp = env.listener("smtp");
    let imaps = env.listener("imaps");
    deliver(&smtp, "pat@example.com", 0, 25);
    let first = device(&eas, "pat@example.com", "patphone", "sync", &[&pat_key, &inbox]);
    let items = first["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 25, "{first}");
    assert!(first["batches"].as_i64().unwrap() >= 3, "{first}");
    let id_of = |subject: &str| {
        items.iter().find(|i| i["subject"] == subject).unwrap_or_else(|| panic!("{subject} missing: {first}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let sample = items.iter().find(|i| i["subject"] == "Delivery 7").unwrap();
    assert_eq!(sample["read"], "0", "{sample}");
    assert!(sample["from"].as_str().unwrap().contains("sender7@remote.example"), "{sample}");
    assert!(sample["body"].as_str().unwrap().contains("Body of delivery 7."), "{sample}");
    let key = first["key"].as_str().unwrap().to_owned();
    // The device reads and flags one message and deletes another: IMAP sees it.
    let ops = format!(
        r#"[{{"id":"{}","read":true,"flagged":true}},{{"id":"{}","delete":true}}]"#,
        id_of("Delivery 0"),
        id_of("Delivery 1")
    );
    let changed = device(&eas, "pat@example.com", "patphone", "change", &[&pat_key, &inbox, &key, &ops]);
    let key = changed["key"].as_str().unwrap().to_owned();
    let seen = imap(
        &imaps,
        "pat@example.com",
        r#"m.select("INBOX")
typ, data = m.search(None, "HEADER", "Message-ID", '"<d0@remote.example>"')
print("flags", m.fetch(data[0], "(FLAGS)")[1])
print("one in inbox", m.search(None, "HEADER", "Message-ID", '"<d1@remote.example>"')[1])
m.select("Trash")
print("one in trash", m.search(None, "HEADER", "Message-ID", '"<d1@remote.example>"')[1])
m.select("INBOX")
typ, data = m.search(None, "HEADER", "Message-ID", '"<d2@remote.example>"')
m.store(data[0], "+FLAGS", "(\Seen)")
typ, data = m.search(None, "HEADER", "Message-ID", '"<d3@remote.example>"')
m.store(data[0], "+FLAGS", "(\Deleted)")
m.expunge()"#,
    );
    assert!(seen.contains("\\Seen") && seen.contains("\\Flagged"), "{seen}");
    assert!(seen.contains("one in inbox [b'']"), "{seen}");
    assert!(!seen.contains("one in trash [b'']"), "{seen}");
    // IMAP's changes reach the device; its own changes are not sent back.
    let back = device(&eas, "pat@example.com", "patphone", "sync", &[&pat_key, &inbox, &key]);
    assert_eq!(back["items"].as_array().unwrap().len(), 0, "{back}");
    let changed: Vec<&Value> = back["changed"].as_array().unwrap().iter().collect();
    assert_eq!(changed.len(), 1, "{back}");
    assert_eq!(changed[0]["id"], id_of("Delivery 2").as_str(), "{back}");
    assert_eq!(changed[0]["read"], "1", "{back}");
    assert_eq!(back["deleted"], serde_json::json!([id_of("Delivery 3")]), "{back}");
    let key = back["key"].as_str().unwrap().to_owned();
    // GetItemEstimate counts what the next Sync brings.
    deliver(&smtp, "pat@example.com", 25, 26);
    let estimate = device(&eas, "pat@example.com", "patphone", "estimate", &[&pat_key, &inbox, &key]);
    assert_eq!(estimate["estimate"], 1, "{estimate}");
    let caught_up = device(&eas, "pat@example.com", "patphone", "sync", &[&pat_key, &inbox, &key]);
    assert_eq!(caught_up["items"].as_array().unwrap().len(), 1, "{caught_up}");
    // Ping: a heartbeat under the bound is refused with the bound; a parked
    // Ping is woken by a delivery within a second.
    let markers = tempfile::tempdir().unwrap();
    let marker = markers.path().join("pinging");
    let short =
        device(&eas, "pat@example.com", "patphone", "ping", &[&pat_key, &inbox, "10", marker.to_str().unwrap()]);
    assert_eq!(short["status"], "5", "{short}");
    std::fs::remove_file(&marker).unwrap();
    let ping = {
        let (eas, pat_key, inbox, marker) = (eas.clone(), pat_key.clone(), inbox.clone(), marker.clone());
        std::thread::spawn(move || {
            device(&eas, "pat@example.com", "patphone", "ping", &[&pat_key, &inbox, "60", marker.to_str().unwrap()])
        })
    };
    while !marker.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    deliver(&smtp, "pat@example.com", 26, 27);
    let delivered = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let woken = ping.join().unwrap();
    assert_eq!(woken["status"], "2", "{woken}");
    assert_eq!(woken["folders"], serde_json::json!([inbox]), "{woken}");
    let late = woken["returned_at"].as_f64().unwrap() - delivered;
    assert!(late < 1.0, "Ping answered {late:.3} s after the delivery: {woken}");

    // Mail from the device: SendMail with a Bcc, SmartForward (the
    // original attached), SmartReply (the original quoted); copies in Sent;
    // relaying refused without relay.allowed.
    let sent = device(
        &eas,
        "pat@example.com",
        "patphone",
        "send",
        &[&pat_key, &inbox, &id_of("Delivery 5"), &id_of("Delivery 6")],
    );
    assert_eq!(sent["send"], "1", "{sent}");
    assert_eq!(sent["forward"], "1", "{sent}");
    assert_eq!(sent["reply"], "1", "{sent}");
    assert_eq!(sent["missing"], "150", "{sent}");
    assert_eq!(sent["relay"], "110", "{sent}");
    let ann_sees = imap(
        &imaps,
        "ann@example.com",
        r#"m.select("INBOX")
for subject in ["From the phone", "Fw: Delivery 5", "Re: Delivery 6"]:
    typ, data = m.search(None, "SUBJECT", '"' + subject + '"')
    print(subject, "->", m.fetch(data[0], "(BODYSTRUCTURE BODY.PEEK[])")[1] if data[0] else "missing")"#,
    );
    assert!(!ann_sees.contains("missing"), "{ann_sees}");
    assert!(ann_sees.contains(r#"("message" "rfc822""#), "the forward attaches the original: {ann_sees}");
    assert!(ann_sees.contains("> Body of delivery 6."), "the reply quotes the original: {ann_sees}");
    assert!(!ann_sees.contains("zed@example.com"), "Bcc is not disclosed: {ann_sees}");
    let zed_sees = imap(
        &imaps,
        "zed@example.com",
        r#"m.select("INBOX")
print(m.search(None, "SUBJECT", '"From the phone"')[1])"#,
    );
    assert!(!zed_sees.contains("[b'']"), "the Bcc recipient got it: {zed_sees}");
    let pat_sent = imap(&imaps, "pat@example.com", r#"print(m.select("Sent")[1])"#);
    assert!(pat_sent.contains("[b'3']"), "three copies in Sent: {pat_sent}");

    // Folders created, renamed and deleted from the device, and an item
    // moved into one: the move is not sent back as a new item twice.
    let item = id_of("Delivery 4");
    let managed = device(&eas, "pat@example.com", "patphone", "manage", &[&pat_key, &inbox, &item]);
    let ids = managed["ids"].as_array().unwrap();
    let renamed = managed["renamed"].to_string();
    assert!(renamed.contains("\"Clients\"") && renamed.contains("\"2026\""), "{managed}");
    assert!(renamed.contains(&format!("[{},\"{}\",12,\"2026\"]", ids[1], ids[0].as_str().unwrap())), "{managed}");
    assert!(managed["moved_to"].as_str().unwrap().starts_with(&format!("{}:", ids[1].as_str().unwrap())), "{managed}");
    assert_eq!(managed["in_year"], serde_json::json!([managed["moved_to"]]), "{managed}");
    assert_eq!(managed["inbox_delete"], "3", "{managed}");
    assert_eq!(managed["duplicate"], "2", "{managed}");
    let after = managed["after_delete"].to_string();
    assert!(!after.contains("Clients") && !after.contains("2026") && after.contains("Inbox"), "{managed}");
    let listed = imap(&imaps, "pat@example.com", r#"print(m.list()[1])"#);
    assert!(!listed.contains("Clients"), "{listed}");

    // The administrator removes the partnership: the device must provision
    // again, its old Sync key is unknown (status 3, start over), and it
    // gets the whole Inbox again from a clean start: no loop.
    let (code, v) = curl("DELETE", &format!("{api}/accounts/pat@example.com/devices/patphone"), &admin, None);
    assert_eq!(code, 200, "{v}");
    // The key it holds is not valid any more (144): it provisions again.
    assert_eq!(device(&eas, "pat@example.com", "patphone", "folders", &[&pat_key])["status"], "144");
    let fresh = device(&eas, "pat@example.com", "patphone", "provision", &[]);
    let fresh_key = fresh["key"].as_str().unwrap().to_owned();
    let restart = device(&eas, "pat@example.com", "patphone", "restart", &[&fresh_key, &inbox, &key]);
    assert_eq!(restart["stale_sync"], "3", "{restart}");
    assert_eq!(restart["hierarchy"]["status"], "1", "{restart}");
    assert!(restart["hierarchy"]["adds"].as_i64().unwrap() >= 5, "{restart}");
    let in_inbox = imap(&imaps, "pat@example.com", r#"print(m.select("INBOX", readonly=True)[1])"#);
    let expected = format!("[b'{}']", restart["items"]);
    assert!(in_inbox.contains(&expected), "device has {} items, IMAP: {in_inbox}", restart["items"]);

    // An edition without ActiveSync refuses every account.
    let (code, v) = curl("PUT", &format!("{api}/license"), &admin, Some(&trial));
    assert_eq!(code, 200, "{v}");
    let dan = device(&eas, "dan@corp.example", "danphone", "refused", &[]);
    assert_eq!(dan["status"], 403, "{dan}");
    assert!(dan["text"].as_str().unwrap().contains("edition"), "{dan}");
    let (code, v) = curl("PUT", &format!("{api}/license"), &admin, Some(&business));
    assert_eq!(code, 200, "{v}");

    assert_eq!(env.server.terminate(), 0);
}
