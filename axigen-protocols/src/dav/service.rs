//! The CalDAV/CardDAV endpoint: authentication, the URL space, and the
//! WebDAV methods. REPORTs are in the `report` module.
//!
//! URL space (under [`DavConfig::prefix`], `/dav/` by default):
//!
//! | path | resource |
//! |---|---|
//! | `/dav/` | the service root (answers `current-user-principal`) |
//! | `/dav/principals/<address>/` | an account's principal |
//! | `/dav/calendars/<address>/` | its calendar home: calendar, task and notes folders |
//! | `/dav/calendars/<address>/<folder>/<name>` | an event, task or journal entry |
//! | `/dav/addressbooks/<address>/` | its address book home: contacts folders |
//! | `/dav/addressbooks/<address>/<folder>/<name>` | a contact |
//!
//! A folder's segment is its name, percent-encoded (a `/` of a nested
//! folder as `%2F`). What a client creates with MKCALENDAR or extended
//! MKCOL is a folder like any other, and every folder of the right kind
//! appears, the default Calendar, Tasks, Notes and Contacts among them.
//!
//! Access: the owner has every right; another account has what the
//! folder's access list (the one IMAP's SETACL writes, RFC 4314) gives it,
//! mapped as Cyrus does: `r` read, `i` write content (PUT) and bind,
//! `t` unbind (DELETE of an item), `w` write collection properties,
//! `x` delete the collection, `l` see it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axigen_core::acl::Rights;
use axigen_core::directory::Directory;
use axigen_core::groupware::{ItemError, MAX_ITEM_BYTES};
use axigen_core::itemstore::{ItemMeta, ItemRemoval, ItemStore, ItemWrite, NewItem, Precondition, validate_item_name};
use axigen_core::login_throttle::{LoginError, LoginThrottle};
use axigen_core::mailstore::{FolderInfo, FolderKind, MailStore, QuotaLimit};
use axigen_core::model::{AccountId, Address, Principal};
use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use tracing::{info, warn};

use super::xml::{self, APPLE, CALDAV, CARDDAV, DAV, Element, escape};

/// Settings of the endpoint.
#[derive(Debug, Clone)]
pub struct DavConfig {
    /// Where the DAV space starts: `/dav/`.
    pub prefix: String,
    /// Serve authenticated requests over plain HTTP (default false: `403`).
    pub allow_plaintext: bool,
    /// Largest request body, in bytes (items are bounded by
    /// [`MAX_ITEM_BYTES`] within it).
    pub max_request_bytes: usize,
    /// The server's name, in the Message-IDs of invitations it sends.
    pub hostname: String,
}

impl Default for DavConfig {
    fn default() -> Self {
        DavConfig {
            prefix: "/dav/".into(),
            allow_plaintext: false,
            max_request_bytes: MAX_ITEM_BYTES + (64 << 10),
            hostname: "localhost".into(),
        }
    }
}

/// One HTTP request, its body read whole.
#[derive(Debug)]
pub struct DavRequest {
    /// The method (WebDAV's own methods included).
    pub method: Method,
    /// The path, percent-encoded as sent, without the query.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether the connection is encrypted.
    pub tls: bool,
}

/// The CalDAV/CardDAV service.
pub struct Dav {
    pub(super) config: DavConfig,
    pub(super) directory: Arc<dyn Directory>,
    pub(super) mail: Arc<dyn MailStore>,
    pub(super) items: Arc<dyn ItemStore>,
    throttle: Arc<LoginThrottle>,
    /// Where invitations go (iMIP); none: events are stored, nobody is told.
    pub(super) submission: Option<Arc<dyn crate::smtp::SmtpBackend>>,
}

/// The two trees of collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Space {
    Calendars,
    AddressBooks,
}

impl Space {
    fn segment(self) -> &'static str {
        match self {
            Space::Calendars => "calendars",
            Space::AddressBooks => "addressbooks",
        }
    }

    /// Whether folders of this kind appear in this tree.
    pub(super) fn holds(self, kind: FolderKind) -> bool {
        match self {
            Space::Calendars => matches!(kind, FolderKind::Calendar | FolderKind::Tasks | FolderKind::Notes),
            Space::AddressBooks => kind == FolderKind::Contacts,
        }
    }
}

/// The account a path belongs to.
#[derive(Debug, Clone)]
pub(super) struct Owner {
    pub account: AccountId,
    pub address: Address,
    pub display_name: String,
    /// For a folder shared with the requester: the requester's address,
    /// whose home shows the folder as `<owner>*<folder>` (a `*` is never
    /// in a folder name).
    pub mounted_in: Option<Address>,
}

/// What a path names.
#[derive(Debug, Clone)]
pub(super) enum Target {
    Root,
    Principals,
    Principal(Owner),
    Home(Space, Owner),
    /// A folder of the tree's kind.
    Collection(Space, Owner, FolderInfo),
    /// A name in the tree that no folder of its kind has.
    NoCollection(Space, Owner, String),
    /// A name inside a collection (the item may not exist).
    Item(Space, Owner, FolderInfo, String),
}

/// Why a request ended early: the response to send.
pub(super) type Answer = Response<Bytes>;

pub(super) fn respond(status: StatusCode, content_type: Option<&'static str>, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Some(ct) = content_type {
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    r
}

pub(super) fn empty(status: StatusCode) -> Answer {
    respond(status, None, Bytes::new())
}

pub(super) fn text(status: StatusCode, message: &str) -> Answer {
    respond(status, Some("text/plain; charset=utf-8"), format!("{message}\n"))
}

pub(super) fn xml_answer(status: StatusCode, body: String) -> Answer {
    respond(status, Some("application/xml; charset=utf-8"), body)
}

/// A refused precondition: the status with `<D:error>` naming it.
pub(super) fn condition(status: StatusCode, ns: &str, name: &str, detail: Option<&str>) -> Answer {
    xml_answer(status, xml::error_body(ns, name, detail))
}

/// Percent-encodes one path segment (unreserved characters and `@` stay).
pub(super) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@+".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes one percent-encoded segment; `None` when it is not UTF-8 or a
/// `%` is not followed by two hex digits.
pub(super) fn decode_segment(s: &str) -> Option<String> {
    String::from_utf8(crate::http::percent_decode(s)?).ok()
}

/// An `If-Match` / `If-None-Match` list: `*` or quoted tags.
fn tag_list(headers: &HeaderMap, name: header::HeaderName) -> Option<Vec<String>> {
    let mut tags = Vec::new();
    for value in headers.get_all(name) {
        let value = value.to_str().ok()?;
        tags.extend(value.split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()));
    }
    (!tags.is_empty()).then_some(tags)
}

/// The write conditions of a request (RFC 9110 13.1.1, 13.1.2).
pub(super) fn precondition(headers: &HeaderMap) -> Precondition {
    Precondition {
        if_match: tag_list(headers, header::IF_MATCH),
        if_none_match: tag_list(headers, header::IF_NONE_MATCH).is_some_and(|t| t.iter().any(|t| t == "*")),
    }
}

/// `If-None-Match` with tags (not `*`) on a read: whether the item's tag
/// is among them (answer 304).
fn not_modified(headers: &HeaderMap, item: &ItemMeta) -> bool {
    tag_list(headers, header::IF_NONE_MATCH).is_some_and(|tags| tags.iter().any(|t| *t == item.etag() || t == "*"))
}

/// `Depth` (RFC 4918 10.2): 0, 1, or `None` for infinity.
pub(super) fn depth(headers: &HeaderMap, default: Option<u8>) -> Option<u8> {
    match headers.get("depth").and_then(|v| v.to_str().ok()).map(str::trim) {
        Some("0") => Some(0),
        Some("1") => Some(1),
        Some(_) => None,
        None => default,
    }
}

impl Dav {
    /// A service over a directory and a store.
    pub fn new(
        config: DavConfig,
        directory: Arc<dyn Directory>,
        mail: Arc<dyn MailStore>,
        items: Arc<dyn ItemStore>,
        throttle: Arc<LoginThrottle>,
    ) -> Dav {
        Dav { config, directory, mail, items, throttle, submission: None }
    }

    /// Sends iTIP invitations and cancellations for events their organizer
    /// writes (iMIP, RFC 6047) through this submission path.
    pub fn with_submission(mut self, submission: Arc<dyn crate::smtp::SmtpBackend>) -> Dav {
        self.submission = Some(submission);
        self
    }

    /// The settings.
    pub fn config(&self) -> &DavConfig {
        &self.config
    }

    /// Whether a path is this service's: the DAV space or the
    /// `/.well-known/caldav` and `/.well-known/carddav` entry points.
    pub fn serves(&self, path: &str) -> bool {
        let root = self.config.prefix.trim_end_matches('/');
        path == root
            || path.starts_with(&self.config.prefix)
            || path == "/.well-known/caldav"
            || path == "/.well-known/carddav"
            || path == "/.well-known/caldav/"
            || path == "/.well-known/carddav/"
    }

    pub(super) fn href_root(&self) -> &str {
        &self.config.prefix
    }

    pub(super) fn principal_href(&self, owner: &Owner) -> String {
        format!("{}principals/{}/", self.config.prefix, encode_segment(&owner.address.to_string()))
    }

    pub(super) fn home_href(&self, space: Space, owner: &Owner) -> String {
        format!("{}{}/{}/", self.config.prefix, space.segment(), encode_segment(&owner.address.to_string()))
    }

    pub(super) fn collection_href(&self, space: Space, owner: &Owner, folder: &str) -> String {
        match &owner.mounted_in {
            None => format!("{}{}/", self.home_href(space, owner), encode_segment(folder)),
            Some(viewer) => format!(
                "{}{}/{}/{}/",
                self.config.prefix,
                space.segment(),
                encode_segment(&viewer.to_string()),
                encode_segment(&format!("{}*{folder}", owner.address))
            ),
        }
    }

    pub(super) fn item_href(&self, space: Space, owner: &Owner, folder: &str, name: &str) -> String {
        format!("{}{}", self.collection_href(space, owner, folder), encode_segment(name))
    }

    /// Answers one request.
    pub async fn handle(&self, req: DavRequest) -> Answer {
        let path = req.path.clone();
        if path.starts_with("/.well-known/") {
            // RFC 6764 5: the context path. A redirect that keeps the
            // method and body (308) for PROPFIND; 301 for plain reads.
            let status = if matches!(req.method, Method::GET | Method::HEAD) {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::PERMANENT_REDIRECT
            };
            let mut r = empty(status);
            if let Ok(v) = HeaderValue::from_str(&self.config.prefix) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        if req.method == Method::OPTIONS {
            return self.options();
        }
        if !req.tls && !self.config.allow_plaintext {
            return text(StatusCode::FORBIDDEN, "CalDAV and CardDAV need HTTPS");
        }
        let principal = match self.authenticate(&req).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        match self.directory.effective_settings(principal.account).await {
            Ok(s) if s.dav_enabled.value => {}
            Ok(s) => {
                info!(peer = %req.peer, account = %principal.account, source = %s.dav_enabled.source, "dav access refused: service.dav is off");
                return text(StatusCode::FORBIDDEN, "CalDAV and CardDAV are not enabled for this account");
            }
            Err(e) => {
                warn!(error = %e, "cannot resolve an account's settings");
                return empty(StatusCode::SERVICE_UNAVAILABLE);
            }
        }
        let started = std::time::Instant::now();
        let method = req.method.clone();
        let answer = match self.dispatch(&principal, req).await {
            Ok(a) | Err(a) => a,
        };
        tracing::debug!(account = %principal.account, %method, %path, status = answer.status().as_u16(),
            micros = started.elapsed().as_micros() as u64, "dav request");
        answer
    }

    fn options(&self) -> Answer {
        let mut r = empty(StatusCode::OK);
        let h = r.headers_mut();
        h.insert(
            "dav",
            HeaderValue::from_static(
                "1, 3, access-control, calendar-access, addressbook, extended-mkcol, sync-collection",
            ),
        );
        h.insert(
            header::ALLOW,
            HeaderValue::from_static(
                "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, MOVE, COPY, REPORT",
            ),
        );
        r
    }

    async fn authenticate(&self, req: &DavRequest) -> Result<Principal, Answer> {
        let challenge = || {
            let mut r = text(StatusCode::UNAUTHORIZED, "authentication required");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"axigen\", charset=\"UTF-8\""),
            );
            r
        };
        let Some((user, password)) = crate::http::basic_credentials(&req.headers) else { return Err(challenge()) };
        let (user, password) = (user.as_str(), password.as_str());
        match self.throttle.authenticate(self.directory.as_ref(), req.peer.ip(), user, password).await {
            Ok(p) => Ok(p),
            Err(LoginError::Refused(reason)) => {
                warn!(peer = %req.peer, user = %user, %reason, "dav login refused by the login throttle");
                Err(text(StatusCode::TOO_MANY_REQUESTS, &format!("{reason}; try again later")))
            }
            Err(LoginError::InvalidCredentials) => {
                info!(peer = %req.peer, user = %user, "dav authentication failed");
                Err(challenge())
            }
            Err(LoginError::Unavailable(err)) => {
                warn!(peer = %req.peer, error = %err, "directory unavailable");
                Err(empty(StatusCode::SERVICE_UNAVAILABLE))
            }
        }
    }

    async fn owner(&self, segment: &str) -> Result<Option<Owner>, Answer> {
        let Ok(address) = Address::parse(segment) else { return Ok(None) };
        let account = self.directory.account_by_address(&address).await.map_err(|e| self.failure(&e))?;
        Ok(account.map(|a| Owner { account: a.id, address: a.address, display_name: a.display_name, mounted_in: None }))
    }

    pub(super) fn failure(&self, e: &axigen_core::Error) -> Answer {
        use axigen_core::Error as E;
        match e {
            E::OverQuota(_) => condition(StatusCode::INSUFFICIENT_STORAGE, DAV, "quota-not-exceeded", None),
            E::NoSpace(_) => condition(StatusCode::INSUFFICIENT_STORAGE, DAV, "sufficient-disk-space", None),
            E::Invalid(m) => text(StatusCode::FORBIDDEN, m),
            E::NotFound(_) => empty(StatusCode::NOT_FOUND),
            E::AlreadyExists(_) => empty(StatusCode::METHOD_NOT_ALLOWED),
            E::Conflict(m) => text(StatusCode::CONFLICT, m),
            other => {
                warn!(error = %other, "dav request failed in the store");
                empty(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }

    /// Resolves a request path (percent-encoded, under the prefix).
    pub(super) async fn target(&self, path: &str) -> Result<Target, Answer> {
        let root = self.config.prefix.trim_end_matches('/');
        let rest = path.strip_prefix(root).ok_or_else(|| empty(StatusCode::NOT_FOUND))?;
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode_segment)
            .collect::<Option<_>>()
            .ok_or_else(|| text(StatusCode::BAD_REQUEST, "malformed percent-encoding in the path"))?;
        let not_found = || empty(StatusCode::NOT_FOUND);
        let space = match segments.first().map(String::as_str) {
            None => return Ok(Target::Root),
            Some("principals") => None,
            Some("calendars") => Some(Space::Calendars),
            Some("addressbooks") => Some(Space::AddressBooks),
            Some(_) => return Err(not_found()),
        };
        let Some(owner_segment) = segments.get(1) else {
            return match space {
                None => Ok(Target::Principals),
                Some(_) => Err(not_found()),
            };
        };
        let owner = self.owner(owner_segment).await?.ok_or_else(not_found)?;
        let Some(space) = space else {
            return if segments.len() == 2 { Ok(Target::Principal(owner)) } else { Err(not_found()) };
        };
        let Some(folder_name) = segments.get(2) else { return Ok(Target::Home(space, owner)) };
        // A folder shared with the home's account, shown in its home.
        let (owner, folder_name) = match folder_name.split_once('*') {
            Some((shared_by, name)) => {
                let mut sharer = self.owner(shared_by).await?.ok_or_else(not_found)?;
                sharer.mounted_in = Some(owner.address);
                (sharer, &name.to_owned())
            }
            None => (owner, folder_name),
        };
        let folder = self
            .mail
            .folder_by_name(owner.account, folder_name)
            .await
            .map_err(|e| self.failure(&e))?
            .filter(|f| space.holds(f.kind));
        match (folder, segments.get(3), segments.len()) {
            (None, None, 3) => Ok(Target::NoCollection(space, owner, folder_name.clone())),
            (Some(folder), None, 3) => Ok(Target::Collection(space, owner, folder)),
            (Some(folder), Some(name), 4) => Ok(Target::Item(space, owner, folder, name.clone())),
            (None, Some(_), 4) => Err(empty(StatusCode::CONFLICT)),
            _ => Err(not_found()),
        }
    }

    /// The rights of `me` on an owner's folder (every right for the owner).
    pub(super) async fn rights(&self, me: &Principal, owner: &Owner, folder: &FolderInfo) -> Result<Rights, Answer> {
        if me.account == owner.account {
            return Ok(Rights::ALL);
        }
        self.mail.rights(me.account, owner.account, folder.id).await.map_err(|e| self.failure(&e))
    }

    /// Refuses unless `rights` has `needed`: 404 when the folder is not
    /// even visible, else 403 naming the DAV privilege.
    pub(super) fn require(&self, rights: Rights, needed: Rights, privilege: &str) -> Result<(), Answer> {
        if rights.contains(needed) {
            return Ok(());
        }
        if !rights.contains(Rights::LOOKUP) && !rights.contains(Rights::READ) {
            return Err(empty(StatusCode::NOT_FOUND));
        }
        let detail = format!("<D:privilege><D:{privilege}/></D:privilege>");
        Err(condition(StatusCode::FORBIDDEN, DAV, "need-privileges", Some(&detail)))
    }

    pub(super) async fn quota(&self, account: AccountId) -> Result<QuotaLimit, Answer> {
        let s = self.directory.effective_settings(account).await.map_err(|e| self.failure(&e))?;
        Ok(QuotaLimit { max_bytes: s.quota_storage_bytes.value, max_messages: s.quota_messages.value })
    }

    async fn dispatch(&self, me: &Principal, req: DavRequest) -> Result<Answer, Answer> {
        let target = self.target(&req.path).await?;
        match req.method.as_str() {
            "PROPFIND" => self.propfind(me, &req, target).await,
            "PROPPATCH" => self.proppatch(me, &req, target).await,
            "REPORT" => self.report(me, &req, target).await,
            "GET" | "HEAD" => self.get(me, &req, target).await,
            "PUT" => self.put(me, &req, target).await,
            "DELETE" => self.delete(me, &req, target).await,
            "MKCALENDAR" | "MKCOL" => self.mkcol(me, &req, target).await,
            "MOVE" | "COPY" => self.move_or_copy(me, &req, target).await,
            _ => {
                let mut r = empty(StatusCode::METHOD_NOT_ALLOWED);
                r.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_static(
                        "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, MOVE, COPY, REPORT",
                    ),
                );
                Ok(r)
            }
        }
    }

    async fn get(&self, me: &Principal, req: &DavRequest, target: Target) -> Result<Answer, Answer> {
        let Target::Item(space, owner, folder, name) = target else {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "collections have no content to GET; use PROPFIND"));
        };
        let rights = self.rights(me, &owner, &folder).await?;
        self.require(rights, Rights::READ, "read")?;
        let item = self
            .items
            .item_by_name(owner.account, folder.id, &name)
            .await
            .map_err(|e| self.failure(&e))?
            .ok_or_else(|| empty(StatusCode::NOT_FOUND))?;
        let mut r = if not_modified(&req.headers, &item) {
            empty(StatusCode::NOT_MODIFIED)
        } else {
            let content = self.mail.content(item.blob).await.map_err(|e| self.failure(&e))?;
            let ct = match space {
                Space::Calendars => "text/calendar; charset=utf-8",
                Space::AddressBooks => "text/vcard; charset=utf-8",
            };
            respond(StatusCode::OK, Some(ct), content)
        };
        item_headers(&mut r, &item);
        Ok(r)
    }

    async fn put(&self, me: &Principal, req: &DavRequest, target: Target) -> Result<Answer, Answer> {
        let (space, owner, folder, name) = match target {
            Target::Item(space, owner, folder, name) => (space, owner, folder, name),
            Target::Collection(..) | Target::Home(..) | Target::Root | Target::Principals | Target::Principal(_) => {
                return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "PUT stores items inside a collection"));
            }
            Target::NoCollection(..) => return Ok(empty(StatusCode::CONFLICT)),
        };
        if validate_item_name(&name).is_err() {
            return Ok(text(StatusCode::FORBIDDEN, "not an acceptable resource name"));
        }
        let rights = self.rights(me, &owner, &folder).await?;
        self.require(rights, Rights::INSERT, "write-content")?;
        let ns = match space {
            Space::Calendars => CALDAV,
            Space::AddressBooks => CARDDAV,
        };
        if req.body.len() > MAX_ITEM_BYTES {
            return Ok(condition(StatusCode::FORBIDDEN, ns, "max-resource-size", None));
        }
        let item = match NewItem::parse(req.body.clone(), folder.kind) {
            Ok(item) => item,
            Err(e) => {
                info!(peer = %req.peer, path = %req.path, error = %e, "dav PUT refused: not a valid item");
                let name = match (space, &e) {
                    (Space::Calendars, ItemError::WrongKind) => "supported-calendar-component",
                    (Space::Calendars, _) => "valid-calendar-data",
                    (Space::AddressBooks, _) => "valid-address-data",
                };
                let detail = escape(&e.to_string());
                let mut body = xml::error_body(ns, name, None);
                body.push_str(&format!("<!-- {} -->", detail.replace("--", "- -")));
                return Ok(xml_answer(StatusCode::FORBIDDEN, body));
            }
        };
        let quota = self.quota(owner.account).await?;
        // The organizer's own events schedule (iMIP): what they were.
        let schedules = space == Space::Calendars
            && me.account == owner.account
            && self.submission.is_some()
            && req.body.windows(9).any(|w| w.eq_ignore_ascii_case(b"ORGANIZER"));
        let before = if schedules { self.item_text(&owner, &folder, &name).await? } else { None };
        let outcome = self
            .items
            .put_item(owner.account, folder.id, &name, item, precondition(&req.headers), quota)
            .await
            .map_err(|e| self.failure(&e))?;
        if schedules && matches!(outcome, ItemWrite::Created(_) | ItemWrite::Replaced(_)) {
            self.schedule(me, before.as_deref(), Some(&String::from_utf8_lossy(&req.body))).await;
        }
        Ok(match outcome {
            ItemWrite::Created(meta) => {
                let mut r = empty(StatusCode::CREATED);
                item_headers(&mut r, &meta);
                r
            }
            ItemWrite::Replaced(meta) => {
                let mut r = empty(StatusCode::NO_CONTENT);
                item_headers(&mut r, &meta);
                r
            }
            ItemWrite::PreconditionFailed => empty(StatusCode::PRECONDITION_FAILED),
            ItemWrite::UidConflict(other) => {
                let href = format!("<D:href>{}</D:href>", escape(&self.item_href(space, &owner, &folder.name, &other)));
                condition(StatusCode::FORBIDDEN, ns, "no-uid-conflict", Some(&href))
            }
        })
    }

    async fn delete(&self, me: &Principal, req: &DavRequest, target: Target) -> Result<Answer, Answer> {
        match target {
            Target::Item(space, owner, folder, name) => {
                let rights = self.rights(me, &owner, &folder).await?;
                self.require(rights, Rights::DELETE_MESSAGES, "unbind")?;
                let schedules = space == Space::Calendars && me.account == owner.account && self.submission.is_some();
                let before = if schedules { self.item_text(&owner, &folder, &name).await? } else { None };
                let removal = self
                    .items
                    .remove_item(owner.account, folder.id, &name, precondition(&req.headers))
                    .await
                    .map_err(|e| self.failure(&e))?;
                if let (ItemRemoval::Removed(_), Some(before)) = (&removal, &before) {
                    self.schedule(me, Some(before), None).await;
                }
                Ok(match removal {
                    ItemRemoval::Removed(_) => empty(StatusCode::NO_CONTENT),
                    ItemRemoval::NotFound => empty(StatusCode::NOT_FOUND),
                    ItemRemoval::PreconditionFailed => empty(StatusCode::PRECONDITION_FAILED),
                })
            }
            Target::Collection(_, owner, folder) => {
                let rights = self.rights(me, &owner, &folder).await?;
                self.require(rights, Rights::DELETE_FOLDER, "unbind")?;
                if precondition(&req.headers).if_match.is_some() {
                    return Ok(empty(StatusCode::PRECONDITION_FAILED));
                }
                self.mail.delete_folder(owner.account, folder.id).await.map_err(|e| self.failure(&e))?;
                info!(account = %owner.account, folder = %folder.name, "dav collection deleted");
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Target::NoCollection(..) => Ok(empty(StatusCode::NOT_FOUND)),
            _ => Ok(text(StatusCode::FORBIDDEN, "this resource cannot be deleted")),
        }
    }

    /// An item's content as text.
    pub(super) async fn text_of(&self, item: &ItemMeta) -> Result<String, Answer> {
        let bytes = self.mail.content(item.blob).await.map_err(|e| self.failure(&e))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The content of the item stored under a name, if any.
    async fn item_text(&self, owner: &Owner, folder: &FolderInfo, name: &str) -> Result<Option<String>, Answer> {
        match self.items.item_by_name(owner.account, folder.id, name).await.map_err(|e| self.failure(&e))? {
            Some(item) => Ok(Some(self.text_of(&item).await?)),
            None => Ok(None),
        }
    }

    async fn mkcol(&self, me: &Principal, req: &DavRequest, target: Target) -> Result<Answer, Answer> {
        let (space, owner, name) = match target {
            Target::NoCollection(space, owner, name) => (space, owner, name),
            Target::Collection(..) => return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "the collection exists")),
            Target::Item(..) => return Ok(text(StatusCode::CONFLICT, "collections cannot be nested in a collection")),
            _ => return Ok(text(StatusCode::FORBIDDEN, "collections are created in a calendar or address book home")),
        };
        if me.account != owner.account {
            let detail = "<D:privilege><D:bind/></D:privilege>";
            return Ok(condition(StatusCode::FORBIDDEN, DAV, "need-privileges", Some(detail)));
        }
        let mkcalendar = req.method.as_str() == "MKCALENDAR";
        let body = if req.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(xml::parse(&req.body).map_err(|e| text(StatusCode::BAD_REQUEST, &e.to_string()))?)
        };
        let set: Vec<&Element> = match &body {
            None => Vec::new(),
            Some(root) if (mkcalendar && root.is(CALDAV, "mkcalendar")) || (!mkcalendar && root.is(DAV, "mkcol")) => {
                root.children_named(DAV, "set").filter_map(|s| s.child(DAV, "prop")).flat_map(|p| &p.children).collect()
            }
            Some(_) => return Ok(text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unexpected request body")),
        };
        let resourcetype = set.iter().find(|p| p.is(DAV, "resourcetype"));
        let is_calendar = mkcalendar || resourcetype.is_some_and(|r| r.child(CALDAV, "calendar").is_some());
        let is_addressbook = resourcetype.is_some_and(|r| r.child(CARDDAV, "addressbook").is_some());
        let kind = match (space, is_calendar, is_addressbook) {
            (Space::Calendars, true, false) => {
                let comps: Vec<String> = set
                    .iter()
                    .find(|p| p.is(CALDAV, "supported-calendar-component-set"))
                    .map(|s| {
                        s.children_named(CALDAV, "comp")
                            .filter_map(|c| c.attr("name"))
                            .map(str::to_ascii_uppercase)
                            .collect()
                    })
                    .unwrap_or_default();
                match comps.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                    [] => FolderKind::Calendar,
                    ["VTODO"] => FolderKind::Tasks,
                    ["VJOURNAL"] => FolderKind::Notes,
                    c if c.contains(&"VEVENT") && c.iter().all(|n| matches!(*n, "VEVENT" | "VTODO" | "VTIMEZONE")) => {
                        FolderKind::Calendar
                    }
                    _ => {
                        return Ok(condition(
                            StatusCode::FORBIDDEN,
                            CALDAV,
                            "supported-calendar-component",
                            Some(
                                "<!-- a calendar holds events (with tasks), tasks alone, or journal entries alone -->",
                            ),
                        ));
                    }
                }
            }
            (Space::AddressBooks, false, true) => FolderKind::Contacts,
            _ => {
                return Ok(condition(
                    StatusCode::FORBIDDEN,
                    DAV,
                    "valid-resourcetype",
                    Some("<!-- only calendars in a calendar home, address books in an address book home -->"),
                ));
            }
        };
        let folder = match self.mail.create_folder(owner.account, &name, kind, None).await {
            Ok(f) => f,
            Err(axigen_core::Error::AlreadyExists(_)) => {
                return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "a folder of that name exists"));
            }
            Err(axigen_core::Error::Invalid(m)) => return Ok(text(StatusCode::FORBIDDEN, &m)),
            Err(e) => return Err(self.failure(&e)),
        };
        let changes: Vec<(String, Option<String>)> = set
            .iter()
            .filter(|p| !p.is(DAV, "resourcetype") && !p.is(CALDAV, "supported-calendar-component-set"))
            .filter_map(|p| dead_property(p).map(|(k, v)| (k, Some(v))))
            .collect();
        if !changes.is_empty() {
            self.items
                .set_collection_properties(owner.account, folder.id, changes)
                .await
                .map_err(|e| self.failure(&e))?;
        }
        info!(account = %owner.account, folder = %folder.name, kind = ?kind, "dav collection created");
        let mut r = empty(StatusCode::CREATED);
        if let Ok(v) = HeaderValue::from_str(&self.collection_href(space, &owner, &folder.name)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        Ok(r)
    }

    async fn move_or_copy(&self, me: &Principal, req: &DavRequest, target: Target) -> Result<Answer, Answer> {
        let Target::Item(space, owner, folder, name) = target else {
            return Ok(text(StatusCode::FORBIDDEN, "only items can be moved or copied"));
        };
        let Some(destination) = req.headers.get("destination").and_then(|v| v.to_str().ok()) else {
            return Ok(text(StatusCode::BAD_REQUEST, "Destination header missing"));
        };
        // An absolute URL's path, or a path.
        let path = match destination.find("://") {
            Some(i) => destination[i + 3..].find('/').map_or("/", |p| &destination[i + 3 + p..]),
            None => destination,
        };
        let path = path.split('?').next().unwrap_or(path);
        let Target::Item(to_space, to_owner, to_folder, to_name) = self.target(path).await? else {
            return Ok(text(StatusCode::CONFLICT, "the destination is not inside a collection"));
        };
        if to_space != space || to_owner.account != owner.account {
            return Ok(text(StatusCode::BAD_GATEWAY, "items move within one account's collections"));
        }
        if validate_item_name(&to_name).is_err() {
            return Ok(text(StatusCode::FORBIDDEN, "not an acceptable resource name"));
        }
        let overwrite =
            !matches!(req.headers.get("overwrite").and_then(|v| v.to_str().ok()).map(str::trim), Some("F") | Some("f"));
        let copy = req.method.as_str() == "COPY";
        let rights = self.rights(me, &owner, &folder).await?;
        self.require(
            rights,
            if copy { Rights::READ } else { Rights::DELETE_MESSAGES },
            if copy { "read" } else { "unbind" },
        )?;
        let to_rights = self.rights(me, &to_owner, &to_folder).await?;
        self.require(to_rights, Rights::INSERT, "bind")?;
        let outcome = if copy {
            let Some(source) =
                self.items.item_by_name(owner.account, folder.id, &name).await.map_err(|e| self.failure(&e))?
            else {
                return Ok(empty(StatusCode::NOT_FOUND));
            };
            if !precondition(&req.headers).holds(Some(&source)) {
                return Ok(empty(StatusCode::PRECONDITION_FAILED));
            }
            let content = self.mail.content(source.blob).await.map_err(|e| self.failure(&e))?;
            let Ok(item) = NewItem::parse(content, to_folder.kind) else {
                return Ok(condition(StatusCode::FORBIDDEN, CALDAV, "supported-calendar-component", None));
            };
            let condition = Precondition { if_match: None, if_none_match: !overwrite };
            let quota = self.quota(owner.account).await?;
            Some(
                self.items
                    .put_item(owner.account, to_folder.id, &to_name, item, condition, quota)
                    .await
                    .map_err(|e| self.failure(&e))?,
            )
        } else {
            self.items
                .move_item(
                    owner.account,
                    folder.id,
                    &name,
                    to_folder.id,
                    &to_name,
                    overwrite,
                    precondition(&req.headers),
                )
                .await
                .map_err(|e| self.failure(&e))?
        };
        let ns = if space == Space::Calendars { CALDAV } else { CARDDAV };
        Ok(match outcome {
            None => empty(StatusCode::NOT_FOUND),
            Some(ItemWrite::Created(meta)) => {
                let mut r = empty(StatusCode::CREATED);
                item_headers(&mut r, &meta);
                r
            }
            Some(ItemWrite::Replaced(meta)) => {
                let mut r = empty(StatusCode::NO_CONTENT);
                item_headers(&mut r, &meta);
                r
            }
            Some(ItemWrite::PreconditionFailed) => empty(StatusCode::PRECONDITION_FAILED),
            Some(ItemWrite::UidConflict(other)) => {
                let href =
                    format!("<D:href>{}</D:href>", escape(&self.item_href(space, &owner, &to_folder.name, &other)));
                condition(StatusCode::FORBIDDEN, ns, "no-uid-conflict", Some(&href))
            }
        })
    }
}

/// ETag and Last-Modified of an item's response.
pub(super) fn item_headers(r: &mut Answer, item: &ItemMeta) {
    if let Ok(v) = HeaderValue::from_str(&item.etag()) {
        r.headers_mut().insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&crate::http::http_date(item.modified)) {
        r.headers_mut().insert(header::LAST_MODIFIED, v);
    }
}

/// The properties a collection keeps (PROPPATCH, MKCALENDAR): their keys
/// (`{namespace}name`) and text values. Others are refused.
pub(super) const WRITABLE: &[(&str, &str)] = &[
    (DAV, "displayname"),
    (CALDAV, "calendar-description"),
    (CARDDAV, "addressbook-description"),
    (APPLE, "calendar-color"),
    (APPLE, "calendar-order"),
    (CALDAV, "calendar-timezone"),
];

/// Largest stored property value.
pub(super) const MAX_PROPERTY_BYTES: usize = 16 << 10;

/// A writable property's key and value, if `p` is one.
pub(super) fn dead_property(p: &Element) -> Option<(String, String)> {
    WRITABLE
        .iter()
        .any(|(ns, name)| p.is(ns, name))
        .then(|| (format!("{{{}}}{}", p.ns, p.name), p.text.trim().chars().take(MAX_PROPERTY_BYTES).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip() {
        for s in ["Calendar", "Work/2026", "ann@example.com", "é t%x", "a+b"] {
            assert_eq!(decode_segment(&encode_segment(s)).as_deref(), Some(s));
        }
        assert_eq!(encode_segment("Work/2026"), "Work%2F2026");
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%"), None);
        assert_eq!(decode_segment("%ff"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(crate::http::http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(crate::http::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(crate::inbound::rfc5322_date(784_111_777), "Sun, 6 Nov 1994 08:49:37 +0000");
    }

    #[test]
    fn conditions_from_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"a\", \"b\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        let p = precondition(&h);
        assert_eq!(p.if_match, Some(vec!["\"a\"".to_owned(), "\"b\"".to_owned()]));
        assert!(p.if_none_match);
        assert_eq!(depth(&h, Some(0)), Some(0));
        h.insert("depth", HeaderValue::from_static("infinity"));
        assert_eq!(depth(&h, Some(0)), None);
    }
}
