//! Server responses (RFC 9051 7, RFC 3501 7): status responses with their
//! response codes, continuation requests, and the untagged data this server
//! sends outside FETCH ([`Data`], defined in [`data`](super::data)).
//!
//! ```
//! use axigen_protocols::imap::response::{Code, Status, StatusResponse};
//! use axigen_protocols::imap::Tag;
//! let r = StatusResponse::tagged(Tag::new("A1").unwrap(), Status::No, "over quota").with_code(Code::OverQuota);
//! assert_eq!(r.to_bytes(), b"A1 NO [OVERQUOTA] over quota\r\n");
//! ```

use std::num::NonZeroU32;

use super::encode;
use super::sequence::SequenceSet;
use super::types::{Atom, Flag, Tag};

pub use super::data::{ContextUpdate, Data, ListEntry};

/// The condition of a status response (RFC 9051 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `OK`.
    Ok,
    /// `NO`: the command failed.
    No,
    /// `BAD`: protocol error.
    Bad,
    /// `PREAUTH`: greeting of a pre-authenticated connection.
    PreAuth,
    /// `BYE`: the server closes the connection.
    Bye,
}

impl Status {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::PreAuth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// An entry of `PERMANENTFLAGS`: a flag, or `\*` (RFC 9051 7.1: new
/// keywords may be created).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PermanentFlag {
    /// A flag that can be changed permanently.
    Flag(Flag),
    /// `\*`.
    Any,
}

/// A response code, `resp-text-code` (RFC 9051 7.1, RFC 3501 7.1, and the
/// extensions named on each variant).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Code {
    /// `ALERT`: show the text to the user.
    Alert,
    /// `ALREADYEXISTS` (RFC 5530 3).
    AlreadyExists,
    /// `APPENDUID uidvalidity uid-set` (RFC 4315 3).
    AppendUid {
        /// The UIDVALIDITY of the destination.
        uid_validity: NonZeroU32,
        /// The UIDs assigned, in the order appended.
        uids: SequenceSet,
    },
    /// `AUTHENTICATIONFAILED` (RFC 5530 3).
    AuthenticationFailed,
    /// `AUTHORIZATIONFAILED` (RFC 5530 3).
    AuthorizationFailed,
    /// `BADCHARSET [(charsets)]`.
    BadCharset(Vec<String>),
    /// `BADEVENT (events)` (RFC 5465 8): the events the server can report.
    BadEvent(Vec<String>),
    /// `NOUPDATE "tag"` (RFC 5267 4.3.1): the search will not be updated.
    NoUpdate(String),
    /// `BADURL url` (RFC 4469 6): a CATENATE URL that cannot be read.
    BadUrl(String),
    /// `CANNOT` (RFC 5530 3).
    Cannot,
    /// `CAPABILITY ...`: the capability names.
    Capability(Vec<String>),
    /// `CLIENTBUG` (RFC 5530 3).
    ClientBug,
    /// `CLOSED` (RFC 7162 3.2.11).
    Closed,
    /// `CONTACTADMIN` (RFC 5530 3).
    ContactAdmin,
    /// `COPYUID uidvalidity source destination` (RFC 4315 3); the two sets
    /// correspond element by element ([`SequenceSet::from_numbers_in_order`]).
    CopyUid {
        /// The UIDVALIDITY of the destination.
        uid_validity: NonZeroU32,
        /// The source UIDs.
        source: SequenceSet,
        /// The destination UIDs.
        destination: SequenceSet,
    },
    /// `CORRUPTION` (RFC 5530 3).
    Corruption,
    /// `EXPIRED` (RFC 5530 3).
    Expired,
    /// `EXPUNGEISSUED` (RFC 5530 3).
    ExpungeIssued,
    /// `HASCHILDREN` (RFC 9051 7.1).
    HasChildren,
    /// `HIGHESTMODSEQ n` (RFC 7162 3.1.2.1).
    HighestModSeq(u64),
    /// `INUSE` (RFC 5530 3).
    InUse,
    /// `LIMIT` (RFC 5530 3).
    Limit,
    /// `MODIFIED set` (RFC 7162 3.1.3): messages that failed UNCHANGEDSINCE.
    Modified(SequenceSet),
    /// `NOMODSEQ` (RFC 7162 3.1.2.2).
    NoModSeq,
    /// `NONEXISTENT` (RFC 5530 3).
    NonExistent,
    /// `NOPERM` (RFC 5530 3).
    NoPerm,
    /// `OVERQUOTA` (RFC 5530 3).
    OverQuota,
    /// `PARSE`.
    Parse,
    /// `PERMANENTFLAGS (...)`.
    PermanentFlags(Vec<PermanentFlag>),
    /// `PRIVACYREQUIRED` (RFC 5530 3).
    PrivacyRequired,
    /// `READ-ONLY`.
    ReadOnly,
    /// `READ-WRITE`.
    ReadWrite,
    /// `SERVERBUG` (RFC 5530 3).
    ServerBug,
    /// `TOOBIG` (RFC 4469 5, RFC 7889): a literal or message too large.
    TooBig,
    /// `TRYCREATE`.
    TryCreate,
    /// `UIDNEXT n`.
    UidNext(NonZeroU32),
    /// `UIDNOTSTICKY` (RFC 4315 3).
    UidNotSticky,
    /// `UIDVALIDITY n`.
    UidValidity(NonZeroU32),
    /// `UNAVAILABLE` (RFC 5530 3).
    Unavailable,
    /// `UNKNOWN-CTE` (RFC 3516 4.3).
    UnknownCte,
    /// `UNSEEN n` (RFC 3501 7.1; not sent by IMAP4rev2 servers).
    Unseen(NonZeroU32),
    /// Any other code, with optional text (no `]`, CR or LF: they are
    /// replaced by spaces).
    Other {
        /// The code name.
        name: Atom,
        /// Its argument.
        text: Option<String>,
    },
}

impl Code {
    fn encode(&self, out: &mut Vec<u8>) {
        let simple = |out: &mut Vec<u8>, s: &str| out.extend_from_slice(s.as_bytes());
        match self {
            Code::Alert => simple(out, "ALERT"),
            Code::AlreadyExists => simple(out, "ALREADYEXISTS"),
            Code::AppendUid { uid_validity, uids } => simple(out, &format!("APPENDUID {uid_validity} {uids}")),
            Code::AuthenticationFailed => simple(out, "AUTHENTICATIONFAILED"),
            Code::AuthorizationFailed => simple(out, "AUTHORIZATIONFAILED"),
            Code::BadEvent(events) => simple(out, &format!("BADEVENT ({})", events.join(" "))),
            Code::NoUpdate(tag) => {
                out.extend_from_slice(b"NOUPDATE ");
                encode::quoted(out, tag.as_bytes());
            }
            Code::BadUrl(url) => {
                out.extend_from_slice(b"BADURL ");
                // The URL as an astring; one that is not an atom is quoted,
                // control characters (never in a valid URL) dropped.
                let clean: Vec<u8> = url.bytes().filter(|b| !b.is_ascii_control() && *b != b']').collect();
                encode::quoted(out, &clean);
            }
            Code::BadCharset(charsets) => {
                simple(out, "BADCHARSET");
                if !charsets.is_empty() {
                    out.extend_from_slice(b" (");
                    for (i, c) in charsets.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        encode::astring(out, c.as_bytes(), false);
                    }
                    out.push(b')');
                }
            }
            Code::Cannot => simple(out, "CANNOT"),
            Code::Capability(caps) => {
                simple(out, "CAPABILITY");
                for c in caps {
                    out.push(b' ');
                    simple(out, c);
                }
            }
            Code::ClientBug => simple(out, "CLIENTBUG"),
            Code::Closed => simple(out, "CLOSED"),
            Code::ContactAdmin => simple(out, "CONTACTADMIN"),
            Code::CopyUid { uid_validity, source, destination } => {
                simple(out, &format!("COPYUID {uid_validity} {source} {destination}"))
            }
            Code::Corruption => simple(out, "CORRUPTION"),
            Code::Expired => simple(out, "EXPIRED"),
            Code::ExpungeIssued => simple(out, "EXPUNGEISSUED"),
            Code::HasChildren => simple(out, "HASCHILDREN"),
            Code::HighestModSeq(n) => simple(out, &format!("HIGHESTMODSEQ {n}")),
            Code::InUse => simple(out, "INUSE"),
            Code::Limit => simple(out, "LIMIT"),
            Code::Modified(set) => simple(out, &format!("MODIFIED {set}")),
            Code::NoModSeq => simple(out, "NOMODSEQ"),
            Code::NonExistent => simple(out, "NONEXISTENT"),
            Code::NoPerm => simple(out, "NOPERM"),
            Code::OverQuota => simple(out, "OVERQUOTA"),
            Code::Parse => simple(out, "PARSE"),
            Code::PermanentFlags(flags) => {
                simple(out, "PERMANENTFLAGS (");
                for (i, f) in flags.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    match f {
                        PermanentFlag::Flag(f) => simple(out, &f.to_string()),
                        PermanentFlag::Any => simple(out, "\\*"),
                    }
                }
                out.push(b')');
            }
            Code::PrivacyRequired => simple(out, "PRIVACYREQUIRED"),
            Code::ReadOnly => simple(out, "READ-ONLY"),
            Code::ReadWrite => simple(out, "READ-WRITE"),
            Code::ServerBug => simple(out, "SERVERBUG"),
            Code::TooBig => simple(out, "TOOBIG"),
            Code::TryCreate => simple(out, "TRYCREATE"),
            Code::UidNext(n) => simple(out, &format!("UIDNEXT {n}")),
            Code::UidNotSticky => simple(out, "UIDNOTSTICKY"),
            Code::UidValidity(n) => simple(out, &format!("UIDVALIDITY {n}")),
            Code::Unavailable => simple(out, "UNAVAILABLE"),
            Code::UnknownCte => simple(out, "UNKNOWN-CTE"),
            Code::Unseen(n) => simple(out, &format!("UNSEEN {n}")),
            Code::Other { name, text } => {
                simple(out, name.as_str());
                if let Some(text) = text.as_deref().filter(|t| !t.is_empty()) {
                    out.push(b' ');
                    // `atom [SP 1*<any TEXT-CHAR except "]">]`
                    out.extend(text.bytes().map(|b| if matches!(b, 0 | b'\r' | b'\n' | b']') { b' ' } else { b }));
                }
            }
        }
    }
}

/// A status response: `tag SP resp-cond-state` or `"*" SP resp-cond-...`
/// (RFC 9051 7.1), with an optional response code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    /// The command's tag; `None` for an untagged response.
    pub tag: Option<Tag>,
    /// OK, NO, BAD, PREAUTH or BYE.
    pub status: Status,
    /// The response code.
    pub code: Option<Code>,
    /// Human-readable text; CR and LF are replaced by spaces when encoded,
    /// and an empty text is sent as `completed`.
    pub text: String,
}

impl StatusResponse {
    /// A tagged response (the completion of a command).
    pub fn tagged(tag: Tag, status: Status, text: impl Into<String>) -> StatusResponse {
        StatusResponse { tag: Some(tag), status, code: None, text: text.into() }
    }

    /// An untagged response (`* OK ...`, `* BYE ...`).
    pub fn untagged(status: Status, text: impl Into<String>) -> StatusResponse {
        StatusResponse { tag: None, status, code: None, text: text.into() }
    }

    /// The same response with a response code.
    pub fn with_code(mut self, code: Code) -> StatusResponse {
        self.code = Some(code);
        self
    }

    /// Appends the wire form, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match &self.tag {
            Some(tag) => out.extend_from_slice(tag.as_str().as_bytes()),
            None => out.push(b'*'),
        }
        out.push(b' ');
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.push(b' ');
        if let Some(code) = &self.code {
            out.push(b'[');
            code.encode(out);
            out.extend_from_slice(b"] ");
        }
        encode::text(out, &self.text);
        out.extend_from_slice(b"\r\n");
    }

    /// The wire form, CRLF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// `continue-req = "+" SP (resp-text / base64) CRLF` with text: the answer
/// to a synchronising literal (RFC 9051 7.5) or to IDLE (RFC 2177 3).
pub fn continuation(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+ ");
    encode::text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// `continue-req` carrying a SASL challenge, base64-encoded (RFC 9051 6.2.2).
pub fn continuation_challenge(out: &mut Vec<u8>, challenge: &[u8]) {
    use base64::Engine as _;
    out.extend_from_slice(b"+ ");
    out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(challenge).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
