//! Why a command was refused, and the response the client gets for it.

use std::borrow::Cow;

use super::response::{Code, Status, StatusResponse};
use super::types::Tag;

/// A refused command: what was wrong, and the tag when it could be read, so
/// that the session answers `tag BAD ...`, or `* BAD ...` without a tag
/// (RFC 9051 7.1.3: "... or if the command is sent without a tag, an
/// untagged BAD is sent"). [`CommandError::response`] gives the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct CommandError {
    /// The command's tag, if it was valid.
    pub tag: Option<Tag>,
    /// What was wrong.
    pub kind: ErrorKind,
}

/// What was wrong with a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The line does not start with a valid tag.
    #[error("missing or invalid tag")]
    MissingTag,
    /// A command name this server does not know.
    #[error("unknown command")]
    UnknownCommand,
    /// Anything the grammar does not allow.
    #[error("{0}")]
    Syntax(Cow<'static, str>),
    /// A mailbox name that is well formed as a string but not a valid
    /// name: modified UTF-7 that does not decode (RFC 3501 5.1.3), or a
    /// control character. The command is understood, so the answer is
    /// `NO [CANNOT]`, as for any name the server cannot have, rather than
    /// BAD (RFC 3501 9 lets a mailbox be any astring).
    #[error("{0}")]
    InvalidMailboxName(&'static str),
    /// Parentheses, NOT or OR nested too deeply.
    #[error("command nested too deeply")]
    TooDeep,
    /// A command line (between literals) longer than the limit.
    #[error("command line too long (limit {max} octets)")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// A literal larger than the limit; for APPEND the limit is the
    /// server's APPENDLIMIT (RFC 7889).
    #[error("literal of {size} octets exceeds the limit of {max}")]
    LiteralTooBig {
        /// The announced size.
        size: u64,
        /// The limit that applied.
        max: u64,
        /// Whether the command was APPEND.
        append: bool,
    },
    /// More literals in one command than the limit.
    #[error("too many literals in one command (limit {max})")]
    TooManyLiterals {
        /// The limit.
        max: usize,
    },
}

impl CommandError {
    /// An error without a tag.
    pub fn untagged(kind: ErrorKind) -> CommandError {
        CommandError { tag: None, kind }
    }

    /// The response for this error: tagged when the tag is known.
    ///
    /// - a literal over APPENDLIMIT: `NO [TOOBIG]` (RFC 7889 4, RFC 4469 5);
    /// - any other literal over its limit: `BAD [TOOBIG]` (RFC 7888 4);
    /// - a line or literal count over a limit, or too deep nesting:
    ///   `BAD [LIMIT]` (RFC 5530 3, RFC 9051 7.1);
    /// - a mailbox name the server cannot have: `NO [CANNOT]`;
    /// - everything else: `BAD` with the reason.
    pub fn response(&self) -> StatusResponse {
        let (status, code) = match &self.kind {
            ErrorKind::LiteralTooBig { append: true, .. } => (Status::No, Some(Code::TooBig)),
            ErrorKind::LiteralTooBig { append: false, .. } => (Status::Bad, Some(Code::TooBig)),
            ErrorKind::LineTooLong { .. } | ErrorKind::TooManyLiterals { .. } | ErrorKind::TooDeep => {
                (Status::Bad, Some(Code::Limit))
            }
            ErrorKind::InvalidMailboxName(_) => (Status::No, Some(Code::Cannot)),
            ErrorKind::MissingTag | ErrorKind::UnknownCommand | ErrorKind::Syntax(_) => (Status::Bad, None),
        };
        StatusResponse { tag: self.tag.clone(), status, code, text: self.kind.to_string() }
    }
}
