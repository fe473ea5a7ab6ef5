//! PROPFIND and PROPPATCH (RFC 4918 9.1, 9.2) and the live properties of
//! every resource: principals (RFC 5397, RFC 4791 6.2.1, RFC 6352 7.1.1),
//! collections (RFC 4791 5.2, RFC 6352 6.2, RFC 6578 4, RFC 4331) and items.

use std::collections::HashMap;
use std::fmt::Write as _;

use axigen_core::acl::Rights;
use axigen_core::groupware::MAX_ITEM_BYTES;
use axigen_core::itemstore::ItemMeta;
use axigen_core::mailstore::{FolderInfo, FolderKind};
use axigen_core::model::Principal;
use hyper::{StatusCode, header::HeaderValue};

use super::service::{
    Answer, Dav, DavRequest, Owner, Space, Target, condition, dead_property, depth, empty, text, xml_answer,
};
use super::xml::{self, CALDAV, CALSERVER, CARDDAV, DAV, escape};

/// A property name: namespace and local name.
pub(super) type Name = (String, String);

/// What a PROPFIND asks for.
pub(super) enum Wanted {
    All(Vec<Name>),
    Names,
    Props(Vec<Name>),
}

/// Properties `allprop` returns (RFC 4918 9.1: the live properties it
/// defines, and the stored ones), beyond what `include` adds; and, for
/// clients that discover with an empty PROPFIND, where the principal and
/// its homes are.
const ALLPROP: &[(&str, &str)] = &[
    (DAV, "current-user-principal"),
    (DAV, "principal-URL"),
    (CALDAV, "calendar-home-set"),
    (CARDDAV, "addressbook-home-set"),
    (DAV, "resourcetype"),
    (DAV, "displayname"),
    (DAV, "getetag"),
    (DAV, "getcontenttype"),
    (DAV, "getcontentlength"),
    (DAV, "getlastmodified"),
];

/// One resource being described, with what its properties need.
pub(super) enum Res<'a> {
    Root,
    Principals,
    Principal(&'a Owner),
    Home(Space, &'a Owner),
    Collection {
        space: Space,
        owner: &'a Owner,
        folder: &'a FolderInfo,
        stored: &'a [(String, String)],
        rights: Rights,
    },
    Item {
        space: Space,
        owner: &'a Owner,
        item: &'a ItemMeta,
        content: Option<&'a str>,
    },
}

/// A collection's sync token (RFC 6578 3.2): its UIDVALIDITY, so a
/// folder deleted and created again under the name never accepts an old
/// token, and its HIGHESTMODSEQ.
pub(super) fn sync_token(folder: &FolderInfo) -> String {
    format!("urn:x-axigen:sync:{}-{}", folder.uid_validity, folder.highest_modseq.0)
}

/// The MODSEQ a token stands for, if it is one of this folder's.
pub(super) fn parse_sync_token(folder: &FolderInfo, token: &str) -> Option<u64> {
    let (validity, modseq) = token.trim().strip_prefix("urn:x-axigen:sync:")?.split_once('-')?;
    let modseq: u64 = modseq.parse().ok()?;
    (validity.parse::<u32>().ok()? == folder.uid_validity && modseq <= folder.highest_modseq.0).then_some(modseq)
}

pub(super) fn content_type(space: Space, item: &ItemMeta) -> &'static str {
    match (space, item.index.kind) {
        (Space::AddressBooks, _) => "text/vcard; charset=utf-8",
        (_, axigen_core::groupware::ItemKind::Event) => "text/calendar; charset=utf-8; component=VEVENT",
        (_, axigen_core::groupware::ItemKind::Todo) => "text/calendar; charset=utf-8; component=VTODO",
        _ => "text/calendar; charset=utf-8; component=VJOURNAL",
    }
}

fn href(h: &str) -> String {
    format!("<D:href>{}</D:href>", escape(h))
}

fn components(kind: FolderKind) -> &'static [&'static str] {
    match kind {
        FolderKind::Calendar => &["VEVENT", "VTODO"],
        FolderKind::Tasks => &["VTODO"],
        FolderKind::Notes => &["VJOURNAL"],
        _ => &[],
    }
}

/// `current-user-privilege-set` (RFC 3744 5.4) from RFC 4314 rights.
fn privileges(rights: Rights) -> String {
    let mut out = String::new();
    let mut add = |ns: &str, name: &str| {
        let _ = write!(out, "<D:privilege>");
        xml::element(&mut out, ns, name, None);
        let _ = write!(out, "</D:privilege>");
    };
    if rights == Rights::ALL {
        add(DAV, "all");
    }
    if rights.contains(Rights::READ) {
        add(DAV, "read");
        add(DAV, "read-current-user-privilege-set");
        add(CALDAV, "read-free-busy");
    }
    if rights.contains(Rights::INSERT) {
        add(DAV, "write-content");
        add(DAV, "bind");
    }
    if rights.contains(Rights::DELETE_MESSAGES) {
        add(DAV, "unbind");
    }
    if rights.contains(Rights::WRITE) {
        add(DAV, "write-properties");
    }
    if rights.contains(Rights::INSERT) && rights.contains(Rights::DELETE_MESSAGES) && rights.contains(Rights::WRITE) {
        add(DAV, "write");
    }
    out
}

impl Dav {
    /// One live or stored property of a resource, as the XML inside its
    /// element; `None` when the resource has no such property.
    pub(super) fn property(
        &self,
        me: &Owner,
        quota: Option<(u64, u64)>,
        res: &Res<'_>,
        ns: &str,
        name: &str,
    ) -> Option<String> {
        let me_href = || href(&self.principal_href(me));
        Some(match (ns, name, res) {
            (DAV, "resourcetype", Res::Root | Res::Principals | Res::Home(..)) => "<D:collection/>".into(),
            (DAV, "resourcetype", Res::Principal(_)) => "<D:principal/>".into(),
            (DAV, "resourcetype", Res::Collection { space: Space::Calendars, .. }) => {
                "<D:collection/><C:calendar/>".into()
            }
            (DAV, "resourcetype", Res::Collection { space: Space::AddressBooks, .. }) => {
                "<D:collection/><CR:addressbook/>".into()
            }
            (DAV, "resourcetype", Res::Item { .. }) => String::new(),
            (DAV, "current-user-principal", _) => me_href(),
            (DAV, "principal-collection-set", _) => href(&format!("{}principals/", self.href_root())),
            (DAV, "principal-URL", Res::Principal(o)) => href(&self.principal_href(o)),
            (DAV, "owner", Res::Home(_, o) | Res::Collection { owner: o, .. } | Res::Item { owner: o, .. }) => {
                href(&self.principal_href(o))
            }
            (DAV, "displayname", Res::Principal(o)) => {
                escape(if o.display_name.is_empty() { o.address.local.as_str() } else { &o.display_name })
            }
            (DAV, "displayname", Res::Home(Space::Calendars, _)) => "Calendars".into(),
            (DAV, "displayname", Res::Home(Space::AddressBooks, _)) => "Address books".into(),
            (DAV, "displayname", Res::Collection { folder, stored, owner, .. }) => {
                let name = match stored.iter().find(|(k, _)| k == "{DAV:}displayname") {
                    Some((_, v)) => v.as_str(),
                    None => folder.name.rsplit('/').next().unwrap_or(&folder.name),
                };
                match owner.mounted_in {
                    Some(_) => escape(&format!("{name} ({})", owner.address)),
                    None => escape(name),
                }
            }
            (CALDAV, "calendar-home-set", Res::Principal(o)) => href(&self.home_href(Space::Calendars, o)),
            (CARDDAV, "addressbook-home-set", Res::Principal(o)) => href(&self.home_href(Space::AddressBooks, o)),
            (CALDAV, "calendar-user-address-set", Res::Principal(o)) => href(&format!("mailto:{}", o.address)),
            (DAV, "supported-report-set", Res::Collection { space, .. }) => {
                let reports: &[(&str, &str)] = match space {
                    Space::Calendars => &[
                        (CALDAV, "calendar-query"),
                        (CALDAV, "calendar-multiget"),
                        (CALDAV, "free-busy-query"),
                        (DAV, "sync-collection"),
                    ],
                    Space::AddressBooks => {
                        &[(CARDDAV, "addressbook-query"), (CARDDAV, "addressbook-multiget"), (DAV, "sync-collection")]
                    }
                };
                let mut out = String::new();
                for (ns, name) in reports {
                    out.push_str("<D:supported-report><D:report>");
                    xml::element(&mut out, ns, name, None);
                    out.push_str("</D:report></D:supported-report>");
                }
                out
            }
            (DAV, "current-user-privilege-set", Res::Collection { rights, .. }) => privileges(*rights),
            (DAV, "current-user-privilege-set", Res::Home(_, o) | Res::Principal(o)) => {
                privileges(if o.account == me.account { Rights::ALL } else { Rights::READ })
            }
            (DAV, "getetag", Res::Item { item, .. }) => escape(&item.etag()),
            (DAV, "getetag", Res::Collection { folder, .. }) => escape(&format!("\"{}\"", folder.highest_modseq.0)),
            (CALSERVER, "getctag", Res::Collection { folder, .. }) => folder.highest_modseq.0.to_string(),
            (DAV, "sync-token", Res::Collection { folder, .. }) => escape(&sync_token(folder)),
            (DAV, "getcontenttype", Res::Item { space, item, .. }) => content_type(*space, item).into(),
            (DAV, "getcontentlength", Res::Item { item, .. }) => item.size.to_string(),
            (DAV, "getlastmodified", Res::Item { item, .. }) => crate::http::http_date(item.modified),
            (CALDAV, "calendar-data", Res::Item { space: Space::Calendars, content: Some(c), .. }) => escape(c),
            (CARDDAV, "address-data", Res::Item { space: Space::AddressBooks, content: Some(c), .. }) => escape(c),
            (CALDAV, "supported-calendar-component-set", Res::Collection { space: Space::Calendars, folder, .. }) => {
                components(folder.kind).iter().map(|c| format!("<C:comp name=\"{c}\"/>")).collect()
            }
            (CALDAV, "supported-calendar-data", Res::Collection { space: Space::Calendars, .. }) => {
                "<C:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>".into()
            }
            (CARDDAV, "supported-address-data", Res::Collection { space: Space::AddressBooks, .. }) => {
                "<CR:address-data-type content-type=\"text/vcard\" version=\"3.0\"/>\
                 <CR:address-data-type content-type=\"text/vcard\" version=\"4.0\"/>"
                    .into()
            }
            (CALDAV, "max-resource-size", Res::Collection { space: Space::Calendars, .. })
            | (CARDDAV, "max-resource-size", Res::Collection { space: Space::AddressBooks, .. }) => {
                MAX_ITEM_BYTES.to_string()
            }
            (DAV, "quota-used-bytes", Res::Home(..) | Res::Collection { .. }) => quota?.0.to_string(),
            (DAV, "quota-available-bytes", Res::Home(..) | Res::Collection { .. }) => {
                let (used, limit) = quota?;
                if limit == 0 {
                    return None;
                }
                limit.saturating_sub(used).to_string()
            }
            (_, _, Res::Collection { stored, .. }) => {
                let key = format!("{{{ns}}}{name}");
                escape(&stored.iter().find(|(k, _)| *k == key)?.1)
            }
            _ => return None,
        })
    }

    /// The names a resource has (for `propname` and `allprop`).
    fn property_names(res: &Res<'_>) -> Vec<Name> {
        let mut names: Vec<(&str, &str)> = vec![(DAV, "resourcetype"), (DAV, "current-user-principal")];
        match res {
            Res::Principal(_) => names.extend([
                (DAV, "displayname"),
                (DAV, "principal-URL"),
                (CALDAV, "calendar-home-set"),
                (CARDDAV, "addressbook-home-set"),
                (CALDAV, "calendar-user-address-set"),
            ]),
            Res::Home(..) => names.extend([(DAV, "displayname"), (DAV, "owner")]),
            Res::Collection { space, stored, .. } => {
                names.extend([
                    (DAV, "displayname"),
                    (DAV, "owner"),
                    (DAV, "getetag"),
                    (CALSERVER, "getctag"),
                    (DAV, "sync-token"),
                    (DAV, "supported-report-set"),
                    (DAV, "current-user-privilege-set"),
                ]);
                match space {
                    Space::Calendars => names.extend([
                        (CALDAV, "supported-calendar-component-set"),
                        (CALDAV, "supported-calendar-data"),
                        (CALDAV, "max-resource-size"),
                    ]),
                    Space::AddressBooks => {
                        names.extend([(CARDDAV, "supported-address-data"), (CARDDAV, "max-resource-size")])
                    }
                }
                let mut out: Vec<Name> = names.iter().map(|(n, l)| (n.to_string(), l.to_string())).collect();
                for (key, _) in stored.iter() {
                    if let Some((ns, local)) = key.strip_prefix('{').and_then(|k| k.split_once('}')) {
                        let name = (ns.to_owned(), local.to_owned());
                        if !out.contains(&name) {
                            out.push(name);
                        }
                    }
                }
                return out;
            }
            Res::Item { .. } => names.extend([
                (DAV, "getetag"),
                (DAV, "getcontenttype"),
                (DAV, "getcontentlength"),
                (DAV, "getlastmodified"),
                (DAV, "owner"),
            ]),
            Res::Root | Res::Principals => {}
        }
        names.iter().map(|(n, l)| (n.to_string(), l.to_string())).collect()
    }

    /// One `<D:response>` for a resource: found properties under 200,
    /// missing ones under 404.
    pub(super) fn response(
        &self,
        out: &mut String,
        me: &Owner,
        quota: Option<(u64, u64)>,
        href_text: &str,
        res: &Res<'_>,
        wanted: &Wanted,
    ) {
        let _ = write!(out, "<D:response>{}", href(href_text));
        let (mut found, mut missing) = (String::new(), String::new());
        match wanted {
            Wanted::Names => {
                for (ns, name) in Self::property_names(res) {
                    xml::element(&mut found, &ns, &name, None);
                }
            }
            Wanted::All(include) => {
                let mut names: Vec<Name> = ALLPROP.iter().map(|(n, l)| (n.to_string(), l.to_string())).collect();
                if let Res::Collection { stored, .. } = res {
                    for (key, _) in stored.iter() {
                        if let Some((ns, local)) = key.strip_prefix('{').and_then(|k| k.split_once('}')) {
                            names.push((ns.to_owned(), local.to_owned()));
                        }
                    }
                }
                names.extend(include.iter().cloned());
                names.dedup();
                for (ns, name) in names {
                    if let Some(v) = self.property(me, quota, res, &ns, &name) {
                        xml::element(&mut found, &ns, &name, Some(&v));
                    }
                }
            }
            Wanted::Props(names) => {
                for (ns, name) in names {
                    match self.property(me, quota, res, ns, name) {
                        Some(v) => xml::element(&mut found, ns, name, Some(&v)),
                        None => xml::element(&mut missing, ns, name, None),
                    }
                }
            }
        }
        if !found.is_empty() || missing.is_empty() {
            let _ =
                write!(out, "<D:propstat><D:prop>{found}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>");
        }
        if !missing.is_empty() {
            let _ = write!(
                out,
                "<D:propstat><D:prop>{missing}</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>"
            );
        }
        out.push_str("</D:response>");
    }

    /// The account's bytes used and limit (0: none), for the quota properties.
    pub(super) async fn quota_figures(&self, owner: &Owner) -> Option<(u64, u64)> {
        let used = self.mail.quota_usage(owner.account).await.ok()?;
        let limit = self.quota(owner.account).await.ok()?;
        Some((used.bytes, limit.max_bytes))
    }

    pub(super) fn owner_of(&self, me: &Principal) -> Owner {
        Owner { account: me.account, address: me.address.clone(), display_name: String::new(), mounted_in: None }
    }

    /// The collections of a home that `me` may see, with their stored
    /// properties and `me`'s rights: the owner's folders of the tree's
    /// kind, and in `me`'s own home the folders others share with `me`.
    pub(super) async fn home_collections(
        &self,
        me: &Principal,
        space: Space,
        owner: &Owner,
    ) -> Result<Vec<(Owner, FolderInfo, Vec<(String, String)>, Rights)>, Answer> {
        let folders = self.mail.folders(owner.account).await.map_err(|e| self.failure(&e))?;
        let mut out = Vec::new();
        for folder in folders.into_iter().filter(|f| space.holds(f.kind)) {
            let rights = self.rights(me, owner, &folder).await?;
            if !rights.contains(Rights::LOOKUP) && !rights.contains(Rights::READ) {
                continue;
            }
            let stored =
                self.items.collection_properties(owner.account, folder.id).await.map_err(|e| self.failure(&e))?;
            out.push((owner.clone(), folder, stored, rights));
        }
        if owner.account != me.account {
            return Ok(out);
        }
        for shared in self.mail.shared_with(me.account).await.map_err(|e| self.failure(&e))? {
            if !shared.rights.contains(Rights::LOOKUP) && !shared.rights.contains(Rights::READ) {
                continue;
            }
            let Some(folder) = self.mail.folder(shared.owner, shared.folder).await.map_err(|e| self.failure(&e))?
            else {
                continue;
            };
            if !space.holds(folder.kind) {
                continue;
            }
            let Some(account) = self.directory.account(shared.owner).await.map_err(|e| self.failure(&e))? else {
                continue;
            };
            let sharer = Owner {
                account: account.id,
                address: account.address,
                display_name: account.display_name,
                mounted_in: Some(me.address.clone()),
            };
            let stored =
                self.items.collection_properties(sharer.account, folder.id).await.map_err(|e| self.failure(&e))?;
            out.push((sharer, folder, stored, shared.rights));
        }
        Ok(out)
    }

    pub(super) async fn propfind(&self, me: &Principal, req: &DavRequest, target: Target) -> Result<Answer, Answer> {
        let Some(depth) = depth(&req.headers, None) else {
            return Ok(condition(StatusCode::FORBIDDEN, DAV, "propfind-finite-depth", None));
        };
        let wanted = if req.body.iter().all(u8::is_ascii_whitespace) {
            Wanted::All(Vec::new())
        } else {
            let root = xml::parse(&req.body).map_err(|e| text(StatusCode::BAD_REQUEST, &e.to_string()))?;
            if !root.is(DAV, "propfind") {
                return Ok(text(StatusCode::BAD_REQUEST, "expected a DAV:propfind body"));
            }
            if let Some(prop) = root.child(DAV, "prop") {
                Wanted::Props(prop.children.iter().map(|c| (c.ns.clone(), c.name.clone())).collect())
            } else if root.child(DAV, "propname").is_some() {
                Wanted::Names
            } else if root.child(DAV, "allprop").is_some() {
                let include = root
                    .child(DAV, "include")
                    .map(|i| i.children.iter().map(|c| (c.ns.clone(), c.name.clone())).collect())
                    .unwrap_or_default();
                Wanted::All(include)
            } else {
                return Ok(text(StatusCode::BAD_REQUEST, "a propfind needs prop, propname or allprop"));
            }
        };
        let wants_data = matches!(&wanted, Wanted::Props(p) if p.iter().any(|(ns, n)|
            (ns == CALDAV && n == "calendar-data") || (ns == CARDDAV && n == "address-data")));
        let me_owner = self.owner_of(me);
        let mut out = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus{}>", xml::ROOT_NAMESPACES);
        match &target {
            Target::Root => {
                self.response(&mut out, &me_owner, None, self.href_root(), &Res::Root, &wanted);
                if depth == 1 {
                    let principals = format!("{}principals/", self.href_root());
                    self.response(&mut out, &me_owner, None, &principals, &Res::Principals, &wanted);
                }
            }
            Target::Principals => {
                let principals = format!("{}principals/", self.href_root());
                self.response(&mut out, &me_owner, None, &principals, &Res::Principals, &wanted);
                if depth == 1 {
                    let h = self.principal_href(&me_owner);
                    self.response(&mut out, &me_owner, None, &h, &Res::Principal(&me_owner), &wanted);
                }
            }
            Target::Principal(owner) => {
                // The directory is the domain's: accounts of other hosted
                // domains are not there to look at.
                if owner.address.domain != me.address.domain {
                    return Ok(empty(StatusCode::NOT_FOUND));
                }
                self.response(&mut out, &me_owner, None, &self.principal_href(owner), &Res::Principal(owner), &wanted);
            }
            Target::Home(space, owner) => {
                if owner.account != me.account && self.home_collections(me, *space, owner).await?.is_empty() {
                    return Ok(empty(StatusCode::NOT_FOUND));
                }
                let quota = self.quota_figures(owner).await;
                let home = self.home_href(*space, owner);
                self.response(&mut out, &me_owner, quota, &home, &Res::Home(*space, owner), &wanted);
                if depth == 1 {
                    for (owner, folder, stored, rights) in self.home_collections(me, *space, owner).await? {
                        let res =
                            Res::Collection { space: *space, owner: &owner, folder: &folder, stored: &stored, rights };
                        let h = self.collection_href(*space, &owner, &folder.name);
                        self.response(&mut out, &me_owner, quota, &h, &res, &wanted);
                    }
                }
            }
            Target::Collection(space, owner, folder) => {
                let rights = self.rights(me, owner, folder).await?;
                if !rights.contains(Rights::LOOKUP) && !rights.contains(Rights::READ) {
                    return Ok(empty(StatusCode::NOT_FOUND));
                }
                let stored =
                    self.items.collection_properties(owner.account, folder.id).await.map_err(|e| self.failure(&e))?;
                let quota = self.quota_figures(owner).await;
                let res = Res::Collection { space: *space, owner, folder, stored: &stored, rights };
                let h = self.collection_href(*space, owner, &folder.name);
                self.response(&mut out, &me_owner, quota, &h, &res, &wanted);
                if depth == 1 {
                    self.require(rights, Rights::READ, "read")?;
                    let items = self.items.items(owner.account, folder.id).await.map_err(|e| self.failure(&e))?;
                    for item in &items {
                        let content = if wants_data { Some(self.text_of(item).await?) } else { None };
                        let res = Res::Item { space: *space, owner, item, content: content.as_deref() };
                        let h = self.item_href(*space, owner, &folder.name, &item.name);
                        self.response(&mut out, &me_owner, None, &h, &res, &wanted);
                    }
                }
            }
            Target::Item(space, owner, folder, name) => {
                let rights = self.rights(me, owner, folder).await?;
                self.require(rights, Rights::READ, "read")?;
                let item = self
                    .items
                    .item_by_name(owner.account, folder.id, name)
                    .await
                    .map_err(|e| self.failure(&e))?
                    .ok_or_else(|| empty(StatusCode::NOT_FOUND))?;
                let content = if wants_data { Some(self.text_of(&item).await?) } else { None };
                let res = Res::Item { space: *space, owner, item: &item, content: content.as_deref() };
                let h = self.item_href(*space, owner, &folder.name, name);
                self.response(&mut out, &me_owner, None, &h, &res, &wanted);
            }
            Target::NoCollection(..) => return Ok(empty(StatusCode::NOT_FOUND)),
        }
        out.push_str("</D:multistatus>");
        let mut r = xml_answer(StatusCode::MULTI_STATUS, out);
        r.headers_mut().insert("dav", HeaderValue::from_static("1, 3, calendar-access, addressbook"));
        Ok(r)
    }

    pub(super) async fn proppatch(&self, me: &Principal, req: &DavRequest, target: Target) -> Result<Answer, Answer> {
        let root = xml::parse(&req.body).map_err(|e| text(StatusCode::BAD_REQUEST, &e.to_string()))?;
        if !root.is(DAV, "propertyupdate") {
            return Ok(text(StatusCode::BAD_REQUEST, "expected a DAV:propertyupdate body"));
        }
        let (space, owner, folder) = match &target {
            Target::Collection(space, owner, folder) => (*space, owner, folder),
            Target::NoCollection(..) => return Ok(empty(StatusCode::NOT_FOUND)),
            _ => return Ok(text(StatusCode::FORBIDDEN, "only collections have writable properties")),
        };
        let rights = self.rights(me, owner, folder).await?;
        self.require(rights, Rights::WRITE, "write-properties")?;
        // Instructions in document order; the last one for a property wins.
        let mut changes: Vec<(String, Option<String>)> = Vec::new();
        let mut names: Vec<(Name, bool)> = Vec::new();
        for instruction in &root.children {
            let remove = instruction.is(DAV, "remove");
            if !remove && !instruction.is(DAV, "set") {
                continue;
            }
            for prop in instruction.children_named(DAV, "prop").flat_map(|p| &p.children) {
                let ok = match dead_property(prop) {
                    Some((key, value)) => {
                        changes.push((key, (!remove).then_some(value)));
                        true
                    }
                    None => false,
                };
                names.push(((prop.ns.clone(), prop.name.clone()), ok));
            }
        }
        let failed = names.iter().any(|(_, ok)| !ok);
        if !failed && !changes.is_empty() {
            self.items
                .set_collection_properties(owner.account, folder.id, changes)
                .await
                .map_err(|e| self.failure(&e))?;
        }
        let mut out = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus{}>", xml::ROOT_NAMESPACES);
        let _ = write!(out, "<D:response>{}", href(&self.collection_href(space, owner, &folder.name)));
        let mut by_status: HashMap<&str, String> = HashMap::new();
        for ((ns, name), ok) in &names {
            let status = match (ok, failed) {
                (true, false) => "HTTP/1.1 200 OK",
                (true, true) => "HTTP/1.1 424 Failed Dependency",
                (false, _) => "HTTP/1.1 403 Forbidden",
            };
            xml::element(by_status.entry(status).or_default(), ns, name, None);
        }
        for (status, props) in by_status {
            let _ = write!(out, "<D:propstat><D:prop>{props}</D:prop><D:status>{status}</D:status>");
            if status.contains("403") {
                out.push_str("<D:error><D:cannot-modify-protected-property/></D:error>");
            }
            out.push_str("</D:propstat>");
        }
        out.push_str("</D:response></D:multistatus>");
        Ok(xml_answer(StatusCode::MULTI_STATUS, out))
    }
}
