//! When a deferred message is tried again, when its sender hears of the
//! delay, and when it is given up (seed 3.2.3: retries and queue lifetime).
//!
//! The default schedule waits 5 min, 15 min, 30 min, 1 h, 2 h, then 4 h
//! between attempts, repeating the last interval, for at most 5 days from
//! queueing; the sender is told of the delay once, after 4 hours.

use std::time::Duration;

use serde::Deserialize;

/// The retry settings (`[delivery.retry]` in the server configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySchedule {
    /// Waits between attempts (`"5m"`, `"1h"` ...); the last one repeats.
    #[serde(default = "default_intervals", with = "durations")]
    pub intervals: Vec<Duration>,
    /// How long a message may stay queued before it is given up.
    #[serde(default = "default_lifetime", with = "duration")]
    pub max_lifetime: Duration,
    /// After how long in the queue the sender is told of the delay (zero:
    /// never).
    #[serde(default = "default_warning", with = "duration")]
    pub delay_warning_after: Duration,
}

fn default_intervals() -> Vec<Duration> {
    [5 * 60, 15 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600].into_iter().map(Duration::from_secs).collect()
}
fn default_lifetime() -> Duration {
    Duration::from_secs(5 * 86_400)
}
fn default_warning() -> Duration {
    Duration::from_secs(4 * 3600)
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            intervals: default_intervals(),
            max_lifetime: default_lifetime(),
            delay_warning_after: default_warning(),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time (Unix seconds).
    At(u64),
    /// The queue lifetime is over: give up and tell the sender.
    Expired,
}

impl RetrySchedule {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.intervals.is_empty() || self.intervals.iter().any(|d| d.is_zero()) {
            return Err("delivery.retry.intervals: at least one interval, none of them zero".into());
        }
        if self.max_lifetime.is_zero() {
            return Err("delivery.retry.max_lifetime: must be more than zero".into());
        }
        Ok(())
    }

    /// After `attempts` attempts (the one that just failed included) of a
    /// message queued at `queued_at`, at `now`.
    pub fn next(&self, attempts: u32, queued_at: u64, now: u64) -> Next {
        let expires = queued_at.saturating_add(self.max_lifetime.as_secs());
        if now >= expires {
            return Next::Expired;
        }
        let index = (attempts.max(1) as usize - 1).min(self.intervals.len().saturating_sub(1));
        let wait = self.intervals.get(index).map_or(3600, Duration::as_secs);
        // The last try happens at the end of the lifetime, not after it.
        Next::At(now.saturating_add(wait).min(expires))
    }

    /// Whether the sender is to be told now that the message is delayed
    /// (not told yet, and queued long enough).
    pub fn warn_now(&self, already: bool, queued_at: u64, now: u64) -> bool {
        !already && !self.delay_warning_after.is_zero() && now >= queued_at + self.delay_warning_after.as_secs()
    }

    /// Until when a message queued at `queued_at` is tried (Unix seconds).
    pub fn retry_until(&self, queued_at: u64) -> u64 {
        queued_at.saturating_add(self.max_lifetime.as_secs())
    }
}

mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

mod durations {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|text| {
                humantime::parse_duration(text.trim()).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_backs_off_and_expires_after_five_days() {
        let s = RetrySchedule::default();
        s.validate().unwrap();
        let q = 1_000_000;
        assert_eq!(s.next(1, q, q + 10), Next::At(q + 10 + 300));
        assert_eq!(s.next(2, q, q + 400), Next::At(q + 400 + 900));
        assert_eq!(s.next(6, q, q + 20_000), Next::At(q + 20_000 + 4 * 3600));
        assert_eq!(s.next(40, q, q + 100_000), Next::At(q + 100_000 + 4 * 3600), "the last interval repeats");
        // The last try is at the end of the lifetime, then it expires.
        let end = q + 5 * 86_400;
        assert_eq!(s.next(30, q, end - 60), Next::At(end));
        assert_eq!(s.next(31, q, end), Next::Expired);
        assert_eq!(s.retry_until(q), end);
        assert!(!s.warn_now(false, q, q + 3600));
        assert!(s.warn_now(false, q, q + 4 * 3600));
        assert!(!s.warn_now(true, q, q + 5 * 3600), "told once");
    }

    #[test]
    fn configured_in_toml_with_durations() {
        let s: RetrySchedule =
            toml::from_str("intervals = [\"1m\", \"10m\"]\nmax_lifetime = \"2d\"\ndelay_warning_after = \"0s\"")
                .unwrap();
        assert_eq!(s.intervals, [Duration::from_secs(60), Duration::from_secs(600)]);
        assert_eq!(s.max_lifetime, Duration::from_secs(2 * 86_400));
        assert!(!s.warn_now(false, 0, 10 * 86_400), "zero: never warned");
        assert!(toml::from_str::<RetrySchedule>("intervals = [\"soon\"]").is_err());
        assert!(toml::from_str::<RetrySchedule>("interval = []").is_err(), "unknown keys are refused");
        let empty = RetrySchedule { intervals: vec![], ..RetrySchedule::default() };
        assert!(empty.validate().unwrap_err().contains("delivery.retry.intervals"));
    }
}
