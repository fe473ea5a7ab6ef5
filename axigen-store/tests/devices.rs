//! Mobile devices and their sync state ([`DeviceStore`]): records per
//! account, device id rules, per-collection state, removal of a partnership
//! and of an account, persistence, the consistency check, and the upgrade of
//! a format-4 store.

mod common;

use axigen_core::Error;
use axigen_core::devices::{Device, DeviceAccess, DeviceStore, WipeState};
use axigen_core::directory::DirectoryAdmin;
use axigen_core::model::AccountId;
use common::*;

fn device(account: AccountId, id: &str) -> Device {
    Device {
        account,
        device_id: id.into(),
        device_type: "iPhone".into(),
        model: Some("iPhone15,2".into()),
        friendly_name: Some("Work phone".into()),
        os: Some("iOS 17.4".into()),
        user_agent: Some("Apple-iPhone15C2/2104.90".into()),
        protocol_version: "16.1".into(),
        first_seen: 1_700_000_000,
        last_sync: 1_700_000_500,
        policy_key: 0,
        pending_policy_key: None,
        policy_digest: None,
        access: DeviceAccess::Allowed,
        wipe: WipeState::None,
    }
}

#[tokio::test]
async fn devices_round_trip_and_are_listed_per_account_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let alice = account(&store, "alice@example.com").await.id;
    let bob = account(&store, "bob@example.com").await.id;

    assert_eq!(store.device(alice, "ApplF17XYZ").await.unwrap(), None);
    assert!(store.devices(alice).await.unwrap().is_empty());

    let mut full = device(alice, "ApplF17XYZ");
    full.policy_key = 3_141_592;
    full.pending_policy_key = Some(27);
    full.policy_digest = Some("b3:0123abcd".into());
    full.access = DeviceAccess::Quarantined;
    full.wipe = WipeState::Sent { account_only: true, sent_at: 1_700_000_900 };
    store.put_device(full.clone()).await.unwrap();
    assert_eq!(store.device(alice, "ApplF17XYZ").await.unwrap(), Some(full.clone()));
    // Ids are exact: another case is another device.
    assert_eq!(store.device(alice, "applf17xyz").await.unwrap(), None);

    // Inserted out of order, listed by device id; other accounts apart.
    for id in ["zeta9", "Andr0id", "ApplA"] {
        store.put_device(device(alice, id)).await.unwrap();
    }
    store.put_device(device(bob, "ApplA")).await.unwrap();
    let ids: Vec<String> = store.devices(alice).await.unwrap().into_iter().map(|d| d.device_id).collect();
    assert_eq!(ids, ["Andr0id", "ApplA", "ApplF17XYZ", "zeta9"]);
    let bobs = store.devices(bob).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].account, bob);

    // Replacing a record keeps one record.
    let mut changed = full.clone();
    changed.access = DeviceAccess::Blocked;
    changed.last_sync = 1_700_001_000;
    store.put_device(changed.clone()).await.unwrap();
    assert_eq!(store.device(alice, "ApplF17XYZ").await.unwrap(), Some(changed));
    assert_eq!(store.devices(alice).await.unwrap().len(), 4);

    // A device of an account that does not exist is refused.
    let err = store.put_device(device(AccountId(999), "Ghost1")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");

    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.devices, 5);
}

#[tokio::test]
async fn device_ids_outside_ms_ashttp_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "alice@example.com").await.id;
    let longest = "D".repeat(32);
    store.put_device(device(a, &longest)).await.unwrap();
    assert!(store.device(a, &longest).await.unwrap().is_some());

    for bad in ["", &"D".repeat(33), "with-dash", "with space", "dévice", "a/b", "a\u{0}b"] {
        let rule = |e: Error| matches!(&e, Error::Invalid(m) if m.contains("1 to 32 ASCII letters or digits"));
        assert!(rule(store.put_device(device(a, bad)).await.unwrap_err()), "put_device {bad:?}");
        assert!(rule(store.device(a, bad).await.unwrap_err()), "device {bad:?}");
        assert!(rule(store.delete_device(a, bad).await.unwrap_err()), "delete_device {bad:?}");
        assert!(rule(store.sync_state(a, bad, "").await.unwrap_err()), "sync_state {bad:?}");
        assert!(rule(store.put_sync_state(a, bad, "", b"s".to_vec()).await.unwrap_err()), "put_sync_state {bad:?}");
        assert!(rule(store.clear_sync_states(a, bad).await.unwrap_err()), "clear_sync_states {bad:?}");
        assert!(rule(store.update_device(a, bad, |_| Ok(())).await.unwrap_err()), "update_device {bad:?}");
    }
    assert_eq!(store.devices(a).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sync_states_are_kept_per_collection_and_go_with_their_device() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "alice@example.com").await.id;

    // No device, no state.
    let err = store.put_sync_state(a, "Phone1", "", b"h1".to_vec()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(ref m) if m.contains("Phone1")), "{err}");
    assert_eq!(store.sync_state(a, "Phone1", "").await.unwrap(), None);

    // `Phone1` and `Phone12` share a prefix of their ids; their states stay apart.
    store.put_device(device(a, "Phone1")).await.unwrap();
    store.put_device(device(a, "Phone12")).await.unwrap();
    store.put_sync_state(a, "Phone1", "", b"hierarchy-1".to_vec()).await.unwrap();
    store.put_sync_state(a, "Phone1", "5", b"inbox-1".to_vec()).await.unwrap();
    store.put_sync_state(a, "Phone1", "12", vec![0, 255, 7]).await.unwrap();
    store.put_sync_state(a, "Phone12", "", b"hierarchy-12".to_vec()).await.unwrap();
    assert_eq!(store.sync_state(a, "Phone1", "").await.unwrap().as_deref(), Some(&b"hierarchy-1"[..]));
    assert_eq!(store.sync_state(a, "Phone1", "5").await.unwrap().as_deref(), Some(&b"inbox-1"[..]));
    assert_eq!(store.sync_state(a, "Phone1", "12").await.unwrap(), Some(vec![0, 255, 7]));
    assert_eq!(store.sync_state(a, "Phone1", "7").await.unwrap(), None);
    assert_eq!(store.sync_state(a, "Phone12", "").await.unwrap().as_deref(), Some(&b"hierarchy-12"[..]));
    // A new state replaces the old one.
    store.put_sync_state(a, "Phone1", "5", b"inbox-2".to_vec()).await.unwrap();
    assert_eq!(store.sync_state(a, "Phone1", "5").await.unwrap().as_deref(), Some(&b"inbox-2"[..]));
    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.devices, report.sync_states), (2, 4));

    // Clearing forgets the states and keeps the device.
    store.clear_sync_states(a, "Phone1").await.unwrap();
    for collection in ["", "5", "12"] {
        assert_eq!(store.sync_state(a, "Phone1", collection).await.unwrap(), None, "{collection:?}");
    }
    assert!(store.device(a, "Phone1").await.unwrap().is_some());
    assert!(store.sync_state(a, "Phone12", "").await.unwrap().is_some());
    // Clearing a device without states, or without a record, changes nothing.
    store.clear_sync_states(a, "Phone1").await.unwrap();
    store.clear_sync_states(a, "Nobody").await.unwrap();

    // Deleting the device takes its states; the other device keeps its own.
    store.put_sync_state(a, "Phone1", "", b"again".to_vec()).await.unwrap();
    store.put_sync_state(a, "Phone1", "5", b"again".to_vec()).await.unwrap();
    assert!(store.delete_device(a, "Phone1").await.unwrap());
    assert_eq!(store.device(a, "Phone1").await.unwrap(), None);
    assert_eq!(store.sync_state(a, "Phone1", "").await.unwrap(), None);
    assert_eq!(store.sync_state(a, "Phone1", "5").await.unwrap(), None);
    assert!(!store.delete_device(a, "Phone1").await.unwrap());
    assert!(store.sync_state(a, "Phone12", "").await.unwrap().is_some());
    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.devices, report.sync_states), (1, 1));

    // The partnership starts over: the same device id, no state.
    store.put_device(device(a, "Phone1")).await.unwrap();
    assert_eq!(store.sync_state(a, "Phone1", "").await.unwrap(), None);
}

#[tokio::test]
async fn update_device_changes_one_record_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let a = account(&store, "alice@example.com").await.id;
    let err = store.update_device(a, "Phone1", |_| Ok(())).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");

    store.put_device(device(a, "Phone1")).await.unwrap();
    let updated = store
        .update_device(a, "Phone1", |d| {
            d.access = DeviceAccess::Blocked;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(updated.access, DeviceAccess::Blocked);
    assert_eq!(store.device(a, "Phone1").await.unwrap(), Some(updated.clone()));

    // A refusal from the change, or a change of identity, leaves the record as it was.
    let err = store
        .update_device(a, "Phone1", |d| {
            d.access = DeviceAccess::Allowed;
            Err(Error::Conflict("no".into()))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    let err = store
        .update_device(a, "Phone1", |d| {
            d.device_id = "Phone2".into();
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert_eq!(store.device(a, "Phone1").await.unwrap(), Some(updated));
    assert_eq!(store.device(a, "Phone2").await.unwrap(), None);
}

#[tokio::test]
async fn deleting_an_account_deletes_its_devices_and_states() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    domain(&store, "example.com").await;
    let alice = account(&store, "alice@example.com").await.id;
    let bob = account(&store, "bob@example.com").await.id;
    for a in [alice, bob] {
        for id in ["Phone1", "Tablet2"] {
            store.put_device(device(a, id)).await.unwrap();
            store.put_sync_state(a, id, "", b"h".to_vec()).await.unwrap();
            store.put_sync_state(a, id, "5", b"i".to_vec()).await.unwrap();
        }
    }
    store.delete_account(alice).await.unwrap();
    assert!(store.devices(alice).await.unwrap().is_empty());
    assert_eq!(store.sync_state(alice, "Phone1", "").await.unwrap(), None);
    assert_eq!(store.devices(bob).await.unwrap().len(), 2);
    assert_eq!(store.sync_state(bob, "Tablet2", "5").await.unwrap().as_deref(), Some(&b"i"[..]));
    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.devices, report.sync_states), (2, 4));
}

#[tokio::test]
async fn devices_and_states_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, stored) = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        let a = account(&store, "alice@example.com").await.id;
        let mut d = device(a, "Phone1");
        d.wipe = WipeState::Pending { account_only: false, requested_at: 1_700_002_000 };
        d.policy_key = 42;
        store.put_device(d.clone()).await.unwrap();
        store.put_sync_state(a, "Phone1", "", b"hierarchy".to_vec()).await.unwrap();
        (a, d)
    };
    let store = open(dir.path());
    assert_eq!(store.device(a, "Phone1").await.unwrap(), Some(stored));
    assert_eq!(store.sync_state(a, "Phone1", "").await.unwrap().as_deref(), Some(&b"hierarchy"[..]));
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
}

#[tokio::test]
async fn the_check_reports_orphans_and_mismatched_records() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        let a = account(&store, "alice@example.com").await.id;
        store.put_device(device(a, "Phone1")).await.unwrap();
        a
    };
    {
        // What a bug or a foreign tool could leave: a state without a device,
        // a device of a missing account, a record under another device's key,
        // an unreadable record.
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        let (devices, states) = (db.cf_handle("device").unwrap(), db.cf_handle("sync_state").unwrap());
        let key = |account: u32, id: &str| [&account.to_be_bytes()[..], id.as_bytes()].concat();
        let record = |account: u32, id: &str| serde_json::to_vec(&device(AccountId(account), id)).unwrap();
        db.put_cf(states, [&a.0.to_be_bytes()[..], &[5], b"Lost1", b"7"].concat(), b"s").unwrap();
        db.put_cf(devices, key(77, "Ghost1"), record(77, "Ghost1")).unwrap();
        db.put_cf(devices, key(a.0, "Moved1"), record(a.0, "Other1")).unwrap();
        db.put_cf(devices, key(a.0, "Broken1"), b"{not json").unwrap();
    }
    let store = open(dir.path());
    let report = store.check(false).unwrap();
    assert_eq!((report.devices, report.sync_states), (4, 1));
    let problems: Vec<String> = report.findings.iter().map(|f| format!("{}: {}", f.object, f.problem)).collect();
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("\"Lost1\"") && p.contains("without a device")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("\"Ghost1\" of account 77") && p.contains("does not exist")));
    assert!(problems.iter().any(|p| p.contains("\"Moved1\"") && p.contains("record is for device \"Other1\"")));
    assert!(problems.iter().any(|p| p.contains("\"Broken1\"") && p.contains("corrupt device record")));
}

#[tokio::test]
async fn a_format_4_store_is_upgraded_with_empty_device_families() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let store = open(dir.path());
        domain(&store, "example.com").await;
        account(&store, "old@example.com").await.id
    };
    downgrade(dir.path(), 4);
    let (cfs, _) = layout(dir.path());
    assert!(!cfs.iter().any(|c| c == "device" || c == "sync_state"), "{cfs:?}");
    let store = open(dir.path());
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.accounts, report.devices, report.sync_states), (1, 0, 0));
    store.put_device(device(a, "Phone1")).await.unwrap();
    store.put_sync_state(a, "Phone1", "", b"h".to_vec()).await.unwrap();
    drop(store);
    let (cfs, format) = layout(dir.path());
    assert!(cfs.iter().any(|c| c == "device") && cfs.iter().any(|c| c == "sync_state"), "{cfs:?}");
    assert_eq!(format, axigen_store::FORMAT_VERSION.to_be_bytes());
    let store = open(dir.path());
    assert_eq!(store.sync_state(a, "Phone1", "").await.unwrap().as_deref(), Some(&b"h"[..]));
}
