//! The processing pipeline between "message received" and "message stored"
//! (seed 3.2.2, Processing): a chain of [`DeliveryFilter`]s that decides, per
//! recipient, to deliver into a folder, to reject, or to discard.
//!
//! Embedders add their own filters; the built-in ones live next to the SMTP
//! backend in `axigen-protocols` (size limits, match rules, external
//! scanners). A filter sees the raw message and a summary parsed once by the
//! caller, so no filter parses the message again.

use std::fmt;
use std::net::IpAddr;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::model::{AccountId, Principal};

/// Headers of the message, decoded once, in order.
#[derive(Debug, Clone, Default)]
pub struct MessageSummary {
    /// (name, value) pairs; values decoded to UTF-8 (RFC 2047 words decoded).
    pub headers: Vec<(String, String)>,
    /// The message size in bytes.
    pub size: u64,
}

impl MessageSummary {
    /// Values of every header with this name (case-insensitive).
    pub fn header<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the pipeline knows about the message being processed.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The envelope sender; `None` for the null reverse path (bounces).
    pub envelope_from: Option<&'a str>,
    /// The client's address, when the message came over the network.
    pub peer: Option<IpAddr>,
    /// The authenticated sender, for submissions.
    pub authenticated: Option<&'a Principal>,
    /// The message as received (with our trace header prepended).
    pub raw: &'a Bytes,
    /// Its headers, parsed once.
    pub summary: &'a MessageSummary,
}

/// An SMTP-style refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Basic reply code (4xx temporary, 5xx permanent).
    pub code: u16,
    /// Enhanced status code (RFC 3463), e.g. (5, 7, 1).
    pub enhanced: (u8, u16, u16),
    /// Human-readable text.
    pub text: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b, c) = self.enhanced;
        write!(f, "{} {a}.{b}.{c} {}", self.code, self.text)
    }
}

/// The decision for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Store into this folder of the recipient's account (`/`-separated name).
    Deliver {
        /// Folder name; `INBOX` unless a rule filed it elsewhere.
        folder: String,
    },
    /// Hand to the outbound queue (non-local recipient of a submission).
    Relay,
    /// Refuse for this recipient.
    Reject(Refusal),
    /// Accept and drop silently (e.g. a rule for known junk).
    Discard,
}

/// One recipient going through the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientVerdict {
    /// The recipient address as given in RCPT TO.
    pub address: String,
    /// The local account, `None` for a remote recipient.
    pub account: Option<AccountId>,
    /// The decision so far; filters change it.
    pub verdict: Verdict,
}

/// Why a filter could not decide (scanner down, timeout, ...). The pipeline
/// then fails open or closed as configured for that filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// A processing step. Filters run in order; each may change the verdicts the
/// previous ones left (a `Reject` or `Discard` is normally left alone).
#[async_trait]
pub trait DeliveryFilter: Send + Sync {
    /// Name for logs and configuration.
    fn name(&self) -> &str;
    /// Whether mail is accepted when the filter fails (`true`, fail-open) or
    /// refused with a temporary error (`false`, fail-closed).
    fn fail_open(&self) -> bool {
        false
    }
    /// Examines the message and adjusts the recipients' verdicts.
    async fn apply(&self, message: &Incoming<'_>, recipients: &mut [RecipientVerdict]) -> Result<(), FilterError>;
}
