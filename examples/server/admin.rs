//! The admin HTTP API of the reference server: JSON over HTTP/1.1 under
//! `/api/v1`, authenticated with HTTP Basic against the admin credential kept
//! in the store.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/api/v1/health` | liveness, no authentication |
//! | GET | `/api/v1/settings` | the settings catalogue |
//! | GET, POST | `/api/v1/domains` | list / create domains |
//! | GET, DELETE | `/api/v1/domains/{d}` | one domain |
//! | PATCH | `/api/v1/domains/{d}/settings` | change domain settings |
//! | GET, POST | `/api/v1/domains/{d}/classes` | list / create account classes |
//! | GET, DELETE | `/api/v1/domains/{d}/classes/{c}` | one class |
//! | PATCH | `/api/v1/domains/{d}/classes/{c}/settings` | change class settings |
//! | GET, POST | `/api/v1/domains/{d}/accounts` | list / create accounts |
//! | GET | `/api/v1/domains/{d}/aliases` | list aliases |
//! | GET, PATCH, DELETE | `/api/v1/accounts/{address}` | one account |
//! | PATCH | `/api/v1/accounts/{address}/settings` | change account settings |
//! | GET | `/api/v1/accounts/{address}/effective` | effective settings, licence standing |
//! | POST, DELETE | `/api/v1/accounts/{address}/seats/{feature}` | grant / release a licence seat |
//! | GET, PUT | `/api/v1/license` | the licence and its seat holders / install a signed licence |
//! | PUT, DELETE | `/api/v1/aliases/{address}` | create or re-point / remove an alias |
//! | POST | `/api/v1/check[?deep=true]` | store consistency check |
//!
//! Errors are `{"error": "<message>"}` with a status derived from
//! [`axigen_core::Error`]. Failed logins are throttled per client address
//! (IPv6 clients per /64): after [`MAX_AUTH_FAILURES`] failures within
//! [`AUTH_FAILURE_WINDOW`] the client gets 429 until the window has passed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axigen_core::directory::{Directory, DirectoryAdmin};
use axigen_core::license::{Feature, LicenseRefusal, Licensing, SeatState, SignedLicenseProvider};
use axigen_core::model::{Account, AccountClass, AccountId, Address, Alias, Domain, DomainName, LocalPart, NewAccount};
use axigen_core::password;
use axigen_core::settings::{Effective, Overrides, SettingUpdate};
use axigen_store::Store;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite};

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 1 << 20;
/// Failed logins from one client address tolerated within the window.
pub const MAX_AUTH_FAILURES: usize = 5;
/// The window over which failed logins are counted.
pub const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The realm announced in `WWW-Authenticate`.
const REALM: &str = "Basic realm=\"axigen admin\"";
/// How long a client may take to send the request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin API: shared by every admin connection (put it in an `Arc`).
pub struct AdminApi {
    store: Arc<Store>,
    /// Licensing decisions; its licence provider should be `license_provider`
    /// when there is one, so that `PUT /license` takes effect.
    licensing: Licensing,
    /// The signed-licence provider that `PUT /license` reloads; `None` when
    /// no vendor public key is configured.
    license_provider: Option<Arc<SignedLicenseProvider>>,
    throttle: Throttle,
    /// Serialises the admin API's read-modify-write sequences (create if
    /// absent, settings changes, account limit check and creation).
    writes: tokio::sync::Mutex<()>,
}

/// A response before it is turned into HTTP: status, JSON body, extra headers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
    /// Extra headers (`WWW-Authenticate`, `Retry-After`, `Allow`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    fn json(status: StatusCode, body: Value) -> Reply {
        Reply { status, body, headers: Vec::new() }
    }

    fn ok(body: Value) -> Reply {
        Reply::json(StatusCode::OK, body)
    }

    fn created(body: Value) -> Reply {
        Reply::json(StatusCode::CREATED, body)
    }

    fn error(status: StatusCode, message: impl Into<String>) -> Reply {
        Reply::json(status, json!({ "error": message.into() }))
    }

    fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Reply {
        self.headers.push((name, value));
        self
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut bytes = serde_json::to_vec(&self.body).unwrap_or_else(|_| b"{}".to_vec());
        bytes.push(b'\n');
        let mut response = Response::new(Full::new(Bytes::from(bytes)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// An error on its way to becoming a [`Reply`]; `?` converts core errors.
struct ApiError(Reply);

type ApiResult = Result<Reply, ApiError>;

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError(Reply::error(status, message))
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::error!(error = %message, "admin API internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    fn refusal(refusal: &LicenseRefusal) -> ApiError {
        ApiError(Reply::json(StatusCode::FORBIDDEN, json!({ "error": refusal.to_string(), "refusal": refusal })))
    }
}

impl From<axigen_core::Error> for ApiError {
    fn from(e: axigen_core::Error) -> ApiError {
        use axigen_core::Error as E;
        let status = match &e {
            E::Invalid(_) => StatusCode::BAD_REQUEST,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::AlreadyExists(_) | E::Conflict(_) | E::OverQuota(_) => StatusCode::CONFLICT,
            E::Storage(_) | E::Format(_) => return ApiError::internal(e.to_string()),
        };
        ApiError::new(status, e.to_string())
    }
}

fn method_not_allowed(allowed: &'static str) -> ApiError {
    ApiError(
        Reply::error(StatusCode::METHOD_NOT_ALLOWED, format!("method not allowed here (allowed: {allowed})"))
            .with_header(header::ALLOW, HeaderValue::from_static(allowed)),
    )
}

// ---------------------------------------------------------------------------
// Login throttling
// ---------------------------------------------------------------------------

/// Recent failed logins per client address.
struct Throttle {
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
    fn new() -> Throttle {
        Throttle { state: Mutex::new(ThrottleState { failures: HashMap::new(), last_sweep: Instant::now() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        // Every critical section leaves the map usable, so a poisoned lock is
        // safe to keep using.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(seconds)` to wait if `ip` has used up its failures.
    fn blocked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
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

    fn record_failure(&self, ip: IpAddr, now: Instant) {
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

    fn record_success(&self, ip: IpAddr) {
        self.lock().failures.remove(&throttle_key(ip));
    }
}

// ---------------------------------------------------------------------------
// Request parsing helpers
// ---------------------------------------------------------------------------

/// Decodes `%XX` escapes in one path segment.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `Some(true)` for `deep=true` / `deep=1`, `Some(false)` for `false` / `0`
/// or absent; `None` for anything else.
fn deep_flag(query: &str) -> Option<bool> {
    let mut deep = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
        if key == "deep" {
            deep = match value {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return None,
            };
        }
    }
    Some(deep)
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

/// `{"name": value | "inherit"}` as the admin sends it; values stay raw so
/// that errors can name the key.
type SettingsPatch = BTreeMap<String, Value>;

/// Applies a settings patch to one level; every error names the setting.
fn apply_settings(overrides: &mut Overrides, patch: SettingsPatch) -> Result<(), ApiError> {
    for (name, raw) in patch {
        let update: SettingUpdate =
            serde_json::from_value(raw).map_err(|e| ApiError::bad_request(format!("setting `{name}`: {e}")))?;
        overrides.set(&name, update.0)?;
    }
    Ok(())
}

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`)
/// or a value (`Some(Some(v))`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDomainBody {
    name: String,
    #[serde(default)]
    settings: SettingsPatch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClassBody {
    name: String,
    #[serde(default)]
    settings: SettingsPatch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccountBody {
    local_part: String,
    password: String,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    settings: SettingsPatch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountPatchBody {
    /// Absent: unchanged; `null`: no class; a name: that class.
    #[serde(default, deserialize_with = "double_option")]
    class: Option<Option<String>>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    account: String,
}

// ---------------------------------------------------------------------------
// JSON views
// ---------------------------------------------------------------------------

/// An account as the API shows it: never the password hash.
fn account_json(a: &Account) -> Value {
    json!({
        "id": a.id,
        "address": a.address,
        "class": a.class,
        "display_name": a.display_name,
        "settings": a.settings,
    })
}

fn domain_json(d: &Domain) -> Value {
    json!({ "name": d.name, "settings": d.settings })
}

fn class_json(c: &AccountClass) -> Value {
    json!({ "domain": c.domain, "name": c.name, "settings": c.settings })
}

// ---------------------------------------------------------------------------
// ActiveSync access
// ---------------------------------------------------------------------------

/// Combines the ActiveSync policy of an account with its licence standing
/// into a decision and a one-line explanation.
fn describe_activesync(policy: &Effective<bool>, seat: &SeatState) -> (bool, String) {
    let source = &policy.source;
    if !policy.value {
        return (false, format!("disabled: {source}"));
    }
    match seat {
        SeatState::HoldsSeat { limit, position } => {
            (true, format!("enabled ({source}), seat {} of {limit}", position + 1))
        }
        SeatState::WouldBeGranted { limit: Some(limit), holders } => {
            (true, format!("enabled ({source}), a seat will be taken on first use ({holders} of {limit} in use)"))
        }
        SeatState::WouldBeGranted { limit: None, .. } => {
            (true, format!("enabled ({source}), the licence does not limit activesync seats"))
        }
        SeatState::Refused { refusal: refusal @ LicenseRefusal::NoFreeSeat { .. }, holds_seat: true } => (
            false,
            format!(
                "enabled ({source}) but refused: {refusal}; the account's seat is beyond the licence's current limit"
            ),
        ),
        SeatState::Refused { refusal, .. } => (false, format!("enabled ({source}) but refused: {refusal}")),
    }
}

/// Whether `account` may use ActiveSync now, and why: the `activesync.enabled`
/// policy first (with where it came from), then the licence's standing for
/// the account. Nothing is acquired: a seat is only taken by
/// [`Licensing::authorize`].
pub async fn activesync_access<D>(directory: &D, licensing: &Licensing, account: AccountId) -> (bool, String)
where
    D: Directory + ?Sized,
{
    let effective = match directory.effective_settings(account).await {
        Ok(e) => e,
        Err(e) => {
            return (false, format!("refused: cannot resolve the account's settings: {e}"));
        }
    };
    if !effective.activesync_enabled.value {
        return (false, format!("disabled: {}", effective.activesync_enabled.source));
    }
    match licensing.seat_state(account, Feature::ActiveSync).await {
        Ok(seat) => describe_activesync(&effective.activesync_enabled, &seat),
        Err(e) => (false, format!("refused: the licence seat ledger is unavailable: {e}")),
    }
}

// ---------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------

impl AdminApi {
    /// The API over `store`. `licensing` should read its licence from
    /// `license_provider` when one is given (so that `PUT /license` is seen
    /// by every licensing decision); `license_provider` is `None` when the
    /// server has no vendor public key configured.
    pub fn new(
        store: Arc<Store>,
        licensing: Licensing,
        license_provider: Option<Arc<SignedLicenseProvider>>,
    ) -> AdminApi {
        AdminApi { store, licensing, license_provider, throttle: Throttle::new(), writes: tokio::sync::Mutex::new(()) }
    }

    /// Serves one admin connection (HTTP/1.1, keep-alive) until the client
    /// closes it. Errors are logged, not returned.
    pub async fn serve_connection<C>(self: Arc<Self>, conn: C, peer: SocketAddr)
    where
        C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let api = self;
        let service = hyper::service::service_fn(move |req| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.handle(req, peer.ip()).await) }
        });
        let result = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(conn), service)
            .await;
        if let Err(error) = result {
            tracing::debug!(%peer, %error, "admin connection ended with an error");
        }
    }

    /// Answers one HTTP request from `peer`.
    pub async fn handle(&self, req: Request<hyper::body::Incoming>, peer: IpAddr) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let declared_length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let too_large =
            || Reply::error(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body exceeds {MAX_BODY} bytes"));
        let reply = if declared_length.is_some_and(|n| n > MAX_BODY as u64) {
            too_large()
        } else {
            match Limited::new(body, MAX_BODY).collect().await {
                Ok(collected) => {
                    let authorization =
                        parts.headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("<non-ASCII>"));
                    self.respond(&parts.method, target, authorization, collected.to_bytes(), peer).await
                }
                Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => too_large(),
                Err(e) => Reply::error(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}")),
            }
        };
        tracing::debug!(
            %peer,
            method = %parts.method,
            path = %parts.uri.path(),
            status = reply.status.as_u16(),
            "admin request"
        );
        reply.into_response()
    }

    /// [`Self::respond`] without the headers, for tests and tools.
    #[allow(dead_code)]
    pub async fn call(
        &self,
        method: Method,
        target: &str,
        authorization: Option<&str>,
        body: Bytes,
        peer: IpAddr,
    ) -> (StatusCode, Value) {
        let reply = self.respond(&method, target, authorization, body, peer).await;
        (reply.status, reply.body)
    }

    /// Answers a request given as its method, target (path and optional
    /// query), `Authorization` header value and body: everything
    /// [`Self::handle`] does after reading the body.
    pub async fn respond(
        &self,
        method: &Method,
        target: &str,
        authorization: Option<&str>,
        body: Bytes,
        peer: IpAddr,
    ) -> Reply {
        match self.respond_inner(method, target, authorization, body, peer).await {
            Ok(reply) | Err(ApiError(reply)) => reply,
        }
    }

    async fn respond_inner(
        &self,
        method: &Method,
        target: &str,
        authorization: Option<&str>,
        body: Bytes,
        peer: IpAddr,
    ) -> ApiResult {
        if body.len() > MAX_BODY {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body exceeds {MAX_BODY} bytes"),
            ));
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let segments: Option<Vec<String>> = path
            .strip_prefix("/api/v1/")
            .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
            .filter(|rest| !rest.is_empty())
            .map(|rest| rest.split('/').map(percent_decode).collect::<Option<Vec<_>>>())
            .unwrap_or(Some(Vec::new()));
        let Some(segments) = segments else {
            return Err(ApiError::bad_request("malformed percent-encoding in the path"));
        };
        if segments == ["health"] {
            return match *method {
                Method::GET => Ok(Reply::ok(json!({ "status": "ok" }))),
                _ => Err(method_not_allowed("GET")),
            };
        }
        self.authenticate(authorization, peer).await?;
        if segments.is_empty() || segments.iter().any(String::is_empty) {
            return Err(ApiError::not_found(format!("no such resource: {path}")));
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        self.route(method, &segments, query, &body).await
    }

    /// Checks HTTP Basic credentials against the store's admin credential,
    /// with per-client throttling of failures.
    async fn authenticate(&self, authorization: Option<&str>, peer: IpAddr) -> Result<(), ApiError> {
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

    async fn route(&self, method: &Method, s: &[&str], query: &str, body: &Bytes) -> ApiResult {
        match s {
            ["settings"] => match *method {
                Method::GET => Ok(Reply::ok(json!(axigen_core::settings::catalogue()))),
                _ => Err(method_not_allowed("GET")),
            },
            ["domains"] => match *method {
                Method::GET => {
                    let domains = self.store.domains().await?;
                    Ok(Reply::ok(Value::Array(domains.iter().map(domain_json).collect())))
                }
                Method::POST => self.create_domain(body).await,
                _ => Err(method_not_allowed("GET, POST")),
            },
            ["domains", d] => {
                let name = DomainName::new(d)?;
                match *method {
                    Method::GET => Ok(Reply::ok(domain_json(&self.domain(&name).await?))),
                    Method::DELETE => {
                        let _guard = self.writes.lock().await;
                        self.store.delete_domain(&name).await?;
                        tracing::info!(domain = %name, "domain deleted");
                        Ok(Reply::ok(json!({ "deleted": name })))
                    }
                    _ => Err(method_not_allowed("GET, DELETE")),
                }
            }
            ["domains", d, "settings"] => match *method {
                Method::PATCH => {
                    let name = DomainName::new(d)?;
                    let patch: SettingsPatch = parse_json(body)?;
                    let _guard = self.writes.lock().await;
                    let mut domain = self.domain(&name).await?;
                    apply_settings(&mut domain.settings, patch)?;
                    self.store.put_domain(domain.clone()).await?;
                    tracing::info!(domain = %name, "domain settings changed");
                    Ok(Reply::ok(domain_json(&domain)))
                }
                _ => Err(method_not_allowed("PATCH")),
            },
            ["domains", d, "classes"] => {
                let name = DomainName::new(d)?;
                match *method {
                    Method::GET => {
                        self.domain(&name).await?;
                        let classes = self.store.classes(&name).await?;
                        Ok(Reply::ok(Value::Array(classes.iter().map(class_json).collect())))
                    }
                    Method::POST => self.create_class(name, body).await,
                    _ => Err(method_not_allowed("GET, POST")),
                }
            }
            ["domains", d, "classes", c] => {
                let name = DomainName::new(d)?;
                match *method {
                    Method::GET => Ok(Reply::ok(class_json(&self.class(&name, c).await?))),
                    Method::DELETE => {
                        let _guard = self.writes.lock().await;
                        self.store.delete_class(&name, c).await?;
                        tracing::info!(domain = %name, class = %c, "account class deleted");
                        Ok(Reply::ok(json!({ "deleted": c })))
                    }
                    _ => Err(method_not_allowed("GET, DELETE")),
                }
            }
            ["domains", d, "classes", c, "settings"] => match *method {
                Method::PATCH => {
                    let name = DomainName::new(d)?;
                    let patch: SettingsPatch = parse_json(body)?;
                    let _guard = self.writes.lock().await;
                    let mut class = self.class(&name, c).await?;
                    apply_settings(&mut class.settings, patch)?;
                    self.store.put_class(class.clone()).await?;
                    tracing::info!(domain = %name, class = %c, "account class settings changed");
                    Ok(Reply::ok(class_json(&class)))
                }
                _ => Err(method_not_allowed("PATCH")),
            },
            ["domains", d, "accounts"] => {
                let name = DomainName::new(d)?;
                match *method {
                    Method::GET => {
                        self.domain(&name).await?;
                        let accounts = self.store.accounts(&name).await?;
                        Ok(Reply::ok(Value::Array(accounts.iter().map(account_json).collect())))
                    }
                    Method::POST => self.create_account(name, body).await,
                    _ => Err(method_not_allowed("GET, POST")),
                }
            }
            ["domains", d, "aliases"] => match *method {
                Method::GET => {
                    let name = DomainName::new(d)?;
                    self.domain(&name).await?;
                    let mut out = Vec::new();
                    for alias in self.store.aliases(&name).await? {
                        out.push(self.alias_json(&alias).await?);
                    }
                    Ok(Reply::ok(Value::Array(out)))
                }
                _ => Err(method_not_allowed("GET")),
            },
            ["accounts", a] => match *method {
                Method::GET => Ok(Reply::ok(account_json(&self.account(a).await?))),
                Method::PATCH => self.patch_account(a, body).await,
                Method::DELETE => {
                    let _guard = self.writes.lock().await;
                    let account = self.account(a).await?;
                    self.store.delete_account(account.id).await?;
                    tracing::info!(account = %account.address, "account deleted");
                    Ok(Reply::ok(json!({ "deleted": account.address })))
                }
                _ => Err(method_not_allowed("GET, PATCH, DELETE")),
            },
            ["accounts", a, "settings"] => match *method {
                Method::PATCH => {
                    let patch: SettingsPatch = parse_json(body)?;
                    let _guard = self.writes.lock().await;
                    let mut account = self.account(a).await?;
                    apply_settings(&mut account.settings, patch)?;
                    self.store.update_account(account.clone()).await?;
                    tracing::info!(account = %account.address, "account settings changed");
                    Ok(Reply::ok(account_json(&account)))
                }
                _ => Err(method_not_allowed("PATCH")),
            },
            ["accounts", a, "effective"] => match *method {
                Method::GET => self.effective(a).await,
                _ => Err(method_not_allowed("GET")),
            },
            ["accounts", a, "seats", f] => {
                let feature: Feature = f
                    .parse()
                    .map_err(|e: axigen_core::license::UnknownFeature| ApiError::bad_request(e.to_string()))?;
                match *method {
                    Method::POST => {
                        let account = self.account(a).await?;
                        match self.licensing.authorize(account.id, feature).await {
                            Ok(grant) => Ok(Reply::ok(json!({
                                "account": account.address,
                                "feature": feature,
                                "seat_limited": grant.seat_limited,
                                "new_seat": grant.new_seat,
                            }))),
                            Err(refusal) => Err(ApiError::refusal(&refusal)),
                        }
                    }
                    Method::DELETE => {
                        let account = self.account(a).await?;
                        if self.licensing.release_seat(account.id, feature).await? {
                            Ok(Reply::ok(json!({
                                "account": account.address,
                                "feature": feature,
                                "released": true,
                            })))
                        } else {
                            Err(ApiError::not_found(format!("{} holds no {feature} seat", account.address)))
                        }
                    }
                    _ => Err(method_not_allowed("POST, DELETE")),
                }
            }
            ["license"] => match *method {
                Method::GET => self.license_view().await,
                Method::PUT => self.install_license(body),
                _ => Err(method_not_allowed("GET, PUT")),
            },
            ["aliases", a] => {
                let address = Address::parse(a)?;
                match *method {
                    Method::PUT => {
                        let req: AliasBody = parse_json(body)?;
                        let target = self.account(&req.account).await?;
                        let alias = Alias { address, account: target.id };
                        let _guard = self.writes.lock().await;
                        self.store.put_alias(alias.clone()).await?;
                        tracing::info!(alias = %alias.address, account = %target.address, "alias set");
                        Ok(Reply::ok(self.alias_json(&alias).await?))
                    }
                    Method::DELETE => {
                        let _guard = self.writes.lock().await;
                        self.store.delete_alias(&address).await?;
                        tracing::info!(alias = %address, "alias deleted");
                        Ok(Reply::ok(json!({ "deleted": address })))
                    }
                    _ => Err(method_not_allowed("PUT, DELETE")),
                }
            }
            ["check"] => match *method {
                Method::POST => {
                    let deep = deep_flag(query).ok_or_else(|| ApiError::bad_request("`deep` must be true or false"))?;
                    let store = self.store.clone();
                    let report = tokio::task::spawn_blocking(move || store.check(deep))
                        .await
                        .map_err(|e| ApiError::internal(format!("the check failed: {e}")))??;
                    let mut body = serde_json::to_value(&report).map_err(|e| ApiError::internal(e.to_string()))?;
                    if let Value::Object(map) = &mut body {
                        map.insert("clean".into(), Value::Bool(report.is_clean()));
                        map.insert("deep".into(), Value::Bool(deep));
                    }
                    Ok(Reply::ok(body))
                }
                _ => Err(method_not_allowed("POST")),
            },
            _ => Err(ApiError::not_found(format!("no such resource: /api/v1/{}", s.join("/")))),
        }
    }

    // --- lookups -----------------------------------------------------------

    async fn domain(&self, name: &DomainName) -> Result<Domain, ApiError> {
        self.store.domain(name).await?.ok_or_else(|| ApiError::not_found(format!("domain {name} does not exist")))
    }

    async fn class(&self, domain: &DomainName, name: &str) -> Result<AccountClass, ApiError> {
        self.domain(domain).await?;
        self.store
            .class(domain, name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("class {name} of domain {domain} does not exist")))
    }

    async fn account(&self, address: &str) -> Result<Account, ApiError> {
        let address = Address::parse(address)?;
        self.store
            .account_by_address(&address)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("account {address} does not exist")))
    }

    async fn address_of(&self, id: AccountId) -> Result<Value, ApiError> {
        Ok(match self.store.account(id).await? {
            Some(a) => json!(a.address),
            None => Value::Null,
        })
    }

    async fn alias_json(&self, alias: &Alias) -> Result<Value, ApiError> {
        Ok(json!({
            "address": alias.address,
            "account": self.address_of(alias.account).await?,
            "account_id": alias.account,
        }))
    }

    // --- writes ------------------------------------------------------------

    async fn create_domain(&self, body: &Bytes) -> ApiResult {
        let req: NewDomainBody = parse_json(body)?;
        let mut domain = Domain { name: DomainName::new(&req.name)?, settings: Overrides::default() };
        apply_settings(&mut domain.settings, req.settings)?;
        let _guard = self.writes.lock().await;
        if self.store.domain(&domain.name).await?.is_some() {
            return Err(ApiError::new(StatusCode::CONFLICT, format!("domain {} already exists", domain.name)));
        }
        self.store.put_domain(domain.clone()).await?;
        tracing::info!(domain = %domain.name, "domain created");
        Ok(Reply::created(domain_json(&domain)))
    }

    async fn create_class(&self, domain: DomainName, body: &Bytes) -> ApiResult {
        let req: NewClassBody = parse_json(body)?;
        axigen_core::model::validate_class_name(&req.name)?;
        let mut class = AccountClass { domain, name: req.name, settings: Overrides::default() };
        apply_settings(&mut class.settings, req.settings)?;
        let _guard = self.writes.lock().await;
        self.domain(&class.domain).await?;
        if self.store.class(&class.domain, &class.name).await?.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("class {} of domain {} already exists", class.name, class.domain),
            ));
        }
        self.store.put_class(class.clone()).await?;
        tracing::info!(domain = %class.domain, class = %class.name, "account class created");
        Ok(Reply::created(class_json(&class)))
    }

    async fn create_account(&self, domain: DomainName, body: &Bytes) -> ApiResult {
        let req: NewAccountBody = parse_json(body)?;
        let address = Address { local: LocalPart::new(&req.local_part)?, domain };
        let mut settings = Overrides::default();
        apply_settings(&mut settings, req.settings)?;
        let _guard = self.writes.lock().await;
        // Without a licence, or with one that does not cap accounts, there
        // is no account limit.
        if self.licensing.license().is_some_and(|l| l.max_accounts.is_some()) {
            let count = self.store.account_count().await?;
            self.licensing.check_account_count(count).map_err(|refusal| ApiError::refusal(&refusal))?;
        }
        let account = self
            .store
            .create_account(NewAccount {
                address,
                class: req.class,
                display_name: req.display_name,
                password: req.password,
                settings,
            })
            .await?;
        tracing::info!(account = %account.address, id = %account.id, "account created");
        Ok(Reply::created(account_json(&account)))
    }

    async fn patch_account(&self, address: &str, body: &Bytes) -> ApiResult {
        let req: AccountPatchBody = parse_json(body)?;
        let new_hash = match req.password {
            Some(password) if password.is_empty() => {
                return Err(ApiError::bad_request("the password may not be empty"));
            }
            Some(password) => Some(
                tokio::task::spawn_blocking(move || password::hash_password(&password))
                    .await
                    .map_err(|e| ApiError::internal(format!("password hashing failed: {e}")))??,
            ),
            None => None,
        };
        let _guard = self.writes.lock().await;
        let mut account = self.account(address).await?;
        if let Some(class) = req.class {
            account.class = class;
        }
        if let Some(display_name) = req.display_name {
            account.display_name = display_name;
        }
        if let Some(hash) = new_hash {
            account.password_hash = hash;
        }
        self.store.update_account(account.clone()).await?;
        tracing::info!(account = %account.address, "account changed");
        Ok(Reply::ok(account_json(&account)))
    }

    // --- views -------------------------------------------------------------

    async fn effective(&self, address: &str) -> ApiResult {
        let account = self.account(address).await?;
        let settings = self.store.effective_settings(account.id).await?;
        let mut licence = Map::new();
        for feature in Feature::ALL {
            let state = self.licensing.seat_state(account.id, feature).await?;
            licence.insert(
                feature.as_str().to_owned(),
                serde_json::to_value(&state).map_err(|e| ApiError::internal(e.to_string()))?,
            );
        }
        let (enabled, reason) = activesync_access(&*self.store, &self.licensing, account.id).await;
        Ok(Reply::ok(json!({
            "address": account.address,
            "id": account.id,
            "class": account.class,
            "settings": settings,
            "licence": licence,
            "activesync": { "enabled": enabled, "reason": reason },
        })))
    }

    async fn license_view(&self) -> ApiResult {
        let license = self.licensing.license();
        let mut seats = Map::new();
        for feature in Feature::ALL {
            let limit = license.as_ref().and_then(|l| l.seat_limit(feature));
            let holders = self.licensing.seat_holders(feature).await?;
            if limit.is_none() && holders.is_empty() {
                continue;
            }
            let mut addresses = Vec::with_capacity(holders.len());
            for id in holders {
                addresses.push(match self.store.account(id).await? {
                    Some(a) => json!(a.address),
                    None => json!(format!("account {id}")),
                });
            }
            seats.insert(feature.as_str().to_owned(), json!({ "limit": limit, "holders": addresses }));
        }
        let accounts = self.store.account_count().await?;
        Ok(Reply::ok(json!({
            "license": license,
            "expired": license.as_ref().map(|l| l.is_expired(self.licensing.now())),
            "accounts": {
                "count": accounts,
                "max": license.as_ref().and_then(|l| l.max_accounts),
            },
            "seats": seats,
            "can_install": self.license_provider.is_some(),
        })))
    }

    fn install_license(&self, body: &Bytes) -> ApiResult {
        let Some(provider) = &self.license_provider else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no vendor public key is configured, so a licence cannot be installed at run time",
            ));
        };
        let text =
            std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the licence file is not UTF-8 text"))?;
        match provider.reload_from(text) {
            Ok(license) => Ok(Reply::ok(json!({ "license": license }))),
            Err(e) => Err(ApiError::bad_request(e.to_string())),
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

#[cfg(test)]
#[path = "admin_tests.rs"]
mod admin_tests;
