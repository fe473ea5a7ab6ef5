//! SORT and THREAD (RFC 5256), with the display-name sort keys of
//! SORT=DISPLAY (RFC 5957) and the RETURN options of ESORT (RFC 5267 3).
//! The algorithms are in [`thread`](super::thread); the session runs them
//! over the selected mailbox.

use super::command::CommandWriter;
use super::parser::{PResult, Parser, syntax};
use super::search::{SearchKey, SearchReturn, charset, encode_keys, encode_returns, returns, search_keys};

/// A sort key (RFC 5256 3, RFC 5957 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// INTERNALDATE.
    Arrival,
    /// The mailbox of the first Cc address.
    Cc,
    /// The sent date (the Date field, else INTERNALDATE).
    Date,
    /// The mailbox of the first From address.
    From,
    /// RFC822.SIZE.
    Size,
    /// The base subject.
    Subject,
    /// The mailbox of the first To address.
    To,
    /// The display name of the first From address, else its address.
    DisplayFrom,
    /// The display name of the first To address, else its address.
    DisplayTo,
}

impl SortKey {
    const NAMES: [(SortKey, &'static str); 9] = [
        (SortKey::Arrival, "ARRIVAL"),
        (SortKey::Cc, "CC"),
        (SortKey::Date, "DATE"),
        (SortKey::From, "FROM"),
        (SortKey::Size, "SIZE"),
        (SortKey::Subject, "SUBJECT"),
        (SortKey::To, "TO"),
        (SortKey::DisplayFrom, "DISPLAYFROM"),
        (SortKey::DisplayTo, "DISPLAYTO"),
    ];

    fn as_str(self) -> &'static str {
        Self::NAMES.iter().find(|(k, _)| *k == self).map_or("ARRIVAL", |(_, n)| n)
    }
}

/// `["REVERSE" SP] sort-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortCriterion {
    /// `REVERSE`.
    pub reverse: bool,
    /// The key.
    pub key: SortKey,
}

/// SORT / UID SORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortCommand {
    /// UID SORT.
    pub uid: bool,
    /// `RETURN (...)` (ESORT): answered with ESEARCH.
    pub returns: Option<Vec<SearchReturn>>,
    /// The sort criteria, most significant first (never empty).
    pub criteria: Vec<SortCriterion>,
    /// The charset of the search keys.
    pub charset: String,
    /// The search keys, AND-ed.
    pub keys: Vec<SearchKey>,
}

/// A threading algorithm (RFC 5256 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadAlgorithm {
    /// `ORDEREDSUBJECT`.
    OrderedSubject,
    /// `REFERENCES`.
    References,
}

/// THREAD / UID THREAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCommand {
    /// UID THREAD.
    pub uid: bool,
    /// The algorithm.
    pub algorithm: ThreadAlgorithm,
    /// The charset of the search keys.
    pub charset: String,
    /// The search keys, AND-ed.
    pub keys: Vec<SearchKey>,
}

fn sort_criterion(p: &mut Parser<'_>) -> PResult<SortCriterion> {
    let reverse = p.keyword("REVERSE");
    if reverse {
        p.sp()?;
    }
    let name = p.atom()?.to_ascii_uppercase();
    let key =
        SortKey::NAMES.iter().find(|(_, n)| *n == name).map(|(k, _)| *k).ok_or_else(|| syntax("unknown sort key"))?;
    Ok(SortCriterion { reverse, key })
}

impl SortCommand {
    /// ```abnf
    /// sort            = ["UID" SP] "SORT" [SP sort-return-opts] SP
    ///                   sort-criteria SP search-criteria
    /// sort-return-opts = "RETURN" SP "(" [search-return-opt
    ///                   *(SP search-return-opt)] ")"     ; RFC 5267
    /// sort-criteria   = "(" sort-criterion *(SP sort-criterion) ")"
    /// sort-criterion  = ["REVERSE" SP] sort-key
    /// search-criteria = charset 1*(SP search-key)
    /// ```
    pub(crate) fn parse(p: &mut Parser<'_>, uid: bool) -> PResult<SortCommand> {
        p.sp()?;
        let returns = returns(p)?;
        let criteria = p.list(sort_criterion)?;
        if criteria.is_empty() {
            return Err(syntax("SORT needs at least one sort key"));
        }
        p.sp()?;
        let charset = charset(p)?;
        p.sp()?;
        let keys = search_keys(p)?;
        Ok(SortCommand { uid, returns, criteria, charset, keys })
    }

    pub(crate) fn encode(&self, w: &mut CommandWriter) {
        encode_returns(w, self.returns.as_deref());
        let criteria: Vec<String> = self
            .criteria
            .iter()
            .map(|c| format!("{}{}", if c.reverse { "REVERSE " } else { "" }, c.key.as_str()))
            .collect();
        w.raw(&format!(" ({}) ", criteria.join(" ")));
        w.astring(self.charset.as_bytes());
        encode_keys(w, &self.keys);
    }
}

impl ThreadCommand {
    /// ```abnf
    /// thread          = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
    /// thread-alg      = "ORDEREDSUBJECT" / "REFERENCES" / thread-alg-ext
    /// ```
    pub(crate) fn parse(p: &mut Parser<'_>, uid: bool) -> PResult<ThreadCommand> {
        p.sp()?;
        let algorithm = match p.atom()?.to_ascii_uppercase().as_str() {
            "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
            "REFERENCES" => ThreadAlgorithm::References,
            _ => return Err(syntax("unknown threading algorithm")),
        };
        p.sp()?;
        let charset = charset(p)?;
        p.sp()?;
        let keys = search_keys(p)?;
        Ok(ThreadCommand { uid, algorithm, charset, keys })
    }

    pub(crate) fn encode(&self, w: &mut CommandWriter) {
        w.raw(match self.algorithm {
            ThreadAlgorithm::OrderedSubject => " ORDEREDSUBJECT ",
            ThreadAlgorithm::References => " REFERENCES ",
        });
        w.astring(self.charset.as_bytes());
        encode_keys(w, &self.keys);
    }
}
