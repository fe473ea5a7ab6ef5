//! The committer: one thread that applies every mutation, with group commit.
//!
//! Implementation notes (invariants every write keeps):
//!
//! - All mutations run on the committer thread, one after another, collecting
//!   the writes of a whole group of operations in memory. Being the only
//!   writer makes read-modify-write of counters (UIDNEXT, MODSEQ, quota usage,
//!   refcounts) race-free without locks.
//! - Each operation runs between a savepoint and either keeping its writes or
//!   rolling back to the savepoint, so a failed operation leaves no trace and
//!   does not disturb the others of its group.
//! - The group is written as one `WriteBatch` with `sync = true`: one WAL write
//!   and one fsync for every operation in it, and the batch is atomic. Readers (other threads) see a change only once it is
//!   committed, i.e. durable: a session can never observe, or be told about, a
//!   message that a crash could still take back.
//! - Replies and change notifications are sent only after the commit returned.
//! - While one group commits, the next one queues up; under load groups grow,
//!   which is what makes durable throughput scale with concurrency.
//! - Before a group is collected, the free space of the store's file system
//!   is read once. An operation that would leave less than the configured
//!   reserve (its weight counted twice: once in the WAL, once in the table
//!   or blob file it is flushed to) is refused with `Error::NoSpace` without
//!   running, and so is every operation once less than half the reserve is
//!   left. RocksDB itself never meets a full disk through our writes, so it
//!   never stops on one, and writes resume as soon as space is freed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use axigen_core::mailstore::{BlobId, ModSeq};
use axigen_core::model::AccountId;
use axigen_core::notify::ChangeNotifier;
use axigen_core::{Error, Result};
use rocksdb::{ColumnFamily, Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions};

use crate::headers::BlobCaches;
use crate::keys::{ALL_CFS, CF_BLOB, Row, prefix_end};

pub(crate) type Db = rocksdb::DB;

/// Operations of one group stop being collected past these bounds.
const MAX_GROUP_OPS: usize = 512;
const MAX_GROUP_BYTES: usize = 64 << 20;

type Slot = (u8, Vec<u8>);

/// What an operation sees: the durable state plus the group's pending writes.
///
/// The group's writes live in `pending` (column family index and key to the
/// new value, `None` for a deletion) until the whole group is written as one
/// synced batch; reads consult `pending` first, so each operation sees the
/// operations before it. `undo` records the previous pending entry of every
/// write, so a failed operation is rolled back exactly.
pub(crate) struct Ctx<'t> {
    db: &'t Db,
    pending: BTreeMap<Slot, Option<Vec<u8>>>,
    undo: Vec<(Slot, Option<Option<Vec<u8>>>)>,
    notes: Vec<(AccountId, ModSeq)>,
    /// Set by the committer for an operation it refuses without running.
    refusal: Option<Error>,
}

fn cf_index(name: &str) -> u8 {
    ALL_CFS.iter().position(|n| *n == name).unwrap_or_else(|| panic!("unknown column family {name}")) as u8
}

impl<'t> Ctx<'t> {
    fn new(db: &'t Db) -> Self {
        Ctx { db, pending: BTreeMap::new(), undo: Vec::new(), notes: Vec::new(), refusal: None }
    }

    pub fn get(&self, cf_name: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.pending.get(&(cf_index(cf_name), key.to_vec())) {
            return Ok(v.clone());
        }
        self.db.get_cf(cf(self.db, cf_name), key).map_err(storage)
    }

    fn write(&mut self, cf_name: &str, key: &[u8], value: Option<Vec<u8>>) {
        let slot = (cf_index(cf_name), key.to_vec());
        let previous = self.pending.insert(slot.clone(), value);
        self.undo.push((slot, previous));
    }

    pub fn put(&mut self, cf_name: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(cf_name, key, Some(value.to_vec()));
        Ok(())
    }

    pub fn delete(&mut self, cf_name: &str, key: &[u8]) -> Result<()> {
        self.write(cf_name, key, None);
        Ok(())
    }

    /// Every (key, value) under a prefix, including this group's own writes.
    pub fn scan(&self, cf_name: &str, prefix: &[u8]) -> Result<Vec<Row>> {
        let mut ro = ReadOptions::default();
        let end = prefix_end(prefix);
        if let Some(end) = &end {
            ro.set_iterate_upper_bound(end.clone());
        }
        let mut rows: BTreeMap<Box<[u8]>, Box<[u8]>> = BTreeMap::new();
        for r in self.db.iterator_cf_opt(cf(self.db, cf_name), ro, IteratorMode::From(prefix, Direction::Forward)) {
            let (k, v) = r.map_err(storage)?;
            rows.insert(k, v);
        }
        let idx = cf_index(cf_name);
        let from = (idx, prefix.to_vec());
        for ((_, k), v) in self.pending.range(from..).take_while(|((i, k), _)| *i == idx && k.starts_with(prefix)) {
            match v {
                Some(v) => rows.insert(k.clone().into_boxed_slice(), v.clone().into_boxed_slice()),
                None => rows.remove(k.as_slice()),
            };
        }
        Ok(rows.into_iter().collect())
    }

    /// Wake the account's waiters once this operation is durable.
    pub fn notify(&mut self, account: AccountId, modseq: ModSeq) {
        self.notes.push((account, modseq));
    }

    fn savepoint(&self) -> usize {
        self.undo.len()
    }

    fn rollback_to(&mut self, mark: usize) {
        while self.undo.len() > mark {
            let Some((slot, previous)) = self.undo.pop() else { break };
            match previous {
                Some(v) => self.pending.insert(slot, v),
                None => self.pending.remove(&slot),
            };
        }
    }

    fn into_batch(self) -> WriteBatch {
        let mut batch = WriteBatch::default();
        for ((idx, key), value) in self.pending {
            let handle = cf(self.db, ALL_CFS[idx as usize]);
            match value {
                Some(v) => batch.put_cf(handle, key, v),
                None => batch.delete_cf(handle, key),
            }
        }
        batch
    }
}

pub(crate) fn cf<'d>(db: &'d Db, name: &str) -> &'d ColumnFamily {
    // Every name in ALL_CFS is created at open; a miss is a programming error.
    db.cf_handle(name).unwrap_or_else(|| panic!("column family {name} was created at open"))
}

pub(crate) fn storage(e: rocksdb::Error) -> Error {
    commit_error(e.into_string())
}

/// A RocksDB error message as a core error: a full disk is `NoSpace`;
/// damage is recorded (see the integrity module).
fn commit_error(msg: String) -> Error {
    crate::integrity::note_error(&msg);
    if msg.contains("No space left on device") || msg.contains("NoSpace") {
        Error::NoSpace(msg)
    } else {
        Error::Storage(msg)
    }
}

/// The free space kept on the store's file system.
#[derive(Debug, Clone)]
pub(crate) struct SpaceGuard {
    /// A path on the file system (the store's directory).
    pub path: std::path::PathBuf,
    /// Bytes that writes must leave free; 0 turns the guard off.
    pub reserve: u64,
}

impl SpaceGuard {
    /// Bytes available to unprivileged writers, if the file system says.
    pub fn free(&self) -> Option<u64> {
        if self.reserve == 0 {
            return None;
        }
        let st = rustix::fs::statvfs(&self.path).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }
}

type Reply = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;
type Job = Box<dyn for<'t> FnOnce(&mut Ctx<'t>) -> (Reply, Vec<(AccountId, ModSeq)>) + Send>;

struct Queued {
    job: Job,
    weight: usize,
}

/// Handle used by the store to submit operations.
pub(crate) struct Committer {
    tx: Option<mpsc::Sender<Queued>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Committer {
    pub fn start(db: Arc<Db>, notifier: Arc<ChangeNotifier>, space: SpaceGuard, blobs: Arc<BlobCaches>) -> Committer {
        debug_assert!(ALL_CFS.iter().all(|n| db.cf_handle(n).is_some()));
        let (tx, rx) = mpsc::channel::<Queued>();
        let thread = thread::Builder::new()
            .name("axigen-store-commit".into())
            .spawn(move || run(&db, &notifier, &space, &blobs, rx))
            .expect("spawning the committer thread");
        Committer { tx: Some(tx), thread: Some(thread) }
    }

    /// Runs `op` in the next group and resolves once the group is durable.
    /// `weight` is a size hint (bytes written) used to bound group size.
    pub async fn submit<T, F>(&self, weight: usize, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&mut Ctx<'t>) -> Result<T> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |ctx: &mut Ctx<'_>| {
            let mark = ctx.savepoint();
            let before = ctx.notes.len();
            let outcome = match ctx.refusal.take() {
                Some(refused) => Err(refused),
                None => op(ctx),
            };
            let notes: Vec<_> = ctx.notes.drain(before..).collect();
            let (outcome, notes) = match outcome {
                Ok(v) => (Ok(v), notes),
                Err(e) => {
                    ctx.rollback_to(mark);
                    (Err(e), Vec::new())
                }
            };
            let reply: Reply = Box::new(move |committed| {
                let result = match committed {
                    Ok(()) => outcome,
                    Err(msg) => Err(commit_error(msg)),
                };
                let _ = reply_tx.send(result);
            });
            (reply, notes)
        });
        self.tx
            .as_ref()
            .ok_or_else(|| Error::Storage("store is closed".into()))?
            .send(Queued { job, weight })
            .map_err(|_| Error::Storage("store is closed".into()))?;
        reply_rx.await.map_err(|_| Error::Storage("store committer stopped".into()))?
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs one operation. A panic (a bug) is contained: the operation's writes
/// are rolled back, its caller gets an error (its reply channel is dropped),
/// and the committer goes on serving everyone else.
fn apply(ctx: &mut Ctx<'_>, job: Job) -> Option<(Reply, Vec<(AccountId, ModSeq)>)> {
    let mark = ctx.savepoint();
    let notes_before = ctx.notes.len();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(ctx))) {
        Ok(done) => Some(done),
        Err(_) => {
            ctx.rollback_to(mark);
            ctx.notes.truncate(notes_before);
            tracing::error!("a store operation panicked; its writes were rolled back");
            None
        }
    }
}

fn run(db: &Db, notifier: &ChangeNotifier, space: &SpaceGuard, blobs: &BlobCaches, rx: mpsc::Receiver<Queued>) {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    let mut warned = false;
    while let Ok(first) = rx.recv() {
        let mut ctx = Ctx::new(db);
        let mut replies = Vec::new();
        let mut notes = Vec::new();
        let mut bytes = 0;
        let mut free = space.free();
        let mut next = Some(first);
        while let Some(queued) = next.take() {
            bytes += queued.weight;
            if let Some(left) = free.as_mut() {
                let needed = (queued.weight as u64).saturating_mul(2);
                let floor = if needed == 0 { space.reserve / 2 } else { space.reserve };
                if *left < floor.saturating_add(needed) {
                    if !warned {
                        tracing::error!(free = *left, reserve = space.reserve, path = %space.path.display(),
                            "the store's disk is full: writes are refused until space is freed");
                        warned = true;
                    }
                    ctx.refusal = Some(Error::NoSpace(format!(
                        "{} bytes free on the store's disk, {} kept in reserve",
                        *left, space.reserve
                    )));
                } else {
                    *left -= needed;
                }
            }
            if let Some((reply, n)) = apply(&mut ctx, queued.job) {
                replies.push(reply);
                notes.extend(n);
            }
            if replies.len() < MAX_GROUP_OPS && bytes < MAX_GROUP_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if warned && free.is_some_and(|f| f >= space.reserve.saturating_mul(2)) {
            tracing::info!(path = %space.path.display(), "the store's disk has space again: writes resume");
            warned = false;
        }
        // Blobs this group deletes: what the caches keep of them goes once
        // the deletion is durable.
        let blob_cf = cf_index(CF_BLOB);
        let deleted: Vec<BlobId> = ctx
            .pending
            .range((blob_cf, Vec::new())..(blob_cf + 1, Vec::new()))
            .filter(|(_, value)| value.is_none())
            .filter_map(|((_, key), _)| key.as_slice().try_into().ok().map(BlobId))
            .collect();
        let committed = if ctx.pending.is_empty() {
            // Nothing to write (every operation refused or read-only).
            Ok(())
        } else {
            db.write_opt(ctx.into_batch(), &wo).map_err(|e| {
                let msg = e.into_string();
                tracing::error!(error = %msg, ops = replies.len(), "store commit failed");
                msg
            })
        };
        if committed.is_ok() {
            if !deleted.is_empty() {
                blobs.forget(&deleted);
            }
            for (account, modseq) in notes {
                notifier.notify(account, modseq);
            }
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::keys::CF_META;
    use crate::{Store, StoreOptions};

    #[tokio::test]
    async fn a_panicking_operation_is_rolled_back_and_the_committer_keeps_going() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let failed = store
            .committer
            .submit(0, |ctx| -> axigen_core::Result<()> {
                ctx.put(CF_META, b"test-key", b"half-done")?;
                panic!("simulated bug in an operation");
            })
            .await;
        assert!(failed.is_err());
        store.committer.submit(0, |ctx| ctx.put(CF_META, b"other", b"ok")).await.unwrap();
        let meta = crate::commit::cf(&store.db, CF_META);
        assert_eq!(store.db.get_cf(meta, b"other").unwrap().as_deref(), Some(&b"ok"[..]));
        assert_eq!(store.db.get_cf(meta, b"test-key").unwrap(), None, "the panicked write was rolled back");
    }
}
