//! Find (MS-ASCMD 2.2.1.2, protocol 16.1): the newer search, in the mailbox
//! or the GAL, answered from the same matching as Search (`search.rs`).
//!
//! * **Mailbox** (`MailBoxSearchCriterion`): `Query` holds
//!   `airsync:Class` (only `Email` has items), `airsync:CollectionId`
//!   (none: every mail folder the device sees; with `DeepTraversal` the
//!   subfolders too) and `FreeText` (required: every word, in the subject,
//!   the From field or the body text). Matches come newest first; each
//!   `Result` has the item's class, `ServerId` (the id Sync uses) and
//!   folder, and `Properties` with the subject, received date, `DisplayTo`,
//!   importance, read state, sender, a 255-character `Preview` and
//!   `HasAttachments`.
//! * **GAL** (`GalSearchCriterion`): the same exact-match lookup as Search
//!   in the GAL; each result's `Properties` has the display name, alias and
//!   address.
//!
//! A request without `SearchId` or with anything but one criterion is
//! status 2; a `CollectionId` the device does not see is status 3 (its
//! folder hierarchy is out of date); a `Range` that does not start at 0 is
//! status 4 in the `Response`, as the protocol defines.

use bytes::Bytes;
use hyper::Response;
use tracing::{info, warn};

use crate::directory_search::shown_name;
use crate::search::{MailQuery, QueryError};
use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::sync::{BodyWanted, email_data, server_id};
use crate::wbxml::{CodePage, Element};

/// MS-ASCMD 2.2.3.177.2: the Find status codes.
mod status {
    pub const SUCCESS: u16 = 1;
    pub const INVALID: u16 = 2;
    pub const FOLDER_SYNC_REQUIRED: u16 = 3;
    pub const START_WITH_RANGE_ZERO: u16 = 4;
}

/// The most results one Find returns.
const MAX_RESULTS: usize = 1000;

/// Longest `Preview` (MS-ASCMD 2.2.3.137).
const PREVIEW_CHARS: usize = 255;

/// Why a Find cannot run: the status, and whether it goes in the
/// `Response` (else at the top).
struct Refusal(u16, bool);

/// The `Range` of a Find: `0-n`, at most [`MAX_RESULTS`] entries.
fn parse_range(options: Option<&Element>) -> Result<usize, Refusal> {
    let Some(text) = options.and_then(|o| o.child_text(CodePage::Find, "Range")) else { return Ok(MAX_RESULTS - 1) };
    let (m, n) = text.trim().split_once('-').ok_or(Refusal(status::INVALID, false))?;
    let (m, n) = (m.trim().parse::<usize>(), n.trim().parse::<usize>());
    let (Ok(m), Ok(n)) = (m, n) else { return Err(Refusal(status::INVALID, false)) };
    if m != 0 {
        return Err(Refusal(status::START_WITH_RANGE_ZERO, true));
    }
    if n >= MAX_RESULTS {
        return Err(Refusal(status::INVALID, false));
    }
    Ok(n)
}

/// The mailbox query of a `MailBoxSearchCriterion`'s `Query`.
fn mail_query(query: &Element) -> Result<MailQuery, Refusal> {
    let mut q = MailQuery { email: true, ..MailQuery::default() };
    for c in query.elements() {
        match (c.page(), c.name()) {
            (CodePage::AirSync, "Class") => {
                q.email &= c.text().is_some_and(|t| t.trim().eq_ignore_ascii_case("Email"));
            }
            (CodePage::AirSync, "CollectionId") => {
                q.collections.push(c.text().ok_or(Refusal(status::INVALID, false))?.trim().to_owned());
            }
            (CodePage::Find, "FreeText") => {
                let text = c.text().ok_or(Refusal(status::INVALID, false))?;
                q.words.extend(text.split_whitespace().map(str::to_lowercase));
            }
            _ => return Err(Refusal(status::INVALID, false)),
        }
    }
    if q.words.is_empty() {
        return Err(Refusal(status::INVALID, false));
    }
    Ok(q)
}

/// The `Response` of a successful Find.
fn response(store: &str, results: Vec<Element>, total: usize) -> Element {
    let returned = results.len();
    let mut r = Element::new(CodePage::Find, "Response")
        .with(Element::new(CodePage::ItemOperations, "Store").with_text(store))
        .with_text_child("Status", status::SUCCESS.to_string());
    for result in results {
        r.push(result);
    }
    if returned > 0 {
        r.push(Element::new(CodePage::Find, "Range").with_text(format!("0-{}", returned - 1)));
    }
    r.push(Element::new(CodePage::Find, "Total").with_text(total.to_string()));
    r
}

/// The answer: top status, and the response when there is one.
fn answer(top: u16, response: Option<Element>) -> Response<Bytes> {
    let mut find = Element::new(CodePage::Find, "Find").with_text_child("Status", top.to_string());
    if let Some(r) = response {
        find.push(r);
    }
    wbxml_response(&find)
}

fn refusal(store: &str, Refusal(code, in_response): Refusal) -> Response<Bytes> {
    if in_response {
        let r = Element::new(CodePage::Find, "Response")
            .with(Element::new(CodePage::ItemOperations, "Store").with_text(store))
            .with_text_child("Status", code.to_string());
        answer(status::SUCCESS, Some(r))
    } else {
        answer(code, None)
    }
}

/// A mail result's `Properties`, from the ApplicationData Sync would send.
fn mail_properties(data: Element) -> Element {
    let mut properties = Element::new(CodePage::Find, "Properties");
    let mut preview = None;
    let mut has_attachments = false;
    let elements = data.children.into_iter().filter_map(|n| match n {
        crate::wbxml::Node::Element(e) => Some(e),
        _ => None,
    });
    for e in elements {
        match (e.page(), e.name()) {
            (CodePage::Email, "Subject" | "DateReceived" | "DisplayTo" | "Importance" | "Read" | "From") => {
                properties.push(e);
            }
            (CodePage::AirSyncBase, "Attachments") => has_attachments = e.elements().next().is_some(),
            (CodePage::AirSyncBase, "Body") => {
                let text = e.child_text(CodePage::AirSyncBase, "Data").unwrap_or_default();
                let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                preview = Some(flat.chars().take(PREVIEW_CHARS).collect::<String>());
            }
            _ => {}
        }
    }
    if let Some(p) = preview.filter(|p| !p.is_empty()) {
        properties.push(Element::new(CodePage::Find, "Preview").with_text(p));
    }
    properties.push(Element::new(CodePage::Find, "HasAttachments").with_text(if has_attachments { "1" } else { "0" }));
    properties
}

impl ActiveSync {
    /// The Find command.
    pub(crate) async fn find(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let (account, device) = (ctx.principal.account, ctx.device.device_id.clone());
        let Some(root) = root.filter(|r| r.is(CodePage::Find, "Find")) else {
            info!(account = %account, device = %device, "Find refused: not a Find request");
            return status_only(ctx.request.command, status::INVALID);
        };
        let search_id = root.child_text(CodePage::Find, "SearchId").map(|s| s.trim().to_owned()).unwrap_or_default();
        let criteria: Vec<&Element> =
            root.child(CodePage::Find, "ExecuteSearch").map(|e| e.elements().collect()).unwrap_or_default();
        let ([criterion], false) = (criteria.as_slice(), search_id.is_empty()) else {
            info!(account = %account, device = %device, "Find refused: no SearchId or not one search criterion");
            return answer(status::INVALID, None);
        };
        let options = criterion.child(CodePage::Find, "Options");
        if criterion.is(CodePage::Find, "MailBoxSearchCriterion") {
            self.find_mail(&ctx, criterion, options, &search_id).await
        } else if criterion.is(CodePage::Find, "GalSearchCriterion") {
            self.find_gal(&ctx, criterion, options, &search_id).await
        } else {
            info!(account = %account, device = %device, criterion = criterion.name(), "Find refused: unknown criterion");
            answer(status::INVALID, None)
        }
    }

    async fn find_mail(
        &self,
        ctx: &Context,
        criterion: &Element,
        options: Option<&Element>,
        search_id: &str,
    ) -> Response<Bytes> {
        let (account, device) = (ctx.principal.account, &ctx.device.device_id);
        let parsed = parse_range(options).and_then(|end| {
            let query = criterion.child(CodePage::Find, "Query").ok_or(Refusal(status::INVALID, false))?;
            Ok((end, mail_query(query)?))
        });
        let (end, query) = match parsed {
            Ok(p) => p,
            Err(r) => {
                info!(account = %account, device = %device, search = search_id, status = r.0, "Find Mailbox refused");
                return refusal("Mailbox", r);
            }
        };
        let deep = options.and_then(|o| o.child(CodePage::Find, "DeepTraversal")).is_some();
        let (matches, total) = match self.mail_matches(ctx, &query, deep, 0, end).await {
            Ok(Ok(found)) => found,
            Ok(Err(QueryError::Invalid | QueryError::TooComplex)) => {
                info!(account = %account, device = %device, search = search_id, "Find Mailbox: a collection the device does not see");
                return refusal("Mailbox", Refusal(status::FOLDER_SYNC_REQUIRED, false));
            }
            Err(err) => {
                warn!(account = %account, error = %err, "Find Mailbox failed");
                return status_only(ctx.request.command, 110);
            }
        };
        let body = BodyWanted::plain_preview(PREVIEW_CHARS * 4);
        let results = matches
            .into_iter()
            .map(|(folder, meta, content)| {
                let data = email_data(&meta, folder, &content, body);
                Element::new(CodePage::Find, "Result")
                    .with(Element::new(CodePage::AirSync, "Class").with_text("Email"))
                    .with(Element::new(CodePage::AirSync, "ServerId").with_text(server_id(folder, meta.uid)))
                    .with(Element::new(CodePage::AirSync, "CollectionId").with_text(folder.0.to_string()))
                    .with(mail_properties(data))
            })
            .collect::<Vec<_>>();
        info!(account = %account, device = %device, search = search_id, total, returned = results.len(), "Find Mailbox");
        answer(status::SUCCESS, Some(response("Mailbox", results, total)))
    }

    async fn find_gal(
        &self,
        ctx: &Context,
        criterion: &Element,
        options: Option<&Element>,
        search_id: &str,
    ) -> Response<Bytes> {
        let (account, device) = (ctx.principal.account, &ctx.device.device_id);
        let query = criterion.child_text(CodePage::Find, "Query").map(|q| q.trim().to_owned()).unwrap_or_default();
        let end = match parse_range(options) {
            Ok(end) if !query.is_empty() => end,
            Ok(_) => return refusal("GAL", Refusal(status::INVALID, false)),
            Err(r) => return refusal("GAL", r),
        };
        let found = match self.gal_lookup(ctx, &query).await {
            Ok(found) => found,
            Err(err) => {
                warn!(account = %account, error = %err, "Find GAL failed");
                return status_only(ctx.request.command, 110);
            }
        };
        info!(account = %account, device = %device, search = search_id, found = found.len(), "Find GAL");
        let results = found
            .iter()
            .take(end + 1)
            .map(|a| {
                let properties = Element::new(CodePage::Find, "Properties")
                    .with(Element::new(CodePage::Gal, "DisplayName").with_text(shown_name(a)))
                    .with(Element::new(CodePage::Gal, "Alias").with_text(a.address.local.as_str().to_owned()))
                    .with(Element::new(CodePage::Gal, "EmailAddress").with_text(a.address.to_string()));
                Element::new(CodePage::Find, "Result").with(properties)
            })
            .collect();
        answer(status::SUCCESS, Some(response("GAL", results, found.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_start_at_zero() {
        let opts = |r: &str| Element::new(CodePage::Find, "Options").with_text_child("Range", r);
        assert_eq!(parse_range(None).ok(), Some(MAX_RESULTS - 1));
        assert_eq!(parse_range(Some(&opts("0-9"))).ok(), Some(9));
        assert!(matches!(parse_range(Some(&opts("5-9"))), Err(Refusal(4, true))));
        assert!(matches!(parse_range(Some(&opts("0-1000"))), Err(Refusal(2, false))));
        assert!(matches!(parse_range(Some(&opts("x"))), Err(Refusal(2, false))));
    }

    #[test]
    fn mailbox_queries_need_free_text() {
        let q = Element::new(CodePage::Find, "Query")
            .with(Element::new(CodePage::AirSync, "Class").with_text("Email"))
            .with(Element::new(CodePage::AirSync, "CollectionId").with_text("3"))
            .with(Element::new(CodePage::Find, "FreeText").with_text("Budget Review"));
        let parsed = mail_query(&q).ok().unwrap();
        assert_eq!(parsed.words, ["budget", "review"]);
        assert_eq!(parsed.collections, ["3"]);
        assert!(parsed.email);
        let no_text =
            Element::new(CodePage::Find, "Query").with(Element::new(CodePage::AirSync, "Class").with_text("Email"));
        assert!(mail_query(&no_text).is_err());
    }
}
