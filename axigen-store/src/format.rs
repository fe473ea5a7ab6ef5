//! Store format version and migrations.
//!
//! Format history:
//!
//! | version | change |
//! |---|---|
//! | 1 | first layout |
//! | 2 | adds the `queue` column family (outbound queue) |
//!
//! A layout change bumps [`FORMAT_VERSION`] and adds a function to
//! [`MIGRATIONS`] that rewrites a store of the previous version in one synced
//! write batch, together with a test that opens a store written in the
//! previous format (built key by key in the test) and checks it after upgrade.

use axigen_core::{Error, Result};
use rocksdb::{IteratorMode, WriteOptions};

use crate::commit::{Db, cf, storage};
use crate::keys::{ALL_CFS, CF_META, META_FORMAT};

/// The layout version this build reads and writes.
pub const FORMAT_VERSION: u32 = 2;

type Migration = fn(&Db, &mut rocksdb::WriteBatch) -> Result<()>;

/// `MIGRATIONS[i]` upgrades a store from version `i + 1` to `i + 2`.
const MIGRATIONS: &[Migration] = &[add_queue];

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
        let mut batch = rocksdb::WriteBatch::default();
        migrate(db, &mut batch)?;
        batch.put_cf(meta, META_FORMAT, (version + 1).to_be_bytes());
        db.write_opt(batch, &wo).map_err(storage)?;
        tracing::info!(from = version, to = version + 1, "store format upgraded");
        version += 1;
    }
    Ok(())
}
