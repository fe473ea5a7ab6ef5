//! Server responses (RFC 9051 7, RFC 3501 7): status responses with their
//! response codes, continuation requests, and the untagged data this server
//! sends outside FETCH.
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
use super::status::StatusItem;
use super::types::{Atom, Flag, MailboxName, Tag};

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

/// A `mailbox-list` entry (RFC 9051 7.3.1) of LIST or LSUB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Name attributes with their backslash, e.g. `\HasNoChildren`, `\Sent`.
    pub attributes: Vec<String>,
    /// The hierarchy delimiter; `None` for a flat namespace (NIL).
    pub delimiter: Option<char>,
    /// The decoded name (may be empty for `LIST "" ""`).
    pub mailbox: String,
    /// `CHILDINFO ("SUBSCRIBED")` (RFC 5258 3.5).
    pub child_subscribed: bool,
}

/// Untagged data responses (other than FETCH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// `* CAPABILITY ...` (RFC 9051 7.2.2).
    Capability(Vec<String>),
    /// `* ENABLED ...` (RFC 5161 3.2).
    Enabled(Vec<String>),
    /// `* FLAGS (...)` (RFC 9051 7.3.5).
    Flags(Vec<Flag>),
    /// `* n EXISTS` (RFC 9051 7.4.1).
    Exists(u32),
    /// `* n RECENT` (RFC 3501 7.3.2).
    Recent(u32),
    /// `* n EXPUNGE` (RFC 9051 7.5.1).
    Expunge(NonZeroU32),
    /// `* VANISHED [(EARLIER)] uids` (RFC 7162 3.2.10).
    Vanished {
        /// `(EARLIER)`: a response to SELECT or UID FETCH, not an expunge now.
        earlier: bool,
        /// The expunged UIDs.
        uids: SequenceSet,
    },
    /// `* LIST ...` (RFC 9051 7.3.1).
    List(ListEntry),
    /// `* LSUB ...` (RFC 3501 7.2.3).
    Lsub(ListEntry),
    /// `* STATUS mailbox (item value ...)` (RFC 9051 7.3.2).
    Status {
        /// The decoded name.
        mailbox: MailboxName,
        /// The items and their values.
        items: Vec<(StatusItem, u64)>,
    },
    /// `* SEARCH n ... [(MODSEQ m)]` (RFC 3501 7.2.5, RFC 7162 3.1.5).
    Search {
        /// The matching numbers.
        numbers: Vec<u32>,
        /// The highest mod-sequence of the matches, when MODSEQ was searched.
        modseq: Option<u64>,
    },
    /// `* ESEARCH (TAG "t") [UID] ...` (RFC 4731 3.1, RFC 9051 7.3.4).
    ESearch {
        /// The tag of the SEARCH command.
        tag: Option<Tag>,
        /// Whether the numbers are UIDs.
        uid: bool,
        /// `MIN`.
        min: Option<u32>,
        /// `MAX`.
        max: Option<u32>,
        /// `ALL`, compressed.
        all: Option<SequenceSet>,
        /// `COUNT`.
        count: Option<u32>,
        /// `MODSEQ` (RFC 7162 3.1.5).
        modseq: Option<u64>,
    },
    /// `* NAMESPACE personal other shared` (RFC 2342 5), each a list of
    /// (prefix, delimiter), NIL when empty.
    Namespace {
        /// Personal namespaces.
        personal: Vec<(String, Option<char>)>,
        /// Other users' namespaces.
        other: Vec<(String, Option<char>)>,
        /// Shared namespaces.
        shared: Vec<(String, Option<char>)>,
    },
    /// `* QUOTA root (resource usage limit ...)` (RFC 9208 5.1).
    Quota {
        /// The quota root.
        root: String,
        /// (resource name, usage, limit).
        resources: Vec<(String, u64, u64)>,
    },
    /// `* QUOTAROOT mailbox root ...` (RFC 9208 5.2).
    QuotaRoot {
        /// The mailbox asked about.
        mailbox: MailboxName,
        /// Its quota roots.
        roots: Vec<String>,
    },
    /// `* ACL mailbox identifier rights ...` (RFC 4314 3.6).
    Acl {
        /// The mailbox.
        mailbox: MailboxName,
        /// (identifier, rights).
        entries: Vec<(String, String)>,
    },
    /// `* LISTRIGHTS mailbox identifier required optional...` (RFC 4314 3.7).
    ListRights {
        /// The mailbox.
        mailbox: MailboxName,
        /// The identifier asked about.
        identifier: String,
        /// Rights always granted.
        required: String,
        /// Groups of rights that may be granted.
        optional: Vec<String>,
    },
    /// `* MYRIGHTS mailbox rights` (RFC 4314 3.8).
    MyRights {
        /// The mailbox.
        mailbox: MailboxName,
        /// The user's rights.
        rights: String,
    },
    /// `* ID (...)` or `* ID NIL` (RFC 2971 3.2).
    Id(Option<Vec<(String, Option<String>)>>),
}

impl Data {
    /// Appends the wire form, CRLF included; `utf8` when the client enabled
    /// UTF8=ACCEPT (mailbox names and strings are then UTF-8).
    pub fn encode(&self, out: &mut Vec<u8>, utf8: bool) {
        out.extend_from_slice(b"* ");
        let put = |out: &mut Vec<u8>, s: &str| out.extend_from_slice(s.as_bytes());
        match self {
            Data::Capability(caps) | Data::Enabled(caps) => {
                put(out, if matches!(self, Data::Capability(_)) { "CAPABILITY" } else { "ENABLED" });
                for c in caps {
                    out.push(b' ');
                    put(out, c);
                }
            }
            Data::Flags(flags) => {
                put(out, "FLAGS ");
                encode::flag_list(out, flags);
            }
            Data::Exists(n) => put(out, &format!("{n} EXISTS")),
            Data::Recent(n) => put(out, &format!("{n} RECENT")),
            Data::Expunge(n) => put(out, &format!("{n} EXPUNGE")),
            Data::Vanished { earlier, uids } => {
                put(out, if *earlier { "VANISHED (EARLIER) " } else { "VANISHED " });
                put(out, &uids.to_string());
            }
            Data::List(entry) | Data::Lsub(entry) => {
                put(out, if matches!(self, Data::List(_)) { "LIST (" } else { "LSUB (" });
                put(out, &entry.attributes.join(" "));
                out.extend_from_slice(b") ");
                match entry.delimiter {
                    Some(d) => {
                        let mut buf = [0u8; 4];
                        encode::quoted(out, d.encode_utf8(&mut buf).as_bytes());
                    }
                    None => put(out, "NIL"),
                }
                out.push(b' ');
                encode::mailbox_str(out, &entry.mailbox, utf8);
                if entry.child_subscribed {
                    put(out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
                }
            }
            Data::Status { mailbox, items } => {
                put(out, "STATUS ");
                encode::mailbox(out, mailbox, utf8);
                put(out, " (");
                let items: Vec<String> = items.iter().map(|(item, v)| format!("{} {v}", item.as_str())).collect();
                put(out, &items.join(" "));
                out.push(b')');
            }
            Data::Search { numbers, modseq } => {
                put(out, "SEARCH");
                for n in numbers {
                    put(out, &format!(" {n}"));
                }
                if let Some(m) = modseq {
                    put(out, &format!(" (MODSEQ {m})"));
                }
            }
            Data::ESearch { tag, uid, min, max, all, count, modseq } => {
                put(out, "ESEARCH");
                if let Some(tag) = tag {
                    put(out, " (TAG ");
                    encode::quoted(out, tag.as_str().as_bytes());
                    out.push(b')');
                }
                if *uid {
                    put(out, " UID");
                }
                for (name, value) in [("MIN", min), ("MAX", max)] {
                    if let Some(v) = value {
                        put(out, &format!(" {name} {v}"));
                    }
                }
                if let Some(all) = all {
                    put(out, &format!(" ALL {all}"));
                }
                if let Some(count) = count {
                    put(out, &format!(" COUNT {count}"));
                }
                if let Some(m) = modseq {
                    put(out, &format!(" MODSEQ {m}"));
                }
            }
            Data::Namespace { personal, other, shared } => {
                put(out, "NAMESPACE");
                for group in [personal, other, shared] {
                    out.push(b' ');
                    if group.is_empty() {
                        put(out, "NIL");
                        continue;
                    }
                    out.push(b'(');
                    for (prefix, delim) in group {
                        out.push(b'(');
                        encode::mailbox_str(out, prefix, utf8);
                        out.push(b' ');
                        match delim {
                            Some(d) => encode::quoted(out, d.to_string().as_bytes()),
                            None => put(out, "NIL"),
                        }
                        out.push(b')');
                    }
                    out.push(b')');
                }
            }
            Data::Quota { root, resources } => {
                put(out, "QUOTA ");
                encode::astring(out, root.as_bytes(), utf8);
                put(out, " (");
                let items: Vec<String> = resources.iter().map(|(r, u, l)| format!("{r} {u} {l}")).collect();
                put(out, &items.join(" "));
                out.push(b')');
            }
            Data::QuotaRoot { mailbox, roots } => {
                put(out, "QUOTAROOT ");
                encode::mailbox(out, mailbox, utf8);
                for root in roots {
                    out.push(b' ');
                    encode::astring(out, root.as_bytes(), utf8);
                }
            }
            Data::Acl { mailbox, entries } => {
                put(out, "ACL ");
                encode::mailbox(out, mailbox, utf8);
                for (identifier, rights) in entries {
                    out.push(b' ');
                    encode::astring(out, identifier.as_bytes(), utf8);
                    out.push(b' ');
                    encode::astring(out, rights.as_bytes(), utf8);
                }
            }
            Data::ListRights { mailbox, identifier, required, optional } => {
                put(out, "LISTRIGHTS ");
                encode::mailbox(out, mailbox, utf8);
                out.push(b' ');
                encode::astring(out, identifier.as_bytes(), utf8);
                out.push(b' ');
                encode::astring(out, required.as_bytes(), utf8);
                for o in optional {
                    out.push(b' ');
                    encode::astring(out, o.as_bytes(), utf8);
                }
            }
            Data::MyRights { mailbox, rights } => {
                put(out, "MYRIGHTS ");
                encode::mailbox(out, mailbox, utf8);
                out.push(b' ');
                encode::astring(out, rights.as_bytes(), utf8);
            }
            Data::Id(params) => {
                put(out, "ID ");
                match params {
                    None => put(out, "NIL"),
                    Some(params) => {
                        out.push(b'(');
                        for (i, (k, v)) in params.iter().enumerate() {
                            if i > 0 {
                                out.push(b' ');
                            }
                            encode::string(out, k.as_bytes(), utf8);
                            out.push(b' ');
                            encode::nstring(out, v.as_deref().map(str::as_bytes), utf8);
                        }
                        out.push(b')');
                    }
                }
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The wire form, CRLF included.
    pub fn to_bytes(&self, utf8: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out, utf8);
        out
    }
}

#[cfg(test)]
mod tests;
