//! Core of the axigen mail platform: the directory model, policy inheritance
//! with provenance, licensing, and the traits every storage, directory and
//! protocol crate builds on.
//!
//! This crate does no I/O of its own. The embedded default implementation of
//! its storage traits is `axigen-store` (RocksDB); protocol sessions live in
//! `axigen-protocols` and `axigen-activesync`.
//!
//! ```
//! use axigen_core::model::{AccountClass, Domain, DomainName};
//! use axigen_core::settings::{resolve, Overrides, Provenance, ServerDefaults, Setting};
//!
//! let domain = Domain { name: DomainName::new("example.com")?, settings: Overrides::default(), postmaster: None };
//! let mut class = AccountClass { domain: domain.name.clone(), name: "mobile".into(), settings: Overrides::default() };
//! class.settings.activesync_enabled = Setting::Explicit(true);
//!
//! let effective = resolve(&ServerDefaults::default(), &domain, Some(&class), &Overrides::default());
//! assert!(effective.activesync_enabled.value);
//! assert_eq!(effective.activesync_enabled.source, Provenance::Class("mobile".into()));
//! # Ok::<(), axigen_core::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod acl;
pub mod autoreply;
pub mod delivery;
pub mod devices;
pub mod directory;
pub mod groupware;
pub mod itemstore;
pub mod license;
pub mod login_throttle;
pub mod mailstore;
pub mod model;
pub mod notify;
pub mod password;
pub mod queue;
pub mod rpop;
pub mod settings;
pub mod structure;

/// Errors shared by the core traits and their implementations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value supplied by a client or an administrator is not acceptable.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The named object does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The named object exists already.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The operation conflicts with the object's state (e.g. deleting a class in use).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The account's quota does not allow the operation.
    #[error("over quota: {0}")]
    OverQuota(String),
    /// The storage backend failed; the operation did not take effect.
    #[error("storage failure: {0}")]
    Storage(String),
    /// The store's disk has too little free space for the write; it did not
    /// take effect. Temporary: writes resume once space is freed.
    #[error("not enough disk space: {0}")]
    NoSpace(String),
    /// The store's files are damaged (checksums fail); the text says what
    /// is affected and what to do.
    #[error("store damaged: {0}")]
    Damaged(String),
    /// The stored data is not what this version of the software understands.
    #[error("store format: {0}")]
    Format(String),
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Current time as unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Days since 1970-01-01 as (year, month 1-12, day 1-31), proleptic
/// Gregorian (Howard Hinnant's `civil_from_days`): the one conversion every
/// protocol's date format is written from.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
