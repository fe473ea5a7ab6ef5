//! Protocol side of the axigen mail platform.
//!
//! - [`listener`]: the listener framework every protocol service (SMTP,
//!   submission, IMAP, POP3, the HTTP admin API, ActiveSync) plugs into: a
//!   `[[listener]]` configuration table, address access rules, connection
//!   limits, implicit TLS, one task per connection and graceful shutdown.
//! - [`tls`]: TLS modes, loading certificates into a rustls server
//!   configuration, a self-signed development certificate, and the
//!   STARTTLS upgrade helper.
//! - [`imap`]: the IMAP server: command parser, response encoder, session
//!   and the tokio driver [`imap::ImapService`].
//! - [`smtp`]: the SMTP server (mail exchange and submission): command
//!   parser, sans-IO session, and the tokio driver [`smtp::SmtpService`].
//!
//! A service implements [`listener::Service`]; it receives each connection as
//! a `Box<dyn` [`listener::Connection`]`>` together with a
//! [`listener::ConnInfo`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dav;
pub mod dns;
pub mod dsn;
pub mod http;
pub mod imap;
pub mod inbound;
pub mod itip;
pub mod listener;
pub mod outbound;
pub mod pop3;
pub mod rpop;
pub mod smtp;
pub mod tls;
