//! The POP3 server (RFC 1939), with CAPA and response codes (RFC 2449,
//! RFC 3206), STLS (RFC 2595) and AUTH PLAIN (RFC 5034): the command parser
//! ([`command`]), the session without I/O ([`session`]) and the tokio driver
//! [`Pop3Service`] ([`server`]).
//!
//! # The maildrop
//!
//! The maildrop is the account's INBOX. At login the session takes a
//! snapshot of it (UIDs and sizes); message numbers `1..n` refer to that
//! snapshot for the whole session, and STAT/LIST give the octet counts of
//! the messages as stored (CRLF line ends). UIDL gives
//! `{uidvalidity}.{uid}`, the same for a message in every session.
//!
//! DELE only marks; RSET unmarks; QUIT in the TRANSACTION state enters the
//! UPDATE state and removes the marked messages in one store call
//! ([`MailStore::expunge`](axigen_core::mailstore::MailStore::expunge)). A
//! connection that ends without QUIT (dropped, idle timeout, too many
//! errors) deletes nothing.
//!
//! # POP3 and IMAP at once
//!
//! POP3 takes no lock on the maildrop; IMAP sessions (and deliveries) keep
//! working on INBOX meanwhile. The POP3 session sees its snapshot only:
//! messages delivered after the login appear at the next login, and
//! messages expunged by IMAP meanwhile keep their number, but RETR and TOP
//! of them answer `-ERR message was deleted by another session`. At QUIT
//! only the marked messages that still exist are removed; those already
//! expunged elsewhere are simply gone.
//!
//! # Security
//!
//! USER/PASS and AUTH PLAIN are refused (`-ERR [AUTH]`) and not advertised
//! in CAPA before TLS unless [`Pop3Config::allow_plaintext_auth`] is set.
//! Logins go through the shared
//! [`LoginThrottle`](axigen_core::login_throttle::LoginThrottle), like IMAP
//! and SMTP. An account whose effective `service.pop3` setting is off cannot
//! log in. After [`session::MAX_ERRORS`] refused commands the session is
//! closed.

pub mod client;
pub mod command;
pub mod server;
pub mod session;

pub use command::{Command, Line, LineReader, ParseError, parse};
pub use server::{Pop3Config, Pop3Service};
pub use session::{DotStuffer, Next, Session, Transfer};
