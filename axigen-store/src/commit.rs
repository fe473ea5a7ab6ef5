//! The committer: one thread that applies every mutation, with group commit.
//!
//! Implementation notes (invariants every write keeps):
//!
//! - All mutations run on the committer thread, one after another, inside a
//!   RocksDB transaction that holds a whole group of operations. Being the only
//!   writer makes read-modify-write of counters (UIDNEXT, MODSEQ, quota usage,
//!   refcounts) race-free without locks.
//! - Each operation runs between a savepoint and either keeping its writes or
//!   rolling back to the savepoint, so a failed operation leaves no trace and
//!   does not disturb the others of its group.
//! - The group is committed with `sync = true`: one WAL write and one fsync for
//!   every operation in it. Readers (other threads) see a change only once it is
//!   committed, i.e. durable: a session can never observe, or be told about, a
//!   message that a crash could still take back.
//! - Replies and change notifications are sent only after the commit returned.
//! - While one group commits, the next one queues up; under load groups grow,
//!   which is what makes durable throughput scale with concurrency.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use axigen_core::mailstore::ModSeq;
use axigen_core::model::AccountId;
use axigen_core::notify::ChangeNotifier;
use axigen_core::{Error, Result};
use rocksdb::{ColumnFamily, Direction, IteratorMode, ReadOptions, Transaction, TransactionDB, TransactionOptions, WriteOptions};

use crate::keys::{prefix_end, ALL_CFS};

pub(crate) type Db = TransactionDB;

/// Operations of one group stop being collected past these bounds.
const MAX_GROUP_OPS: usize = 512;
const MAX_GROUP_BYTES: usize = 64 << 20;

/// What an operation sees: the open group transaction.
pub(crate) struct Ctx<'t> {
    pub txn: &'t Transaction<'t, Db>,
    db: &'t Db,
    notes: Vec<(AccountId, ModSeq)>,
}

impl<'t> Ctx<'t> {
    pub fn cf(&self, name: &str) -> &'t ColumnFamily {
        cf(self.db, name)
    }

    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.txn.get_cf(self.cf(cf), key).map_err(storage)
    }

    pub fn put(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.txn.put_cf(self.cf(cf), key, value).map_err(storage)
    }

    pub fn delete(&self, cf: &str, key: &[u8]) -> Result<()> {
        self.txn.delete_cf(self.cf(cf), key).map_err(storage)
    }

    /// Every (key, value) under a prefix, including this group's own writes.
    pub fn scan(&self, cf: &str, prefix: &[u8]) -> Result<Vec<(Box<[u8]>, Box<[u8]>)>> {
        let mut ro = ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            ro.set_iterate_upper_bound(end);
        }
        let it = self.txn.iterator_cf_opt(self.cf(cf), ro, IteratorMode::From(prefix, Direction::Forward));
        it.map(|r| r.map_err(storage)).collect()
    }

    /// Wake the account's waiters once this operation is durable.
    pub fn notify(&mut self, account: AccountId, modseq: ModSeq) {
        self.notes.push((account, modseq));
    }
}

pub(crate) fn cf<'d>(db: &'d Db, name: &str) -> &'d ColumnFamily {
    // Every name in ALL_CFS is created at open; a miss is a programming error.
    db.cf_handle(name).unwrap_or_else(|| panic!("column family {name} was created at open"))
}

pub(crate) fn storage(e: rocksdb::Error) -> Error {
    Error::Storage(e.into_string())
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
    pub fn start(db: Arc<Db>, notifier: Arc<ChangeNotifier>) -> Committer {
        debug_assert!(ALL_CFS.iter().all(|n| db.cf_handle(n).is_some()));
        let (tx, rx) = mpsc::channel::<Queued>();
        let thread = thread::Builder::new()
            .name("axigen-store-commit".into())
            .spawn(move || run(&db, &notifier, rx))
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
            ctx.txn.set_savepoint();
            let before = ctx.notes.len();
            let outcome = op(ctx);
            let notes: Vec<_> = ctx.notes.drain(before..).collect();
            let (outcome, notes) = match outcome {
                Ok(v) => (Ok(v), notes),
                Err(e) => {
                    let outcome = match ctx.txn.rollback_to_savepoint() {
                        Ok(()) => Err(e),
                        Err(re) => Err(Error::Storage(format!("{e}; rollback failed: {}", re.into_string()))),
                    };
                    (outcome, Vec::new())
                }
            };
            let reply: Reply = Box::new(move |committed| {
                let result = match committed {
                    Ok(()) => outcome,
                    Err(msg) => Err(Error::Storage(msg)),
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

fn run(db: &Db, notifier: &ChangeNotifier, rx: mpsc::Receiver<Queued>) {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    let to = TransactionOptions::default();
    while let Ok(first) = rx.recv() {
        let txn = db.transaction_opt(&wo, &to);
        let mut ctx = Ctx { txn: &txn, db, notes: Vec::new() };
        let mut replies = Vec::new();
        let mut notes = Vec::new();
        let mut bytes = first.weight;
        let (reply, n) = (first.job)(&mut ctx);
        replies.push(reply);
        notes.extend(n);
        while replies.len() < MAX_GROUP_OPS && bytes < MAX_GROUP_BYTES {
            let Ok(next) = rx.try_recv() else { break };
            bytes += next.weight;
            let (reply, n) = (next.job)(&mut ctx);
            replies.push(reply);
            notes.extend(n);
        }
        drop(ctx);
        let committed = txn.commit().map_err(|e| {
            let msg = e.into_string();
            tracing::error!(error = %msg, ops = replies.len(), "store commit failed");
            msg
        });
        if committed.is_ok() {
            for (account, modseq) in notes {
                notifier.notify(account, modseq);
            }
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}
