//! RPOP (seed 3.2.11): fetching remote POP3 mailboxes into local accounts.
//!
//! [`RpopFetcher::run`] looks at every source on an interval and fetches
//! those that are due, a bounded number at once. One fetch:
//!
//! 1. The account's effective `rpop.permitted` must be on.
//! 2. Connect (plain, STLS or implicit TLS, certificates verified against
//!    the configured roots), log in, list UIDLs.
//! 3. Forget remembered UIDLs the server no longer has.
//! 4. Each message whose UIDL is not remembered is retrieved, given a
//!    `Received:` trace field, run through the same filters as SMTP
//!    deliveries ([`InboundBackend::process_fetched`]) and stored together
//!    with its UIDL in one write ([`RpopStore::deliver_fetched`]); storing
//!    wakes IMAP IDLE and ActiveSync Ping like any delivery.
//! 5. Unless the source leaves mail on the server, every message whose UIDL
//!    is remembered (fetched now or by an earlier, interrupted fetch) is
//!    deleted there, and QUIT commits the deletion.
//!
//! A crash at any point loses nothing and duplicates nothing: a message is
//! deleted remotely only after it is stored here with its UIDL, and a
//! stored UIDL is never stored again. Failures are recorded in the
//! source's status (visible in the admin API) and retried with a backoff
//! that doubles the interval per failure in a row, up to a day.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axigen_core::directory::Directory;
use axigen_core::mailstore::QuotaLimit;
use axigen_core::model::AccountId;
use axigen_core::rpop::{RpopSource, RpopStatus, RpopStore};
use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::inbound::{InboundBackend, rfc5322_date};
use crate::pop3::client::{Pop3Client, Pop3ClientError};

/// How sources are fetched.
#[derive(Debug, Clone)]
pub struct RpopConfig {
    /// This server's name (in the `Received:` field).
    pub hostname: String,
    /// Sources fetched at once.
    pub max_concurrent: usize,
    /// Time-out of each network step.
    pub timeout: Duration,
    /// Largest message fetched (a larger one fails the fetch).
    pub max_message: usize,
    /// Trusted roots (PEM) for the remote servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// How often the sources are looked at.
    pub poll_interval: Duration,
}

impl RpopConfig {
    /// Defaults for a server called `hostname`.
    pub fn new(hostname: impl Into<String>) -> RpopConfig {
        RpopConfig {
            hostname: hostname.into(),
            max_concurrent: 4,
            timeout: Duration::from_secs(60),
            max_message: 64 << 20,
            ca_file: Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")),
            poll_interval: Duration::from_secs(10),
        }
    }
}

/// What one fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Messages stored.
    pub stored: u64,
    /// Messages refused or discarded by the filters.
    pub filtered: u64,
    /// Messages deleted on the server.
    pub deleted: u64,
}

/// The fetcher.
pub struct RpopFetcher {
    config: RpopConfig,
    store: Arc<dyn RpopStore>,
    directory: Arc<dyn Directory>,
    inbound: Arc<InboundBackend>,
    tls: Arc<rustls::ClientConfig>,
    running: Mutex<HashSet<(AccountId, String)>>,
    limit: Arc<Semaphore>,
}

impl std::fmt::Debug for RpopFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpopFetcher").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The wait before the next fetch: the interval, doubled per failure in a
/// row, at most a day.
pub fn next_due(source: &RpopSource, status: &RpopStatus) -> i64 {
    let factor = 1u64 << status.failures.min(10);
    let wait = source.interval_secs.saturating_mul(factor).min(86_400.max(source.interval_secs));
    status.last_run.saturating_add(wait as i64)
}

impl RpopFetcher {
    /// The fetcher over the store, the directory and the delivery path.
    pub fn new(
        config: RpopConfig,
        store: Arc<dyn RpopStore>,
        directory: Arc<dyn Directory>,
        inbound: Arc<InboundBackend>,
    ) -> Result<RpopFetcher, String> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(file) = &config.ca_file
            && file.exists()
        {
            let certs = crate::tls::load_certificates(file).map_err(|e| format!("rpop.ca_file: {e}"))?;
            roots.add_parsable_certificates(certs);
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("rpop TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(RpopFetcher {
            limit: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            config,
            store,
            directory,
            inbound,
            tls: Arc::new(tls),
            running: Mutex::new(HashSet::new()),
        })
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            let this = self.clone();
            tokio::spawn(async move { this.run_once().await });
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        return;
                    }
                }
            }
        }
    }

    /// Fetches every enabled source that is due and not being fetched, and
    /// waits for them; how many were fetched.
    pub async fn run_once(self: &Arc<Self>) -> usize {
        let sources = match self.store.rpop_sources().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the rpop sources");
                return 0;
            }
        };
        let now = axigen_core::unix_now() as i64;
        let mut tasks = Vec::new();
        for source in sources.into_iter().filter(|s| s.enabled) {
            let status = self.store.rpop_status(source.account, &source.name).await.unwrap_or_default();
            if status.last_run != 0 && now < next_due(&source, &status) {
                continue;
            }
            let key = (source.account, source.name.clone());
            if !self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone()) {
                continue;
            }
            let this = self.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = this.limit.clone().acquire_owned().await;
                this.fetch_and_record(&source, status).await;
                this.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            }));
        }
        let n = tasks.len();
        for t in tasks {
            let _ = t.await;
        }
        n
    }

    async fn fetch_and_record(&self, source: &RpopSource, mut status: RpopStatus) {
        let result = self.fetch(source).await;
        status.last_run = axigen_core::unix_now() as i64;
        match &result {
            Ok(report) => {
                tracing::info!(account = %source.account, source = %source.name, host = %source.host,
                    stored = report.stored, filtered = report.filtered, deleted = report.deleted, "rpop fetch");
                status.fetched += report.stored;
                status.failures = 0;
                status.last_error = None;
            }
            Err(e) => {
                tracing::warn!(account = %source.account, source = %source.name, host = %source.host, error = %e,
                    "rpop fetch failed");
                status.failures = status.failures.saturating_add(1);
                status.last_error = Some(e.clone());
            }
        }
        if let Err(e) = self.store.set_rpop_status(source.account, &source.name, status).await {
            tracing::error!(source = %source.name, error = %e, "cannot record the rpop status");
        }
    }

    /// One fetch of one source.
    pub async fn fetch(&self, source: &RpopSource) -> Result<FetchReport, String> {
        let settings = self.directory.effective_settings(source.account).await.map_err(|e| e.to_string())?;
        if !settings.rpop_permitted.value {
            return Err(format!("RPOP is not permitted for this account ({})", settings.rpop_permitted.source));
        }
        let account = self
            .directory
            .account(source.account)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("account {} does not exist", source.account))?;
        let quota =
            QuotaLimit { max_bytes: settings.quota_storage_bytes.value, max_messages: settings.quota_messages.value };
        let addr = tokio::net::lookup_host((source.host.as_str(), source.port))
            .await
            .map_err(|e| format!("{}: {e}", source.host))?
            .next()
            .ok_or_else(|| format!("{}: no address", source.host))?;
        let pop = |e: Pop3ClientError| format!("{}:{}: {e}", source.host, source.port);
        let mut client = Pop3Client::connect(addr, source.tls, self.tls.clone(), &source.host, self.config.timeout)
            .await
            .map_err(pop)?;
        client.login(&source.username, &source.password).await.map_err(pop)?;
        let listing = client.uidl().await.map_err(pop)?;
        let on_server: Vec<String> = listing.iter().map(|(_, u)| u.clone()).collect();
        self.store.prune_rpop_uidls(source.account, &source.name, on_server).await.map_err(|e| e.to_string())?;
        let mut known: HashSet<String> =
            self.store.rpop_uidls(source.account, &source.name).await.map_err(|e| e.to_string())?.into_iter().collect();
        let mut report = FetchReport::default();
        let address = account.address.to_string();
        for (n, uidl) in &listing {
            if known.contains(uidl) {
                continue;
            }
            let content = client.retr(*n, self.config.max_message).await.map_err(pop)?;
            let now = axigen_core::unix_now() as i64;
            let trace = format!(
                "Received: from {} ({}) by {} with POP3 (RPOP {});\r\n\t{}\r\n",
                source.host,
                addr.ip(),
                self.config.hostname,
                source.name,
                rfc5322_date(now)
            );
            let mut full = Vec::with_capacity(trace.len() + content.len());
            full.extend_from_slice(trace.as_bytes());
            full.extend_from_slice(&content);
            let raw = Bytes::from(full);
            match self.inbound.process_fetched(source.account, &address, &source.folder, &raw).await? {
                Some(folder) => {
                    let stored = self
                        .store
                        .deliver_fetched(source.account, &source.name, uidl, folder, quota, raw, now)
                        .await
                        .map_err(|e| format!("storing message {uidl}: {e}"))?;
                    report.stored += u64::from(stored.is_some());
                }
                None => {
                    self.store.remember_fetched(source.account, &source.name, uidl).await.map_err(|e| e.to_string())?;
                    report.filtered += 1;
                }
            }
            known.insert(uidl.clone());
        }
        if !source.leave_on_server {
            for (n, uidl) in &listing {
                if known.contains(uidl) {
                    client.dele(*n).await.map_err(pop)?;
                    report.deleted += 1;
                }
            }
        }
        client.quit().await.map_err(pop)?;
        Ok(report)
    }
}
