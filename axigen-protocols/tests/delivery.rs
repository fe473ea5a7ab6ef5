//! Outbound delivery end to end with real peers: dnsmasq serves the MX
//! records, aiosmtpd is the remote host (STARTTLS offered), the queue and
//! the sender's mailbox are a real store. Covers MX order with fallback (the
//! first MX refuses connections), the implicit MX, a null MX, a 5xx refusal
//! and a 4xx deferral retried to success, each with the right report to the
//! sender, the null sender never notified, opportunistic STARTTLS, expiry
//! after the queue lifetime, and exactly one copy per recipient.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axigen_core::directory::DirectoryAdmin;
use axigen_core::mailstore::MailStore;
use axigen_core::model::{Address, Domain, DomainName, NewAccount};
use axigen_core::queue::{OutboundMessage, QueueStore};
use axigen_core::settings::Overrides;
use axigen_protocols::dns::{DnsConfig, MxResolver};
use axigen_protocols::inbound::InboundBackend;
use axigen_protocols::outbound::schedule::RetrySchedule;
use axigen_protocols::outbound::{DeliveryConfig, DeliveryService};
use axigen_protocols::smtp::client::Timeouts;
use axigen_store::{Store, StoreOptions};
use bytes::Bytes;

#[path = "peers/mod.rs"]
mod peers;

use peers::{Peer, free_port};

fn dnsmasq(port: u16) -> Option<Peer> {
    peers::dnsmasq(
        port,
        &[
            // The first MX refuses connections; the second is the peer.
            "--mx-host=remote.test,mx1.remote.test,10",
            "--mx-host=remote.test,mx2.remote.test,20",
            "--host-record=mx1.remote.test,127.0.0.21",
            "--host-record=mx2.remote.test,127.0.0.22",
            // No MX: the domain's own address is the peer.
            "--host-record=plain.test,127.0.0.22",
            "--dns-rr=nullmx.test,15,000000",
            // A domain whose mail must go over verified TLS (the peer's
            // certificate is self-signed: it never does).
            "--mx-host=strict.test,mx2.remote.test,10",
            // Only a host that refuses connections.
            "--mx-host=down.test,mx.down.test,10",
            "--host-record=mx.down.test,127.0.0.21",
        ],
    )
}

fn smtp_peer(port: u16, out: &Path, cert: &Path, key: &Path) -> Option<Peer> {
    peers::smtp_host("127.0.0.22", port, out, cert, key)
}

/// Copies the peer received: (recipient, JSON meta, message).
fn received(out: &Path) -> Vec<(String, serde_json::Value, String)> {
    let mut all: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let text = std::fs::read_to_string(e.path()).unwrap();
            let (meta, message) = text.split_once('\n').unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let rcpt = name.rsplit_once('.').unwrap().0.to_owned();
            (rcpt, serde_json::from_str(meta).unwrap(), message.to_owned())
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The subjects and texts of the reports in the sender's INBOX.
async fn reports(store: &Store, account: axigen_core::model::AccountId) -> Vec<String> {
    let inbox = store.folder_by_name(account, "INBOX").await.unwrap().unwrap();
    let mut out = Vec::new();
    for m in store.messages(account, inbox.id).await.unwrap() {
        out.push(String::from_utf8_lossy(&store.content(m.blob).await.unwrap()).into_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_mail_reaches_the_mx_with_retries_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (dns_port, smtp_port) = (free_port(), free_port());
    let Some(_dns) = dnsmasq(dns_port) else { return };
    let (cert, key, _) =
        axigen_protocols::tls::ensure_dev_certificate(dir.path(), &["mx2.remote.test".into()]).unwrap();
    let out = dir.path().join("received");
    std::fs::create_dir(&out).unwrap();
    let Some(_peer) = smtp_peer(smtp_port, &out, &cert, &key) else { return };

    let store = Arc::new(Store::open(dir.path().join("store"), StoreOptions::default()).unwrap());
    store
        .put_domain(Domain {
            name: DomainName::new("example.com").unwrap(),
            settings: Overrides::default(),
            postmaster: None,
        })
        .await
        .unwrap();
    let ann = store
        .create_account(NewAccount {
            address: Address::parse("ann@example.com").unwrap(),
            class: None,
            display_name: String::new(),
            password: "pw".into(),
            settings: Overrides::default(),
        })
        .await
        .unwrap();
    let inbound =
        Arc::new(InboundBackend::new(store.clone(), store.clone(), store.clone(), vec![], "mx.example.com", 1 << 20));
    let resolver = MxResolver::new(&DnsConfig {
        nameservers: vec![format!("127.0.0.1:{dns_port}")],
        timeout_seconds: 2,
        attempts: 1,
        ..DnsConfig::default()
    })
    .unwrap();
    let mut config = DeliveryConfig::new("mx.example.com");
    config.port = smtp_port;
    config.ca_file = None;
    config.timeouts = Timeouts::all(Duration::from_secs(10));
    config.require_tls = vec!["strict.test".into()];
    config.schedule = RetrySchedule {
        intervals: vec![Duration::from_secs(1)],
        max_lifetime: Duration::from_secs(6),
        delay_warning_after: Duration::from_secs(1),
    };
    let service = Arc::new(DeliveryService::new(config, store.clone(), resolver, inbound).unwrap());

    let message = |from: &str, to: &[&str], subject: &str| OutboundMessage {
        message_id: String::new(),
        from: from.into(),
        recipients: to.iter().map(|s| s.to_string()).collect(),
        content: Bytes::from(format!("From: <{from}>\r\nSubject: {subject}\r\n\r\n.dot-stuffed line\r\nbody\r\n")),
    };
    store
        .enqueue(message("ann@example.com", &["ok1@remote.test", "reject1@remote.test", "flaky1@remote.test"], "mixed"))
        .await
        .unwrap();
    store.enqueue(message("ann@example.com", &["x@nullmx.test"], "to a null MX")).await.unwrap();
    store.enqueue(message("", &["ok2@plain.test", "reject2@plain.test"], "a bounce")).await.unwrap();
    store.enqueue(message("ann@example.com", &["never@down.test"], "unreachable")).await.unwrap();
    let strict = store.enqueue(message("", &["secret@strict.test"], "verified TLS only")).await.unwrap();

    // First pass: every message tried.
    assert_eq!(service.run_once().await, 5);
    // Required TLS with a certificate that does not verify: it waits.
    let waiting = store.queued_entry(strict).await.unwrap().unwrap();
    match &waiting.recipients[0].state {
        axigen_core::queue::RecipientState::Deferred { last_error } => {
            assert!(last_error.contains("TLS") || last_error.contains("certificate"), "{last_error}")
        }
        other => panic!("{other:?}"),
    }
    store.delete_queued(strict).await.unwrap();
    let got = received(&out);
    let rcpts: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(rcpts, ["ok1@remote.test", "ok2@plain.test"], "{got:?}");
    assert_eq!(got[0].1["tls"], true, "opportunistic STARTTLS: {got:?}");
    assert_eq!(got[0].1["from"], "ann@example.com");
    assert_eq!(got[1].1["from"], "<>", "the null sender stays null: {got:?}");
    assert!(got[0].2.contains("\r\n.dot-stuffed line\r\n"), "{:?}", got[0].2);

    let texts = reports(&store, ann.id).await;
    assert_eq!(texts.len(), 2, "a failure report each for reject1 and the null MX: {texts:#?}");
    let rejected = texts.iter().find(|t| t.contains("reject1@remote.test")).expect("reject1 reported");
    assert!(rejected.contains("Action: failed") && rejected.contains("Status: 5.1.1"), "{rejected}");
    assert!(rejected.contains("Remote-MTA: dns; mx2.remote.test"), "{rejected}");
    assert!(!rejected.contains("flaky1@remote.test"), "the deferred one is not reported yet: {rejected}");
    let null_mx = texts.iter().find(|t| t.contains("x@nullmx.test")).expect("null MX reported");
    assert!(null_mx.contains("Status: 5.1.10"), "{null_mx}");

    let stats = store.queue_stats().await.unwrap();
    assert_eq!((stats.queued, stats.deferred, stats.delivered, stats.failed), (2, 2, 2, 3), "{stats:?}");

    // Not due yet: nothing is tried.
    assert_eq!(service.run_once().await, 0);
    // After the interval: flaky1 gets through; down.test is still deferred
    // and its sender hears of the delay once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(service.run_once().await, 2);
    let rcpts: Vec<String> = received(&out).into_iter().map(|g| g.0).collect();
    assert_eq!(rcpts, ["flaky1@remote.test", "ok1@remote.test", "ok2@plain.test"], "one copy each");
    let texts = reports(&store, ann.id).await;
    let delayed: Vec<&String> = texts.iter().filter(|t| t.contains("Action: delayed")).collect();
    assert_eq!(delayed.len(), 1, "{texts:#?}");
    assert!(delayed[0].contains("never@down.test") && delayed[0].contains("Will-Retry-Until"), "{}", delayed[0]);

    // Past the lifetime: down.test fails with 4.4.7 and is reported.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !store.queued().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "still queued: {:?}", store.queued().await.unwrap());
        tokio::time::sleep(Duration::from_millis(500)).await;
        service.run_once().await;
    }
    let texts = reports(&store, ann.id).await;
    let expired = texts.iter().find(|t| t.contains("never@down.test") && t.contains("Action: failed")).expect("expiry");
    assert!(expired.contains("Status: 4.4.7") && expired.contains("gave up after"), "{expired}");
    assert_eq!(texts.iter().filter(|t| t.contains("Action: delayed")).count(), 1, "told of the delay once");

    let stats = store.queue_stats().await.unwrap();
    assert_eq!((stats.queued, stats.delivered, stats.failed), (0, 3, 4), "{stats:?}");
    assert_eq!(received(&out).len(), 3, "exactly one copy per accepted recipient");
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    let _ = std::io::stdout().flush();
}

#[tokio::test]
async fn a_smart_host_takes_all_mail() {
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = free_port();
    let (cert, key, _) = axigen_protocols::tls::ensure_dev_certificate(dir.path(), &[]).unwrap();
    let out = dir.path().join("received");
    std::fs::create_dir(&out).unwrap();
    let Some(_peer) = smtp_peer(smtp_port, &out, &cert, &key) else { return };
    let store = Arc::new(Store::open(dir.path().join("store"), StoreOptions::default()).unwrap());
    let inbound =
        Arc::new(InboundBackend::new(store.clone(), store.clone(), store.clone(), vec![], "mx.example.com", 1 << 20));
    // No name server at all: a relay given by address needs none.
    let resolver = MxResolver::new(&DnsConfig {
        nameservers: vec!["127.0.0.1:9".into()],
        timeout_seconds: 1,
        attempts: 1,
        ..DnsConfig::default()
    })
    .unwrap();
    let mut config = DeliveryConfig::new("mx.example.com");
    config.ca_file = None;
    config.timeouts = Timeouts::all(Duration::from_secs(10));
    config.smart_host = Some(axigen_protocols::outbound::SmartHost {
        host: "127.0.0.22".into(),
        port: smtp_port,
        credentials: None,
        require_tls: false,
    });
    let service = Arc::new(DeliveryService::new(config, store.clone(), resolver, inbound).unwrap());
    let two = OutboundMessage {
        message_id: String::new(),
        from: "ann@example.com".into(),
        recipients: vec!["a@one.invalid".into(), "b@two.invalid".into()],
        content: Bytes::from_static(b"Subject: relayed\r\n\r\nbody\r\n"),
    };
    store.enqueue(two.clone()).await.unwrap();
    assert_eq!(service.run_once().await, 1);
    let rcpts: Vec<String> = received(&out).into_iter().map(|g| g.0).collect();
    assert_eq!(rcpts, ["a@one.invalid", "b@two.invalid"]);
    assert!(store.queued().await.unwrap().is_empty());
    // The next message reuses the connection kept from the first.
    store.enqueue(two).await.unwrap();
    assert_eq!(service.run_once().await, 1);
    assert_eq!(received(&out).len(), 4);
    let sessions = std::fs::read_to_string(dir.path().join("received.sessions")).unwrap();
    let connections: std::collections::BTreeSet<&str> = sessions.lines().collect();
    assert_eq!(connections.len(), 1, "one connection for both messages: {sessions}");
}
