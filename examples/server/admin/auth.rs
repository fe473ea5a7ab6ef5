//! HTTP Basic authentication of the admin against the credential kept in the
//! store, through the login throttle every service shares.

use std::net::IpAddr;

use axigen_core::login_throttle::Admission;
use axigen_core::password;
use base64::Engine as _;
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};

use super::{AdminApi, ApiError, Reply};

/// The realm announced in `WWW-Authenticate`.
const REALM: &str = "Basic realm=\"axigen admin\"";

impl AdminApi {
    /// Checks HTTP Basic credentials against the store's admin credential,
    /// under the shared login throttle.
    pub(super) async fn authenticate(&self, authorization: Option<&str>, peer: IpAddr) -> Result<(), ApiError> {
        let unauthorized = |message: &str| {
            ApiError(
                Reply::error(StatusCode::UNAUTHORIZED, message)
                    .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM)),
            )
        };
        let Some(authorization) = authorization else {
            return Err(unauthorized("authentication required"));
        };
        let Some((user, password)) = parse_basic(authorization) else {
            // Counted as a wrong password of an unnamed login: a client
            // sending garbage again and again is slowed like any other.
            let hold = self.throttle.failed(peer, "", authorization);
            tracing::warn!(%peer, "admin login with a malformed Authorization header");
            tokio::time::sleep(hold).await;
            return Err(unauthorized("malformed Basic credentials"));
        };
        match self.throttle.admit(peer, &user) {
            Admission::Proceed => {}
            Admission::Delay(wait, reason) => {
                tracing::debug!(%peer, user = ?user, delay = ?wait, %reason, "admin login delayed");
                tokio::time::sleep(wait).await;
            }
            Admission::Refuse(reason) => {
                tracing::warn!(%peer, user = ?user, %reason, "admin login refused by the login throttle");
                let retry = self.throttle.policy().window.as_secs().max(1);
                return Err(ApiError(
                    Reply::error(StatusCode::TOO_MANY_REQUESTS, format!("{reason}; try again later"))
                        .with_header(header::RETRY_AFTER, HeaderValue::from(retry)),
                ));
            }
        }
        let credential = self.store.admin_credential()?;
        let (known, hash) = match credential {
            Some(c) if c.user == user => (true, c.password_hash),
            _ => (false, password::dummy_hash().to_owned()),
        };
        let typed = password.clone();
        let verified = tokio::task::spawn_blocking(move || password::verify_password(&typed, &hash))
            .await
            .map_err(|e| ApiError::internal(format!("password check failed: {e}")))?;
        if known && verified {
            self.throttle.succeeded(peer, &user);
            Ok(())
        } else {
            let hold = self.throttle.failed(peer, &user, &password);
            tracing::warn!(%peer, user = ?user, "admin login failed");
            tokio::time::sleep(hold).await;
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
