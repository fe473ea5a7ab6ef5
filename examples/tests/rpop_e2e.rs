//! RPOP through the reference server binary, with a crash in the middle of
//! a fetch: an account declared with a remote mailbox on Dovecot
//! (axigen-protocols' tests/clients/dovecot_pop3.py) holding 1500
//! messages, delete mode. The server is SIGKILLed while it is fetching,
//! restarted, and in the end every remote message is in the account
//! exactly once and the remote maildrop is empty. The admin API shows the
//! source's status.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, curl};

const MESSAGES: usize = 1500;

struct Dovecot(Child);

impl Drop for Dovecot {
    fn drop(&mut self) {
        // Closing its stdin makes the launcher stop Dovecot and exit; killing
        // the launcher outright would leave Dovecot running.
        drop(self.0.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Messages in the account's INBOX, from the admin API.
fn local_count(api: &str, admin: &str) -> u64 {
    let (code, v) = curl("GET", &format!("{api}/accounts/ann@example.com/folders"), admin, None);
    assert_eq!(code, 200, "{v}");
    v["folders"].as_array().unwrap().iter().find(|f| f["name"] == "INBOX").unwrap()["messages"].as_u64().unwrap()
}

fn remote_count(maildir: &Path) -> usize {
    ["new", "cur"].iter().map(|d| std::fs::read_dir(maildir.join(d)).unwrap().count()).sum()
}

#[test]
fn a_crash_during_a_fetch_loses_and_duplicates_nothing() {
    if !Path::new("/usr/lib/dovecot/pop3").exists() {
        assert!(std::env::var_os("CI").is_none(), "dovecot-pop3d is required under CI");
        eprintln!("skipped: dovecot-pop3d is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = axigen_protocols::tls::ensure_dev_certificate(dir.path(), &[]).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../axigen-protocols/tests/clients/dovecot_pop3.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([dir.path(), &cert, &key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _dovecot = Dovecot(child);
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.first(), Some(&"ready"), "{line}");
    let (pop3, maildir) = (parts[1], PathBuf::from(parts[3]));
    for i in 0..MESSAGES {
        let text = format!("From: <friend@remote.test>\r\nSubject: remote {i}\r\n\r\nbody {i}\r\n");
        std::fs::write(maildir.join("new").join(format!("{i}.m{i}")), text).unwrap();
    }
    Command::new("chown").args(["-R", "nobody:nogroup", maildir.to_str().unwrap()]).status().unwrap();

    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "data"
[delivery]
enabled = false
[rpop]
poll_seconds = 1
ca_file = "{cert}"
[log]
format = "json"
[[listener]]
name = "http"
service = "http"
bind = "127.0.0.1:0"
[[directory.domain]]
name = "example.com"
[[directory.account]]
address = "ann@example.com"
password = "ann-pw"
settings = {{ "rpop.permitted" = true }}
[[directory.rpop]]
account = "ann@example.com"
name = "old-isp"
host = "localhost"
port = {pop3}
tls = "stls"
username = "remote"
password = "remote-pw"
interval_secs = 1
"#,
            cert = cert.display()
        ),
    )
    .unwrap();

    // Killed while fetching: some messages are stored, not all.
    let server = Server::start(&config, &["http"]);
    let (api, admin) =
        (format!("{}/api/v1", server.url("http", "http")), format!("admin:{}", server.admin_password().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = local_count(&api, &admin);
        if n > 0 {
            assert!(n < MESSAGES as u64, "the fetch ended before the crash ({n} stored): too fast to test");
            break;
        }
        assert!(Instant::now() < deadline, "nothing fetched");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    assert_eq!(remote_count(&maildir), MESSAGES, "nothing was deleted remotely before the QUIT");

    // Restarted: the fetch completes; every message once; the remote empties.
    let server = Server::start(&config, &["http"]);
    let api = format!("{}/api/v1", server.url("http", "http"));
    let deadline = Instant::now() + Duration::from_secs(120);
    while remote_count(&maildir) > 0 || local_count(&api, &admin) < MESSAGES as u64 {
        assert!(
            Instant::now() < deadline,
            "{} left remotely, {} stored",
            remote_count(&maildir),
            local_count(&api, &admin)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(local_count(&api, &admin), MESSAGES as u64, "every message exactly once");
    let (code, sources) = curl("GET", &format!("{api}/accounts/ann@example.com/rpop"), &admin, None);
    assert_eq!(code, 200, "{sources}");
    assert_eq!(sources[0]["name"], "old-isp", "{sources}");
    assert_eq!(sources[0]["status"]["failures"], 0, "{sources}");
    assert!(!sources.to_string().contains("remote-pw"), "{sources}");
    assert_eq!(server.terminate(), 0);
}
