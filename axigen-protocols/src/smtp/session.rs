//! The sans-IO SMTP server session: every protocol decision, no sockets, no
//! clock, no async.
//!
//! The driver (the tokio one in [`super::server`], a test, a fuzzer) feeds
//! the session what the client sent and performs the [`Step`] it returns:
//!
//! | the session returns          | the driver                                                             |
//! |------------------------------|------------------------------------------------------------------------|
//! | [`Step::Reply`]              | sends the reply (it may hold it back while more pipelined input is buffered) and reads the next line for [`Session::on_line`] |
//! | [`Step::Call`]               | runs the backend call and hands the result to [`Session::on_backend`]  |
//! | [`Step::ReadData`]           | sends the 354 reply, flushes, then feeds the text to [`Session::on_data`] until it returns a step |
//! | [`Step::ReadChunk`]          | feeds exactly that many octets to [`Session::on_data`] (nothing is sent first) |
//! | [`Step::StartTls`]           | sends the reply, flushes, discards any buffered input, does the TLS handshake and calls [`Session::on_tls_established`] |
//! | [`Step::Close`]              | sends the replies, flushes and closes                                  |
//!
//! Lines are framed by [`super::text::LineFramer`]; an over-long one is
//! reported with [`Session::on_line_too_long`] instead.
//!
//! ```
//! use std::sync::Arc;
//! use axigen_protocols::smtp::{Call, Outcome, Role, Session, SessionInfo, SmtpConfig, Step};
//!
//! let config = Arc::new(SmtpConfig::new("mx.example.org", Role::Mx));
//! let info = SessionInfo {
//!     id: "s1".into(),
//!     peer: "192.0.2.1:40000".parse().unwrap(),
//!     local: "192.0.2.25:25".parse().unwrap(),
//!     role: Role::Mx,
//!     tls: false,
//!     helo: None,
//!     esmtp: false,
//!     principal: None,
//! };
//! let mut session = Session::new(config, info, false, |_| 10 << 20);
//! assert_eq!(session.greeting().code, 220);
//! assert!(matches!(session.on_line(b"EHLO client.example.net\r\n"), Step::Reply(r) if r.code == 250));
//! let Step::Call(Call::MailFrom { .. }) = session.on_line(b"MAIL FROM:<a@example.net>\r\n") else { panic!() };
//! let Step::Reply(reply) = session.on_backend(Outcome::MailFrom(Ok(()))) else { panic!() };
//! assert_eq!(reply.to_string(), "250 2.1.0 Sender OK");
//! ```

use std::fmt;
use std::sync::Arc;

use axigen_core::model::Principal;

use super::backend::{Envelope, Recipient, Role, SessionInfo};
use super::command::{Command, MailParams, ReversePath};
use super::reply::Reply;
use super::server::SmtpConfig;
use super::text::DotDecoder;
use super::{AUTH_MECHANISMS, CAPABILITIES, Offered};
use auth::Sasl;
use message::Chunks;

mod auth;
mod message;

/// What the driver must do next; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send the reply, then read the next line.
    Reply(Reply),
    /// Run this backend call, then hand its outcome to [`Session::on_backend`].
    Call(Call),
    /// Send this 354 reply and flush, then feed the message text to
    /// [`Session::on_data`].
    ReadData(Reply),
    /// Feed exactly this many octets (a BDAT chunk, at least 1) to
    /// [`Session::on_data`]; send nothing before.
    ReadChunk(u64),
    /// Send this 220 reply and flush, discard every octet already received
    /// (RFC 3207 4.2, CVE-2011-0411), do the TLS handshake, then call
    /// [`Session::on_tls_established`].
    StartTls(Reply),
    /// Send these replies, flush, and close the connection.
    Close(Vec<Reply>),
}

/// A decision the session needs from the [`SmtpBackend`](super::SmtpBackend).
/// [`Session::info`] and [`Session::envelope`] give the rest of the
/// arguments.
#[derive(Clone, PartialEq, Eq)]
pub enum Call {
    /// [`SmtpBackend::authenticate`](super::SmtpBackend::authenticate).
    Authenticate {
        /// The authentication identity.
        user: String,
        /// The password; never logged (the `Debug` output hides it).
        password: String,
    },
    /// [`SmtpBackend::mail_from`](super::SmtpBackend::mail_from).
    MailFrom {
        /// The sender.
        from: ReversePath,
        /// Its parameters.
        params: MailParams,
    },
    /// [`SmtpBackend::rcpt_to`](super::SmtpBackend::rcpt_to), with the
    /// session's current envelope.
    RcptTo {
        /// The recipient.
        to: String,
    },
    /// [`SmtpBackend::data`](super::SmtpBackend::data), with the session's
    /// current envelope.
    Data {
        /// The message.
        message: bytes::Bytes,
    },
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Authenticate { user, .. } => {
                f.debug_struct("Authenticate").field("user", user).field("password", &"<hidden>").finish()
            }
            Call::MailFrom { from, params } => {
                f.debug_struct("MailFrom").field("from", from).field("params", params).finish()
            }
            Call::RcptTo { to } => f.debug_struct("RcptTo").field("to", to).finish(),
            Call::Data { message } => f.debug_struct("Data").field("octets", &message.len()).finish(),
        }
    }
}

/// The result of a [`Call`], for [`Session::on_backend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Of [`Call::Authenticate`].
    Authenticated(Result<Principal, Reply>),
    /// Of [`Call::MailFrom`].
    MailFrom(Result<(), Reply>),
    /// Of [`Call::RcptTo`].
    RcptTo(Result<Recipient, Reply>),
    /// Of [`Call::Data`]: the reply for the end of DATA or BDAT LAST.
    Data(Reply),
}

/// The backend call outstanding.
#[derive(Debug)]
enum Pending {
    Auth,
    Mail { from: ReversePath, params: MailParams },
    Rcpt,
    Data,
}

/// What the session expects next from the driver.
#[derive(Debug)]
enum Expect {
    Command,
    Sasl(Sasl),
    Backend(Pending),
    Data(DotDecoder),
    /// BDAT chunk octets; `refusal` is the reply for a chunk read only to be
    /// thrown away (no transaction, no recipients).
    Chunk {
        remaining: u64,
        last: bool,
        refusal: Option<Reply>,
    },
    Tls,
    Closed,
}

/// The state of one SMTP session; see the [module documentation](self).
pub struct Session {
    config: Arc<SmtpConfig>,
    info: SessionInfo,
    starttls_offered: bool,
    size_limit: Box<dyn Fn(&SessionInfo) -> u64 + Send + Sync>,
    /// HELO or EHLO seen since the start (or since STARTTLS).
    greeted: bool,
    /// Set by an accepted MAIL; `None` outside a transaction.
    envelope: Option<Envelope>,
    /// Set by the first BDAT of a transaction.
    chunks: Option<Chunks>,
    expect: Expect,
    errors: u32,
    /// Transactions started (MAIL accepted) so far: numbers the message ids.
    transactions: u32,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("info", &self.info)
            .field("greeted", &self.greeted)
            .field("envelope", &self.envelope)
            .field("expect", &self.expect)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new session.
    ///
    /// `starttls_offered` says whether the listener can upgrade to TLS (it
    /// has a STARTTLS configuration); STARTTLS is advertised while
    /// `info.tls` is false. `size_limit` gives the largest message accepted
    /// (usually [`SmtpBackend::max_message_size`](super::SmtpBackend::max_message_size));
    /// it is asked again at each EHLO, MAIL, DATA and BDAT, since the
    /// answer may depend on TLS and authentication.
    pub fn new(
        config: Arc<SmtpConfig>,
        info: SessionInfo,
        starttls_offered: bool,
        size_limit: impl Fn(&SessionInfo) -> u64 + Send + Sync + 'static,
    ) -> Session {
        Session {
            config,
            info,
            starttls_offered,
            size_limit: Box::new(size_limit),
            greeted: false,
            envelope: None,
            chunks: None,
            expect: Expect::Command,
            errors: 0,
            transactions: 0,
        }
    }

    /// What the backend sees of this session.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The transaction in progress, if any.
    pub fn envelope(&self) -> Option<&Envelope> {
        self.envelope.as_ref()
    }

    /// Whether the session has ended (a [`Step::Close`] was returned).
    pub fn is_closed(&self) -> bool {
        matches!(self.expect, Expect::Closed)
    }

    /// The greeting (RFC 5321 4.3.1); no enhanced code (RFC 2034 3).
    pub fn greeting(&self) -> Reply {
        Reply::plain(220, format!("{} ESMTP ready", self.config.hostname))
    }

    fn max_size(&self) -> u64 {
        (self.size_limit)(&self.info)
    }

    fn hostname(&self) -> &str {
        &self.config.hostname
    }

    fn auth_allowed(&self) -> bool {
        self.info.role == Role::Submission && (self.info.tls || self.config.allow_plaintext_auth)
    }

    /// A refusal caused by the client's own mistake: counted, and once
    /// `max_errors` are reached the connection is closed after it.
    fn refuse(&mut self, reply: Reply) -> Step {
        self.errors = self.errors.saturating_add(1);
        if self.errors >= self.config.max_errors {
            return self.close(vec![
                reply,
                Reply::new(421, (4, 7, 0), format!("{} too many errors, closing connection", self.hostname())),
            ]);
        }
        Step::Reply(reply)
    }

    fn close(&mut self, replies: Vec<Reply>) -> Step {
        self.expect = Expect::Closed;
        Step::Close(replies)
    }

    fn internal_error(&mut self) -> Step {
        let reply = Reply::internal_error(self.hostname());
        self.close(vec![reply])
    }

    fn reset_transaction(&mut self) {
        self.envelope = None;
        self.chunks = None;
    }

    /// The command-line read timed out: `421 4.4.2` and close.
    pub fn on_timeout(&mut self) -> Step {
        let reply = Reply::new(421, (4, 4, 2), format!("{} timeout, closing connection", self.hostname()));
        self.close(vec![reply])
    }

    /// A line longer than the limit was received and discarded
    /// (RFC 5321 4.5.3.1.4, 4.5.3.1.9: "500 Line too long").
    pub fn on_line_too_long(&mut self) -> Step {
        match self.expect {
            // RFC 4954 4: "500 5.5.6 Authentication Exchange line is too long",
            // and the exchange is over.
            Expect::Sasl(_) => {
                self.expect = Expect::Command;
                self.refuse(Reply::new(500, (5, 5, 6), "Authentication Exchange line is too long"))
            }
            Expect::Command => self.refuse(Reply::new(500, (5, 5, 6), "Line too long")),
            _ => self.internal_error(),
        }
    }

    /// A complete line (a command, or a response in a SASL exchange), with
    /// or without its line ending.
    pub fn on_line(&mut self, line: &[u8]) -> Step {
        match std::mem::replace(&mut self.expect, Expect::Command) {
            Expect::Command => {}
            Expect::Sasl(sasl) => return self.on_sasl_response(sasl, line),
            other => {
                self.expect = other;
                return self.internal_error();
            }
        }
        let utf8 = self.envelope.as_ref().is_some_and(|e| e.params.smtputf8);
        let command = match Command::parse(line, utf8) {
            Ok(command) => command,
            Err(err) => return self.refuse(err.reply()),
        };
        match command {
            Command::Ehlo(domain) => self.on_hello(domain, true),
            Command::Helo(domain) => self.on_hello(domain, false),
            Command::Mail { from, params } => self.on_mail(from, params),
            Command::Rcpt { to, params } => self.on_rcpt(to, params),
            Command::Data => self.on_data_command(),
            Command::Bdat { size, last } => self.on_bdat(size, last),
            Command::Rset => {
                // RFC 5321 4.1.1.5
                self.reset_transaction();
                Step::Reply(Reply::new(250, (2, 0, 0), "OK"))
            }
            Command::Noop => Step::Reply(Reply::new(250, (2, 0, 0), "OK")),
            Command::Quit => {
                // RFC 5321 4.1.1.10
                let reply = Reply::new(221, (2, 0, 0), format!("{} closing connection", self.hostname()));
                self.close(vec![reply])
            }
            // RFC 5321 3.5.3 and 7.3: 252 says neither yes nor no, so VRFY
            // never reveals which users exist.
            Command::Vrfy(_) => Step::Reply(Reply::new(
                252,
                (2, 5, 0),
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            Command::Help => Step::Reply(Reply::new(
                214,
                (2, 0, 0),
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
            )),
            Command::StartTls => self.on_starttls(),
            Command::Auth { mechanism, initial } => self.on_auth(mechanism, initial),
        }
    }

    /// EHLO and HELO (RFC 5321 4.1.1.1). Both reset the transaction
    /// (RFC 5321 4.1.4); authentication is kept.
    fn on_hello(&mut self, domain: String, esmtp: bool) -> Step {
        self.reset_transaction();
        self.greeted = true;
        self.info.esmtp = esmtp;
        let greeting = format!("{} greets {domain}", self.hostname());
        self.info.helo = Some(domain);
        if !esmtp {
            return Step::Reply(Reply::plain(250, greeting));
        }
        let mut lines = vec![greeting];
        for capability in CAPABILITIES {
            match capability.offered {
                Offered::Always => lines.push(capability.keyword.to_owned()),
                Offered::WithMaxSize => lines.push(format!("{} {}", capability.keyword, self.max_size())),
                Offered::BeforeTls if self.starttls_offered && !self.info.tls => {
                    lines.push(capability.keyword.to_owned())
                }
                Offered::WhenAuthAllowed if self.auth_allowed() => {
                    lines.push(format!("{} {}", capability.keyword, AUTH_MECHANISMS.join(" ")))
                }
                Offered::BeforeTls | Offered::WhenAuthAllowed => {}
            }
        }
        // RFC 2034 3: no enhanced code in the EHLO reply.
        Step::Reply(Reply::multiline(250, lines))
    }

    fn bad_sequence(&mut self, text: &str) -> Step {
        self.refuse(Reply::new(503, (5, 5, 1), text))
    }

    /// MAIL (RFC 5321 4.1.1.2).
    fn on_mail(&mut self, from: ReversePath, params: MailParams) -> Step {
        if !self.greeted {
            // RFC 5321 4.1.4: a client MUST greet before starting a transaction.
            return self.bad_sequence("Send EHLO or HELO first");
        }
        if self.envelope.is_some() {
            // RFC 5321 4.1.4: MAIL is refused while a transaction is open.
            return self.bad_sequence("Nested MAIL command");
        }
        if self.info.role == Role::Submission && self.info.principal.is_none() {
            if !self.auth_allowed() && self.starttls_offered && !self.info.tls {
                // RFC 3207 4: AUTH is only possible after STARTTLS.
                return self.refuse(Reply::new(530, (5, 7, 0), "Must issue a STARTTLS command first"));
            }
            // RFC 4954 6 and RFC 6409 4.
            return self.refuse(Reply::new(530, (5, 7, 0), "Authentication required"));
        }
        if let Some((keyword, _)) = params.other.first() {
            // RFC 5321 4.1.1.11: parameters not recognized -> 555.
            let text = format!("MAIL parameter {keyword} not supported");
            return self.refuse(Reply::new(555, (5, 5, 4), text));
        }
        if let Some(size) = params.size
            && size > self.max_size()
        {
            // RFC 1870 6.1: the declared size exceeds the fixed maximum.
            let text = format!("Message size exceeds fixed maximum message size ({} octets)", self.max_size());
            return Step::Reply(Reply::new(552, (5, 3, 4), text));
        }
        self.expect = Expect::Backend(Pending::Mail { from: from.clone(), params: params.clone() });
        Step::Call(Call::MailFrom { from, params })
    }

    /// RCPT (RFC 5321 4.1.1.3).
    fn on_rcpt(&mut self, to: String, params: Vec<(String, Option<String>)>) -> Step {
        let Some(envelope) = &self.envelope else {
            return self.bad_sequence("Need MAIL before RCPT");
        };
        if self.chunks.is_some() {
            return self.bad_sequence("RCPT after BDAT");
        }
        if envelope.recipients.len() >= self.config.max_recipients {
            // RFC 5321 4.5.3.1.10: 452, which clients treat as "try the rest later".
            return Step::Reply(Reply::new(452, (4, 5, 3), "Too many recipients"));
        }
        if let Some((keyword, _)) = params.first() {
            // RFC 5321 4.1.1.11
            let text = format!("RCPT parameter {keyword} not supported");
            return self.refuse(Reply::new(555, (5, 5, 4), text));
        }
        self.expect = Expect::Backend(Pending::Rcpt);
        Step::Call(Call::RcptTo { to })
    }

    /// STARTTLS (RFC 3207 4).
    fn on_starttls(&mut self) -> Step {
        if self.info.tls {
            return self.bad_sequence("Already using TLS");
        }
        if !self.starttls_offered {
            return self.refuse(Reply::new(502, (5, 5, 1), "STARTTLS not available"));
        }
        if self.envelope.is_some() {
            return self.bad_sequence("STARTTLS not allowed during a mail transaction");
        }
        self.expect = Expect::Tls;
        Step::StartTls(Reply::new(220, (2, 0, 0), "Ready to start TLS"))
    }

    /// The TLS handshake after [`Step::StartTls`] succeeded. RFC 3207 4.2:
    /// the session starts over as if just connected (no greeting is sent;
    /// the client sends EHLO), forgetting HELO/EHLO and authentication.
    pub fn on_tls_established(&mut self) {
        self.info.tls = true;
        self.info.helo = None;
        self.info.esmtp = false;
        self.info.principal = None;
        self.greeted = false;
        self.reset_transaction();
        self.expect = Expect::Command;
    }

    /// The outcome of the [`Call`] the session asked for.
    pub fn on_backend(&mut self, outcome: Outcome) -> Step {
        let Expect::Backend(pending) = std::mem::replace(&mut self.expect, Expect::Command) else {
            return self.internal_error();
        };
        match (pending, outcome) {
            (Pending::Auth, Outcome::Authenticated(result)) => match result {
                Ok(principal) => {
                    self.info.principal = Some(principal);
                    Step::Reply(Reply::new(235, (2, 7, 0), "Authentication successful"))
                }
                Err(reply) => Step::Reply(reply),
            },
            (Pending::Mail { from, params }, Outcome::MailFrom(result)) => match result {
                Ok(()) => {
                    self.transactions += 1;
                    // An RFC 5321 Atom (the ID clause of Received:), so no dot.
                    let id = format!("{}-{}", self.info.id, self.transactions);
                    self.envelope = Some(Envelope { id, from, params, recipients: Vec::new() });
                    Step::Reply(Reply::new(250, (2, 1, 0), "Sender OK"))
                }
                Err(reply) => Step::Reply(reply),
            },
            (Pending::Rcpt, Outcome::RcptTo(result)) => match (result, &mut self.envelope) {
                (Ok(recipient), Some(envelope)) => {
                    envelope.recipients.push(recipient);
                    Step::Reply(Reply::new(250, (2, 1, 5), "Recipient OK"))
                }
                (Err(reply), _) => Step::Reply(reply),
                (Ok(_), None) => self.internal_error(),
            },
            (Pending::Data, Outcome::Data(reply)) => {
                // RFC 5321 4.1.1.4: the end of data ends the transaction.
                self.reset_transaction();
                Step::Reply(reply)
            }
            _ => self.internal_error(),
        }
    }
}

#[cfg(test)]
mod tests;
