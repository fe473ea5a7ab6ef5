//! Slowing down password guessing without locking out the people who share
//! an address with a guesser: one policy for every login of every service
//! (SMTP AUTH, IMAP, POP3, ActiveSync, the admin API).
//!
//! # What is counted
//!
//! Within a sliding [`ThrottlePolicy::window`], three tables:
//!
//! 1. **Pairs** (client address, login): the wrong passwords tried, told
//!    apart by a keyed fingerprint. A device that keeps sending the same
//!    stale password after a password change counts one *distinct* wrong
//!    password however often it retries; someone guessing counts one per
//!    guess. (The idea is Dovecot's auth penalty, which also ignores a
//!    repeated password.)
//! 2. **Addresses**: the logins failing from one address. Many of them is
//!    password spraying (one or two passwords tried on many accounts).
//! 3. **Logins**: the addresses failing on one login (a distributed
//!    attack), and the addresses that logged in to it successfully lately
//!    (its *known* addresses, remembered for
//!    [`ThrottlePolicy::known_address_ttl`]).
//!
//! Client addresses are counted as IPv4 addresses or IPv6 /64 prefixes (one
//! host usually owns a /64). Logins are compared case-insensitively, with a
//! `DOMAIN\` prefix removed.
//!
//! # What is decided
//!
//! Before the credentials are checked, [`LoginThrottle::admit`] answers:
//!
//! - **Refuse** when the address has failed on [`ThrottlePolicy::spray_refuse`]
//!   logins, or the pair has tried [`ThrottlePolicy::guess_refuse`] distinct
//!   wrong passwords. Refused attempts are not checked at all.
//! - **Delay** when the address has failed on [`ThrottlePolicy::spray_free`]
//!   logins, the pair has tried [`ThrottlePolicy::guess_free`] distinct wrong
//!   passwords, or the login has failed from [`ThrottlePolicy::attack_free`]
//!   addresses and this address is not one of its known ones. The delay
//!   starts at [`ThrottlePolicy::first_delay`] and doubles with each step
//!   past the threshold, up to [`ThrottlePolicy::max_delay`]. Delayed
//!   attempts on one key take turns (each one a delay after the previous),
//!   so opening many connections at once does not guess any faster.
//! - **Proceed** otherwise: in particular for every other login from an
//!   address where one device keeps failing, and for the owner's known
//!   addresses while the account is attacked from elsewhere.
//!
//! After a failed check, [`LoginThrottle::failed`] records it and returns
//! how long to hold the failure answer: the stale device is slowed this way
//! (its answers wait longer and longer) while nothing that would succeed
//! ever waits for it. A success ([`LoginThrottle::succeeded`]) forgets the
//! pair's failures and makes the address known for the login.
//!
//! Correct credentials are therefore only delayed or refused when the
//! address is spraying, when the same address is guessing that very login
//! (the owner behind the guesser's address waits with the guesser: telling
//! them apart would mean checking every guess), or when the login is
//! attacked from many addresses and this one is new to it.
//!
//! Every table is bounded by [`ThrottlePolicy::max_tracked`]; when a table is
//! full and nothing in it has expired, new keys are not tracked.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::directory::{AuthError, Directory};
use crate::model::Principal;

/// The throttle's thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// How long a failure counts (default 5 minutes).
    pub window: Duration,
    /// Distinct wrong passwords for one login from one address answered
    /// without delay (default 3).
    pub guess_free: u32,
    /// Distinct wrong passwords for one login from one address after which
    /// that login is refused from that address (default 10).
    pub guess_refuse: u32,
    /// Logins failing from one address before every login from it is
    /// delayed (default 5).
    pub spray_free: u32,
    /// Logins failing from one address after which every login from it is
    /// refused (default 15).
    pub spray_refuse: u32,
    /// Addresses failing on one login before logins to it from addresses
    /// that are not known to it are delayed (default 10).
    pub attack_free: u32,
    /// The first delay (default 1 s); it doubles with each further step.
    pub first_delay: Duration,
    /// The longest delay (default 30 s).
    pub max_delay: Duration,
    /// How long an address that logged in successfully stays known to the
    /// login (default 30 days).
    pub known_address_ttl: Duration,
    /// Most keys tracked per table (default 100 000).
    pub max_tracked: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            window: Duration::from_secs(300),
            guess_free: 3,
            guess_refuse: 10,
            spray_free: 5,
            spray_refuse: 15,
            attack_free: 10,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            known_address_ttl: Duration::from_secs(30 * 86_400),
            max_tracked: 100_000,
        }
    }
}

impl ThrottlePolicy {
    /// The delay `steps` past a threshold (0: the first delay).
    fn delay(&self, steps: u32) -> Duration {
        self.first_delay.saturating_mul(1u32 << steps.min(20)).min(self.max_delay)
    }

    /// Checks that the thresholds make sense; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.guess_refuse <= self.guess_free {
            return Err("guess_refuse must be greater than guess_free".into());
        }
        if self.spray_refuse <= self.spray_free {
            return Err("spray_refuse must be greater than spray_free".into());
        }
        if self.max_delay < self.first_delay {
            return Err("max_delay must not be less than first_delay".into());
        }
        if self.window.is_zero() {
            return Err("window must be longer than zero".into());
        }
        Ok(())
    }
}

/// Why an attempt is refused or delayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The address fails on many logins.
    Spraying,
    /// The address tries many passwords on this login.
    Guessing,
    /// The login fails from many addresses and this one is new to it.
    UnderAttack,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reason::Spraying => "too many accounts failing from this address",
            Reason::Guessing => "too many wrong passwords for this account from this address",
            Reason::UnderAttack => "this account is under attack; new addresses are slowed",
        })
    }
}

/// What to do with a login attempt before its credentials are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Check the credentials now.
    Proceed,
    /// Wait this long, then check them.
    Delay(Duration, Reason),
    /// Do not check them: answer with the protocol's temporary refusal.
    Refuse(Reason),
}

/// The client address failures are counted under: IPv4 as is (also when
/// IPv4-mapped), IPv6 by its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The login failures are counted under: lower case, without a `DOMAIN\`
/// prefix, trimmed.
pub fn login_key(login: &str) -> String {
    let login = login.rsplit('\\').next().unwrap_or(login);
    login.trim().to_lowercase()
}

/// Turns for delayed attempts on one key: each starts at least a delay
/// after the previous one.
#[derive(Debug, Default, Clone, Copy)]
struct Turns {
    last: Option<Instant>,
}

impl Turns {
    /// Takes the next turn for an attempt delayed by `delay`; returns how
    /// long the attempt waits, or `None` when the turns already taken reach
    /// further than `limit` ahead (so many attempts wait that one more is
    /// refused instead of held).
    fn take(&mut self, now: Instant, delay: Duration, limit: Duration) -> Option<Duration> {
        let start = self.last.map_or(now, |last| last.max(now)) + delay;
        let wait = start - now;
        if wait > limit {
            return None;
        }
        self.last = Some(start);
        Some(wait)
    }
}

#[derive(Debug, Default)]
struct PairRecord {
    /// Every failure (for the answer delay of a repeating device).
    failures: VecDeque<Instant>,
    /// Distinct wrong passwords: fingerprint and last time tried.
    passwords: Vec<(u64, Instant)>,
    turns: Turns,
}

#[derive(Debug, Default)]
struct AddressRecord {
    /// Logins failing from the address, with their last failure.
    logins: HashMap<String, Instant>,
    turns: Turns,
}

#[derive(Debug, Default)]
struct LoginRecord {
    /// Addresses failing on the login, with their last failure.
    addresses: HashMap<IpAddr, Instant>,
    /// Addresses that logged in lately, with the time.
    known: Vec<(IpAddr, Instant)>,
    turns: Turns,
}

/// Most known addresses remembered per login.
const MAX_KNOWN: usize = 16;

#[derive(Debug, Default)]
struct State {
    pairs: HashMap<(IpAddr, String), PairRecord>,
    addresses: HashMap<IpAddr, AddressRecord>,
    logins: HashMap<String, LoginRecord>,
    last_sweep: Option<Instant>,
}

/// Recent login failures of every service; share one (in an `Arc`) between
/// all services so that failures on one count on all.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    fingerprint_key: [u8; 32],
    state: Mutex<State>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(ThrottlePolicy::default())
    }
}

/// Why a throttled authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Refused without checking the credentials.
    #[error("login refused: {0}")]
    Refused(Reason),
    /// The credentials are wrong (the answer delay has been waited).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The directory could not answer.
    #[error("directory unavailable: {0}")]
    Unavailable(crate::Error),
}

/// One slowed or refused key, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slowed {
    /// The client address (or /64 prefix), when the key has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The login, when the key has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// What is counted: distinct wrong passwords (pairs), failing logins
    /// (addresses) or failing addresses (logins).
    pub count: u32,
    /// All failures of a pair, repeats included (0 for the other tables).
    pub failures: u32,
    /// `delayed`, `refused`, or `answers_delayed` (a pair whose failure
    /// answers wait, such as a device repeating a stale password).
    pub state: &'static str,
    /// The current delay in milliseconds (0 when refused).
    pub delay_ms: u64,
}

/// What the throttle holds now, for the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThrottleReport {
    /// Addresses failing on many logins.
    pub addresses: Vec<Slowed>,
    /// Logins failing from many addresses.
    pub logins: Vec<Slowed>,
    /// (address, login) pairs guessing or repeating a wrong password.
    pub pairs: Vec<Slowed>,
}

impl LoginThrottle {
    /// A throttle with the given thresholds.
    pub fn new(policy: ThrottlePolicy) -> LoginThrottle {
        let mut fingerprint_key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut fingerprint_key);
        LoginThrottle { policy, fingerprint_key, state: Mutex::default() }
    }

    /// The thresholds.
    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every critical section leaves the tables usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fingerprint(&self, password: &str) -> u64 {
        let hash = blake3::keyed_hash(&self.fingerprint_key, password.as_bytes());
        u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// What to do with a login attempt of `login` from `ip` now.
    pub fn admit(&self, ip: IpAddr, login: &str) -> Admission {
        self.admit_at(ip, login, Instant::now())
    }

    /// What to do with a login attempt of `login` from `ip` at `now`.
    pub fn admit_at(&self, ip: IpAddr, login: &str, now: Instant) -> Admission {
        let p = &self.policy;
        let (ip, login) = (address_key(ip), login_key(login));
        let mut guard = self.lock();
        let state = &mut *guard;
        self.sweep(state, now);
        // Attempts queued further ahead than this are refused, not held.
        let queue_limit = p.max_delay.saturating_mul(4);

        // 1. Spraying: the whole address.
        if let Some(rec) = state.addresses.get_mut(&ip) {
            let failing = rec.logins.len() as u32;
            if failing >= p.spray_refuse {
                return Admission::Refuse(Reason::Spraying);
            }
            if failing >= p.spray_free {
                return match rec.turns.take(now, p.delay(failing - p.spray_free), queue_limit) {
                    Some(wait) => Admission::Delay(wait, Reason::Spraying),
                    None => Admission::Refuse(Reason::Spraying),
                };
            }
        }
        // 2. Guessing: this login from this address.
        if let Some(rec) = state.pairs.get_mut(&(ip, login.clone())) {
            let distinct = rec.passwords.len() as u32;
            if distinct >= p.guess_refuse {
                return Admission::Refuse(Reason::Guessing);
            }
            if distinct >= p.guess_free {
                return match rec.turns.take(now, p.delay(distinct - p.guess_free), queue_limit) {
                    Some(wait) => Admission::Delay(wait, Reason::Guessing),
                    None => Admission::Refuse(Reason::Guessing),
                };
            }
        }
        // 3. A login attacked from many addresses: new addresses wait.
        if let Some(rec) = state.logins.get_mut(&login) {
            let failing = rec.addresses.len() as u32;
            let known = rec.known.iter().any(|(a, _)| *a == ip);
            if failing >= p.attack_free && !known {
                return match rec.turns.take(now, p.delay(failing - p.attack_free), queue_limit) {
                    Some(wait) => Admission::Delay(wait, Reason::UnderAttack),
                    None => Admission::Refuse(Reason::UnderAttack),
                };
            }
        }
        Admission::Proceed
    }

    /// Records a failed login of `login` from `ip` with `password` now, and
    /// returns how long to hold the failure answer.
    pub fn failed(&self, ip: IpAddr, login: &str, password: &str) -> Duration {
        self.failed_at(ip, login, password, Instant::now())
    }

    /// Records a failed login at `now`; see [`LoginThrottle::failed`].
    pub fn failed_at(&self, ip: IpAddr, login: &str, password: &str, now: Instant) -> Duration {
        let p = &self.policy;
        let fingerprint = self.fingerprint(password);
        let (ip, login) = (address_key(ip), login_key(login));
        let mut guard = self.lock();
        let state = &mut *guard;
        self.sweep(state, now);
        let max = p.max_tracked;

        let mut answer_delay = Duration::ZERO;
        let pair_key = (ip, login.clone());
        if state.pairs.contains_key(&pair_key) || state.pairs.len() < max {
            let rec = state.pairs.entry(pair_key).or_default();
            rec.failures.push_back(now);
            // Counting past the refusal changes nothing.
            let keep = (p.guess_refuse as usize).max(p.guess_free as usize + 32);
            while rec.failures.len() > keep {
                rec.failures.pop_front();
            }
            if let Some(entry) = rec.passwords.iter_mut().find(|(f, _)| *f == fingerprint) {
                entry.1 = now;
            } else if rec.passwords.len() < p.guess_refuse as usize {
                rec.passwords.push((fingerprint, now));
            }
            let failures = rec.failures.len() as u32;
            if failures > p.guess_free {
                answer_delay = p.delay(failures - p.guess_free - 1);
            }
        }
        if state.addresses.contains_key(&ip) || state.addresses.len() < max {
            let rec = state.addresses.entry(ip).or_default();
            if rec.logins.contains_key(&login) || rec.logins.len() < p.spray_refuse as usize {
                let before = rec.logins.len() as u32;
                rec.logins.insert(login.clone(), now);
                let after = rec.logins.len() as u32;
                if before < p.spray_free && after >= p.spray_free {
                    tracing::warn!(peer = %ip, logins = after, "logins from this address are slowed: failures on many accounts");
                } else if before < p.spray_refuse && after >= p.spray_refuse {
                    tracing::warn!(peer = %ip, logins = after, "logins from this address are refused: failures on many accounts");
                }
            }
        }
        if state.logins.contains_key(&login) || state.logins.len() < max {
            let rec = state.logins.entry(login.clone()).or_default();
            if rec.addresses.contains_key(&ip) || rec.addresses.len() < (p.attack_free as usize + 32) {
                let before = rec.addresses.len() as u32;
                rec.addresses.insert(ip, now);
                if before < p.attack_free && rec.addresses.len() as u32 >= p.attack_free {
                    tracing::warn!(login = %login, addresses = rec.addresses.len(),
                        "logins to this account from new addresses are slowed: failures from many addresses");
                }
            }
        }
        answer_delay
    }

    /// Records a successful login of `login` from `ip` now.
    pub fn succeeded(&self, ip: IpAddr, login: &str) {
        self.succeeded_at(ip, login, Instant::now())
    }

    /// Records a successful login at `now`.
    pub fn succeeded_at(&self, ip: IpAddr, login: &str, now: Instant) {
        let (ip, login) = (address_key(ip), login_key(login));
        let mut state = self.lock();
        state.pairs.remove(&(ip, login.clone()));
        if let Some(rec) = state.addresses.get_mut(&ip) {
            rec.logins.remove(&login);
        }
        let tracked = state.logins.len();
        let rec = match state.logins.get_mut(&login) {
            Some(rec) => rec,
            None if tracked < self.policy.max_tracked => state.logins.entry(login).or_default(),
            None => return,
        };
        rec.addresses.remove(&ip);
        match rec.known.iter_mut().find(|(a, _)| *a == ip) {
            Some(entry) => entry.1 = now,
            None => {
                if rec.known.len() >= MAX_KNOWN {
                    // Forget the address seen least recently.
                    if let Some(oldest) = rec.known.iter().enumerate().min_by_key(|(_, (_, t))| *t).map(|(i, _)| i) {
                        rec.known.swap_remove(oldest);
                    }
                }
                rec.known.push((ip, now));
            }
        }
    }

    /// Forgets every failure from `ip` (all its pairs and its spraying count).
    /// Returns whether anything was forgotten.
    pub fn clear_address(&self, ip: IpAddr) -> bool {
        let ip = address_key(ip);
        let mut state = self.lock();
        let before = state.pairs.len();
        state.pairs.retain(|(a, _), _| *a != ip);
        let mut cleared = state.pairs.len() != before;
        cleared |= state.addresses.remove(&ip).is_some();
        for rec in state.logins.values_mut() {
            cleared |= rec.addresses.remove(&ip).is_some();
        }
        cleared
    }

    /// Forgets every failure on `login` (all its pairs and the addresses
    /// failing on it). Its known addresses stay. Returns whether anything
    /// was forgotten.
    pub fn clear_login(&self, login: &str) -> bool {
        let login = login_key(login);
        let mut state = self.lock();
        let before = state.pairs.len();
        state.pairs.retain(|(_, l), _| *l != login);
        let mut cleared = state.pairs.len() != before;
        for rec in state.addresses.values_mut() {
            cleared |= rec.logins.remove(&login).is_some();
        }
        if let Some(rec) = state.logins.get_mut(&login) {
            cleared |= !rec.addresses.is_empty();
            rec.addresses.clear();
            rec.turns = Turns::default();
        }
        cleared
    }

    /// The addresses, logins and pairs slowed or refused now.
    pub fn report(&self) -> ThrottleReport {
        self.report_at(Instant::now())
    }

    /// The addresses, logins and pairs slowed or refused at `now`.
    pub fn report_at(&self, now: Instant) -> ThrottleReport {
        let p = &self.policy;
        let mut guard = self.lock();
        let state = &mut *guard;
        self.sweep(state, now);
        let stage = |count: u32, free: u32, refuse: Option<u32>| -> Option<(&'static str, u64)> {
            if refuse.is_some_and(|r| count >= r) {
                Some(("refused", 0))
            } else if count >= free {
                Some(("delayed", p.delay(count - free).as_millis() as u64))
            } else {
                None
            }
        };
        let mut report = ThrottleReport::default();
        for (ip, rec) in &state.addresses {
            let count = rec.logins.len() as u32;
            if let Some((state, delay_ms)) = stage(count, p.spray_free, Some(p.spray_refuse)) {
                report.addresses.push(Slowed {
                    address: Some(ip.to_string()),
                    login: None,
                    count,
                    failures: 0,
                    state,
                    delay_ms,
                });
            }
        }
        for (login, rec) in &state.logins {
            let count = rec.addresses.len() as u32;
            if let Some((state, delay_ms)) = stage(count, p.attack_free, None) {
                report.logins.push(Slowed {
                    address: None,
                    login: Some(login.clone()),
                    count,
                    failures: 0,
                    state,
                    delay_ms,
                });
            }
        }
        for ((ip, login), rec) in &state.pairs {
            let count = rec.passwords.len() as u32;
            let failures = rec.failures.len() as u32;
            let slowed = stage(count, p.guess_free, Some(p.guess_refuse)).or_else(|| {
                (failures > p.guess_free)
                    .then(|| ("answers_delayed", p.delay(failures - p.guess_free - 1).as_millis() as u64))
            });
            if let Some((state, delay_ms)) = slowed {
                report.pairs.push(Slowed {
                    address: Some(ip.to_string()),
                    login: Some(login.clone()),
                    count,
                    failures,
                    state,
                    delay_ms,
                });
            }
        }
        report.addresses.sort_by(|a, b| a.address.cmp(&b.address));
        report.logins.sort_by(|a, b| a.login.cmp(&b.login));
        report.pairs.sort_by(|a, b| (&a.address, &a.login).cmp(&(&b.address, &b.login)));
        report
    }

    /// Drops what has left the window, at most once a second.
    fn sweep(&self, state: &mut State, now: Instant) {
        if state.last_sweep.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1)) {
            return;
        }
        state.last_sweep = Some(now);
        let window = self.policy.window;
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < window;
        state.pairs.retain(|_, rec| {
            while rec.failures.front().is_some_and(|t| !fresh(t)) {
                rec.failures.pop_front();
            }
            rec.passwords.retain(|(_, t)| fresh(t));
            !rec.failures.is_empty() || rec.turns.last.is_some_and(|t| t > now)
        });
        state.addresses.retain(|_, rec| {
            rec.logins.retain(|_, t| fresh(t));
            !rec.logins.is_empty() || rec.turns.last.is_some_and(|t| t > now)
        });
        let ttl = self.policy.known_address_ttl;
        state.logins.retain(|_, rec| {
            rec.addresses.retain(|_, t| fresh(t));
            rec.known.retain(|(_, t)| now.saturating_duration_since(*t) < ttl);
            !rec.addresses.is_empty() || !rec.known.is_empty() || rec.turns.last.is_some_and(|t| t > now)
        });
    }

    /// Authenticates `user` against `directory` under the throttle: admits
    /// (waiting a delay), checks the credentials, and records the outcome,
    /// waiting the failure answer's delay before returning
    /// [`LoginError::InvalidCredentials`].
    pub async fn authenticate<D: Directory + ?Sized>(
        &self,
        directory: &D,
        ip: IpAddr,
        user: &str,
        password: &str,
    ) -> Result<Principal, LoginError> {
        match self.admit(ip, user) {
            Admission::Proceed => {}
            Admission::Delay(wait, reason) => {
                tracing::debug!(peer = %ip, user = %user, delay = ?wait, %reason, "login delayed");
                tokio::time::sleep(wait).await;
            }
            Admission::Refuse(reason) => {
                tracing::info!(peer = %ip, user = %user, %reason, "login refused by the throttle");
                return Err(LoginError::Refused(reason));
            }
        }
        match directory.authenticate(user, password).await {
            Ok(principal) => {
                self.succeeded(ip, user);
                Ok(principal)
            }
            Err(AuthError::InvalidCredentials) => {
                let hold = self.failed(ip, user, password);
                if !hold.is_zero() {
                    tokio::time::sleep(hold).await;
                }
                Err(LoginError::InvalidCredentials)
            }
            Err(AuthError::Unavailable(e)) => Err(LoginError::Unavailable(e)),
        }
    }

    /// Keys tracked in the three tables (for tests and metrics).
    pub fn tracked(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.pairs.len(), state.addresses.len(), state.logins.len())
    }
}

#[cfg(test)]
mod tests;
