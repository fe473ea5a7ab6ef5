//! Licensing: editions, features, signed licence files and per-feature seats.
//!
//! A server runs under one [`License`], issued by the vendor for an
//! [`Edition`]. The edition decides which [`Feature`]s exist at all; the
//! licence then may cap the total number of accounts
//! ([`License::max_accounts`]) and the number of accounts that may use a
//! feature ([`License::seats`]). The trial and office editions do not offer
//! ActiveSync, and the number of accounts that have access to a seat-limited
//! feature is limited through the licensing information.
//!
//! # Feature matrix
//!
//! | Feature      | Trial | Office | Business | Enterprise |
//! |--------------|:-----:|:------:|:--------:|:----------:|
//! | `activesync` |  no   |   no   |   yes    |    yes     |
//! | `webmail`    |  yes  |  yes   |   yes    |    yes     |
//! | `groupware`  |  yes  |  yes   |   yes    |    yes     |
//! | `clustering` |  yes  |   no   |   yes    |    yes     |
//! | `backup`     |  yes  |  yes   |   yes    |    yes     |
//! | `rpop`       |  yes  |  yes   |   yes    |    yes     |
//!
//! A feature the edition offers is unlimited unless the licence lists it in
//! [`License::seats`]; then at most that many accounts may use it.
//!
//! # Signed licence file
//!
//! The vendor signs licences with an Ed25519 key ([`generate_vendor_keypair`],
//! [`sign_license`]); the server only knows the public key and accepts a
//! licence only if [`verify_license`] succeeds. The file is a JSON document:
//!
//! ```json
//! {
//!   "format": 1,
//!   "payload": "<base64 (standard alphabet, padded) of the JSON bytes of the License>",
//!   "signature": "<base64 of the 64-byte Ed25519 signature over exactly those bytes>"
//! }
//! ```
//!
//! The signature covers the decoded payload bytes, so the licence JSON is
//! never re-serialised before verification, and it is parsed only after the
//! signature has been checked (with `verify_strict`, which also rejects weak
//! keys and malleable signatures).
//!
//! # Seats
//!
//! Seats are handed out first come, first served by [`Licensing::authorize`]
//! and recorded in a [`SeatStore`]; an account that holds a seat keeps it
//! until an administrator releases it ([`Licensing::release_seat`]). If a new
//! licence lowers a seat limit below the number of current holders, the
//! earliest holders (in acquisition order) up to the new limit keep access and
//! the others are refused until seats are released or the limit is raised
//! again; their seats are not released automatically.
//!
//! # Layout
//!
//! The types are defined in private submodules and re-exported here, so every
//! item is reached as `axigen_core::license::X`: the licence file format and
//! its signatures (`file`), where the licence in force comes from
//! (`provider`), and the seat ledger with the licensing decisions (`seats`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod file;
mod provider;
mod seats;

pub use file::{
    LICENSE_FORMAT, LicenseError, PublicKeyText, SigningKeyText, generate_vendor_keypair, sign_license, verify_license,
};
pub use provider::{LicenseProvider, SignedLicenseProvider, StaticLicenseProvider};
pub use seats::{Clock, LicenseRefusal, Licensing, MemorySeatStore, SeatAcquire, SeatGrant, SeatState, SeatStore};

// ---------------------------------------------------------------------------
// Editions and features
// ---------------------------------------------------------------------------

/// A product edition. The edition decides which [`Feature`]s exist at all
/// (see [`Edition::offers`] and the matrix in the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    /// Time-limited evaluation edition.
    Trial,
    /// Small-office edition.
    Office,
    /// Business edition.
    Business,
    /// Enterprise edition.
    Enterprise,
}

impl Edition {
    /// Every edition, from the smallest to the largest.
    pub const ALL: [Edition; 4] = [Edition::Trial, Edition::Office, Edition::Business, Edition::Enterprise];

    /// The lower-case name used in licence files, the admin API and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Edition::Trial => "trial",
            Edition::Office => "office",
            Edition::Business => "business",
            Edition::Enterprise => "enterprise",
        }
    }

    /// Whether this edition offers `feature` at all (the feature matrix).
    ///
    /// Trial and office do not offer ActiveSync; office does not offer
    /// clustering either; every other combination is offered.
    pub const fn offers(self, feature: Feature) -> bool {
        !matches!(
            (self, feature),
            (Edition::Trial | Edition::Office, Feature::ActiveSync) | (Edition::Office, Feature::Clustering)
        )
    }
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`Edition::from_str`]: the text names no edition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown edition {0:?} (expected one of: trial, office, business, enterprise)")]
pub struct UnknownEdition(pub String);

impl FromStr for Edition {
    type Err = UnknownEdition;

    /// Parses an edition name, ignoring ASCII case and surrounding blanks.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Edition::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownEdition(s.to_owned()))
    }
}

/// A licensable feature of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feature {
    /// Exchange ActiveSync for mobile devices (`activesync`).
    ActiveSync,
    /// The web mail client (`webmail`).
    Webmail,
    /// Calendars, contacts and tasks (`groupware`).
    Groupware,
    /// Running the server as a cluster (`clustering`).
    Clustering,
    /// Online backup and restore (`backup`).
    Backup,
    /// Retrieving mail from remote POP3/IMAP accounts (`rpop`).
    Rpop,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 6] = [
        Feature::ActiveSync,
        Feature::Webmail,
        Feature::Groupware,
        Feature::Clustering,
        Feature::Backup,
        Feature::Rpop,
    ];

    /// The name used in licence files, the admin API and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Feature::ActiveSync => "activesync",
            Feature::Webmail => "webmail",
            Feature::Groupware => "groupware",
            Feature::Clustering => "clustering",
            Feature::Backup => "backup",
            Feature::Rpop => "rpop",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`Feature::from_str`]: the text names no feature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature {0:?} (expected one of: activesync, webmail, groupware, clustering, backup, rpop)")]
pub struct UnknownFeature(pub String);

impl FromStr for Feature {
    type Err = UnknownFeature;

    /// Parses a feature name, ignoring ASCII case and surrounding blanks.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Feature::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownFeature(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------
// The licence
// ---------------------------------------------------------------------------

/// The licensing information of a server, as issued (and signed) by the
/// vendor.
///
/// Unknown fields are rejected when parsing, so a licence carrying a
/// restriction this server does not understand is refused instead of being
/// silently widened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct License {
    /// Vendor's identifier of this licence.
    pub id: String,
    /// Who the licence was issued to.
    pub licensee: String,
    /// The licensed edition.
    pub edition: Edition,
    /// When the licence was issued, in unix seconds.
    pub issued_at: u64,
    /// When the licence stops being valid, in unix seconds; `None` never
    /// expires.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Most accounts the server may hold in total; `None` is unlimited.
    #[serde(default)]
    pub max_accounts: Option<u32>,
    /// Per-feature seat limits: how many accounts may use the feature. A
    /// feature the edition offers but which is absent here is unlimited.
    #[serde(default)]
    pub seats: BTreeMap<Feature, u32>,
}

impl License {
    /// Whether the licence has expired at `now_unix` (unix seconds). A
    /// licence is expired from its `expires_at` second on.
    pub fn is_expired(&self, now_unix: u64) -> bool {
        self.expires_at.is_some_and(|end| now_unix >= end)
    }

    /// The seat limit of `feature`, or `None` if the licence does not limit
    /// it. This does not look at the edition: use [`Edition::offers`] to know
    /// whether the feature is available at all.
    pub fn seat_limit(&self, feature: Feature) -> Option<u32> {
        self.seats.get(&feature).copied()
    }
}

#[cfg(test)]
mod tests;
