//! ActiveSync Settings, ResolveRecipients and Search end to end: the
//! reference server binary over HTTPS, driven by the real client
//! `pyactivesync` (tests/clients/activesync_settings.py). DeviceInformation
//! lands in the device record the administrator sees; UserInformation gives
//! the display name and primary address; Oof Get and Set answer (the reply
//! itself is tested in activesync_oof.rs); recipients resolve by address, alias and local part, unknown
//! ones and certificates get their statuses; the GAL finds exact matches in
//! the user's domain only; mailbox searches match subject, sender and body
//! text case-insensitively with Range/Total, by date, across subfolders,
//! with results ItemOperations can fetch, and refuse what they cannot run;
//! Find (16.1) does the same in the mailbox and the GAL.

mod common;

use std::process::Command;

use common::curl;
use common::licensed::{Licensed, pyactivesync_installed};
use serde_json::{Value, json};

/// Delivers, over SMTP, three messages to `rcpt` (oldest first).
fn deliver(smtp: &str, rcpt: &str) {
    let (host, port) = smtp.rsplit_once(':').unwrap();
    let script = r#"
import smtplib, sys, time
from email.message import EmailMessage
host, port, rcpt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = smtplib.SMTP(host, port)
for sender, subject, body in [
    ("Carol Smith <carol@remote.example>", "Budget review", "The numbers are in for the budget."),
    ("dave@remote.example", "Lunch", "The Budget lunch is on Friday."),
    ("eve@remote.example", "Unrelated", "Nothing to see here."),
]:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = rcpt
    msg["Subject"] = subject
    msg.set_content(body + "\n")
    s.send_message(msg, sender.split("<")[-1].rstrip(">"), [rcpt])
    time.sleep(1.1)
s.quit()
"#;
    let ok = Command::new("python3").args(["-c", script, host, port, rcpt]).status().unwrap().success();
    assert!(ok, "SMTP delivery failed");
}

/// Creates folders and files messages in them over IMAP.
fn imap(imaps: &str, user: &str, body: &str) {
    let (host, port) = imaps.rsplit_once(':').unwrap();
    let script = format!(
        "import imaplib, ssl, sys\nctx = ssl.create_default_context()\nctx.check_hostname = False\n\
         ctx.verify_mode = ssl.CERT_NONE\nm = imaplib.IMAP4_SSL(sys.argv[1], int(sys.argv[2]), ssl_context=ctx)\n\
         m.login(sys.argv[3], sys.argv[4])\n{body}\nm.logout()\n"
    );
    let out = Command::new("python3").args(["-c", &script, host, port, user, &format!("pw-{user}")]).output().unwrap();
    assert!(out.status.success(), "imap script failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn pyactivesync_settings_resolve_recipients_and_search() {
    if !pyactivesync_installed() {
        eprintln!("skipped: pyactivesync is not installed");
        return;
    }
    let env = Licensed::start("business", "activesync=3");
    let (admin, api, eas) = (env.admin().to_owned(), env.api().to_owned(), env.listener("https"));
    let call = |method: &str, path: &str, body: Option<&str>| env.call(method, path, body);
    call("POST", "/domains", Some(r#"{"name":"example.com"}"#));
    call("POST", "/domains", Some(r#"{"name":"other.org"}"#));
    call(
        "POST",
        "/domains/example.com/accounts",
        Some(r#"{"local_part":"ops","password":"pw-ops@example.com","display_name":"Olive Ops"}"#),
    );
    call(
        "POST",
        "/domains/example.com/accounts",
        Some(r#"{"local_part":"ann","password":"pw-ann@example.com","display_name":"Ann Example"}"#),
    );
    call("POST", "/domains/other.org/accounts", Some(r#"{"local_part":"ann","password":"pw-ann@other.org"}"#));
    call("PUT", "/aliases/info@example.com", Some(r#"{"account":"ann@example.com"}"#));
    call("PATCH", "/accounts/ops@example.com/settings", Some(r#"{"activesync.enabled": true}"#));
    let user = "ops@example.com";
    deliver(&env.listener("smtp"), user);
    imap(
        &env.listener("imaps"),
        user,
        r#"m.create("Archive")
m.create("Archive/2025")
m.append("Archive", None, None, b"From: a@example.com\r\nSubject: top archived note\r\n\r\nkept\r\n")
m.append("Archive/2025", None, None, b"From: a@example.com\r\nSubject: deep note\r\n\r\nArchived long ago\r\n")"#,
    );

    let out = Command::new("python3")
        .arg(common::client_script("activesync_settings.py"))
        .args([eas.as_str(), user, "pw-ops@example.com", "settingsphone"])
        .output()
        .expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));

    // Settings.
    let s = &v["settings"];
    assert_eq!(s["device"]["status"], "1", "{s}");
    assert_eq!(s["device"]["DeviceInformation"]["status"], "1", "{s}");
    let (code, devices) = curl("GET", &format!("{api}/accounts/{user}/devices"), &admin, None);
    assert_eq!(code, 200, "{devices}");
    let phone = devices.as_array().unwrap().iter().find(|d| d["device_id"] == "settingsphone").expect("device listed");
    assert_eq!(phone["model"], "Pixel 8", "{phone}");
    assert_eq!(phone["friendly_name"], "Ops phone", "{phone}");
    assert_eq!(phone["os"], "Android 14", "{phone}");
    // The user agent is the HTTP User-Agent of the latest request, which
    // every request refreshes after DeviceInformation set it.
    assert_eq!(phone["user_agent"], "TestPhone/2.0", "DeviceInformation wins over the HTTP header: {phone}");
    assert_eq!(s["user"]["UserInformation"]["status"], "1", "{s}");
    let info = &s["user"]["UserInformation"]["data"];
    assert_eq!(info["Settings.UserDisplayName"], "Olive Ops", "{s}");
    assert_eq!(info["Settings.PrimarySmtpAddress"], user, "{s}");
    assert_eq!(s["addresses"], json!([user]), "{s}");
    assert_eq!(s["get_oof"], "1", "{s}");
    assert_eq!(s["set_oof"], "1", "{s}");
    assert_eq!(s["password"]["DevicePassword"]["status"], "1", "{s}");
    assert_eq!(s["rights"]["RightsManagementInformation"]["status"], "1", "{s}");
    assert_eq!(s["batch"]["status"], "1", "{s}");
    assert_eq!(s["batch"]["UserInformation"]["status"], "1", "{s}");
    assert_eq!(s["batch"]["Oof"]["status"], "1", "{s}");
    assert_eq!(s["batch"]["Oof"]["data"]["Settings.OofState"], "1", "the Set before is kept: {s}");
    assert_eq!(s["batch"]["Oof"]["data"]["Settings.ReplyMessage"], "Away", "{s}");
    assert_eq!(s["batch"]["DevicePassword"]["status"], "2", "{s}");
    assert_eq!(s["no_operation"]["status"], "2", "{s}");
    assert_eq!(s["wrong_root"], "2", "{s}");

    // ResolveRecipients: address, alias, local part, display form.
    let r = &v["resolve"];
    let ann = json!([["1", "Ann Example", "ann@example.com"]]);
    for asked in ["ann@example.com", "info@example.com", "ann", "Ann Example <ANN@example.com>"] {
        assert_eq!(r[asked], ann, "{asked}: {r}");
    }
    assert_eq!(r["raw"]["status"], "1", "{r}");
    let responses = r["raw"]["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 3, "{r}");
    for unknown in &responses[..2] {
        assert_eq!(unknown["status"], "4", "{r}");
        assert_eq!(unknown["count"], "0", "{r}");
        assert_eq!(unknown["address"], Value::Null, "{r}");
    }
    assert_eq!(responses[0]["to"], "nobody@example.com", "{r}");
    assert_eq!(responses[2]["status"], "1", "{r}");
    assert_eq!(responses[2]["address"], "ann@example.com", "{r}");
    assert_eq!(responses[2]["cert_status"], "7", "{r}");
    assert_eq!(responses[2]["cert_count"], "0", "{r}");
    assert_eq!(r["empty"], "5", "{r}");

    // GAL: exact matches in the user's domain only.
    let g = &v["gal"];
    let ann_gal = json!([["Ann Example", "ann@example.com", "ann"]]);
    for q in ["ann", "ann@example.com", "info", "ANN"] {
        assert_eq!(g[q], ann_gal, "{q}: {g}");
    }
    for q in ["an", "ghost", "carol@remote.example"] {
        assert_eq!(g[q], json!([]), "{q}: {g}");
    }

    // Mailbox search.
    let m = &v["mailbox"];
    let subjects = |r: &Value| -> Vec<String> {
        r["results"].as_array().unwrap().iter().map(|x| x["subject"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(m["budget"]["top"], "1", "{m}");
    assert_eq!(m["budget"]["status"], "1", "{m}");
    // Newest first: the body match, then the subject match.
    assert_eq!(subjects(&m["budget"]), ["Lunch", "Budget review"], "{m}");
    assert_eq!(m["budget"]["range"], "0-1", "{m}");
    assert_eq!(m["budget"]["total"], "2", "{m}");
    let first = &m["budget"]["results"][0];
    assert_eq!(first["class"], "Email", "{m}");
    let inbox = first["collection"].as_str().unwrap();
    assert!(first["long_id"].as_str().unwrap().starts_with(&format!("{inbox}:")), "{m}");
    assert!(first["body"].as_str().unwrap().contains("Budget lunch"), "{m}");
    assert_eq!(subjects(&m["first"]), ["Lunch"], "{m}");
    assert_eq!((&m["first"]["range"], &m["first"]["total"]), (&json!("0-0"), &json!("2")), "{m}");
    assert_eq!(subjects(&m["second"]), ["Budget review"], "{m}");
    assert_eq!(m["second"]["range"], "1-1", "{m}");
    assert_eq!(subjects(&m["sender"]), ["Budget review"], "{m}");
    assert!(m["sender"]["results"][0]["from"].as_str().unwrap().contains("carol@remote.example"), "{m}");
    assert_eq!(subjects(&m["words"]), ["Budget review"], "{m}");
    // Every folder; the Archive with its subfolder; the Archive alone.
    let sorted = |r: &Value| {
        let mut s = subjects(r);
        s.sort();
        s
    };
    assert_eq!(sorted(&m["everywhere"]), ["deep note", "top archived note"], "{m}");
    assert_eq!(m["everywhere"]["total"], "2", "{m}");
    assert_eq!(sorted(&m["deep"]), ["deep note", "top archived note"], "{m}");
    assert_eq!(subjects(&m["shallow"]), ["top archived note"], "{m}");
    assert_eq!(m["shallow"]["total"], "1", "{m}");
    assert_eq!(m["inbox_only"]["total"], "0", "{m}");
    assert_eq!((&m["nothing"]["status"], &m["nothing"]["total"]), (&json!("1"), &json!("0")), "{m}");
    assert_eq!(m["nothing"]["results"], json!([]), "{m}");
    assert_eq!(m["nothing"]["range"], Value::Null, "{m}");
    assert_eq!(m["truncated"]["results"][0]["body"], "The n", "{m}");
    assert_eq!(m["truncated"]["results"][0]["truncated"], "1", "{m}");
    assert_eq!(m["after"], json!(["Budget review", "Lunch", "Unrelated"]), "{m}");
    assert_eq!(m["future"], json!([]), "{m}");
    assert_eq!(m["fetched_subject"], "Budget review", "{m}");
    assert_eq!(m["unknown_folder"]["status"], "2", "{m}");
    assert_eq!(m["contacts_folder"]["status"], "2", "{m}");
    assert_eq!(m["or"]["status"], "8", "{m}");
    assert_eq!(m["bad_range"]["status"], "2", "{m}");
    assert_eq!(m["library"]["status"], "2", "{m}");
    assert_eq!(m["no_store"], "103", "{m}");

    // Find (16.1): newest first with previews, folders and their
    // subfolders, the GAL, and the protocol's refusals.
    let f = &v["find"];
    let find_subjects = |r: &Value| -> Vec<String> {
        r["items"].as_array().unwrap().iter().map(|x| x["Email.Subject"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(find_subjects(&f["budget"]), ["Lunch", "Budget review"], "{f}");
    let lunch = &f["budget"]["items"][0];
    assert_eq!(lunch["collection"], inbox, "{f}");
    assert!(lunch["server_id"].as_str().unwrap().starts_with(&format!("{inbox}:")), "{f}");
    assert_eq!(lunch["Find.Preview"], "The Budget lunch is on Friday.", "{f}");
    assert_eq!(lunch["Find.HasAttachments"], "0", "{f}");
    assert_eq!(lunch["Email.Read"], "0", "{f}");
    assert!(lunch["Email.From"].as_str().unwrap().contains("dave@remote.example"), "{f}");
    assert_eq!(find_subjects(&f["inbox_first"]), ["Lunch"], "{f}");
    assert_eq!(f["inbox_first"]["range"], "0-0", "{f}");
    let mut deep = find_subjects(&f["deep"]);
    deep.sort();
    assert_eq!(deep, ["deep note", "top archived note"], "{f}");
    assert_eq!(find_subjects(&f["shallow"]), ["top archived note"], "{f}");
    assert_eq!(f["nothing"]["items"], json!([]), "{f}");
    assert_eq!(f["not_zero"]["error"], "Find:4", "{f}");
    assert_eq!(f["unknown_folder"]["error"], "Find:3", "{f}");
    assert_eq!(f["gal"]["items"][0]["GAL.EmailAddress"], "ann@example.com", "{f}");
    assert_eq!(f["gal"]["items"][0]["GAL.DisplayName"], "Ann Example", "{f}");
    assert_eq!(f["gal_none"]["items"], json!([]), "{f}");
    assert_eq!(f["no_search_id"]["status"], "2", "{f}");
    assert_eq!(f["no_text"]["status"], "2", "{f}");

    assert_eq!(env.server.terminate(), 0);
}
