//! The SMTP server: ESMTP for mail exchange and message submission
//! (RFC 5321, RFC 6409), with the extensions listed in [`CAPABILITIES`].
//!
//! - [`command`]: the command parser for untrusted bytes.
//! - [`reply`]: replies and their wire form, with enhanced status codes.
//! - [`text`]: line framing and the DATA text decoder (dot-stuffing, end
//!   marker, size limit).
//! - [`session`]: the sans-IO state machine; every protocol decision.
//! - [`backend`]: the trait through which the session asks the rest of the
//!   server about authentication, senders, recipients and delivery.
//! - [`server`]: the tokio driver, [`SmtpService`], plugged into a
//!   [`Listener`](crate::listener::Listener).
//! - [`throttle`]: the per-address AUTH failure throttle shared by the
//!   connections of a service.
//!
//! # Implementation notes
//!
//! Invariants every change must keep:
//!
//! - **One reply per command, in order** (RFC 2920 3.1). The driver may hold
//!   replies back while pipelined commands are buffered, but flushes before
//!   it waits for input, and always right after a 354, a 334 challenge that
//!   the client must answer (covered by "before waiting"), STARTTLS's 220,
//!   and before closing.
//! - **Only CRLF.CRLF ends DATA.** A bare CR or LF never ends a line of the
//!   message text; a message holding one is read to the real end marker and
//!   refused (554 5.6.0). No combination of bare line ends can smuggle a
//!   second transaction ("SMTP smuggling", 2023).
//! - **Nothing the client sent before the TLS handshake is used after it**
//!   (RFC 3207 4.2, CVE-2011-0411): after the 220 of STARTTLS the driver
//!   drops every buffered octet, and the session forgets HELO/EHLO,
//!   authentication and the transaction.
//! - **BDAT octets are always consumed**, also for a refused BDAT (no MAIL,
//!   no recipients, too large), so that chunk content is never read as
//!   commands (RFC 3030 2).
//! - **Limits are enforced while reading**, never after buffering: command
//!   lines (`max_line`, an over-long line is discarded and answered with
//!   500 5.5.6), message size (the text past the limit is counted and
//!   dropped, then 552 5.3.4), recipients (452 4.5.3). DATA text lines have
//!   no length limit of their own: RFC 5321 4.5.3.1 asks for "techniques
//!   that impose no limits", and the message size bounds them.
//! - **Protocol errors are counted**: after `max_errors` refusals caused by
//!   the client (syntax, sequence, unsupported parameters) the session says
//!   `421 4.7.0` and closes. Refusals decided by the backend (unknown user,
//!   policy) do not count.
//! - **Passwords are never logged**: [`Call`]'s `Debug` hides them; the
//!   driver logs the user name only.
//! - **The backend's reply for DATA/BDAT LAST is sent only when it resolves**,
//!   i.e. once the message is stored or queued; the session never answers
//!   250 to the end of data by itself.
//! - Command lines may end with a bare LF (a CR before it is optional);
//!   this affects commands only, never the DATA text.
//! - After HELO the ESMTP parameters of MAIL are accepted as after EHLO.

pub mod backend;
pub mod client;
pub mod command;
pub mod reply;
pub mod server;
pub mod session;
pub mod text;

pub use axigen_core::login_throttle::{LoginThrottle, ThrottlePolicy};
pub use backend::{Envelope, Recipient, Role, SessionInfo, SmtpBackend, submit};
pub use command::{Body, Command, MailParams, ParseError, ReversePath};
pub use reply::Reply;
pub use server::{SmtpConfig, SmtpService};
pub use session::{Call, Outcome, Session, Step};

/// When an EHLO keyword is advertised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// In every EHLO reply.
    Always,
    /// Always, followed by the session's message size limit.
    WithMaxSize,
    /// While the listener can upgrade to TLS and the session is not yet TLS.
    BeforeTls,
    /// On submission listeners while AUTH may be used (TLS is on, or
    /// `allow_plaintext_auth`), followed by [`AUTH_MECHANISMS`].
    WhenAuthAllowed,
}

/// One EHLO keyword (RFC 5321 4.1.1.1) with the RFC that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// The keyword as advertised.
    pub keyword: &'static str,
    /// The defining RFC.
    pub rfc: &'static str,
    /// When it is advertised.
    pub offered: Offered,
}

/// The EHLO capabilities, in the order advertised.
pub const CAPABILITIES: &[Capability] = &[
    Capability { keyword: "PIPELINING", rfc: "RFC 2920", offered: Offered::Always },
    Capability { keyword: "SIZE", rfc: "RFC 1870", offered: Offered::WithMaxSize },
    Capability { keyword: "8BITMIME", rfc: "RFC 6152", offered: Offered::Always },
    Capability { keyword: "ENHANCEDSTATUSCODES", rfc: "RFC 2034", offered: Offered::Always },
    Capability { keyword: "SMTPUTF8", rfc: "RFC 6531", offered: Offered::Always },
    Capability { keyword: "CHUNKING", rfc: "RFC 3030", offered: Offered::Always },
    Capability { keyword: "BINARYMIME", rfc: "RFC 3030", offered: Offered::Always },
    Capability { keyword: "STARTTLS", rfc: "RFC 3207", offered: Offered::BeforeTls },
    Capability { keyword: "AUTH", rfc: "RFC 4954", offered: Offered::WhenAuthAllowed },
];

/// The SASL mechanisms offered with AUTH: PLAIN (RFC 4616) and LOGIN
/// (draft-murchison-sasl-login), both only over TLS unless the listener
/// allows plaintext authentication.
pub const AUTH_MECHANISMS: &[&str] = &["PLAIN", "LOGIN"];
