//! The tokio driver of the SMTP session: [`SmtpService`] runs a
//! [`Session`] over a connection from the [listener](crate::listener).
//!
//! It owns the buffers, the clock and the backend calls; every protocol
//! decision is the session's. Reading: command lines through a
//! [`LineFramer`] (hard limit `max_line`), DATA text and BDAT chunks through
//! [`Session::on_data`]. Writing: replies are queued and flushed when the
//! input buffer is empty, i.e. before the driver waits for the client (RFC
//! 2920 3.1, 3.2), and explicitly after 354, before the STARTTLS handshake
//! and before closing.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axigen_core::login_throttle::{Admission, LoginThrottle};
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info, warn};

use super::backend::{Role, SessionInfo, SmtpBackend};
use super::reply::Reply;
use super::session::{Call, Outcome, Session, Step};
use super::text::{Frame, LineFramer};
use crate::listener::{ConnInfo, Connection, RequestClock, Service};
use crate::tls;

/// Settings of one SMTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// The server's name in the greeting, EHLO and closing replies.
    pub hostname: String,
    /// Mail exchange or submission.
    pub role: Role,
    /// Whether AUTH may be used without TLS (submission only; default
    /// false: AUTH is neither advertised nor accepted before STARTTLS).
    pub allow_plaintext_auth: bool,
    /// Longest command line, CRLF included (default 4096; RFC 5321
    /// 4.5.3.1.4 asks for at least 512, and SASL responses need more).
    pub max_line: usize,
    /// Most recipients per transaction (default 100, the minimum RFC 5321
    /// 4.5.3.1.8 asks servers to accept).
    pub max_recipients: usize,
    /// Client errors before the session is closed with 421 (default 10).
    pub max_errors: u32,
    /// How long to wait for a command (default 5 minutes, RFC 5321 4.5.3.2.7).
    pub command_timeout: Duration,
    /// How long to wait for each read of DATA text or a BDAT chunk (default
    /// 5 minutes).
    pub data_timeout: Duration,
}

impl SmtpConfig {
    /// A configuration with every limit at its default.
    pub fn new(hostname: impl Into<String>, role: Role) -> SmtpConfig {
        SmtpConfig {
            hostname: hostname.into(),
            role,
            allow_plaintext_auth: false,
            max_line: 4096,
            max_recipients: 100,
            max_errors: 10,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(300),
        }
    }
}

/// The SMTP protocol service: give it to [`Listener::run`](crate::listener::Listener::run).
///
/// ```no_run
/// # use std::sync::Arc;
/// # use axigen_protocols::listener::{Listener, ListenerConfig};
/// # use axigen_protocols::smtp::{Role, SmtpBackend, SmtpConfig, SmtpService};
/// # async fn example(backend: Arc<dyn SmtpBackend>) {
/// let service = SmtpService::new(SmtpConfig::new("mx.example.org", Role::Mx), backend);
/// let listener = Listener::bind(&ListenerConfig::new("smtp", "0.0.0.0:25".parse().unwrap()), None).unwrap();
/// let (_stop, stopped) = tokio::sync::watch::channel(false);
/// listener.run(Arc::new(service), stopped).await;
/// # }
/// ```
pub struct SmtpService {
    config: Arc<SmtpConfig>,
    backend: Arc<dyn SmtpBackend>,
    throttle: Arc<LoginThrottle>,
}

impl std::fmt::Debug for SmtpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpService").field("config", &self.config).finish_non_exhaustive()
    }
}

impl SmtpService {
    /// A service with its own [`LoginThrottle`] (default policy).
    pub fn new(config: SmtpConfig, backend: Arc<dyn SmtpBackend>) -> SmtpService {
        SmtpService { config: Arc::new(config), backend, throttle: Arc::default() }
    }

    /// Uses `throttle`, e.g. one shared by the SMTP and submission services.
    pub fn with_throttle(mut self, throttle: Arc<LoginThrottle>) -> SmtpService {
        self.throttle = throttle;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    /// The AUTH failure throttle.
    pub fn throttle(&self) -> &Arc<LoginThrottle> {
        &self.throttle
    }
}

/// A new session id: the process start time and a counter, in hex.
fn next_session_id() -> String {
    crate::listener::session_id("")
}

#[async_trait]
impl Service for SmtpService {
    async fn serve(&self, conn: Box<dyn Connection>, conn_info: ConnInfo, tls: Option<Arc<ServerConfig>>) {
        let info = SessionInfo {
            id: next_session_id(),
            peer: conn_info.peer,
            local: conn_info.local,
            role: self.config.role,
            tls: conn_info.tls,
            helo: None,
            esmtp: false,
            principal: None,
        };
        let (id, peer) = (info.id.clone(), info.peer);
        debug!(session = %id, peer = %peer, listener = %conn_info.listener, tls = info.tls, "smtp session started");
        let backend = self.backend.clone();
        let session =
            Session::new(self.config.clone(), info, tls.is_some(), move |info| backend.max_message_size(info));
        let clock = RequestClock::new(conn_info.request);
        let mut driver = Driver { service: self, session, wire: Wire::new(conn), tls, id, peer, clock };
        match driver.run().await {
            Ok(()) => debug!(session = %driver.id, peer = %driver.peer, "smtp session ended"),
            Err(err) => debug!(session = %driver.id, peer = %driver.peer, error = %err, "smtp session ended"),
        }
    }
}

/// The connection with its input and output buffers.
struct Wire {
    stream: Option<Box<dyn Connection>>,
    input: Vec<u8>,
    start: usize,
    output: Vec<u8>,
}

const READ_SIZE: usize = 16 * 1024;

impl Wire {
    fn new(stream: Box<dyn Connection>) -> Wire {
        Wire { stream: Some(stream), input: Vec::with_capacity(READ_SIZE), start: 0, output: Vec::new() }
    }

    fn stream(&mut self) -> io::Result<&mut Box<dyn Connection>> {
        self.stream.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection gone"))
    }

    /// The input received and not yet used.
    fn buffered(&self) -> &[u8] {
        &self.input[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.input.len());
        if self.start == self.input.len() {
            self.input.clear();
            self.start = 0;
        }
    }

    /// Drops all buffered input; returns how much there was.
    fn discard_input(&mut self) -> usize {
        let n = self.input.len() - self.start;
        self.input.clear();
        self.start = 0;
        n
    }

    fn queue(&mut self, reply: &Reply) {
        reply.encode_into(&mut self.output);
    }

    async fn flush(&mut self, timeout: Duration) -> io::Result<()> {
        if self.output.is_empty() {
            return Ok(());
        }
        let output = std::mem::take(&mut self.output);
        let stream = self.stream()?;
        let write = async {
            stream.write_all(&output).await?;
            stream.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Flushes the queued replies, then reads more input. `Ok(0)` is the
    /// end of the stream; a timeout is `ErrorKind::TimedOut`.
    async fn fill(&mut self, timeout: Duration) -> io::Result<usize> {
        self.flush(timeout).await?;
        if self.start > 0 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        let len = self.input.len();
        self.input.resize(len + READ_SIZE, 0);
        let Some(stream) = self.stream.as_mut() else {
            self.input.truncate(len);
            return Err(io::Error::new(io::ErrorKind::NotConnected, "connection gone"));
        };
        let read = tokio::time::timeout(timeout, stream.read(&mut self.input[len..])).await;
        let n = match read {
            Ok(Ok(n)) => n,
            Ok(Err(err)) => {
                self.input.truncate(len);
                return Err(err);
            }
            Err(_) => {
                self.input.truncate(len);
                return Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out"));
            }
        };
        self.input.truncate(len + n);
        Ok(n)
    }
}

/// Why reading stopped.
enum Input {
    /// More bytes are buffered.
    More,
    /// The client closed the connection.
    Eof,
    /// The client was silent too long.
    TimedOut,
}

struct Driver<'a> {
    service: &'a SmtpService,
    session: Session,
    wire: Wire,
    tls: Option<Arc<ServerConfig>>,
    id: String,
    peer: std::net::SocketAddr,
    /// The deadline of the command line or message text being received.
    clock: RequestClock,
}

impl Driver<'_> {
    fn config(&self) -> &SmtpConfig {
        &self.service.config
    }

    /// Reads more input, waiting at most `idle` and never past the
    /// deadline of a command or message text already begun.
    async fn read_more(&mut self, idle: Duration) -> io::Result<Input> {
        if !self.clock.running() && !self.wire.buffered().is_empty() {
            self.clock.received(0, tokio::time::Instant::now());
        }
        let timeout = self.clock.wait(idle, tokio::time::Instant::now());
        match self.wire.fill(timeout).await {
            Ok(0) => Ok(Input::Eof),
            Ok(n) => {
                self.clock.received(n, tokio::time::Instant::now());
                Ok(Input::More)
            }
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                if self.clock.running() {
                    info!(session = %self.id, peer = %self.peer, "closing: a command or message took too long to arrive");
                }
                Ok(Input::TimedOut)
            }
            Err(err) => Err(err),
        }
    }

    async fn run(&mut self) -> io::Result<()> {
        let greeting = self.session.greeting();
        self.wire.queue(&greeting);
        let mut framer = LineFramer::new(self.config().max_line);
        loop {
            let step = match framer.next(self.wire.buffered()) {
                Frame::Line(n) => {
                    self.clock.finished();
                    let step = self.session.on_line(&self.wire.buffered()[..n]);
                    self.wire.consume(n);
                    step
                }
                Frame::TooLong(n) => {
                    self.clock.finished();
                    self.wire.consume(n);
                    self.session.on_line_too_long()
                }
                Frame::Skip(n) => {
                    self.wire.consume(n);
                    continue;
                }
                Frame::NeedMore => match self.read_more(self.config().command_timeout).await? {
                    Input::More => continue,
                    Input::Eof => return Ok(()),
                    Input::TimedOut => self.session.on_timeout(),
                },
            };
            if !self.perform(step).await? {
                return Ok(());
            }
        }
    }

    /// Performs a step and those that follow from it until the session
    /// wants the next line. Returns false when the connection is done.
    async fn perform(&mut self, mut step: Step) -> io::Result<bool> {
        loop {
            step = match step {
                Step::Reply(reply) => {
                    self.log_reply(&reply);
                    self.wire.queue(&reply);
                    return Ok(true);
                }
                Step::Call(call) => self.call(call).await?,
                Step::ReadData(reply) => {
                    self.wire.queue(&reply);
                    self.wire.flush(self.config().command_timeout).await?;
                    match self.read_message().await? {
                        Some(step) => step,
                        None => return Ok(false),
                    }
                }
                Step::ReadChunk(_) => match self.read_message().await? {
                    Some(step) => step,
                    None => return Ok(false),
                },
                Step::StartTls(reply) => {
                    self.wire.queue(&reply);
                    self.wire.flush(self.config().command_timeout).await?;
                    return self.start_tls().await;
                }
                Step::Close(replies) => {
                    for reply in &replies {
                        self.log_reply(reply);
                        self.wire.queue(reply);
                    }
                    let timeout = self.config().command_timeout;
                    self.wire.flush(timeout).await?;
                    if let Ok(stream) = self.wire.stream() {
                        let _ = tokio::time::timeout(timeout, stream.shutdown()).await;
                    }
                    return Ok(false);
                }
            };
        }
    }

    /// Feeds DATA text or a BDAT chunk to the session until it is complete.
    /// `None` when the connection ended first.
    async fn read_message(&mut self) -> io::Result<Option<Step>> {
        // The message text is one request: it must keep arriving at the
        // listener's minimum rate.
        self.clock.finished();
        self.clock.received(0, tokio::time::Instant::now());
        let step = self.read_message_text().await;
        self.clock.finished();
        step
    }

    async fn read_message_text(&mut self) -> io::Result<Option<Step>> {
        loop {
            if self.wire.buffered().is_empty() {
                match self.read_more(self.config().data_timeout).await? {
                    Input::More => {}
                    Input::Eof => {
                        debug!(session = %self.id, peer = %self.peer, "connection closed during message text");
                        return Ok(None);
                    }
                    Input::TimedOut => return Ok(Some(self.session.on_timeout())),
                }
            }
            let (used, next) = self.session.on_data(self.wire.buffered());
            self.wire.consume(used);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// RFC 3207 4.2: after the 220, discard whatever the client pipelined
    /// behind STARTTLS (CVE-2011-0411), then handshake and start over.
    async fn start_tls(&mut self) -> io::Result<bool> {
        let dropped = self.wire.discard_input();
        if dropped > 0 {
            info!(
                session = %self.id,
                peer = %self.peer,
                octets = dropped,
                "discarding plaintext pipelined after STARTTLS"
            );
        }
        let (Some(config), Some(plain)) = (self.tls.clone(), self.wire.stream.take()) else {
            warn!(session = %self.id, peer = %self.peer, "STARTTLS without a TLS configuration");
            return Ok(false);
        };
        match tls::starttls(plain, config).await {
            Ok(encrypted) => {
                self.wire.stream = Some(encrypted);
                self.session.on_tls_established();
                debug!(session = %self.id, peer = %self.peer, "STARTTLS done");
                Ok(true)
            }
            Err(err) => {
                info!(session = %self.id, peer = %self.peer, error = %err, "STARTTLS handshake failed");
                Ok(false)
            }
        }
    }

    /// Runs a backend call and returns the session's next step.
    async fn call(&mut self, call: Call) -> io::Result<Step> {
        let backend = &self.service.backend;
        let step = match call {
            Call::Authenticate { user, password } => {
                let ip = self.peer.ip();
                match self.service.throttle.admit(ip, &user) {
                    Admission::Proceed => {}
                    Admission::Delay(delay, reason) => {
                        debug!(session = %self.id, peer = %self.peer, user = %user, delay = ?delay, %reason, "delaying AUTH");
                        self.wire.flush(self.config().command_timeout).await?;
                        tokio::time::sleep(delay).await;
                    }
                    Admission::Refuse(reason) => {
                        info!(session = %self.id, peer = %self.peer, user = %user, %reason, "AUTH refused by the login throttle");
                        let text = format!("{} {reason}, closing connection", self.config().hostname);
                        return Ok(Step::Close(vec![Reply::new(421, (4, 7, 0), text)]));
                    }
                }
                let result = backend.authenticate(self.session.info(), &user, &password).await;
                match &result {
                    Ok(principal) => {
                        self.service.throttle.succeeded(ip, &user);
                        info!(session = %self.id, peer = %self.peer, user = %user, account = %principal.account, "authenticated")
                    }
                    Err(reply) => {
                        info!(session = %self.id, peer = %self.peer, user = %user, code = reply.code, "authentication failed");
                        if reply.code >= 500 {
                            // The answer to a wrong password waits, more
                            // and more for a client that keeps failing.
                            let hold = self.service.throttle.failed(ip, &user, &password);
                            if !hold.is_zero() {
                                self.wire.flush(self.config().command_timeout).await?;
                                tokio::time::sleep(hold).await;
                            }
                        }
                    }
                }
                self.session.on_backend(Outcome::Authenticated(result))
            }
            Call::MailFrom { from, params } => {
                let result = backend.mail_from(self.session.info(), &from, &params).await;
                self.session.on_backend(Outcome::MailFrom(result))
            }
            Call::RcptTo { to } => {
                let Some(envelope) = self.session.envelope() else {
                    return Ok(Step::Close(vec![Reply::internal_error(&self.config().hostname)]));
                };
                let result = backend.rcpt_to(self.session.info(), envelope, &to).await;
                self.session.on_backend(Outcome::RcptTo(result))
            }
            Call::Data { message } => {
                let Some(envelope) = self.session.envelope() else {
                    return Ok(Step::Close(vec![Reply::internal_error(&self.config().hostname)]));
                };
                let (octets, recipients) = (message.len(), envelope.recipients.len());
                let reply = backend.data(self.session.info(), envelope, message).await;
                info!(
                    session = %self.id,
                    peer = %self.peer,
                    octets,
                    recipients,
                    code = reply.code,
                    "message received"
                );
                self.session.on_backend(Outcome::Data(reply))
            }
        };
        Ok(step)
    }

    fn log_reply(&self, reply: &Reply) {
        if reply.is_error() {
            let enhanced = reply.enhanced.map(|(c, s, d)| format!("{c}.{s}.{d}")).unwrap_or_default();
            if reply.code == 421 {
                info!(session = %self.id, peer = %self.peer, code = reply.code, enhanced = %enhanced, text = %reply.text(), "closing with error reply");
            } else {
                debug!(session = %self.id, peer = %self.peer, code = reply.code, enhanced = %enhanced, text = %reply.text(), "error reply");
            }
        }
    }
}
