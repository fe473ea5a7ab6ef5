//! RPOP against a real remote POP3 server: Dovecot (Debian's
//! dovecot-pop3d), started on loopback ports with its own user and Maildir.
//! Covers leave-on-server (nothing fetched twice, new mail fetched), delete
//! mode over implicit TLS (the remote maildrop empties), the recovery of an
//! interrupted fetch (stored and remembered but not deleted remotely: it is
//! deleted, not stored again), a refused policy, a remote that is down
//! (status with the error, backoff), and filters applied to fetched mail.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axigen_core::directory::{Directory, DirectoryAdmin};
use axigen_core::mailstore::MailStore;
use axigen_core::model::{Account, Address, Domain, DomainName, NewAccount};
use axigen_core::rpop::{RpopSource, RpopStore, RpopTls};
use axigen_core::settings::{Overrides, Setting};
use axigen_protocols::inbound::{InboundBackend, Rule, RuleAction, RulesFilter};
use axigen_protocols::rpop::{RpopConfig, RpopFetcher, next_due};
use axigen_store::{Store, StoreOptions};

struct Dovecot {
    child: Child,
    maildir: PathBuf,
    pop3: u16,
    pop3s: u16,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // Closing its stdin makes the launcher stop Dovecot and exit; killing
        // the launcher outright would leave Dovecot running.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Dovecot (tests/clients/dovecot_pop3.py) with one user `remote`
/// (password `remote-pw`), POP3 with STLS and pop3s; `None` when it is not
/// installed (under CI its absence fails the test).
fn dovecot(dir: &Path) -> Option<Dovecot> {
    if !Path::new("/usr/lib/dovecot/pop3").exists() {
        assert!(std::env::var_os("CI").is_none(), "dovecot-pop3d is required under CI");
        eprintln!("skipped: dovecot-pop3d is not installed");
        return None;
    }
    let (cert, key, _) = axigen_protocols::tls::ensure_dev_certificate(dir, &[]).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/dovecot_pop3.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([dir, &cert, &key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.first(), Some(&"ready"), "{line}");
    let (pop3, pop3s) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
    Some(Dovecot { child, maildir: PathBuf::from(parts[3]), pop3, pop3s })
}

impl Dovecot {
    /// Puts a message into the remote maildrop.
    fn add(&self, name: &str, subject: &str) {
        let text =
            format!("From: <friend@remote.test>\r\nSubject: {subject}\r\n\r\n.dot line\r\nbody of {subject}\r\n");
        std::fs::write(self.maildir.join("new").join(name), text).unwrap();
        self.chown();
    }

    fn chown(&self) {
        let home = self.maildir.parent().unwrap().parent().unwrap();
        Command::new("chown").args(["-R", "nobody:nogroup", home.to_str().unwrap()]).status().unwrap();
    }

    /// Messages left in the remote maildrop.
    fn remaining(&self) -> usize {
        ["new", "cur"].iter().map(|d| std::fs::read_dir(self.maildir.join(d)).unwrap().count()).sum()
    }
}

async fn setup(dir: &Path, rules: Vec<Rule>) -> (Arc<Store>, Account, Arc<RpopFetcher>) {
    let store = Arc::new(Store::open(dir.join("store"), StoreOptions::default()).unwrap());
    store
        .put_domain(Domain {
            name: DomainName::new("example.com").unwrap(),
            settings: Overrides::default(),
            postmaster: None,
        })
        .await
        .unwrap();
    let settings = Overrides { rpop_permitted: Setting::Explicit(true), ..Overrides::default() };
    let account = store
        .create_account(NewAccount {
            address: Address::parse("ann@example.com").unwrap(),
            class: None,
            display_name: String::new(),
            password: "pw".into(),
            settings,
        })
        .await
        .unwrap();
    let filters: Vec<Arc<dyn axigen_core::delivery::DeliveryFilter>> =
        if rules.is_empty() { vec![] } else { vec![Arc::new(RulesFilter::new(rules).unwrap())] };
    let inbound =
        Arc::new(InboundBackend::new(store.clone(), store.clone(), store.clone(), filters, "mx.example.com", 1 << 20));
    let mut config = RpopConfig::new("mx.example.com");
    config.ca_file = Some(dir.join("dev-cert.pem"));
    config.timeout = Duration::from_secs(10);
    let fetcher = Arc::new(RpopFetcher::new(config, store.clone(), store.clone(), inbound).unwrap());
    (store, account, fetcher)
}

fn source(account: &Account, name: &str, port: u16, tls: RpopTls, leave: bool) -> RpopSource {
    RpopSource {
        account: account.id,
        name: name.into(),
        host: "localhost".into(),
        port,
        tls,
        username: "remote".into(),
        password: "remote-pw".into(),
        folder: "INBOX".into(),
        leave_on_server: leave,
        interval_secs: 1,
        enabled: true,
    }
}

async fn subjects(store: &Store, account: &Account, folder: &str) -> Vec<String> {
    let Some(f) = store.folder_by_name(account.id, folder).await.unwrap() else { return vec![] };
    let mut out = Vec::new();
    for m in store.messages(account.id, f.id).await.unwrap() {
        let text = String::from_utf8_lossy(&store.content(m.blob).await.unwrap()).into_owned();
        let subject = text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_owned();
        assert!(text.starts_with("Received: from localhost"), "trace field first: {text}");
        assert!(text.contains("\r\n.dot line\r\n"), "dot-unstuffed: {text}");
        out.push(subject);
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_from_dovecot_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let Some(remote) = dovecot(dir.path()) else { return };
    let rule = Rule {
        name: "lists".into(),
        header: Some("Subject".into()),
        envelope_from: false,
        recipient: false,
        contains: "newsletter".into(),
        action: RuleAction::File,
        folder: Some("Lists".into()),
        text: None,
    };
    let (store, ann, fetcher) = setup(dir.path(), vec![rule]).await;
    remote.add("1.m1", "one");
    remote.add("2.m2", "two");
    remote.add("3.m3", "weekly newsletter");

    // Leave on server, plain text with STLS.
    let keep = source(&ann, "keep", remote.pop3, RpopTls::Stls, true);
    store.put_rpop_source(keep.clone()).await.unwrap();
    let report = fetcher.fetch(&keep).await.unwrap();
    assert_eq!((report.stored, report.deleted), (3, 0), "{report:?}");
    assert_eq!(subjects(&store, &ann, "INBOX").await, ["one", "two"]);
    assert_eq!(subjects(&store, &ann, "Lists").await, ["weekly newsletter"], "the rules apply to fetched mail");
    // Again: nothing new, nothing twice; then a new message only.
    assert_eq!(fetcher.fetch(&keep).await.unwrap().stored, 0);
    remote.add("4.m4", "four");
    assert_eq!(fetcher.fetch(&keep).await.unwrap().stored, 1);
    assert_eq!(subjects(&store, &ann, "INBOX").await, ["four", "one", "two"]);
    assert_eq!(remote.remaining(), 4);
    store.delete_rpop_source(ann.id, "keep").await.unwrap();

    // Plain text (no TLS at all) into another folder, leaving the mail.
    let plain = RpopSource { folder: "Remote".into(), ..source(&ann, "plain", remote.pop3, RpopTls::None, true) };
    store.put_rpop_source(plain.clone()).await.unwrap();
    assert_eq!(fetcher.fetch(&plain).await.unwrap().stored, 4);
    assert_eq!(subjects(&store, &ann, "Remote").await, ["four", "one", "two"], "the rule still files the newsletter");
    store.delete_rpop_source(ann.id, "plain").await.unwrap();

    // An interrupted fetch left "five" stored and remembered but not
    // deleted remotely (as after a crash between the two): delete mode over
    // implicit TLS deletes it without storing it again, and fetches the rest.
    let sweep = source(&ann, "sweep", remote.pop3s, RpopTls::Implicit, false);
    store.put_rpop_source(RpopSource { leave_on_server: true, ..sweep.clone() }).await.unwrap();
    remote.add("5.m5", "five");
    fetcher.fetch(&RpopSource { leave_on_server: true, ..sweep.clone() }).await.unwrap();
    let before = subjects(&store, &ann, "INBOX").await.len();
    store.put_rpop_source(sweep.clone()).await.unwrap();
    let report = fetcher.fetch(&sweep).await.unwrap();
    assert_eq!((report.stored, report.deleted), (0, 5), "{report:?}");
    assert_eq!(subjects(&store, &ann, "INBOX").await.len(), before, "nothing stored twice");
    assert_eq!(remote.remaining(), 0, "the remote maildrop is emptied");
    // Its UIDLs are forgotten once the server no longer has the messages.
    fetcher.fetch(&sweep).await.unwrap();
    assert!(store.rpop_uidls(ann.id, "sweep").await.unwrap().is_empty());

    // The scheduler: due sources are fetched, the status records it.
    remote.add("6.m6", "six");
    assert_eq!(fetcher.run_once().await, 1);
    let status = store.rpop_status(ann.id, "sweep").await.unwrap();
    assert_eq!((status.fetched, status.failures, status.last_error.as_deref()), (1, 0, None));
    assert_eq!(fetcher.run_once().await, 0, "not due again before its interval");

    // A wrong password and a remote that is down: errors in the status,
    // and the next attempt backs off.
    let bad = RpopSource { password: "wrong".into(), ..source(&ann, "bad", remote.pop3, RpopTls::Stls, true) };
    store.put_rpop_source(bad.clone()).await.unwrap();
    let down = source(&ann, "down", free_port(), RpopTls::None, true);
    store.put_rpop_source(down.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fetcher.run_once().await;
    let bad_status = store.rpop_status(ann.id, "bad").await.unwrap();
    assert!(bad_status.last_error.as_deref().unwrap().contains("PASS refused"), "{bad_status:?}");
    let down_status = store.rpop_status(ann.id, "down").await.unwrap();
    assert_eq!(down_status.failures, 1);
    assert!(down_status.last_error.is_some());
    let mut twice = down_status.clone();
    twice.failures = 3;
    assert_eq!(next_due(&down, &twice) - twice.last_run, 8, "the interval doubles per failure");

    // Not permitted by policy: refused with the reason.
    let mut account = store.account(ann.id).await.unwrap().unwrap();
    account.settings.rpop_permitted = Setting::Explicit(false);
    store.update_account(account).await.unwrap();
    let refused = fetcher.fetch(&sweep).await.unwrap_err();
    assert!(refused.contains("not permitted"), "{refused}");
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
}
