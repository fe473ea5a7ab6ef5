//! Starting the server: store, admin credential, declarative directory,
//! licensing, certificates, listeners, and graceful shutdown.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axigen_activesync::{ActiveSync, ActiveSyncConfig, HttpRequest};
use axigen_core::delivery::DeliveryFilter;
use axigen_core::directory::{Directory, DirectoryAdmin};
use axigen_core::license::{LicenseProvider, Licensing, SignedLicenseProvider, StaticLicenseProvider};
use axigen_core::login_throttle::LoginThrottle;
use axigen_core::model::{Account, AccountClass, Address, Alias, Domain, DomainName, NewAccount};
use axigen_core::password::{hash_password, random_password, verify_password};
use axigen_core::rpop::{RpopSource, RpopStore};
use axigen_protocols::dav::{Dav, DavConfig, DavRequest};
use axigen_protocols::dns::MxResolver;
use axigen_protocols::imap::limits::AccountConnections;
use axigen_protocols::imap::recent::RecentTracker;
use axigen_protocols::imap::server::{ImapConfig, ImapService};
use axigen_protocols::imap::sort_keys::KeyCache;
use axigen_protocols::inbound::{CommandScanner, InboundBackend, RulesFilter};
use axigen_protocols::listener::{ConnInfo, Connection, Listener, RequestLimits, Service};
use axigen_protocols::outbound::{DeliveryConfig, DeliveryService, SmartHost};
use axigen_protocols::pop3::{Pop3Config, Pop3Service};
use axigen_protocols::rpop::{RpopConfig, RpopFetcher};
use axigen_protocols::smtp::client::Credentials;
use axigen_protocols::smtp::{Role, SmtpBackend, SmtpConfig, SmtpService};
use axigen_store::{Store, StoreOptions};
use tracing::{error, info, warn};

use crate::admin::AdminApi;
use crate::config::{Config, LogFormat, SERVICES};

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn open_store(config: &Config) -> Result<Store, String> {
    open_store_with(config, true)
}

/// Opens the store; `serving` refuses a damaged one (see
/// `StoreOptions::verify_on_open`).
fn open_store_with(config: &Config, serving: bool) -> Result<Store, String> {
    let options = StoreOptions {
        verify_on_open: serving,
        min_free_bytes: config.store.min_free_mb << 20,
        listing_cache_messages: config.store.listing_cache_messages,
        ..StoreOptions::default()
    };
    let path = config.data_dir.join("store");
    Store::open(&path, options).map_err(|e| match e {
        axigen_core::Error::Damaged(why) => format!("refusing to serve from a damaged store: {why}"),
        e => format!("{e} (is another server running on {}?)", path.display()),
    })
}

fn runtime(config: &Config) -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if config.worker_threads > 0 {
        b.worker_threads(config.worker_threads);
    }
    b.enable_all().build().expect("building the tokio runtime")
}

/// `server check`.
pub fn check(config: Config, deep: bool) -> ExitCode {
    let store = match open_store_with(&config, false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot open the store: {e}");
            return ExitCode::from(1);
        }
    };
    match store.check(deep) {
        Ok(report) => {
            println!(
                "checked {} accounts, {} folders, {} messages, {} groupware items, {} blobs, {} change-log entries, {} \
                 queued",
                report.accounts,
                report.folders,
                report.messages,
                report.items,
                report.blobs,
                report.changes,
                report.queued
            );
            for f in &report.findings {
                println!("PROBLEM {}: {}", f.object, f.problem);
            }
            if report.is_clean() {
                println!("store is consistent");
                ExitCode::SUCCESS
            } else {
                println!("{} problem(s) found", report.findings.len());
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("check failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// `server admin-password`.
pub fn admin_password(config: Config, user: &str) -> ExitCode {
    let rt = runtime(&config);
    let result = rt.block_on(async {
        let store = open_store(&config)?;
        let pw = random_password(20);
        store.set_admin_credential(user, &pw).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(pw)
    });
    match result {
        Ok(pw) => {
            println!("admin credential set: user `{user}`, password `{pw}`");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Raises the soft limit on open files to the hard limit: each connection
/// is a file, and the default soft limit (often 1024) is far below what the
/// listeners accept. Says so when the limit stays below what they need.
fn raise_open_file_limit(config: &Config) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    // Every listener full, plus the store's files and some room.
    let wanted: u64 = config.listeners.iter().map(|l| u64::from(l.max_connections)).sum::<u64>() + 1024;
    let limit = getrlimit(Resource::Nofile);
    let (soft, hard) = (limit.current.unwrap_or(u64::MAX), limit.maximum);
    let target = hard.unwrap_or(u64::MAX).min(wanted.max(soft));
    if target > soft {
        let raised = rustix::process::Rlimit { current: Some(target), maximum: hard };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            warn!(error = %e, soft, "cannot raise the open-file limit");
        }
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now < wanted {
        warn!(
            open_files = now,
            wanted,
            "the open-file limit is below what the listeners may accept (raise `ulimit -n` or lower listener.max_connections)"
        );
    } else {
        info!(open_files = now, "open-file limit");
    }
}

/// `server` / `server run`.
pub fn run(config: Config) -> ExitCode {
    init_logging(&config);
    raise_open_file_limit(&config);
    axigen_core::password::configure_verified_cache(
        std::time::Duration::from_secs(config.auth.verified_cache_seconds),
        config.auth.verified_cache_entries,
    );
    let rt = runtime(&config);
    match rt.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Applies the `[defaults]` and `[directory]` sections: creates what is
/// missing, updates what differs, and leaves everything else alone, so
/// restarting with the same file changes nothing.
async fn apply_directory(store: &Store, config: &Config) -> Result<(), String> {
    let stored = store.server_level_settings().map_err(|e| e.to_string())?;
    for (name, value) in &config.defaults {
        if stored.get(name) != Some(value) {
            store.set_server_default(name, Some(*value)).await.map_err(|e| format!("defaults.\"{name}\": {e}"))?;
        }
    }
    let d = &config.directory;
    for (i, dom) in d.domain.iter().enumerate() {
        let name = DomainName::new(&dom.name).map_err(|e| format!("directory.domain[{i}].name: {e}"))?;
        let wanted = Domain { name: name.clone(), settings: dom.settings, postmaster: dom.postmaster.clone() };
        if store.domain(&name).await.map_err(|e| e.to_string())?.as_ref() != Some(&wanted) {
            store.put_domain(wanted).await.map_err(|e| format!("directory.domain[{i}]: {e}"))?;
        }
    }
    for (i, c) in d.class.iter().enumerate() {
        let domain = DomainName::new(&c.domain).map_err(|e| format!("directory.class[{i}].domain: {e}"))?;
        let wanted = AccountClass { domain: domain.clone(), name: c.name.clone(), settings: c.settings };
        if store.class(&domain, &c.name).await.map_err(|e| e.to_string())?.as_ref() != Some(&wanted) {
            store.put_class(wanted).await.map_err(|e| format!("directory.class[{i}]: {e}"))?;
        }
    }
    for (i, a) in d.account.iter().enumerate() {
        let key = format!("directory.account[{i}]");
        let address = Address::parse(&a.address).map_err(|e| format!("{key}.address: {e}"))?;
        match store.account_by_address(&address).await.map_err(|e| e.to_string())? {
            None => {
                store
                    .create_account(NewAccount {
                        address,
                        class: a.class.clone(),
                        display_name: a.display_name.clone(),
                        password: a.password.clone(),
                        settings: a.settings,
                    })
                    .await
                    .map_err(|e| format!("{key}: {e}"))?;
            }
            Some(existing) => {
                let mut wanted = Account {
                    class: a.class.clone(),
                    display_name: a.display_name.clone(),
                    settings: a.settings,
                    ..existing.clone()
                };
                if !verify_password(&a.password, &existing.password_hash) {
                    wanted.password_hash = hash_password(&a.password).map_err(|e| e.to_string())?;
                }
                if wanted != existing {
                    store.update_account(wanted).await.map_err(|e| format!("{key}: {e}"))?;
                }
            }
        }
    }
    for (i, al) in d.alias.iter().enumerate() {
        let key = format!("directory.alias[{i}]");
        let address = Address::parse(&al.address).map_err(|e| format!("{key}.address: {e}"))?;
        let target = Address::parse(&al.account).map_err(|e| format!("{key}.account: {e}"))?;
        let account = store
            .account_by_address(&target)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{key}.account: no account {target}"))?;
        let wanted = Alias { address: address.clone(), account: account.id };
        if store.alias(&address).await.map_err(|e| e.to_string())?.as_ref() != Some(&wanted) {
            store.put_alias(wanted).await.map_err(|e| format!("{key}: {e}"))?;
        }
    }
    for (i, r) in d.rpop.iter().enumerate() {
        let key = format!("directory.rpop[{i}]");
        let target = Address::parse(&r.account).map_err(|e| format!("{key}.account: {e}"))?;
        let account = store
            .account_by_address(&target)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{key}.account: no account {target}"))?;
        let wanted = RpopSource {
            account: account.id,
            name: r.name.clone(),
            host: r.host.clone(),
            port: r.port,
            tls: r.tls,
            username: r.username.clone(),
            password: r.password.clone(),
            folder: r.folder.clone(),
            leave_on_server: r.leave_on_server,
            interval_secs: r.interval_secs,
            enabled: r.enabled,
        };
        let existing = store.account_rpop_sources(account.id).await.map_err(|e| e.to_string())?;
        if !existing.contains(&wanted) {
            store.put_rpop_source(wanted).await.map_err(|e| format!("{key}: {e}"))?;
        }
    }
    Ok(())
}

/// The RPOP fetcher, unless `[rpop] enabled = false`.
fn rpop_fetcher(
    config: &Config,
    store: Arc<Store>,
    inbound: Arc<InboundBackend>,
) -> Result<Option<Arc<RpopFetcher>>, String> {
    if !config.rpop.enabled {
        info!("rpop is off (rpop.enabled = false)");
        return Ok(None);
    }
    let mut rpop = RpopConfig::new(config.hostname.clone());
    rpop.max_concurrent = config.rpop.max_concurrent;
    rpop.ca_file = Some(config.rpop.ca_file.clone());
    rpop.poll_interval = std::time::Duration::from_secs(config.rpop.poll_seconds);
    let fetcher = RpopFetcher::new(rpop, store.clone(), store, inbound).map_err(|e| format!("rpop: {e}"))?;
    Ok(Some(Arc::new(fetcher)))
}

fn licensing(config: &Config, store: Arc<Store>) -> Result<(Licensing, Option<Arc<SignedLicenseProvider>>), String> {
    let Some(pk) = &config.license.public_key else {
        info!("no vendor public key configured: running unlicensed (licensed features are refused)");
        return Ok((Licensing::new(Arc::new(StaticLicenseProvider(None)), store), None));
    };
    let provider =
        Arc::new(SignedLicenseProvider::without_license(pk).map_err(|e| format!("license.public_key: {e}"))?);
    if let Some(file) = &config.license.file {
        let lic = provider.reload_from_file(file).map_err(|e| format!("license.file ({}): {e}", file.display()))?;
        info!(edition = %lic.edition, licensee = %lic.licensee, id = %lic.id, "licence installed");
    }
    let dynamic: Arc<dyn LicenseProvider> = provider.clone();
    Ok((Licensing::new(dynamic, store), Some(provider)))
}

/// The SMTP backend: the store as directory, mailbox and queue, the
/// configured processing rules, then the external scanners.
fn inbound_backend(config: &Config, store: Arc<Store>) -> Result<Arc<InboundBackend>, String> {
    let mut filters: Vec<Arc<dyn DeliveryFilter>> = Vec::new();
    if !config.processing.rule.is_empty() {
        let rules = RulesFilter::new(config.processing.rule.clone()).map_err(|e| format!("processing.rule: {e}"))?;
        filters.push(Arc::new(rules));
    }
    for s in &config.processing.scanner {
        filters.push(Arc::new(CommandScanner::new(s.clone())));
    }
    let backend = InboundBackend::new(
        store.clone(),
        store.clone(),
        store.clone(),
        filters,
        config.hostname.clone(),
        config.smtp.max_message_size,
    );
    Ok(Arc::new(backend.with_auto_reply(store.clone()).with_items(store)))
}

/// The outbound delivery service, unless `[delivery] enabled = false`. A
/// resolver that cannot be set up (no `[dns]` name servers and no readable
/// system configuration) leaves mail queued and says so, rather than
/// keeping the server from starting.
fn delivery_service(
    config: &Config,
    store: Arc<Store>,
    inbound: Arc<InboundBackend>,
) -> Result<Option<Arc<DeliveryService>>, String> {
    let d = &config.delivery;
    if !d.enabled {
        info!("outbound delivery is off (delivery.enabled = false): remote mail stays queued");
        return Ok(None);
    }
    let resolver = match MxResolver::new(&config.dns) {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "outbound delivery not started: no DNS resolver; remote mail stays queued");
            return Ok(None);
        }
    };
    let mut delivery = DeliveryConfig::new(config.hostname.clone());
    delivery.port = d.port;
    delivery.max_connections = d.max_connections;
    delivery.per_domain = d.per_domain;
    delivery.require_tls = d.require_tls.clone();
    delivery.ca_file = Some(d.ca_file.clone());
    delivery.schedule = d.retry.clone();
    delivery.smart_host = d.smart_host.as_ref().map(|r| SmartHost {
        host: r.host.clone(),
        port: r.port,
        credentials: match (&r.user, &r.password) {
            (Some(user), Some(password)) => Some(Credentials { user: user.clone(), password: password.clone() }),
            _ => None,
        },
        require_tls: r.require_tls,
    });
    let service = DeliveryService::new(delivery, store, resolver, inbound).map_err(|e| format!("delivery: {e}"))?;
    Ok(Some(Arc::new(service)))
}

/// The HTTP listeners: ActiveSync at `/Microsoft-Server-ActiveSync`,
/// CalDAV and CardDAV under `/dav/` (and `/.well-known/caldav`,
/// `/.well-known/carddav`), the admin API everywhere else.
struct HttpService {
    admin: Arc<AdminApi>,
    activesync: Arc<ActiveSync>,
    dav: Arc<Dav>,
}

#[async_trait]
impl Service for HttpService {
    async fn serve(&self, conn: Box<dyn Connection>, info: ConnInfo, _tls: Option<Arc<rustls::ServerConfig>>) {
        let (admin, activesync, dav) = (self.admin.clone(), self.activesync.clone(), self.dav.clone());
        let (peer, tls, limits) = (info.peer, info.tls, info.request);
        let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let (admin, activesync, dav) = (admin.clone(), activesync.clone(), dav.clone());
            async move {
                Ok::<_, std::convert::Infallible>(if ActiveSync::serves(req.uri().path()) {
                    activesync_request(&activesync, req, peer, tls, limits).await
                } else if dav.serves(req.uri().path()) {
                    dav_request(&dav, req, peer, tls, limits).await
                } else {
                    admin.handle(req, peer.ip(), limits).await
                })
            }
        });
        let result = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(crate::admin::HEADER_READ_TIMEOUT.min(limits.timeout))
            .serve_connection(hyper_util::rt::TokioIo::new(conn), service)
            .await;
        if let Err(error) = result {
            tracing::debug!(%peer, %error, "http connection ended with an error");
        }
    }
}

/// Reads an ActiveSync request's body within the endpoint's limit and
/// answers it.
async fn activesync_request(
    activesync: &ActiveSync,
    req: hyper::Request<hyper::body::Incoming>,
    peer: std::net::SocketAddr,
    tls: bool,
    limits: RequestLimits,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use http_body_util::{BodyExt, Full, Limited};
    let (parts, body) = req.into_parts();
    let limit = activesync.config().max_request_bytes;
    let too_large = || {
        let mut r = hyper::Response::new(Full::new(bytes::Bytes::new()));
        *r.status_mut() = hyper::StatusCode::PAYLOAD_TOO_LARGE;
        r
    };
    let declared =
        parts.headers.get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        info!(%peer, bytes = declared, "activesync request refused: body too large");
        return too_large();
    }
    // A body trickling in is cut off (see RequestLimits).
    let deadline = crate::admin::body_deadline(limits, declared.unwrap_or(limit as u64));
    let body = match tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            info!(%peer, "activesync request refused: body too large or unreadable");
            return too_large();
        }
        Err(_) => {
            info!(%peer, "activesync request refused: the body took too long to arrive");
            let mut r = hyper::Response::new(Full::new(bytes::Bytes::new()));
            *r.status_mut() = hyper::StatusCode::REQUEST_TIMEOUT;
            r.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
            return r;
        }
    };
    let request = HttpRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        peer,
        tls,
    };
    activesync.handle(request).await.map(Full::new)
}

/// Reads a CalDAV/CardDAV request's body within the endpoint's limit and
/// answers it.
async fn dav_request(
    dav: &Dav,
    req: hyper::Request<hyper::body::Incoming>,
    peer: std::net::SocketAddr,
    tls: bool,
    limits: RequestLimits,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use http_body_util::{BodyExt, Full, Limited};
    let (parts, body) = req.into_parts();
    let limit = dav.config().max_request_bytes;
    let status = |code: hyper::StatusCode| {
        let mut r = hyper::Response::new(Full::new(bytes::Bytes::new()));
        *r.status_mut() = code;
        r
    };
    let declared =
        parts.headers.get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        info!(%peer, bytes = declared, "dav request refused: body too large");
        return status(hyper::StatusCode::PAYLOAD_TOO_LARGE);
    }
    let deadline = crate::admin::body_deadline(limits, declared.unwrap_or(limit as u64));
    let body = match tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            info!(%peer, "dav request refused: body too large or unreadable");
            return status(hyper::StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(_) => {
            info!(%peer, "dav request refused: the body took too long to arrive");
            let mut r = status(hyper::StatusCode::REQUEST_TIMEOUT);
            r.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
            return r;
        }
    };
    let request =
        DavRequest { method: parts.method, path: parts.uri.path().to_owned(), headers: parts.headers, body, peer, tls };
    dav.handle(request).await.map(Full::new)
}

async fn serve(config: Config) -> Result<(), String> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("data_dir {}: {e}", config.data_dir.display()))?;
    let store = Arc::new(open_store(&config)?);
    info!(path = %store.path().display(), format = axigen_store::FORMAT_VERSION, "store open");

    let admin_pw = random_password(20);
    if store.init_admin_credential("admin", &admin_pw).await.map_err(|e| e.to_string())? {
        // Printed once, on the first start; afterwards only its hash exists.
        println!("First start: admin API credential is user `admin`, password `{admin_pw}`");
        println!("(shown once; set a new one with `cargo run --example server -- admin-password`)");
    }
    apply_directory(&store, &config).await?;

    let (licensing, provider) = licensing(&config, store.clone())?;
    let activesync_licensing = Arc::new(licensing.clone());
    // One login throttle for every service (SMTP AUTH, IMAP, POP3,
    // ActiveSync, the admin API): failures on one count on all.
    let auth_throttle = Arc::new(LoginThrottle::new(config.auth.throttle.policy()));
    let admin = Arc::new(AdminApi::new(store.clone(), licensing, provider, auth_throttle.clone()));

    // TLS: listeners without their own certificate use the development
    // certificate, generated on first start.
    let needs_dev_cert = config.listeners.iter().any(|l| l.certificate.is_none());
    let dev_tls = if needs_dev_cert {
        let (cert, key, created) =
            axigen_protocols::tls::ensure_dev_certificate(&config.data_dir, &config.tls.hostnames)
                .map_err(|e| format!("development certificate: {e}"))?;
        if created {
            info!(certificate = %cert.display(), "generated a self-signed development certificate");
        }
        Some(axigen_protocols::tls::load_server_config(&cert, &key).map_err(|e| e.to_string())?)
    } else {
        None
    };

    let inbound = inbound_backend(&config, store.clone())?;
    // One count of logins per account for every IMAP listener, so that
    // `imap.max_connections_per_account` holds across imap and imaps.
    let imap_accounts = Arc::new(AccountConnections::new());
    // And one \Recent tracker, so a message is recent in one session of all.
    let imap_recent = Arc::new(RecentTracker::new());
    let imap_sort_keys = Arc::new(KeyCache::default());
    let activesync_config = ActiveSyncConfig { hostname: config.hostname.clone(), ..ActiveSyncConfig::default() };
    let activesync_submission: Arc<dyn SmtpBackend> = inbound.clone();
    let activesync = Arc::new(
        ActiveSync::new(
            activesync_config,
            store.clone(),
            store.clone(),
            store.clone(),
            activesync_licensing,
            store.notifier().clone(),
        )
        .with_throttle(auth_throttle.clone())
        .with_submission(activesync_submission)
        .with_auto_reply(store.clone()),
    );

    let dav_config = DavConfig {
        allow_plaintext: config.dav.allow_plaintext,
        hostname: config.hostname.clone(),
        ..DavConfig::default()
    };
    // Invitations (iMIP) take the submission path, as ActiveSync's mail does.
    let dav_submission: Arc<dyn SmtpBackend> = inbound.clone();
    let dav = Arc::new(
        Dav::new(dav_config, store.clone(), store.clone(), store.clone(), auth_throttle.clone())
            .with_submission(dav_submission),
    );

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for (i, l) in config.listeners.iter().enumerate() {
        let name = l.name.clone().unwrap_or_else(|| l.service.clone());
        let available = SERVICES.iter().any(|(s, ok)| *s == l.service && *ok);
        if !available {
            warn!(listener = %name, bind = %l.bind, service = %l.service,
                "listener not started: this build does not serve {} yet", l.service);
            continue;
        }
        let tls = match (&l.certificate, &l.key) {
            (Some(c), Some(k)) => Some(
                axigen_protocols::tls::load_server_config(c, k)
                    .map_err(|e| format!("listener[{i}].certificate: {e}"))?,
            ),
            _ => dev_tls.clone(),
        };
        let listener = Listener::bind(l, tls).map_err(|e| format!("listener[{i}] ({name}): {e}"))?;
        let service: Arc<dyn Service> = match l.service.as_str() {
            "http" => Arc::new(HttpService { admin: admin.clone(), activesync: activesync.clone(), dav: dav.clone() }),
            "imap" => {
                let mut imap = ImapConfig::new(config.hostname.clone());
                imap.max_connections_per_account = config.imap.max_connections_per_account;
                imap.max_commands_per_second = config.imap.max_commands_per_second;
                imap.allow_plaintext_login = config.imap.allow_plaintext_auth;
                Arc::new(
                    ImapService::new(imap, store.clone(), store.clone(), store.notifier().clone())
                        .with_throttle(auth_throttle.clone())
                        .with_account_connections(imap_accounts.clone())
                        .with_recent_tracker(imap_recent.clone())
                        .with_sort_keys(imap_sort_keys.clone()),
                )
            }
            "pop3" => {
                let mut pop3 = Pop3Config::new(config.hostname.clone());
                pop3.allow_plaintext_auth = config.pop3.allow_plaintext_auth;
                Arc::new(Pop3Service::new(pop3, store.clone(), store.clone()).with_throttle(auth_throttle.clone()))
            }
            "smtp" | "submission" => {
                let role = if l.service == "smtp" { Role::Mx } else { Role::Submission };
                let mut smtp = SmtpConfig::new(config.hostname.clone(), role);
                smtp.allow_plaintext_auth = config.smtp.allow_plaintext_auth;
                smtp.max_recipients = config.smtp.max_recipients;
                smtp.max_errors = config.smtp.max_errors;
                let backend: Arc<dyn SmtpBackend> = inbound.clone();
                Arc::new(SmtpService::new(smtp, backend).with_throttle(auth_throttle.clone()))
            }
            other => unreachable!("service {other} is marked available but has no handler"),
        };
        tasks.push(tokio::spawn(listener.run(service, shutdown_rx.clone())));
    }
    if tasks.is_empty() {
        return Err("no listener could be started".into());
    }
    if let Some(delivery) = delivery_service(&config, store.clone(), inbound.clone())? {
        tasks.push(tokio::spawn(delivery.run(shutdown_rx.clone())));
    }
    if let Some(fetcher) = rpop_fetcher(&config, store.clone(), inbound.clone())? {
        tasks.push(tokio::spawn(fetcher.run(shutdown_rx.clone())));
    }
    info!("server ready");

    wait_for_signal().await;
    info!("shutting down");
    let _ = shutdown_tx.send(true);
    let drain = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(15), drain).await.is_err() {
        warn!("connections still open after 15 s; closing anyway");
    }
    drop(admin);
    // A clean stop leaves everything in table files: the next start replays
    // no log.
    if let Err(e) = store.flush() {
        warn!(error = %e, "flushing the store at shutdown");
    }
    info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
