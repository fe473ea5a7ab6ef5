//! The outbound SMTP client (RFC 5321) that the delivery service uses to
//! hand messages to other servers.
//!
//! - [`reply`]: the sans-IO parser of server replies and the EHLO
//!   [`Capabilities`].
//! - [`SmtpClient`]: the tokio driver over a `TcpStream`: greeting, EHLO
//!   (HELO when EHLO is not understood), STARTTLS with rustls according to a
//!   [`TlsPolicy`] (RFC 3207), AUTH PLAIN / LOGIN (RFC 4954), then any number
//!   of transactions with [`SmtpClient::send`], and QUIT with
//!   [`SmtpClient::quit`].
//!
//! # Choices
//!
//! - **Per-command timeouts** follow RFC 5321 4.5.3.2 ([`Timeouts`]); each
//!   bounds the whole wait for one reply, so a server that trickles bytes
//!   cannot stretch it.
//! - **PIPELINING** (RFC 2920): when offered, MAIL, every RCPT and DATA go
//!   out in one write, and the replies are read in order.
//! - **SMTPUTF8** (RFC 6531): needed when the sender or a recipient is not
//!   ASCII; if the server does not offer it, [`SmtpClient::send`] refuses
//!   with [`ClientError::Smtputf8NotOffered`] before sending anything (the
//!   caller bounces or tries another host).
//! - **8BITMIME** (RFC 6152): an 8-bit message is sent with `BODY=8BITMIME`
//!   when offered. When it is not, the message is sent as it is (most
//!   servers take 8-bit text anyway, and the client does not convert to
//!   7-bit), unless [`ClientConfig::require_8bitmime`] asks to refuse with
//!   [`ClientError::EightBitNotOffered`].
//! - **SIZE** (RFC 1870): `SIZE=` is sent when offered; a message larger
//!   than the announced limit is refused before MAIL
//!   ([`ClientError::MessageTooLarge`]).
//! - **The message** is normalised: every bare CR or LF becomes CRLF, a
//!   final CRLF is added when missing, and lines starting with `.` get a
//!   second one (RFC 5321 4.5.2).
//! - **Several messages per connection**: a transaction after the first is
//!   preceded by RSET.
//! - **After a failure** of the connection (I/O error, timeout, malformed
//!   reply, 421) every further call returns [`ClientError::Broken`]; the
//!   caller opens a new connection.
//! - **STARTTLS injection** (RFC 3207 4.2): bytes received after the 220 of
//!   STARTTLS and before the handshake are a protocol error.
//! - AUTH is only attempted over TLS unless
//!   [`ClientConfig::allow_plaintext_auth`] is set.

pub mod reply;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub use reply::{Capabilities, EnhancedCode, MAX_LINE, MAX_LINES, ReplyError, ReplyParser, ServerReply};

/// Whether to upgrade the connection with STARTTLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Never: the session stays in clear text.
    None,
    /// When the server offers STARTTLS; in clear text otherwise. A failed
    /// handshake is an error ([`ClientError::TlsHandshake`]), after which
    /// the caller may connect again with [`TlsPolicy::None`].
    #[default]
    Opportunistic,
    /// Always: a server without STARTTLS is an error
    /// ([`ClientError::StartTlsNotOffered`]).
    Required,
}

/// How long to wait for each reply (RFC 5321 4.5.3.2), and for the
/// connection and the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The TCP connection (default 1 minute).
    pub connect: Duration,
    /// The 220 greeting (default 5 minutes).
    pub greeting: Duration,
    /// EHLO, HELO, STARTTLS, AUTH, RSET and QUIT (default 5 minutes).
    pub command: Duration,
    /// The TLS handshake (default 1 minute).
    pub tls_handshake: Duration,
    /// MAIL FROM (default 5 minutes).
    pub mail: Duration,
    /// Each RCPT TO (default 5 minutes).
    pub rcpt: Duration,
    /// The 354 to DATA (default 2 minutes).
    pub data_init: Duration,
    /// Each write of a block of the message (default 3 minutes).
    pub data_block: Duration,
    /// The reply to the final dot (default 10 minutes).
    pub data_end: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Timeouts {
            connect: minutes(1),
            greeting: minutes(5),
            command: minutes(5),
            tls_handshake: minutes(1),
            mail: minutes(5),
            rcpt: minutes(5),
            data_init: minutes(2),
            data_block: minutes(3),
            data_end: minutes(10),
        }
    }
}

impl Timeouts {
    /// Every timeout set to `limit` (tests, tools).
    pub fn all(limit: Duration) -> Timeouts {
        Timeouts {
            connect: limit,
            greeting: limit,
            command: limit,
            tls_handshake: limit,
            mail: limit,
            rcpt: limit,
            data_init: limit,
            data_block: limit,
            data_end: limit,
        }
    }
}

/// A user name and password for AUTH.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication identity.
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    /// Hides the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"<hidden>").finish()
    }
}

/// How an [`SmtpClient`] connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The client's name in EHLO/HELO.
    pub hostname: String,
    /// When to use STARTTLS.
    pub tls: TlsPolicy,
    /// The rustls configuration (trusted roots or verifier); needed unless
    /// `tls` is [`TlsPolicy::None`].
    pub tls_config: Option<Arc<rustls::ClientConfig>>,
    /// The name the server's certificate is checked against (and sent as
    /// SNI); the server's IP address when `None`.
    pub server_name: Option<String>,
    /// Authenticate with these after EHLO (and STARTTLS).
    pub credentials: Option<Credentials>,
    /// Allow AUTH on a connection without TLS.
    pub allow_plaintext_auth: bool,
    /// Refuse to send an 8-bit message to a server without 8BITMIME
    /// (default: send it as it is).
    pub require_8bitmime: bool,
    /// Per-command timeouts.
    pub timeouts: Timeouts,
}

impl ClientConfig {
    /// A configuration with the given EHLO name and no TLS, no AUTH and the
    /// default timeouts.
    pub fn new(hostname: impl Into<String>) -> ClientConfig {
        ClientConfig {
            hostname: hostname.into(),
            tls: TlsPolicy::None,
            tls_config: None,
            server_name: None,
            credentials: None,
            allow_plaintext_auth: false,
            require_8bitmime: false,
            timeouts: Timeouts::default(),
        }
    }

    /// The same with a TLS policy and its rustls configuration.
    pub fn with_tls(mut self, policy: TlsPolicy, config: Arc<rustls::ClientConfig>) -> ClientConfig {
        self.tls = policy;
        self.tls_config = Some(config);
        self
    }
}

/// Why a connection or a transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A bad configuration or argument (an address or name with a line
    /// break, no recipients, TLS without a rustls configuration).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The TCP connection failed.
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// Reading or writing failed.
    #[error("I/O error during {stage}: {source}")]
    Io {
        /// What the client was doing.
        stage: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The server did not answer in time.
    #[error("timeout during {stage}")]
    Timeout {
        /// What the client was waiting for.
        stage: &'static str,
    },
    /// The server closed the connection.
    #[error("connection closed by the server during {stage}")]
    Closed {
        /// What the client was waiting for.
        stage: &'static str,
    },
    /// The server sent bytes that are not a valid reply, or at a time when
    /// it must not send any.
    #[error("protocol error during {stage}: {message}")]
    Protocol {
        /// What the client was waiting for.
        stage: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The greeting is not 220.
    #[error("server refused the connection: {0}")]
    Greeting(ServerReply),
    /// The server closes the connection (421).
    #[error("server is closing the connection: {0}")]
    ServiceClosing(ServerReply),
    /// A command got an unexpected negative reply.
    #[error("{command} refused: {reply}")]
    Refused {
        /// The command.
        command: &'static str,
        /// The server's reply.
        reply: ServerReply,
    },
    /// [`TlsPolicy::Required`], and the server does not offer STARTTLS.
    #[error("STARTTLS required but not offered by the server")]
    StartTlsNotOffered,
    /// The TLS handshake failed; the connection is closed. The caller may
    /// retry in clear text when its policy allows.
    #[error("TLS handshake failed (a retry without TLS may work): {0}")]
    TlsHandshake(#[source] io::Error),
    /// The server does not offer AUTH with PLAIN or LOGIN.
    #[error("no supported AUTH mechanism offered (server offers {0:?})")]
    AuthNotOffered(Vec<String>),
    /// AUTH would send the password in clear text.
    #[error("AUTH refused without TLS (allow_plaintext_auth is off)")]
    AuthWithoutTls,
    /// The server refused the credentials.
    #[error("authentication failed: {0}")]
    AuthFailed(ServerReply),
    /// The envelope needs SMTPUTF8 and the server does not offer it.
    #[error("the envelope needs SMTPUTF8, which the server does not offer")]
    Smtputf8NotOffered,
    /// The message is 8-bit, the server does not offer 8BITMIME and
    /// [`ClientConfig::require_8bitmime`] is set.
    #[error("the message is 8-bit and the server does not offer 8BITMIME")]
    EightBitNotOffered,
    /// The message is larger than the server's SIZE limit.
    #[error("message of {size} bytes exceeds the server's limit of {limit} bytes")]
    MessageTooLarge {
        /// The message size as sent.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// An earlier error left the connection unusable.
    #[error("the connection is no longer usable after an earlier error")]
    Broken,
}

impl ClientError {
    /// Whether the error comes from the TLS handshake, so that a retry in
    /// clear text may succeed.
    pub fn is_tls_failure(&self) -> bool {
        matches!(self, ClientError::TlsHandshake(_))
    }
}

/// What became of one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptStatus {
    /// RCPT was accepted; the outcome of the message is [`Transaction::data`].
    Accepted(ServerReply),
    /// RCPT (or MAIL, which then applies to every recipient) was refused
    /// with this reply.
    Refused(ServerReply),
}

/// The outcome of [`SmtpClient::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The reply to MAIL FROM.
    pub mail: ServerReply,
    /// Each recipient, in the order given, with its status.
    pub recipients: Vec<(String, RcptStatus)>,
    /// The final reply for the message: the reply to the final dot, or the
    /// refusal of DATA. `None` when DATA was not reached (MAIL refused or no
    /// recipient accepted).
    pub data: Option<ServerReply>,
}

impl Transaction {
    /// Whether the server took responsibility for the message (for the
    /// accepted recipients).
    pub fn delivered(&self) -> bool {
        self.data.as_ref().is_some_and(ServerReply::is_positive)
    }

    /// The reply that decides the fate of recipient `index`: its RCPT
    /// refusal, the final reply of the message, or the RCPT reply when DATA
    /// was not reached.
    pub fn outcome(&self, index: usize) -> Option<&ServerReply> {
        match &self.recipients.get(index)?.1 {
            RcptStatus::Refused(reply) => Some(reply),
            RcptStatus::Accepted(reply) => Some(self.data.as_ref().unwrap_or(reply)),
        }
    }
}

/// The byte stream, clear or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

impl Conn {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf).await,
            Conn::Tls(s) => s.read(buf).await,
            Conn::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Conn::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Conn::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Conn::Plain(s) => s.shutdown().await,
            Conn::Tls(s) => s.shutdown().await,
            Conn::Gone => Ok(()),
        };
    }
}

/// An SMTP client connection, ready for transactions.
pub struct SmtpClient {
    conn: Conn,
    parser: ReplyParser,
    config: ClientConfig,
    greeting: ServerReply,
    capabilities: Capabilities,
    /// Whether EHLO was understood (false after a HELO fallback).
    esmtp: bool,
    tls: bool,
    authenticated: bool,
    /// A transaction was attempted: the next one starts with RSET.
    used: bool,
    broken: bool,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("greeting", &self.greeting)
            .field("capabilities", &self.capabilities)
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("broken", &self.broken)
            .finish()
    }
}

/// Whether a name or address is safe on a command line.
fn check_argument(what: &str, value: &str) -> Result<(), ClientError> {
    if value.chars().any(|c| c.is_control() || c == '<' || c == '>' || c == ' ') {
        return Err(ClientError::InvalidArgument(format!("{what} {value:?} holds a space, a control or <>")));
    }
    Ok(())
}

/// The message as sent after DATA: lines ending with CRLF, dot-stuffed,
/// followed by the end marker `.` CRLF.
pub fn encode_data(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 50 + 5);
    let mut line_start = true;
    let mut i = 0;
    while i < message.len() {
        let byte = message[i];
        if line_start && byte == b'.' {
            out.push(b'.');
        }
        match byte {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if message.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                line_start = true;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                line_start = true;
            }
            _ => {
                out.push(byte);
                line_start = false;
            }
        }
        i += 1;
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

impl SmtpClient {
    /// Connects to `addr` and prepares the session: greeting, EHLO (or
    /// HELO), STARTTLS and EHLO again according to the TLS policy, and AUTH
    /// when credentials are configured.
    pub async fn connect(addr: SocketAddr, config: ClientConfig) -> Result<SmtpClient, ClientError> {
        check_argument("hostname", &config.hostname)?;
        if config.hostname.is_empty() {
            return Err(ClientError::InvalidArgument("empty hostname".into()));
        }
        if config.tls != TlsPolicy::None && config.tls_config.is_none() {
            return Err(ClientError::InvalidArgument("a TLS policy without a rustls configuration".into()));
        }
        let stream = match timeout(config.timeouts.connect, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(ClientError::Connect(e)),
            Err(_) => return Err(ClientError::Timeout { stage: "connect" }),
        };
        let _ = stream.set_nodelay(true);
        let mut client = SmtpClient {
            conn: Conn::Plain(stream),
            parser: ReplyParser::new(),
            greeting: ServerReply { code: 220, enhanced: None, lines: vec![String::new()] },
            capabilities: Capabilities::default(),
            esmtp: false,
            tls: false,
            authenticated: false,
            used: false,
            broken: false,
            config,
        };
        let greeting = client.read_reply("greeting", client.config.timeouts.greeting).await?;
        if greeting.code != 220 {
            client.broken = true;
            return Err(ClientError::Greeting(greeting));
        }
        client.greeting = greeting;
        client.hello().await?;
        let wants_tls = match client.config.tls {
            TlsPolicy::None => false,
            TlsPolicy::Opportunistic => client.capabilities.starttls,
            TlsPolicy::Required if client.capabilities.starttls => true,
            TlsPolicy::Required => return Err(ClientError::StartTlsNotOffered),
        };
        if wants_tls {
            client.starttls(addr).await?;
            client.hello().await?;
        }
        if client.config.credentials.is_some() {
            client.authenticate().await?;
        }
        Ok(client)
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &ServerReply {
        &self.greeting
    }

    /// The capabilities of the last EHLO (empty after HELO).
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Whether the session speaks ESMTP (EHLO was accepted).
    pub fn is_esmtp(&self) -> bool {
        self.esmtp
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether AUTH succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the connection can still be used.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    /// Sends one message to `recipients` and returns what became of each.
    ///
    /// A negative reply to MAIL, RCPT or DATA is part of the returned
    /// [`Transaction`], not an error; errors are about the connection
    /// (I/O, timeouts, malformed replies, 421) or about what the client
    /// refuses to send (see the module's choices).
    pub async fn send(
        &mut self,
        from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Transaction, ClientError> {
        if self.broken {
            return Err(ClientError::Broken);
        }
        check_argument("sender", from)?;
        if recipients.is_empty() {
            return Err(ClientError::InvalidArgument("no recipients".into()));
        }
        for rcpt in recipients {
            check_argument("recipient", rcpt)?;
            if rcpt.is_empty() {
                return Err(ClientError::InvalidArgument("an empty recipient".into()));
            }
        }
        let caps = &self.capabilities;
        let utf8 = !from.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
        if utf8 && !caps.smtputf8 {
            return Err(ClientError::Smtputf8NotOffered);
        }
        let eight_bit = !message.is_ascii();
        if eight_bit && !caps.eight_bit_mime && self.config.require_8bitmime {
            return Err(ClientError::EightBitNotOffered);
        }
        let data = encode_data(message);
        let size = (data.len() - 3) as u64;
        if let Some(limit) = caps.max_size.filter(|&limit| size > limit) {
            return Err(ClientError::MessageTooLarge { size, limit });
        }

        let mut mail = format!("MAIL FROM:<{from}>");
        if caps.size {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if (eight_bit || utf8) && caps.eight_bit_mime {
            mail.push_str(" BODY=8BITMIME");
        }
        if utf8 {
            mail.push_str(" SMTPUTF8");
        }
        mail.push_str("\r\n");
        let pipelining = caps.pipelining;

        if self.used {
            self.command("RSET\r\n", "RSET", self.config.timeouts.command).await.and_then(|reply| {
                if reply.is_positive() { Ok(()) } else { Err(ClientError::Refused { command: "RSET", reply }) }
            })?;
        }
        self.used = true;

        let timeouts = self.config.timeouts;
        let rcpt_lines: Vec<String> = recipients.iter().map(|r| format!("RCPT TO:<{r}>\r\n")).collect();
        if pipelining {
            let mut batch = mail.clone().into_bytes();
            for line in &rcpt_lines {
                batch.extend_from_slice(line.as_bytes());
            }
            batch.extend_from_slice(b"DATA\r\n");
            self.write(&batch, "MAIL", timeouts.mail).await?;
            let mail_reply = self.reply_checked("MAIL", timeouts.mail).await?;
            let mut statuses = Vec::with_capacity(recipients.len());
            for rcpt in recipients {
                let reply = self.reply_checked("RCPT", timeouts.rcpt).await?;
                statuses.push((rcpt.clone(), reply));
            }
            let data_reply = self.reply_checked("DATA", timeouts.data_init).await?;
            if !mail_reply.is_positive() {
                if data_reply.code == 354 {
                    // A server that accepts DATA anyway gets an empty message's end.
                    self.write(b".\r\n", "DATA", timeouts.data_block).await?;
                    self.reply_checked("DATA end", timeouts.data_end).await?;
                }
                let recipients = recipients.iter().map(|r| (r.clone(), RcptStatus::Refused(mail_reply.clone())));
                return Ok(Transaction { recipients: recipients.collect(), mail: mail_reply, data: None });
            }
            let recipients = statuses.into_iter().map(|(r, reply)| (r, rcpt_status(reply))).collect();
            let mut transaction = Transaction { mail: mail_reply, recipients, data: None };
            let any = transaction.recipients.iter().any(|(_, s)| matches!(s, RcptStatus::Accepted(_)));
            if data_reply.code != 354 {
                if any {
                    transaction.data = Some(data_reply);
                }
                return Ok(transaction);
            }
            if !any {
                // RFC 2920 3.1: DATA was accepted without recipients; end it empty.
                self.write(b".\r\n", "DATA", timeouts.data_block).await?;
                self.reply_checked("DATA end", timeouts.data_end).await?;
                return Ok(transaction);
            }
            transaction.data = Some(self.send_data(&data).await?);
            Ok(transaction)
        } else {
            let mail_reply = self.command(&mail, "MAIL", timeouts.mail).await?;
            if !mail_reply.is_positive() {
                let recipients = recipients.iter().map(|r| (r.clone(), RcptStatus::Refused(mail_reply.clone())));
                return Ok(Transaction { recipients: recipients.collect(), mail: mail_reply, data: None });
            }
            let mut transaction = Transaction { mail: mail_reply, recipients: Vec::new(), data: None };
            for (rcpt, line) in recipients.iter().zip(&rcpt_lines) {
                let reply = self.command(line, "RCPT", timeouts.rcpt).await?;
                transaction.recipients.push((rcpt.clone(), rcpt_status(reply)));
            }
            if !transaction.recipients.iter().any(|(_, s)| matches!(s, RcptStatus::Accepted(_))) {
                return Ok(transaction);
            }
            let data_reply = self.command("DATA\r\n", "DATA", timeouts.data_init).await?;
            if data_reply.code != 354 {
                transaction.data = Some(data_reply);
                return Ok(transaction);
            }
            transaction.data = Some(self.send_data(&data).await?);
            Ok(transaction)
        }
    }

    /// Sends QUIT, reads its reply (whatever it is) and closes the
    /// connection.
    pub async fn quit(mut self) -> Result<(), ClientError> {
        if self.broken {
            self.conn.shutdown().await;
            return Err(ClientError::Broken);
        }
        let result = self.command("QUIT\r\n", "QUIT", self.config.timeouts.command).await.map(|_| ());
        self.conn.shutdown().await;
        result
    }

    /// Writes the encoded message in blocks, then reads the final reply.
    async fn send_data(&mut self, data: &[u8]) -> Result<ServerReply, ClientError> {
        for block in data.chunks(64 * 1024) {
            self.write(block, "DATA block", self.config.timeouts.data_block).await?;
        }
        self.reply_checked("DATA end", self.config.timeouts.data_end).await
    }

    /// EHLO, or HELO when EHLO is not understood (500, 502).
    async fn hello(&mut self) -> Result<(), ClientError> {
        let limit = self.config.timeouts.command;
        let ehlo = format!("EHLO {}\r\n", self.config.hostname);
        let reply = self.command(&ehlo, "EHLO", limit).await?;
        if reply.is_positive() {
            self.capabilities = Capabilities::from_ehlo(&reply);
            self.esmtp = true;
            return Ok(());
        }
        if !matches!(reply.code, 500 | 502) {
            self.broken = true;
            return Err(ClientError::Refused { command: "EHLO", reply });
        }
        let helo = format!("HELO {}\r\n", self.config.hostname);
        let reply = self.command(&helo, "HELO", limit).await?;
        if !reply.is_positive() {
            self.broken = true;
            return Err(ClientError::Refused { command: "HELO", reply });
        }
        self.capabilities = Capabilities::default();
        self.esmtp = false;
        Ok(())
    }

    /// STARTTLS and the handshake.
    async fn starttls(&mut self, addr: SocketAddr) -> Result<(), ClientError> {
        let limit = self.config.timeouts.command;
        let reply = self.command("STARTTLS\r\n", "STARTTLS", limit).await?;
        if reply.code != 220 {
            if self.config.tls == TlsPolicy::Required {
                self.broken = true;
                return Err(ClientError::Refused { command: "STARTTLS", reply });
            }
            // Opportunistic: carry on in clear text.
            return Ok(());
        }
        if self.parser.pending() > 0 {
            self.broken = true;
            return Err(ClientError::Protocol {
                stage: "STARTTLS",
                message: "data received after the 220 of STARTTLS, before the TLS handshake".into(),
            });
        }
        let name = match &self.config.server_name {
            Some(name) => ServerName::try_from(name.clone())
                .map_err(|e| ClientError::InvalidArgument(format!("server name {name:?}: {e}")))?,
            None => ServerName::IpAddress(addr.ip().into()),
        };
        let Some(tls_config) = self.config.tls_config.clone() else {
            return Err(ClientError::InvalidArgument("a TLS policy without a rustls configuration".into()));
        };
        let Conn::Plain(stream) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            self.broken = true;
            return Err(ClientError::Protocol { stage: "STARTTLS", message: "already TLS".into() });
        };
        self.broken = true;
        let handshake = TlsConnector::from(tls_config).connect(name, stream);
        let stream = match timeout(self.config.timeouts.tls_handshake, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(ClientError::TlsHandshake(e)),
            Err(_) => return Err(ClientError::TlsHandshake(io::Error::new(io::ErrorKind::TimedOut, "timeout"))),
        };
        self.conn = Conn::Tls(Box::new(stream));
        self.broken = false;
        self.tls = true;
        self.parser = ReplyParser::new();
        self.capabilities = Capabilities::default();
        Ok(())
    }

    /// AUTH PLAIN (with an initial response) or LOGIN.
    async fn authenticate(&mut self) -> Result<(), ClientError> {
        let Some(credentials) = self.config.credentials.clone() else { return Ok(()) };
        if !self.tls && !self.config.allow_plaintext_auth {
            return Err(ClientError::AuthWithoutTls);
        }
        let limit = self.config.timeouts.command;
        let reply = if self.capabilities.has_auth("PLAIN") {
            let token = BASE64.encode(format!("\0{}\0{}", credentials.user, credentials.password));
            self.command(&format!("AUTH PLAIN {token}\r\n"), "AUTH", limit).await?
        } else if self.capabilities.has_auth("LOGIN") {
            let mut reply = self.command("AUTH LOGIN\r\n", "AUTH", limit).await?;
            for secret in [&credentials.user, &credentials.password] {
                if reply.code != 334 {
                    break;
                }
                reply = self.command(&format!("{}\r\n", BASE64.encode(secret)), "AUTH", limit).await?;
            }
            reply
        } else {
            return Err(ClientError::AuthNotOffered(self.capabilities.auth.clone()));
        };
        if reply.code == 334 {
            // A challenge we cannot answer: cancel the exchange (RFC 4954 4).
            let reply = self.command("*\r\n", "AUTH", limit).await?;
            return Err(ClientError::AuthFailed(reply));
        }
        if reply.code != 235 {
            return Err(ClientError::AuthFailed(reply));
        }
        self.authenticated = true;
        Ok(())
    }

    /// Writes a command line and reads its reply.
    async fn command(&mut self, line: &str, stage: &'static str, limit: Duration) -> Result<ServerReply, ClientError> {
        self.write(line.as_bytes(), stage, limit).await?;
        self.reply_checked(stage, limit).await
    }

    /// Reads a reply; a 421 ends the connection.
    async fn reply_checked(&mut self, stage: &'static str, limit: Duration) -> Result<ServerReply, ClientError> {
        let reply = self.read_reply(stage, limit).await?;
        if reply.code == 421 {
            self.broken = true;
            return Err(ClientError::ServiceClosing(reply));
        }
        Ok(reply)
    }

    async fn write(&mut self, bytes: &[u8], stage: &'static str, limit: Duration) -> Result<(), ClientError> {
        if self.broken {
            return Err(ClientError::Broken);
        }
        match timeout(limit, self.conn.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => {
                self.broken = true;
                Err(ClientError::Io { stage, source })
            }
            Err(_) => {
                self.broken = true;
                Err(ClientError::Timeout { stage })
            }
        }
    }

    /// Reads one reply within `limit`.
    async fn read_reply(&mut self, stage: &'static str, limit: Duration) -> Result<ServerReply, ClientError> {
        if self.broken {
            return Err(ClientError::Broken);
        }
        let result = match timeout(limit, self.read_reply_inner(stage)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout { stage }),
        };
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    async fn read_reply_inner(&mut self, stage: &'static str) -> Result<ServerReply, ClientError> {
        let mut buf = [0u8; 4096];
        loop {
            match self.parser.next_reply() {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol { stage, message: e.to_string() }),
            }
            let n = self.conn.read(&mut buf).await.map_err(|source| ClientError::Io { stage, source })?;
            if n == 0 {
                return Err(ClientError::Closed { stage });
            }
            self.parser.push(&buf[..n]);
        }
    }
}

fn rcpt_status(reply: ServerReply) -> RcptStatus {
    if reply.is_positive() { RcptStatus::Accepted(reply) } else { RcptStatus::Refused(reply) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_normalised_and_dot_stuffed() {
        assert_eq!(encode_data(b""), b".\r\n");
        assert_eq!(encode_data(b"a\r\n"), b"a\r\n.\r\n");
        assert_eq!(encode_data(b"a"), b"a\r\n.\r\n");
        assert_eq!(encode_data(b"a\nb\rc\r\n"), b"a\r\nb\r\nc\r\n.\r\n");
        assert_eq!(encode_data(b".\r\n..x\n.y"), b"..\r\n...x\r\n..y\r\n.\r\n");
        assert_eq!(encode_data(b"a.b\r\n.\r\n"), b"a.b\r\n..\r\n.\r\n");
        assert_eq!(encode_data(b"\r\r\n"), b"\r\n\r\n.\r\n");
    }

    #[test]
    fn arguments_are_checked() {
        assert!(check_argument("x", "a@example.org").is_ok());
        assert!(check_argument("x", "\u{e9}@example.org").is_ok());
        for bad in ["a\r\n@x", "a>x", "<a", "a b", "a\0"] {
            assert!(check_argument("x", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn transaction_outcomes() {
        let ok = |code| ServerReply { code, enhanced: None, lines: vec!["ok".into()] };
        let t = Transaction {
            mail: ok(250),
            recipients: vec![("a".into(), RcptStatus::Accepted(ok(250))), ("b".into(), RcptStatus::Refused(ok(550)))],
            data: Some(ok(451)),
        };
        assert!(!t.delivered());
        assert_eq!(t.outcome(0).unwrap().code, 451);
        assert_eq!(t.outcome(1).unwrap().code, 550);
        assert_eq!(t.outcome(2), None);
    }
}
