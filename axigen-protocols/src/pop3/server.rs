//! The tokio driver of the POP3 session: [`Pop3Service`] runs a
//! [`Session`] over a connection from the [listener](crate::listener).
//!
//! The driver owns the socket, the [`LineReader`] and the clock; protocol
//! decisions are the session's. Responses are flushed before the driver
//! waits for input, before a message is streamed, before the STLS handshake
//! and before closing.
//!
//! - **Nothing the client pipelined after STLS is used** (RFC 2595 4,
//!   CVE-2011-0411): the reader and its buffer are dropped before the
//!   handshake.
//! - **An idle connection is closed** after [`Pop3Config::idle_timeout`]
//!   without a response and without deleting anything (RFC 1939 3).
//! - **Messages are streamed** in [`CHUNK`]-octet pieces, dot-stuffed on the
//!   way, so a large message is never copied whole into the output.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axigen_core::directory::Directory;
use axigen_core::mailstore::MailStore;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info, warn};

use super::command::{Line, LineReader};
use super::session::{DotStuffer, Next, Session, Transfer};
use crate::listener::{ConnInfo, Connection, RequestClock, Service};
use crate::tls;
use axigen_core::login_throttle::LoginThrottle;

/// Longest line the reader keeps: AUTH lines may exceed
/// [`Pop3Config::max_line`] (RFC 5034 4) up to this.
pub const MAX_AUTH_LINE: usize = 8 * 1024;
/// Octets of message content encoded and written at a time.
pub const CHUNK: usize = 64 * 1024;
const READ_SIZE: usize = 4 * 1024;
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of one POP3 listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Config {
    /// The server's name in the greeting.
    pub hostname: String,
    /// Whether USER/PASS and AUTH PLAIN are allowed without TLS (default
    /// false, RFC 2595 2.1).
    pub allow_plaintext_auth: bool,
    /// How long a silent client is kept (default 10 minutes, the minimum of
    /// RFC 1939 3).
    pub idle_timeout: Duration,
    /// Longest command line, line end included (default 512: RFC 2449 4's
    /// 255 octets with room to spare). Longer lines get `-ERR` and the
    /// session continues.
    pub max_line: usize,
}

impl Pop3Config {
    /// A configuration with every limit at its default.
    pub fn new(hostname: impl Into<String>) -> Pop3Config {
        Pop3Config {
            hostname: hostname.into(),
            allow_plaintext_auth: false,
            idle_timeout: Duration::from_secs(10 * 60),
            max_line: 512,
        }
    }
}

/// The POP3 protocol service: give it to [`Listener::run`](crate::listener::Listener::run).
pub struct Pop3Service {
    config: Arc<Pop3Config>,
    directory: Arc<dyn Directory>,
    store: Arc<dyn MailStore>,
    throttle: Arc<LoginThrottle>,
}

impl std::fmt::Debug for Pop3Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Service").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Pop3Service {
    /// A service over a directory and a mail store.
    pub fn new(config: Pop3Config, directory: Arc<dyn Directory>, store: Arc<dyn MailStore>) -> Pop3Service {
        Pop3Service { config: Arc::new(config), directory, store, throttle: Arc::default() }
    }

    /// Uses `throttle` for login failures, e.g. one shared with other listeners.
    pub fn with_throttle(mut self, throttle: Arc<LoginThrottle>) -> Pop3Service {
        self.throttle = throttle;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Pop3Config {
        &self.config
    }
}

fn next_session_id() -> String {
    crate::listener::session_id("p")
}

#[async_trait]
impl Service for Pop3Service {
    async fn serve(&self, conn: Box<dyn Connection>, info: ConnInfo, tls: Option<Arc<ServerConfig>>) {
        let id = next_session_id();
        debug!(session = %id, peer = %info.peer, listener = %info.listener, tls = info.tls, "pop3 session started");
        let session = Session::new(
            self.config.clone(),
            self.directory.clone(),
            self.store.clone(),
            id.clone(),
            info.peer,
            info.tls,
            tls.is_some() && !info.tls,
        )
        .with_throttle(self.throttle.clone());
        let mut driver = Driver {
            config: &self.config,
            session,
            stream: Some(conn),
            reader: LineReader::new(reader_limit(&self.config)),
            out: Vec::new(),
            tls,
            id,
            peer: info.peer,
            clock: RequestClock::new(info.request),
        };
        match driver.run().await {
            Ok(()) => debug!(session = %driver.id, peer = %driver.peer, "pop3 session ended"),
            Err(e) => debug!(session = %driver.id, peer = %driver.peer, error = %e, "pop3 session ended"),
        }
    }
}

fn reader_limit(config: &Pop3Config) -> usize {
    config.max_line.max(MAX_AUTH_LINE)
}

struct Driver<'a> {
    config: &'a Pop3Config,
    session: Session,
    stream: Option<Box<dyn Connection>>,
    reader: LineReader,
    out: Vec<u8>,
    tls: Option<Arc<ServerConfig>>,
    id: String,
    peer: std::net::SocketAddr,
    /// The deadline of the command line being received.
    clock: RequestClock,
}

impl Driver<'_> {
    fn stream(&mut self) -> io::Result<&mut Box<dyn Connection>> {
        self.stream.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection gone"))
    }

    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let stream = self.stream()?;
        match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(data)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            self.write(&out).await?;
            self.out = out;
            self.out.clear();
        }
        let stream = self.stream()?;
        match tokio::time::timeout(WRITE_TIMEOUT, stream.flush()).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        if let Ok(stream) = self.stream() {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.shutdown()).await;
        }
        Ok(())
    }

    /// Sends a message: the response line already in `out`, then the
    /// content dot-stuffed, then the final `.` line. Output is written once
    /// it passes [`CHUNK`] bytes, and otherwise when the driver next waits
    /// for the client: the answers to pipelined RETRs of small messages
    /// leave in a few large writes.
    async fn send(&mut self, transfer: Transfer) -> io::Result<()> {
        let mut stuffer = DotStuffer::default();
        for chunk in transfer.content.chunks(CHUNK) {
            stuffer.encode(chunk, &mut self.out);
            if self.out.len() >= CHUNK {
                let out = std::mem::take(&mut self.out);
                self.write(&out).await?;
                self.out = out;
                self.out.clear();
            }
        }
        stuffer.finish(&mut self.out);
        // Keep the buffer small between messages.
        if self.out.capacity() > 4 * CHUNK {
            self.out.shrink_to(CHUNK);
        }
        Ok(())
    }

    async fn run(&mut self) -> io::Result<()> {
        self.session.greeting(&mut self.out);
        let mut buf = Vec::with_capacity(READ_SIZE);
        loop {
            let next = match self.reader.next_line() {
                Some(Line::Complete(line)) => {
                    self.clock.finished();
                    self.session.execute(&line, &mut self.out).await
                }
                Some(Line::TooLong) => {
                    self.clock.finished();
                    self.session.line_too_long(&mut self.out)
                }
                None => {
                    self.flush().await?;
                    buf.clear();
                    let now = tokio::time::Instant::now();
                    if !self.clock.running() && self.reader.buffered() > 0 {
                        self.clock.received(0, now);
                    }
                    // Between commands the idle timeout; once a command has
                    // begun, its deadline.
                    let timeout = self.clock.wait(self.config.idle_timeout, now);
                    let stream = self.stream()?;
                    match tokio::time::timeout(timeout, stream.read_buf(&mut buf)).await {
                        Ok(Ok(0)) => return Ok(()),
                        Ok(Ok(n)) => {
                            self.clock.received(n, tokio::time::Instant::now());
                            self.reader.feed(&buf[..n]);
                        }
                        Ok(Err(e)) => return Err(e),
                        Err(_) if self.clock.running() => {
                            info!(session = %self.id, peer = %self.peer, "pop3: a command took too long to arrive");
                            self.out.extend_from_slice(b"-ERR command not received in time\r\n");
                            return self.close().await;
                        }
                        Err(_) => {
                            // RFC 1939 3: the autologout timer closes the
                            // connection without entering UPDATE.
                            info!(session = %self.id, peer = %self.peer, "pop3: idle timeout");
                            if let Ok(stream) = self.stream() {
                                let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.shutdown()).await;
                            }
                            return Ok(());
                        }
                    }
                    continue;
                }
            };
            match next {
                Next::Read | Next::AuthLine => {}
                Next::Send(transfer) => self.send(transfer).await?,
                Next::Close => return self.close().await,
                Next::StartTls => {
                    self.flush().await?;
                    if !self.start_tls().await {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// RFC 2595 4: drop whatever was pipelined after STLS, then handshake.
    /// False when the connection is done.
    async fn start_tls(&mut self) -> bool {
        let dropped = self.reader.buffered();
        if dropped > 0 {
            info!(session = %self.id, peer = %self.peer, octets = dropped, "discarding plaintext pipelined after STLS");
        }
        self.reader = LineReader::new(reader_limit(self.config));
        let (Some(config), Some(plain)) = (self.tls.clone(), self.stream.take()) else {
            warn!(session = %self.id, peer = %self.peer, "STLS without a TLS configuration");
            return false;
        };
        match tls::starttls(plain, config).await {
            Ok(encrypted) => {
                self.stream = Some(encrypted);
                self.session.on_tls_established();
                debug!(session = %self.id, peer = %self.peer, "STLS done");
                true
            }
            Err(e) => {
                info!(session = %self.id, peer = %self.peer, error = %e, "STLS handshake failed");
                false
            }
        }
    }
}
