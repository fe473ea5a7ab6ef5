//! AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms, initial
//! responses included (SASL-IR).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::{Call, Expect, Pending, Session, Step};
use crate::smtp::AUTH_MECHANISMS;
use crate::smtp::backend::Role;
use crate::smtp::reply::Reply;

/// Base64 for SASL (RFC 4648 4); padding is optional because some clients
/// leave it out.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Where a SASL exchange stands (RFC 4954 4).
#[derive(Debug)]
pub(super) enum Sasl {
    /// `334 ` sent for PLAIN; the response is the whole PLAIN message.
    Plain,
    /// `334 VXNlcm5hbWU6` ("Username:") sent.
    LoginUser,
    /// `334 UGFzc3dvcmQ6` ("Password:") sent.
    LoginPassword { user: String },
}

impl Session {
    /// AUTH (RFC 4954 4).
    pub(super) fn on_auth(&mut self, mechanism: String, initial: Option<String>) -> Step {
        if self.info.role != Role::Submission {
            return self.refuse(Reply::new(502, (5, 5, 1), "AUTH not available"));
        }
        if !self.greeted {
            return self.bad_sequence("Send EHLO first");
        }
        if self.info.principal.is_some() {
            // RFC 4954 4: "a server MUST reject any further AUTH commands with a 503 reply."
            return self.bad_sequence("Already authenticated");
        }
        if self.envelope.is_some() {
            // RFC 4954 4: "An AUTH command issued during a mail transaction MUST be rejected with a 503 reply."
            return self.bad_sequence("AUTH not allowed during a mail transaction");
        }
        if !self.auth_allowed() {
            // RFC 4954 6: 538 5.7.11 Encryption required for requested authentication mechanism.
            return self.refuse(Reply::new(
                538,
                (5, 7, 11),
                "Encryption required for requested authentication mechanism",
            ));
        }
        if !AUTH_MECHANISMS.contains(&mechanism.as_str()) {
            // RFC 4954 4: unsupported mechanism -> 504.
            return self.refuse(Reply::new(504, (5, 5, 4), "Unrecognized authentication type"));
        }
        let initial = match initial.as_deref() {
            None => None,
            // RFC 4954 4: "=" is an initial response of zero length.
            Some("=") => Some(Vec::new()),
            Some(text) => match BASE64.decode(text) {
                Ok(bytes) => Some(bytes),
                Err(_) => return self.cannot_decode(),
            },
        };
        match (mechanism.as_str(), initial) {
            ("PLAIN", Some(message)) => self.plain(&message),
            ("PLAIN", None) => self.challenge(Sasl::Plain, ""),
            (_, Some(user)) => match String::from_utf8(user) {
                Ok(user) => self.challenge(Sasl::LoginPassword { user }, "UGFzc3dvcmQ6"),
                Err(_) => self.malformed_sasl(),
            },
            (_, None) => self.challenge(Sasl::LoginUser, "VXNlcm5hbWU6"),
        }
    }

    pub(super) fn challenge(&mut self, sasl: Sasl, text: &str) -> Step {
        self.expect = Expect::Sasl(sasl);
        Step::Reply(Reply::plain(334, text))
    }

    /// RFC 4954 4: "501 5.5.2 Cannot Base64-decode Client responses".
    pub(super) fn cannot_decode(&mut self) -> Step {
        self.refuse(Reply::new(501, (5, 5, 2), "Cannot Base64-decode Client responses"))
    }

    pub(super) fn malformed_sasl(&mut self) -> Step {
        self.refuse(Reply::new(501, (5, 5, 2), "Malformed authentication response"))
    }

    /// A line of a SASL exchange (RFC 4954 4).
    pub(super) fn on_sasl_response(&mut self, sasl: Sasl, line: &[u8]) -> Step {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line).trim_ascii();
        if line == b"*" {
            // RFC 4954 4: the client cancels; "it MUST reject the AUTH command by sending a 501 reply."
            return Step::Reply(Reply::new(501, (5, 0, 0), "Authentication cancelled"));
        }
        let Ok(decoded) = BASE64.decode(line) else {
            return self.cannot_decode();
        };
        match sasl {
            Sasl::Plain => self.plain(&decoded),
            Sasl::LoginUser => match String::from_utf8(decoded) {
                Ok(user) => self.challenge(Sasl::LoginPassword { user }, "UGFzc3dvcmQ6"),
                Err(_) => self.malformed_sasl(),
            },
            Sasl::LoginPassword { user } => match String::from_utf8(decoded) {
                Ok(password) => self.authenticate(user, password),
                Err(_) => self.malformed_sasl(),
            },
        }
    }

    /// ```text
    /// message   = [authzid] UTF8NUL authcid UTF8NUL passwd
    /// ```
    /// (RFC 4616 2.) An authorization identity other than the
    /// authentication identity (acting for someone else) is refused.
    pub(super) fn plain(&mut self, message: &[u8]) -> Step {
        let mut parts = message.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(passwd), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.malformed_sasl();
        };
        let (Ok(authzid), Ok(user), Ok(password)) =
            (std::str::from_utf8(authzid), std::str::from_utf8(authcid), std::str::from_utf8(passwd))
        else {
            return self.malformed_sasl();
        };
        if user.is_empty() || password.is_empty() {
            return self.malformed_sasl();
        }
        if !authzid.is_empty() && authzid != user {
            return self.refuse(Reply::new(535, (5, 7, 8), "Authorization identity must be empty or the user name"));
        }
        self.authenticate(user.to_owned(), password.to_owned())
    }

    pub(super) fn authenticate(&mut self, user: String, password: String) -> Step {
        self.expect = Expect::Backend(Pending::Auth);
        Step::Call(Call::Authenticate { user, password })
    }
}
