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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::model::AccountId;

/// The licence file format version this module reads and writes.
pub const LICENSE_FORMAT: u64 = 1;

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

// ---------------------------------------------------------------------------
// Signed licence files
// ---------------------------------------------------------------------------

/// The vendor's Ed25519 signing key: base64 of the 32-byte secret seed. Keep
/// it secret; it never belongs on a mail server.
pub type SigningKeyText = String;

/// The vendor's Ed25519 public key: base64 of the 32-byte key. Servers are
/// configured with it to verify licence files.
pub type PublicKeyText = String;

/// Why a licence file could not be produced, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    /// The licence file is not the expected JSON document.
    #[error("the licence file is not a valid licence document: {0}")]
    BadJson(String),
    /// The licence file has a format version this server does not read.
    #[error("licence file format {0} is not supported (this server reads format {LICENSE_FORMAT})")]
    UnsupportedFormat(u64),
    /// A required field of the licence file is missing.
    #[error("the licence file has no \"{0}\" field")]
    MissingField(&'static str),
    /// A field (or key) that must be base64 is not.
    #[error("the {field} is not valid base64: {detail}")]
    BadBase64 {
        /// Which value: "payload", "signature", "public key" or "signing key".
        field: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// A decoded key or signature has the wrong number of bytes.
    #[error("the {field} is {actual} bytes long, expected {expected}")]
    BadLength {
        /// Which value: "signature", "public key" or "signing key".
        field: &'static str,
        /// The required length.
        expected: usize,
        /// The decoded length.
        actual: usize,
    },
    /// The configured public key is not a usable Ed25519 public key.
    #[error("the configured public key is not a valid Ed25519 public key")]
    BadPublicKey,
    /// The signature does not match the payload under the configured key:
    /// the file was altered or signed by someone else.
    #[error("the licence signature does not verify with the configured public key")]
    BadSignature,
    /// The signed payload is not a valid [`License`].
    #[error("the signed licence payload is not a valid licence: {0}")]
    BadPayload(String),
    /// The licence could not be serialised for signing.
    #[error("cannot serialise the licence: {0}")]
    Serialize(String),
    /// The licence file could not be read.
    #[error("cannot read licence file {path}: {detail}")]
    Io {
        /// The file's path.
        path: String,
        /// The operating system's complaint.
        detail: String,
    },
}

/// The outer JSON document of a licence file.
#[derive(Serialize, Deserialize)]
struct LicenseFile {
    format: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

fn decode_b64(field: &'static str, text: &str) -> Result<Vec<u8>, LicenseError> {
    BASE64.decode(text.trim()).map_err(|e| LicenseError::BadBase64 { field, detail: e.to_string() })
}

fn decode_fixed<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], LicenseError> {
    let bytes = decode_b64(field, text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| LicenseError::BadLength {
        field,
        expected: N,
        actual: bytes.len(),
    })
}

fn parse_public_key(public_key_b64: &str) -> Result<VerifyingKey, LicenseError> {
    let bytes = decode_fixed::<32>("public key", public_key_b64)?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| LicenseError::BadPublicKey)?;
    if key.is_weak() {
        return Err(LicenseError::BadPublicKey);
    }
    Ok(key)
}

fn verify_with_key(file_text: &str, key: &VerifyingKey) -> Result<License, LicenseError> {
    let file: LicenseFile = serde_json::from_str(file_text).map_err(|e| LicenseError::BadJson(e.to_string()))?;
    if file.format != LICENSE_FORMAT {
        return Err(LicenseError::UnsupportedFormat(file.format));
    }
    let payload_b64 = file.payload.ok_or(LicenseError::MissingField("payload"))?;
    let signature_b64 = file.signature.ok_or(LicenseError::MissingField("signature"))?;
    let payload = decode_b64("payload", &payload_b64)?;
    let signature = Signature::from_bytes(&decode_fixed::<64>("signature", &signature_b64)?);
    key.verify_strict(&payload, &signature).map_err(|_| LicenseError::BadSignature)?;
    serde_json::from_slice(&payload).map_err(|e| LicenseError::BadPayload(e.to_string()))
}

/// Creates a fresh vendor key pair from the operating system's random number
/// generator: (base64 of the 32-byte secret seed, base64 of the 32-byte
/// public key).
pub fn generate_vendor_keypair() -> (SigningKeyText, PublicKeyText) {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    (BASE64.encode(key.to_bytes()), BASE64.encode(key.verifying_key().to_bytes()))
}

/// Signs `license` with the vendor key (base64 of the 32-byte seed) and
/// returns the text of the licence file (see the module documentation).
pub fn sign_license(license: &License, signing_key_b64: &str) -> Result<String, LicenseError> {
    let seed = decode_fixed::<32>("signing key", signing_key_b64)?;
    let key = SigningKey::from_bytes(&seed);
    let payload = serde_json::to_vec(license).map_err(|e| LicenseError::Serialize(e.to_string()))?;
    let signature = key.sign(&payload);
    let file = LicenseFile {
        format: LICENSE_FORMAT,
        payload: Some(BASE64.encode(&payload)),
        signature: Some(BASE64.encode(signature.to_bytes())),
    };
    serde_json::to_string_pretty(&file).map_err(|e| LicenseError::Serialize(e.to_string()))
}

/// Verifies a licence file against the vendor public key (base64 of the
/// 32-byte key) and returns the licence it carries.
///
/// The signature is checked with Ed25519 `verify_strict` over the exact
/// decoded payload bytes before the payload is parsed. Whether the licence
/// has expired is not checked here (see [`License::is_expired`]).
pub fn verify_license(file_text: &str, public_key_b64: &str) -> Result<License, LicenseError> {
    let key = parse_public_key(public_key_b64)?;
    verify_with_key(file_text, &key)
}

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

fn rfc3339(unix: &u64) -> String {
    // humantime formats up to the end of year 9999 and fails beyond it.
    const LAST_FORMATTABLE: u64 = 253_402_300_799;
    if *unix > LAST_FORMATTABLE {
        return format!("unix time {unix}");
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(*unix)).to_string()
}

fn no_free_seat_text(feature: &Feature, limit: &u32) -> String {
    match limit {
        0 => format!("the licence grants no {feature} seats"),
        1 => format!("the only {feature} seat of the licence is in use"),
        n => format!("all {n} {feature} seats of the licence are in use"),
    }
}

fn account_limit_text(limit: &u32) -> String {
    match limit {
        1 => "the licence allows at most 1 account".to_owned(),
        n => format!("the licence allows at most {n} accounts"),
    }
}

/// Why the licence refuses an operation. `Display` is a sentence for people;
/// the serde form carries a machine-readable `reason` tag for the admin API,
/// e.g. `{"reason":"no_free_seat","feature":"activesync","limit":2}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum LicenseRefusal {
    /// No licence is installed.
    #[error("no licence is installed")]
    NoLicense,
    /// The licence has expired.
    #[error("the licence expired on {}", rfc3339(.expired_at))]
    Expired {
        /// When it expired, in unix seconds.
        expired_at: u64,
    },
    /// The licensed edition does not offer the feature.
    #[error("the {edition} edition does not offer {feature}")]
    EditionLacksFeature {
        /// The licensed edition.
        edition: Edition,
        /// The feature asked for.
        feature: Feature,
    },
    /// Every seat of a seat-limited feature is taken.
    #[error("{}", no_free_seat_text(.feature, .limit))]
    NoFreeSeat {
        /// The feature asked for.
        feature: Feature,
        /// The licence's seat limit for it.
        limit: u32,
    },
    /// The server already holds as many accounts as the licence allows.
    #[error("{}", account_limit_text(.limit))]
    AccountLimit {
        /// The licence's account limit.
        limit: u32,
    },
    /// The seat ledger could not be consulted, so no decision was possible.
    #[error("the licence seat ledger is unavailable: {detail}")]
    Unavailable {
        /// The storage error.
        detail: String,
    },
}

// ---------------------------------------------------------------------------
// Licence providers
// ---------------------------------------------------------------------------

/// Where the current licence comes from.
pub trait LicenseProvider: Send + Sync {
    /// The licence in force now, or `None` if none is installed.
    fn current(&self) -> Option<License>;
}

/// A provider of a licence fixed in code, for embedders and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticLicenseProvider(pub Option<License>);

impl LicenseProvider for StaticLicenseProvider {
    fn current(&self) -> Option<License> {
        self.0.clone()
    }
}

/// The reference provider: a vendor-signed licence file, verified against
/// the configured vendor public key. An administrator may install a new
/// licence at run time with [`SignedLicenseProvider::reload_from`].
#[derive(Debug)]
pub struct SignedLicenseProvider {
    public_key: VerifyingKey,
    license: RwLock<Option<License>>,
}

impl SignedLicenseProvider {
    /// Verifies `file_text` with `public_key_b64` and holds the licence.
    pub fn new(file_text: &str, public_key_b64: &str) -> Result<Self, LicenseError> {
        let public_key = parse_public_key(public_key_b64)?;
        let license = verify_with_key(file_text, &public_key)?;
        Ok(SignedLicenseProvider { public_key, license: RwLock::new(Some(license)) })
    }

    /// Reads the licence file at `path` and verifies it like [`Self::new`].
    pub fn from_file(path: impl AsRef<Path>, public_key_b64: &str) -> Result<Self, LicenseError> {
        let text = read_license_file(path.as_ref())?;
        Self::new(&text, public_key_b64)
    }

    /// A provider with no licence installed yet (every check is refused with
    /// [`LicenseRefusal::NoLicense`] until [`Self::reload_from`] succeeds).
    pub fn without_license(public_key_b64: &str) -> Result<Self, LicenseError> {
        let public_key = parse_public_key(public_key_b64)?;
        Ok(SignedLicenseProvider { public_key, license: RwLock::new(None) })
    }

    /// Verifies a new licence file and, if it verifies, installs it in place
    /// of the current one and returns it. On error the current licence stays.
    pub fn reload_from(&self, file_text: &str) -> Result<License, LicenseError> {
        let license = verify_with_key(file_text, &self.public_key)?;
        // The guarded value is replaced whole, so a poisoned lock cannot hold
        // a half-written licence.
        let mut slot = self.license.write().unwrap_or_else(|e| e.into_inner());
        *slot = Some(license.clone());
        drop(slot);
        tracing::info!(
            license = %license.id,
            licensee = %license.licensee,
            edition = %license.edition,
            "licence installed"
        );
        Ok(license)
    }

    /// Reads the licence file at `path` and installs it like
    /// [`Self::reload_from`].
    pub fn reload_from_file(&self, path: impl AsRef<Path>) -> Result<License, LicenseError> {
        let text = read_license_file(path.as_ref())?;
        self.reload_from(&text)
    }
}

fn read_license_file(path: &Path) -> Result<String, LicenseError> {
    std::fs::read_to_string(path)
        .map_err(|e| LicenseError::Io { path: path.display().to_string(), detail: e.to_string() })
}

impl LicenseProvider for SignedLicenseProvider {
    fn current(&self) -> Option<License> {
        self.license.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

// ---------------------------------------------------------------------------
// Seat ledger
// ---------------------------------------------------------------------------

/// Outcome of [`SeatStore::acquire_seat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SeatAcquire {
    /// The account already held a seat of the feature; nothing changed.
    AlreadyHeld,
    /// The account was given a new seat.
    Granted,
    /// Every seat is taken (at least `limit` holders); nothing changed.
    Full {
        /// How many accounts hold a seat.
        holders: u32,
    },
}

/// The persistent record of which accounts hold a seat of which feature.
#[async_trait]
pub trait SeatStore: Send + Sync {
    /// Atomically: if `account` holds a seat of `feature`, answer
    /// [`SeatAcquire::AlreadyHeld`]; else if fewer than `limit` accounts hold
    /// one, record `account` as the newest holder and answer
    /// [`SeatAcquire::Granted`]; else answer [`SeatAcquire::Full`].
    async fn acquire_seat(&self, feature: Feature, account: AccountId, limit: u32)
    -> Result<SeatAcquire, crate::Error>;

    /// Releases `account`'s seat of `feature`; `true` if it held one.
    async fn release_seat(&self, feature: Feature, account: AccountId) -> Result<bool, crate::Error>;

    /// The accounts holding a seat of `feature`, earliest acquisition first.
    async fn seat_holders(&self, feature: Feature) -> Result<Vec<AccountId>, crate::Error>;
}

/// An in-memory [`SeatStore`] (seats are lost on restart): for tests,
/// embedders and single-process deployments without persistent storage.
#[derive(Debug, Default)]
pub struct MemorySeatStore {
    holders: Mutex<HashMap<Feature, Vec<AccountId>>>,
}

impl MemorySeatStore {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Feature, Vec<AccountId>>> {
        // Every critical section leaves the map consistent (a single push or
        // remove), so a poisoned lock is safe to keep using.
        self.holders.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[async_trait]
impl SeatStore for MemorySeatStore {
    async fn acquire_seat(
        &self,
        feature: Feature,
        account: AccountId,
        limit: u32,
    ) -> Result<SeatAcquire, crate::Error> {
        let mut map = self.lock();
        let holders = map.entry(feature).or_default();
        if holders.contains(&account) {
            Ok(SeatAcquire::AlreadyHeld)
        } else if count(holders.len()) < limit {
            holders.push(account);
            Ok(SeatAcquire::Granted)
        } else {
            Ok(SeatAcquire::Full { holders: count(holders.len()) })
        }
    }

    async fn release_seat(&self, feature: Feature, account: AccountId) -> Result<bool, crate::Error> {
        let mut map = self.lock();
        let Some(holders) = map.get_mut(&feature) else {
            return Ok(false);
        };
        match holders.iter().position(|a| *a == account) {
            Some(index) => {
                holders.remove(index);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn seat_holders(&self, feature: Feature) -> Result<Vec<AccountId>, crate::Error> {
        Ok(self.lock().get(&feature).cloned().unwrap_or_default())
    }
}

// ---------------------------------------------------------------------------
// Licensing decisions
// ---------------------------------------------------------------------------

/// A clock answering the current time in unix seconds.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// What [`Licensing::authorize`] granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatGrant {
    /// Whether the licence limits the feature by seats (if so, the account
    /// now holds one).
    pub seat_limited: bool,
    /// Whether this call took a new seat for the account (as opposed to the
    /// account already holding one, or the feature being unlimited).
    pub new_seat: bool,
}

/// An account's standing for a feature, for the admin view; computed
/// without acquiring anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SeatState {
    /// The account holds one of the `limit` seats of the feature and may use
    /// it.
    HoldsSeat {
        /// The licence's seat limit.
        limit: u32,
        /// The account's place among the holders, 0 for the earliest.
        position: u32,
    },
    /// The account does not hold a seat, but would be allowed to use the
    /// feature now (taking a seat if the feature is seat-limited).
    WouldBeGranted {
        /// The licence's seat limit; `None` if the feature is unlimited.
        limit: Option<u32>,
        /// How many accounts hold a seat of the feature.
        holders: u32,
    },
    /// The account would be refused.
    Refused {
        /// Why.
        refusal: LicenseRefusal,
        /// Whether the account nevertheless holds a seat (e.g. after the
        /// limit was lowered below the number of holders).
        holds_seat: bool,
    },
}

/// Licensing decisions: combines the licence in force, the seat ledger and a
/// clock.
#[derive(Clone)]
pub struct Licensing {
    provider: Arc<dyn LicenseProvider>,
    seats: Arc<dyn SeatStore>,
    clock: Clock,
}

impl fmt::Debug for Licensing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Licensing").field("license", &self.provider.current()).finish_non_exhaustive()
    }
}

fn unavailable(error: crate::Error) -> LicenseRefusal {
    tracing::warn!(%error, "licence seat ledger unavailable");
    LicenseRefusal::Unavailable { detail: error.to_string() }
}

impl Licensing {
    /// Licensing with the system clock.
    pub fn new(provider: Arc<dyn LicenseProvider>, seats: Arc<dyn SeatStore>) -> Self {
        Self::with_clock(provider, seats, Arc::new(system_clock))
    }

    /// Licensing with a given clock (unix seconds), e.g. a fixed one in tests.
    pub fn with_clock(provider: Arc<dyn LicenseProvider>, seats: Arc<dyn SeatStore>, clock: Clock) -> Self {
        Licensing { provider, seats, clock }
    }

    /// The licence in force, if any (expired or not).
    pub fn license(&self) -> Option<License> {
        self.provider.current()
    }

    /// The current time of this instance's clock, in unix seconds.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    /// The installed licence if it has not expired.
    fn valid_license(&self) -> Result<License, LicenseRefusal> {
        let license = self.provider.current().ok_or(LicenseRefusal::NoLicense)?;
        if license.is_expired(self.now()) {
            return Err(LicenseRefusal::Expired { expired_at: license.expires_at.unwrap_or_default() });
        }
        Ok(license)
    }

    /// The licence in force and the feature's seat limit, after the licence,
    /// expiry and edition checks.
    fn feature_limit(&self, feature: Feature) -> Result<Option<u32>, LicenseRefusal> {
        let license = self.valid_license()?;
        if !license.edition.offers(feature) {
            return Err(LicenseRefusal::EditionLacksFeature { edition: license.edition, feature });
        }
        Ok(license.seat_limit(feature))
    }

    /// Decides whether `account` may use `feature` now.
    ///
    /// Refuses if no licence is installed, it has expired, or its edition
    /// does not offer the feature. If the feature is seat-limited, an account
    /// holding a seat keeps it (provided it is among the first `limit`
    /// holders, should the limit have been lowered); any other account takes
    /// a free seat, first come first served, or is refused with
    /// [`LicenseRefusal::NoFreeSeat`]. A seat ledger failure is refused with
    /// [`LicenseRefusal::Unavailable`].
    pub async fn authorize(&self, account: AccountId, feature: Feature) -> Result<SeatGrant, LicenseRefusal> {
        let Some(limit) = self.feature_limit(feature)? else {
            return Ok(SeatGrant { seat_limited: false, new_seat: false });
        };
        let held = SeatGrant { seat_limited: true, new_seat: false };
        let no_seat = LicenseRefusal::NoFreeSeat { feature, limit };
        // The common case is an account that already holds its seat: one read.
        let holders = self.seats.seat_holders(feature).await.map_err(unavailable)?;
        if let Some(position) = holders.iter().position(|a| *a == account) {
            return if count(position) < limit { Ok(held) } else { Err(no_seat) };
        }
        match self.seats.acquire_seat(feature, account, limit).await.map_err(unavailable)? {
            SeatAcquire::Granted => {
                tracing::info!(%account, %feature, limit, "licence seat granted");
                Ok(SeatGrant { seat_limited: true, new_seat: true })
            }
            SeatAcquire::Full { .. } => Err(no_seat),
            SeatAcquire::AlreadyHeld => {
                // Another request of the same account took the seat between
                // the two calls; decide on its position as above.
                let holders = self.seats.seat_holders(feature).await.map_err(unavailable)?;
                match holders.iter().position(|a| *a == account) {
                    Some(position) if count(position) < limit => Ok(held),
                    _ => Err(no_seat),
                }
            }
        }
    }

    /// The standing of `account` for `feature`, for the admin view; nothing
    /// is acquired. Fails only if the seat ledger cannot be read.
    pub async fn seat_state(&self, account: AccountId, feature: Feature) -> Result<SeatState, crate::Error> {
        let holders = self.seats.seat_holders(feature).await?;
        let position = holders.iter().position(|a| *a == account);
        let limit = match self.feature_limit(feature) {
            Ok(limit) => limit,
            Err(refusal) => {
                return Ok(SeatState::Refused { refusal, holds_seat: position.is_some() });
            }
        };
        let holder_count = count(holders.len());
        Ok(match (limit, position) {
            (None, _) => SeatState::WouldBeGranted { limit: None, holders: holder_count },
            (Some(limit), Some(position)) if count(position) < limit => {
                SeatState::HoldsSeat { limit, position: count(position) }
            }
            (Some(limit), Some(_)) => {
                SeatState::Refused { refusal: LicenseRefusal::NoFreeSeat { feature, limit }, holds_seat: true }
            }
            (Some(limit), None) if holder_count < limit => {
                SeatState::WouldBeGranted { limit: Some(limit), holders: holder_count }
            }
            (Some(limit), None) => {
                SeatState::Refused { refusal: LicenseRefusal::NoFreeSeat { feature, limit }, holds_seat: false }
            }
        })
    }

    /// The accounts holding a seat of `feature`, earliest first (admin).
    pub async fn seat_holders(&self, feature: Feature) -> Result<Vec<AccountId>, crate::Error> {
        self.seats.seat_holders(feature).await
    }

    /// Releases `account`'s seat of `feature` (admin); `true` if it held one.
    pub async fn release_seat(&self, account: AccountId, feature: Feature) -> Result<bool, crate::Error> {
        let released = self.seats.release_seat(feature, account).await?;
        if released {
            tracing::info!(%account, %feature, "licence seat released");
        }
        Ok(released)
    }

    /// Whether one more account may be created while the server holds
    /// `current_accounts` accounts: refused if no valid (installed,
    /// unexpired) licence is in force, or if `current_accounts` already
    /// reaches [`License::max_accounts`].
    pub fn check_account_count(&self, current_accounts: u32) -> Result<(), LicenseRefusal> {
        let license = self.valid_license()?;
        match license.max_accounts {
            Some(limit) if current_accounts >= limit => Err(LicenseRefusal::AccountLimit { limit }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn license(edition: Edition, seats: &[(Feature, u32)]) -> License {
        License {
            id: "LIC-0001".into(),
            licensee: "Example Ltd".into(),
            edition,
            issued_at: NOW - 86_400,
            expires_at: Some(NOW + 86_400),
            max_accounts: Some(100),
            seats: seats.iter().copied().collect(),
        }
    }

    fn licensing_at(license: Option<License>, now: u64) -> Licensing {
        Licensing::with_clock(
            Arc::new(StaticLicenseProvider(license)),
            Arc::new(MemorySeatStore::new()),
            Arc::new(move || now),
        )
    }

    fn licensing(license: License) -> Licensing {
        licensing_at(Some(license), NOW)
    }

    const A1: AccountId = AccountId(1);
    const A2: AccountId = AccountId(2);
    const A3: AccountId = AccountId(3);

    #[test]
    fn names_round_trip() {
        for f in Feature::ALL {
            assert_eq!(f.to_string().parse::<Feature>().unwrap(), f);
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
        }
        for e in Edition::ALL {
            assert_eq!(e.to_string().parse::<Edition>().unwrap(), e);
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
        }
        assert_eq!(Feature::ActiveSync.to_string(), "activesync");
        assert_eq!(" ActiveSync ".parse::<Feature>().unwrap(), Feature::ActiveSync);
        assert!("exchange".parse::<Feature>().is_err());
        assert!("gold".parse::<Edition>().is_err());
    }

    #[test]
    fn feature_matrix() {
        for f in Feature::ALL {
            assert!(Edition::Business.offers(f));
            assert!(Edition::Enterprise.offers(f));
            assert_eq!(Edition::Trial.offers(f), f != Feature::ActiveSync);
            assert_eq!(Edition::Office.offers(f), f != Feature::ActiveSync && f != Feature::Clustering);
        }
    }

    #[test]
    fn license_json_and_helpers() {
        let lic = license(Edition::Business, &[(Feature::ActiveSync, 2)]);
        let json = serde_json::to_value(&lic).unwrap();
        assert_eq!(json["edition"], "business");
        assert_eq!(json["seats"]["activesync"], 2);
        assert_eq!(lic.seat_limit(Feature::ActiveSync), Some(2));
        assert_eq!(lic.seat_limit(Feature::Webmail), None);
        assert!(!lic.is_expired(NOW));
        assert!(lic.is_expired(NOW + 86_400));
        let forever = License { expires_at: None, ..lic };
        assert!(!forever.is_expired(u64::MAX));
    }

    #[test]
    fn sign_verify_round_trip() {
        let (secret, public) = generate_vendor_keypair();
        assert_eq!(BASE64.decode(&secret).unwrap().len(), 32);
        assert_eq!(BASE64.decode(&public).unwrap().len(), 32);
        let lic = license(Edition::Enterprise, &[(Feature::ActiveSync, 50)]);
        let text = sign_license(&lic, &secret).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["format"], 1);
        let payload = BASE64.decode(doc["payload"].as_str().unwrap()).unwrap();
        assert_eq!(serde_json::from_slice::<License>(&payload).unwrap(), lic);
        assert_eq!(BASE64.decode(doc["signature"].as_str().unwrap()).unwrap().len(), 64);
        assert_eq!(verify_license(&text, &public).unwrap(), lic);
    }

    #[test]
    fn tampered_payload_fails() {
        let (secret, public) = generate_vendor_keypair();
        let lic = license(Edition::Office, &[]);
        let text = sign_license(&lic, &secret).unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let forged = License { edition: Edition::Enterprise, ..lic };
        doc["payload"] = BASE64.encode(serde_json::to_vec(&forged).unwrap()).into();
        let forged_text = doc.to_string();
        assert_eq!(verify_license(&forged_text, &public), Err(LicenseError::BadSignature));
    }

    #[test]
    fn wrong_key_fails() {
        let (secret, _) = generate_vendor_keypair();
        let (_, other_public) = generate_vendor_keypair();
        let text = sign_license(&license(Edition::Business, &[]), &secret).unwrap();
        let err = verify_license(&text, &other_public).unwrap_err();
        assert_eq!(err, LicenseError::BadSignature);
        assert!(err.to_string().contains("does not verify with the configured public key"));
    }

    #[test]
    fn malformed_files_are_named() {
        let (secret, public) = generate_vendor_keypair();
        let text = sign_license(&license(Edition::Business, &[]), &secret).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();

        assert!(matches!(verify_license("not json", &public), Err(LicenseError::BadJson(_))));
        let mut v2 = doc.clone();
        v2["format"] = 2.into();
        assert_eq!(verify_license(&v2.to_string(), &public), Err(LicenseError::UnsupportedFormat(2)));
        let mut no_sig = doc.clone();
        no_sig.as_object_mut().unwrap().remove("signature");
        assert_eq!(verify_license(&no_sig.to_string(), &public), Err(LicenseError::MissingField("signature")));
        let mut bad_payload = doc.clone();
        bad_payload["payload"] = "%%%".into();
        assert!(matches!(
            verify_license(&bad_payload.to_string(), &public),
            Err(LicenseError::BadBase64 { field: "payload", .. })
        ));
        let mut short_sig = doc.clone();
        short_sig["signature"] = BASE64.encode([0u8; 10]).into();
        assert_eq!(
            verify_license(&short_sig.to_string(), &public),
            Err(LicenseError::BadLength { field: "signature", expected: 64, actual: 10 })
        );
        assert!(matches!(verify_license(&text, "abc!"), Err(LicenseError::BadBase64 { field: "public key", .. })));
        // A signed payload that is not a licence is reported as such.
        let signing = SigningKey::from_bytes(&decode_fixed::<32>("signing key", &secret).unwrap());
        let junk = br#"{"id":"x"}"#;
        let junk_file = serde_json::json!({
            "format": 1,
            "payload": BASE64.encode(junk),
            "signature": BASE64.encode(signing.sign(junk).to_bytes()),
        });
        assert!(matches!(verify_license(&junk_file.to_string(), &public), Err(LicenseError::BadPayload(_))));
    }

    #[test]
    fn signed_provider_reloads() {
        let (secret, public) = generate_vendor_keypair();
        let office = license(Edition::Office, &[]);
        let business = license(Edition::Business, &[(Feature::ActiveSync, 3)]);
        let provider = SignedLicenseProvider::new(&sign_license(&office, &secret).unwrap(), &public).unwrap();
        assert_eq!(provider.current(), Some(office.clone()));

        // A file signed by someone else is rejected and the licence stays.
        let (other_secret, _) = generate_vendor_keypair();
        let forged = sign_license(&business, &other_secret).unwrap();
        assert_eq!(provider.reload_from(&forged), Err(LicenseError::BadSignature));
        assert_eq!(provider.current(), Some(office));

        let good = sign_license(&business, &secret).unwrap();
        assert_eq!(provider.reload_from(&good).unwrap(), business);
        assert_eq!(provider.current(), Some(business.clone()));

        let path = std::env::temp_dir().join(format!("axigen-license-test-{}-{}.json", std::process::id(), NOW));
        std::fs::write(&path, &good).unwrap();
        let from_file = SignedLicenseProvider::from_file(&path, &public).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(from_file.current(), Some(business));
        assert!(matches!(SignedLicenseProvider::from_file(&path, &public), Err(LicenseError::Io { .. })));

        let empty = SignedLicenseProvider::without_license(&public).unwrap();
        assert_eq!(empty.current(), None);
    }

    #[tokio::test]
    async fn no_license_refuses() {
        let l = licensing_at(None, NOW);
        assert_eq!(l.authorize(A1, Feature::Webmail).await, Err(LicenseRefusal::NoLicense));
        assert_eq!(l.check_account_count(0), Err(LicenseRefusal::NoLicense));
        assert_eq!(LicenseRefusal::NoLicense.to_string(), "no licence is installed");
    }

    #[tokio::test]
    async fn expiry_honoured_with_fixed_clock() {
        let lic = license(Edition::Business, &[]);
        let end = lic.expires_at.unwrap();
        let before = licensing_at(Some(lic.clone()), end - 1);
        assert!(before.authorize(A1, Feature::Webmail).await.is_ok());
        assert_eq!(before.check_account_count(0), Ok(()));

        let after = licensing_at(Some(lic), end);
        let refusal = after.authorize(A1, Feature::Webmail).await.unwrap_err();
        assert_eq!(refusal, LicenseRefusal::Expired { expired_at: end });
        // 1_700_086_400 is 2023-11-15T22:13:20Z.
        assert_eq!(refusal.to_string(), "the licence expired on 2023-11-15T22:13:20Z");
        assert_eq!(after.check_account_count(0), Err(refusal));
        assert_eq!(
            LicenseRefusal::Expired { expired_at: u64::MAX }.to_string(),
            format!("the licence expired on unix time {}", u64::MAX)
        );
    }

    #[tokio::test]
    async fn office_refuses_activesync() {
        // Even a seat entry cannot add a feature the edition lacks.
        let l = licensing(license(Edition::Office, &[(Feature::ActiveSync, 10)]));
        let refusal = l.authorize(A1, Feature::ActiveSync).await.unwrap_err();
        assert_eq!(
            refusal,
            LicenseRefusal::EditionLacksFeature { edition: Edition::Office, feature: Feature::ActiveSync }
        );
        assert_eq!(refusal.to_string(), "the office edition does not offer activesync");
        assert_eq!(
            serde_json::to_value(&refusal).unwrap(),
            serde_json::json!({
                "reason": "edition_lacks_feature",
                "edition": "office",
                "feature": "activesync"
            })
        );
        assert!(l.seat_holders(Feature::ActiveSync).await.unwrap().is_empty());
        assert!(matches!(
            l.seat_state(A1, Feature::ActiveSync).await.unwrap(),
            SeatState::Refused { refusal: LicenseRefusal::EditionLacksFeature { .. }, .. }
        ));
    }

    #[tokio::test]
    async fn business_activesync_seats() {
        let l = licensing(license(Edition::Business, &[(Feature::ActiveSync, 2)]));
        let fresh = SeatGrant { seat_limited: true, new_seat: true };
        let kept = SeatGrant { seat_limited: true, new_seat: false };

        assert_eq!(l.authorize(A1, Feature::ActiveSync).await, Ok(fresh));
        assert_eq!(l.authorize(A2, Feature::ActiveSync).await, Ok(fresh));
        let refusal = l.authorize(A3, Feature::ActiveSync).await.unwrap_err();
        assert_eq!(refusal, LicenseRefusal::NoFreeSeat { feature: Feature::ActiveSync, limit: 2 });
        assert!(refusal.to_string().contains("2 activesync seats"), "{refusal}");
        assert_eq!(
            serde_json::to_value(&refusal).unwrap(),
            serde_json::json!({"reason": "no_free_seat", "feature": "activesync", "limit": 2})
        );
        assert_eq!(
            l.seat_state(A3, Feature::ActiveSync).await.unwrap(),
            SeatState::Refused { refusal: refusal.clone(), holds_seat: false }
        );

        // Account 1 re-authorising keeps its seat without taking another.
        assert_eq!(l.authorize(A1, Feature::ActiveSync).await, Ok(kept));
        assert_eq!(l.seat_holders(Feature::ActiveSync).await.unwrap(), vec![A1, A2]);
        assert_eq!(
            l.seat_state(A2, Feature::ActiveSync).await.unwrap(),
            SeatState::HoldsSeat { limit: 2, position: 1 }
        );

        // Releasing account 2's seat lets account 3 in.
        assert!(l.release_seat(A2, Feature::ActiveSync).await.unwrap());
        assert!(!l.release_seat(A2, Feature::ActiveSync).await.unwrap());
        assert_eq!(
            l.seat_state(A3, Feature::ActiveSync).await.unwrap(),
            SeatState::WouldBeGranted { limit: Some(2), holders: 1 }
        );
        assert_eq!(l.authorize(A3, Feature::ActiveSync).await, Ok(fresh));
        assert_eq!(l.seat_holders(Feature::ActiveSync).await.unwrap(), vec![A1, A3]);
        assert!(l.authorize(A2, Feature::ActiveSync).await.is_err());
    }

    #[tokio::test]
    async fn lowered_limit_keeps_earliest_holders() {
        let (secret, public) = generate_vendor_keypair();
        let three = license(Edition::Enterprise, &[(Feature::ActiveSync, 3)]);
        let provider = Arc::new(SignedLicenseProvider::new(&sign_license(&three, &secret).unwrap(), &public).unwrap());
        let l = Licensing::with_clock(provider.clone(), Arc::new(MemorySeatStore::new()), Arc::new(|| NOW));
        for a in [A1, A2, A3] {
            assert!(l.authorize(a, Feature::ActiveSync).await.unwrap().new_seat);
        }

        // The administrator installs a licence with only one seat.
        let one = License { seats: [(Feature::ActiveSync, 1)].into(), ..three };
        provider.reload_from(&sign_license(&one, &secret).unwrap()).unwrap();

        let kept = SeatGrant { seat_limited: true, new_seat: false };
        let refused = LicenseRefusal::NoFreeSeat { feature: Feature::ActiveSync, limit: 1 };
        assert_eq!(l.authorize(A1, Feature::ActiveSync).await, Ok(kept));
        assert_eq!(l.authorize(A2, Feature::ActiveSync).await, Err(refused.clone()));
        assert_eq!(l.authorize(A3, Feature::ActiveSync).await, Err(refused.clone()));
        assert_eq!(refused.to_string(), "the only activesync seat of the licence is in use");
        assert_eq!(
            l.seat_state(A2, Feature::ActiveSync).await.unwrap(),
            SeatState::Refused { refusal: refused.clone(), holds_seat: true }
        );
        // Their seats are kept, not released.
        assert_eq!(l.seat_holders(Feature::ActiveSync).await.unwrap(), vec![A1, A2, A3]);

        // When account 1 leaves, account 2 moves up and regains access.
        assert!(l.release_seat(A1, Feature::ActiveSync).await.unwrap());
        assert_eq!(l.authorize(A2, Feature::ActiveSync).await, Ok(kept));
        assert_eq!(l.authorize(A3, Feature::ActiveSync).await, Err(refused));
        // A newcomer is refused while the ledger is over the limit.
        assert!(l.authorize(AccountId(4), Feature::ActiveSync).await.is_err());
    }

    #[tokio::test]
    async fn unlimited_feature_takes_no_seat() {
        let l = licensing(license(Edition::Business, &[(Feature::ActiveSync, 1)]));
        let free = SeatGrant { seat_limited: false, new_seat: false };
        for id in 1..=50 {
            assert_eq!(l.authorize(AccountId(id), Feature::Webmail).await, Ok(free));
        }
        assert!(l.seat_holders(Feature::Webmail).await.unwrap().is_empty());
        assert_eq!(
            l.seat_state(A1, Feature::Webmail).await.unwrap(),
            SeatState::WouldBeGranted { limit: None, holders: 0 }
        );
        // Trial offers clustering, unlimited.
        let trial = licensing(license(Edition::Trial, &[]));
        assert_eq!(trial.authorize(A1, Feature::Clustering).await, Ok(free));
    }

    #[tokio::test]
    async fn account_count_limit() {
        let l = licensing(license(Edition::Business, &[]));
        assert_eq!(l.check_account_count(99), Ok(()));
        let refusal = l.check_account_count(100).unwrap_err();
        assert_eq!(refusal, LicenseRefusal::AccountLimit { limit: 100 });
        assert_eq!(refusal.to_string(), "the licence allows at most 100 accounts");
        let unlimited = licensing(License { max_accounts: None, ..license(Edition::Business, &[]) });
        assert_eq!(unlimited.check_account_count(u32::MAX), Ok(()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_acquire_is_atomic() {
        let store = Arc::new(MemorySeatStore::new());
        let mut tasks = Vec::new();
        for id in 0..64 {
            let store = store.clone();
            tasks.push(tokio::spawn(
                async move { store.acquire_seat(Feature::Backup, AccountId(id), 5).await.unwrap() },
            ));
        }
        let mut granted = 0;
        for t in tasks {
            match t.await.unwrap() {
                SeatAcquire::Granted => granted += 1,
                SeatAcquire::Full { holders } => assert_eq!(holders, 5),
                SeatAcquire::AlreadyHeld => panic!("no account asked twice"),
            }
        }
        assert_eq!(granted, 5);
        let holders = store.seat_holders(Feature::Backup).await.unwrap();
        assert_eq!(holders.len(), 5);
        let first = holders[0];
        assert_eq!(store.acquire_seat(Feature::Backup, first, 5).await.unwrap(), SeatAcquire::AlreadyHeld);
        assert!(store.seat_holders(Feature::Rpop).await.unwrap().is_empty());
        assert!(!store.release_seat(Feature::Rpop, first).await.unwrap());
    }

    #[test]
    fn traits_are_object_safe() {
        let _: Arc<dyn LicenseProvider> = Arc::new(StaticLicenseProvider::default());
        let _: Arc<dyn SeatStore> = Arc::new(MemorySeatStore::new());
    }
}
