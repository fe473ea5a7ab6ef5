//! Search (MS-ASCMD 2.2.1.16) in the `Mailbox` and `GAL` stores.
//!
//! **Mailbox**: the query is an `And` of the conditions the protocol
//! allows for mail: `airsync:Class` (only `Email` items exist here; another
//! class matches nothing), any number of `airsync:CollectionId` (none: every
//! mail folder the device sees; with `DeepTraversal`, the folders under
//! the named ones too), `FreeText` (every word, case-insensitively, in the
//! subject, the From field or the text of the body) and `GreaterThan` /
//! `LessThan` on `email:DateReceived`. Only folders the device sees are
//! searched (mail folders, the account's `activesync.email` on). Matches
//! come newest first; `Range` picks a window of at most 100 of them and
//! `Total` says how many there are (no `Result` and `Total` 0 when nothing matches). Each result carries the item's
//! `folder:uid` id as `LongId` (the ServerId Sync uses), its folder and,
//! in `Properties`, the ApplicationData Sync would send for it (in the
//! body form `airsyncbase:BodyPreference` asks for). There is no index:
//! each search reads the messages it has to match; `RebuildResults` is
//! therefore moot. `Or`, `EqualTo`, nested `And` and `ConversationId` are
//! not supported (Store Status 8, too complex).
//!
//! **GAL**: see [`crate::directory_search`]: the directory cannot be
//! listed, so a GAL query finds the account whose address, or local part
//! in the user's own domain, it is exactly.
//!
//! Any other store (DocumentLibrary) gets Store Status 2. A body that is
//! not a Search document with one Store gets the common status 103.

use std::collections::BTreeSet;

use axigen_core::mailstore::{FolderId, FolderInfo, FolderKind, MessageMeta};
use bytes::Bytes;
use hyper::Response;
use tracing::{info, warn};

use crate::directory_search::shown_name;
use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::sync::{body_preference, email_data, server_id};
use crate::wbxml::{CodePage, Element};

/// MS-ASCMD 2.2.3.177.13: the Search status codes used here.
mod status {
    pub const SUCCESS: u16 = 1;
    /// Store: the request is invalid (a bad Range, an unknown store or folder).
    pub const INVALID: u16 = 2;
    /// Store: a server error.
    pub const SERVER: u16 = 3;
    /// Store: the query is too complex.
    pub const TOO_COMPLEX: u16 = 8;
    /// Common status (MS-ASCMD 2.2.2): the XML does not follow the protocol.
    pub const INVALID_XML: u16 = 103;
}

/// The most results one Search returns (MS-ASCMD 2.2.3.143.3).
const MAX_RANGE: usize = 100;

/// A mailbox query.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MailQuery {
    /// Folder ids named by CollectionId (empty: every visible mail folder).
    pub(crate) collections: Vec<String>,
    /// Whether the item class asked for is mail.
    pub(crate) email: bool,
    /// Lower-cased words that must all appear.
    pub(crate) words: Vec<String>,
    /// Received strictly after / before (Unix seconds).
    pub(crate) after: Option<i64>,
    pub(crate) before: Option<i64>,
}

/// Why a query cannot be run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QueryError {
    Invalid,
    TooComplex,
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-28T15:20:00.000Z` (MS-ASDTYPE 2.3; fraction and `Z` optional)
/// as Unix seconds.
pub(crate) fn parse_eas_date(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches('Z');
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    if t.next().is_some() || h > 23 || min > 59 || s > 60 || h < 0 || min < 0 || s < 0 {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + s)
}

/// A `m-n` range, checked against the protocol's limits.
fn parse_range(text: Option<&str>) -> Option<(usize, usize)> {
    let Some(text) = text else { return Some((0, MAX_RANGE - 1)) };
    let (m, n) = text.trim().split_once('-')?;
    let (m, n) = (m.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?);
    (m <= n && n - m < MAX_RANGE).then_some((m, n))
}

/// The text of a date comparison: `<GreaterThan><email:DateReceived/><Value>...</Value></GreaterThan>`.
fn comparison(e: &Element) -> Result<i64, QueryError> {
    if e.child(CodePage::Email, "DateReceived").is_none() {
        return Err(QueryError::TooComplex);
    }
    e.child_text(CodePage::Search, "Value").and_then(|v| parse_eas_date(&v)).ok_or(QueryError::Invalid)
}

impl MailQuery {
    fn parse(query: &Element) -> Result<MailQuery, QueryError> {
        let mut conditions: Vec<&Element> = query.elements().collect();
        if let [single] = conditions.as_slice()
            && single.is(CodePage::Search, "And")
        {
            conditions = single.elements().collect();
        }
        if conditions.is_empty() {
            return Err(QueryError::Invalid);
        }
        let mut q = MailQuery { email: true, ..MailQuery::default() };
        for c in conditions {
            match (c.page(), c.name()) {
                (CodePage::AirSync, "Class") => {
                    q.email &= c.text().is_some_and(|t| t.trim().eq_ignore_ascii_case("Email"));
                }
                (CodePage::AirSync, "CollectionId") => {
                    q.collections.push(c.text().ok_or(QueryError::Invalid)?.trim().to_owned());
                }
                (CodePage::Search, "FreeText") => {
                    let text = c.text().ok_or(QueryError::Invalid)?;
                    q.words.extend(text.split_whitespace().map(str::to_lowercase));
                }
                (CodePage::Search, "GreaterThan") => {
                    let t = comparison(c)?;
                    q.after = Some(q.after.map_or(t, |a| a.max(t)));
                }
                (CodePage::Search, "LessThan") => {
                    let t = comparison(c)?;
                    q.before = Some(q.before.map_or(t, |b| b.min(t)));
                }
                _ => return Err(QueryError::TooComplex),
            }
        }
        Ok(q)
    }

    fn in_dates(&self, m: &MessageMeta) -> bool {
        self.after.is_none_or(|a| m.internal_date > a) && self.before.is_none_or(|b| m.internal_date < b)
    }

    /// Whether the message's subject, From or body text hold every word.
    fn matches_text(&self, content: &[u8]) -> bool {
        if self.words.is_empty() {
            return true;
        }
        let Some(message) = mail_parser::MessageParser::new().parse(content) else { return false };
        let mut haystack = message.subject().unwrap_or_default().to_lowercase();
        if let Some(from) = message.from() {
            for a in from.iter() {
                for part in [a.name.as_deref(), a.address.as_deref()].into_iter().flatten() {
                    haystack.push('\n');
                    haystack.push_str(&part.to_lowercase());
                }
            }
        }
        // Every text part of the body (HTML ones as their text).
        for i in 0..message.text_body.len() {
            if let Some(text) = message.body_text(i) {
                haystack.push('\n');
                haystack.push_str(&text.to_lowercase());
            }
        }
        self.words.iter().all(|w| haystack.contains(w.as_str()))
    }
}

/// The Store element of an answer with only a status.
fn store_status(status: u16) -> Element {
    Element::new(CodePage::Search, "Store").with_text_child("Status", status.to_string())
}

/// A Store answer: the results, their range and the total.
fn store_results(results: Vec<Element>, start: usize, total: usize) -> Element {
    let mut store = store_status(status::SUCCESS);
    // No matches: no Result at all (an empty Result reads as one blank
    // entry to some clients), Total 0.
    let returned = results.len();
    for r in results {
        store.push(r);
    }
    if returned > 0 {
        store.push(Element::new(CodePage::Search, "Range").with_text(format!("{start}-{}", start + returned - 1)));
    }
    store.push(Element::new(CodePage::Search, "Total").with_text(total.to_string()));
    store
}

impl ActiveSync {
    /// The Search command.
    pub(crate) async fn search(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        let (account, device) = (ctx.principal.account, ctx.device.device_id.clone());
        let stores: Vec<&Element> = root
            .as_ref()
            .filter(|r| r.is(CodePage::Search, "Search"))
            .map(|r| r.children_named(CodePage::Search, "Store").collect())
            .unwrap_or_default();
        let [store] = stores.as_slice() else {
            info!(account = %account, device = %device, "Search refused: not a Search request with one Store");
            return status_only(command, status::INVALID_XML);
        };
        let name = store.child_text(CodePage::Search, "Name").map(|n| n.trim().to_owned()).unwrap_or_default();
        let options = store.child(CodePage::Search, "Options");
        let answer = match parse_range(options.and_then(|o| o.child_text(CodePage::Search, "Range")).as_deref()) {
            None => {
                info!(account = %account, device = %device, "Search refused: invalid Range");
                store_status(status::INVALID)
            }
            Some(range) if name.eq_ignore_ascii_case("Mailbox") => self.search_mailbox(&ctx, store, range).await,
            Some(range) if name.eq_ignore_ascii_case("GAL") => self.search_gal(&ctx, store, range).await,
            Some(_) => {
                info!(account = %account, device = %device, store = %name, "Search refused: unsupported store");
                store_status(status::INVALID)
            }
        };
        wbxml_response(
            &Element::new(CodePage::Search, "Search")
                .with_text_child("Status", status::SUCCESS.to_string())
                .with(Element::new(CodePage::Search, "Response").with(answer)),
        )
    }

    async fn search_gal(&self, ctx: &Context, store: &Element, (start, end): (usize, usize)) -> Element {
        let (account, device) = (ctx.principal.account, &ctx.device.device_id);
        let Some(query) = store.child_text(CodePage::Search, "Query").map(|q| q.trim().to_owned()) else {
            info!(account = %account, device = %device, "Search GAL refused: no text Query");
            return store_status(status::INVALID);
        };
        let found = match self.gal_lookup(ctx, &query).await {
            Ok(found) => found,
            Err(err) => {
                warn!(account = %account, error = %err, "Search GAL failed");
                return store_status(status::SERVER);
            }
        };
        info!(account = %account, device = %device, found = found.len(), "Search GAL");
        let total = found.len();
        let results = found
            .iter()
            .skip(start)
            .take(end - start + 1)
            .map(|a| {
                let properties = Element::new(CodePage::Search, "Properties")
                    .with(Element::new(CodePage::Gal, "DisplayName").with_text(shown_name(a)))
                    .with(Element::new(CodePage::Gal, "Alias").with_text(a.address.local.as_str().to_owned()))
                    .with(Element::new(CodePage::Gal, "EmailAddress").with_text(a.address.to_string()));
                Element::new(CodePage::Search, "Result").with(properties)
            })
            .collect();
        store_results(results, start, total)
    }

    /// The folders a mailbox search covers, or why it cannot run.
    async fn search_folders(
        &self,
        ctx: &Context,
        query: &MailQuery,
        deep: bool,
    ) -> axigen_core::Result<Result<Vec<FolderInfo>, QueryError>> {
        let settings = self.directory.effective_settings(ctx.principal.account).await?;
        if !settings.activesync_email.value {
            return Ok(if query.collections.is_empty() { Ok(Vec::new()) } else { Err(QueryError::Invalid) });
        }
        let mail: Vec<FolderInfo> = self
            .store
            .folders(ctx.principal.account)
            .await?
            .into_iter()
            .filter(|f| f.kind == FolderKind::Mail)
            .collect();
        if query.collections.is_empty() {
            return Ok(Ok(mail));
        }
        let mut chosen: BTreeSet<FolderId> = BTreeSet::new();
        for id in &query.collections {
            let Some(folder) = id.parse::<u32>().ok().and_then(|id| mail.iter().find(|f| f.id.0 == id)) else {
                return Ok(Err(QueryError::Invalid));
            };
            chosen.insert(folder.id);
            if deep {
                let prefix = format!("{}/", folder.name);
                chosen.extend(mail.iter().filter(|f| f.name.starts_with(&prefix)).map(|f| f.id));
            }
        }
        Ok(Ok(mail.into_iter().filter(|f| chosen.contains(&f.id)).collect()))
    }

    async fn search_mailbox(&self, ctx: &Context, store: &Element, (start, end): (usize, usize)) -> Element {
        let (account, device) = (ctx.principal.account, &ctx.device.device_id);
        let query = match store.child(CodePage::Search, "Query").map(MailQuery::parse) {
            Some(Ok(q)) => q,
            Some(Err(QueryError::TooComplex)) => {
                info!(account = %account, device = %device, "Search Mailbox refused: unsupported condition");
                return store_status(status::TOO_COMPLEX);
            }
            _ => {
                info!(account = %account, device = %device, "Search Mailbox refused: invalid query");
                return store_status(status::INVALID);
            }
        };
        let options = store.child(CodePage::Search, "Options");
        let deep = options.and_then(|o| o.child(CodePage::Search, "DeepTraversal")).is_some();
        match self.run_mail_query(ctx, &query, deep, options, start, end).await {
            Ok(Ok((results, total))) => {
                info!(account = %account, device = %device, total, returned = results.len(), "Search Mailbox");
                store_results(results, start, total)
            }
            Ok(Err(_)) => {
                info!(account = %account, device = %device, "Search Mailbox refused: a collection the device does not see");
                store_status(status::INVALID)
            }
            Err(err) => {
                warn!(account = %account, error = %err, "Search Mailbox failed");
                store_status(status::SERVER)
            }
        }
    }

    /// The results in `start..=end` of the matches, newest first, and how
    /// many matches there are.
    async fn run_mail_query(
        &self,
        ctx: &Context,
        query: &MailQuery,
        deep: bool,
        options: Option<&Element>,
        start: usize,
        end: usize,
    ) -> axigen_core::Result<Result<(Vec<Element>, usize), QueryError>> {
        let (matches, total) = match self.mail_matches(ctx, query, deep, start, end).await? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        let body = body_preference(options);
        let results = matches
            .into_iter()
            .map(|(folder, meta, content)| {
                let data = email_data(&meta, folder, &content, body);
                let mut properties = Element::new(CodePage::Search, "Properties");
                properties.children = data.children;
                Element::new(CodePage::Search, "Result")
                    .with(Element::new(CodePage::AirSync, "Class").with_text("Email"))
                    .with(Element::new(CodePage::Search, "LongId").with_text(server_id(folder, meta.uid)))
                    .with(Element::new(CodePage::AirSync, "CollectionId").with_text(folder.0.to_string()))
                    .with(properties)
            })
            .collect();
        Ok(Ok((results, total)))
    }

    /// The matches in `start..=end`, newest first, with their content, and
    /// how many matches there are: what Search and Find answer from.
    pub(crate) async fn mail_matches(
        &self,
        ctx: &Context,
        query: &MailQuery,
        deep: bool,
        start: usize,
        end: usize,
    ) -> axigen_core::Result<Result<(Vec<(FolderId, MessageMeta, Bytes)>, usize), QueryError>> {
        let folders = match self.search_folders(ctx, query, deep).await? {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        if !query.email {
            return Ok(Ok((Vec::new(), 0)));
        }
        let account = ctx.principal.account;
        // Candidates by date, newest first; the text is matched in that
        // order, so only matches are kept with their content.
        let mut candidates: Vec<(FolderId, MessageMeta)> = Vec::new();
        for folder in &folders {
            let messages = self.store.messages(account, folder.id).await?;
            candidates.extend(messages.into_iter().filter(|m| query.in_dates(m)).map(|m| (folder.id, m)));
        }
        candidates.sort_by(|a, b| b.1.internal_date.cmp(&a.1.internal_date).then(b.1.uid.cmp(&a.1.uid)));
        let mut total = 0usize;
        let mut matches = Vec::new();
        for (folder, meta) in candidates {
            let content = self.store.content(meta.blob).await?;
            if !query.matches_text(&content) {
                continue;
            }
            if total >= start && total <= end {
                matches.push((folder, meta, content));
            }
            total += 1;
        }
        Ok(Ok((matches, total)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_eas_date("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_eas_date("2023-11-14T22:13:20.000Z"), Some(1_700_000_000));
        assert_eq!(parse_eas_date("2000-02-29T12:00:00Z"), Some(951_825_600));
        assert_eq!(parse_eas_date("2000-13-01T00:00:00Z"), None);
        assert_eq!(parse_eas_date("yesterday"), None);
        assert_eq!(
            crate::sync::eas_date(parse_eas_date("2026-08-23T07:05:09.000Z").unwrap()),
            "2026-08-23T07:05:09.000Z"
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None), Some((0, 99)));
        assert_eq!(parse_range(Some("0-9")), Some((0, 9)));
        assert_eq!(parse_range(Some("5-104")), Some((5, 104)));
        assert_eq!(parse_range(Some("5-105")), None);
        assert_eq!(parse_range(Some("9-0")), None);
        assert_eq!(parse_range(Some("x")), None);
    }

    fn query(children: Vec<Element>) -> Element {
        let mut and = Element::new(CodePage::Search, "And");
        for c in children {
            and.push(c);
        }
        Element::new(CodePage::Search, "Query").with(and)
    }

    #[test]
    fn mail_queries() {
        let q = MailQuery::parse(&query(vec![
            Element::new(CodePage::AirSync, "Class").with_text("Email"),
            Element::new(CodePage::AirSync, "CollectionId").with_text("3"),
            Element::new(CodePage::Search, "FreeText").with_text("Quarterly  REPORT"),
            Element::new(CodePage::Search, "GreaterThan")
                .with(Element::new(CodePage::Email, "DateReceived"))
                .with(Element::new(CodePage::Search, "Value").with_text("2020-01-01T00:00:00.000Z")),
        ]))
        .unwrap();
        assert_eq!(q.collections, vec!["3".to_owned()]);
        assert!(q.email);
        assert_eq!(q.words, vec!["quarterly".to_owned(), "report".to_owned()]);
        assert_eq!(q.after, Some(1_577_836_800));
        let other = MailQuery::parse(&query(vec![Element::new(CodePage::AirSync, "Class").with_text("Contacts")]));
        assert!(!other.unwrap().email);
        let or = MailQuery::parse(&query(vec![Element::new(CodePage::Search, "Or")]));
        assert_eq!(or, Err(QueryError::TooComplex));
        let bad_date = MailQuery::parse(&query(vec![
            Element::new(CodePage::Search, "LessThan")
                .with(Element::new(CodePage::Email, "DateReceived"))
                .with(Element::new(CodePage::Search, "Value").with_text("soon")),
        ]));
        assert_eq!(bad_date, Err(QueryError::Invalid));
        assert_eq!(MailQuery::parse(&query(vec![])), Err(QueryError::Invalid));
    }

    #[test]
    fn free_text_covers_subject_sender_and_body() {
        let raw = b"From: Carol Smith <carol@remote.example>\r\nSubject: Budget review\r\n\r\nThe numbers are in.\r\n";
        let words = |w: &[&str]| MailQuery { words: w.iter().map(|s| s.to_string()).collect(), ..MailQuery::default() };
        assert!(words(&["budget"]).matches_text(raw));
        assert!(words(&["carol", "numbers"]).matches_text(raw));
        assert!(words(&["remote.example"]).matches_text(raw));
        assert!(!words(&["budget", "missing"]).matches_text(raw));
        assert!(words(&[]).matches_text(raw));
    }
}
