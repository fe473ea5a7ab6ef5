//! MailStore, Directory and SeatStore behaviour against the real RocksDB.

mod common;

use std::sync::Arc;

use axigen_core::Error;
use axigen_core::directory::{Directory, DirectoryAdmin};
use axigen_core::license::{Feature, SeatAcquire, SeatStore};
use axigen_core::mailstore::*;
use axigen_core::model::{AccountClass, Address, Alias, DomainName};
use axigen_core::settings::{Overrides, Provenance, Setting};
use common::*;

fn msg(n: usize, flags: Flags) -> NewMessage {
    NewMessage { flags, keywords: vec![], internal_date: 1_700_000_000, content: message(n) }
}

#[tokio::test]
async fn new_account_has_default_folders_and_appends_get_increasing_uids() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "john@example.com").await;
    let folders = store.folders(a.id).await.unwrap();
    let names: Vec<_> = folders.iter().map(|f| f.name.as_str()).collect();
    for expected in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Calendar", "Contacts", "Tasks", "Notes"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let sent = folders.iter().find(|f| f.name == "Sent").unwrap();
    assert_eq!(sent.special_use, Some(SpecialUse::Sent));

    let inbox = store.folder_by_name(a.id, "inbox").await.unwrap().unwrap();
    let mut last = ModSeq(0);
    for n in 1..=5u32 {
        let r = store.append(a.id, inbox.id, msg(n as usize, Flags::empty()), QuotaLimit::default()).await.unwrap();
        assert_eq!(r.uid, Uid(n));
        assert!(r.modseq > last);
        last = r.modseq;
    }
    let info = store.folder(a.id, inbox.id).await.unwrap().unwrap();
    assert_eq!((info.messages, info.unseen, info.uid_next), (5, 5, Uid(6)));
    assert_eq!(info.highest_modseq, last);
    let m = store.message(a.id, inbox.id, Uid(3)).await.unwrap().unwrap();
    assert_eq!(store.content(m.blob).await.unwrap(), message(3));

    // Expunged UIDs are never reused.
    store.expunge(a.id, inbox.id, &[Uid(5)]).await.unwrap();
    let r = store.append(a.id, inbox.id, msg(9, Flags::SEEN), QuotaLimit::default()).await.unwrap();
    assert_eq!(r.uid, Uid(6));
    assert!(store.check(true).unwrap().is_clean());
}

#[tokio::test]
async fn delivery_to_fifty_recipients_stores_the_content_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let mut targets = Vec::new();
    for i in 0..50 {
        let a = account(&store, &format!("user{i}@example.com")).await;
        let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
        targets.push(DeliveryTarget {
            account: a.id,
            folder: inbox.id,
            flags: Flags::empty(),
            quota: QuotaLimit::default(),
        });
    }
    let content = message(42);
    let out = store.deliver(content.clone(), 1_700_000_000, &targets).await.unwrap();
    assert_eq!(out.len(), 50);
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.blobs, 1, "one blob for fifty recipients");
    assert_eq!(report.messages, 50);

    // Deleting 49 of the copies keeps the blob; deleting the last removes it.
    for t in &targets[1..] {
        store.expunge(t.account, t.folder, &[Uid(1)]).await.unwrap();
    }
    assert_eq!(store.check(true).unwrap().blobs, 1);
    store.expunge(targets[0].account, targets[0].folder, &[Uid(1)]).await.unwrap();
    let report = store.check(true).unwrap();
    assert_eq!(report.blobs, 0);
    assert!(report.is_clean(), "{:?}", report.findings);
}

#[tokio::test]
async fn quota_is_enforced_atomically_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "q@example.com").await;
    let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
    let quota = QuotaLimit { max_bytes: 0, max_messages: 2 };
    store.append(a.id, inbox.id, msg(1, Flags::empty()), quota).await.unwrap();
    store.append(a.id, inbox.id, msg(2, Flags::empty()), quota).await.unwrap();
    let err = store.append(a.id, inbox.id, msg(3, Flags::empty()), quota).await.unwrap_err();
    assert!(matches!(err, Error::OverQuota(_)), "{err}");
    let usage = store.quota_usage(a.id).await.unwrap();
    assert_eq!(usage.messages, 2);
    assert_eq!(usage.bytes, (message(1).len() + message(2).len()) as u64);
    // The failed append left nothing behind.
    assert_eq!(store.folder(a.id, inbox.id).await.unwrap().unwrap().uid_next, Uid(3));
    assert!(store.check(true).unwrap().is_clean());

    let byte_quota = QuotaLimit { max_bytes: usage.bytes + 10, max_messages: 0 };
    assert!(matches!(store.copy(a.id, inbox.id, &[Uid(1)], inbox.id, byte_quota).await, Err(Error::OverQuota(_))));
}

#[tokio::test]
async fn flags_copy_move_and_changes_since() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "f@example.com").await;
    let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
    let archive = store.create_folder(a.id, "Archive/2026", FolderKind::Mail, Some(SpecialUse::Archive)).await.unwrap();
    for n in 0..3 {
        store.append(a.id, inbox.id, msg(n, Flags::empty()), QuotaLimit::default()).await.unwrap();
    }
    let mark = store.highest_modseq(a.id).await.unwrap();

    let change =
        FlagChange { op: FlagOp::Add, flags: Flags::SEEN, keywords: vec!["$Work".into()], unchanged_since: None };
    let r = store.change_flags(a.id, inbox.id, &[Uid(1), Uid(2), Uid(99)], &change).await.unwrap();
    assert_eq!(r.changed.len(), 2);
    assert_eq!(store.folder(a.id, inbox.id).await.unwrap().unwrap().unseen, 1);
    // UNCHANGEDSINCE older than the message's MODSEQ: refused per message.
    let cond = FlagChange { op: FlagOp::Remove, flags: Flags::SEEN, keywords: vec![], unchanged_since: Some(mark) };
    let r = store.change_flags(a.id, inbox.id, &[Uid(1), Uid(3)], &cond).await.unwrap();
    assert_eq!(r.modified, vec![Uid(1)]);
    assert!(r.changed.is_empty(), "uid 3 had no \\Seen to remove");

    let copied = store.copy(a.id, inbox.id, &[Uid(2), Uid(1)], archive.id, QuotaLimit::default()).await.unwrap();
    assert_eq!(copied.uids, vec![(Uid(1), Uid(1)), (Uid(2), Uid(2))]);
    assert_eq!(copied.uid_validity, archive.uid_validity);
    let moved = store.move_messages(a.id, inbox.id, &[Uid(3)], archive.id).await.unwrap();
    assert_eq!(moved.uids, vec![(Uid(3), Uid(3))]);
    let copy_meta = store.message(a.id, archive.id, Uid(1)).await.unwrap().unwrap();
    assert!(copy_meta.flags.contains(Flags::SEEN));
    assert_eq!(copy_meta.keywords, vec!["$Work".to_string()]);

    let changes = store.changes_since(a.id, mark).await.unwrap();
    let kinds: Vec<_> = changes.iter().map(|c| (c.folder, c.kind.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            (inbox.id, ChangeKind::Flags { uid: Uid(1) }),
            (inbox.id, ChangeKind::Flags { uid: Uid(2) }),
            (archive.id, ChangeKind::Added { uid: Uid(1) }),
            (archive.id, ChangeKind::Added { uid: Uid(2) }),
            (archive.id, ChangeKind::Added { uid: Uid(3) }),
            (inbox.id, ChangeKind::Expunged { uid: Uid(3) }),
        ]
    );
    assert!(changes.windows(2).all(|w| w[0].modseq < w[1].modseq));
    assert_eq!(changes.last().unwrap().modseq, store.highest_modseq(a.id).await.unwrap());

    // Renaming a parent renames its children.
    let parent = store.folder_by_name(a.id, "Archive").await.unwrap();
    assert!(parent.is_none(), "intermediate levels are created by the protocol layer, not the store");
    store.rename_folder(a.id, archive.id, "Old/2026").await.unwrap();
    assert_eq!(store.folder_by_name(a.id, "Old/2026").await.unwrap().unwrap().id, archive.id);
    assert!(matches!(store.rename_folder(a.id, inbox.id, "X").await, Err(Error::Invalid(_))));
    assert!(matches!(
        store.create_folder(a.id, "Old/2026", FolderKind::Mail, None).await,
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(store.create_folder(a.id, "bad//name", FolderKind::Mail, None).await, Err(Error::Invalid(_))));
    store.delete_folder(a.id, archive.id).await.unwrap();
    assert!(store.check(true).unwrap().is_clean());
}

#[tokio::test]
async fn waiters_are_woken_after_durable_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    domain(&store, "example.com").await;
    let a = account(&store, "w@example.com").await;
    let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
    let mut rx = store.notifier().subscribe(a.id);
    let s2 = store.clone();
    let t =
        tokio::spawn(
            async move { s2.append(a.id, inbox.id, msg(1, Flags::empty()), QuotaLimit::default()).await.unwrap() },
        );
    tokio::time::timeout(std::time::Duration::from_secs(5), rx.changed()).await.unwrap().unwrap();
    let appended = t.await.unwrap();
    assert_eq!(*rx.borrow(), appended.modseq);
}

#[tokio::test]
async fn directory_inheritance_follows_class_and_domain_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let d = DomainName::new("example.com").unwrap();
    domain(&store, "example.com").await;
    store
        .put_class(AccountClass { domain: d.clone(), name: "mobile".into(), settings: Overrides::default() })
        .await
        .unwrap();
    let mut a = account(&store, "m@example.com").await;
    a.class = Some("mobile".into());
    store.update_account(a.clone()).await.unwrap();

    let e = store.effective_settings(a.id).await.unwrap();
    assert_eq!(e.activesync_enabled.source, Provenance::Default);

    let mut class = store.class(&d, "mobile").await.unwrap().unwrap();
    class.settings.activesync_enabled = Setting::Explicit(true);
    store.put_class(class).await.unwrap();
    let e = store.effective_settings(a.id).await.unwrap();
    assert!(e.activesync_enabled.value);
    assert_eq!(e.activesync_enabled.source, Provenance::Class("mobile".into()));

    let mut dom = store.domain(&d).await.unwrap().unwrap();
    dom.settings.quota_messages = Setting::Explicit(1000);
    store.put_domain(dom).await.unwrap();
    let e = store.effective_settings(a.id).await.unwrap();
    assert_eq!(e.quota_messages.value, 1000);
    assert_eq!(e.quota_messages.source, Provenance::Domain("example.com".into()));

    // Referential checks.
    assert!(matches!(store.delete_class(&d, "mobile").await, Err(Error::Conflict(_))));
    assert!(matches!(store.delete_domain(&d).await, Err(Error::Conflict(_))));
    a.class = Some("nope".into());
    assert!(matches!(store.update_account(a.clone()).await, Err(Error::NotFound(_))));

    // Authentication and aliases.
    assert!(store.authenticate("M@Example.com", "secret").await.is_ok());
    assert!(store.authenticate("m@example.com", "wrong").await.is_err());
    assert!(store.authenticate("ghost@example.com", "secret").await.is_err());
    let alias = Address::parse("sales@example.com").unwrap();
    store.put_alias(Alias { address: alias.clone(), account: a.id }).await.unwrap();
    assert_eq!(store.resolve_recipient(&alias).await.unwrap(), Some(a.id));
    assert_eq!(store.resolve_recipient(&Address::parse("none@example.com").unwrap()).await.unwrap(), None);
    assert!(matches!(
        store.put_alias(Alias { address: a.address.clone(), account: a.id }).await,
        Err(Error::AlreadyExists(_))
    ));

    store.delete_account(a.id).await.unwrap();
    assert_eq!(store.resolve_recipient(&alias).await.unwrap(), None);
    assert!(store.check(true).unwrap().is_clean());
}

#[tokio::test]
async fn seats_are_first_come_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    domain(&store, "example.com").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(account(&store, &format!("s{i}@example.com")).await.id);
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|&id| {
            let s = store.clone();
            tokio::spawn(async move { s.acquire_seat(Feature::ActiveSync, id, 2).await.unwrap() })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap() == SeatAcquire::Granted {
            granted += 1;
        }
    }
    assert_eq!(granted, 2);
    let holders = store.seat_holders(Feature::ActiveSync).await.unwrap();
    assert_eq!(holders.len(), 2);
    assert_eq!(store.acquire_seat(Feature::ActiveSync, holders[0], 2).await.unwrap(), SeatAcquire::AlreadyHeld);
    assert!(store.release_seat(Feature::ActiveSync, holders[0]).await.unwrap());
    assert!(!store.release_seat(Feature::ActiveSync, holders[0]).await.unwrap());
}

#[test]
fn format_version_is_recorded_and_newer_formats_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    // Reopening the current format works.
    drop(open(dir.path()));
    // A store from the future is refused with a clear message.
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        let meta = db.cf_handle("meta").unwrap();
        db.put_cf(meta, b"format", 99u32.to_be_bytes()).unwrap();
    }
    let err = axigen_store::Store::open(dir.path(), Default::default()).err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("format 99") && text.contains("newer"), "{text}");
}

#[test]
fn a_directory_with_foreign_data_and_no_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = rocksdb::Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        let db = rocksdb::DB::open_cf(&o, dir.path(), ["meta", "message"]).unwrap();
        db.put_cf(db.cf_handle("message").unwrap(), b"k", b"v").unwrap();
    }
    let err = axigen_store::Store::open(dir.path(), Default::default()).err().expect("refused");
    assert!(err.to_string().contains("no format version"), "{err}");
}

#[tokio::test]
async fn server_level_settings_are_stored_and_inherited() {
    use axigen_core::settings::SettingValue;
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        let a = account(&store, "d@example.com").await;
        assert_eq!(store.effective_settings(a.id).await.unwrap().quota_messages.value, 0);
        store.set_server_default("quota.messages", Some(SettingValue::U64(77))).await.unwrap();
        let e = store.effective_settings(a.id).await.unwrap();
        assert_eq!((e.quota_messages.value, e.quota_messages.source), (77, Provenance::Default));
        assert!(matches!(
            store.set_server_default("quota.messages", Some(SettingValue::Bool(true))).await,
            Err(Error::Invalid(_))
        ));
        assert!(matches!(store.set_server_default("no.such", None).await, Err(Error::Invalid(_))));
        a
    };
    // Durable across a reopen; clearing goes back to the built-in default.
    let store = open(dir.path());
    assert_eq!(store.effective_settings(a.id).await.unwrap().quota_messages.value, 77);
    store.set_server_default("quota.messages", None).await.unwrap();
    assert_eq!(store.effective_settings(a.id).await.unwrap().quota_messages.value, 0);
    assert!(store.server_level_settings().unwrap().is_empty());
}

#[tokio::test]
async fn the_outbound_queue_is_durable_and_shares_blobs() {
    use axigen_core::queue::{Attempt, OutboundMessage, QueueStore, RecipientState};
    let dir = tempfile::tempdir().unwrap();
    let content = message(7);
    let id = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        let a = account(&store, "sender@example.com").await;
        let sent = store.folder_by_name(a.id, "Sent").await.unwrap().unwrap();
        store
            .append(
                a.id,
                sent.id,
                NewMessage { flags: Flags::SEEN, keywords: vec![], internal_date: 0, content: content.clone() },
                QuotaLimit::default(),
            )
            .await
            .unwrap();
        let id = store
            .enqueue(OutboundMessage {
                message_id: String::new(),
                from: "sender@example.com".into(),
                recipients: vec!["a@remote.example".into(), "b@remote.example".into()],
                content: content.clone(),
            })
            .await
            .unwrap();
        let report = store.check(true).unwrap();
        assert!(report.is_clean(), "{:?}", report.findings);
        assert_eq!((report.blobs, report.queued), (1, 1), "the Sent copy and the queued message share one blob");
        id
    };
    let store = open(dir.path());
    let queued = store.queued().await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipients.len(), 2);
    assert_eq!(store.queued_content(id).await.unwrap(), content);
    let delivered = RecipientState::Delivered { at: 1, reply: "250 ok".into() };
    let attempt = |outcomes: Vec<(String, RecipientState)>| Attempt {
        outcomes,
        next_attempt: 123,
        counts: true,
        delay_notified: false,
    };
    let q = store.record_attempt(id, attempt(vec![("a@remote.example".into(), delivered)])).await.unwrap().unwrap();
    assert_eq!((q.attempts, q.next_attempt, q.open_recipients().count()), (1, 123, 1));
    let failed = RecipientState::Failed { at: 2, reply: "550 no".into() };
    assert!(store.record_attempt(id, attempt(vec![("b@remote.example".into(), failed)])).await.unwrap().is_none());
    assert!(store.queued().await.unwrap().is_empty());
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.blobs, 1, "the Sent copy keeps the blob");
    assert!(matches!(
        store
            .enqueue(OutboundMessage { message_id: String::new(), from: String::new(), recipients: vec![], content })
            .await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn a_format_1_store_is_upgraded_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    // Write a store, then turn it into exactly what format 1 looked like:
    // no `queue` or `structure` column family, format record 1.
    let account_id = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        let a = account(&store, "old@example.com").await;
        let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
        store
            .append(
                a.id,
                inbox.id,
                NewMessage { flags: Flags::empty(), keywords: vec![], internal_date: 0, content: message(1) },
                QuotaLimit::default(),
            )
            .await
            .unwrap();
        a.id
    };
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        db.drop_cf("queue").unwrap();
        db.drop_cf("structure").unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"format", 1u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path());
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.messages, 1);
    let inbox = store.folder_by_name(account_id, "INBOX").await.unwrap().unwrap();
    assert_eq!(inbox.messages, 1);
    use axigen_core::queue::{OutboundMessage, QueueStore};
    store
        .enqueue(OutboundMessage {
            message_id: String::new(),
            from: String::new(),
            recipients: vec!["x@remote.example".into()],
            content: message(2),
        })
        .await
        .unwrap();
    drop(store);
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
    assert!(cfs.iter().any(|c| c == "queue"));
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
    let format = db.get_cf(db.cf_handle("meta").unwrap(), b"format").unwrap().unwrap();
    assert_eq!(format, axigen_store::FORMAT_VERSION.to_be_bytes());
}

#[tokio::test]
async fn folder_access_lists_are_kept_on_both_sides_and_go_with_folders_and_accounts() {
    use axigen_core::acl::{Grantee, Rights};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let owner = account(&store, "owner@example.com").await.id;
    let reader = account(&store, "reader@example.com").await.id;
    let other = account(&store, "other@example.com").await.id;
    let team = store.create_folder(owner, "Team", FolderKind::Mail, None).await.unwrap();
    let news = store.create_folder(owner, "News", FolderKind::Mail, None).await.unwrap();
    let lr = Rights::parse("lr").unwrap();
    let lrsi = Rights::parse("lrsi").unwrap();

    // Nothing is shared yet: only the owner has rights.
    assert_eq!(store.rights(owner, owner, team.id).await.unwrap(), Rights::ALL);
    assert_eq!(store.rights(reader, owner, team.id).await.unwrap(), Rights::NONE);
    assert!(store.shared_with(reader).await.unwrap().is_empty());

    store.set_rights(owner, team.id, Grantee::Account(reader), lrsi).await.unwrap();
    store.set_rights(owner, news.id, Grantee::Anyone, lr).await.unwrap();
    assert_eq!(store.acl(owner, team.id).await.unwrap(), vec![(Grantee::Account(reader), lrsi)]);
    assert_eq!(store.rights(reader, owner, team.id).await.unwrap(), lrsi);
    assert_eq!(store.rights(other, owner, team.id).await.unwrap(), Rights::NONE);
    assert_eq!(store.rights(other, owner, news.id).await.unwrap(), lr);
    // The owner cannot be a grantee of its own folder.
    assert!(matches!(store.set_rights(owner, team.id, Grantee::Account(owner), lr).await, Err(Error::Invalid(_))));
    // Rights on a folder that does not exist are refused.
    assert!(matches!(store.set_rights(owner, FolderId(999), Grantee::Anyone, lr).await, Err(Error::NotFound(_))));

    let shared = store.shared_with(reader).await.unwrap();
    let found: Vec<_> = shared.iter().map(|s| (s.owner, s.folder, s.rights, s.subscribed)).collect();
    let mut expected = vec![(owner, team.id, lrsi, false), (owner, news.id, lr, false)];
    expected.sort_by_key(|e| e.1);
    assert_eq!(found, expected);
    // `anyone` entries do not make an owner's folders "shared with" itself.
    assert!(store.shared_with(owner).await.unwrap().is_empty());

    store.set_shared_subscription(reader, owner, team.id, true).await.unwrap();
    assert!(store.shared_with(reader).await.unwrap().iter().any(|s| s.folder == team.id && s.subscribed));
    assert!(store.check(false).unwrap().is_clean());
    assert_eq!(store.check(false).unwrap().acl_entries, 2);

    // Removing the rights removes the entry, both copies, and the subscription.
    store.set_rights(owner, team.id, Grantee::Account(reader), Rights::NONE).await.unwrap();
    assert!(store.acl(owner, team.id).await.unwrap().is_empty());
    assert_eq!(store.shared_with(reader).await.unwrap().len(), 1);

    // Deleting a folder deletes its entries; deleting an account deletes
    // its entries as a grantee.
    store.set_rights(owner, team.id, Grantee::Account(reader), lrsi).await.unwrap();
    store.set_rights(owner, team.id, Grantee::Account(other), lr).await.unwrap();
    store.set_shared_subscription(other, owner, team.id, true).await.unwrap();
    store.delete_folder(owner, news.id).await.unwrap();
    assert_eq!(store.shared_with(reader).await.unwrap().len(), 1);
    store.delete_account(other).await.unwrap();
    assert_eq!(store.acl(owner, team.id).await.unwrap(), vec![(Grantee::Account(reader), lrsi)]);
    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    // Deleting the owner deletes everything it shared.
    store.delete_account(owner).await.unwrap();
    assert!(store.shared_with(reader).await.unwrap().is_empty());
    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.acl_entries, 0);
}

#[tokio::test]
async fn a_format_3_store_is_upgraded_with_an_empty_access_list_family() {
    use axigen_core::acl::{Grantee, Rights};
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        account(&store, "old@example.com").await.id
    };
    downgrade(dir.path(), 3);
    let store = open(dir.path());
    assert!(store.check(true).unwrap().is_clean());
    let inbox = store.folder_by_name(a, "INBOX").await.unwrap().unwrap();
    store.set_rights(a, inbox.id, Grantee::Anyone, Rights::LOOKUP).await.unwrap();
    drop(store);
    let (cfs, format) = layout(dir.path());
    assert!(cfs.iter().any(|c| c == "acl"));
    assert_eq!(format, axigen_store::FORMAT_VERSION.to_be_bytes());
}

/// RFC 3501 6.3.4-6.3.6: a subscription outlives its folder, a name may be
/// subscribed before a folder has it, and such names go with the account.
#[tokio::test]
async fn subscriptions_outlive_their_folders() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "s@example.com").await;
    let lists = store.create_folder(a.id, "Lists", FolderKind::Mail, None).await.unwrap();
    assert!(lists.subscribed);
    store.delete_folder(a.id, lists.id).await.unwrap();
    assert_eq!(store.folder_by_name(a.id, "Lists").await.unwrap(), None);
    assert_eq!(store.subscribed_names(a.id).await.unwrap(), vec!["Lists".to_owned()]);
    // Not subscribed: nothing stays.
    let tmp = store.create_folder(a.id, "Tmp", FolderKind::Mail, None).await.unwrap();
    store.set_subscribed(a.id, tmp.id, false).await.unwrap();
    store.delete_folder(a.id, tmp.id).await.unwrap();
    assert_eq!(store.subscribed_names(a.id).await.unwrap(), vec!["Lists".to_owned()]);
    // A name with no folder yet.
    store.set_name_subscribed(a.id, "Later/On", true).await.unwrap();
    store.set_name_subscribed(a.id, "Later/On", true).await.unwrap();
    assert_eq!(store.subscribed_names(a.id).await.unwrap(), vec!["Later/On".to_owned(), "Lists".to_owned()]);
    // A folder created under a subscribed name takes the subscription over.
    let lists = store.create_folder(a.id, "Lists", FolderKind::Mail, None).await.unwrap();
    assert!(lists.subscribed);
    assert_eq!(store.folder_by_name(a.id, "Lists").await.unwrap().map(|f| f.id), Some(lists.id));
    assert_eq!(store.subscribed_names(a.id).await.unwrap(), vec!["Later/On".to_owned()]);
    // By name: the folder's flag when there is one.
    store.set_name_subscribed(a.id, "Lists", false).await.unwrap();
    assert!(!store.folder(a.id, lists.id).await.unwrap().unwrap().subscribed);
    store.set_name_subscribed(a.id, "Later/On", false).await.unwrap();
    assert!(matches!(store.set_name_subscribed(a.id, "Later/On", false).await, Err(Error::NotFound(_))));
    // A rename onto a subscribed name.
    store.set_name_subscribed(a.id, "Renamed", true).await.unwrap();
    store.rename_folder(a.id, lists.id, "Renamed").await.unwrap();
    assert!(store.subscribed_names(a.id).await.unwrap().is_empty());
    assert!(store.check(true).unwrap().is_clean());
    // A name whose sixth octet is inside a character (not INBOX/...).
    assert_eq!(store.folder_by_name(a.id, "INBOXé").await.unwrap(), None);
    store.set_name_subscribed(a.id, "INBOXé", true).await.unwrap();
    // Calendars and the like are no IMAP mailboxes: not subscribable, and
    // nothing stays when they go.
    let calendar = store.folder_by_name(a.id, "Calendar").await.unwrap().unwrap();
    assert!(matches!(store.set_name_subscribed(a.id, "Calendar", false).await, Err(Error::NotFound(_))));
    store.delete_folder(a.id, calendar.id).await.unwrap();
    assert_eq!(store.subscribed_names(a.id).await.unwrap(), vec!["INBOXé".to_owned()]);
    store.set_name_subscribed(a.id, "Gone", true).await.unwrap();
    store.delete_account(a.id).await.unwrap();
    let b = account(&store, "t@example.com").await;
    assert!(store.subscribed_names(b.id).await.unwrap().is_empty());
    assert!(store.check(true).unwrap().is_clean());
}

#[tokio::test]
async fn a_format_8_store_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        account(&store, "old@example.com").await.id
    };
    downgrade(dir.path(), 8);
    {
        let store = open(dir.path());
        assert!(store.check(true).unwrap().is_clean());
        store.set_name_subscribed(a, "Old/Name", true).await.unwrap();
    }
    assert_eq!(layout(dir.path()).1, axigen_store::FORMAT_VERSION.to_be_bytes());
    let store = open(dir.path());
    assert_eq!(store.subscribed_names(a).await.unwrap(), vec!["Old/Name".to_owned()]);
}
