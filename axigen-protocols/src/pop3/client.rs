//! A POP3 client (RFC 1939) for fetching remote mailboxes (RPOP): plain,
//! STLS (RFC 2595) or implicit TLS with rustls; USER/PASS; UIDL, RETR with
//! dot-unstuffing, DELE and QUIT. Every reply is bounded (line length,
//! message size) and every read has a time-out; a server that sends
//! garbage gets an error, never a panic or a hang.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use axigen_core::rpop::RpopTls;

/// The longest reply line read (RFC 2449 allows 512 octets).
const MAX_LINE: usize = 1024;

/// Why a POP3 exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum Pop3ClientError {
    /// Connecting, reading or writing failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server said `-ERR`.
    #[error("{command} refused: {text}")]
    Refused {
        /// The command.
        command: &'static str,
        /// The server's text.
        text: String,
    },
    /// The server does not speak POP3 as expected.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server offers no STLS although the source requires it.
    #[error("the server does not offer STLS")]
    NoStls,
    /// A message is larger than the limit.
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
}

/// The connection, before or after TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A logged-in (or about to be) POP3 session.
pub struct Pop3Client {
    io: BufReader<Stream>,
    timeout: Duration,
}

impl std::fmt::Debug for Pop3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pop3Client").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Pop3Client {
    /// Connects and reads the greeting; with [`RpopTls::Stls`] upgrades
    /// the connection before anything else is said. `server_name` is what
    /// the certificate is checked against.
    pub async fn connect(
        addr: SocketAddr,
        tls: RpopTls,
        tls_config: Arc<rustls::ClientConfig>,
        server_name: &str,
        timeout: Duration,
    ) -> Result<Pop3Client, Pop3ClientError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Pop3ClientError::Timeout(timeout))??;
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| Pop3ClientError::Protocol(format!("{server_name:?} is not a server name")))?;
        let connector = TlsConnector::from(tls_config);
        let handshake = |tcp: TcpStream| {
            let (connector, name) = (connector.clone(), name.clone());
            async move {
                tokio::time::timeout(timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| Pop3ClientError::Timeout(timeout))?
                    .map(|s| Stream::Tls(Box::new(s)))
                    .map_err(Pop3ClientError::Io)
            }
        };
        let stream = match tls {
            RpopTls::Implicit => handshake(tcp).await?,
            _ => Stream::Plain(tcp),
        };
        let mut client = Pop3Client { io: BufReader::new(stream), timeout };
        client.status("greeting").await?;
        if tls == RpopTls::Stls {
            client.send("STLS").await?;
            client.status("STLS").await.map_err(|e| match e {
                Pop3ClientError::Refused { .. } => Pop3ClientError::NoStls,
                other => other,
            })?;
            if !client.io.buffer().is_empty() {
                return Err(Pop3ClientError::Protocol("data after the STLS reply".into()));
            }
            let Stream::Plain(tcp) = client.io.into_inner() else {
                return Err(Pop3ClientError::Protocol("STLS on an encrypted connection".into()));
            };
            client = Pop3Client { io: BufReader::new(handshake(tcp).await?), timeout };
        }
        Ok(client)
    }

    async fn send(&mut self, line: &str) -> Result<(), Pop3ClientError> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let write = async {
            self.io.get_mut().write_all(&bytes).await?;
            self.io.get_mut().flush().await
        };
        tokio::time::timeout(self.timeout, write).await.map_err(|_| Pop3ClientError::Timeout(self.timeout))??;
        Ok(())
    }

    /// One line without its line end.
    async fn line(&mut self) -> Result<Vec<u8>, Pop3ClientError> {
        let mut line = Vec::new();
        let timeout = self.timeout;
        let mut limited = (&mut self.io).take(MAX_LINE as u64 + 2);
        let n = tokio::time::timeout(timeout, limited.read_until(b'\n', &mut line))
            .await
            .map_err(|_| Pop3ClientError::Timeout(timeout))??;
        if n == 0 {
            return Err(Pop3ClientError::Protocol("the server closed the connection".into()));
        }
        if line.last() != Some(&b'\n') {
            return Err(Pop3ClientError::Protocol(format!("a line longer than {MAX_LINE} bytes")));
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(line)
    }

    /// A status line: the text after `+OK`, or the refusal.
    async fn status(&mut self, command: &'static str) -> Result<String, Pop3ClientError> {
        let line = self.line().await?;
        let text = String::from_utf8_lossy(&line).into_owned();
        if let Some(rest) = text.strip_prefix("+OK") {
            Ok(rest.trim().to_owned())
        } else if let Some(rest) = text.strip_prefix("-ERR") {
            Err(Pop3ClientError::Refused { command, text: rest.trim().to_owned() })
        } else {
            Err(Pop3ClientError::Protocol(format!("{command}: unexpected reply {text:?}")))
        }
    }

    /// The lines of a multi-line reply, dot-unstuffed, up to `limit` bytes.
    async fn multiline(&mut self, limit: usize) -> Result<Vec<Vec<u8>>, Pop3ClientError> {
        let mut lines = Vec::new();
        let mut total = 0usize;
        loop {
            let mut line = self.line().await?;
            if line == b"." {
                return Ok(lines);
            }
            if line.first() == Some(&b'.') {
                line.remove(0);
            }
            total += line.len() + 2;
            if total > limit {
                return Err(Pop3ClientError::TooLarge(limit));
            }
            lines.push(line);
        }
    }

    /// USER and PASS.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Pop3ClientError> {
        if user.contains(['\r', '\n']) || password.contains(['\r', '\n']) {
            return Err(Pop3ClientError::Protocol("credentials must be one line".into()));
        }
        self.send(&format!("USER {user}")).await?;
        self.status("USER").await?;
        self.send(&format!("PASS {password}")).await?;
        self.status("PASS").await?;
        Ok(())
    }

    /// Every message's number and unique id.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>, Pop3ClientError> {
        self.send("UIDL").await?;
        self.status("UIDL").await?;
        let mut out = Vec::new();
        for line in self.multiline(64 << 20).await? {
            let text = String::from_utf8_lossy(&line);
            let mut parts = text.split_whitespace();
            let (Some(n), Some(id), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(Pop3ClientError::Protocol(format!("bad UIDL line {text:?}")));
            };
            let n = n.parse().map_err(|_| Pop3ClientError::Protocol(format!("bad UIDL line {text:?}")))?;
            out.push((n, id.to_owned()));
        }
        Ok(out)
    }

    /// A whole message (CRLF line ends), at most `limit` bytes.
    pub async fn retr(&mut self, n: u32, limit: usize) -> Result<Vec<u8>, Pop3ClientError> {
        self.send(&format!("RETR {n}")).await?;
        self.status("RETR").await?;
        let mut message = Vec::new();
        for line in self.multiline(limit).await? {
            message.extend_from_slice(&line);
            message.extend_from_slice(b"\r\n");
        }
        Ok(message)
    }

    /// Marks a message for deletion (done at QUIT).
    pub async fn dele(&mut self, n: u32) -> Result<(), Pop3ClientError> {
        self.send(&format!("DELE {n}")).await?;
        self.status("DELE").await.map(|_| ())
    }

    /// QUIT: the server removes the marked messages.
    pub async fn quit(mut self) -> Result<(), Pop3ClientError> {
        self.send("QUIT").await?;
        self.status("QUIT").await.map(|_| ())
    }
}
