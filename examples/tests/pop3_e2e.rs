//! POP3 through the reference server binary: mail delivered over SMTP is
//! read with Python's poplib over implicit TLS (pop3s) and over STLS, and
//! deleted at QUIT; plaintext login before TLS is refused.

mod common;

use std::process::Command;

use common::Server;

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
name = "pop3"
service = "pop3"
bind = "127.0.0.1:0"
tls = "starttls"
[[listener]]
name = "pop3s"
service = "pop3"
bind = "127.0.0.1:0"
tls = "implicit"
[[directory.domain]]
name = "example.com"
[[directory.account]]
address = "pat@example.com"
password = "pat-pw"
"#;

#[test]
fn poplib_reads_and_deletes_mail_delivered_over_smtp() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = Server::start(&config, &["smtp", "pop3", "pop3s"]);
    let addr = |name: &str| server.listeners[name].rsplit_once(':').map(|(h, p)| (h.to_owned(), p.to_owned())).unwrap();
    let ((smtp_host, smtp_port), (_, pop3), (_, pop3s)) = (addr("smtp"), addr("pop3"), addr("pop3s"));
    let script = r#"
import json, poplib, smtplib, ssl, sys
host, smtp_port, pop3, pop3s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with smtplib.SMTP(host, smtp_port) as s:
    for i in range(3):
        s.sendmail("x@remote.example", ["pat@example.com"], f"Subject: pop {i}\r\n\r\n.line {i}\r\n")
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
out = {}
plain = poplib.POP3(host, pop3)
try:
    plain.user("pat@example.com")
    out["plain"] = "accepted"
except poplib.error_proto as e:
    out["plain"] = e.args[0].decode()
plain.stls(context=ctx)
plain.user("pat@example.com")
plain.pass_("pat-pw")
out["stls_stat"] = list(plain.stat())
plain.quit()
p = poplib.POP3_SSL(host, pop3s, context=ctx)
p.user("pat@example.com")
p.pass_("pat-pw")
out["stat"] = list(p.stat())
out["uidl"] = [u.decode() for u in p.uidl()[1]]
out["first"] = b"\n".join(p.retr(1)[1]).decode()
p.dele(1)
p.quit()
p = poplib.POP3_SSL(host, pop3s, context=ctx)
p.user("pat@example.com")
p.pass_("pat-pw")
out["after"] = list(p.stat())
out["uidl_after"] = [u.decode() for u in p.uidl()[1]]
p.quit()
print(json.dumps(out))
"#;
    let out = Command::new("python3").args(["-c", script, &smtp_host, &smtp_port, &pop3, &pop3s]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["plain"].as_str().unwrap().starts_with("-ERR"), "{v}");
    assert_eq!(v["stls_stat"][0], 3, "{v}");
    assert_eq!(v["stat"][0], 3, "{v}");
    assert!(
        v["first"].as_str().unwrap().contains("Subject: pop 0") && v["first"].as_str().unwrap().contains("\n.line 0"),
        "{v}"
    );
    assert_eq!(v["after"][0], 2, "{v}");
    // The remaining messages keep their UIDLs.
    let before: Vec<String> = v["uidl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().split(' ').nth(1).unwrap().to_owned())
        .collect();
    let after: Vec<String> = v["uidl_after"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().split(' ').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(after, before[1..], "{v}");
    assert_eq!(server.terminate(), 0);
}
