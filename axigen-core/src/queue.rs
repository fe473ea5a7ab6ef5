//! The outbound queue: messages accepted for remote recipients wait here,
//! durably, until the SMTP sending service delivers or bounces them.

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Result;

/// Identity of a queued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueId(pub u64);

/// A message to hand to remote hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The id the message was accepted under (the SMTP reply, the
    /// `Received:` field and the logs show it); empty when it has none.
    pub message_id: String,
    /// Envelope sender; empty for the null reverse path.
    pub from: String,
    /// Remote recipients.
    pub recipients: Vec<String>,
    /// The message, trace headers included.
    pub content: Bytes,
}

/// Where one recipient of a queued message stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RecipientState {
    /// Not tried yet.
    Pending,
    /// Handed to a remote host: recorded before the message's final dot
    /// is sent, so that a crash before the answer is recorded is known
    /// (such a recipient is tried again: the window SMTP itself leaves,
    /// RFC 1047, where a peer may get the message twice).
    InFlight {
        /// When the attempt started (Unix seconds).
        since: u64,
    },
    /// Refused for now (4xx, no answer, no route): tried again later.
    Deferred {
        /// The last error, as the remote host or the resolver said it.
        last_error: String,
    },
    /// Accepted by the remote host.
    Delivered {
        /// When (Unix seconds).
        at: u64,
        /// The host's reply.
        reply: String,
    },
    /// Refused for good (5xx, no such domain, null MX) or expired.
    Failed {
        /// When (Unix seconds).
        at: u64,
        /// Why.
        reply: String,
    },
}

impl RecipientState {
    /// Whether nothing more will be done for the recipient.
    pub fn is_final(&self) -> bool {
        matches!(self, RecipientState::Delivered { .. } | RecipientState::Failed { .. })
    }
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRecipient {
    /// The address.
    pub address: String,
    /// Where it stands.
    #[serde(flatten)]
    pub state: RecipientState,
}

/// A message waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Identity.
    pub id: QueueId,
    /// The id the message was accepted under, as in its `Received:` field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message_id: String,
    /// Envelope sender.
    pub from: String,
    /// Every recipient with its state; the message leaves the queue when
    /// all are final.
    pub recipients: Vec<QueuedRecipient>,
    /// When it was queued (unix seconds).
    pub queued_at: u64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not to be tried before this time (unix seconds).
    pub next_attempt: u64,
    /// Size of the message in bytes.
    pub size: u64,
    /// Whether the sender was told of the delay.
    #[serde(default)]
    pub delay_notified: bool,
}

impl QueueEntry {
    /// The recipients still to be delivered (pending, deferred, or in
    /// flight when the attempt was cut short).
    pub fn open_recipients(&self) -> impl Iterator<Item = &QueuedRecipient> {
        self.recipients.iter().filter(|r| !r.state.is_final())
    }
}

/// The outcome of one attempt for some recipients of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// New states, by recipient address (recipients not named keep theirs).
    pub outcomes: Vec<(String, RecipientState)>,
    /// When to try the open recipients again (unix seconds).
    pub next_attempt: u64,
    /// Counts as a delivery attempt (false for the "before" record).
    pub counts: bool,
    /// The sender was told of the delay with this attempt.
    pub delay_notified: bool,
}

/// Counters for reporting: messages in the queue and recipients handled
/// since the store was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Messages in the queue.
    pub queued: u64,
    /// Messages in the queue with a deferred recipient.
    pub deferred: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Recipients failed.
    pub failed: u64,
}

/// Durable storage of the outbound queue.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Adds a message; durable when the future resolves.
    async fn enqueue(&self, message: OutboundMessage) -> Result<QueueId>;
    /// Every queued message, oldest first.
    async fn queued(&self) -> Result<Vec<QueueEntry>>;
    /// One queued message.
    async fn queued_entry(&self, id: QueueId) -> Result<Option<QueueEntry>>;
    /// The content of a queued message.
    async fn queued_content(&self, id: QueueId) -> Result<Bytes>;
    /// Records states of recipients in one durable write; the message
    /// leaves the queue when every recipient is final. Delivered and failed
    /// recipients are counted in [`QueueStats`]. Returns the entry as
    /// written (`None` once it left the queue).
    async fn record_attempt(&self, id: QueueId, attempt: Attempt) -> Result<Option<QueueEntry>>;
    /// Makes a message due now (administration: retry now).
    async fn retry_now(&self, id: QueueId) -> Result<()>;
    /// Removes a message without delivering it (administration).
    async fn delete_queued(&self, id: QueueId) -> Result<()>;
    /// The counters.
    async fn queue_stats(&self) -> Result<QueueStats>;
}
