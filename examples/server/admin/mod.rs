//! The admin HTTP API of the reference server: JSON over HTTP/1.1 under
//! `/api/v1`, authenticated with HTTP Basic against the admin credential kept
//! in the store.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/api/v1/health` | liveness, no authentication |
//! | GET | `/api/v1/settings` | the settings catalogue |
//! | GET, POST | `/api/v1/domains` | list / create domains |
//! | GET, PATCH, DELETE | `/api/v1/domains/{d}` | one domain; PATCH `{"postmaster": "local-part" \| null}` |
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
//! | GET | `/api/v1/accounts/{address}/devices` | the account's mobile devices, by device id |
//! | GET, DELETE | `/api/v1/accounts/{address}/devices/{id}[?force=true]` | one device / remove the partnership |
//! | PUT | `/api/v1/accounts/{address}/devices/{id}/access` | `{"access": "allowed" \| "blocked" \| "quarantined"}` |
//! | POST, DELETE | `/api/v1/accounts/{address}/devices/{id}/wipe` | request (`{"account_only": bool}`) / withdraw a remote wipe |
//! | GET, PUT | `/api/v1/license` | the licence and its seat holders / install a signed licence |
//! | PUT, DELETE | `/api/v1/aliases/{address}` | create or re-point / remove an alias |
//! | POST | `/api/v1/check[?deep=true]` | store consistency check |
//! | GET | `/api/v1/throttle` | addresses, accounts and (address, account) pairs the login throttle slows or refuses |
//! | DELETE | `/api/v1/throttle/addresses/{ip}` | forget the failures of an address (or IPv6 /64) |
//! | DELETE | `/api/v1/throttle/accounts/{login}` | forget the failures on an account |
//!
//! Devices are ActiveSync partnerships, created by the devices themselves;
//! the administrator's decisions are honoured on the device's next request.
//! A device shows `provisioned` (it holds a policy key), `access` and `wipe`
//! (`{"state": "none" | "pending" | "sent" | "acknowledged", ...}`). A wipe
//! request answers 202: the device is told at its next request. It replaces
//! a pending wipe, re-arms after an acknowledged one, and is refused (409)
//! while a sent wipe awaits the device's acknowledgement; `DELETE .../wipe`
//! withdraws a wipe only while it is pending. Removing a partnership deletes
//! the device and its sync state in one write, so the device's next request
//! starts a clean full resync (it is unknown again, so a new record is made);
//! while a wipe is pending or sent that needs `?force=true` (409 otherwise),
//! as the device would then synchronise again instead of being wiped.
//!
//! Errors are `{"error": "<message>"}` with a status derived from
//! [`axigen_core::Error`]. Logins go through the login throttle that every
//! service shares ([`axigen_core::login_throttle`]): a refused login gets
//! 429 with `Retry-After`.
//!
//! The module is split by concern: [`auth`] checks credentials, [`routes`] holds the resource handlers; this file has the
//! connection handling, request dispatch and error mapping.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axigen_core::license::{LicenseRefusal, Licensing, SignedLicenseProvider};
use axigen_core::login_throttle::LoginThrottle;
use axigen_protocols::listener::RequestLimits;
use axigen_store::Store;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};

mod auth;
mod routes;

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 1 << 20;
/// How long a client may take to send the request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a request body of `length` bytes may take to arrive: the
/// listener's request timeout, plus what the length is worth at its
/// minimum data rate.
pub fn body_deadline(limits: RequestLimits, length: u64) -> Duration {
    let at_rate = length.checked_div(limits.min_rate).unwrap_or(0);
    limits.timeout + Duration::from_secs(at_rate)
}

/// The admin API: shared by every admin connection (put it in an `Arc`).
pub struct AdminApi {
    store: Arc<Store>,
    /// Licensing decisions; its licence provider should be `license_provider`
    /// when there is one, so that `PUT /license` takes effect.
    licensing: Licensing,
    /// The signed-licence provider that `PUT /license` reloads; `None` when
    /// no vendor public key is configured.
    license_provider: Option<Arc<SignedLicenseProvider>>,
    /// The login throttle shared with every service.
    throttle: Arc<LoginThrottle>,
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
            E::NoSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
            E::Storage(_) | E::Format(_) | E::Damaged(_) => return ApiError::internal(e.to_string()),
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
// Request paths
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

// ---------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------

impl AdminApi {
    /// The API over `store`. `licensing` should read its licence from
    /// `license_provider` when one is given (so that `PUT /license` is seen
    /// by every licensing decision); `license_provider` is `None` when the
    /// server has no vendor public key configured. `throttle` is the login
    /// throttle the other services use too.
    pub fn new(
        store: Arc<Store>,
        licensing: Licensing,
        license_provider: Option<Arc<SignedLicenseProvider>>,
        throttle: Arc<LoginThrottle>,
    ) -> AdminApi {
        AdminApi { store, licensing, license_provider, throttle, writes: tokio::sync::Mutex::new(()) }
    }

    /// Serves one admin connection (HTTP/1.1, keep-alive) until the client
    /// closes it. Errors are logged, not returned.
    /// (The reference server routes requests itself, to serve ActiveSync
    /// beside the API; this serves the API alone.)
    #[cfg_attr(not(test), allow(dead_code))]
    pub async fn serve_connection<C>(self: Arc<Self>, conn: C, peer: SocketAddr)
    where
        C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let api = self;
        let service = hyper::service::service_fn(move |req| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.handle(req, peer.ip(), RequestLimits::default()).await) }
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

    /// Answers one HTTP request from `peer`, whose body must arrive within
    /// `limits`.
    pub async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
        peer: IpAddr,
        limits: RequestLimits,
    ) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let declared_length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let too_large =
            || Reply::error(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body exceeds {MAX_BODY} bytes"));
        let deadline = body_deadline(limits, declared_length.unwrap_or(MAX_BODY as u64));
        let reply = if declared_length.is_some_and(|n| n > MAX_BODY as u64) {
            too_large()
        } else {
            match tokio::time::timeout(deadline, Limited::new(body, MAX_BODY).collect())
                .await
                .unwrap_or_else(|_| Err("the request body took too long to arrive".into()))
            {
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
}

#[cfg(test)]
mod tests;
