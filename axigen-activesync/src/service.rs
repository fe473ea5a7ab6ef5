//! The ActiveSync endpoint: one HTTP request in, one response out.
//!
//! Every POST goes through the same gates, in this order, each logged with
//! its reason:
//!
//! 1. **Authentication**: HTTP Basic through the directory, throttled per
//!    client address with the other protocols (`401` with a challenge).
//! 2. **The request line** (MS-ASHTTP): command, device, version (`400`).
//! 3. **Access** ([`axigen_core::access::activesync_access`]): the account's
//!    effective `activesync.enabled` (explicit, or inherited from its class,
//!    domain or the server) and the licence (edition, first-come seats).
//!    A refusal is `403 Forbidden`, which clients show as an access error.
//! 4. **The device**: created on first sight; a device the administrator
//!    blocked gets `403`, a quarantined one reaches only provisioning, the
//!    folder list and settings.
//! 5. **Remote wipe**: a pending wipe answers every command but Provision
//!    with status 140 (or HTTP 449 before 14.0), so the device provisions
//!    and is told.
//! 6. **Provisioning** (MS-ASPROV): every command but Provision needs the
//!    current policy key; without it, status 142 (no key) or 144 (stale key),
//!    or HTTP 449 before 14.0. The key is derived from the effective policy,
//!    so it changes exactly when the policy does.

use std::net::SocketAddr;
use std::sync::Arc;

use axigen_core::devices::{Device, DeviceAccess, DeviceStore, WipeState};
use axigen_core::directory::Directory;
use axigen_core::license::{Feature, Licensing};
use axigen_core::login_throttle::{LoginError, LoginThrottle};
use axigen_core::mailstore::MailStore;
use axigen_core::model::Principal;
use axigen_core::notify::ChangeNotifier;
use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use tracing::{debug, info, warn};

use crate::request::{Command, EasRequest, ProtocolVersion, RequestHeaders};
use crate::wbxml::{self, CodePage, Element};

/// The path of the endpoint (MS-ASHTTP 2.2.1.1.1).
pub const PATH: &str = "/Microsoft-Server-ActiveSync";

/// The newest version, sent as `MS-Server-ActiveSync`.
const SERVER_VERSION: &str = "16.1";

/// Settings of the endpoint.
#[derive(Debug, Clone)]
pub struct ActiveSyncConfig {
    /// Largest request body, in bytes (`413` above it).
    pub max_request_bytes: usize,
    /// Whether requests over plain HTTP are served (default false: `403`).
    pub allow_plaintext: bool,
    /// The shortest Ping heartbeat accepted (default 60 s): a device that
    /// asks for less is told this bound (status 5).
    pub min_heartbeat: std::time::Duration,
    /// The longest Ping heartbeat accepted (default 59 minutes).
    pub max_heartbeat: std::time::Duration,
    /// Folders one Ping may watch (default 300).
    pub max_ping_folders: usize,
    /// This server's name, for the Message-ID of mail sent from devices.
    pub hostname: String,
}

impl Default for ActiveSyncConfig {
    fn default() -> Self {
        ActiveSyncConfig {
            max_request_bytes: 32 << 20,
            allow_plaintext: false,
            min_heartbeat: std::time::Duration::from_secs(60),
            max_heartbeat: std::time::Duration::from_secs(3540),
            max_ping_folders: 300,
            hostname: "localhost".into(),
        }
    }
}

/// One request as the endpoint sees it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query, without `?`.
    pub query: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, read whole.
    pub body: Bytes,
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether the connection is encrypted.
    pub tls: bool,
}

/// What a command handler gets: the authenticated account, its device and
/// the parsed request.
pub(crate) struct Context {
    pub principal: Principal,
    pub device: Device,
    pub request: EasRequest,
    pub version: ProtocolVersion,
    pub body: Bytes,
}

/// The ActiveSync endpoint.
pub struct ActiveSync {
    pub(crate) config: ActiveSyncConfig,
    pub(crate) directory: Arc<dyn Directory>,
    pub(crate) store: Arc<dyn MailStore>,
    pub(crate) devices: Arc<dyn DeviceStore>,
    pub(crate) licensing: Arc<Licensing>,
    pub(crate) notifier: Arc<ChangeNotifier>,
    pub(crate) throttle: Arc<LoginThrottle>,
    pub(crate) pings: crate::ping::Pings,
    /// Where mail sent from devices goes: the submission path.
    pub(crate) submission: Option<Arc<dyn axigen_protocols::smtp::SmtpBackend>>,
    /// Where Settings Oof keeps the out-of-office reply.
    pub(crate) auto_reply: Option<Arc<dyn axigen_core::autoreply::AutoReplyStore>>,
}

impl std::fmt::Debug for ActiveSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveSync").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A response: the status and, for WBXML answers, the body.
pub(crate) fn wbxml_response(root: &Element) -> Response<Bytes> {
    match wbxml::encode(root) {
        Ok(body) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/vnd.ms-sync.wbxml")
            .header("MS-Server-ActiveSync", SERVER_VERSION)
            .body(Bytes::from(body))
            .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "")),
        Err(err) => {
            warn!(error = %err, "cannot encode a response");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }
}

/// An empty-bodied or text response.
pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::copy_from_slice(text.as_bytes()));
    *r.status_mut() = status;
    if !text.is_empty() {
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    r
}

/// The top-level element of a command's response, with only a Status:
/// how errors common to every command (MS-ASCMD 2.2.2) are answered.
pub(crate) fn status_only(command: Command, status: u16) -> Response<Bytes> {
    let (page, name) = match command {
        Command::Sync => (CodePage::AirSync, "Sync"),
        Command::FolderSync => (CodePage::FolderHierarchy, "FolderSync"),
        Command::FolderCreate => (CodePage::FolderHierarchy, "FolderCreate"),
        Command::FolderDelete => (CodePage::FolderHierarchy, "FolderDelete"),
        Command::FolderUpdate => (CodePage::FolderHierarchy, "FolderUpdate"),
        Command::GetItemEstimate => (CodePage::GetItemEstimate, "GetItemEstimate"),
        Command::MoveItems => (CodePage::Move, "MoveItems"),
        Command::Ping => (CodePage::Ping, "Ping"),
        Command::Search => (CodePage::Search, "Search"),
        Command::Settings => (CodePage::Settings, "Settings"),
        Command::ItemOperations => (CodePage::ItemOperations, "ItemOperations"),
        Command::ResolveRecipients => (CodePage::ResolveRecipients, "ResolveRecipients"),
        Command::ValidateCert => (CodePage::ValidateCert, "ValidateCert"),
        Command::MeetingResponse => (CodePage::MeetingResponse, "MeetingResponse"),
        Command::Find => (CodePage::Find, "Find"),
        Command::SendMail => (CodePage::ComposeMail, "SendMail"),
        Command::SmartForward => (CodePage::ComposeMail, "SmartForward"),
        Command::SmartReply => (CodePage::ComposeMail, "SmartReply"),
        Command::Provision => (CodePage::Provision, "Provision"),
        // GetAttachment answers with the attachment's bytes, never WBXML:
        // a device to be provisioned gets HTTP 449 as before 14.0.
        Command::GetAttachment => {
            let code = if matches!(status, 142..=144) { 449 } else { 500 };
            return plain(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "");
        }
    };
    let status_page = match command {
        Command::GetItemEstimate => CodePage::GetItemEstimate,
        _ => page,
    };
    let root = Element::new(page, name).with(Element::new(status_page, "Status").with_text(status.to_string()));
    wbxml_response(&root)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl ActiveSync {
    /// The endpoint over a directory, a mail store, the device store, the
    /// licence and the store's change notifier.
    pub fn new(
        config: ActiveSyncConfig,
        directory: Arc<dyn Directory>,
        store: Arc<dyn MailStore>,
        devices: Arc<dyn DeviceStore>,
        licensing: Arc<Licensing>,
        notifier: Arc<ChangeNotifier>,
    ) -> ActiveSync {
        ActiveSync {
            config,
            directory,
            store,
            devices,
            licensing,
            notifier,
            throttle: Arc::default(),
            pings: crate::ping::Pings::default(),
            submission: None,
            auto_reply: None,
        }
    }

    /// Sends mail from devices (SendMail, SmartReply, SmartForward) through
    /// this submission backend, with the device's account as the
    /// authenticated sender.
    pub fn with_submission(mut self, backend: Arc<dyn axigen_protocols::smtp::SmtpBackend>) -> ActiveSync {
        self.submission = Some(backend);
        self
    }

    /// Keeps the out-of-office settings a device reads and sets (Settings
    /// Oof) in this store; the SMTP delivery path sends the replies.
    pub fn with_auto_reply(mut self, store: Arc<dyn axigen_core::autoreply::AutoReplyStore>) -> ActiveSync {
        self.auto_reply = Some(store);
        self
    }

    pub(crate) fn hostname(&self) -> String {
        self.config.hostname.clone()
    }

    /// Shares the login throttle with other services.
    pub fn with_throttle(mut self, throttle: Arc<LoginThrottle>) -> ActiveSync {
        self.throttle = throttle;
        self
    }

    /// The change notifier that wakes Ping.
    pub fn notifier(&self) -> &Arc<ChangeNotifier> {
        &self.notifier
    }

    /// Devices with a Ping parked now.
    pub fn parked_pings(&self) -> usize {
        self.pings.parked()
    }

    /// The configuration.
    pub fn config(&self) -> &ActiveSyncConfig {
        &self.config
    }

    /// Whether a path is this endpoint's (ActiveSync or Autodiscover).
    pub fn serves(path: &str) -> bool {
        path.eq_ignore_ascii_case(PATH) || path.eq_ignore_ascii_case(crate::autodiscover::AUTODISCOVER_PATH)
    }

    /// Answers one request.
    pub async fn handle(&self, req: HttpRequest) -> Response<Bytes> {
        let response = self.respond(&req).await;
        debug!(peer = %req.peer, method = %req.method, query = %req.query, status = response.status().as_u16(), "activesync request");
        response
    }

    async fn respond(&self, req: &HttpRequest) -> Response<Bytes> {
        if !Self::serves(&req.path) {
            return plain(StatusCode::NOT_FOUND, "not found");
        }
        if !req.tls && !self.config.allow_plaintext {
            return plain(StatusCode::FORBIDDEN, "ActiveSync needs HTTPS");
        }
        let autodiscover = req.path.eq_ignore_ascii_case(crate::autodiscover::AUTODISCOVER_PATH);
        if autodiscover && req.method != Method::POST {
            return self.autodiscover_method();
        }
        if req.method != Method::OPTIONS && req.method != Method::POST {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "");
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("OPTIONS,POST"));
            return r;
        }
        let principal = match self.authenticate(req).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        if autodiscover {
            return self.autodiscover(req, &principal).await;
        }
        if req.method == Method::OPTIONS {
            return options_response();
        }
        let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
        let headers = RequestHeaders {
            protocol_version: header("MS-ASProtocolVersion"),
            policy_key: header("X-MS-PolicyKey"),
            accept_multipart: header("MS-ASAcceptMultiPart"),
        };
        let request = match EasRequest::parse(&req.query, headers) {
            Ok(r) => r,
            Err(err) => {
                info!(peer = %req.peer, account = %principal.account, error = %err, "activesync request refused");
                return plain(StatusCode::BAD_REQUEST, &err.to_string());
            }
        };
        // A client that names no version speaks the oldest we know.
        let version = request.version.unwrap_or(ProtocolVersion::V12_1);
        if let Err(r) = self.check_access(&principal, req).await {
            return r;
        }
        let device = match self.device(&principal, &request, version, req).await {
            Ok(d) => d,
            Err(r) => return r,
        };
        let ctx = Context { principal, device, request, version, body: req.body.clone() };
        if let Some(r) = self.gate(&ctx).await {
            return r;
        }
        self.dispatch(ctx).await
    }

    async fn authenticate(&self, req: &HttpRequest) -> Result<Principal, Response<Bytes>> {
        let challenge = || {
            let mut r = plain(StatusCode::UNAUTHORIZED, "");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ActiveSync\", charset=\"UTF-8\""),
            );
            r
        };
        let Some((user, password)) = axigen_protocols::http::basic_credentials(&req.headers) else {
            return Err(challenge());
        };
        let password = password.as_str();
        // `DOMAIN\user` as some clients send it: the part after the backslash.
        let user = user.rsplit('\\').next().unwrap_or(&user);
        match self.throttle.authenticate(self.directory.as_ref(), req.peer.ip(), user, password).await {
            Ok(p) => Ok(p),
            Err(LoginError::Refused(reason)) => {
                warn!(peer = %req.peer, user = %user, %reason, "activesync login refused by the login throttle");
                Err(plain(StatusCode::TOO_MANY_REQUESTS, &format!("{reason}; try again later")))
            }
            Err(LoginError::InvalidCredentials) => {
                info!(peer = %req.peer, user = %user, "activesync authentication failed");
                Err(challenge())
            }
            Err(LoginError::Unavailable(err)) => {
                warn!(peer = %req.peer, error = %err, "directory unavailable");
                Err(plain(StatusCode::SERVICE_UNAVAILABLE, ""))
            }
        }
    }

    /// Policy, then licence; a seat is taken on first use.
    async fn check_access(&self, principal: &Principal, req: &HttpRequest) -> Result<(), Response<Bytes>> {
        let (allowed, reason) =
            axigen_core::access::activesync_access(self.directory.as_ref(), &self.licensing, principal.account).await;
        if !allowed {
            info!(peer = %req.peer, account = %principal.account, reason = %reason, "activesync access refused");
            return Err(plain(
                StatusCode::FORBIDDEN,
                &format!("ActiveSync is not available for this account: {reason}"),
            ));
        }
        if let Err(refusal) = self.licensing.authorize(principal.account, Feature::ActiveSync).await {
            info!(peer = %req.peer, account = %principal.account, reason = %refusal, "activesync access refused");
            return Err(plain(
                StatusCode::FORBIDDEN,
                &format!("ActiveSync is not available for this account: {refusal}"),
            ));
        }
        Ok(())
    }

    /// The device record, created on first sight and kept current.
    async fn device(
        &self,
        principal: &Principal,
        request: &EasRequest,
        version: ProtocolVersion,
        req: &HttpRequest,
    ) -> Result<Device, Response<Bytes>> {
        let stored = self.devices.device(principal.account, &request.device_id).await.map_err(|err| {
            warn!(account = %principal.account, error = %err, "cannot read the device record");
            plain(StatusCode::SERVICE_UNAVAILABLE, "")
        })?;
        let kind = request.device_type.clone();
        let protocol = version.as_str().to_owned();
        let agent = req.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let refresh = move |d: &mut Device| {
            d.device_type = kind;
            d.protocol_version = protocol;
            // What the device says of itself in DeviceInformation wins over
            // the HTTP header, which only fills a gap.
            if d.user_agent.is_none() {
                d.user_agent = agent;
            }
        };
        let device = match stored {
            None => {
                let mut device = Device {
                    account: principal.account,
                    device_id: request.device_id.clone(),
                    device_type: String::new(),
                    model: None,
                    friendly_name: None,
                    os: None,
                    user_agent: None,
                    protocol_version: String::new(),
                    first_seen: unix_now(),
                    last_sync: 0,
                    policy_key: 0,
                    pending_policy_key: None,
                    policy_digest: None,
                    access: DeviceAccess::Allowed,
                    wipe: WipeState::None,
                };
                refresh(&mut device);
                info!(account = %principal.account, device = %device.device_id, kind = %device.device_type, "new activesync device");
                self.devices.put_device(device.clone()).await.map_err(|err| {
                    warn!(account = %device.account, error = %err, "cannot store the device record");
                    plain(StatusCode::SERVICE_UNAVAILABLE, "")
                })?;
                device
            }
            Some(stored) => {
                let mut probe = stored.clone();
                let apply = refresh.clone();
                apply(&mut probe);
                if probe == stored { stored } else { self.update(&stored, refresh).await? }
            }
        };
        if device.access == DeviceAccess::Blocked {
            info!(account = %principal.account, device = %device.device_id, "activesync device blocked by the administrator");
            return Err(plain(StatusCode::FORBIDDEN, "this device is blocked"));
        }
        Ok(device)
    }

    /// Changes the stored device in one atomic step (an administrator's
    /// decision taken meanwhile stays); the device as stored afterwards.
    pub(crate) async fn update(
        &self,
        device: &Device,
        change: impl FnOnce(&mut Device) + Send + 'static,
    ) -> Result<Device, Response<Bytes>> {
        self.devices.update_device(device.account, &device.device_id, Box::new(change)).await.map_err(|err| {
            warn!(account = %device.account, device = %device.device_id, error = %err, "cannot store the device record");
            plain(StatusCode::SERVICE_UNAVAILABLE, "")
        })
    }

    /// Quarantine, remote wipe and provisioning: `Some` stops the request.
    async fn gate(&self, ctx: &Context) -> Option<Response<Bytes>> {
        let command = ctx.request.command;
        if command == Command::Provision {
            return None;
        }
        let modern = ctx.version >= ProtocolVersion::V14_0;
        if matches!(ctx.device.wipe, WipeState::Pending { .. } | WipeState::Sent { .. }) {
            info!(account = %ctx.principal.account, device = %ctx.device.device_id, "remote wipe pending: asking the device to provision");
            return Some(if modern { status_only(command, 140) } else { plain(StatusCode::from_u16(449).ok()?, "") });
        }
        let current = match self.policy_key_for(ctx.principal.account).await {
            Ok(k) => k,
            Err(err) => {
                warn!(account = %ctx.principal.account, error = %err, "cannot build the policy");
                return Some(plain(StatusCode::SERVICE_UNAVAILABLE, ""));
            }
        };
        let provisioned = ctx.device.policy_key == current && ctx.request.policy_key == Some(current);
        if !provisioned {
            debug!(account = %ctx.principal.account, device = %ctx.device.device_id, "device not provisioned for the current policy");
            if !modern {
                return Some(plain(StatusCode::from_u16(449).ok()?, ""));
            }
            let status = if ctx.request.policy_key.unwrap_or(0) == 0 { 142 } else { 144 };
            return Some(status_only(command, status));
        }
        if ctx.device.access == DeviceAccess::Quarantined
            && !matches!(command, Command::FolderSync | Command::Settings | Command::Ping)
        {
            info!(account = %ctx.principal.account, device = %ctx.device.device_id, command = command.name(), "device in quarantine");
            return Some(plain(StatusCode::FORBIDDEN, "this device is waiting for the administrator's approval"));
        }
        None
    }

    async fn dispatch(&self, ctx: Context) -> Response<Bytes> {
        let command = ctx.request.command;
        // Commands that carry no WBXML body.
        // SendMail, SmartReply and SmartForward carry either a ComposeMail
        // document (14.0 and later) or the MIME message itself.
        let wbxml_body = ctx.body.starts_with(&[0x03, 0x01, 0x6a]);
        let raw_mime =
            matches!(command, Command::SendMail | Command::SmartForward | Command::SmartReply) && !wbxml_body;
        let root = if ctx.body.is_empty() || raw_mime || command == Command::GetAttachment {
            None
        } else {
            match wbxml::decode(&ctx.body) {
                Ok(root) => Some(root),
                Err(err) => {
                    info!(account = %ctx.principal.account, device = %ctx.device.device_id, command = command.name(), error = %err, "malformed WBXML");
                    // MS-ASCMD 2.2.2: InvalidWBXML.
                    return status_only(command, err.eas_status().unwrap_or(102));
                }
            }
        };
        match command {
            Command::Provision => self.provision(ctx, root).await,
            Command::FolderSync => self.folder_sync(ctx, root).await,
            Command::Sync => self.sync(ctx, root).await,
            Command::GetItemEstimate => self.get_item_estimate(ctx, root).await,
            Command::Ping => self.ping(ctx, root).await,
            Command::ItemOperations => self.item_operations(ctx, root).await,
            Command::FolderCreate => self.folder_create(ctx, root).await,
            Command::FolderUpdate => self.folder_update(ctx, root).await,
            Command::FolderDelete => self.folder_delete(ctx, root).await,
            Command::MoveItems => self.move_items(ctx, root).await,
            Command::SendMail | Command::SmartReply | Command::SmartForward => self.compose(ctx, root).await,
            Command::Settings => self.settings(ctx, root).await,
            Command::ResolveRecipients => self.resolve_recipients(ctx, root).await,
            Command::Search => self.search(ctx, root).await,
            Command::Find => self.find(ctx, root).await,
            other => {
                info!(account = %ctx.principal.account, device = %ctx.device.device_id, command = other.name(), "command not available yet");
                // MS-ASCMD 2.2.2: 137 NotYetImplemented... for commands this
                // server does not serve yet; an HTTP 501 for clients < 14.
                if ctx.version >= ProtocolVersion::V14_0 {
                    status_only(other, 137)
                } else {
                    plain(StatusCode::NOT_IMPLEMENTED, "")
                }
            }
        }
    }
}

/// The answer to OPTIONS (MS-ASHTTP 2.2.4): versions and commands.
fn options_response() -> Response<Bytes> {
    let versions: Vec<&str> = ProtocolVersion::ALL.iter().map(|v| v.as_str()).collect();
    let commands: Vec<&str> = crate::SERVED_COMMANDS.iter().map(|c| c.name()).collect();
    Response::builder()
        .status(StatusCode::OK)
        .header(header::ALLOW, "OPTIONS,POST")
        .header("Public", "OPTIONS,POST")
        .header("MS-Server-ActiveSync", SERVER_VERSION)
        .header("MS-ASProtocolVersions", versions.join(","))
        .header("MS-ASProtocolCommands", commands.join(","))
        .body(Bytes::new())
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, ""))
}
