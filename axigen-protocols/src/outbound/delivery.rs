//! The delivery service: drains the outbound queue to the remote hosts.
//!
//! For each due message, per destination domain:
//!
//! 1. Its open recipients are recorded *in flight* before anything is sent
//!    (see [`RecipientState::InFlight`]).
//! 2. The hosts come from the smart host, or from [`MxResolver::route`]
//!    (MX order, implicit MX, null MX and unknown domains refused).
//! 3. Each address of each host is tried in order until one takes the
//!    transaction; a connection reused from an earlier message to that
//!    address is taken first. A domain listed in `require_tls` gets
//!    STARTTLS with a verified certificate or nothing; any other gets
//!    STARTTLS when offered, without certificate checks (RFC 7435
//!    opportunistic security), and clear text when the handshake fails.
//! 4. Each recipient ends delivered (2xx), failed (5xx, or a permanent
//!    route failure) or deferred (4xx, no host reachable), and the outcome
//!    is recorded in one durable write.
//!
//! Deferred recipients are tried again by the [`RetrySchedule`]; past the
//! queue lifetime they fail. The sender (unless the null sender) gets a
//! failure report for failed recipients and, once, a delay report.
//! Concurrency is bounded globally (`max_connections`) and per
//! destination domain (`per_domain`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axigen_core::queue::{Attempt, QueueEntry, QueueId, QueueStore, RecipientState};
use axigen_core::unix_now;
use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};

use super::schedule::{Next, RetrySchedule};
use crate::dns::{MxHost, MxResolver, RouteError};
use crate::dsn;
use crate::smtp::client::{ClientConfig, ClientError, Credentials, SmtpClient, Timeouts, TlsPolicy};

/// A relay all mail goes through instead of the MX hosts.
#[derive(Debug, Clone)]
pub struct SmartHost {
    /// Host name or IP address.
    pub host: String,
    /// Port (587 or 25 usually).
    pub port: u16,
    /// AUTH credentials, if the relay wants them.
    pub credentials: Option<Credentials>,
    /// Whether STARTTLS (verified) is required.
    pub require_tls: bool,
}

/// How mail is sent.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The name in EHLO and in the reports.
    pub hostname: String,
    /// The remote port (25; tests use another).
    pub port: u16,
    /// Retries, lifetime, delay warning.
    pub schedule: RetrySchedule,
    /// Deliveries at once.
    pub max_connections: usize,
    /// Deliveries at once to one destination domain, and idle connections
    /// kept per remote address.
    pub per_domain: usize,
    /// Domains whose hosts must offer STARTTLS with a certificate that
    /// verifies against `ca_file`.
    pub require_tls: Vec<String>,
    /// Trusted roots for verified TLS (PEM).
    pub ca_file: Option<PathBuf>,
    /// A relay instead of MX hosts.
    pub smart_host: Option<SmartHost>,
    /// How often the queue is looked at when nothing wakes the service.
    pub poll_interval: Duration,
    /// Per-command timeouts.
    pub timeouts: Timeouts,
    /// How long an idle connection is kept for the next message.
    pub idle_keep: Duration,
}

impl DeliveryConfig {
    /// Defaults for a server called `hostname`.
    pub fn new(hostname: impl Into<String>) -> DeliveryConfig {
        DeliveryConfig {
            hostname: hostname.into(),
            port: 25,
            schedule: RetrySchedule::default(),
            max_connections: 20,
            per_domain: 4,
            require_tls: Vec::new(),
            ca_file: Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")),
            smart_host: None,
            poll_interval: Duration::from_secs(5),
            timeouts: Timeouts::default(),
            idle_keep: Duration::from_secs(30),
        }
    }
}

/// Where reports to senders go (the local delivery path, which files
/// them in a local sender's INBOX or queues them).
#[async_trait]
pub trait SenderNotifier: Send + Sync {
    /// Delivers `report` to `sender` with the null reverse path.
    async fn notify_sender(&self, sender: &str, report: Bytes) -> Result<(), String>;
}

/// An idle connection kept for the next message to the same address.
struct Idle {
    client: SmtpClient,
    since: Instant,
}

/// The service.
pub struct DeliveryService {
    config: DeliveryConfig,
    queue: Arc<dyn QueueStore>,
    resolver: MxResolver,
    notifier: Arc<dyn SenderNotifier>,
    opportunistic: Arc<rustls::ClientConfig>,
    verified: Arc<rustls::ClientConfig>,
    global: Arc<Semaphore>,
    domains: Mutex<HashMap<String, Arc<Semaphore>>>,
    busy: Mutex<HashSet<QueueId>>,
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
    wake: Notify,
}

/// Outcome of trying one domain's recipients.
type Outcomes = Vec<(String, RecipientState, (u8, u16, u16), Option<String>)>;

impl DeliveryService {
    /// The service over a queue, a resolver and the path for reports.
    pub fn new(
        config: DeliveryConfig,
        queue: Arc<dyn QueueStore>,
        resolver: MxResolver,
        notifier: Arc<dyn SenderNotifier>,
    ) -> Result<DeliveryService, String> {
        config.schedule.validate()?;
        if config.max_connections == 0 || config.per_domain == 0 {
            return Err("delivery.max_connections and delivery.per_domain must be at least 1".into());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        if let Some(file) = &config.ca_file
            && file.exists()
        {
            let certs = crate::tls::load_certificates(file).map_err(|e| format!("delivery.ca_file: {e}"))?;
            let (_, ignored) = roots.add_parsable_certificates(certs);
            if ignored > 0 {
                tracing::debug!(ignored, "delivery.ca_file: some certificates could not be used");
            }
        }
        let verified = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("delivery TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let opportunistic = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("delivery TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(super::tls::Unverified(provider)))
            .with_no_client_auth();
        Ok(DeliveryService {
            global: Arc::new(Semaphore::new(config.max_connections)),
            config,
            queue,
            resolver,
            notifier,
            opportunistic: Arc::new(opportunistic),
            verified: Arc::new(verified),
            domains: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashSet::new()),
            idle: Mutex::new(HashMap::new()),
            wake: Notify::new(),
        })
    }

    /// Makes the service look at the queue now (a message was queued).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(max_connections = self.config.max_connections, "outbound delivery started");
        loop {
            let this = self.clone();
            tokio::spawn(async move { this.run_once().await });
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        break;
                    }
                }
            }
            self.drop_stale_connections();
        }
        tracing::info!("outbound delivery stopped");
    }

    /// Tries every due message that is not being tried already, and waits
    /// for those attempts; the number of messages tried.
    pub async fn run_once(self: &Arc<Self>) -> usize {
        let now = unix_now();
        let entries = match self.queue.queued().await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbound queue");
                return 0;
            }
        };
        let mut tasks = Vec::new();
        for entry in entries.into_iter().filter(|e| e.next_attempt <= now) {
            if !self.busy.lock().unwrap_or_else(|e| e.into_inner()).insert(entry.id) {
                continue;
            }
            let this = self.clone();
            tasks.push(tokio::spawn(async move {
                let id = entry.id;
                this.attempt(entry).await;
                this.busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            }));
        }
        let n = tasks.len();
        for t in tasks {
            let _ = t.await;
        }
        n
    }

    fn domain_limit(&self, domain: &str) -> Arc<Semaphore> {
        let mut map = self.domains.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(domain.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(self.config.per_domain))).clone()
    }

    fn drop_stale_connections(&self) {
        let keep = self.config.idle_keep;
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        for list in idle.values_mut() {
            list.retain(|c| c.since.elapsed() < keep && c.client.is_usable());
        }
        idle.retain(|_, l| !l.is_empty());
    }

    fn take_idle(&self, addr: SocketAddr) -> Option<SmtpClient> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&addr)?;
        while let Some(c) = list.pop() {
            if c.since.elapsed() < self.config.idle_keep && c.client.is_usable() {
                return Some(c.client);
            }
        }
        None
    }

    fn keep_idle(&self, addr: SocketAddr, client: SmtpClient) {
        if !client.is_usable() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(addr).or_default();
        if list.len() < self.config.per_domain {
            list.push(Idle { client, since: Instant::now() });
        }
    }

    /// One attempt for one message.
    async fn attempt(&self, entry: QueueEntry) {
        let id = entry.id;
        let content = match self.queue.queued_content(id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(queue_id = id.0, error = %e, "cannot read a queued message");
                return;
            }
        };
        let open: Vec<String> = entry.open_recipients().map(|r| r.address.clone()).collect();
        if open.is_empty() {
            return;
        }
        // Before anything is sent: in flight.
        let since = unix_now();
        let before = Attempt {
            outcomes: open.iter().map(|a| (a.clone(), RecipientState::InFlight { since })).collect(),
            next_attempt: entry.next_attempt,
            counts: false,
            delay_notified: false,
        };
        if let Err(e) = self.queue.record_attempt(id, before).await {
            tracing::error!(queue_id = id.0, error = %e, "cannot record a delivery attempt");
            return;
        }
        let mut by_domain: HashMap<String, Vec<String>> = HashMap::new();
        for address in open {
            let domain = address.rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase();
            by_domain.entry(domain).or_default().push(address);
        }
        let mut outcomes: Outcomes = Vec::new();
        for (domain, recipients) in by_domain {
            let _global = self.global.clone().acquire_owned().await;
            let _domain = self.domain_limit(&domain).acquire_owned().await;
            outcomes.extend(self.deliver_domain(&entry, &domain, &recipients, &content).await);
        }
        self.finish(entry, outcomes, &content).await;
    }

    /// The hosts for a domain (or the smart host).
    async fn hosts(&self, domain: &str) -> Result<Vec<MxHost>, RouteError> {
        let Some(relay) = &self.config.smart_host else { return self.resolver.route(domain).await };
        if let Ok(ip) = relay.host.parse() {
            return Ok(vec![MxHost { name: relay.host.clone(), preference: 0, addresses: vec![ip] }]);
        }
        // The relay's own address: its A/AAAA (route falls back to them
        // when it has no MX, which a relay host usually has not).
        self.resolver.route(&relay.host).await.map_err(|e| match e {
            RouteError::Permanent(why) | RouteError::Temporary(why) => {
                RouteError::Temporary(format!("smart host {}: {why}", relay.host))
            }
        })
    }

    async fn deliver_domain(&self, entry: &QueueEntry, domain: &str, rcpts: &[String], content: &Bytes) -> Outcomes {
        let each = |state: RecipientState, status: (u8, u16, u16), mta: Option<String>| -> Outcomes {
            rcpts.iter().map(|r| (r.clone(), state.clone(), status, mta.clone())).collect()
        };
        let now = unix_now();
        let hosts = match self.hosts(domain).await {
            Ok(h) => h,
            Err(RouteError::Permanent(why)) => {
                tracing::info!(queue_id = entry.id.0, %domain, reason = %why, "no route: recipients failed");
                let status = if why.contains("null MX") { (5, 1, 10) } else { (5, 1, 2) };
                return each(RecipientState::Failed { at: now, reply: why }, status, None);
            }
            Err(RouteError::Temporary(why)) => {
                tracing::info!(queue_id = entry.id.0, %domain, reason = %why, "no route now: deferred");
                return each(RecipientState::Deferred { last_error: why }, (4, 4, 3), None);
            }
        };
        let relay = self.config.smart_host.as_ref();
        let port = relay.map_or(self.config.port, |r| r.port);
        let required = relay
            .map_or_else(|| self.config.require_tls.iter().any(|d| d.eq_ignore_ascii_case(domain)), |r| r.require_tls);
        let mut last_error = String::from("no host could be reached");
        for host in &hosts {
            for ip in &host.addresses {
                let addr = SocketAddr::new(*ip, port);
                let client = match self.take_idle(addr) {
                    Some(c) => Ok(c),
                    None => self.connect(addr, &host.name, required).await,
                };
                let mut client = match client {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::info!(queue_id = entry.id.0, host = %host.name, %addr, error = %e, "cannot deliver to this host");
                        last_error = format!("{} [{addr}]: {e}", host.name);
                        continue;
                    }
                };
                match client.send(&entry.from, rcpts, content).await {
                    Ok(tx) => {
                        self.keep_idle(addr, client);
                        let mta = Some(host.name.clone());
                        return rcpts
                            .iter()
                            .enumerate()
                            .map(|(i, r)| {
                                let reply = tx.outcome(i).cloned();
                                let text = reply.as_ref().map_or_else(|| "no reply".to_owned(), |r| r.to_string());
                                let code = reply.as_ref().map_or(451, |r| r.code);
                                let enhanced = reply.as_ref().and_then(|r| r.enhanced);
                                let (state, status) = match code {
                                    200..=299 => (RecipientState::Delivered { at: unix_now(), reply: text }, (2, 0, 0)),
                                    500..=599 => {
                                        (RecipientState::Failed { at: unix_now(), reply: text }, enhanced.unwrap_or((5, 0, 0)))
                                    }
                                    _ => (RecipientState::Deferred { last_error: text }, enhanced.unwrap_or((4, 0, 0))),
                                };
                                tracing::info!(queue_id = entry.id.0, recipient = %r, host = %host.name, code, "delivery attempt");
                                (r.clone(), state, status, mta.clone())
                            })
                            .collect();
                    }
                    // What no host will take: the message is refused for good.
                    Err(e @ (ClientError::Smtputf8NotOffered | ClientError::EightBitNotOffered)) => {
                        return each(
                            RecipientState::Failed { at: now, reply: e.to_string() },
                            (5, 6, 7),
                            Some(host.name.clone()),
                        );
                    }
                    Err(e @ ClientError::MessageTooLarge { .. }) => {
                        return each(
                            RecipientState::Failed { at: now, reply: e.to_string() },
                            (5, 3, 4),
                            Some(host.name.clone()),
                        );
                    }
                    Err(e) => {
                        tracing::info!(queue_id = entry.id.0, host = %host.name, %addr, error = %e, "transaction broke off");
                        last_error = format!("{} [{addr}]: {e}", host.name);
                    }
                }
            }
        }
        each(RecipientState::Deferred { last_error }, (4, 4, 1), None)
    }

    async fn connect(&self, addr: SocketAddr, name: &str, required: bool) -> Result<SmtpClient, ClientError> {
        let mut config = ClientConfig::new(self.config.hostname.clone());
        config.timeouts = self.config.timeouts;
        config.server_name = Some(name.to_owned());
        if let Some(relay) = &self.config.smart_host {
            config.credentials = relay.credentials.clone();
        }
        if required {
            return SmtpClient::connect(addr, config.with_tls(TlsPolicy::Required, self.verified.clone())).await;
        }
        let tls = config.clone().with_tls(TlsPolicy::Opportunistic, self.opportunistic.clone());
        match SmtpClient::connect(addr, tls).await {
            // The handshake failed: opportunistic means clear text then.
            Err(e) if e.is_tls_failure() => {
                tracing::info!(%addr, error = %e, "STARTTLS failed; delivering in clear text");
                SmtpClient::connect(addr, config).await
            }
            other => other,
        }
    }

    /// Records the outcomes, schedules the rest, and tells the sender.
    async fn finish(&self, entry: QueueEntry, mut outcomes: Outcomes, content: &Bytes) {
        let now = unix_now();
        let schedule = &self.config.schedule;
        let deferred = outcomes.iter().any(|o| matches!(o.1, RecipientState::Deferred { .. }));
        let mut next_attempt = now;
        if deferred {
            match schedule.next(entry.attempts + 1, entry.queued_at, now) {
                Next::At(t) => next_attempt = t,
                Next::Expired => {
                    for o in outcomes.iter_mut() {
                        if let RecipientState::Deferred { last_error } = &o.1 {
                            o.1 = RecipientState::Failed {
                                at: now,
                                reply: format!("gave up after {} attempts: {last_error}", entry.attempts + 1),
                            };
                            o.2 = (4, 4, 7);
                        }
                    }
                }
            }
        }
        let still_deferred = outcomes.iter().any(|o| matches!(o.1, RecipientState::Deferred { .. }));
        let warn = still_deferred && schedule.warn_now(entry.delay_notified, entry.queued_at, now);
        let attempt = Attempt {
            outcomes: outcomes.iter().map(|o| (o.0.clone(), o.1.clone())).collect(),
            next_attempt,
            counts: true,
            delay_notified: warn,
        };
        if let Err(e) = self.queue.record_attempt(entry.id, attempt).await {
            tracing::error!(queue_id = entry.id.0, error = %e, "cannot record a delivery attempt");
            return;
        }
        if entry.from.is_empty() {
            return;
        }
        // The id the message was accepted under, as its Received: field has it.
        let id = if entry.message_id.is_empty() { format!("q{}", entry.id.0) } else { entry.message_id.clone() };
        let arrival = entry.queued_at as i64;
        let report = |action: dsn::Action, pick: &dyn Fn(&RecipientState) -> Option<String>| -> Option<Vec<u8>> {
            // (recipient, status, diagnostic, remote MTA)
            type Line<'a> = (&'a str, (u8, u16, u16), String, Option<&'a str>);
            let texts: Vec<Line<'_>> =
                outcomes.iter().filter_map(|o| pick(&o.1).map(|t| (o.0.as_str(), o.2, t, o.3.as_deref()))).collect();
            if texts.is_empty() {
                return None;
            }
            Some(dsn::build(&dsn::Report {
                reporting_mta: &self.config.hostname,
                sender: &entry.from,
                original: content,
                arrival,
                recipients: texts
                    .iter()
                    .map(|(r, status, text, mta)| dsn::RecipientReport {
                        recipient: r,
                        action,
                        status: *status,
                        diagnostic: text,
                        remote_mta: *mta,
                    })
                    .collect(),
                will_retry_until: Some(schedule.retry_until(entry.queued_at) as i64),
                now: now as i64,
                id: &id,
            }))
        };
        let failed = report(dsn::Action::Failed, &|s| match s {
            RecipientState::Failed { reply, .. } => Some(reply.clone()),
            _ => None,
        });
        let delayed = if warn {
            report(dsn::Action::Delayed, &|s| match s {
                RecipientState::Deferred { last_error } => Some(last_error.clone()),
                _ => None,
            })
        } else {
            None
        };
        for (kind, report) in [("failure", failed), ("delay", delayed)] {
            let Some(report) = report else { continue };
            match self.notifier.notify_sender(&entry.from, Bytes::from(report)).await {
                Ok(()) => tracing::info!(queue_id = entry.id.0, sender = %entry.from, kind, "sender notified"),
                Err(e) => tracing::error!(queue_id = entry.id.0, error = %e, kind, "cannot notify the sender"),
            }
        }
    }
}
