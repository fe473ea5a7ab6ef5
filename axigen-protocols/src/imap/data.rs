//! Untagged data responses (RFC 9051 7.2-7.4) other than FETCH, and those
//! of the extensions this server implements.

use std::num::NonZeroU32;

use super::encode;
use super::sequence::SequenceSet;
use super::status::StatusItem;
use super::types::{Flag, MailboxName, Tag};

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

/// A change to an updating search or sort result (RFC 5267 4.3.3, 4.3.4):
/// a position (0: wherever it belongs, or is) and the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextUpdate {
    /// `ADDTO (position set)`.
    AddTo(u32, SequenceSet),
    /// `REMOVEFROM (position set)`.
    RemoveFrom(u32, SequenceSet),
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
        /// `PARTIAL (low:high set)` (RFC 5267 4.4); `None` set is NIL.
        partial: Option<((u32, u32), Option<SequenceSet>)>,
        /// `ADDTO` / `REMOVEFROM` of an updating context (RFC 5267 4.3), in
        /// the order the client must apply them.
        updates: Vec<ContextUpdate>,
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
                // Written straight into the buffer: a search of a large
                // mailbox answers with tens of thousands of numbers.
                for n in numbers {
                    let _ = std::io::Write::write_fmt(out, format_args!(" {n}"));
                }
                if let Some(m) = modseq {
                    put(out, &format!(" (MODSEQ {m})"));
                }
            }
            Data::ESearch { tag, uid, min, max, all, count, modseq, partial, updates } => {
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
                if let Some(((low, high), set)) = partial {
                    match set {
                        Some(set) => put(out, &format!(" PARTIAL ({low}:{high} {set})")),
                        None => put(out, &format!(" PARTIAL ({low}:{high} NIL)")),
                    }
                }
                if let Some(m) = modseq {
                    put(out, &format!(" MODSEQ {m}"));
                }
                for update in updates {
                    match update {
                        ContextUpdate::AddTo(position, set) => put(out, &format!(" ADDTO ({position} {set})")),
                        ContextUpdate::RemoveFrom(position, set) => {
                            put(out, &format!(" REMOVEFROM ({position} {set})"))
                        }
                    }
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
