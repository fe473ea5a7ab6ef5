//! The outbound queue ([`QueueStore`]) in the `queue` column family. The
//! content is a blob like any stored message (deduplicated and refcounted), so
//! a message sent to local and remote recipients is stored once.

use async_trait::async_trait;
use axigen_core::mailstore::BlobId;
use axigen_core::queue::{
    Attempt, OutboundMessage, QueueEntry, QueueId, QueueStats, QueueStore, QueuedRecipient, RecipientState,
};
use axigen_core::{Error, Result, unix_now};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::commit::{Ctx, cf, storage};
use crate::keys::*;
use crate::mail::{NewBlob, blob_decref, blob_incref};

#[derive(Serialize, Deserialize)]
pub(crate) struct QueueRecord {
    pub entry: QueueEntry,
    /// Hex BLAKE3 of the content.
    pub blob: String,
}

pub(crate) fn blob_from_hex(hex: &str) -> Result<BlobId> {
    let mut id = [0u8; 32];
    if hex.len() != 64 {
        return Err(corrupt("queue blob id"));
    }
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| corrupt("queue blob id"))?;
    }
    Ok(BlobId(id))
}

pub(crate) fn decode(v: &[u8]) -> Result<QueueRecord> {
    serde_json::from_slice(v).map_err(|e| Error::Storage(format!("corrupt queue record: {e}")))
}

fn encode(record: &QueueRecord) -> Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(|e| Error::Storage(format!("encoding queue record: {e}")))
}

/// A format-6 queue record: the recipients still to deliver as bare
/// addresses (rewritten by the 6 -> 7 upgrade).
#[derive(Deserialize)]
pub(crate) struct LegacyRecord {
    entry: LegacyEntry,
    blob: String,
}

#[derive(Deserialize)]
struct LegacyEntry {
    id: QueueId,
    from: String,
    recipients: Vec<String>,
    queued_at: u64,
    attempts: u32,
    next_attempt: u64,
    size: u64,
}

impl LegacyRecord {
    /// The same message in the current layout: every recipient pending, or
    /// deferred when it was tried before.
    pub(crate) fn upgrade(self) -> QueueRecord {
        let e = self.entry;
        let state = if e.attempts > 0 {
            RecipientState::Deferred { last_error: "tried before the upgrade".into() }
        } else {
            RecipientState::Pending
        };
        let recipients =
            e.recipients.into_iter().map(|address| QueuedRecipient { address, state: state.clone() }).collect();
        QueueRecord {
            entry: QueueEntry {
                id: e.id,
                message_id: String::new(),
                from: e.from,
                recipients,
                queued_at: e.queued_at,
                attempts: e.attempts,
                next_attempt: e.next_attempt,
                size: e.size,
                delay_notified: false,
            },
            blob: self.blob,
        }
    }
}

fn counter(ctx: &Ctx<'_>, key: &[u8]) -> Result<u64> {
    ctx.get(CF_META, key)?.map_or(Ok(0), |b| be64(&b))
}

/// Removes a message and its blob reference.
fn remove(ctx: &mut Ctx<'_>, key: &[u8], record: &QueueRecord) -> Result<()> {
    blob_decref(ctx, &blob_from_hex(&record.blob)?)?;
    ctx.delete(CF_QUEUE, key)
}

impl Store {
    fn queue_record(&self, id: QueueId) -> Result<QueueRecord> {
        match self.db.get_cf(cf(&self.db, CF_QUEUE), id.0.to_be_bytes()).map_err(storage)? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!("queued message {}", id.0))),
        }
    }
}

#[async_trait]
impl QueueStore for Store {
    async fn enqueue(&self, message: OutboundMessage) -> Result<QueueId> {
        if message.recipients.is_empty() {
            return Err(Error::Invalid("a queued message needs at least one recipient".into()));
        }
        // Hash and parse here, on the caller's thread, so the committer only writes.
        let blob = NewBlob::prepare(message.content.clone())?;
        self.committer
            .submit(blob.weight(), move |ctx| {
                let id = match ctx.get(CF_META, META_NEXT_QUEUE_ID)? {
                    Some(b) => be64(&b)?,
                    None => 1,
                };
                ctx.put(CF_META, META_NEXT_QUEUE_ID, &(id + 1).to_be_bytes())?;
                blob_incref(ctx, &blob.id, Some(&blob))?;
                let now = unix_now();
                let record = QueueRecord {
                    entry: QueueEntry {
                        id: QueueId(id),
                        message_id: message.message_id,
                        from: message.from,
                        recipients: message
                            .recipients
                            .into_iter()
                            .map(|address| QueuedRecipient { address, state: RecipientState::Pending })
                            .collect(),
                        queued_at: now,
                        attempts: 0,
                        next_attempt: now,
                        size: message.content.len() as u64,
                        delay_notified: false,
                    },
                    blob: blob.id.to_hex(),
                };
                let json = serde_json::to_vec(&record).map_err(|e| Error::Storage(e.to_string()))?;
                ctx.put(CF_QUEUE, &id.to_be_bytes(), &json)?;
                Ok(QueueId(id))
            })
            .await
    }

    async fn queued(&self) -> Result<Vec<QueueEntry>> {
        self.scan(CF_QUEUE, b"")?.iter().map(|(_, v)| decode(v).map(|r| r.entry)).collect()
    }

    async fn queued_content(&self, id: QueueId) -> Result<Bytes> {
        let record = self.queue_record(id)?;
        axigen_core::mailstore::MailStore::content(self, blob_from_hex(&record.blob)?).await
    }

    async fn queued_entry(&self, id: QueueId) -> Result<Option<QueueEntry>> {
        match self.queue_record(id) {
            Ok(r) => Ok(Some(r.entry)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn record_attempt(&self, id: QueueId, attempt: Attempt) -> Result<Option<QueueEntry>> {
        self.committer
            .submit(0, move |ctx| {
                let key = id.0.to_be_bytes();
                let mut record = match ctx.get(CF_QUEUE, &key)? {
                    Some(v) => decode(&v)?,
                    None => return Err(Error::NotFound(format!("queued message {}", id.0))),
                };
                let (mut delivered, mut failed) = (0u64, 0u64);
                for (address, state) in attempt.outcomes {
                    let Some(r) = record.entry.recipients.iter_mut().find(|r| r.address == address) else {
                        return Err(Error::Invalid(format!("{address} is not a recipient of queued message {}", id.0)));
                    };
                    // A final state stays: a recipient is counted once.
                    if r.state.is_final() {
                        continue;
                    }
                    match &state {
                        RecipientState::Delivered { .. } => delivered += 1,
                        RecipientState::Failed { .. } => failed += 1,
                        _ => {}
                    }
                    r.state = state;
                }
                for (k, n) in [(META_QUEUE_DELIVERED, delivered), (META_QUEUE_FAILED, failed)] {
                    if n > 0 {
                        let total = counter(ctx, k)? + n;
                        ctx.put(CF_META, k, &total.to_be_bytes())?;
                    }
                }
                if attempt.counts {
                    record.entry.attempts += 1;
                }
                record.entry.delay_notified |= attempt.delay_notified;
                record.entry.next_attempt = attempt.next_attempt;
                if record.entry.recipients.iter().all(|r| r.state.is_final()) {
                    remove(ctx, &key, &record)?;
                    return Ok(None);
                }
                ctx.put(CF_QUEUE, &key, &encode(&record)?)?;
                Ok(Some(record.entry))
            })
            .await
    }

    async fn retry_now(&self, id: QueueId) -> Result<()> {
        self.committer
            .submit(0, move |ctx| {
                let key = id.0.to_be_bytes();
                let mut record = match ctx.get(CF_QUEUE, &key)? {
                    Some(v) => decode(&v)?,
                    None => return Err(Error::NotFound(format!("queued message {}", id.0))),
                };
                record.entry.next_attempt = unix_now();
                ctx.put(CF_QUEUE, &key, &encode(&record)?)
            })
            .await
    }

    async fn delete_queued(&self, id: QueueId) -> Result<()> {
        self.committer
            .submit(0, move |ctx| {
                let key = id.0.to_be_bytes();
                let record = match ctx.get(CF_QUEUE, &key)? {
                    Some(v) => decode(&v)?,
                    None => return Err(Error::NotFound(format!("queued message {}", id.0))),
                };
                remove(ctx, &key, &record)
            })
            .await
    }

    async fn queue_stats(&self) -> Result<QueueStats> {
        let mut stats = QueueStats::default();
        for (_, v) in self.scan(CF_QUEUE, b"")? {
            let record = decode(&v)?;
            stats.queued += 1;
            if record.entry.recipients.iter().any(|r| matches!(r.state, RecipientState::Deferred { .. })) {
                stats.deferred += 1;
            }
        }
        let read = |k: &[u8]| -> Result<u64> {
            self.db.get_cf(cf(&self.db, CF_META), k).map_err(storage)?.map_or(Ok(0), |b| be64(&b))
        };
        stats.delivered = read(META_QUEUE_DELIVERED)?;
        stats.failed = read(META_QUEUE_FAILED)?;
        Ok(stats)
    }
}
