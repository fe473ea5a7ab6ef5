//! Groupware items (format 10): stored under a name with their index,
//! conditional writes, UID uniqueness, moves, the sync report of changes
//! and removals, quota, folder deletion, the check (which recomputes every
//! index from the content), and the upgrade from format 9.

mod common;

use axigen_core::directory::DirectoryAdmin;
use axigen_core::itemstore::{ItemRemoval, ItemStore, ItemWrite, NewItem, Precondition};
use axigen_core::mailstore::{FolderKind, MailStore, ModSeq, QuotaLimit};
use bytes::Bytes;
use common::*;

fn event(uid: &str, summary: &str) -> NewItem {
    let text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
DTSTAMP:20240101T000000Z\r\nDTSTART:20240301T090000Z\r\nDTEND:20240301T100000Z\r\nSUMMARY:{summary}\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    NewItem::parse(Bytes::from(text), FolderKind::Calendar).unwrap()
}

fn if_match(tag: &str) -> Precondition {
    Precondition { if_match: Some(vec![tag.to_owned()]), if_none_match: false }
}

fn names(removed: &[(String, ModSeq)]) -> Vec<&str> {
    removed.iter().map(|(n, _)| n.as_str()).collect()
}

const CREATE_ONLY: Precondition = Precondition { if_match: None, if_none_match: true };
const NO_QUOTA: QuotaLimit = QuotaLimit { max_bytes: 0, max_messages: 0 };

#[tokio::test]
async fn items_are_written_conditionally_and_reported_as_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "ann@example.com").await.id;
    let cal = store.folder_by_name(a, "Calendar").await.unwrap().unwrap();
    let start = store.highest_modseq(a).await.unwrap();

    let ItemWrite::Created(first) =
        store.put_item(a, cal.id, "one.ics", event("u1", "First"), CREATE_ONLY, NO_QUOTA).await.unwrap()
    else {
        panic!("not created")
    };
    assert_eq!((first.name.as_str(), first.index.uid.as_str()), ("one.ics", "u1"));
    assert_eq!(first.index.start, Some(1_709_283_600));
    assert_eq!(store.content(first.blob).await.unwrap(), event("u1", "First").content());
    // If-None-Match: * on an existing name, a wrong If-Match, an If-Match
    // on a missing name: nothing changes.
    for (name, cond) in [("one.ics", CREATE_ONLY), ("one.ics", if_match("\"nope\"")), ("missing.ics", if_match("*"))] {
        assert_eq!(
            store.put_item(a, cal.id, name, event("u9", "x"), cond, NO_QUOTA).await.unwrap(),
            ItemWrite::PreconditionFailed
        );
    }
    // The object UID is unique in the folder.
    assert_eq!(
        store.put_item(a, cal.id, "two.ics", event("u1", "Copy"), Precondition::default(), NO_QUOTA).await.unwrap(),
        ItemWrite::UidConflict("one.ics".into())
    );
    // Replacing with the current tag.
    let ItemWrite::Replaced(second) =
        store.put_item(a, cal.id, "one.ics", event("u1", "Renamed"), if_match(&first.etag()), NO_QUOTA).await.unwrap()
    else {
        panic!("not replaced")
    };
    assert_eq!(second.uid, first.uid);
    assert_ne!(second.etag(), first.etag());
    assert!(second.modseq > first.modseq);
    store.put_item(a, cal.id, "two.ics", event("u2", "Second"), CREATE_ONLY, NO_QUOTA).await.unwrap();
    let listed = store.items(a, cal.id).await.unwrap();
    assert_eq!(listed.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["one.ics", "two.ics"]);
    let info = store.folder(a, cal.id).await.unwrap().unwrap();
    assert_eq!(info.messages, 2);
    assert_eq!(info.size, listed.iter().map(|i| i.size).sum::<u64>());

    // Removal: a wrong tag refuses, the right one removes, a second is 404.
    assert_eq!(
        store.remove_item(a, cal.id, "two.ics", if_match(&first.etag())).await.unwrap(),
        ItemRemoval::PreconditionFailed
    );
    let two = store.item_by_name(a, cal.id, "two.ics").await.unwrap().unwrap();
    assert!(matches!(
        store.remove_item(a, cal.id, "two.ics", if_match(&two.etag())).await.unwrap(),
        ItemRemoval::Removed(_)
    ));
    assert_eq!(store.remove_item(a, cal.id, "two.ics", Precondition::default()).await.unwrap(), ItemRemoval::NotFound);

    // Since the start: one.ics as it is now; two.ics was added and
    // removed, so only its removal is reported.
    let changes = store.item_changes(a, cal.id, start).await.unwrap().unwrap();
    assert_eq!(
        changes.changed.iter().map(|i| (i.name.as_str(), i.modseq)).collect::<Vec<_>>(),
        [("one.ics", second.modseq)]
    );
    assert_eq!(names(&changes.removed), ["two.ics"]);
    // Since the replacement: the removal only.
    let later = store.item_changes(a, cal.id, second.modseq).await.unwrap().unwrap();
    assert!(later.changed.is_empty());
    assert_eq!(names(&later.removed), ["two.ics"]);
    assert!(later.removed[0].1 > second.modseq);
    assert_eq!(later.modseq, store.folder(a, cal.id).await.unwrap().unwrap().highest_modseq);
    // A name removed and used again is a change, not a removal.
    store.put_item(a, cal.id, "two.ics", event("u3", "Again"), CREATE_ONLY, NO_QUOTA).await.unwrap();
    let again = store.item_changes(a, cal.id, second.modseq).await.unwrap().unwrap();
    assert_eq!(again.changed.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["two.ics"]);
    assert!(again.removed.is_empty());
    let now = store.item_changes(a, cal.id, again.modseq).await.unwrap().unwrap();
    assert!(now.changed.is_empty() && now.removed.is_empty());

    // Kinds: a card is not an event, and mail folders hold no items.
    let card = Bytes::from_static(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nUID:c\r\nEND:VCARD\r\n");
    assert!(NewItem::parse(card.clone(), FolderKind::Calendar).is_err());
    let contacts = store.folder_by_name(a, "Contacts").await.unwrap().unwrap();
    let card = NewItem::parse(card, FolderKind::Contacts).unwrap();
    assert!(store.put_item(a, cal.id, "c.vcf", card.clone(), CREATE_ONLY, NO_QUOTA).await.is_err());
    let inbox = store.folder_by_name(a, "INBOX").await.unwrap().unwrap();
    assert!(store.put_item(a, inbox.id, "c.vcf", card.clone(), CREATE_ONLY, NO_QUOTA).await.is_err());
    assert!(store.put_item(a, contacts.id, "../c.vcf", card.clone(), CREATE_ONLY, NO_QUOTA).await.is_err());
    store.put_item(a, contacts.id, "c.vcf", card, CREATE_ONLY, NO_QUOTA).await.unwrap();
    assert!(store.check(true).unwrap().is_clean(), "{:?}", store.check(true).unwrap().findings);

    // Everything acknowledged is there after a reopen.
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.items(a, cal.id).await.unwrap().len(), 2);
    assert_eq!(store.item_by_name(a, cal.id, "one.ics").await.unwrap().unwrap(), second);
}

#[tokio::test]
async fn moves_quota_and_folder_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "bob@example.com").await.id;
    let cal = store.folder_by_name(a, "Calendar").await.unwrap().unwrap().id;
    let work = store.create_folder(a, "Work", FolderKind::Calendar, None).await.unwrap().id;
    let tasks = store.folder_by_name(a, "Tasks").await.unwrap().unwrap().id;
    let p = Precondition::default;
    store.put_item(a, cal, "a.ics", event("ua", "A"), p(), NO_QUOTA).await.unwrap();
    store.put_item(a, cal, "b.ics", event("ub", "B"), p(), NO_QUOTA).await.unwrap();
    store.put_item(a, work, "w.ics", event("uw", "W"), p(), NO_QUOTA).await.unwrap();
    let usage = store.quota_usage(a).await.unwrap();
    assert_eq!(usage.messages, 3);

    // A move keeps the content and the object, frees the source name.
    let before = store.item_by_name(a, cal, "a.ics").await.unwrap().unwrap();
    let since = store.highest_modseq(a).await.unwrap();
    let Some(ItemWrite::Created(moved)) = store.move_item(a, cal, "a.ics", work, "a2.ics", false, p()).await.unwrap()
    else {
        panic!("not moved")
    };
    assert_eq!((moved.blob, moved.index.clone()), (before.blob, before.index.clone()));
    assert!(store.item_by_name(a, cal, "a.ics").await.unwrap().is_none());
    assert_eq!(names(&store.item_changes(a, cal, since).await.unwrap().unwrap().removed), ["a.ics"]);
    // Onto an existing name: refused without overwrite, else replaced.
    assert_eq!(
        store.move_item(a, cal, "b.ics", work, "w.ics", false, p()).await.unwrap(),
        Some(ItemWrite::PreconditionFailed)
    );
    assert!(store.item_by_name(a, cal, "b.ics").await.unwrap().is_some(), "a refused move leaves the source");
    assert!(matches!(
        store.move_item(a, cal, "b.ics", work, "w.ics", true, p()).await.unwrap(),
        Some(ItemWrite::Replaced(_))
    ));
    // A UID already in the target, a missing source, a folder of another kind.
    store.put_item(a, cal, "again.ics", event("ua", "A again"), p(), NO_QUOTA).await.unwrap();
    assert_eq!(
        store.move_item(a, cal, "again.ics", work, "x.ics", false, p()).await.unwrap(),
        Some(ItemWrite::UidConflict("a2.ics".into()))
    );
    assert_eq!(store.move_item(a, cal, "none.ics", work, "x.ics", false, p()).await.unwrap(), None);
    assert!(store.move_item(a, cal, "again.ics", tasks, "x.ics", false, p()).await.is_err());
    // Renaming within a folder keeps the object UID free for itself.
    assert!(matches!(
        store.move_item(a, cal, "again.ics", cal, "renamed.ics", false, p()).await.unwrap(),
        Some(ItemWrite::Created(_))
    ));
    assert_eq!(store.quota_usage(a).await.unwrap().messages, 3);

    // Quota: a new item past the limit is refused; a replacement counts
    // only what it adds.
    let used = store.quota_usage(a).await.unwrap();
    let tight = QuotaLimit { max_bytes: used.bytes + 10, max_messages: 0 };
    let refused = store.put_item(a, cal, "big.ics", event("big", "Big"), p(), tight).await;
    assert!(matches!(refused, Err(axigen_core::Error::OverQuota(_))), "{refused:?}");
    let same = store.put_item(a, cal, "renamed.ics", event("ua", "A agaim"), p(), tight).await.unwrap();
    assert!(matches!(same, ItemWrite::Replaced(_)));
    let limited = QuotaLimit { max_bytes: 0, max_messages: 3 };
    assert!(store.put_item(a, cal, "n.ics", event("n", "N"), p(), limited).await.is_err());
    assert!(store.check(true).unwrap().is_clean(), "{:?}", store.check(true).unwrap().findings);

    // Deleting a folder takes its items, their blobs and index entries.
    store.delete_folder(a, work).await.unwrap();
    assert_eq!(store.quota_usage(a).await.unwrap().messages, 1);
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.items, 1);
    // And deleting the account, everything.
    store.delete_account(a).await.unwrap();
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.items, report.blobs), (0, 0));
}

#[tokio::test]
async fn concurrent_writers_of_one_name_or_uid_never_both_create() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    domain(&store, "example.com").await;
    let a = account(&store, "cat@example.com").await.id;
    let cal = store.folder_by_name(a, "Calendar").await.unwrap().unwrap().id;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Half race for one name, half for one UID under their own names.
            let name = if n % 2 == 0 { "same.ics".to_owned() } else { format!("other-{n}.ics") };
            store.put_item(a, cal, &name, event("shared", &format!("n{n}")), CREATE_ONLY, NO_QUOTA).await.unwrap()
        }));
    }
    let mut created = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), ItemWrite::Created(_)) {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.items(a, cal).await.unwrap().len(), 1);
}

#[tokio::test]
async fn check_recomputes_indexes_and_a_format_9_store_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let (a, cal) = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        let a = account(&store, "old@example.com").await.id;
        (a, store.folder_by_name(a, "Calendar").await.unwrap().unwrap().id)
    };
    downgrade(dir.path(), 9);
    assert!(!layout(dir.path()).0.iter().any(|c| c == "item" || c == "item_key"));
    {
        let store = open(dir.path());
        assert!(store.check(true).unwrap().is_clean());
        store.put_item(a, cal, "e.ics", event("e", "E"), CREATE_ONLY, NO_QUOTA).await.unwrap();
        assert!(store.highest_modseq(a).await.unwrap() > ModSeq(0));
    }
    assert_eq!(layout(dir.path()).1, axigen_store::FORMAT_VERSION.to_be_bytes());

    // Tamper: an index that no longer matches its content, a name entry
    // pointing nowhere, and an item of a folder that does not exist.
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        let items = db.cf_handle("item").unwrap();
        let key = [&a.0.to_be_bytes()[..], &cal.0.to_be_bytes(), &1u32.to_be_bytes()].concat();
        let mut record = db.get_cf(items, &key).unwrap().unwrap();
        // After the fixed header (58 bytes) and the name "e.ics" comes the
        // index: the UID's length, then its text ("e"); make it "f".
        assert_eq!(&record[58..63], b"e.ics");
        assert_eq!(record[64], b'e');
        record[64] = b'f';
        db.put_cf(items, &key, &record).unwrap();
        let keys = db.cf_handle("item_key").unwrap();
        db.put_cf(keys, [&a.0.to_be_bytes()[..], &cal.0.to_be_bytes(), b"Nghost.ics"].concat(), 7u32.to_be_bytes())
            .unwrap();
        db.put_cf(items, [&a.0.to_be_bytes()[..], &999u32.to_be_bytes(), &1u32.to_be_bytes()].concat(), b"x").unwrap();
    }
    let store = open(dir.path());
    let report = store.check(false).unwrap();
    let problems: Vec<String> = report.findings.iter().map(|f| format!("{}: {}", f.object, f.problem)).collect();
    assert!(problems.iter().any(|p| p.contains("index does not match its content")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("\"ghost.ics\"")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("folder 999") && p.contains("does not exist")), "{problems:?}");
}
