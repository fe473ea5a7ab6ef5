//! CalDAV and CardDAV through the reference server binary with real
//! clients: the PyPI library `caldav` (tests/clients/caldav_client.py)
//! `vdirsyncer` (tests/clients/vdirsyncer_sync.py, two-way sync), and
//! imaplib/smtplib for sharing and invitations, over
//! plain HTTP on loopback (`[dav] allow_plaintext`), and the
//! endpoint's refusals (plain HTTP by default, `service.dav` off) with curl.

mod common;

use std::process::Command;

use common::{Server, client_script};

/// Whether python3 can import `module`; outside CI a missing client skips
/// the test, in CI (`CI` set) `.ci/run` must have installed it.
fn have(module: &str) -> bool {
    let ok = Command::new("python3").args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "python3 cannot import {module}; .ci/run must install it");
        eprintln!("{module} not installed (python3 -m pip install {module}): skipping");
    }
    ok
}

fn config(dir: &std::path::Path, plaintext: bool) -> std::path::PathBuf {
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "data"
[log]
format = "json"
[dav]
allow_plaintext = {plaintext}
[imap]
allow_plaintext_auth = true
[smtp]
allow_plaintext_auth = true
[delivery]
enabled = false
[[listener]]
name = "smtp"
service = "smtp"
bind = "127.0.0.1:0"
[[listener]]
name = "submission"
service = "submission"
bind = "127.0.0.1:0"
[[listener]]
name = "imap"
service = "imap"
bind = "127.0.0.1:0"
[[listener]]
name = "http"
service = "http"
bind = "127.0.0.1:0"
[[listener]]
name = "https"
service = "http"
bind = "127.0.0.1:0"
tls = "implicit"
[[directory.domain]]
name = "example.com"
[[directory.account]]
address = "ann@example.com"
password = "ann-pw"
[[directory.account]]
address = "bob@example.com"
password = "bob-pw"
[[directory.domain]]
name = "other.example"
[[directory.account]]
address = "zed@other.example"
password = "zed-pw"
[[directory.account]]
address = "off@example.com"
password = "off-pw"
settings = {{ "service.dav" = false }}
"#
        ),
    )
    .unwrap();
    config
}

/// Runs a client script (tests/clients/NAME) with `args`; its JSON report.
fn run_client(name: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3").arg(client_script(name)).args(args).output().expect("python3 is installed");
    assert!(
        out.status.success(),
        "{name} failed:\n{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// (status, body) of one request with curl.
fn request(method: &str, url: &str, user: Option<&str>, headers: &[&str], body: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-k", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(u) = user {
        cmd.args(["-u", u]);
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    let out = cmd.output().expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn python_caldav_client_session() {
    if !have("caldav") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path(), true), &["http", "https", "imap", "smtp", "submission"]);
    let base = format!("{}/dav/", server.url("http", "http"));
    let report = run_client("caldav_client.py", &[&base, "ann@example.com", "ann-pw"]);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["server_expanded"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(server.terminate(), 0);
}

/// Sharing (seed 3.5.2): the owner grants and revokes with IMAP SETACL /
/// DELETEACL, the other account reads, writes and loses the calendar
/// through `caldav`.
#[test]
fn calendar_shared_with_imap_acl_commands_used_over_caldav() {
    if !have("caldav") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path(), true), &["http", "https", "imap", "smtp", "submission"]);
    let base = format!("{}/dav/", server.url("http", "http"));
    let (host, port) = server.host_port("imap");
    let report = run_client("dav_sharing.py", &[base.as_str(), &host, &port]);
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["shared_url"].as_str().unwrap().ends_with("/dav/calendars/bob@example.com/ann@example.com%2ACalendar/")
    );
    assert_eq!(server.terminate(), 0);
}

/// Invitations (seed 3.5.3): an event organized over CalDAV reaches a
/// local attendee's calendar and INBOX and a remote attendee through the
/// queue; a REPLY by mail updates the organizer's copy, a forged CANCEL is
/// ignored, an update and a removal follow (imip_session.py).
#[test]
fn imip_invitations_between_local_accounts_and_to_a_remote_address() {
    if !have("caldav") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path(), true), &["http", "https", "imap", "smtp", "submission"]);
    let admin = format!("admin:{}", server.admin_password().expect("first start prints the admin credential"));
    let base = format!("{}/dav/", server.url("http", "http"));
    let (host, imap) = server.host_port("imap");
    let (_, submission) = server.host_port("submission");
    let (_, mx) = server.host_port("smtp");
    let report = run_client("imip_session.py", &[base.as_str(), &host, &imap, &submission, &mx]);
    for step in
        ["bob_invited", "reply_recorded", "caldav_answer_replied", "update_followed", "free_busy", "cancel_applied"]
    {
        assert_eq!(report[step], true, "{step}: {report}");
    }
    // The remote attendee's invitation, update and cancellation wait in
    // the outbound queue (delivery is off in this test).
    let (code, queue) = common::curl("GET", &format!("{}/api/v1/queue", server.url("http", "http")), &admin, None);
    assert_eq!(code, 200, "{queue}");
    let to_carol =
        queue["messages"].as_array().unwrap().iter().filter(|m| m.to_string().contains("carol@remote.example")).count();
    assert_eq!(to_carol, 3, "{queue}");
    assert_eq!(server.terminate(), 0);
}

#[test]
fn vdirsyncer_two_way_sync_of_a_calendar_and_an_address_book() {
    let have = Command::new("vdirsyncer").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have {
        assert!(std::env::var_os("CI").is_none(), "vdirsyncer is missing; .ci/run must install it");
        eprintln!("vdirsyncer not installed (apt-get install vdirsyncer): skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path(), true), &["http", "https", "imap", "smtp", "submission"]);
    let base = format!("{}/dav/", server.url("http", "http"));
    let work = dir.path().join("vdirsyncer");
    std::fs::create_dir_all(&work).unwrap();
    let report =
        run_client("vdirsyncer_sync.py", &[base.as_str(), "ann@example.com", "ann-pw", work.to_str().unwrap()]);
    assert_eq!((report["ok"].clone(), report["syncs"].clone()), (serde_json::json!(true), serde_json::json!(3)));
    assert_eq!(server.terminate(), 0);
}

/// The CalDAV compliance suite `caldav-server-tester` (PyPI): every
/// feature it probes is `full` except the ones this server does not offer
/// by design, and nothing is `broken`, `fragile` or `ungraceful`.
#[test]
fn caldav_server_tester_finds_every_feature_full() {
    let have_tester = Command::new("caldav-server-tester").arg("--help").output().is_ok_and(|o| o.status.success());
    if !have_tester || !have("vobject") {
        assert!(std::env::var_os("CI").is_none(), "caldav-server-tester is missing; .ci/run must install it");
        eprintln!("caldav-server-tester not installed (python3 -m pip install caldav-server-tester vobject): skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path(), true), &["http", "https", "imap", "smtp", "submission"]);
    let base = format!("{}/dav/", server.url("http", "http"));
    let out = Command::new("caldav-server-tester")
        .args(["--caldav-url", &base, "--caldav-username", "ann@example.com", "--caldav-password", "ann-pw"])
        .args(["--format", "hints"])
        .env("HOME", dir.path())
        .output()
        .expect("caldav-server-tester runs");
    let hints = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the tester failed:\n{hints}\n{}", String::from_utf8_lossy(&out.stderr));
    // The hints are a Python dict literal; read it with Python.
    let parse = Command::new("python3")
        .args(["-c", "import ast, json, sys; print(json.dumps(ast.literal_eval(sys.stdin.read())))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        parse.stdin.as_ref().unwrap().write_all(hints.as_bytes()).unwrap();
    }
    let parsed = parse.wait_with_output().unwrap();
    let features: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap_or_else(|e| panic!("{e}: {hints}"));
    // Not offered, by design: collections are created explicitly, journal
    // entries live in notes collections, scheduling is iMIP (RFC 6047)
    // rather than RFC 6638, a prop-filter under VCALENDAR tests VCALENDAR's
    // own properties (RFC 4791 9.7.2), `@` and `%40` name one resource, and
    // the well-known check skips loopback.
    let by_design = [
        "create-calendar.auto",
        "save-load.journal.mixed-calendar",
        "scheduling",
        "search.text.comp-type-optional",
        "url.encode-at.identity",
        "well-known",
        "get-current-user-principal.has-calendar",
    ];
    let mut full = 0;
    let mut wrong = Vec::new();
    for (name, value) in features.as_object().unwrap() {
        match value["support"].as_str() {
            Some("full") => full += 1,
            _ if by_design.contains(&name.as_str()) => {}
            other => wrong.push(format!("{name}: {other:?} {value}")),
        }
    }
    assert!(wrong.is_empty(), "features not full:\n{}", wrong.join("\n"));
    assert!(full >= 90, "only {full} features full: {features}");
    for key in ["sync-token", "search.recurrences.expanded.exception", "save.no-uid-conflict", "freebusy-query"] {
        assert_eq!(features[key]["support"], "full", "{key}: {}", features[key]);
    }
    assert_eq!(server.terminate(), 0);
}

#[test]
fn refusals_plain_http_service_off_and_well_known() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path(), false), &["http", "https", "imap", "smtp", "submission"]);
    let (http, https) = (server.url("http", "http"), server.url("https", "https"));
    let propfind = ["Depth: 0", "Content-Type: application/xml"];
    // Plain HTTP is refused for what needs a password, TLS is served.
    let (code, _) = request("PROPFIND", &format!("{http}/dav/"), Some("ann@example.com:ann-pw"), &propfind, None);
    assert_eq!(code, 403);
    let (code, body) = request("PROPFIND", &format!("{https}/dav/"), Some("ann@example.com:ann-pw"), &propfind, None);
    assert_eq!(code, 207, "{body}");
    assert!(body.contains("/dav/principals/ann@example.com/"), "{body}");
    // No credentials: a Basic challenge; wrong ones too.
    let (code, _) = request("PROPFIND", &format!("{https}/dav/"), None, &propfind, None);
    assert_eq!(code, 401);
    let (code, _) = request("PROPFIND", &format!("{https}/dav/"), Some("ann@example.com:wrong"), &propfind, None);
    assert_eq!(code, 401);
    // service.dav off for this account.
    let (code, body) = request("PROPFIND", &format!("{https}/dav/"), Some("off@example.com:off-pw"), &propfind, None);
    assert_eq!(code, 403, "{body}");
    // RFC 6764: the well-known paths lead to the DAV root.
    let out = Command::new("curl")
        .args([
            "-s",
            "-k",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            &format!("{https}/.well-known/caldav"),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("301 ") && text.ends_with("/dav/"), "{text}");
    // Principals of another hosted domain are not shown, nor found.
    let (code, _) = request(
        "PROPFIND",
        &format!("{https}/dav/principals/zed@other.example/"),
        Some("ann@example.com:ann-pw"),
        &propfind,
        None,
    );
    assert_eq!(code, 404);
    let search = r#"<D:principal-property-search xmlns:D="DAV:"><D:property-search><D:prop><D:displayname/></D:prop><D:match>zed@other.example</D:match></D:property-search><D:prop><D:displayname/></D:prop></D:principal-property-search>"#;
    let (code, body) =
        request("REPORT", &format!("{https}/dav/"), Some("ann@example.com:ann-pw"), &propfind, Some(search));
    assert!(code == 207 && !body.contains("zed"), "{code} {body}");
    // Another account's home is not readable.
    let (code, _) = request(
        "PROPFIND",
        &format!("{https}/dav/calendars/off@example.com/Calendar/"),
        Some("ann@example.com:ann-pw"),
        &propfind,
        None,
    );
    assert_eq!(code, 404);
    assert_eq!(server.terminate(), 0);
}
