//! The listener framework: one [`Listener`] per `[[listener]]` table binds a
//! TCP socket, filters peers by address, enforces connection limits, does the
//! implicit TLS handshake where configured, and hands each connection to a
//! protocol [`Service`] in its own task.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use axigen_protocols::listener::*;
//! # async fn example(service: Arc<dyn Service>) -> Result<(), ListenerError> {
//! let config = ListenerConfig::new("imap", "127.0.0.1:1143".parse().unwrap());
//! let listener = Listener::bind(&config, None)?;
//! let (stop, stopped) = tokio::sync::watch::channel(false);
//! let task = tokio::spawn(listener.run(service, stopped));
//! // ... later:
//! stop.send(true).ok();
//! task.await.ok();
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ipnet::IpNet;
use rustls::ServerConfig;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::tls::{self, TlsMode};

/// Default for [`ListenerConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1000;
/// Default for [`ListenerConfig::max_connections_per_ip`].
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u32 = 50;
/// Default time [`Listener::run`] waits for open connections after shutdown.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn default_max_connections() -> u32 {
    DEFAULT_MAX_CONNECTIONS
}

fn default_max_connections_per_ip() -> u32 {
    DEFAULT_MAX_CONNECTIONS_PER_IP
}

/// Default for [`ListenerConfig::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Default for [`ListenerConfig::min_data_rate`], in bytes per second (the
/// figure Postfix uses for `smtpd_min_data_rate`).
pub const DEFAULT_MIN_DATA_RATE: u64 = 500;

fn default_request_timeout() -> Duration {
    DEFAULT_REQUEST_TIMEOUT
}

fn default_min_data_rate() -> u64 {
    DEFAULT_MIN_DATA_RATE
}

/// A duration written for humans in the configuration ("90s", "2m").
mod human_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

/// How long a client may take over one request once it has begun sending
/// it: a command line with its literals, a message's DATA, an HTTP
/// request's body. A client that sends a byte now and then (a "slowloris")
/// is cut off instead of holding a connection for ever.
///
/// The clock starts at the request's first byte with `timeout` to go; each
/// read of `n` bytes moves the deadline `n / min_rate` seconds later, but
/// never more than `timeout` ahead. A client sending at least `min_rate`
/// bytes a second never reaches it, whatever the size of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Time to send a request (default 2 minutes).
    pub timeout: Duration,
    /// Bytes per second that keep a long request going (default 500); 0:
    /// the timeout is for the whole request.
    pub min_rate: u64,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits { timeout: DEFAULT_REQUEST_TIMEOUT, min_rate: DEFAULT_MIN_DATA_RATE }
    }
}

/// The deadline of the request being received (see [`RequestLimits`]).
#[derive(Debug, Clone)]
pub struct RequestClock {
    limits: RequestLimits,
    deadline: Option<tokio::time::Instant>,
}

impl RequestClock {
    /// A clock with no request in progress.
    pub fn new(limits: RequestLimits) -> RequestClock {
        RequestClock { limits, deadline: None }
    }

    /// Notes `n` bytes received at `now`: starts the request's clock if none
    /// runs, else moves the deadline by what `n` bytes are worth.
    pub fn received(&mut self, n: usize, now: tokio::time::Instant) {
        let cap = now + self.limits.timeout;
        self.deadline = Some(match self.deadline {
            None => cap,
            Some(d) if self.limits.min_rate > 0 => {
                let earned = Duration::from_secs_f64(n as f64 / self.limits.min_rate as f64);
                (d + earned).min(cap)
            }
            Some(d) => d,
        });
    }

    /// The request is complete: the next one starts a new clock.
    pub fn finished(&mut self) {
        self.deadline = None;
    }

    /// Whether a request is in progress.
    pub fn running(&self) -> bool {
        self.deadline.is_some()
    }

    /// How long a read may wait: `idle` between requests, else the time
    /// left to the request's deadline (zero once it has passed).
    pub fn wait(&self, idle: Duration, now: tokio::time::Instant) -> Duration {
        match self.deadline {
            None => idle,
            Some(d) => d.saturating_duration_since(now).min(idle),
        }
    }
}

/// One `[[listener]]` table of the server configuration.
///
/// ```toml
/// [[listener]]
/// name = "imaps"                  # optional, defaults to the service name
/// service = "imap"
/// bind = "0.0.0.0:993"
/// tls = "implicit"                # "none" (default), "starttls", "implicit"
/// certificate = "/etc/axigen/tls/cert.pem"
/// key = "/etc/axigen/tls/key.pem"
/// allow = ["10.0.0.0/8", "2001:db8::/32"]   # default: everyone
/// deny = ["10.6.6.0/24"]                    # default: nobody
/// max_connections = 1000
/// max_connections_per_ip = 50
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Name used in logs and in [`ConnInfo::listener`]; defaults to `service`.
    /// Give one when several listeners run the same service (e.g. "imap" and
    /// "imaps").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The protocol served: "smtp", "submission", "imap", "pop3", "http", ...
    /// (the set of known services is checked by the caller).
    pub service: String,
    /// Address and port to listen on, e.g. `"0.0.0.0:25"` or `"[::]:143"`.
    /// On Linux `[::]` also accepts IPv4 (as IPv4-mapped addresses, which the
    /// access rules match as IPv4).
    pub bind: SocketAddr,
    /// TLS mode: "none" (default), "starttls" (the service offers its
    /// STARTTLS/STLS command) or "implicit" (TLS from the first byte).
    /// "starttls" and "implicit" need `certificate` and `key`.
    #[serde(default)]
    pub tls: TlsMode,
    /// PEM certificate chain (leaf first) for this listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) matching `certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Networks allowed to connect (CIDR, e.g. "192.0.2.0/24", or a plain
    /// address as "192.0.2.7/32"). Empty (the default) allows every address.
    #[serde(default)]
    pub allow: Vec<IpNet>,
    /// Networks refused even when `allow` matches. Default: empty.
    #[serde(default)]
    pub deny: Vec<IpNet>,
    /// Most connections open at once on this listener (default 1000); further
    /// connections are closed as soon as they are accepted. Must be at least 1.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Most connections open at once from one IP address (default 50). Must be
    /// at least 1.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: u32,
    /// Time a client has to send one request once it has begun (a command
    /// line with its literals, DATA, an HTTP body), default "2m"; see
    /// [`RequestLimits`].
    #[serde(default = "default_request_timeout", with = "human_duration")]
    pub request_timeout: Duration,
    /// Bytes per second that keep a long request (a large message) within
    /// its time (default 500); 0 makes `request_timeout` the limit for the
    /// whole request.
    #[serde(default = "default_min_data_rate")]
    pub min_data_rate: u64,
}

impl ListenerConfig {
    /// A listener for `service` on `bind` with every other field at its default.
    pub fn new(service: impl Into<String>, bind: SocketAddr) -> Self {
        ListenerConfig {
            name: None,
            service: service.into(),
            bind,
            tls: TlsMode::None,
            certificate: None,
            key: None,
            allow: Vec::new(),
            deny: Vec::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            min_data_rate: DEFAULT_MIN_DATA_RATE,
        }
    }

    /// The request limits its connections get (see [`ConnInfo::request`]).
    pub fn request_limits(&self) -> RequestLimits {
        RequestLimits { timeout: self.request_timeout, min_rate: self.min_data_rate }
    }

    /// The name used in logs: `name`, or else `service`.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.service)
    }

    /// The listener's access rules.
    pub fn access_rules(&self) -> AccessRules {
        AccessRules { allow: self.allow.clone(), deny: self.deny.clone() }
    }
}

/// Address-based access rules of a listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRules {
    /// Networks allowed; empty means every address.
    pub allow: Vec<IpNet>,
    /// Networks refused; wins over `allow`.
    pub deny: Vec<IpNet>,
}

impl AccessRules {
    /// Whether a peer at `ip` may connect: not in any `deny` network, and in
    /// an `allow` network unless `allow` is empty. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) are matched as the IPv4 address.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if self.deny.iter().any(|net| net.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&ip))
    }
}

/// A byte stream a service talks over: plain TCP, or TLS over TCP. Every
/// `AsyncRead + AsyncWrite + Unpin + Send + 'static` type is one, including
/// `Box<dyn Connection>` itself (so a boxed connection can be wrapped in TLS
/// with [`tls::starttls`]).
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for T {}

/// What a service knows about the connection it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// The listener's name (its `name`, or else its `service`).
    pub listener: Arc<str>,
    /// Whether the connection is already TLS (implicit TLS listener).
    pub tls: bool,
    /// How long the client may take over one request once begun.
    pub request: RequestLimits,
}

/// A protocol service (SMTP, IMAP, POP3, HTTP, ...) run on each accepted
/// connection.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// Serves one connection until it ends. Runs in its own task; a panic
    /// ends only this connection.
    ///
    /// `tls` is the listener's TLS configuration for a STARTTLS upgrade (see
    /// [`tls::starttls`]): `Some` exactly when the listener is
    /// `tls = "starttls"`, so a service advertises STARTTLS iff it is `Some`
    /// (and it has not upgraded yet). It is `None` on plain listeners and on
    /// implicit TLS listeners, whose connections arrive already encrypted
    /// (`info.tls == true`).
    async fn serve(&self, conn: Box<dyn Connection>, info: ConnInfo, tls: Option<Arc<ServerConfig>>);
}

/// Errors from [`Listener::bind`]; each names the listener and its address.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The socket could not be bound (address in use, permission denied, ...).
    #[error("listener {listener}: cannot listen on {addr}: {source}")]
    Bind {
        /// The listener's name.
        listener: String,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The listener's configuration is unusable.
    #[error("listener {listener} on {addr}: {reason}")]
    Config {
        /// The listener's name.
        listener: String,
        /// The address.
        addr: SocketAddr,
        /// What is wrong.
        reason: String,
    },
}

/// A bound listening socket with its rules, ready to [`run`](Listener::run).
pub struct Listener {
    name: Arc<str>,
    socket: std::net::TcpListener,
    local: SocketAddr,
    mode: TlsMode,
    tls: Option<Arc<ServerConfig>>,
    rules: Arc<AccessRules>,
    max_connections: u32,
    max_per_ip: u32,
    drain_timeout: Duration,
    handshake_timeout: Duration,
    request: RequestLimits,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .field("local", &self.local)
            .field("tls", &self.mode)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_per_ip)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Binds the listener's socket.
    ///
    /// `tls` is the server configuration loaded from the listener's
    /// certificate and key (see [`tls::load_server_config`]); it is required
    /// when `config.tls` is "starttls" or "implicit". Does not need a tokio
    /// runtime; [`run`](Listener::run) does.
    pub fn bind(config: &ListenerConfig, tls: Option<Arc<ServerConfig>>) -> Result<Listener, ListenerError> {
        let name: Arc<str> = Arc::from(config.display_name());
        let config_error =
            |reason: String| ListenerError::Config { listener: name.to_string(), addr: config.bind, reason };
        if config.max_connections == 0 {
            return Err(config_error("max_connections must be at least 1".into()));
        }
        if config.max_connections_per_ip == 0 {
            return Err(config_error("max_connections_per_ip must be at least 1".into()));
        }
        if config.tls != TlsMode::None && tls.is_none() {
            return Err(config_error(format!("tls = \"{}\" needs a certificate and key", config.tls)));
        }
        let bind_error = |source| ListenerError::Bind { listener: name.to_string(), addr: config.bind, source };
        // std's bind sets SO_REUSEADDR on Unix, so a restart is not blocked by
        // connections in TIME_WAIT.
        let socket = std::net::TcpListener::bind(config.bind).map_err(bind_error)?;
        socket.set_nonblocking(true).map_err(bind_error)?;
        let local = socket.local_addr().map_err(bind_error)?;
        Ok(Listener {
            name,
            socket,
            local,
            mode: config.tls,
            tls,
            rules: Arc::new(config.access_rules()),
            max_connections: config.max_connections,
            max_per_ip: config.max_connections_per_ip,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            // A TLS handshake is a request too: never longer than one.
            handshake_timeout: tls::HANDSHAKE_TIMEOUT.min(config.request_timeout),
            request: config.request_limits(),
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The listener's name (its `name`, or else its `service`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets how long [`run`](Listener::run) waits, after shutdown, for open
    /// connections to end before aborting them (default 10 s).
    pub fn with_drain_timeout(mut self, drain: Duration) -> Self {
        self.drain_timeout = drain;
        self
    }

    /// Sets the implicit TLS handshake timeout (default
    /// [`tls::HANDSHAKE_TIMEOUT`], 10 s).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Accepts connections and serves each with `service` in its own task
    /// until `shutdown` becomes `true` (or its sender is dropped).
    ///
    /// Then it closes the listening socket, waits up to the drain timeout for
    /// open connections to end, aborts those still open, and returns.
    pub async fn run(self, service: Arc<dyn Service>, mut shutdown: watch::Receiver<bool>) {
        let Listener {
            name,
            socket,
            local,
            mode,
            tls,
            rules,
            max_connections,
            max_per_ip,
            drain_timeout,
            handshake_timeout,
            request,
        } = self;
        let listener = match TcpListener::from_std(socket) {
            Ok(listener) => listener,
            Err(err) => {
                error!(listener = %name, addr = %local, error = %err, "cannot register listening socket");
                return;
            }
        };
        info!(listener = %name, addr = %local, tls = %mode, "listening");

        let slots = Arc::new(Semaphore::new(max_connections as usize));
        let per_ip: Arc<Mutex<HashMap<IpAddr, u32>>> = Arc::default();
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut peers: HashMap<tokio::task::Id, SocketAddr> = HashMap::new();
        let starttls_config = if mode == TlsMode::StartTls { tls.clone() } else { None };
        let implicit_config = if mode == TlsMode::Implicit { tls } else { None };

        let stop = async move {
            // A dropped sender counts as shutdown: nobody could signal it any more.
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        tokio::pin!(stop);

        loop {
            let accepted = tokio::select! {
                // Shutdown first, then reaping, so a pending connection never
                // wins over a shutdown that has already been signalled.
                biased;
                _ = &mut stop => break,
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    reap(&name, &mut peers, done);
                    continue;
                }
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    if is_connection_error(&err) {
                        debug!(listener = %name, error = %err, "accept failed");
                        continue;
                    }
                    // EMFILE, ENFILE, ENOBUFS, ...: back off and retry.
                    warn!(listener = %name, error = %err, "accept failed, retrying");
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            };

            if !rules.permits(peer.ip()) {
                info!(listener = %name, peer = %peer, reason = "denied by access rules", "connection refused");
                continue;
            }
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                info!(listener = %name, peer = %peer, reason = "max_connections reached", limit = max_connections, "connection refused");
                continue;
            };
            let Some(ip_slot) = IpSlot::acquire(&per_ip, peer.ip(), max_per_ip) else {
                info!(listener = %name, peer = %peer, reason = "max_connections_per_ip reached", limit = max_per_ip, "connection refused");
                continue;
            };
            let local = stream.local_addr().unwrap_or(local);
            let _ = stream.set_nodelay(true);

            let conn = Conn {
                name: name.clone(),
                peer,
                local,
                stream,
                implicit: implicit_config.clone(),
                starttls: starttls_config.clone(),
                handshake_timeout,
                request,
                _permit: permit,
                _ip_slot: ip_slot,
            };
            let handle = tasks.spawn(conn.serve(service.clone()));
            peers.insert(handle.id(), peer);
        }

        drop(listener);
        let open = tasks.len();
        info!(listener = %name, addr = %local, open_connections = open, "stopped accepting");
        if open > 0 {
            let drained = tokio::time::timeout(drain_timeout, async {
                while let Some(done) = tasks.join_next_with_id().await {
                    reap(&name, &mut peers, done);
                }
            })
            .await;
            if drained.is_err() {
                warn!(
                    listener = %name,
                    open_connections = tasks.len(),
                    "drain timeout reached, closing remaining connections"
                );
                tasks.shutdown().await;
            }
        }
        info!(listener = %name, addr = %local, "listener stopped");
    }
}

/// Errors of `accept` that concern one connection only, not the socket.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Forgets a finished connection task, logging it if it panicked.
fn reap(
    name: &str,
    peers: &mut HashMap<tokio::task::Id, SocketAddr>,
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
) {
    match done {
        Ok((id, ())) => {
            peers.remove(&id);
        }
        Err(err) => {
            let peer = peers.remove(&err.id());
            if err.is_panic() {
                match peer {
                    Some(peer) => {
                        error!(listener = %name, peer = %peer, "connection task panicked")
                    }
                    None => error!(listener = %name, "connection task panicked"),
                }
            }
        }
    }
}

/// An accepted TCP stream that acknowledges what it reads at once.
///
/// Linux puts a connection that answers soon after it receives (every
/// mail protocol) into "pingpong" mode, where it delays ACKs for up to
/// 40 ms hoping to carry them on the next reply. A client that sends a
/// command in two writes with Nagle on (Python's imaplib sends an APPEND
/// literal, then its CRLF) then waits for that ACK before its second write
/// leaves: 40 ms per APPEND. Setting `TCP_QUICKACK` after every read that
/// returned data sends the pending ACK now and leaves pingpong mode; the
/// option is not sticky, so it is set again each time (Dovecot does the
/// same whenever it uncorks its output). It sits below TLS, so plain,
/// STARTTLS and implicit-TLS connections all get it.
pub struct QuickAckStream {
    inner: TcpStream,
}

impl QuickAckStream {
    /// Wraps an accepted stream.
    pub fn new(inner: TcpStream) -> QuickAckStream {
        QuickAckStream { inner }
    }

    fn ack_now(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = socket2::SockRef::from(&self.inner).set_tcp_quickack(true);
        }
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.ack_now();
        }
        polled
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// One accepted connection, owning its share of the limits until dropped.
struct Conn {
    name: Arc<str>,
    peer: SocketAddr,
    local: SocketAddr,
    stream: TcpStream,
    implicit: Option<Arc<ServerConfig>>,
    starttls: Option<Arc<ServerConfig>>,
    handshake_timeout: Duration,
    request: RequestLimits,
    _permit: OwnedSemaphorePermit,
    _ip_slot: IpSlot,
}

impl Conn {
    async fn serve(self, service: Arc<dyn Service>) {
        let Conn { name, peer, local, stream, implicit, starttls, handshake_timeout, request, _permit, _ip_slot } =
            self;
        let stream = QuickAckStream::new(stream);
        let conn: Box<dyn Connection> = match &implicit {
            Some(config) => match tls::accept(config.clone(), stream, handshake_timeout).await {
                Ok(stream) => Box::new(stream),
                Err(err) => {
                    info!(listener = %name, peer = %peer, error = %err, "TLS handshake failed");
                    return;
                }
            },
            None => Box::new(stream),
        };
        let info = ConnInfo { peer, local, listener: name.clone(), tls: implicit.is_some(), request };
        debug!(listener = %name, peer = %peer, tls = info.tls, "connection opened");
        service.serve(conn, info, starttls).await;
        debug!(listener = %name, peer = %peer, "connection closed");
    }
}

/// A connection's place in the per-IP count; released on drop, so also when
/// the connection task ends by panic or abort.
struct IpSlot {
    counts: Arc<Mutex<HashMap<IpAddr, u32>>>,
    ip: IpAddr,
}

impl IpSlot {
    fn acquire(counts: &Arc<Mutex<HashMap<IpAddr, u32>>>, ip: IpAddr, limit: u32) -> Option<Self> {
        let ip = ip.to_canonical();
        let mut map = counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = map.entry(ip).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(IpSlot { counts: counts.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = map.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A session id unique in this process: `prefix`, the start time of the
/// process (hex seconds) and a counter shared by every service.
pub fn session_id(prefix: &str) -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: OnceLock<u64> = OnceLock::new();
    let start = *START
        .get_or_init(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    format!("{prefix}{start:x}{:06x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> AccessRules {
        AccessRules {
            allow: allow.iter().map(|s| s.parse().unwrap()).collect(),
            deny: deny.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_rules_allow_everyone() {
        let r = AccessRules::default();
        assert!(r.permits(ip("127.0.0.1")));
        assert!(r.permits(ip("203.0.113.9")));
        assert!(r.permits(ip("::1")));
    }

    #[test]
    fn allow_list_restricts() {
        let r = rules(&["10.0.0.0/8", "2001:db8::/32"], &[]);
        assert!(r.permits(ip("10.1.2.3")));
        assert!(!r.permits(ip("11.0.0.1")));
        assert!(r.permits(ip("2001:db8::1")));
        assert!(!r.permits(ip("2001:db9::1")));
    }

    #[test]
    fn deny_wins_over_allow() {
        let r = rules(&["10.0.0.0/8"], &["10.6.6.0/24"]);
        assert!(r.permits(ip("10.6.5.1")));
        assert!(!r.permits(ip("10.6.6.1")));
        let r = rules(&[], &["127.0.0.1/32"]);
        assert!(!r.permits(ip("127.0.0.1")));
        assert!(r.permits(ip("127.0.0.2")));
        // The same network in both lists: denied.
        let r = rules(&["192.0.2.0/24"], &["192.0.2.0/24"]);
        assert!(!r.permits(ip("192.0.2.1")));
    }

    #[test]
    fn ipv4_mapped_ipv6_matches_as_ipv4() {
        let r = rules(&["192.0.2.0/24"], &["192.0.2.66/32"]);
        assert!(r.permits(ip("::ffff:192.0.2.1")));
        assert!(!r.permits(ip("::ffff:192.0.2.66")));
        assert!(!r.permits(ip("::ffff:198.51.100.1")));
        // IPv4-compatible (deprecated ::a.b.c.d) addresses are not mapped.
        assert!(!r.permits(ip("::192.0.2.1")));
        let r = rules(&[], &["127.0.0.0/8"]);
        assert!(!r.permits(ip("::ffff:127.0.0.1")));
        assert!(r.permits(ip("::1")));
    }

    #[test]
    fn per_ip_slots_count_and_release() {
        let counts = Arc::default();
        let a = IpSlot::acquire(&counts, ip("192.0.2.1"), 2).unwrap();
        let b = IpSlot::acquire(&counts, ip("::ffff:192.0.2.1"), 2).unwrap();
        assert!(IpSlot::acquire(&counts, ip("192.0.2.1"), 2).is_none());
        let other = IpSlot::acquire(&counts, ip("192.0.2.2"), 2).unwrap();
        drop(a);
        let c = IpSlot::acquire(&counts, ip("192.0.2.1"), 2).unwrap();
        drop((b, c, other));
        assert!(counts.lock().unwrap().is_empty());
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: ListenerConfig = serde_json::from_str(r#"{"service":"smtp","bind":"0.0.0.0:25"}"#).unwrap();
        assert_eq!(c, ListenerConfig::new("smtp", "0.0.0.0:25".parse().unwrap()));
        assert_eq!(c.display_name(), "smtp");
        assert_eq!(c.max_connections, 1000);
        assert_eq!(c.max_connections_per_ip, 50);
        assert_eq!(c.tls, TlsMode::None);
        let err =
            serde_json::from_str::<ListenerConfig>(r#"{"service":"smtp","bind":"0.0.0.0:25","idle":5}"#).unwrap_err();
        assert!(err.to_string().contains("idle"), "{err}");
    }

    #[test]
    fn config_from_toml_listener_tables() {
        #[derive(Deserialize)]
        struct File {
            listener: Vec<ListenerConfig>,
        }
        let file: File = toml::from_str(
            r#"
            [[listener]]
            service = "smtp"
            bind = "0.0.0.0:25"
            tls = "starttls"
            certificate = "/etc/tls/cert.pem"
            key = "/etc/tls/key.pem"

            [[listener]]
            name = "imaps"
            service = "imap"
            bind = "[::]:993"
            tls = "implicit"
            allow = ["10.0.0.0/8", "2001:db8::/32"]
            deny = ["10.6.6.0/24"]
            max_connections = 10
            max_connections_per_ip = 2
            "#,
        )
        .unwrap();
        let [smtp, imaps] = &file.listener[..] else { panic!("two listeners expected") };
        assert_eq!(smtp.tls, TlsMode::StartTls);
        assert_eq!(smtp.certificate.as_deref(), Some("/etc/tls/cert.pem".as_ref()));
        assert_eq!(imaps.display_name(), "imaps");
        assert_eq!(imaps.bind, "[::]:993".parse().unwrap());
        assert_eq!(imaps.tls, TlsMode::Implicit);
        assert_eq!(imaps.allow.len(), 2);
        assert_eq!(imaps.max_connections_per_ip, 2);
        assert!(!imaps.access_rules().permits(ip("10.6.6.6")));
    }

    #[test]
    fn bind_rejects_unusable_configs() {
        let mut c = ListenerConfig::new("imap", "127.0.0.1:0".parse().unwrap());
        c.name = Some("imaps".into());
        c.tls = TlsMode::Implicit;
        let err = Listener::bind(&c, None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("imaps") && text.contains("127.0.0.1:0"), "{text}");

        let mut c = ListenerConfig::new("imap", "127.0.0.1:0".parse().unwrap());
        c.max_connections_per_ip = 0;
        assert!(matches!(Listener::bind(&c, None), Err(ListenerError::Config { .. })));
    }

    #[test]
    fn bind_reports_address_in_use() {
        let first = Listener::bind(&ListenerConfig::new("pop3", "127.0.0.1:0".parse().unwrap()), None).unwrap();
        let addr = first.local_addr();
        let err = Listener::bind(&ListenerConfig::new("pop3", addr), None).unwrap_err();
        match &err {
            ListenerError::Bind { source, .. } => {
                assert_eq!(source.kind(), io::ErrorKind::AddrInUse)
            }
            other => panic!("unexpected {other}"),
        }
        let text = err.to_string();
        assert!(text.contains("pop3") && text.contains(&addr.to_string()), "{text}");
    }
}
