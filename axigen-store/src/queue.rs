//! The outbound queue ([`QueueStore`]) in the `queue` column family. The
//! content is a blob like any stored message (deduplicated and refcounted), so
//! a message sent to local and remote recipients is stored once.

use async_trait::async_trait;
use axigen_core::mailstore::BlobId;
use axigen_core::queue::{OutboundMessage, QueueEntry, QueueId, QueueStore};
use axigen_core::{Error, Result, unix_now};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::commit::{cf, storage};
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

fn decode(v: &[u8]) -> Result<QueueRecord> {
    serde_json::from_slice(v).map_err(|e| Error::Storage(format!("corrupt queue record: {e}")))
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
                        from: message.from,
                        recipients: message.recipients,
                        queued_at: now,
                        attempts: 0,
                        next_attempt: now,
                        size: message.content.len() as u64,
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

    async fn update_queued(&self, id: QueueId, remaining: Vec<String>, next_attempt: u64) -> Result<()> {
        self.committer
            .submit(0, move |ctx| {
                let key = id.0.to_be_bytes();
                let mut record = match ctx.get(CF_QUEUE, &key)? {
                    Some(v) => decode(&v)?,
                    None => return Err(Error::NotFound(format!("queued message {}", id.0))),
                };
                if remaining.is_empty() {
                    blob_decref(ctx, &blob_from_hex(&record.blob)?)?;
                    return ctx.delete(CF_QUEUE, &key);
                }
                record.entry.recipients = remaining;
                record.entry.attempts += 1;
                record.entry.next_attempt = next_attempt;
                let json = serde_json::to_vec(&record).map_err(|e| Error::Storage(e.to_string()))?;
                ctx.put(CF_QUEUE, &key, &json)
            })
            .await
    }
}
