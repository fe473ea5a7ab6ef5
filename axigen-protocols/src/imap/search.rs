//! SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4), with the RETURN
//! options of ESEARCH (RFC 4731) and SEARCHRES (RFC 5182), MODSEQ
//! (RFC 7162 3.1.5) and OLDER/YOUNGER (RFC 5032).

use std::num::NonZeroU32;

use super::command::CommandWriter;
use super::datetime::Date;
use super::parser::{PResult, Parser, syntax};
use super::sequence::SequenceSet;
use super::types::{Atom, Flag};

/// SEARCH / UID SEARCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCommand {
    /// UID SEARCH.
    pub uid: bool,
    /// `RETURN (...)`: `None` for a plain SEARCH (untagged SEARCH response),
    /// `Some` for ESEARCH; `Some(vec![])` (`RETURN ()`) means ALL (RFC 4731 3.1).
    pub returns: Option<Vec<SearchReturn>>,
    /// `CHARSET name`, as sent.
    pub charset: Option<String>,
    /// The keys, implicitly AND-ed (never empty).
    pub criteria: Vec<SearchKey>,
}

/// A `search-return-opt` (RFC 4731 3.1, RFC 5182 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
    /// `ALL`.
    All,
    /// `COUNT`.
    Count,
    /// `SAVE` (RFC 5182).
    Save,
    /// `PARTIAL low:high` (RFC 5267 4.4): the results at these positions
    /// (1-based, `low <= high`).
    Partial(NonZeroU32, NonZeroU32),
    /// `UPDATE` (RFC 5267 4.3): keep the result and report its changes.
    Update,
    /// `CONTEXT` (RFC 5267 4.2): a hint that the result will be reused.
    Context,
}

impl SearchReturn {
    pub(crate) fn to_wire(self) -> String {
        match self {
            SearchReturn::Min => "MIN".into(),
            SearchReturn::Max => "MAX".into(),
            SearchReturn::All => "ALL".into(),
            SearchReturn::Count => "COUNT".into(),
            SearchReturn::Save => "SAVE".into(),
            SearchReturn::Partial(low, high) => format!("PARTIAL {low}:{high}"),
            SearchReturn::Update => "UPDATE".into(),
            SearchReturn::Context => "CONTEXT".into(),
        }
    }

    /// The `PARTIAL` range of a list of options.
    pub fn partial(returns: &[SearchReturn]) -> Option<(u32, u32)> {
        returns.iter().find_map(|r| match r {
            SearchReturn::Partial(low, high) => Some((low.get(), high.get())),
            _ => None,
        })
    }
}

/// `["RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")" SP]`
/// of SEARCH and SORT: at most one PARTIAL, and not with ALL (RFC 5267 4.4).
pub(crate) fn returns(p: &mut Parser<'_>) -> PResult<Option<Vec<SearchReturn>>> {
    if !p.keyword("RETURN") {
        return Ok(None);
    }
    p.sp()?;
    let opts = p.list(search_return_opt)?;
    let partials = opts.iter().filter(|r| matches!(r, SearchReturn::Partial(..))).count();
    if partials > 1 || (partials == 1 && opts.contains(&SearchReturn::All)) {
        return Err(syntax("PARTIAL may be given once, and not with ALL (RFC 5267 4.4)"));
    }
    p.sp()?;
    Ok(Some(opts))
}

/// ` RETURN (...)` when there are return options.
pub(crate) fn encode_returns(w: &mut CommandWriter, returns: Option<&[SearchReturn]>) {
    if let Some(returns) = returns {
        let names: Vec<String> = returns.iter().map(|r| r.to_wire()).collect();
        w.raw(&format!(" RETURN ({})", names.join(" ")));
    }
}

/// `charset = atom / quoted`.
pub(crate) fn charset(p: &mut Parser<'_>) -> PResult<String> {
    if p.peek() == Some(b'"') {
        String::from_utf8(p.quoted()?.into_owned()).map_err(|_| syntax("invalid charset"))
    } else {
        Ok(p.atom()?.to_owned())
    }
}

/// The metadata of `MODSEQ "/flags/\Seen" priv n` (RFC 7162 3.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// `priv`.
    Private,
    /// `shared`.
    Shared,
    /// `all`.
    All,
}

/// A `search-key` (RFC 9051 6.4.4). String arguments are the octets sent,
/// in the SEARCH's charset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // The variants are the RFC's keys, one for one.
pub enum SearchKey {
    All,
    Answered,
    Bcc(Vec<u8>),
    Before(Date),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    Deleted,
    Draft,
    Flagged,
    From(Vec<u8>),
    /// `HEADER name value`.
    Header(String, Vec<u8>),
    Keyword(Atom),
    Larger(u64),
    /// RFC 3501 only.
    New,
    Not(Box<SearchKey>),
    /// RFC 3501 only.
    Old,
    On(Date),
    Or(Box<SearchKey>, Box<SearchKey>),
    /// RFC 3501 only.
    Recent,
    Seen,
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Since(Date),
    Smaller(u64),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    Uid(SequenceSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(Atom),
    Unseen,
    /// A bare sequence set: message numbers.
    SequenceSet(SequenceSet),
    /// `( key key ... )`.
    And(Vec<SearchKey>),
    /// `MODSEQ [entry-name entry-type] n` (RFC 7162 3.1.5).
    ModSeq {
        /// The flag and entry type, when given.
        entry: Option<(Flag, EntryType)>,
        /// Messages with a mod-sequence at least this.
        modseq: u64,
    },
    /// `OLDER n`: INTERNALDATE more than n seconds ago (RFC 5032).
    Older(NonZeroU32),
    /// `YOUNGER n` (RFC 5032).
    Younger(NonZeroU32),
}

impl SearchCommand {
    /// ```abnf
    /// search          = "SEARCH" [search-return-opts] SP search-program
    /// search-return-opts = SP "RETURN" SP "(" [search-return-opt
    ///                   *(SP search-return-opt)] ")"
    /// search-program  = ["CHARSET" SP charset SP]
    ///                   search-key *(SP search-key)
    /// charset         = atom / quoted
    /// ```
    pub(crate) fn parse(p: &mut Parser<'_>, uid: bool) -> PResult<SearchCommand> {
        p.sp()?;
        let returns = returns(p)?;
        let charset = if p.keyword("CHARSET") {
            p.sp()?;
            let charset = charset(p)?;
            p.sp()?;
            Some(charset)
        } else {
            None
        };
        let criteria = search_keys(p)?;
        Ok(SearchCommand { uid, returns, charset, criteria })
    }

    pub(crate) fn encode(&self, w: &mut CommandWriter) {
        encode_returns(w, self.returns.as_deref());
        if let Some(charset) = &self.charset {
            w.raw(" CHARSET ");
            w.astring(charset.as_bytes());
        }
        encode_keys(w, &self.criteria);
    }
}

/// `search-key *(SP search-key)` up to the end of the command: the keys of
/// SEARCH, SORT and THREAD.
pub(crate) fn search_keys(p: &mut Parser<'_>) -> PResult<Vec<SearchKey>> {
    let mut criteria = vec![search_key(p)?];
    while p.peek() == Some(b' ') && !matches!(p.peek_at(1), None | Some(b'\r') | Some(b'\n')) {
        p.sp()?;
        criteria.push(search_key(p)?);
    }
    Ok(criteria)
}

/// Each key after a space.
pub(crate) fn encode_keys(w: &mut CommandWriter, keys: &[SearchKey]) {
    for key in keys {
        w.sp();
        encode_key(w, key);
    }
}

/// ```abnf
/// search-return-opt = "MIN" / "MAX" / "ALL" / "COUNT" /
///                     "SAVE" /                ; RFC 5182
///                     "CONTEXT" / "UPDATE" /  ; RFC 5267
///                     "PARTIAL" SP partial-range
/// partial-range     = nz-number ":" nz-number
/// ```
fn search_return_opt(p: &mut Parser<'_>) -> PResult<SearchReturn> {
    let name = p.atom()?.to_ascii_uppercase();
    Ok(match name.as_str() {
        "PARTIAL" => {
            p.sp()?;
            let a = p.nz_number()?;
            p.expect(b':', "expected ':' in the PARTIAL range")?;
            let b = p.nz_number()?;
            // RFC 5267 5: 500:400 is the same as 400:500.
            SearchReturn::Partial(a.min(b), a.max(b))
        }
        "UPDATE" => SearchReturn::Update,
        "CONTEXT" => SearchReturn::Context,
        "MIN" => SearchReturn::Min,
        "MAX" => SearchReturn::Max,
        "ALL" => SearchReturn::All,
        "COUNT" => SearchReturn::Count,
        "SAVE" => SearchReturn::Save,
        _ => return Err(syntax("unknown SEARCH RETURN option")),
    })
}

fn astring_arg(p: &mut Parser<'_>) -> PResult<Vec<u8>> {
    p.sp()?;
    Ok(p.astring()?.into_owned())
}

fn date_arg(p: &mut Parser<'_>) -> PResult<Date> {
    p.sp()?;
    p.date()
}

fn keyword_arg(p: &mut Parser<'_>) -> PResult<Atom> {
    p.sp()?;
    Atom::new(p.atom()?).map_err(|_| syntax("expected a keyword"))
}

/// ```abnf
/// search-key      = "ALL" / "ANSWERED" / "BCC" SP astring /
///                   "BEFORE" SP date / "BODY" SP astring /
///                   "CC" SP astring / "DELETED" / "FLAGGED" /
///                   "FROM" SP astring / "KEYWORD" SP flag-keyword /
///                   "NEW" / "OLD" / "ON" SP date / "RECENT" / "SEEN" /
///                   "SINCE" SP date / "SUBJECT" SP astring /
///                   "TEXT" SP astring / "TO" SP astring /
///                   "UNANSWERED" / "UNDELETED" / "UNFLAGGED" /
///                   "UNKEYWORD" SP flag-keyword / "UNSEEN" /
///                   "DRAFT" / "HEADER" SP header-fld-name SP astring /
///                   "LARGER" SP number64 / "NOT" SP search-key /
///                   "OR" SP search-key SP search-key /
///                   "SENTBEFORE" SP date / "SENTON" SP date /
///                   "SENTSINCE" SP date / "SMALLER" SP number64 /
///                   "UID" SP sequence-set / "UNDRAFT" / sequence-set /
///                   "(" search-key *(SP search-key) ")"
/// search-key      =/ search-modsequence          ; RFC 7162
/// search-key      =/ ( "OLDER" / "YOUNGER" ) SP nz-number   ; RFC 5032
/// ```
fn search_key(p: &mut Parser<'_>) -> PResult<SearchKey> {
    p.enter()?;
    let key = search_key_inner(p);
    p.leave();
    key
}

fn search_key_inner(p: &mut Parser<'_>) -> PResult<SearchKey> {
    match p.peek() {
        Some(b'(') => return p.list1(search_key).map(SearchKey::And),
        Some(b) if b.is_ascii_digit() || b == b'*' || b == b'$' => return p.sequence_set().map(SearchKey::SequenceSet),
        _ => {}
    }
    let name = p.atom().map_err(|_| syntax("expected a search key"))?.to_ascii_uppercase();
    Ok(match name.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Answered,
        "DELETED" => SearchKey::Deleted,
        "DRAFT" => SearchKey::Draft,
        "FLAGGED" => SearchKey::Flagged,
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "RECENT" => SearchKey::Recent,
        "SEEN" => SearchKey::Seen,
        "UNANSWERED" => SearchKey::Unanswered,
        "UNDELETED" => SearchKey::Undeleted,
        "UNDRAFT" => SearchKey::Undraft,
        "UNFLAGGED" => SearchKey::Unflagged,
        "UNSEEN" => SearchKey::Unseen,
        "BCC" => SearchKey::Bcc(astring_arg(p)?),
        "BODY" => SearchKey::Body(astring_arg(p)?),
        "CC" => SearchKey::Cc(astring_arg(p)?),
        "FROM" => SearchKey::From(astring_arg(p)?),
        "SUBJECT" => SearchKey::Subject(astring_arg(p)?),
        "TEXT" => SearchKey::Text(astring_arg(p)?),
        "TO" => SearchKey::To(astring_arg(p)?),
        "BEFORE" => SearchKey::Before(date_arg(p)?),
        "ON" => SearchKey::On(date_arg(p)?),
        "SINCE" => SearchKey::Since(date_arg(p)?),
        "SENTBEFORE" => SearchKey::SentBefore(date_arg(p)?),
        "SENTON" => SearchKey::SentOn(date_arg(p)?),
        "SENTSINCE" => SearchKey::SentSince(date_arg(p)?),
        "KEYWORD" => SearchKey::Keyword(keyword_arg(p)?),
        "UNKEYWORD" => SearchKey::Unkeyword(keyword_arg(p)?),
        "HEADER" => {
            let name = astring_arg(p)?;
            if name.is_empty() || !name.iter().all(|&b| matches!(b, 33..=57 | 59..=126)) {
                return Err(syntax("invalid header field name"));
            }
            SearchKey::Header(String::from_utf8_lossy(&name).into_owned(), astring_arg(p)?)
        }
        "LARGER" | "SMALLER" => {
            p.sp()?;
            let n = p.number64()?;
            if name == "LARGER" { SearchKey::Larger(n) } else { SearchKey::Smaller(n) }
        }
        "NOT" => {
            p.sp()?;
            SearchKey::Not(Box::new(search_key(p)?))
        }
        "OR" => {
            p.sp()?;
            let a = search_key(p)?;
            p.sp()?;
            SearchKey::Or(Box::new(a), Box::new(search_key(p)?))
        }
        "UID" => {
            p.sp()?;
            SearchKey::Uid(p.sequence_set()?)
        }
        "OLDER" | "YOUNGER" => {
            p.sp()?;
            let n = p.nz_number()?;
            if name == "OLDER" { SearchKey::Older(n) } else { SearchKey::Younger(n) }
        }
        "MODSEQ" => search_modsequence(p)?,
        _ => return Err(syntax("unknown search key")),
    })
}

/// ```abnf
/// search-modsequence = "MODSEQ" [search-modseq-ext] SP
///                      mod-sequence-valzer
/// search-modseq-ext = SP entry-name SP entry-type-req
/// entry-name        = entry-flag-name
/// entry-flag-name   = DQUOTE "/flags/" attr-flag DQUOTE
/// entry-type-req    = entry-type-resp / "all"
/// entry-type-resp   = "priv" / "shared"
/// ```
/// (RFC 7162 7.) Parses what follows `MODSEQ`.
fn search_modsequence(p: &mut Parser<'_>) -> PResult<SearchKey> {
    p.sp()?;
    let entry = if p.peek() == Some(b'"') {
        let name = p.quoted()?;
        let flag = name
            .strip_prefix(b"/flags/")
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| Flag::parse(f).ok())
            .ok_or(syntax("invalid MODSEQ entry name"))?;
        p.sp()?;
        let kind = match p.atom()?.to_ascii_lowercase().as_str() {
            "priv" => EntryType::Private,
            "shared" => EntryType::Shared,
            "all" => EntryType::All,
            _ => return Err(syntax("invalid MODSEQ entry type")),
        };
        p.sp()?;
        Some((flag, kind))
    } else {
        None
    };
    Ok(SearchKey::ModSeq { entry, modseq: p.number64()? })
}

fn encode_key(w: &mut CommandWriter, key: &SearchKey) {
    let text = |w: &mut CommandWriter, name: &str, value: &[u8]| {
        w.raw(name);
        w.sp();
        w.astring(value);
    };
    match key {
        SearchKey::All => w.raw("ALL"),
        SearchKey::Answered => w.raw("ANSWERED"),
        SearchKey::Deleted => w.raw("DELETED"),
        SearchKey::Draft => w.raw("DRAFT"),
        SearchKey::Flagged => w.raw("FLAGGED"),
        SearchKey::New => w.raw("NEW"),
        SearchKey::Old => w.raw("OLD"),
        SearchKey::Recent => w.raw("RECENT"),
        SearchKey::Seen => w.raw("SEEN"),
        SearchKey::Unanswered => w.raw("UNANSWERED"),
        SearchKey::Undeleted => w.raw("UNDELETED"),
        SearchKey::Undraft => w.raw("UNDRAFT"),
        SearchKey::Unflagged => w.raw("UNFLAGGED"),
        SearchKey::Unseen => w.raw("UNSEEN"),
        SearchKey::Bcc(v) => text(w, "BCC", v),
        SearchKey::Body(v) => text(w, "BODY", v),
        SearchKey::Cc(v) => text(w, "CC", v),
        SearchKey::From(v) => text(w, "FROM", v),
        SearchKey::Subject(v) => text(w, "SUBJECT", v),
        SearchKey::Text(v) => text(w, "TEXT", v),
        SearchKey::To(v) => text(w, "TO", v),
        SearchKey::Before(d) => w.raw(&format!("BEFORE {d}")),
        SearchKey::On(d) => w.raw(&format!("ON {d}")),
        SearchKey::Since(d) => w.raw(&format!("SINCE {d}")),
        SearchKey::SentBefore(d) => w.raw(&format!("SENTBEFORE {d}")),
        SearchKey::SentOn(d) => w.raw(&format!("SENTON {d}")),
        SearchKey::SentSince(d) => w.raw(&format!("SENTSINCE {d}")),
        SearchKey::Keyword(k) => w.raw(&format!("KEYWORD {k}")),
        SearchKey::Unkeyword(k) => w.raw(&format!("UNKEYWORD {k}")),
        SearchKey::Header(name, value) => {
            text(w, "HEADER", name.as_bytes());
            w.sp();
            w.astring(value);
        }
        SearchKey::Larger(n) => w.raw(&format!("LARGER {n}")),
        SearchKey::Smaller(n) => w.raw(&format!("SMALLER {n}")),
        SearchKey::Not(k) => {
            w.raw("NOT ");
            encode_key(w, k);
        }
        SearchKey::Or(a, b) => {
            w.raw("OR ");
            encode_key(w, a);
            w.sp();
            encode_key(w, b);
        }
        SearchKey::Uid(set) => w.raw(&format!("UID {set}")),
        SearchKey::SequenceSet(set) => w.raw(&set.to_string()),
        SearchKey::And(keys) => {
            w.raw("(");
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    w.sp();
                }
                encode_key(w, k);
            }
            w.raw(")");
        }
        SearchKey::ModSeq { entry, modseq } => {
            w.raw("MODSEQ ");
            if let Some((flag, kind)) = entry {
                let name = format!("/flags/{flag}");
                super::encode::quoted(&mut w.buf, name.as_bytes());
                let kind = match kind {
                    EntryType::Private => "priv",
                    EntryType::Shared => "shared",
                    EntryType::All => "all",
                };
                w.raw(&format!(" {kind} "));
            }
            w.raw(&modseq.to_string());
        }
        SearchKey::Older(n) => w.raw(&format!("OLDER {n}")),
        SearchKey::Younger(n) => w.raw(&format!("YOUNGER {n}")),
    }
}
