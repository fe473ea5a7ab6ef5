//! HTTP Basic authentication of the admin against the credential kept in the
//! store, with per-client throttling of failed logins.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use axigen_core::password;
use base64::Engine as _;
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};

use super::{AUTH_FAILURE_WINDOW, AdminApi, ApiError, MAX_AUTH_FAILURES, Reply};

/// The realm announced in `WWW-Authenticate`.
const REALM: &str = "Basic realm=\"axigen admin\"";

// ---------------------------------------------------------------------------
// Login throttling
// ---------------------------------------------------------------------------

/// Recent failed logins per client address.
pub(super) struct Throttle {
    state: Mutex<ThrottleState>,
}

struct ThrottleState {
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    last_sweep: Instant,
}

/// The address failures are counted under: IPv4 (also when IPv4-mapped), or
/// the /64 of an IPv6 address (one host usually owns a whole /64).
fn throttle_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

fn forget_old(queue: &mut VecDeque<Instant>, now: Instant) {
    while queue.front().is_some_and(|t| now.saturating_duration_since(*t) >= AUTH_FAILURE_WINDOW) {
        queue.pop_front();
    }
}

impl Throttle {
    pub(super) fn new() -> Throttle {
        Throttle { state: Mutex::new(ThrottleState { failures: HashMap::new(), last_sweep: Instant::now() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        // Every critical section leaves the map usable, so a poisoned lock is
        // safe to keep using.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(seconds)` to wait if `ip` has used up its failures.
    pub(super) fn blocked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let mut state = self.lock();
        let key = throttle_key(ip);
        let queue = state.failures.get_mut(&key)?;
        forget_old(queue, now);
        if queue.len() < MAX_AUTH_FAILURES {
            if queue.is_empty() {
                state.failures.remove(&key);
            }
            return None;
        }
        // Allowed again once enough failures have left the window.
        let until = queue[queue.len() - MAX_AUTH_FAILURES] + AUTH_FAILURE_WINDOW;
        let wait = until.saturating_duration_since(now);
        Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).map(|s| s.max(1))
    }

    pub(super) fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut state = self.lock();
        if now.saturating_duration_since(state.last_sweep) >= AUTH_FAILURE_WINDOW {
            state.failures.retain(|_, queue| {
                forget_old(queue, now);
                !queue.is_empty()
            });
            state.last_sweep = now;
        }
        let queue = state.failures.entry(throttle_key(ip)).or_default();
        queue.push_back(now);
        // Only the most recent failures matter.
        while queue.len() > 2 * MAX_AUTH_FAILURES {
            queue.pop_front();
        }
    }

    pub(super) fn record_success(&self, ip: IpAddr) {
        self.lock().failures.remove(&throttle_key(ip));
    }
}

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

impl AdminApi {
    /// Checks HTTP Basic credentials against the store's admin credential,
    /// with per-client throttling of failures.
    pub(super) async fn authenticate(&self, authorization: Option<&str>, peer: IpAddr) -> Result<(), ApiError> {
        let now = Instant::now();
        if let Some(wait) = self.throttle.blocked(peer, now) {
            tracing::warn!(%peer, "admin login throttled");
            return Err(ApiError(
                Reply::error(StatusCode::TOO_MANY_REQUESTS, format!("too many failed logins; retry in {wait} s"))
                    .with_header(header::RETRY_AFTER, HeaderValue::from(wait)),
            ));
        }
        let unauthorized = |message: &str| {
            ApiError(
                Reply::error(StatusCode::UNAUTHORIZED, message)
                    .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM)),
            )
        };
        let Some(authorization) = authorization else {
            return Err(unauthorized("authentication required"));
        };
        let (user, password) = match parse_basic(authorization) {
            Some(credentials) => credentials,
            None => {
                self.throttle.record_failure(peer, now);
                tracing::warn!(%peer, "admin login with a malformed Authorization header");
                return Err(unauthorized("malformed Basic credentials"));
            }
        };
        let credential = self.store.admin_credential()?;
        let (known, hash) = match credential {
            Some(c) if c.user == user => (true, c.password_hash),
            _ => (false, password::dummy_hash().to_owned()),
        };
        let verified = tokio::task::spawn_blocking(move || password::verify_password(&password, &hash))
            .await
            .map_err(|e| ApiError::internal(format!("password check failed: {e}")))?;
        if known && verified {
            self.throttle.record_success(peer);
            Ok(())
        } else {
            self.throttle.record_failure(peer, now);
            tracing::warn!(%peer, user = ?user, "admin login failed");
            Err(unauthorized("invalid credentials"))
        }
    }
}

/// Splits `Basic base64(user:password)` into its parts.
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
