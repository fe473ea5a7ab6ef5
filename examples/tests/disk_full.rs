//! A full disk through the reference server binary: the store lives on a
//! small tmpfs the test mounts (it runs as root, as CI does). With the disk
//! filled by another file, a delivery gets `452 4.3.1` and an IMAP APPEND
//! `NO [OVERQUOTA]`, nothing half-written; once the file is removed both
//! work again without a restart, and the store checks clean.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Server;
use serde_json::Value;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "axigen-test", dir.to_str().unwrap()])
            .output()
            .expect("mount is installed");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

const SCRIPT: &str = r#"
import imaplib, json, smtplib, ssl, sys
host, smtp_port, imap_port, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
body = ("x" * 70 + "\r\n") * 3000   # about 216 KB
out = {}
with smtplib.SMTP(host, smtp_port, timeout=30) as s:
    s.ehlo("client.example")
    s.mail("sender@remote.example")
    s.rcpt("disk@example.com")
    code, text = s.data(f"Subject: smtp-{step}\r\n\r\n{body}")
    out["smtp"] = [code, text.decode()]
    out["noop"] = s.noop()[0]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = imaplib.IMAP4(host, imap_port)
c.starttls(ssl_context=ctx)
c.login("disk@example.com", "disk-pw")
try:
    typ, data = c.append("INBOX", None, None, f"Subject: imap-{step}\r\n\r\n{body}".encode())
    out["append"] = [typ, data[0].decode()]
except imaplib.IMAP4.error as e:
    out["append"] = ["NO", str(e)]
typ, data = c.select("INBOX")
out["exists"] = int(data[0])
# A flag change writes little: it is still allowed while the disk is full.
typ, data = c.store("1", "+FLAGS", "(\\Flagged)")
out["store"] = typ
c.logout()
print(json.dumps(out))
"#;

fn round(server: &Server, step: &str) -> Value {
    let (host, smtp) = server.host_port("smtp");
    let (_, imap) = server.host_port("imap");
    let out = Command::new("python3").args(["-c", SCRIPT, &host, &smtp, &imap, step]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_full_disk_gets_temporary_errors_and_service_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("fs"), "96m");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "{}/data"
[store]
min_free_mb = 8
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
address = "disk@example.com"
password = "disk-pw"
"#,
            fs.0.display()
        ),
    )
    .unwrap();
    let server = Server::start(&config, &["smtp", "imap"]);

    let r = round(&server, "before");
    assert_eq!(r["smtp"][0], 250, "{r}");
    assert_eq!(r["append"][0], "OK", "{r}");
    assert_eq!(r["exists"], 2, "{r}");

    // Another program fills the disk: 6 MiB stay free, below the reserve.
    let filler = fs.0.join("filler");
    let size = free_bytes(&fs.0) - (6 << 20);
    let ok = Command::new("fallocate").args(["-l", &size.to_string()]).arg(&filler).status().unwrap().success();
    assert!(ok, "fallocate");
    let r = round(&server, "full");
    assert_eq!(r["smtp"][0], 452, "{r}");
    assert!(r["smtp"][1].as_str().unwrap().starts_with("4.3.1"), "{r}");
    assert_eq!(r["noop"], 250, "the SMTP session goes on: {r}");
    assert_eq!(r["append"][0], "NO", "{r}");
    assert!(r["append"][1].as_str().unwrap().contains("OVERQUOTA"), "{r}");
    assert_eq!(r["exists"], 2, "nothing half-written: {r}");
    assert_eq!(r["store"], "OK", "small writes still go through: {r}");

    // Space returns: service resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    let r = round(&server, "after");
    assert_eq!(r["smtp"][0], 250, "{r}");
    assert_eq!(r["append"][0], "OK", "{r}");
    assert_eq!(r["exists"], 4, "{r}");
    assert_eq!(server.terminate(), 0);

    let check = common::run_cli(&["--config", config.to_str().unwrap(), "check", "--deep"]);
    assert!(check.contains("store is consistent"), "{check}");
    drop(fs);
}
