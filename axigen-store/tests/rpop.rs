//! RPOP sources (format 8): a fetched message and its UIDL in one write
//! (a second delivery of the same UIDL stores nothing), UIDLs pruned to
//! what the server still has, statuses, removal with the source and with
//! the account, the check, and the upgrade from format 7.

mod common;

use axigen_core::directory::DirectoryAdmin;
use axigen_core::mailstore::{MailStore, QuotaLimit};
use axigen_core::rpop::{RpopSource, RpopStatus, RpopStore, RpopTls};
use bytes::Bytes;
use common::*;

fn source(account: axigen_core::model::AccountId, name: &str) -> RpopSource {
    RpopSource {
        account,
        name: name.into(),
        host: "pop.remote.test".into(),
        port: 995,
        tls: RpopTls::Implicit,
        username: "ann".into(),
        password: "remote-secret".into(),
        folder: "INBOX".into(),
        leave_on_server: false,
        interval_secs: 300,
        enabled: true,
    }
}

#[tokio::test]
async fn fetched_messages_are_stored_once_with_their_uidl() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "ann@example.com").await.id;
    let inbox = store.folder_by_name(a, "INBOX").await.unwrap().unwrap().id;

    // Validation, and the password never in Debug output.
    let mut bad = source(a, "bad name");
    assert!(store.put_rpop_source(bad.clone()).await.is_err());
    bad.name = "ok".into();
    bad.port = 0;
    assert!(store.put_rpop_source(bad).await.is_err());
    assert!(!format!("{:?}", source(a, "x")).contains("remote-secret"));
    let ghost = axigen_core::model::AccountId(99);
    assert!(store.put_rpop_source(source(ghost, "x")).await.is_err());

    store.put_rpop_source(source(a, "work")).await.unwrap();
    store.put_rpop_source(source(a, "home")).await.unwrap();
    assert_eq!(store.account_rpop_sources(a).await.unwrap().len(), 2);
    assert_eq!(store.rpop_sources().await.unwrap().len(), 2);

    let msg = Bytes::from_static(b"Subject: remote\r\n\r\nhello\r\n");
    let q = QuotaLimit::default();
    let first = store.deliver_fetched(a, "work", "UID-1", inbox, q, msg.clone(), 1).await.unwrap();
    assert!(first.is_some());
    // The same UIDL again (a crash before the remote DELE): nothing stored.
    assert!(store.deliver_fetched(a, "work", "UID-1", inbox, q, msg.clone(), 1).await.unwrap().is_none());
    // The same UIDL from another source is another message.
    assert!(store.deliver_fetched(a, "home", "UID-1", inbox, q, msg.clone(), 1).await.unwrap().is_some());
    store.deliver_fetched(a, "work", "UID-2", inbox, q, msg.clone(), 1).await.unwrap();
    assert_eq!(store.messages(a, inbox).await.unwrap().len(), 3);
    assert!(store.deliver_fetched(a, "work", "bad uidl", inbox, q, msg.clone(), 1).await.is_err());
    assert!(store.deliver_fetched(a, "nosuch", "UID-9", inbox, q, msg.clone(), 1).await.is_err());
    // Over quota: refused, and the UIDL is not remembered either.
    let tight = QuotaLimit { max_bytes: 0, max_messages: 3 };
    assert!(store.deliver_fetched(a, "work", "UID-3", inbox, tight, msg.clone(), 1).await.is_err());
    let mut uidls = store.rpop_uidls(a, "work").await.unwrap();
    uidls.sort();
    assert_eq!(uidls, ["UID-1", "UID-2"]);

    // The server no longer has UID-1: forgotten.
    assert_eq!(store.prune_rpop_uidls(a, "work", vec!["UID-2".into(), "UID-5".into()]).await.unwrap(), 1);
    assert_eq!(store.rpop_uidls(a, "work").await.unwrap(), ["UID-2"]);

    let status = RpopStatus { last_run: 10, last_error: Some("connection refused".into()), failures: 2, fetched: 3 };
    store.set_rpop_status(a, "work", status.clone()).await.unwrap();
    assert_eq!(store.rpop_status(a, "work").await.unwrap(), status);
    assert!(store.set_rpop_status(a, "nosuch", status).await.is_err());
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);

    // Removing a source takes its UIDLs and status; removing the account
    // takes the rest.
    assert!(store.delete_rpop_source(a, "work").await.unwrap());
    assert!(!store.delete_rpop_source(a, "work").await.unwrap());
    assert!(store.rpop_uidls(a, "work").await.unwrap().is_empty());
    assert_eq!(store.rpop_status(a, "work").await.unwrap(), RpopStatus::default());
    store.delete_account(a).await.unwrap();
    assert!(store.rpop_sources().await.unwrap().is_empty());
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
}

#[tokio::test]
async fn a_format_7_store_is_upgraded_and_orphans_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        account(&store, "old@example.com").await.id
    };
    downgrade(dir.path(), 7);
    assert!(!layout(dir.path()).0.iter().any(|c| c == "rpop"));
    {
        let store = open(dir.path());
        assert!(store.check(true).unwrap().is_clean());
        store.put_rpop_source(source(a, "work")).await.unwrap();
    }
    assert_eq!(layout(dir.path()).1, axigen_store::FORMAT_VERSION.to_be_bytes());
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        let cf = db.cf_handle("rpop").unwrap();
        // A UIDL of a source that does not exist.
        db.put_cf(cf, [&a.0.to_be_bytes()[..], b"U", &[4], b"gone", b"UID-1"].concat(), 0u64.to_be_bytes()).unwrap();
    }
    let store = open(dir.path());
    let report = store.check(false).unwrap();
    let problems: Vec<String> = report.findings.iter().map(|f| format!("{}: {}", f.object, f.problem)).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("\"gone\", which does not exist"), "{problems:?}");
}
