//! The IMAP session: state (RFC 9051 3) and the handlers of the commands.
//!
//! The session owns every protocol decision; the [driver](super::server)
//! owns the socket, the [`CommandReader`](super::CommandReader) and the
//! clock. A handler writes its responses to an output buffer and says what
//! the driver must do next ([`Next`]).
//!
//! - this file: state, dispatch, the any-state and not-authenticated
//!   commands (CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE,
//!   ID, NAMESPACE); [`enable`]: ENABLE;
//! - [`mailbox`]: LIST, LSUB, STATUS, CREATE, DELETE, RENAME, (UN)SUBSCRIBE,
//!   APPEND;
//! - [`selected`]: SELECT/EXAMINE, the message-number map, pending changes
//!   (EXISTS/EXPUNGE/FETCH FLAGS), CLOSE, UNSELECT, EXPUNGE, STORE, COPY, MOVE;
//! - [`fetch`]: FETCH; [`search`]: SEARCH; [`render`]: ENVELOPE and
//!   BODYSTRUCTURE; [`quota`]: GETQUOTA, GETQUOTAROOT, SETQUOTA (RFC 9208).
//! - CONDSTORE and QRESYNC (RFC 7162) live with SELECT, FETCH and STORE;
//!   what was changed or expunged since a MODSEQ always comes from the
//!   store's change log (`changes_since`), never from diffing listings.
//!
//! # Implementation notes
//!
//! - **A handler checks the state first, then acts.** Commands not valid in
//!   the current state are `BAD` (RFC 9051 3).
//! - **Changes are acknowledged only once durable**: every store write has
//!   completed before its tagged OK (the store's contract).
//! - **No EXPUNGE during FETCH, STORE or SEARCH** (RFC 9051 7.4.1): pending
//!   changes are reported after every other command, and during IDLE.
//! - **The selected mailbox is revalidated after each await**: pending
//!   changes are computed from the store's listing, never from a cached
//!   view that another session could have changed.
//! - **Passwords are never logged**; logs carry `session`, `peer` and
//!   `account`.

mod acl;
mod binary;
mod catenate;
mod context;
mod enable;
mod fetch;
mod mailbox;
mod notify;
mod quota;
mod render;
mod search;
mod selected;
mod sort;

use std::net::SocketAddr;
use std::sync::Arc;

use axigen_core::directory::Directory;
use axigen_core::mailstore::{Flags, MailStore};
use axigen_core::model::Principal;
use base64::Engine as _;
use tracing::{debug, info, warn};

use super::command::{Command, CommandBody};
use super::data::Data;
use super::limits::{AccountConnections, AccountSlot};
use super::recent::RecentTracker;
use super::response::{self, Code, Status, StatusResponse};
use super::server::ImapConfig;
use super::sort_keys::KeyCache;
use super::types::{Flag, Secret, Tag};
use axigen_core::login_throttle::{LoginError, LoginThrottle};

pub use selected::Selected;

/// The capabilities of the server, each with the RFC that defines it. The
/// session adds STARTTLS, AUTH=PLAIN and LOGINDISABLED as the connection
/// allows.
pub const CAPABILITIES: &[(&str, &str)] = &[
    ("IMAP4rev1", "RFC 3501"),
    ("IMAP4rev2", "RFC 9051"),
    ("LITERAL+", "RFC 7888"),
    ("SASL-IR", "RFC 4959"),
    ("ENABLE", "RFC 5161"),
    ("ID", "RFC 2971"),
    ("NAMESPACE", "RFC 2342"),
    ("UNSELECT", "RFC 3691"),
    ("UIDPLUS", "RFC 4315"),
    ("MOVE", "RFC 6851"),
    ("IDLE", "RFC 2177"),
    ("SPECIAL-USE", "RFC 6154"),
    ("CONDSTORE", "RFC 7162"),
    ("QRESYNC", "RFC 7162"),
    ("ESEARCH", "RFC 4731"),
    ("SORT", "RFC 5256"),
    ("SORT=DISPLAY", "RFC 5957"),
    ("ESORT", "RFC 5267"),
    ("CONTEXT=SEARCH", "RFC 5267"),
    ("CONTEXT=SORT", "RFC 5267"),
    ("NOTIFY", "RFC 5465"),
    ("THREAD=ORDEREDSUBJECT", "RFC 5256"),
    ("THREAD=REFERENCES", "RFC 5256"),
    ("MULTIAPPEND", "RFC 3502"),
    ("CATENATE", "RFC 4469"),
    ("STATUS=SIZE", "RFC 8438"),
    ("LIST-EXTENDED", "RFC 5258"),
    ("LIST-STATUS", "RFC 5819"),
    ("QUOTA", "RFC 9208"),
    ("BINARY", "RFC 3516"),
    ("ACL", "RFC 4314"),
    ("UTF8=ACCEPT", "RFC 6855"),
];

/// The session state (RFC 9051 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Before LOGIN/AUTHENTICATE.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// After LOGOUT.
    Logout,
}

/// What the driver does after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Read the next command.
    Read,
    /// Send the output, drop buffered input, then the TLS handshake
    /// (RFC 9051 6.2.1).
    StartTls,
    /// Send the output and close.
    Close,
    /// Send the output and read one line: the client's SASL response.
    AuthLine,
    /// Send `+ idling`, then wait for changes or `DONE` (RFC 2177).
    Idle,
}

/// One IMAP session.
pub struct Session {
    config: Arc<ImapConfig>,
    directory: Arc<dyn Directory>,
    store: Arc<dyn MailStore>,
    id: String,
    peer: SocketAddr,
    tls: bool,
    starttls_offered: bool,
    state: State,
    principal: Option<Principal>,
    utf8: bool,
    /// `ENABLE IMAP4rev2` succeeded (RFC 9051 Appendix E).
    rev2: bool,
    /// CONDSTORE is enabled (RFC 7162 3.1): MODSEQ in every FETCH with FLAGS.
    condstore: bool,
    /// `ENABLE QRESYNC` succeeded (RFC 7162 3.2.3): expunges as VANISHED.
    qresync: bool,
    /// `ENABLE UTF8=ACCEPT` succeeded (RFC 6855 3).
    utf8_accept: bool,
    selected: Option<Selected>,
    /// The tag of an AUTHENTICATE waiting for the client's response.
    pending_auth: Option<Tag>,
    /// Login failures per client address, shared by the service's sessions.
    throttle: Arc<LoginThrottle>,
    /// The tag of the IDLE in progress.
    idle_tag: Option<Tag>,
    /// Logins per account, shared by the service's sessions.
    accounts: Arc<AccountConnections>,
    /// This session's place in `accounts` once logged in; dropped with the
    /// session.
    account_slot: Option<AccountSlot>,
    /// Which messages are `\Recent` in which session, shared by the
    /// service's sessions (RFC 3501 2.3.2).
    recent: Arc<RecentTracker>,
    /// SORT and THREAD keys by message content, shared by the service's
    /// sessions.
    sort_keys: Arc<KeyCache>,
    /// NOTIFY SET in force (RFC 5465).
    notify: Option<notify::NotifyState>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).field("state", &self.state).finish_non_exhaustive()
    }
}

fn tagged(tag: &Tag, status: Status, text: &str) -> StatusResponse {
    StatusResponse::tagged(tag.clone(), status, text)
}

/// Maps a store error to the refusal of a command.
fn store_error(tag: &Tag, err: &axigen_core::Error) -> StatusResponse {
    use axigen_core::Error;
    let (code, text) = match err {
        Error::NotFound(_) => (Code::NonExistent, "no such mailbox or message"),
        Error::AlreadyExists(_) => (Code::AlreadyExists, "mailbox already exists"),
        Error::OverQuota(_) => (Code::OverQuota, "over quota"),
        // As Dovecot answers a full disk: the client may keep the message
        // and try again later.
        Error::NoSpace(_) => (Code::OverQuota, "not enough disk space on the server; try again later"),
        Error::Invalid(_) | Error::Conflict(_) => (Code::Cannot, "operation not possible"),
        _ => (Code::Unavailable, "server error, try again later"),
    };
    tagged(tag, Status::No, text).with_code(code)
}

/// Writes stored flags as an IMAP flag list, `(\\Seen $Label1)`, without
/// building [`Flag`] values: the FETCH FLAGS path for whole mailboxes. The
/// same flags, in the same order, as [`imap_flags`].
/// `recent` adds `\Recent` (RFC 3501 2.3.2) in front.
fn write_flag_list(out: &mut Vec<u8>, flags: Flags, keywords: &[String], recent: bool) {
    out.push(b'(');
    let mut first = !recent;
    if recent {
        out.extend_from_slice(b"\\Recent");
    }
    for (f, _) in Flags::NAMES {
        if flags.contains(f) {
            if !first {
                out.push(b' ');
            }
            first = false;
            out.extend_from_slice(match f {
                Flags::SEEN => b"\\Seen".as_slice(),
                Flags::ANSWERED => b"\\Answered",
                Flags::FLAGGED => b"\\Flagged",
                Flags::DELETED => b"\\Deleted",
                _ => b"\\Draft",
            });
        }
    }
    for k in keywords.iter().filter(|k| Flag::parse(k).is_ok()) {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(k.as_bytes());
    }
    out.push(b')');
}

/// Stored flags as IMAP flags.
fn imap_flags(flags: Flags, keywords: &[String]) -> Vec<Flag> {
    let mut out: Vec<Flag> = Vec::new();
    for (f, _) in Flags::NAMES {
        if flags.contains(f) {
            out.push(match f {
                Flags::SEEN => Flag::Seen,
                Flags::ANSWERED => Flag::Answered,
                Flags::FLAGGED => Flag::Flagged,
                Flags::DELETED => Flag::Deleted,
                _ => Flag::Draft,
            });
        }
    }
    out.extend(keywords.iter().filter_map(|k| Flag::parse(k).ok()));
    out
}

/// IMAP flags as stored flags and keywords; `\Recent` and unknown system
/// flags are ignored (RFC 9051 2.3.2).
fn store_flags(flags: &[Flag]) -> (Flags, Vec<String>) {
    let mut system = Flags::empty();
    let mut keywords: Vec<String> = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => system = system.union(Flags::SEEN),
            Flag::Answered => system = system.union(Flags::ANSWERED),
            Flag::Flagged => system = system.union(Flags::FLAGGED),
            Flag::Deleted => system = system.union(Flags::DELETED),
            Flag::Draft => system = system.union(Flags::DRAFT),
            Flag::Keyword(k) => keywords.push(k.as_str().to_owned()),
            Flag::Extension(_) => {}
        }
    }
    keywords.sort();
    keywords.dedup();
    (system, keywords)
}

impl Session {
    /// A new session on a connection from `peer`; `tls` when it is already
    /// encrypted, `starttls_offered` when STARTTLS is available.
    pub fn new(
        config: Arc<ImapConfig>,
        directory: Arc<dyn Directory>,
        store: Arc<dyn MailStore>,
        id: String,
        peer: SocketAddr,
        tls: bool,
        starttls_offered: bool,
    ) -> Session {
        Session {
            config,
            directory,
            store,
            id,
            peer,
            tls,
            starttls_offered: starttls_offered && !tls,
            state: State::NotAuthenticated,
            principal: None,
            utf8: false,
            rev2: false,
            condstore: false,
            qresync: false,
            utf8_accept: false,
            selected: None,
            pending_auth: None,
            throttle: Arc::default(),
            idle_tag: None,
            accounts: Arc::default(),
            account_slot: None,
            recent: Arc::default(),
            sort_keys: Arc::default(),
            notify: None,
        }
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The authenticated principal.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// Whether mailbox names are UTF-8 on the wire rather than modified
    /// UTF-7 (after `ENABLE IMAP4rev2`); the reader must parse accordingly.
    pub fn utf8_names(&self) -> bool {
        self.utf8
    }

    /// The selected mailbox.
    pub fn selected(&self) -> Option<&Selected> {
        self.selected.as_ref()
    }

    /// The account whose changes the session reports: the owner of the
    /// selected mailbox (another account for a shared folder), else the
    /// user's. IDLE waits on this account's change notifier.
    pub fn watched_account(&self) -> Option<axigen_core::model::AccountId> {
        self.selected.as_ref().map(|s| s.owner).or_else(|| self.principal.as_ref().map(|p| p.account))
    }

    fn login_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_login
    }

    /// The capability list for the current state.
    pub fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = CAPABILITIES.iter().map(|(c, _)| (*c).to_owned()).collect();
        // RFC 7889 3: the largest APPEND the server accepts.
        caps.push(format!("APPENDLIMIT={}", self.config.max_append));
        // RFC 9208 3.1: the resources the QUOTA responses report.
        caps.push("QUOTA=RES-STORAGE".into());
        caps.push("QUOTA=RES-MESSAGE".into());
        // RFC 4314 2.1.1: the rights beyond RFC 2086 are supported.
        caps.push("RIGHTS=texk".into());
        if self.state == State::NotAuthenticated {
            if self.starttls_offered {
                caps.push("STARTTLS".into());
            }
            if self.login_allowed() {
                caps.push("AUTH=PLAIN".into());
            } else {
                caps.push("LOGINDISABLED".into());
            }
        }
        caps
    }

    /// The greeting: `* OK [CAPABILITY ...] ready` (RFC 9051 7.1.1).
    pub fn greeting(&self, out: &mut Vec<u8>) {
        StatusResponse::untagged(Status::Ok, format!("{} IMAP server ready", self.config.hostname))
            .with_code(Code::Capability(self.capabilities()))
            .encode(out);
    }

    /// The TLS handshake after STARTTLS succeeded: nothing from before it
    /// is kept (RFC 9051 6.2.1).
    pub fn on_tls_established(&mut self) {
        self.tls = true;
        self.starttls_offered = false;
    }

    fn data(&self, out: &mut Vec<u8>, data: &Data) {
        data.encode(out, self.utf8);
    }

    /// Runs one command, writing its responses to `out`.
    pub async fn execute(&mut self, command: Command, out: &mut Vec<u8>) -> Next {
        let Command { tag, body } = command;
        let account = self.principal.as_ref().map(|p| p.account.0);
        debug!(session = %self.id, peer = %self.peer, account = ?account, command = body.name(), "imap command");
        let mut next = Next::Read;
        // RFC 9051 7.4.1: no EXPUNGE responses during FETCH, STORE, SEARCH.
        let mut report_changes = true;
        let response = match body {
            CommandBody::Capability => {
                self.data(out, &Data::Capability(self.capabilities()));
                tagged(&tag, Status::Ok, "CAPABILITY completed")
            }
            CommandBody::Noop => tagged(&tag, Status::Ok, "NOOP completed"),
            CommandBody::Logout => {
                StatusResponse::untagged(Status::Bye, "logging out").encode(out);
                self.state = State::Logout;
                self.selected = None;
                next = Next::Close;
                report_changes = false;
                tagged(&tag, Status::Ok, "LOGOUT completed")
            }
            CommandBody::StartTls => {
                if !self.starttls_offered || self.state != State::NotAuthenticated {
                    tagged(&tag, Status::Bad, "STARTTLS not available")
                } else {
                    next = Next::StartTls;
                    tagged(&tag, Status::Ok, "begin TLS negotiation now")
                }
            }
            CommandBody::Login { username, password } => self.login(&tag, &username, &password).await,
            CommandBody::Authenticate { mechanism, initial_response } => {
                if self.state != State::NotAuthenticated {
                    tagged(&tag, Status::Bad, "already authenticated")
                } else if !mechanism.eq_ignore_case("PLAIN") {
                    tagged(&tag, Status::No, "unsupported mechanism").with_code(Code::Cannot)
                } else if !self.login_allowed() {
                    tagged(&tag, Status::No, "authentication requires TLS").with_code(Code::PrivacyRequired)
                } else if let Some(ir) = initial_response {
                    self.auth_plain(&tag, ir.expose()).await
                } else {
                    // RFC 4616 2: PLAIN starts with an empty challenge, `+ ` alone.
                    response::continuation_challenge(out, b"");
                    self.pending_auth = Some(tag);
                    return Next::AuthLine;
                }
            }
            CommandBody::Enable(caps) => self.enable(&tag, &caps, out),
            CommandBody::Id(_) => {
                let fields = vec![("name".to_owned(), Some("axigen".to_owned()))];
                self.data(out, &Data::Id(Some(fields)));
                tagged(&tag, Status::Ok, "ID completed")
            }
            other => {
                if self.state == State::NotAuthenticated {
                    tagged(&tag, Status::Bad, "command not valid before authentication")
                } else {
                    if matches!(
                        other,
                        CommandBody::Fetch(_)
                            | CommandBody::Store(_)
                            | CommandBody::Search(_)
                            | CommandBody::Sort(_)
                            | CommandBody::Thread(_)
                    ) {
                        report_changes = false;
                    }
                    match self.execute_authenticated(&tag, other, out).await {
                        Ok(response) => response,
                        Err(n) => {
                            next = n;
                            return next;
                        }
                    }
                }
            }
        };
        if report_changes && self.selected.is_some() {
            self.report_changes(out).await;
        }
        // RFC 5267 4.3: updating results follow the changes, after any
        // command (flag changes may be reported during STORE too).
        self.update_contexts(out).await;
        // RFC 5465: and what NOTIFY asked about the other mailboxes.
        self.notify_others(out).await;
        response.encode(out);
        next
    }

    /// Commands valid once authenticated. `Err` carries a [`Next`] for
    /// commands that continue (IDLE).
    async fn execute_authenticated(
        &mut self,
        tag: &Tag,
        body: CommandBody,
        out: &mut Vec<u8>,
    ) -> Result<StatusResponse, Next> {
        let selected_only = matches!(
            body,
            CommandBody::Check
                | CommandBody::Close
                | CommandBody::Unselect
                | CommandBody::Expunge
                | CommandBody::UidExpunge(_)
                | CommandBody::Search(_)
                | CommandBody::Sort(_)
                | CommandBody::Thread(_)
                | CommandBody::CancelUpdate(_)
                | CommandBody::Fetch(_)
                | CommandBody::Store(_)
                | CommandBody::Copy { .. }
                | CommandBody::Move { .. }
        );
        if selected_only && self.selected.is_none() {
            return Ok(tagged(tag, Status::Bad, "no mailbox selected"));
        }
        Ok(match body {
            CommandBody::Namespace => {
                // RFC 2342 5: other accounts' shared folders are under the
                // other users namespace.
                let other = vec![(format!("{}/", acl::OTHER_USERS), Some('/'))];
                self.data(out, &Data::Namespace { personal: vec![(String::new(), Some('/'))], other, shared: vec![] });
                tagged(tag, Status::Ok, "NAMESPACE completed")
            }
            CommandBody::List(list) => self.list(tag, &list, out).await,
            CommandBody::Lsub { reference, pattern } => self.lsub(tag, &reference, &pattern, out).await,
            CommandBody::Status { mailbox, items } => self.status(tag, &mailbox, &items, out).await,
            CommandBody::Create { mailbox, special_use } => self.create(tag, &mailbox, &special_use).await,
            CommandBody::Delete(mailbox) => self.delete(tag, &mailbox).await,
            CommandBody::Rename { from, to } => self.rename(tag, &from, &to).await,
            CommandBody::Subscribe(mailbox) => self.subscribe(tag, &mailbox, true).await,
            CommandBody::Unsubscribe(mailbox) => self.subscribe(tag, &mailbox, false).await,
            CommandBody::Append { mailbox, messages } => {
                // RFC 6855 4: the UTF8 data extension needs ENABLE UTF8=ACCEPT.
                if messages.iter().any(|m| m.utf8) && !self.utf8_accept {
                    tagged(tag, Status::Bad, "APPEND UTF8 needs ENABLE UTF8=ACCEPT")
                } else {
                    self.append(tag, &mailbox, messages).await
                }
            }
            CommandBody::Select { mailbox, params } => self.select(tag, &mailbox, false, &params, out).await,
            CommandBody::Examine { mailbox, params } => self.select(tag, &mailbox, true, &params, out).await,
            CommandBody::Check => tagged(tag, Status::Ok, "CHECK completed"),
            CommandBody::Close => self.close(tag, true).await,
            CommandBody::Unselect => self.close(tag, false).await,
            CommandBody::Expunge => self.expunge(tag, None, out).await,
            CommandBody::UidExpunge(set) => self.expunge(tag, Some(&set), out).await,
            CommandBody::Fetch(fetch) => self.fetch(tag, &fetch, out).await,
            CommandBody::Store(store) => self.store_flags(tag, &store, out).await,
            CommandBody::Search(search) => self.search(tag, &search, out).await,
            CommandBody::Sort(sort) => self.sort(tag, &sort, out).await,
            CommandBody::Thread(thread) => self.thread(tag, &thread, out).await,
            CommandBody::CancelUpdate(tags) => self.cancel_update(tag, &tags),
            CommandBody::Notify(set) => self.notify(tag, set, out).await,
            CommandBody::Copy { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, false, out).await,
            CommandBody::Move { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, true, out).await,
            CommandBody::GetQuotaRoot(mailbox) => self.get_quota_root(tag, &mailbox, out).await,
            CommandBody::GetQuota(root) => self.get_quota(tag, &root, out).await,
            CommandBody::SetQuota { .. } => self.set_quota(tag),
            CommandBody::SetAcl { mailbox, identifier, rights } => {
                self.set_acl(tag, &mailbox, &identifier, Some(&rights)).await
            }
            CommandBody::DeleteAcl { mailbox, identifier } => self.set_acl(tag, &mailbox, &identifier, None).await,
            CommandBody::GetAcl(mailbox) => self.get_acl(tag, &mailbox, out).await,
            CommandBody::ListRights { mailbox, identifier } => self.list_rights(tag, &mailbox, &identifier, out).await,
            CommandBody::MyRights(mailbox) => self.my_rights(tag, &mailbox, out).await,
            CommandBody::Idle => {
                response::continuation(out, "idling");
                self.idle_tag = Some(tag.clone());
                return Err(Next::Idle);
            }
            _ => tagged(tag, Status::Bad, "command not supported"),
        })
    }

    async fn login(&mut self, tag: &Tag, user: &str, password: &Secret) -> StatusResponse {
        if self.state != State::NotAuthenticated {
            return tagged(tag, Status::Bad, "already authenticated");
        }
        if !self.login_allowed() {
            // RFC 9051 6.2.3: LOGINDISABLED; PRIVACYREQUIRED (RFC 5530 3).
            return tagged(tag, Status::No, "LOGIN requires TLS").with_code(Code::PrivacyRequired);
        }
        let Ok(password) = std::str::from_utf8(password.expose()) else {
            return tagged(tag, Status::No, "invalid credentials").with_code(Code::AuthenticationFailed);
        };
        self.authenticate(tag, user, password).await
    }

    /// SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.
    async fn auth_plain(&mut self, tag: &Tag, response: &[u8]) -> StatusResponse {
        let mut fields = response.split(|&b| b == 0);
        let (Some(authz), Some(user), Some(password), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return tagged(tag, Status::Bad, "malformed PLAIN response");
        };
        let (Ok(authz), Ok(user), Ok(password)) =
            (std::str::from_utf8(authz), std::str::from_utf8(user), std::str::from_utf8(password))
        else {
            return tagged(tag, Status::No, "invalid credentials").with_code(Code::AuthenticationFailed);
        };
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(user) {
            return tagged(tag, Status::No, "cannot act as another user").with_code(Code::AuthorizationFailed);
        }
        let (user, password) = (user.to_owned(), password.to_owned());
        self.authenticate(tag, &user, &password).await
    }

    /// The client's answer to the AUTHENTICATE continuation.
    pub async fn on_auth_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Next {
        let Some(tag) = self.pending_auth.take() else {
            return Next::Read;
        };
        let line = line.trim_ascii();
        let response = if line == b"*" {
            tagged(&tag, Status::Bad, "authentication cancelled")
        } else {
            match base64::engine::general_purpose::STANDARD.decode(line) {
                Ok(decoded) => {
                    let decoded = Secret::new(decoded);
                    self.auth_plain(&tag, decoded.expose()).await
                }
                Err(_) => tagged(&tag, Status::Bad, "invalid base64"),
            }
        };
        response.encode(out);
        Next::Read
    }

    /// During IDLE: reports the changes of the selected mailbox.
    pub async fn idle_poll(&mut self, out: &mut Vec<u8>) {
        if self.selected.is_some() {
            self.report_changes(out).await;
            self.update_contexts(out).await;
        }
        self.notify_others(out).await;
    }

    /// The line that ends IDLE: `DONE` (RFC 2177 3).
    pub fn idle_done(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let Some(tag) = self.idle_tag.take() else { return };
        if line.trim_ascii().eq_ignore_ascii_case(b"DONE") {
            tagged(&tag, Status::Ok, "IDLE terminated").encode(out);
        } else {
            tagged(&tag, Status::Bad, "expected DONE").encode(out);
        }
    }

    /// Shares `throttle` (the service's) with this session.
    pub fn with_throttle(mut self, throttle: Arc<LoginThrottle>) -> Session {
        self.throttle = throttle;
        self
    }

    /// Counts this session's login in `accounts` (the service's), where
    /// [`ImapConfig::max_connections_per_account`] applies.
    pub fn with_account_connections(mut self, accounts: Arc<AccountConnections>) -> Session {
        self.accounts = accounts;
        self
    }

    /// Shares the service's cache of SORT and THREAD keys.
    pub fn with_sort_keys(mut self, sort_keys: Arc<KeyCache>) -> Session {
        self.sort_keys = sort_keys;
        self
    }

    /// Shares the service's `\Recent` tracker (RFC 3501 2.3.2).
    pub fn with_recent_tracker(mut self, recent: Arc<RecentTracker>) -> Session {
        self.recent = recent;
        self
    }

    async fn authenticate(&mut self, tag: &Tag, user: &str, password: &str) -> StatusResponse {
        // The login throttle shared with every service (see
        // axigen_core::login_throttle for what it slows and refuses).
        let principal = match self.throttle.authenticate(self.directory.as_ref(), self.peer.ip(), user, password).await
        {
            Ok(p) => p,
            Err(LoginError::Refused(reason)) => {
                warn!(session = %self.id, peer = %self.peer, user = %user, %reason, "imap login refused by the login throttle");
                return tagged(tag, Status::No, &format!("{reason}; try again later")).with_code(Code::Unavailable);
            }
            Err(LoginError::InvalidCredentials) => {
                info!(session = %self.id, peer = %self.peer, user = %user, "imap authentication failed");
                return tagged(tag, Status::No, "invalid credentials").with_code(Code::AuthenticationFailed);
            }
            Err(LoginError::Unavailable(err)) => {
                warn!(session = %self.id, peer = %self.peer, error = %err, "directory unavailable");
                return tagged(tag, Status::No, "try again later").with_code(Code::Unavailable);
            }
        };
        match self.directory.effective_settings(principal.account).await {
            Ok(settings) if settings.imap_enabled.value => {}
            Ok(_) => {
                info!(session = %self.id, peer = %self.peer, account = %principal.account, "imap disabled for account");
                return tagged(tag, Status::No, "IMAP is disabled for this account").with_code(Code::ContactAdmin);
            }
            Err(err) => {
                warn!(session = %self.id, peer = %self.peer, error = %err, "cannot read account settings");
                return tagged(tag, Status::No, "try again later").with_code(Code::Unavailable);
            }
        }
        // RFC 5530 3: LIMIT. Checked after the credentials, so that the
        // refusal says nothing about an account to someone without them.
        let limit = self.config.max_connections_per_account;
        match self.accounts.try_acquire(principal.account, limit) {
            Ok(slot) => self.account_slot = Some(slot),
            Err(reached) => {
                info!(session = %self.id, peer = %self.peer, user = %user, account = %principal.account,
                    open = reached.open, limit, "imap login refused: too many connections for the account");
                return tagged(tag, Status::No, "too many connections for this account").with_code(Code::Limit);
            }
        }
        info!(session = %self.id, peer = %self.peer, user = %user, account = %principal.account, "imap login");
        self.principal = Some(principal);
        self.state = State::Authenticated;
        tagged(tag, Status::Ok, "logged in").with_code(Code::Capability(self.capabilities()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::types::Atom;

    #[test]
    fn flags_round_trip() {
        let imap = vec![Flag::Seen, Flag::Deleted, Flag::Keyword(Atom::new("$Label1").unwrap()), Flag::Draft];
        let (flags, keywords) = store_flags(&imap);
        assert!(flags.contains(Flags::SEEN.union(Flags::DELETED).union(Flags::DRAFT)));
        assert!(!flags.contains(Flags::FLAGGED));
        assert_eq!(keywords, vec!["$Label1".to_owned()]);
        let back = imap_flags(flags, &keywords);
        assert_eq!(back, vec![Flag::Seen, Flag::Deleted, Flag::Draft, Flag::Keyword(Atom::new("$Label1").unwrap())]);
    }

    #[test]
    fn flag_list_written_directly_equals_the_flag_values() {
        let keywords = vec!["$Label1".to_owned(), "Work".to_owned()];
        for bits in 0..32u8 {
            let flags = Flags(bits);
            let mut direct = Vec::new();
            write_flag_list(&mut direct, flags, &keywords, false);
            let mut via = Vec::new();
            crate::imap::encode::flag_list(&mut via, &imap_flags(flags, &keywords));
            assert_eq!(String::from_utf8(direct).unwrap(), String::from_utf8(via).unwrap());
        }
    }

    #[test]
    fn capabilities_name_their_rfc() {
        assert!(CAPABILITIES.iter().all(|(name, rfc)| !name.is_empty() && rfc.starts_with("RFC ")));
        // Every capability advertised is one the parser understands.
        for (name, _) in CAPABILITIES {
            assert!(crate::imap::EXTENSIONS.iter().any(|e| e.capability == *name), "{name}");
        }
    }
}
