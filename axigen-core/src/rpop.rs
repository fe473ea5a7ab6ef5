//! RPOP (seed 3.2.11): remote POP3 mailboxes fetched into local accounts.
//!
//! An account has any number of [`RpopSource`]s. What has been fetched from
//! a source is remembered by the remote UIDL: [`RpopStore::deliver_fetched`]
//! stores the message and its UIDL in one atomic write, so a crash at any
//! point neither loses a message (it is fetched again: its UIDL was not
//! recorded) nor duplicates one (its UIDL was recorded with it). Only after
//! that write does the fetcher delete the message on the remote server
//! (when the source does not leave mail there).

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::mailstore::{Appended, FolderId, QuotaLimit};
use crate::model::AccountId;
use crate::{Error, Result};

/// How the connection to the remote server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RpopTls {
    /// Plain text (only for trusted networks).
    None,
    /// STLS after the greeting (RFC 2595).
    #[default]
    Stls,
    /// TLS from the first byte (pop3s, port 995).
    Implicit,
}

/// One remote mailbox to fetch.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpopSource {
    /// The local account.
    pub account: AccountId,
    /// The source's name within the account (letters, digits, `.`, `_`,
    /// `-`; at most 64).
    pub name: String,
    /// Remote host.
    pub host: String,
    /// Remote port.
    pub port: u16,
    /// Connection security.
    #[serde(default)]
    pub tls: RpopTls,
    /// Remote user name.
    pub username: String,
    /// Remote password. Never logged, never returned by the admin API.
    pub password: String,
    /// Local folder the messages go to.
    #[serde(default = "default_folder")]
    pub folder: String,
    /// Leave fetched messages on the server (else they are deleted there
    /// once stored here).
    #[serde(default)]
    pub leave_on_server: bool,
    /// Seconds between fetches.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Whether the source is fetched at all.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_folder() -> String {
    "INBOX".into()
}
fn default_interval() -> u64 {
    600
}
fn yes() -> bool {
    true
}

impl std::fmt::Debug for RpopSource {
    /// Hides the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpopSource")
            .field("account", &self.account)
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("folder", &self.folder)
            .field("leave_on_server", &self.leave_on_server)
            .field("interval_secs", &self.interval_secs)
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl RpopSource {
    /// Checks the fields; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        let invalid = |what: &str| Err(Error::Invalid(format!("rpop source {:?}: {what}", self.name)));
        if !name_ok {
            return invalid("name: 1 to 64 letters, digits, '.', '_' or '-'");
        }
        if self.host.trim().is_empty() || self.host.contains(char::is_whitespace) {
            return invalid("host: a host name or address");
        }
        if self.port == 0 {
            return invalid("port: 1 to 65535");
        }
        if self.username.is_empty() || self.username.contains(['\r', '\n']) {
            return invalid("username: required, one line");
        }
        if self.password.contains(['\r', '\n']) {
            return invalid("password: one line");
        }
        if self.folder.trim().is_empty() {
            return invalid("folder: required");
        }
        if self.interval_secs == 0 {
            return invalid("interval_secs: at least 1");
        }
        Ok(())
    }
}

/// How the last fetches of a source went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpopStatus {
    /// Last fetch that ended (Unix seconds; 0 = never).
    pub last_run: i64,
    /// Its error, if it failed.
    pub last_error: Option<String>,
    /// Failures in a row (the fetcher backs off on them).
    pub failures: u32,
    /// Messages fetched since the source was created.
    pub fetched: u64,
}

/// Storage of sources, what was fetched from them, and their status.
#[async_trait]
pub trait RpopStore: Send + Sync {
    /// Every source of every account.
    async fn rpop_sources(&self) -> Result<Vec<RpopSource>>;
    /// The sources of one account.
    async fn account_rpop_sources(&self, account: AccountId) -> Result<Vec<RpopSource>>;
    /// Creates or replaces a source (validated; the account must exist).
    async fn put_rpop_source(&self, source: RpopSource) -> Result<()>;
    /// Removes a source with its UIDLs and status; `false` when none.
    async fn delete_rpop_source(&self, account: AccountId, name: &str) -> Result<bool>;
    /// The UIDLs fetched from a source and still remembered.
    async fn rpop_uidls(&self, account: AccountId, name: &str) -> Result<Vec<String>>;
    /// Stores a fetched message in `folder` and remembers its UIDL, in one
    /// durable write; `None` (and nothing stored) when the UIDL is already
    /// remembered.
    #[allow(clippy::too_many_arguments)] // one durable write takes all of them
    async fn deliver_fetched(
        &self,
        account: AccountId,
        name: &str,
        uidl: &str,
        folder: FolderId,
        quota: QuotaLimit,
        content: Bytes,
        internal_date: i64,
    ) -> Result<Option<Appended>>;
    /// Remembers a UIDL without storing anything (a message the filters
    /// refused or discarded: it is not fetched again).
    async fn remember_fetched(&self, account: AccountId, name: &str, uidl: &str) -> Result<()>;
    /// Forgets the UIDLs of a source that are not in `on_server` (the
    /// server no longer has those messages).
    async fn prune_rpop_uidls(&self, account: AccountId, name: &str, on_server: Vec<String>) -> Result<u64>;
    /// The status of a source.
    async fn rpop_status(&self, account: AccountId, name: &str) -> Result<RpopStatus>;
    /// Replaces the status of a source.
    async fn set_rpop_status(&self, account: AccountId, name: &str, status: RpopStatus) -> Result<()>;
}
