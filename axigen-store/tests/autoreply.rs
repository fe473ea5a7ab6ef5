//! Out-of-office settings and reply records: kept across restarts, one reply
//! per sender and interval, forgotten with new settings and with the
//! account, checked, and an older store upgraded.

mod common;

use axigen_core::autoreply::{AutoReply, AutoReplyStore, OofMessage, OofState};
use axigen_core::directory::DirectoryAdmin;
use common::*;

fn away(text: &str) -> AutoReply {
    AutoReply {
        state: OofState::Scheduled { start: 1_000, end: 2_000 },
        internal: Some(OofMessage { enabled: true, text: text.into(), html: false }),
        external_known: None,
        external_unknown: Some(OofMessage { enabled: true, text: format!("<p>{text}</p>"), html: true }),
    }
}

#[tokio::test]
async fn settings_and_one_reply_per_sender() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        let a = account(&store, "ana@example.com").await.id;
        assert_eq!(store.auto_reply(a).await.unwrap(), None);
        store.set_auto_reply(a, away("back Monday")).await.unwrap();
        assert!(store.claim_reply(a, "Bob@Else.org", 1_100, 3_600).await.unwrap());
        a
    };
    // Durable across a restart, sender compared without case.
    let store = std::sync::Arc::new(open(dir.path()));
    assert_eq!(store.auto_reply(a).await.unwrap(), Some(away("back Monday")));
    assert!(!store.claim_reply(a, "bob@else.org", 1_200, 3_600).await.unwrap());
    assert!(store.claim_reply(a, "carol@else.org", 1_200, 3_600).await.unwrap());
    assert!(store.claim_reply(a, "bob@else.org", 1_100 + 3_600, 3_600).await.unwrap());
    // A clock that went back does not reply again.
    assert!(!store.claim_reply(a, "carol@else.org", 10, 3_600).await.unwrap());

    // New settings answer everyone again.
    store.set_auto_reply(a, away("back Tuesday")).await.unwrap();
    assert!(store.claim_reply(a, "carol@else.org", 1_300, 3_600).await.unwrap());

    // Invalid settings are refused and the old ones kept.
    let mut bad = away("x");
    bad.state = OofState::Scheduled { start: 5, end: 5 };
    assert!(matches!(store.set_auto_reply(a, bad).await, Err(axigen_core::Error::Invalid(_))));
    assert_eq!(store.auto_reply(a).await.unwrap(), Some(away("back Tuesday")));

    // Concurrent claims for one sender: exactly one wins.
    let claims = futures_claims(&store, a).await;
    assert_eq!(claims.iter().filter(|c| **c).count(), 1, "{claims:?}");

    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);

    // Unknown accounts are refused; deleting the account drops its records.
    let ghost = axigen_core::model::AccountId(999);
    assert!(store.set_auto_reply(ghost, away("x")).await.is_err());
    assert!(store.claim_reply(ghost, "bob@else.org", 0, 1).await.is_err());
    store.delete_account(a).await.unwrap();
    assert_eq!(store.auto_reply(a).await.unwrap(), None);
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
}

async fn futures_claims(store: &std::sync::Arc<axigen_store::Store>, a: axigen_core::model::AccountId) -> Vec<bool> {
    let mut handles = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move { store.claim_reply(a, "dave@else.org", 1_500, 3_600).await.unwrap() }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn check_finds_orphans_and_a_format_5_store_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        account(&store, "old@example.com").await.id
    };
    downgrade(dir.path(), 5);
    {
        let store = open(dir.path());
        assert!(store.check(true).unwrap().is_clean());
        store.set_auto_reply(a, away("gone")).await.unwrap();
    }
    assert_eq!(layout(dir.path()).1, axigen_store::FORMAT_VERSION.to_be_bytes());
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        // Damage: a record of an account that does not exist and a broken one.
        let cf = db.cf_handle("autoreply").unwrap();
        db.put_cf(cf, [0, 0, 0, 77, b'S'], br#"{"state":"disabled"}"#).unwrap();
        db.put_cf(cf, [&a.0.to_be_bytes()[..], b"S"].concat(), b"not json").unwrap();
    }
    let store = open(dir.path());
    let report = store.check(false).unwrap();
    let problems: Vec<String> = report.findings.iter().map(|f| format!("{}: {}", f.object, f.problem)).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("account 77") && p.contains("does not exist")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("corrupt out-of-office record")), "{problems:?}");
}
