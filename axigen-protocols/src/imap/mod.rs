//! The IMAP server's protocol layer: the command parser for what clients
//! send, and the encoder for what the server answers. IMAP4rev2 (RFC 9051)
//! and IMAP4rev1 (RFC 3501), with the extensions listed in [`EXTENSIONS`].
//!
//! - [`CommandReader`]: frames the byte stream into commands, handles
//!   literals (synchronising and LITERAL+), enforces the limits, and reads
//!   the continuation lines of AUTHENTICATE and IDLE.
//! - [`Command`] / [`CommandBody`]: the parsed commands; per area in
//!   [`append`], [`fetch`], [`search`], [`store`], [`list`], [`status`]
//!   and [`extensions`].
//! - [`types`], [`sequence`], [`datetime`]: validated values (tags, atoms,
//!   flags, mailbox names, sequence sets, dates).
//! - [`mutf7`]: modified UTF-7 mailbox names (RFC 3501 5.1.3).
//! - [`response`] and [`encode`]: status responses with response codes,
//!   untagged [`data`], and the wire forms of strings, names and flag lists.
//! - [`session`]: the session state and the command handlers, over the
//!   directory and the mail store; [`server`]: [`ImapService`], the tokio
//!   driver plugged into a [`Listener`](crate::listener::Listener);
//!   [`limits`]: logins per account and the command rate.
//!
//! This is our own parser rather than `imap-codec`: the server needs the
//! server side of ACL (RFC 4314), LIST-EXTENDED and LIST-STATUS (RFC 5258,
//! RFC 5819), ESEARCH (RFC 4731) and QRESYNC (RFC 7162), and a streaming
//! reader whose literal limits depend on the command (APPENDLIMIT).
//!
//! # Implementation notes
//!
//! Invariants every change must keep:
//!
//! - **Untrusted bytes never panic the parser.** No indexing without a
//!   bound check, no `unwrap` on anything the client sent; recursion
//!   (SEARCH keys) is bounded by `parser::MAX_DEPTH`. The `imap_command`
//!   fuzz target holds the reader to this, and to bounded memory.
//! - **Limits are enforced before buffering.** A literal is checked when it
//!   is announced, before `+` is sent (RFC 9051 7.5) or a non-synchronising
//!   literal is read; a line is refused as soon as it passes `max_line`.
//! - **Data is never taken for commands.** When a command with a
//!   non-synchronising literal is refused, the literal's octets and the
//!   rest of the command are dropped (RFC 7888 4); an over-long line is
//!   dropped to its end, and a literal it announces is skipped too.
//! - **Every refusal carries the tag when it could be read**
//!   ([`CommandError::tag`]); without a tag the answer is `* BAD`
//!   (RFC 9051 7.1.3).
//! - **The canonical encoding round-trips.** [`Command::encode`] output
//!   parses to the same command, and canonical input prints back
//!   byte-for-byte; the known-answer tests check both directions.
//! - **Mailbox names are decoded at the edge.** [`MailboxName`] is UTF-8;
//!   modified UTF-7 exists only on the wire, and not at all once the
//!   client has enabled UTF8=ACCEPT (RFC 6855 3). Decoding is strict (only
//!   the canonical encoding), so two wire names never map to one mailbox.
//! - **Secrets stay secret.** Passwords and SASL data are [`Secret`]s,
//!   whose `Debug` hides them.
//! - **Leniencies are few and listed**: trailing spaces before CRLF; a bare
//!   LF as line ending; UTF-8 in quoted strings (RFC 9051 allows it, RFC
//!   3501 did not); a one-digit day in `date-time`; options of LIST in any
//!   order; more than one space between the messages of MULTIAPPEND. Everything else the grammar does not allow is BAD.

pub mod append;
pub mod command;
pub mod data;
pub mod datetime;
pub mod encode;
pub mod error;
pub mod extensions;
pub mod fetch;
pub mod limits;
pub mod list;
pub mod mutf7;
mod parser;
pub mod reader;
pub mod recent;
pub mod response;
pub mod search;
pub mod sequence;
pub mod server;
pub mod session;
pub mod sort;
pub mod sort_keys;
pub mod status;
pub mod store;
pub mod thread;
pub mod types;

pub use append::{AppendMessage, CatPart};
pub use command::{Command, CommandBody, ParseOptions};
pub use datetime::{Date, DateTime};
pub use error::{CommandError, ErrorKind};
pub use fetch::{FetchAttribute, FetchCommand, FetchItems, Partial, Section, SectionText};
pub use list::{ListCommand, ListReturn, ListSelect};
pub use reader::{CommandReader, Event, ReaderLimits};
pub use response::{Code, Data, Status, StatusResponse};
pub use search::{SearchCommand, SearchKey, SearchReturn};
pub use sequence::{SeqNumber, SeqRange, SequenceSet};
pub use server::{ImapConfig, ImapService};
pub use status::StatusItem;
pub use store::{StoreAction, StoreCommand};
pub use types::{Atom, Flag, InvalidValue, MailboxName, Secret, Tag};

/// An extension the parser understands, with the RFC that defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    /// The capability name.
    pub capability: &'static str,
    /// The defining RFC.
    pub rfc: &'static str,
}

/// The extensions whose commands and arguments the parser understands. The
/// server advertises those it also implements.
pub const EXTENSIONS: &[Extension] = &[
    Extension { capability: "IMAP4rev2", rfc: "RFC 9051" },
    Extension { capability: "IMAP4rev1", rfc: "RFC 3501" },
    Extension { capability: "LITERAL+", rfc: "RFC 7888" },
    Extension { capability: "LITERAL-", rfc: "RFC 7888" },
    Extension { capability: "SASL-IR", rfc: "RFC 4959" },
    Extension { capability: "ENABLE", rfc: "RFC 5161" },
    Extension { capability: "ID", rfc: "RFC 2971" },
    Extension { capability: "IDLE", rfc: "RFC 2177" },
    Extension { capability: "NAMESPACE", rfc: "RFC 2342" },
    Extension { capability: "UNSELECT", rfc: "RFC 3691" },
    Extension { capability: "UIDPLUS", rfc: "RFC 4315" },
    Extension { capability: "MOVE", rfc: "RFC 6851" },
    Extension { capability: "CONDSTORE", rfc: "RFC 7162" },
    Extension { capability: "QRESYNC", rfc: "RFC 7162" },
    Extension { capability: "ESEARCH", rfc: "RFC 4731" },
    Extension { capability: "SORT", rfc: "RFC 5256" },
    Extension { capability: "SORT=DISPLAY", rfc: "RFC 5957" },
    Extension { capability: "ESORT", rfc: "RFC 5267" },
    Extension { capability: "CONTEXT=SEARCH", rfc: "RFC 5267" },
    Extension { capability: "CONTEXT=SORT", rfc: "RFC 5267" },
    Extension { capability: "NOTIFY", rfc: "RFC 5465" },
    Extension { capability: "THREAD=ORDEREDSUBJECT", rfc: "RFC 5256" },
    Extension { capability: "THREAD=REFERENCES", rfc: "RFC 5256" },
    Extension { capability: "SEARCHRES", rfc: "RFC 5182" },
    Extension { capability: "WITHIN", rfc: "RFC 5032" },
    Extension { capability: "LIST-EXTENDED", rfc: "RFC 5258" },
    Extension { capability: "LIST-STATUS", rfc: "RFC 5819" },
    Extension { capability: "SPECIAL-USE", rfc: "RFC 6154" },
    Extension { capability: "CREATE-SPECIAL-USE", rfc: "RFC 6154" },
    Extension { capability: "BINARY", rfc: "RFC 3516" },
    Extension { capability: "MULTIAPPEND", rfc: "RFC 3502" },
    Extension { capability: "CATENATE", rfc: "RFC 4469" },
    Extension { capability: "UTF8=ACCEPT", rfc: "RFC 6855" },
    Extension { capability: "APPENDLIMIT", rfc: "RFC 7889" },
    Extension { capability: "STATUS=SIZE", rfc: "RFC 8438" },
    Extension { capability: "ACL", rfc: "RFC 4314" },
    Extension { capability: "QUOTA", rfc: "RFC 9208" },
];
