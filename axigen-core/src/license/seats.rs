//! The seat ledger and the licensing decisions: who may use which feature,
//! refusals, and the account limit.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::provider::LicenseProvider;
use super::{Edition, Feature, License};
use crate::model::AccountId;

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
