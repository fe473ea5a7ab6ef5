//! Store format version and migrations.
//!
//! Format history:
//!
//! | version | change |
//! |---|---|
//! | 1 | first layout |
//! | 2 | adds the `queue` column family (outbound queue) |
//! | 3 | adds the `structure` column family: every blob's message structure (postcard) |
//! | 4 | adds the `acl` column family: folder access lists and shared-folder subscriptions |
//! | 5 | adds the `device` and `sync_state` column families: ActiveSync partnerships and their sync state |
//! | 6 | adds the `autoreply` column family: out-of-office settings and whom they answered |
//! | 7 | queue records keep every recipient with its delivery state (pending, in flight, deferred, delivered, failed) |
//! | 8 | adds the `rpop` column family: remote POP3 sources, the UIDLs fetched from them, their status |
//! | 9 | the folder name index may hold empty entries: subscriptions to names no folder has (RFC 3501 6.3.6) |
//! | 10 | adds the `item` and `item_key` column families: groupware items and their name, UID and tombstone indexes; change-log kind 6 (item updated) |
//!
//! A layout change bumps [`FORMAT_VERSION`] and adds a function to
//! [`MIGRATIONS`] that rewrites a store of the previous version in one synced
//! write batch, together with a test that opens a store written in the
//! previous format and checks it after upgrade. A migration that touches
//! every blob (2 -> 3) cannot hold a large store in one batch: it writes
//! synced batches of its own, each safe to repeat, and only its final batch
//! moves the format record, so an interrupted upgrade is resumed at the next
//! open and software of the old format never sees a half-new store.

use axigen_core::structure::parse_structure;
use axigen_core::{Error, Result};
use rocksdb::{IteratorMode, WriteBatch, WriteOptions};

use crate::commit::{Db, cf, storage};
use crate::keys::{ALL_CFS, CF_BLOB, CF_META, CF_STRUCTURE, META_FORMAT, encode_structure};

/// The layout version this build reads and writes.
pub const FORMAT_VERSION: u32 = 10;

type Migration = fn(&Db, &mut WriteBatch) -> Result<()>;

/// `MIGRATIONS[i]` upgrades a store from version `i + 1` to `i + 2`.
const MIGRATIONS: &[Migration] = &[
    add_queue,
    add_structures,
    add_acl,
    add_devices,
    add_autoreply,
    recipient_states,
    add_rpop,
    name_subscriptions,
    add_items,
];

/// Bounds of one batch of structure records written by the 2 -> 3 upgrade.
const STRUCTURE_BATCH_RECORDS: usize = 512;
const STRUCTURE_BATCH_BYTES: usize = 4 << 20;

/// 1 -> 2: the `queue` column family is created empty when the store is
/// opened (RocksDB creates missing column families); nothing else changes.
/// The version bump is what keeps software that knows only format 1 from
/// opening a store whose queue it would not see.
fn add_queue(db: &Db, _batch: &mut rocksdb::WriteBatch) -> Result<()> {
    if db.cf_handle(crate::keys::CF_QUEUE).is_none() {
        return Err(Error::Format("the queue column family was not created".into()));
    }
    Ok(())
}

/// 3 -> 4: the `acl` column family is created empty when the store is
/// opened: no folder is shared yet. The bump keeps format-3 software, which
/// would not delete access lists with their folders, away from the store.
fn add_acl(db: &Db, _batch: &mut WriteBatch) -> Result<()> {
    if db.cf_handle(crate::keys::CF_ACL).is_none() {
        return Err(Error::Format("the acl column family was not created".into()));
    }
    Ok(())
}

/// 4 -> 5: the `device` and `sync_state` column families are created empty
/// when the store is opened: no device has a partnership yet. The bump keeps
/// format-4 software, which would not delete an account's devices and sync
/// state with it, away from the store.
fn add_devices(db: &Db, _batch: &mut WriteBatch) -> Result<()> {
    for name in [crate::keys::CF_DEVICE, crate::keys::CF_SYNC_STATE] {
        if db.cf_handle(name).is_none() {
            return Err(Error::Format(format!("the {name} column family was not created")));
        }
    }
    Ok(())
}

/// 5 -> 6: the `autoreply` column family is created empty when the store
/// is opened: no account is away yet. The bump keeps format-5 software,
/// which would not delete an account's out-of-office records with it, away
/// from the store.
fn add_autoreply(db: &Db, _batch: &mut WriteBatch) -> Result<()> {
    if db.cf_handle(crate::keys::CF_AUTOREPLY).is_none() {
        return Err(Error::Format("the autoreply column family was not created".into()));
    }
    Ok(())
}

/// 6 -> 7: every queue record is rewritten with its recipients as
/// (address, state): pending, or deferred when already tried. The queue
/// is small (it holds what waits for remote hosts), so one batch holds it.
fn recipient_states(db: &Db, batch: &mut WriteBatch) -> Result<()> {
    let queue = cf(db, crate::keys::CF_QUEUE);
    for item in db.iterator_cf(queue, IteratorMode::Start) {
        let (key, value) = item.map_err(storage)?;
        if crate::queue::decode(&value).is_ok() {
            continue;
        }
        let legacy: crate::queue::LegacyRecord = serde_json::from_slice(&value)
            .map_err(|e| Error::Format(format!("queue record {key:?} of format 6: {e}")))?;
        let record = legacy.upgrade();
        let json = serde_json::to_vec(&record).map_err(|e| Error::Format(e.to_string()))?;
        batch.put_cf(queue, &key, json);
    }
    Ok(())
}

/// 7 -> 8: the `rpop` column family is created empty when the store is
/// opened. The bump keeps format-7 software, which would not delete an
/// account's sources with it, away from the store.
fn add_rpop(db: &Db, _batch: &mut WriteBatch) -> Result<()> {
    if db.cf_handle(crate::keys::CF_RPOP).is_none() {
        return Err(Error::Format("the rpop column family was not created".into()));
    }
    Ok(())
}

/// 8 -> 9: nothing to rewrite; the folder name index may now hold empty
/// entries (subscriptions kept after their folder was deleted, or made
/// before it exists). The bump keeps format-8 software, which would read
/// such an entry as a damaged folder id, away from the store.
fn name_subscriptions(_db: &Db, _batch: &mut WriteBatch) -> Result<()> {
    Ok(())
}

/// 9 -> 10: the `item` and `item_key` column families are created empty
/// when the store is opened: calendar, contacts, task and notes folders had
/// no way to hold items before. The bump keeps format-9 software, which
/// would not delete items with their folder nor read change-log kind 6,
/// away from the store.
fn add_items(db: &Db, _batch: &mut WriteBatch) -> Result<()> {
    for name in [crate::keys::CF_ITEM, crate::keys::CF_ITEM_KEY] {
        if db.cf_handle(name).is_none() {
            return Err(Error::Format(format!("the {name} column family was not created")));
        }
    }
    Ok(())
}

/// 2 -> 3: every blob gets its structure record, computed from its content.
/// Records are written in synced batches as the blobs are read. Blobs and
/// records are walked side by side in key order: a blob that has a record
/// already (from an interrupted upgrade) is skipped, and a record whose blob
/// is gone (deleted since by format-2 software) is removed in the final batch.
fn add_structures(db: &Db, last: &mut WriteBatch) -> Result<()> {
    let (blobs, structures) = (cf(db, CF_BLOB), cf(db, CF_STRUCTURE));
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    let mut existing = db.raw_iterator_cf(structures);
    existing.seek_to_first();
    let (mut batch, mut records, mut bytes, mut done) = (WriteBatch::default(), 0usize, 0usize, 0usize);
    for item in db.iterator_cf(blobs, IteratorMode::Start) {
        let (id, content) = item.map_err(storage)?;
        let mut has_record = false;
        while let Some(key) = existing.key() {
            if key > &id[..] {
                break;
            }
            if key == &id[..] {
                has_record = true;
            } else {
                last.delete_cf(structures, key);
            }
            existing.next();
        }
        existing.status().map_err(storage)?;
        if has_record {
            continue;
        }
        let record = encode_structure(&parse_structure(&content))?;
        bytes += record.len();
        records += 1;
        batch.put_cf(structures, &id, record);
        if records >= STRUCTURE_BATCH_RECORDS || bytes >= STRUCTURE_BATCH_BYTES {
            db.write_opt(std::mem::take(&mut batch), &wo).map_err(storage)?;
            done += records;
            (records, bytes) = (0, 0);
            tracing::info!(messages = done, "store upgrade: message structures computed");
        }
    }
    while let Some(key) = existing.key() {
        last.delete_cf(structures, key);
        existing.next();
    }
    existing.status().map_err(storage)?;
    db.write_opt(batch, &wo).map_err(storage)?;
    tracing::info!(messages = done + records, "store upgrade: every blob has its message structure");
    Ok(())
}

pub(crate) fn check_and_migrate(db: &Db) -> Result<()> {
    let meta = cf(db, CF_META);
    let stored = db.get_cf(meta, META_FORMAT).map_err(storage)?;
    let mut version = match stored {
        None => {
            let empty = ALL_CFS.iter().all(|name| db.iterator_cf(cf(db, name), IteratorMode::Start).next().is_none());
            if !empty {
                return Err(Error::Format(
                    "the store holds data but records no format version; it was not written by this software".into(),
                ));
            }
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            db.put_cf_opt(meta, META_FORMAT, FORMAT_VERSION.to_be_bytes(), &wo).map_err(storage)?;
            return Ok(());
        }
        Some(bytes) => {
            let arr: [u8; 4] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| Error::Format(format!("unreadable format version record ({} bytes)", bytes.len())))?;
            u32::from_be_bytes(arr)
        }
    };
    if version > FORMAT_VERSION {
        return Err(Error::Format(format!(
            "the store is in format {version}, newer than format {FORMAT_VERSION} that this version of the software \
             understands; upgrade the software or restore a backup"
        )));
    }
    if version == 0 {
        return Err(Error::Format("the store records format 0, which never existed".into()));
    }
    while version < FORMAT_VERSION {
        let migrate = MIGRATIONS
            .get(version as usize - 1)
            .ok_or_else(|| Error::Format(format!("no migration from format {version}")))?;
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        let mut batch = WriteBatch::default();
        migrate(db, &mut batch)?;
        batch.put_cf(meta, META_FORMAT, (version + 1).to_be_bytes());
        db.write_opt(batch, &wo).map_err(storage)?;
        tracing::info!(from = version, to = version + 1, "store format upgraded");
        version += 1;
    }
    Ok(())
}
