//! REPORTs: calendar-query, calendar-multiget and free-busy-query
//! (RFC 4791 7), addressbook-query and addressbook-multiget (RFC 6352 8),
//! sync-collection (RFC 6578).
//!
//! A calendar-query reads the item index first: items of another
//! component kind are never opened, and a single (non-recurring) event is
//! judged by its indexed span when the filter is only a time range; the
//! others are parsed and the filter evaluated on them, expanding
//! recurrences.

use std::fmt::Write as _;

use axigen_core::acl::Rights;
use axigen_core::groupware::ItemKind;
use axigen_core::itemstore::ItemMeta;
use axigen_core::mailstore::{FolderInfo, ModSeq};
use axigen_core::model::Principal;
use calcard::icalendar::ICalendar;
use calcard::vcard::VCard;
use hyper::StatusCode;

use super::filter::{
    self, CardFilter, Collation, CompFilter, MatchType, ParamFilter, PropFilter, TextMatch, TimeRange,
};
use super::props::{Res, Wanted, parse_sync_token, sync_token};
use super::service::{Answer, Dav, DavRequest, Owner, Space, Target, condition, empty, respond, text, xml_answer};
use super::xml::{self, CALDAV, CARDDAV, DAV, Element, escape};

/// Why a filter cannot be used: the precondition to name.
struct BadFilter(&'static str, String);

fn time_range(e: &Element) -> Result<TimeRange, BadFilter> {
    let at = |name: &str| -> Result<Option<i64>, BadFilter> {
        match e.attr(name) {
            None => Ok(None),
            Some(v) => filter::parse_utc(v)
                .map(Some)
                .ok_or_else(|| BadFilter("valid-filter", format!("{name}={v:?} is not a UTC date-time"))),
        }
    };
    let range = TimeRange { start: at("start")?, end: at("end")? };
    if range.start.is_none() && range.end.is_none() {
        return Err(BadFilter("valid-filter", "a time-range needs start or end".into()));
    }
    Ok(range)
}

fn text_match(e: &Element, carddav: bool) -> Result<TextMatch, BadFilter> {
    let collation = match e.attr("collation") {
        None if carddav => Collation::UnicodeCasemap,
        None | Some("i;ascii-casemap") => Collation::AsciiCasemap,
        Some("i;octet") => Collation::Octet,
        Some("i;unicode-casemap") => Collation::UnicodeCasemap,
        Some(_) => return Err(BadFilter("supported-collation", String::new())),
    };
    let match_type = match e.attr("match-type") {
        None | Some("contains") => MatchType::Contains,
        Some("equals") if carddav => MatchType::Equals,
        Some("starts-with") if carddav => MatchType::StartsWith,
        Some("ends-with") if carddav => MatchType::EndsWith,
        Some(other) => return Err(BadFilter("supported-filter", format!("match-type {other:?}"))),
    };
    let negate = matches!(e.attr("negate-condition"), Some("yes"));
    Ok(TextMatch { text: e.text.clone(), collation, match_type, negate })
}

fn name_of(e: &Element) -> Result<String, BadFilter> {
    e.attr("name")
        .filter(|n| !n.is_empty())
        .map(str::to_ascii_uppercase)
        .ok_or_else(|| BadFilter("valid-filter", format!("{} without a name", e.name)))
}

fn param_filter(e: &Element, ns: &str, carddav: bool) -> Result<ParamFilter, BadFilter> {
    Ok(ParamFilter {
        name: name_of(e)?,
        is_not_defined: e.child(ns, "is-not-defined").is_some(),
        text_match: e.child(ns, "text-match").map(|t| text_match(t, carddav)).transpose()?,
    })
}

fn prop_filter(e: &Element, ns: &str, carddav: bool) -> Result<PropFilter, BadFilter> {
    Ok(PropFilter {
        name: name_of(e)?,
        is_not_defined: e.child(ns, "is-not-defined").is_some(),
        time_range: e.child(ns, "time-range").map(time_range).transpose()?,
        text_matches: e.children_named(ns, "text-match").map(|t| text_match(t, carddav)).collect::<Result<_, _>>()?,
        params: e.children_named(ns, "param-filter").map(|p| param_filter(p, ns, carddav)).collect::<Result<_, _>>()?,
        all_of: !carddav || e.attr("test") == Some("allof"),
    })
}

fn comp_filter(e: &Element) -> Result<CompFilter, BadFilter> {
    Ok(CompFilter {
        name: name_of(e)?,
        is_not_defined: e.child(CALDAV, "is-not-defined").is_some(),
        time_range: e.child(CALDAV, "time-range").map(time_range).transpose()?,
        props: e
            .children_named(CALDAV, "prop-filter")
            .map(|p| prop_filter(p, CALDAV, false))
            .collect::<Result<_, _>>()?,
        comps: e.children_named(CALDAV, "comp-filter").map(comp_filter).collect::<Result<_, _>>()?,
    })
}

/// An addressbook-query's filter (none: every card).
fn card_filter(root: &Element) -> Result<CardFilter, BadFilter> {
    let Some(f) = root.child(CARDDAV, "filter") else { return Ok(CardFilter::default()) };
    Ok(CardFilter {
        all_of: f.attr("test") == Some("allof"),
        props: f
            .children_named(CARDDAV, "prop-filter")
            .map(|p| prop_filter(p, CARDDAV, true))
            .collect::<Result<_, _>>()?,
    })
}

/// The `prop` of a REPORT body, as a PROPFIND's.
fn wanted(root: &Element) -> Wanted {
    if let Some(prop) = root.child(DAV, "prop") {
        Wanted::Props(prop.children.iter().map(|c| (c.ns.clone(), c.name.clone())).collect())
    } else if root.child(DAV, "propname").is_some() {
        Wanted::Names
    } else {
        Wanted::All(Vec::new())
    }
}

fn wants(w: &Wanted, ns: &str, name: &str) -> bool {
    matches!(w, Wanted::Props(p) if p.iter().any(|(n, l)| n == ns && l == name))
}

/// How `calendar-data` is to be shaped (RFC 4791 9.6.5, 9.6.6).
#[derive(Debug, Clone, Copy)]
enum Shaping {
    /// Every instance in the range as a component of its own.
    Expand(TimeRange),
    /// The series with only the overridden instances in the range.
    Limit(TimeRange),
}

/// `calendar-data`'s `expand` or `limit-recurrence-set`.
fn expansion(root: &Element) -> Result<Option<Shaping>, BadFilter> {
    let Some(data) = root.child(DAV, "prop").and_then(|p| p.child(CALDAV, "calendar-data")) else { return Ok(None) };
    for (name, make) in
        [("expand", Shaping::Expand as fn(TimeRange) -> Shaping), ("limit-recurrence-set", Shaping::Limit)]
    {
        if let Some(e) = data.child(CALDAV, name) {
            let range = time_range(e)?;
            if range.start.is_none() || range.end.is_none() {
                return Err(BadFilter("valid-filter", format!("{name} needs start and end")));
            }
            return Ok(Some(make(range)));
        }
    }
    Ok(None)
}

/// What a calendar-query filter asks of the index: the one component
/// kind it selects (if it names exactly one), and whether it is only a
/// time range on that component (then a single event's indexed span
/// decides without parsing).
fn index_plan(f: &CompFilter) -> (Option<ItemKind>, Option<TimeRange>) {
    if !f.props.is_empty() || f.time_range.is_some() || f.is_not_defined || f.comps.len() != 1 {
        return (None, None);
    }
    let inner = &f.comps[0];
    let kind = match inner.name.as_str() {
        "VEVENT" => ItemKind::Event,
        "VTODO" => ItemKind::Todo,
        "VJOURNAL" => ItemKind::Journal,
        _ => return (None, None),
    };
    if inner.is_not_defined {
        return (None, None);
    }
    let only_range = inner.props.is_empty() && inner.comps.is_empty();
    (Some(kind), if only_range { inner.time_range } else { None })
}

impl Dav {
    pub(super) async fn report(&self, me: &Principal, req: &DavRequest, target: Target) -> Result<Answer, Answer> {
        let root = xml::parse(&req.body).map_err(|e| text(StatusCode::BAD_REQUEST, &e.to_string()))?;
        let result = match (root.ns.as_str(), root.name.as_str()) {
            (CALDAV, "calendar-query") => self.calendar_query(me, &root, target).await,
            (CALDAV, "calendar-multiget") => self.multiget(me, &root, target, Space::Calendars).await,
            (CALDAV, "free-busy-query") => self.free_busy_query(me, &root, target).await,
            (CARDDAV, "addressbook-query") => self.addressbook_query(me, &root, target).await,
            (CARDDAV, "addressbook-multiget") => self.multiget(me, &root, target, Space::AddressBooks).await,
            (DAV, "sync-collection") => self.sync_collection(me, &root, target).await,
            (DAV, "principal-property-search") => self.principal_search(me, &root, target).await,
            (DAV, "principal-search-property-set") => Ok(xml_answer(
                StatusCode::OK,
                format!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:principal-search-property-set{}>\
                     <D:principal-search-property><D:prop><D:displayname/></D:prop>\
                     <D:description xml:lang=\"en\">Display name</D:description></D:principal-search-property>\
                     <D:principal-search-property><D:prop><C:calendar-user-address-set/></D:prop>\
                     <D:description xml:lang=\"en\">Email address</D:description></D:principal-search-property>\
                     </D:principal-search-property-set>",
                    xml::ROOT_NAMESPACES
                ),
            )),
            _ => return Ok(condition(StatusCode::FORBIDDEN, DAV, "supported-report", None)),
        };
        result.or_else(|e| match e {
            ReportError::Answer(a) => Ok(a),
            ReportError::Filter(BadFilter(name, why), ns) => {
                let detail = (!why.is_empty()).then(|| format!("<!-- {} -->", escape(&why).replace("--", "- -")));
                Ok(condition(StatusCode::FORBIDDEN, ns, name, detail.as_deref()))
            }
        })
    }

    /// The collection a query runs on, with `me`'s read right checked.
    async fn readable(
        &self,
        me: &Principal,
        target: Target,
        space: Space,
    ) -> Result<(Owner, FolderInfo, Option<String>), Answer> {
        let (s, owner, folder, name) = match target {
            Target::Collection(s, owner, folder) => (s, owner, folder, None),
            Target::Item(s, owner, folder, name) => (s, owner, folder, Some(name)),
            Target::NoCollection(..) => return Err(empty(StatusCode::NOT_FOUND)),
            _ => return Err(condition(StatusCode::FORBIDDEN, DAV, "supported-report", None)),
        };
        if s != space {
            return Err(condition(StatusCode::FORBIDDEN, DAV, "supported-report", None));
        }
        let rights = self.rights(me, &owner, &folder).await?;
        self.require(rights, Rights::READ, "read")?;
        Ok((owner, folder, name))
    }

    async fn candidates(
        &self,
        owner: &Owner,
        folder: &FolderInfo,
        only: Option<String>,
    ) -> Result<Vec<ItemMeta>, Answer> {
        match only {
            Some(name) => Ok(self
                .items
                .item_by_name(owner.account, folder.id, &name)
                .await
                .map_err(|e| self.failure(&e))?
                .into_iter()
                .collect()),
            None => self.items.items(owner.account, folder.id).await.map_err(|e| self.failure(&e)),
        }
    }

    fn multistatus_start() -> String {
        format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus{}>", xml::ROOT_NAMESPACES)
    }

    async fn calendar_query(&self, me: &Principal, root: &Element, target: Target) -> Result<Answer, ReportError> {
        let bad = |f: BadFilter| ReportError::Filter(f, CALDAV);
        let filter = root
            .child(CALDAV, "filter")
            .and_then(|f| f.child(CALDAV, "comp-filter"))
            .ok_or_else(|| bad(BadFilter("valid-filter", "a calendar-query needs a filter".into())))?;
        let filter = comp_filter(filter).map_err(bad)?;
        if filter.name != "VCALENDAR" {
            return Err(bad(BadFilter("valid-filter", "the filter must start with VCALENDAR".into())));
        }
        let expand = expansion(root).map_err(bad)?;
        let wanted = wanted(root);
        let (owner, folder, only) = self.readable(me, target, Space::Calendars).await?;
        let (kind, range_only) = index_plan(&filter);
        let wants_data = wants(&wanted, CALDAV, "calendar-data");
        let me_owner = self.owner_of(me);
        let mut out = Self::multistatus_start();
        for item in self.candidates(&owner, &folder, only).await? {
            if kind.is_some_and(|k| k != item.index.kind) {
                continue;
            }
            let decided = match range_only {
                Some(range)
                    if item.index.kind == ItemKind::Event && !item.index.recurring && item.index.start.is_some() =>
                {
                    Some(item.index.may_overlap(range.start.unwrap_or(i64::MIN), range.end.unwrap_or(i64::MAX)))
                }
                _ => None,
            };
            if decided == Some(false) {
                continue;
            }
            let content = if decided.is_none() || wants_data { Some(self.text_of(&item).await?) } else { None };
            let parsed = match (&content, decided.is_none() || expand.is_some()) {
                (Some(text), true) => match ICalendar::parse(text) {
                    Ok(cal) => Some(cal),
                    Err(_) => continue,
                },
                _ => None,
            };
            if decided.is_none() && !parsed.as_ref().is_some_and(|cal| filter::calendar_matches(&filter, cal)) {
                continue;
            }
            let data = match (expand, &parsed) {
                (Some(Shaping::Expand(range)), Some(cal)) if wants_data => Some(filter::expand(cal, range)),
                (Some(Shaping::Limit(range)), Some(cal)) if wants_data && item.index.recurring => {
                    Some(filter::limit_recurrence_set(cal, range))
                }
                _ => content,
            };
            let res = Res::Item { space: Space::Calendars, owner: &owner, item: &item, content: data.as_deref() };
            let h = self.item_href(Space::Calendars, &owner, &folder.name, &item.name);
            self.response(&mut out, &me_owner, None, &h, &res, &wanted);
        }
        out.push_str("</D:multistatus>");
        Ok(xml_answer(StatusCode::MULTI_STATUS, out))
    }

    async fn addressbook_query(&self, me: &Principal, root: &Element, target: Target) -> Result<Answer, ReportError> {
        let bad = |f: BadFilter| ReportError::Filter(f, CARDDAV);
        let filter = card_filter(root).map_err(bad)?;
        let limit: Option<usize> = root
            .child(CARDDAV, "limit")
            .and_then(|l| l.child(CARDDAV, "nresults"))
            .map(|n| {
                n.text.trim().parse().map_err(|_| bad(BadFilter("valid-filter", "nresults is not a number".into())))
            })
            .transpose()?;
        let wanted = wanted(root);
        let (owner, folder, only) = self.readable(me, target, Space::AddressBooks).await?;
        let me_owner = self.owner_of(me);
        let mut out = Self::multistatus_start();
        let mut matched = 0usize;
        let mut truncated = false;
        for item in self.candidates(&owner, &folder, only).await? {
            let content = self.text_of(&item).await?;
            if !filter.props.is_empty() {
                let Ok(card) = VCard::parse(&content) else { continue };
                if !filter::card_matches(&filter, &card) {
                    continue;
                }
            }
            if limit.is_some_and(|l| matched >= l) {
                truncated = true;
                break;
            }
            matched += 1;
            let res = Res::Item { space: Space::AddressBooks, owner: &owner, item: &item, content: Some(&content) };
            let h = self.item_href(Space::AddressBooks, &owner, &folder.name, &item.name);
            self.response(&mut out, &me_owner, None, &h, &res, &wanted);
        }
        if truncated {
            // RFC 6352 8.6.1: the request-URI with 507 says results were cut.
            let _ = write!(
                out,
                "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status>\
                 <D:error><D:number-of-matches-within-limits/></D:error></D:response>",
                escape(&self.collection_href(Space::AddressBooks, &owner, &folder.name))
            );
        }
        out.push_str("</D:multistatus>");
        Ok(xml_answer(StatusCode::MULTI_STATUS, out))
    }

    async fn multiget(
        &self,
        me: &Principal,
        root: &Element,
        target: Target,
        space: Space,
    ) -> Result<Answer, ReportError> {
        let (owner, folder, _) = self.readable(me, target, space).await?;
        let wanted = wanted(root);
        let data = match space {
            Space::Calendars => (CALDAV, "calendar-data"),
            Space::AddressBooks => (CARDDAV, "address-data"),
        };
        let wants_data = wants(&wanted, data.0, data.1);
        let me_owner = self.owner_of(me);
        let mut out = Self::multistatus_start();
        for href in root.children_named(DAV, "href") {
            let raw = href.text.trim();
            // An absolute URL's path, or a path.
            let path = match raw.find("://") {
                Some(i) => raw[i + 3..].find('/').map_or("/", |p| &raw[i + 3 + p..]),
                None => raw,
            };
            let found = match self.target(path).await {
                Ok(Target::Item(s, o, f, name)) if s == space && o.account == owner.account && f.id == folder.id => {
                    self.items.item_by_name(owner.account, folder.id, &name).await.map_err(|e| self.failure(&e))?
                }
                _ => None,
            };
            let Some(item) = found else {
                let _ = write!(
                    out,
                    "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>",
                    escape(raw)
                );
                continue;
            };
            let content = if wants_data { Some(self.text_of(&item).await?) } else { None };
            let res = Res::Item { space, owner: &owner, item: &item, content: content.as_deref() };
            self.response(&mut out, &me_owner, None, raw, &res, &wanted);
        }
        out.push_str("</D:multistatus>");
        Ok(xml_answer(StatusCode::MULTI_STATUS, out))
    }

    async fn free_busy_query(&self, me: &Principal, root: &Element, target: Target) -> Result<Answer, ReportError> {
        let bad = |f: BadFilter| ReportError::Filter(f, CALDAV);
        let range = root
            .child(CALDAV, "time-range")
            .ok_or_else(|| bad(BadFilter("valid-filter", "a free-busy-query needs a time-range".into())))
            .and_then(|t| time_range(t).map_err(bad))?;
        // Free/busy is the organisation's (RFC 4791 7.10 read-free-busy):
        // any account of the owner's domain may ask it of a calendar, or of
        // a whole calendar home (every calendar of the account); others
        // need the read right.
        let (owner, folders) = match target {
            Target::Home(Space::Calendars, owner) => {
                let folders = self.mail.folders(owner.account).await.map_err(|e| self.failure(&e))?;
                let calendars = folders.into_iter().filter(|f| f.kind == axigen_core::mailstore::FolderKind::Calendar);
                (owner.clone(), calendars.collect::<Vec<_>>())
            }
            Target::Collection(Space::Calendars, owner, folder) => (owner, vec![folder]),
            Target::NoCollection(..) => return Err(ReportError::Answer(empty(StatusCode::NOT_FOUND))),
            _ => return Err(ReportError::Answer(condition(StatusCode::FORBIDDEN, DAV, "supported-report", None))),
        };
        let colleague = me.address.domain == owner.address.domain;
        let (from, to) = (range.start.unwrap_or(i64::MIN), range.end.unwrap_or(i64::MAX));
        let mut calendars = Vec::new();
        for folder in &folders {
            if !colleague {
                let rights = self.rights(me, &owner, folder).await?;
                self.require(rights, Rights::READ, "read")?;
            }
            for item in self.items.items(owner.account, folder.id).await.map_err(|e| self.failure(&e))? {
                if item.index.kind != ItemKind::Event || !item.index.may_overlap(from, to) {
                    continue;
                }
                if let Ok(cal) = ICalendar::parse(&self.text_of(&item).await?) {
                    calendars.push(cal);
                }
            }
        }
        let periods = filter::free_busy(&calendars, range);
        let body = filter::free_busy_text(&periods, range, axigen_core::unix_now() as i64);
        Ok(respond(StatusCode::OK, Some("text/calendar; charset=utf-8"), body))
    }

    async fn sync_collection(&self, me: &Principal, root: &Element, target: Target) -> Result<Answer, ReportError> {
        let Target::Collection(space, owner, folder) = target else {
            return Err(ReportError::Answer(condition(StatusCode::FORBIDDEN, DAV, "supported-report", None)));
        };
        let rights = self.rights(me, &owner, &folder).await?;
        self.require(rights, Rights::READ, "read")?;
        let token = root.child(DAV, "sync-token").map(|t| t.text.trim()).unwrap_or("");
        let since = if token.is_empty() {
            None
        } else {
            match parse_sync_token(&folder, token) {
                Some(m) => Some(m),
                None => return Ok(condition(StatusCode::FORBIDDEN, DAV, "valid-sync-token", None)),
            }
        };
        let limit: Option<usize> =
            root.child(DAV, "limit").and_then(|l| l.child(DAV, "nresults")).and_then(|n| n.text.trim().parse().ok());
        let wanted = wanted(root);
        // Every change as (MODSEQ, the item now or the removed name), in
        // MODSEQ order, so that a limit keeps a prefix of the log and the
        // token can stop where the prefix does.
        let (mut entries, mut new_modseq): (Vec<(ModSeq, SyncEntry)>, ModSeq) = match since {
            None => {
                // Read the folder before its items: the token is never ahead
                // of what the listing holds.
                let info = self
                    .mail
                    .folder(owner.account, folder.id)
                    .await
                    .map_err(|e| self.failure(&e))?
                    .ok_or_else(|| empty(StatusCode::NOT_FOUND))?;
                let items = self.items.items(owner.account, folder.id).await.map_err(|e| self.failure(&e))?;
                (items.into_iter().map(|i| (i.modseq, Ok(i))).collect(), info.highest_modseq)
            }
            Some(m) => {
                let changes = self
                    .items
                    .item_changes(owner.account, folder.id, ModSeq(m))
                    .await
                    .map_err(|e| self.failure(&e))?
                    .ok_or_else(|| empty(StatusCode::NOT_FOUND))?;
                let mut entries: Vec<_> = changes.changed.into_iter().map(|i| (i.modseq, Ok(i))).collect();
                entries.extend(changes.removed.into_iter().map(|(name, m)| (m, Err(name))));
                (entries, changes.modseq)
            }
        };
        entries.sort_by_key(|(m, _)| *m);
        let mut truncated = false;
        if let Some(limit) = limit
            && entries.len() > limit
        {
            // RFC 6578 3.6: a prefix, a token that resumes after it, and a
            // 507 for the collection saying there is more.
            entries.truncate(limit);
            new_modseq = entries.last().map_or(ModSeq(since.unwrap_or(0)), |(m, _)| *m);
            truncated = true;
        }
        let new_token = sync_token(&FolderInfo { highest_modseq: new_modseq, ..folder.clone() });
        let data = match space {
            Space::Calendars => (CALDAV, "calendar-data"),
            Space::AddressBooks => (CARDDAV, "address-data"),
        };
        let wants_data = wants(&wanted, data.0, data.1);
        let me_owner = self.owner_of(me);
        let mut out = Self::multistatus_start();
        for (_, entry) in &entries {
            match entry {
                Ok(item) => {
                    let content = if wants_data { Some(self.text_of(item).await?) } else { None };
                    let res = Res::Item { space, owner: &owner, item, content: content.as_deref() };
                    let h = self.item_href(space, &owner, &folder.name, &item.name);
                    self.response(&mut out, &me_owner, None, &h, &res, &wanted);
                }
                Err(name) => {
                    let _ = write!(
                        out,
                        "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>",
                        escape(&self.item_href(space, &owner, &folder.name, name))
                    );
                }
            }
        }
        if truncated {
            let _ = write!(
                out,
                "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status>\
                 <D:error><D:number-of-matches-within-limits/></D:error></D:response>",
                escape(&self.collection_href(space, &owner, &folder.name))
            );
        }
        let _ = write!(out, "<D:sync-token>{}</D:sync-token></D:multistatus>", escape(&new_token));
        Ok(xml_answer(StatusCode::MULTI_STATUS, out))
    }
}

impl Dav {
    /// `principal-property-search` (RFC 3744 9.4). The directory answers
    /// lookups by address only, so the candidates are the requester and
    /// the accounts of the requester's domain whose address or local part
    /// is a searched text; each is then matched
    /// (case-insensitive substring) on its display name and address. A
    /// search without criteria lists the requester alone.
    async fn principal_search(&self, me: &Principal, root: &Element, target: Target) -> Result<Answer, ReportError> {
        if !matches!(target, Target::Root | Target::Principals | Target::Principal(_)) {
            return Err(ReportError::Answer(condition(StatusCode::FORBIDDEN, DAV, "supported-report", None)));
        }
        let any_of = root.attr("test") == Some("anyof");
        let searches: Vec<(Vec<String>, String)> = root
            .children_named(DAV, "property-search")
            .map(|s| {
                let props = s.child(DAV, "prop").map(|p| p.children.iter().map(|c| c.name.clone()).collect());
                let text = s.child(DAV, "match").map(|m| m.text.trim().to_lowercase()).unwrap_or_default();
                (props.unwrap_or_default(), text)
            })
            .collect();
        let mut candidates = vec![me.address.clone()];
        for (_, text) in &searches {
            // Only the requester's own domain is searched.
            let full = axigen_core::model::Address::parse(text).ok().filter(|a| a.domain == me.address.domain);
            let local = axigen_core::model::Address::parse(&format!("{text}@{}", me.address.domain)).ok();
            candidates.extend(full.into_iter().chain(local));
        }
        let mut seen = std::collections::HashSet::new();
        // Some clients (python caldav) put the properties they want beside
        // an empty `prop` instead of inside it: take both.
        let mut names: Vec<(String, String)> = root
            .child(DAV, "prop")
            .map(|p| p.children.iter().map(|c| (c.ns.clone(), c.name.clone())).collect())
            .unwrap_or_default();
        for c in &root.children {
            if !(c.ns == DAV
                && matches!(c.name.as_str(), "prop" | "property-search" | "apply-to-principal-collection-set"))
            {
                names.push((c.ns.clone(), c.name.clone()));
            }
        }
        let wanted = Wanted::Props(names);
        let me_owner = self.owner_of(me);
        let mut out = Self::multistatus_start();
        for address in candidates {
            let Some(account) = self.directory.account_by_address(&address).await.map_err(|e| self.failure(&e))? else {
                continue;
            };
            if !seen.insert(account.id) {
                continue;
            }
            let name = if account.display_name.is_empty() {
                account.address.local.as_str().to_lowercase()
            } else {
                account.display_name.to_lowercase()
            };
            let mail = account.address.to_string();
            let test = |(props, text): &(Vec<String>, String)| {
                props.iter().any(|p| match p.as_str() {
                    "displayname" => name.contains(text.as_str()),
                    "calendar-user-address-set" | "email-address-set" => mail.contains(text.as_str()),
                    _ => false,
                })
            };
            let matched =
                searches.is_empty() || if any_of { searches.iter().any(test) } else { searches.iter().all(test) };
            if !matched {
                continue;
            }
            let owner = Owner {
                account: account.id,
                address: account.address,
                display_name: account.display_name,
                mounted_in: None,
            };
            let h = self.principal_href(&owner);
            self.response(&mut out, &me_owner, None, &h, &Res::Principal(&owner), &wanted);
        }
        out.push_str("</D:multistatus>");
        Ok(xml_answer(StatusCode::MULTI_STATUS, out))
    }
}

/// One sync-collection member: the item as it is now, or a removed name.
type SyncEntry = Result<ItemMeta, String>;

/// How a report ends early.
enum ReportError {
    Answer(Answer),
    Filter(BadFilter, &'static str),
}

impl From<Answer> for ReportError {
    fn from(a: Answer) -> Self {
        ReportError::Answer(a)
    }
}

/// Objects the fuzz entry point evaluates filters against: a series in a
/// time zone with an override, an exclusion and an alarm; a task; a card.
const SAMPLE_CALENDARS: &[&str] = &[
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen//sample//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n\
BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:s@x\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260105T090000\r\nDURATION:PT1H\r\n\
RRULE:FREQ=WEEKLY;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20260112T090000\r\nSUMMARY:Weekly\r\n\
CATEGORIES:WORK,TEAM\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:b@x\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n\
TRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:s@x\r\nDTSTAMP:20260101T000000Z\r\n\
RECURRENCE-ID;TZID=Europe/Berlin:20260119T090000\r\nDTSTART;TZID=Europe/Berlin:20260120T150000\r\n\
DURATION:PT1H\r\nSUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen//sample//EN\r\nBEGIN:VTODO\r\nUID:t@x\r\n\
DTSTAMP:20260101T000000Z\r\nDUE:20260301T120000Z\r\nSTATUS:NEEDS-ACTION\r\nSUMMARY:Report\r\nEND:VTODO\r\n\
END:VCALENDAR\r\n",
];
const SAMPLE_CARD: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:c@x\r\nFN:Ann Example\r\nN:Example;Ann;;;\r\n\
EMAIL;TYPE=work:ann@example.com\r\nitem1.TEL;TYPE=cell:+1 555 0100\r\nEND:VCARD\r\n";

/// Reads a REPORT body as the endpoint does and, for a calendar-query or
/// an addressbook-query, evaluates its filter (and a calendar-data
/// `expand`) on sample objects: the fuzz target's entry point. Returns the
/// number of sample objects that match, or the refusal a client would get.
pub fn check_query(body: &[u8]) -> Result<usize, String> {
    let root = xml::parse(body).map_err(|e| e.to_string())?;
    let refuse = |BadFilter(name, why): BadFilter| format!("{name}: {why}");
    if root.is(CALDAV, "calendar-query") {
        let filter = root.child(CALDAV, "filter").and_then(|f| f.child(CALDAV, "comp-filter")).ok_or("no filter")?;
        let filter = comp_filter(filter).map_err(refuse)?;
        let expand = expansion(&root).map_err(refuse)?;
        let mut matched = 0;
        for text in SAMPLE_CALENDARS {
            let calendar = ICalendar::parse(text).map_err(|e| format!("{e:?}"))?;
            if filter::calendar_matches(&filter, &calendar) {
                matched += 1;
                match expand {
                    Some(Shaping::Expand(range)) => drop(filter::expand(&calendar, range)),
                    Some(Shaping::Limit(range)) => drop(filter::limit_recurrence_set(&calendar, range)),
                    None => {}
                }
            }
        }
        Ok(matched)
    } else if root.is(CARDDAV, "addressbook-query") {
        let filter = card_filter(&root).map_err(refuse)?;
        let card = VCard::parse(SAMPLE_CARD).map_err(|e| format!("{e:?}"))?;
        Ok(usize::from(filter::card_matches(&filter, &card)))
    } else if root.is(CALDAV, "free-busy-query") {
        let range = root.child(CALDAV, "time-range").ok_or("no time-range")?;
        let range = time_range(range).map_err(refuse)?;
        let calendars: Vec<ICalendar> = SAMPLE_CALENDARS.iter().filter_map(|t| ICalendar::parse(t).ok()).collect();
        let periods = filter::free_busy(&calendars, range);
        let _ = filter::free_busy_text(&periods, range, 0);
        Ok(periods.len())
    } else {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(inner: &str) -> Result<usize, String> {
        check_query(
            format!(
                "<C:calendar-query xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:prop><D:getetag/>\
                 </D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">{inner}</C:comp-filter></C:filter>\
                 </C:calendar-query>"
            )
            .as_bytes(),
        )
    }

    #[test]
    fn filters_are_read_and_evaluated() {
        // The series' 3rd week (19 Jan) moved to the 20th, 15:00 Berlin.
        let moved = "<C:comp-filter name=\"VEVENT\"><C:time-range start=\"20260120T140000Z\" \
                     end=\"20260120T150000Z\"/></C:comp-filter>";
        assert_eq!(query(moved), Ok(1));
        let excluded = "<C:comp-filter name=\"VEVENT\"><C:time-range start=\"20260112T000000Z\" \
                        end=\"20260113T000000Z\"/></C:comp-filter>";
        assert_eq!(query(excluded), Ok(0));
        let pending = "<C:comp-filter name=\"VTODO\"><C:prop-filter name=\"COMPLETED\"><C:is-not-defined/>\
                       </C:prop-filter><C:prop-filter name=\"STATUS\"><C:text-match negate-condition=\"yes\">\
                       COMPLETED</C:text-match></C:prop-filter></C:comp-filter>";
        assert_eq!(query(pending), Ok(1));
        assert_eq!(query(""), Ok(2));
        // Refusals: a bad date, an unknown collation, an unnamed filter.
        assert!(query("<C:comp-filter name=\"VEVENT\"><C:time-range start=\"tomorrow\"/></C:comp-filter>").is_err());
        let collation = "<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"SUMMARY\">\
                         <C:text-match collation=\"i;klingon\">x</C:text-match></C:prop-filter></C:comp-filter>";
        assert!(query(collation).unwrap_err().starts_with("supported-collation"));
        assert!(query("<C:comp-filter/>").is_err());
        let card = b"<CR:addressbook-query xmlns:D=\"DAV:\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\">\
                     <CR:filter test=\"allof\"><CR:prop-filter name=\"EMAIL\"><CR:text-match match-type=\"ends-with\">\
                     @EXAMPLE.COM</CR:text-match></CR:prop-filter><CR:prop-filter name=\"FN\"><CR:text-match \
                     match-type=\"starts-with\">ann</CR:text-match></CR:prop-filter></CR:filter></CR:addressbook-query>";
        assert_eq!(check_query(card), Ok(1));
    }
}
