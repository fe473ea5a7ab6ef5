//! Per-account and per-connection limits of the IMAP service (issue #4):
//! how many sessions one account may have logged in at once
//! ([`AccountConnections`]), and how fast one connection may send commands
//! ([`CommandRate`]).
//!
//! The other limits live elsewhere: line and literal sizes in the
//! [`CommandReader`](super::CommandReader), login failures in the
//! [`LoginThrottle`](axigen_core::login_throttle::LoginThrottle) shared with SMTP,
//! connections per address and in total at the
//! [listener](crate::listener), idle time in the
//! [driver](super::server).
//!
//! # Implementation notes
//!
//! - **A login slot is released on every path.** [`AccountSlot`] is an RAII
//!   guard owned by the session; LOGOUT, a read error, a timeout, a `* BYE`
//!   from the driver and a dropped task all drop the session, and with it
//!   the slot.
//! - **The count and the check are one step**, under the registry's lock,
//!   so two logins racing for the last slot cannot both get it.
//! - **A poisoned lock is not a panic**: the counters are plain integers
//!   that a panicking holder cannot leave half-updated, so the guard is
//!   taken back with [`std::sync::PoisonError::into_inner`].
//! - **The command rate slows a client down before it cuts it off.** The
//!   driver waits for a token before it runs a command, without reading the
//!   socket meanwhile, so a looping client is served at the sustained rate
//!   and TCP pushes back on it. Only a client that has been kept waiting
//!   for every one of its commands for longer than the cut-off is
//!   disconnected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axigen_core::model::AccountId;
use tokio::time::Instant;

/// Logged-in IMAP sessions per account, shared by the sessions of one or
/// more [`ImapService`](super::ImapService)s (e.g. the `imap` and `imaps`
/// listeners of a server).
#[derive(Debug, Default)]
pub struct AccountConnections {
    open: Mutex<HashMap<AccountId, u32>>,
}

/// Logging in would pass the per-account limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitReached {
    /// The sessions the account already has.
    pub open: u32,
}

impl AccountConnections {
    /// An empty registry.
    pub fn new() -> AccountConnections {
        AccountConnections::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<AccountId, u32>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a slot for one more session of `account`, unless it already
    /// has `limit` sessions (0 = no limit; the session is still counted).
    pub fn try_acquire(self: &Arc<Self>, account: AccountId, limit: u32) -> Result<AccountSlot, LimitReached> {
        let mut open = self.lock();
        let count = open.entry(account).or_insert(0);
        if limit != 0 && *count >= limit {
            return Err(LimitReached { open: *count });
        }
        *count = count.saturating_add(1);
        Ok(AccountSlot { registry: self.clone(), account })
    }

    /// The sessions `account` has logged in now.
    pub fn open(&self, account: AccountId) -> u32 {
        self.lock().get(&account).copied().unwrap_or(0)
    }

    /// Accounts with at least one session.
    pub fn accounts(&self) -> usize {
        self.lock().len()
    }

    fn release(&self, account: AccountId) {
        let mut open = self.lock();
        if let Some(count) = open.get_mut(&account) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&account);
            }
        }
    }
}

/// One session's place in [`AccountConnections`]; dropping it frees the
/// place.
#[derive(Debug)]
pub struct AccountSlot {
    registry: Arc<AccountConnections>,
    account: AccountId,
}

impl AccountSlot {
    /// The account the slot belongs to.
    pub fn account(&self) -> AccountId {
        self.account
    }
}

impl Drop for AccountSlot {
    fn drop(&mut self) {
        self.registry.release(self.account);
    }
}

/// How many commands above the sustained rate a client may send at once:
/// the bucket holds this many seconds' worth of commands.
pub const BURST_SECONDS: u32 = 4;

/// What [`CommandRate::admit`] decided about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Run it now.
    Now,
    /// Wait this long, then run it.
    After(Duration),
    /// The client has been kept waiting for longer than the cut-off:
    /// close the connection. The duration is how long it has been.
    CutOff(Duration),
}

/// A token bucket over the commands of one connection: `rate` tokens a
/// second, at most [`BURST_SECONDS`] × `rate` saved up, one per command.
///
/// The clock is passed in, so the policy is tested without sleeping.
#[derive(Debug, Clone)]
pub struct CommandRate {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    cutoff: Duration,
    /// When the current run of commands that all had to wait began.
    throttled_since: Option<Instant>,
}

impl CommandRate {
    /// A full bucket for `per_second` commands a second (`None` when 0:
    /// no limit). A client whose every command had to wait for longer than
    /// `cutoff` is cut off.
    pub fn new(per_second: u32, cutoff: Duration, now: Instant) -> Option<CommandRate> {
        if per_second == 0 {
            return None;
        }
        let rate = f64::from(per_second);
        let burst = rate * f64::from(BURST_SECONDS);
        Some(CommandRate { rate, burst, tokens: burst, last: now, cutoff, throttled_since: None })
    }

    /// Takes the token of one command that arrived at `now`.
    pub fn admit(&mut self, now: Instant) -> Admission {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.throttled_since = None;
            return Admission::Now;
        }
        let since = *self.throttled_since.get_or_insert(now);
        let throttled = now.saturating_duration_since(since);
        if throttled > self.cutoff {
            return Admission::CutOff(throttled);
        }
        // The token is taken now and paid for by the wait, so the bucket
        // goes below zero until the next refill.
        let wait = (1.0 - self.tokens) / self.rate;
        self.tokens -= 1.0;
        Admission::After(Duration::from_secs_f64(wait.clamp(0.0, 2.0)))
    }

    /// Whether the client is being slowed down now.
    pub fn throttled(&self) -> bool {
        self.throttled_since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_limited_and_released() {
        let registry = Arc::new(AccountConnections::new());
        let (a, b) = (AccountId(1), AccountId(2));
        let first = registry.try_acquire(a, 2).unwrap();
        let second = registry.try_acquire(a, 2).unwrap();
        assert_eq!(registry.try_acquire(a, 2).unwrap_err(), LimitReached { open: 2 });
        // Another account has its own count.
        let other = registry.try_acquire(b, 2).unwrap();
        assert_eq!((registry.open(a), registry.open(b)), (2, 1));
        drop(first);
        assert_eq!(registry.open(a), 1);
        let third = registry.try_acquire(a, 2).unwrap();
        assert_eq!(third.account(), a);
        drop((second, third, other));
        assert_eq!(registry.accounts(), 0, "empty entries are removed");
    }

    #[test]
    fn zero_means_no_limit_but_still_counts() {
        let registry = Arc::new(AccountConnections::new());
        let slots: Vec<_> = (0..100).map(|_| registry.try_acquire(AccountId(7), 0).unwrap()).collect();
        assert_eq!(registry.open(AccountId(7)), 100);
        drop(slots);
        assert_eq!(registry.open(AccountId(7)), 0);
    }

    #[test]
    fn zero_rate_is_no_limiter() {
        assert!(CommandRate::new(0, Duration::from_secs(1), Instant::now()).is_none());
    }

    #[test]
    fn burst_then_the_sustained_rate() {
        let start = Instant::now();
        let mut rate = CommandRate::new(10, Duration::from_secs(60), start).unwrap();
        for _ in 0..40 {
            assert_eq!(rate.admit(start), Admission::Now);
        }
        assert!(!rate.throttled());
        // The 41st command at the same instant waits one token's time.
        assert_eq!(rate.admit(start), Admission::After(Duration::from_millis(100)));
        assert!(rate.throttled());
        // A client that pipelines keeps waiting a tenth of a second a command.
        let mut now = start + Duration::from_millis(100);
        for _ in 0..20 {
            match rate.admit(now) {
                Admission::After(wait) => now += wait,
                other => panic!("{other:?}"),
            }
        }
        assert!((now - start).as_secs_f64() > 2.09, "{:?}", now - start);
        // A pause refills the bucket and ends the throttled run.
        now += Duration::from_secs(1);
        assert_eq!(rate.admit(now), Admission::Now);
        assert!(!rate.throttled());
    }

    #[test]
    fn a_client_kept_waiting_too_long_is_cut_off() {
        let start = Instant::now();
        let mut rate = CommandRate::new(100, Duration::from_secs(2), start).unwrap();
        let mut now = start;
        let mut admitted = 0u32;
        let cut = loop {
            match rate.admit(now) {
                Admission::Now => {}
                Admission::After(wait) => now += wait,
                Admission::CutOff(after) => break after,
            }
            admitted += 1;
            assert!(admitted < 10_000, "never cut off");
        };
        // 400 saved up, then about 2 s at 100 a second.
        assert!((590..=610).contains(&admitted), "{admitted}");
        assert!(cut > Duration::from_secs(2) && cut < Duration::from_millis(2100), "{cut:?}");
    }

    #[test]
    fn a_client_at_the_sustained_rate_is_never_cut_off() {
        let start = Instant::now();
        let mut rate = CommandRate::new(50, Duration::from_secs(1), start).unwrap();
        let mut now = start;
        for _ in 0..1000 {
            now += Duration::from_millis(20);
            assert_eq!(rate.admit(now), Admission::Now);
        }
    }
}
