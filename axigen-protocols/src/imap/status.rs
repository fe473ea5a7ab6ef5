//! STATUS data items (RFC 9051 6.3.11), shared by STATUS and the STATUS
//! return option of LIST (RFC 5819).

use super::parser::{PResult, Parser, syntax};

/// A `status-att`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    /// `MESSAGES`.
    Messages,
    /// `RECENT` (RFC 3501 only).
    Recent,
    /// `UIDNEXT`.
    UidNext,
    /// `UIDVALIDITY`.
    UidValidity,
    /// `UNSEEN`.
    Unseen,
    /// `DELETED` (RFC 9051 6.3.11).
    Deleted,
    /// `SIZE` (RFC 9051 6.3.11, RFC 8438).
    Size,
    /// `HIGHESTMODSEQ` (RFC 7162 3.1.6).
    HighestModSeq,
    /// `APPENDLIMIT` (RFC 7889 3).
    AppendLimit,
}

const ITEMS: [(StatusItem, &str); 9] = [
    (StatusItem::Messages, "MESSAGES"),
    (StatusItem::Recent, "RECENT"),
    (StatusItem::UidNext, "UIDNEXT"),
    (StatusItem::UidValidity, "UIDVALIDITY"),
    (StatusItem::Unseen, "UNSEEN"),
    (StatusItem::Deleted, "DELETED"),
    (StatusItem::Size, "SIZE"),
    (StatusItem::HighestModSeq, "HIGHESTMODSEQ"),
    (StatusItem::AppendLimit, "APPENDLIMIT"),
];

impl StatusItem {
    /// The item's name.
    pub fn as_str(self) -> &'static str {
        ITEMS.iter().find(|(i, _)| *i == self).map_or("", |(_, n)| n)
    }
}

/// ```abnf
/// status-att      = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" /
///                   "UNSEEN" / "DELETED" / "SIZE"     ; RFC 9051
/// status-att      =/ "RECENT"                         ; RFC 3501
/// status-att      =/ "HIGHESTMODSEQ"                  ; RFC 7162
/// status-att      =/ "APPENDLIMIT"                    ; RFC 7889
/// ```
pub(crate) fn status_att(p: &mut Parser<'_>) -> PResult<StatusItem> {
    let name = p.atom()?;
    ITEMS.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)).map(|(i, _)| *i).ok_or(syntax("unknown STATUS item"))
}

/// `"(" status-att *(SP status-att) ")"`.
pub(crate) fn status_att_list(p: &mut Parser<'_>) -> PResult<Vec<StatusItem>> {
    p.list1(status_att)
}

pub(crate) fn encode_list(out: &mut Vec<u8>, items: &[StatusItem]) {
    out.push(b'(');
    let names: Vec<&str> = items.iter().map(|i| i.as_str()).collect();
    out.extend_from_slice(names.join(" ").as_bytes());
    out.push(b')');
}
