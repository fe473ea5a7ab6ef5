//! The tokio driver of the IMAP session: [`ImapService`] runs a
//! [`Session`] over a connection from the [listener](crate::listener).
//!
//! The driver owns the socket, the [`CommandReader`] (framing, literals and
//! their `+` continuations) and the clock; every protocol decision is the
//! session's. Responses are flushed before the driver waits for input,
//! before the STARTTLS handshake, when IDLE reports changes, and before
//! closing.
//!
//! # Implementation notes
//!
//! - **Nothing the client sent before the TLS handshake is used after it**
//!   (RFC 9051 6.2.1, CVE-2011-0411): after the OK of STARTTLS the reader
//!   and everything it buffered are dropped.
//! - **IDLE subscribes before it reports**: the notifier receiver exists
//!   before the first look at the store, so a change that lands between the
//!   two still wakes the session (RFC 2177).
//! - **A client that keeps sending garbage is disconnected**: after
//!   `MAX_ERRORS` (50) refused commands the driver says `* BYE` and closes.
//! - **An idle connection ends after [`ImapConfig::idle_timeout`]** (30
//!   minutes, RFC 9051 5.4), with `* BYE`.
//! - **A command must arrive in time once begun**: from its first byte, a
//!   command line with its literals runs on the listener's
//!   [`RequestClock`]; a client trickling bytes is cut off with `* BYE`.
//! - **A connection waiting for a command holds a small read buffer**
//!   ([`WAIT_READ_SIZE`]); the large one is used only while a read fills
//!   the buffer (a literal streaming in).
//! - **Commands are paced** by a [`CommandRate`] per connection
//!   ([`ImapConfig::max_commands_per_second`]): past the burst the driver
//!   waits before it runs the next command and does not read meanwhile, so
//!   a looping client is slowed to the sustained rate rather than served
//!   faster. Only tagged commands (and refused ones) count; the lines that
//!   answer AUTHENTICATE and end IDLE do not. A client kept waiting for
//!   every command for longer than [`ImapConfig::command_flood_cutoff`]
//!   gets `* BYE too many commands`.
//! - **Logins per account are counted across the service's sessions**
//!   ([`ImapConfig::max_connections_per_account`], in
//!   [`AccountConnections`], which several services may share); the
//!   session holds its slot until it is dropped.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axigen_core::directory::Directory;
use axigen_core::mailstore::MailStore;
use axigen_core::notify::ChangeNotifier;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info, warn};

use super::command::ParseOptions;
use super::limits::{AccountConnections, Admission, CommandRate};
use super::reader::{CommandReader, Event, ReaderLimits};
use super::recent::RecentTracker;
use super::response::{self, Status, StatusResponse};
use super::session::{Next, Session};
use super::sort_keys::KeyCache;
use crate::listener::{ConnInfo, Connection, RequestClock, Service};
use crate::tls;
use axigen_core::login_throttle::LoginThrottle;

/// Settings of one IMAP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapConfig {
    /// The server's name in the greeting.
    pub hostname: String,
    /// Whether LOGIN and AUTHENTICATE are allowed without TLS (default
    /// false: LOGINDISABLED, RFC 9051 6.2.3).
    pub allow_plaintext_login: bool,
    /// Largest literal outside APPEND (default 64 KiB).
    pub max_literal: u64,
    /// Largest APPEND literal (default 64 MiB).
    pub max_append: u64,
    /// How long a silent or idling client is kept (default 30 minutes,
    /// RFC 9051 5.4).
    pub idle_timeout: Duration,
    /// Most sessions one account may have logged in at once, over every
    /// service sharing the [`AccountConnections`] (default 20; 0 = no
    /// limit). A login past it is refused with `NO [LIMIT]` (RFC 5530).
    /// Desktop clients open a handful each (one per folder they watch, one
    /// per device), so 20 leaves room for several devices.
    pub max_connections_per_account: u32,
    /// Commands a connection may send per second, sustained (default 200;
    /// 0 = no limit); [`BURST_SECONDS`](super::limits::BURST_SECONDS) times
    /// as many may come at once. Faster clients are slowed down, not
    /// refused. A synchronising client rarely sends more than a few dozen
    /// commands a second; 200 is well above that and far below what one
    /// looping connection could make the server do.
    pub max_commands_per_second: u32,
    /// How long a client may be kept waiting by the command rate, for every
    /// one of its commands in a row, before it is disconnected with
    /// `* BYE too many commands` (default 30 s: at the default rate, 6 800
    /// commands sent back to back, more than any client's sync needs).
    pub command_flood_cutoff: Duration,
}

impl ImapConfig {
    /// A configuration with every limit at its default.
    pub fn new(hostname: impl Into<String>) -> ImapConfig {
        ImapConfig {
            hostname: hostname.into(),
            allow_plaintext_login: false,
            max_literal: 64 * 1024,
            max_append: 64 * 1024 * 1024,
            idle_timeout: Duration::from_secs(30 * 60),
            max_connections_per_account: 20,
            max_commands_per_second: 200,
            command_flood_cutoff: Duration::from_secs(30),
        }
    }

    fn reader_limits(&self) -> ReaderLimits {
        ReaderLimits { max_literal: self.max_literal, max_append_literal: self.max_append, ..ReaderLimits::default() }
    }
}

/// The IMAP protocol service: give it to [`Listener::run`](crate::listener::Listener::run).
pub struct ImapService {
    config: Arc<ImapConfig>,
    directory: Arc<dyn Directory>,
    store: Arc<dyn MailStore>,
    notifier: Arc<ChangeNotifier>,
    throttle: Arc<LoginThrottle>,
    accounts: Arc<AccountConnections>,
    recent: Arc<RecentTracker>,
    sort_keys: Arc<KeyCache>,
}

impl std::fmt::Debug for ImapService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapService").field("config", &self.config).finish_non_exhaustive()
    }
}

impl ImapService {
    /// A service over a directory, a mail store and the store's notifier.
    pub fn new(
        config: ImapConfig,
        directory: Arc<dyn Directory>,
        store: Arc<dyn MailStore>,
        notifier: Arc<ChangeNotifier>,
    ) -> ImapService {
        ImapService {
            config: Arc::new(config),
            directory,
            store,
            notifier,
            throttle: Arc::default(),
            accounts: Arc::default(),
            recent: Arc::default(),
            sort_keys: Arc::default(),
        }
    }

    /// Uses `throttle` for login failures, e.g. one shared with other listeners.
    pub fn with_throttle(mut self, throttle: Arc<LoginThrottle>) -> ImapService {
        self.throttle = throttle;
        self
    }

    /// Counts logins per account in `accounts`, e.g. one shared with the
    /// other IMAP listeners, so that the limit holds across them.
    pub fn with_account_connections(mut self, accounts: Arc<AccountConnections>) -> ImapService {
        self.accounts = accounts;
        self
    }

    /// Shares one cache of SORT and THREAD keys between listeners.
    pub fn with_sort_keys(mut self, sort_keys: Arc<KeyCache>) -> ImapService {
        self.sort_keys = sort_keys;
        self
    }

    /// Shares one `\Recent` tracker between listeners (imap and imaps), so
    /// that a message is recent in one session of all of them.
    pub fn with_recent_tracker(mut self, recent: Arc<RecentTracker>) -> ImapService {
        self.recent = recent;
        self
    }

    /// The `\Recent` tracker.
    pub fn recent_tracker(&self) -> &Arc<RecentTracker> {
        &self.recent
    }

    /// The sessions logged in per account.
    pub fn account_connections(&self) -> &Arc<AccountConnections> {
        &self.accounts
    }

    /// The configuration.
    pub fn config(&self) -> &ImapConfig {
        &self.config
    }
}

/// A new session id: the process start time and a counter, in hex.
fn next_session_id() -> String {
    crate::listener::session_id("i")
}

#[async_trait]
impl Service for ImapService {
    async fn serve(&self, conn: Box<dyn Connection>, info: ConnInfo, tls: Option<Arc<ServerConfig>>) {
        let id = next_session_id();
        debug!(session = %id, peer = %info.peer, listener = %info.listener, tls = info.tls, "imap session started");
        let session = Session::new(
            self.config.clone(),
            self.directory.clone(),
            self.store.clone(),
            id.clone(),
            info.peer,
            info.tls,
            tls.is_some(),
        )
        .with_throttle(self.throttle.clone())
        .with_account_connections(self.accounts.clone())
        .with_recent_tracker(self.recent.clone())
        .with_sort_keys(self.sort_keys.clone());
        let rate = CommandRate::new(
            self.config.max_commands_per_second,
            self.config.command_flood_cutoff,
            tokio::time::Instant::now(),
        );
        let mut driver = Driver {
            service: self,
            session,
            stream: Some(conn),
            reader: CommandReader::new(self.config.reader_limits(), ParseOptions::default()),
            out: Vec::new(),
            tls,
            id,
            peer: info.peer,
            rate,
            clock: RequestClock::new(info.request),
            read_size: WAIT_READ_SIZE,
            quiet_since: tokio::time::Instant::now(),
        };
        match driver.run().await {
            Ok(()) => debug!(session = %driver.id, peer = %driver.peer, "imap session ended"),
            Err(err) => debug!(session = %driver.id, peer = %driver.peer, error = %err, "imap session ended"),
        }
    }
}

struct Driver<'a> {
    service: &'a ImapService,
    session: Session,
    stream: Option<Box<dyn Connection>>,
    reader: CommandReader,
    out: Vec<u8>,
    tls: Option<Arc<ServerConfig>>,
    id: String,
    peer: std::net::SocketAddr,
    /// The command rate; `None` without a limit.
    rate: Option<CommandRate>,
    /// The deadline of the command being received.
    clock: RequestClock,
    /// The next read's buffer size: [`WAIT_READ_SIZE`] once caught up with
    /// the client, [`READ_SIZE`] while reads fill their buffer.
    read_size: usize,
    /// When the client last sent something.
    quiet_since: tokio::time::Instant,
}

/// Largest read while data streams in; the buffer is taken only for the
/// read and not zeroed.
const READ_SIZE: usize = 16 * 1024;
/// The read buffer while waiting for a command: what an idle connection
/// holds.
const WAIT_READ_SIZE: usize = 512;
/// The read buffer while idling, where only `DONE` is expected: an idle
/// connection holds this, not [`READ_SIZE`].
const IDLE_READ_SIZE: usize = 256;
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Commands the reader refuses (syntax, limits) before the session is
/// closed with `* BYE`.
const MAX_ERRORS: u32 = 50;

/// What a wait for input brought.
enum Input {
    More,
    Eof,
    TimedOut,
    /// A command begun was not complete by its deadline.
    TooSlow,
}

impl Driver<'_> {
    fn stream(&mut self) -> io::Result<&mut Box<dyn Connection>> {
        self.stream.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection gone"))
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let stream = self.stream()?;
        let write = async {
            stream.write_all(&out).await?;
            stream.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Flushes, then reads more input into the reader: within the idle
    /// timeout between commands, within the command's deadline once it has
    /// begun.
    async fn read_more(&mut self) -> io::Result<Input> {
        self.flush().await?;
        if !self.clock.running() && self.reader.buffered() > 0 {
            // A pipelined command has begun already.
            self.clock.received(0, tokio::time::Instant::now());
        }
        // Between commands the idle timeout counts from the client's last
        // input, not from the last notification sent.
        let idle = self.service.config.idle_timeout.saturating_sub(self.quiet_since.elapsed());
        let timeout = self.clock.wait(idle, tokio::time::Instant::now());
        let mut buf = Vec::with_capacity(self.read_size);
        // RFC 5465: with NOTIFY in force, changes are sent between commands
        // too, as they happen.
        let mut changes = match self.session.notify_watch() {
            Some((account, _)) if !self.clock.running() => Some(self.service.notifier.subscribe(account)),
            _ => None,
        };
        // A change made since the last report, before the subscription:
        // reported now rather than at the next one. (The notifier keeps no
        // value while nobody watches, so the store is asked.)
        let mut missed = false;
        if let (Some((account, _)), Some(reported)) = (self.session.notify_watch(), self.session.notify_modseq())
            && changes.is_some()
        {
            missed = self.service.store.highest_modseq(account).await.is_ok_and(|now| now > reported);
        }
        if missed {
            self.session.notify_poll(&mut self.out).await;
            return Ok(Input::More);
        }
        let stream = self.stream.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let read = async {
            let Some(changes) = changes.as_mut() else {
                return (false, tokio::time::timeout(timeout, stream.read_buf(&mut buf)).await);
            };
            tokio::select! {
                changed = changes.changed() => match changed {
                    Ok(()) => (true, Ok(Ok(0))),
                    Err(_) => (false, tokio::time::timeout(timeout, stream.read_buf(&mut buf)).await),
                },
                read = tokio::time::timeout(timeout, stream.read_buf(&mut buf)) => (false, read),
            }
        };
        let (changed, result) = read.await;
        if changed {
            self.session.notify_poll(&mut self.out).await;
            return Ok(Input::More);
        }
        match result {
            Ok(Ok(0)) => Ok(Input::Eof),
            Ok(Ok(n)) => {
                self.quiet_since = tokio::time::Instant::now();
                self.read_size = if n == buf.capacity() { READ_SIZE } else { WAIT_READ_SIZE };
                self.clock.received(n, tokio::time::Instant::now());
                self.reader.feed(&buf[..n]);
                Ok(Input::More)
            }
            Ok(Err(err)) => Err(err),
            Err(_) if self.clock.running() => Ok(Input::TooSlow),
            Err(_) => Ok(Input::TimedOut),
        }
    }

    async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        if let Ok(stream) = self.stream() {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.shutdown()).await;
        }
        Ok(())
    }

    async fn run(&mut self) -> io::Result<()> {
        self.session.greeting(&mut self.out);
        let mut awaiting_auth = false;
        let mut errors = 0u32;
        loop {
            self.reader.options_mut().utf8_accept = self.session.utf8_names();
            let Some(event) = self.reader.next() else {
                match self.read_more().await? {
                    Input::More => continue,
                    Input::Eof => return Ok(()),
                    Input::TimedOut => {
                        StatusResponse::untagged(Status::Bye, "autologout; idle for too long").encode(&mut self.out);
                        return self.close().await;
                    }
                    Input::TooSlow => {
                        info!(session = %self.id, peer = %self.peer, "closing: a command took too long to arrive");
                        StatusResponse::untagged(Status::Bye, "command not received in time").encode(&mut self.out);
                        return self.close().await;
                    }
                }
            };
            if !matches!(event, Event::ContinuationNeeded { .. }) {
                // The command (or line) is complete.
                self.clock.finished();
            }
            if matches!(event, Event::Command(_) | Event::Error(_)) && !self.pace().await? {
                return self.close().await;
            }
            let next = match event {
                Event::ContinuationNeeded { .. } => {
                    response::continuation(&mut self.out, "Ready for literal data");
                    self.flush().await?;
                    continue;
                }
                Event::Error(err) => {
                    debug!(session = %self.id, peer = %self.peer, error = %err.kind, "refused command");
                    err.response().encode(&mut self.out);
                    errors += 1;
                    if errors >= MAX_ERRORS {
                        info!(session = %self.id, peer = %self.peer, errors, "closing after too many bad commands");
                        StatusResponse::untagged(Status::Bye, "too many invalid commands").encode(&mut self.out);
                        return self.close().await;
                    }
                    continue;
                }
                Event::Line(line) => {
                    if !awaiting_auth {
                        continue;
                    }
                    awaiting_auth = false;
                    self.session.on_auth_line(&line, &mut self.out).await
                }
                Event::Command(command) => self.session.execute(command, &mut self.out).await,
            };
            match next {
                Next::Read => {}
                Next::Close => return self.close().await,
                Next::AuthLine => {
                    awaiting_auth = true;
                    self.flush().await?;
                    self.reader.expect_line();
                }
                Next::StartTls => {
                    self.flush().await?;
                    if !self.start_tls().await {
                        return Ok(());
                    }
                }
                Next::Idle => {
                    if !self.idle().await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Waits until the command rate admits one more command; false (with
    /// `* BYE` queued) when the client has been kept waiting too long.
    /// Responses already due are sent before the wait, and nothing is read
    /// during it.
    async fn pace(&mut self) -> io::Result<bool> {
        let Some(rate) = self.rate.as_mut() else {
            return Ok(true);
        };
        let was_throttled = rate.throttled();
        match rate.admit(tokio::time::Instant::now()) {
            Admission::Now => Ok(true),
            Admission::After(wait) => {
                if !was_throttled {
                    debug!(session = %self.id, peer = %self.peer, "command rate reached; slowing the client down");
                }
                self.flush().await?;
                tokio::time::sleep(wait).await;
                Ok(true)
            }
            Admission::CutOff(throttled) => {
                warn!(
                    session = %self.id,
                    peer = %self.peer,
                    account = ?self.session.principal().map(|p| p.account.0),
                    throttled_secs = throttled.as_secs(),
                    "closing: command rate exceeded for too long"
                );
                StatusResponse::untagged(Status::Bye, "too many commands").encode(&mut self.out);
                Ok(false)
            }
        }
    }

    /// RFC 9051 6.2.1: drop whatever was pipelined after STARTTLS, then
    /// handshake. False when the connection is done.
    async fn start_tls(&mut self) -> bool {
        let dropped = self.reader.buffered();
        if dropped > 0 {
            info!(session = %self.id, peer = %self.peer, octets = dropped, "discarding plaintext pipelined after STARTTLS");
        }
        self.reader = CommandReader::new(self.service.config.reader_limits(), ParseOptions::default());
        let (Some(config), Some(plain)) = (self.tls.clone(), self.stream.take()) else {
            warn!(session = %self.id, peer = %self.peer, "STARTTLS without a TLS configuration");
            return false;
        };
        match tls::starttls(plain, config).await {
            Ok(encrypted) => {
                self.stream = Some(encrypted);
                self.session.on_tls_established();
                debug!(session = %self.id, peer = %self.peer, "STARTTLS done");
                true
            }
            Err(err) => {
                info!(session = %self.id, peer = %self.peer, error = %err, "STARTTLS handshake failed");
                false
            }
        }
    }

    /// IDLE (RFC 2177): report changes as they happen until `DONE`. False
    /// when the connection is done.
    async fn idle(&mut self) -> io::Result<bool> {
        let Some(account) = self.session.watched_account() else {
            return Ok(true);
        };
        let mut changes = self.service.notifier.subscribe(account);
        // An idling connection keeps no copy of its folder's listing.
        self.session.release_caches();
        self.session.idle_poll(&mut self.out).await;
        self.flush().await?;
        self.reader.expect_line();
        let deadline = tokio::time::Instant::now() + self.service.config.idle_timeout;
        let mut buf = Vec::with_capacity(IDLE_READ_SIZE);
        loop {
            match self.reader.next() {
                Some(Event::Line(line)) => {
                    self.session.idle_done(&line, &mut self.out);
                    return Ok(true);
                }
                Some(Event::Error(err)) => {
                    err.response().encode(&mut self.out);
                    return Ok(true);
                }
                Some(_) | None => {}
            }
            let stream = self.stream.as_mut().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(true);
                    }
                    self.session.idle_poll(&mut self.out).await;
                    self.flush().await?;
                }
                read = stream.read_buf(&mut buf) => match read? {
                    0 => return Ok(false),
                    n => {
                        self.quiet_since = tokio::time::Instant::now();
                        self.reader.feed(&buf[..n]);
                        buf.clear();
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    StatusResponse::untagged(Status::Bye, "IDLE timed out").encode(&mut self.out);
                    self.close().await?;
                    return Ok(false);
                }
            }
        }
    }
}
