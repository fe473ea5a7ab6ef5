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
    /// Envelope sender; empty for the null reverse path.
    pub from: String,
    /// Remote recipients.
    pub recipients: Vec<String>,
    /// The message, trace headers included.
    pub content: Bytes,
}

/// A message waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Identity.
    pub id: QueueId,
    /// Envelope sender.
    pub from: String,
    /// Recipients not yet delivered.
    pub recipients: Vec<String>,
    /// When it was queued (unix seconds).
    pub queued_at: u64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not to be tried before this time (unix seconds).
    pub next_attempt: u64,
    /// Size of the message in bytes.
    pub size: u64,
}

/// Durable storage of the outbound queue.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Adds a message; durable when the future resolves.
    async fn enqueue(&self, message: OutboundMessage) -> Result<QueueId>;
    /// Every queued message, oldest first.
    async fn queued(&self) -> Result<Vec<QueueEntry>>;
    /// The content of a queued message.
    async fn queued_content(&self, id: QueueId) -> Result<Bytes>;
    /// Records an attempt: the recipients still pending and when to retry.
    /// An empty recipient list removes the message.
    async fn update_queued(&self, id: QueueId, remaining: Vec<String>, next_attempt: u64) -> Result<()>;
}
