//! Slowing down password guessing: AUTH failures counted per client address
//! across the connections of a service.
//!
//! After [`ThrottlePolicy::free_failures`] failures within the window, each
//! further AUTH from that address waits before its answer, twice as long
//! each time (1 s, 2 s, 4 s, ... up to 30 s by default); after
//! [`ThrottlePolicy::refuse_after`] failures the session is closed with
//! `421 4.7.0` instead. IPv6 clients are counted per /64, the block a single
//! host usually gets, so that rotating addresses inside it does not help.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The throttle's thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// How long a failure counts (default 5 minutes).
    pub window: Duration,
    /// Failures answered without delay (default 3).
    pub free_failures: u32,
    /// The first delay (default 1 s); it doubles with each further failure.
    pub first_delay: Duration,
    /// The longest delay (default 30 s).
    pub max_delay: Duration,
    /// Failures after which AUTH is answered with 421 and the connection
    /// closed (default 10).
    pub refuse_after: u32,
    /// Most addresses tracked at once (default 100 000); past it new
    /// addresses are not tracked until old failures expire.
    pub max_tracked: usize,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            window: Duration::from_secs(300),
            free_failures: 3,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            refuse_after: 10,
            max_tracked: 100_000,
        }
    }
}

/// What to do with an AUTH attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the credentials now.
    Proceed,
    /// Wait this long, then check them.
    Delay(Duration),
    /// Answer `421 4.7.0` and close.
    Refuse,
}

/// Recent AUTH failures per client address; shared by the connections of a
/// service.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    policy: ThrottlePolicy,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// The address failures are counted under: IPv4 as is, IPv6 by its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
        v4 => v4,
    }
}

impl AuthThrottle {
    /// A throttle with the given thresholds.
    pub fn new(policy: ThrottlePolicy) -> AuthThrottle {
        AuthThrottle { policy, failures: Mutex::default() }
    }

    /// The thresholds.
    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    /// What to do with an AUTH attempt from `ip` now.
    pub fn check(&self, ip: IpAddr) -> Verdict {
        self.check_at(ip, Instant::now())
    }

    /// What to do with an AUTH attempt from `ip` at `now`.
    pub fn check_at(&self, ip: IpAddr, now: Instant) -> Verdict {
        let mut map = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = key(ip);
        let count = match map.get_mut(&key) {
            Some(times) => {
                self.expire(times, now);
                let count = times.len() as u32;
                if count == 0 {
                    map.remove(&key);
                }
                count
            }
            None => 0,
        };
        let policy = &self.policy;
        if count >= policy.refuse_after {
            Verdict::Refuse
        } else if count >= policy.free_failures {
            let doublings = (count - policy.free_failures).min(31);
            let delay = policy.first_delay.saturating_mul(1 << doublings).min(policy.max_delay);
            Verdict::Delay(delay)
        } else {
            Verdict::Proceed
        }
    }

    /// Records a failed AUTH from `ip` now.
    pub fn record_failure(&self, ip: IpAddr) {
        self.record_failure_at(ip, Instant::now())
    }

    /// Records a failed AUTH from `ip` at `now`.
    pub fn record_failure_at(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = key(ip);
        if !map.contains_key(&key) && map.len() >= self.policy.max_tracked {
            map.retain(|_, times| {
                self.expire(times, now);
                !times.is_empty()
            });
            if map.len() >= self.policy.max_tracked {
                return;
            }
        }
        let times = map.entry(key).or_default();
        self.expire(times, now);
        times.push_back(now);
        // More than `refuse_after` failures change nothing.
        while times.len() > self.policy.refuse_after.max(1) as usize {
            times.pop_front();
        }
    }

    fn expire(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times.front().is_some_and(|&t| now.saturating_duration_since(t) >= self.policy.window) {
            times.pop_front();
        }
    }

    /// Addresses currently tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn delays_double_then_refuse() {
        let throttle = AuthThrottle::default();
        let t0 = Instant::now();
        let a = ip("192.0.2.7");
        let mut verdicts = Vec::new();
        for i in 0..11u64 {
            let now = t0 + Duration::from_secs(i);
            verdicts.push(throttle.check_at(a, now));
            throttle.record_failure_at(a, now);
        }
        let s = Duration::from_secs;
        assert_eq!(
            verdicts,
            vec![
                Verdict::Proceed,
                Verdict::Proceed,
                Verdict::Proceed,
                Verdict::Delay(s(1)),
                Verdict::Delay(s(2)),
                Verdict::Delay(s(4)),
                Verdict::Delay(s(8)),
                Verdict::Delay(s(16)),
                Verdict::Delay(s(30)),
                Verdict::Delay(s(30)),
                Verdict::Refuse,
            ]
        );
        // Another address is not affected.
        assert_eq!(throttle.check_at(ip("192.0.2.8"), t0), Verdict::Proceed);
        // Failures expire after the window.
        assert_eq!(throttle.check_at(a, t0 + s(300 + 5)), Verdict::Delay(s(4)));
        assert_eq!(throttle.check_at(a, t0 + s(300 + 11)), Verdict::Proceed);
        assert_eq!(throttle.tracked(), 0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let throttle = AuthThrottle::default();
        let now = Instant::now();
        for i in 1..=3 {
            throttle.record_failure_at(ip(&format!("2001:db8:1:2::{i}")), now);
        }
        assert_eq!(throttle.check_at(ip("2001:db8:1:2:ffff::9"), now), Verdict::Delay(Duration::from_secs(1)));
        assert_eq!(throttle.check_at(ip("2001:db8:1:3::1"), now), Verdict::Proceed);
        for _ in 0..3 {
            throttle.record_failure_at(ip("::ffff:192.0.2.1"), now);
        }
        assert_eq!(throttle.check_at(ip("192.0.2.1"), now), Verdict::Delay(Duration::from_secs(1)));
    }

    #[test]
    fn tracking_is_bounded() {
        let throttle = AuthThrottle::new(ThrottlePolicy { max_tracked: 2, ..Default::default() });
        let now = Instant::now();
        for i in 1..=5 {
            throttle.record_failure_at(ip(&format!("192.0.2.{i}")), now);
        }
        assert_eq!(throttle.tracked(), 2);
        // Once the old failures expire, new addresses are tracked again.
        throttle.record_failure_at(ip("192.0.2.9"), now + Duration::from_secs(301));
        assert_eq!(throttle.tracked(), 1);
    }
}
