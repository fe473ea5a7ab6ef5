//! The SMTP service over real loopback sockets, spoken to by raw TCP (where
//! the exact bytes matter: pipelining, STARTTLS injection, BDAT) and by
//! Python's smtplib (a real client).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axigen_core::model::{AccountId, Address, Principal};
use axigen_protocols::listener::{Listener, ListenerConfig};
use axigen_protocols::smtp::{
    Envelope, LoginThrottle, MailParams, Recipient, Reply, ReversePath, Role, SessionInfo, SmtpBackend, SmtpConfig,
    SmtpService, ThrottlePolicy,
};
use axigen_protocols::tls::{self, TlsMode};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(10);
const USER: &str = "user@example.com";
const PASSWORD: &str = "secret";
const MAX_SIZE: u64 = 64 * 1024;

/// One accepted message.
#[derive(Debug, Clone)]
struct Delivered {
    from: ReversePath,
    recipients: Vec<String>,
    message: Vec<u8>,
    tls: bool,
    principal: Option<String>,
}

/// Accepts recipients `*@example.com`, one user, and records messages.
#[derive(Default)]
struct TestBackend {
    messages: Mutex<Vec<Delivered>>,
}

impl TestBackend {
    fn messages(&self) -> Vec<Delivered> {
        self.messages.lock().unwrap().clone()
    }
}

#[async_trait]
impl SmtpBackend for TestBackend {
    fn max_message_size(&self, _session: &SessionInfo) -> u64 {
        MAX_SIZE
    }

    async fn authenticate(&self, _session: &SessionInfo, user: &str, password: &str) -> Result<Principal, Reply> {
        if user == USER && password == PASSWORD {
            Ok(Principal { account: AccountId(1), address: Address::parse(USER).unwrap() })
        } else {
            Err(Reply::new(535, (5, 7, 8), "Authentication credentials invalid"))
        }
    }

    async fn mail_from(&self, _session: &SessionInfo, _from: &ReversePath, _params: &MailParams) -> Result<(), Reply> {
        Ok(())
    }

    async fn rcpt_to(&self, _session: &SessionInfo, _envelope: &Envelope, to: &str) -> Result<Recipient, Reply> {
        if to.to_ascii_lowercase().ends_with("@example.com") {
            Ok(Recipient { address: to.to_owned(), local: Some(AccountId(1)) })
        } else {
            Err(Reply::new(550, (5, 1, 1), "No such user here"))
        }
    }

    async fn data(&self, session: &SessionInfo, envelope: &Envelope, message: bytes::Bytes) -> Reply {
        self.messages.lock().unwrap().push(Delivered {
            from: envelope.from.clone(),
            recipients: envelope.recipients.iter().map(|r| r.address.clone()).collect(),
            message: message.to_vec(),
            tls: session.tls,
            principal: session.principal.as_ref().map(|p| p.address.to_string()),
        });
        Reply::new(250, (2, 6, 0), "Message accepted")
    }
}

struct Server {
    addr: SocketAddr,
    backend: Arc<TestBackend>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// The development certificate, when the listener has TLS.
    cert: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

fn config(role: Role) -> SmtpConfig {
    SmtpConfig::new("mx.test", role)
}

fn start(smtp: SmtpConfig, mode: TlsMode) -> Server {
    start_with(smtp, mode, None)
}

fn start_with(smtp: SmtpConfig, mode: TlsMode, throttle: Option<Arc<LoginThrottle>>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (tls_config, cert) = if mode == TlsMode::None {
        (None, None)
    } else {
        let (cert, key, _) = tls::ensure_dev_certificate(dir.path(), &[]).unwrap();
        (Some(tls::load_server_config(&cert, &key).unwrap()), Some(cert))
    };
    let mut listener_config = ListenerConfig::new("smtp", "127.0.0.1:0".parse().unwrap());
    listener_config.tls = mode;
    let listener = Listener::bind(&listener_config, tls_config).unwrap().with_drain_timeout(Duration::from_secs(1));
    let backend = Arc::new(TestBackend::default());
    let mut service = SmtpService::new(smtp, backend.clone());
    if let Some(throttle) = throttle {
        service = service.with_throttle(throttle);
    }
    let addr = listener.local_addr();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(listener.run(Arc::new(service), stopped));
    Server { addr, backend, stop, task, cert, _dir: dir }
}

impl Server {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        timeout(Duration::from_secs(5), self.task).await.unwrap().unwrap();
    }

    fn client_tls(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for c in tls::load_certificates(self.cert.as_deref().unwrap()).unwrap() {
            roots.add(c).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// Reads one complete reply, byte by byte so that nothing after it is
/// consumed (STARTTLS), and returns its lines joined by `\n`.
async fn read_reply<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        loop {
            let mut byte = [0u8; 1];
            let n = timeout(WAIT, stream.read(&mut byte))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply"))??;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            line.push(byte[0]);
            if line.ends_with(b"\r\n") {
                break;
            }
        }
        let text = String::from_utf8(line).unwrap().trim_end().to_owned();
        let last = text.as_bytes().get(3) != Some(&b'-');
        lines.push(text);
        if last {
            return Ok(lines.join("\n"));
        }
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) {
    stream.write_all(bytes).await.unwrap();
}

/// Sends one command line and returns the reply.
async fn command<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, line: &str) -> String {
    send(stream, format!("{line}\r\n").as_bytes()).await;
    read_reply(stream).await.unwrap()
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let greeting = read_reply(&mut stream).await.unwrap();
    assert_eq!(greeting, "220 mx.test ESMTP ready");
    stream
}

/// Asserts the server closed the connection with nothing more to say.
async fn assert_closed<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut buf = [0u8; 256];
    match timeout(WAIT, stream.read(&mut buf)).await {
        Ok(Ok(0)) => {}
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Ok(Ok(n)) => panic!("expected a closed connection, got {:?}", String::from_utf8_lossy(&buf[..n])),
        Ok(Err(e)) => panic!("unexpected error {e}"),
        Err(_) => panic!("connection still open"),
    }
}

/// Runs a Python script with `port` and the certificate path as arguments;
/// returns its standard output.
async fn python(script: &str, port: u16, cert: Option<&Path>) -> String {
    let script = script.to_owned();
    let cert = cert.map(|c| c.display().to_string()).unwrap_or_default();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").arg("-c").arg(script).arg(port.to_string()).arg(cert).output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "python failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn pipelined_transaction_in_one_write() {
    let server = start(config(Role::Mx), TlsMode::None);
    let mut c = connect(server.addr).await;
    let ehlo = command(&mut c, "EHLO client.test").await;
    assert!(ehlo.starts_with("250-mx.test greets client.test\n250-PIPELINING\n"), "{ehlo}");
    assert!(ehlo.contains("250-SIZE 65536") && ehlo.contains("CHUNKING") && !ehlo.contains("STARTTLS"), "{ehlo}");

    send(
        &mut c,
        b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<nobody@remote.test>\r\n\
          RCPT TO:<B@Example.com>\r\nDATA\r\n",
    )
    .await;
    let mut replies = Vec::new();
    for _ in 0..5 {
        replies.push(read_reply(&mut c).await.unwrap());
    }
    assert_eq!(
        replies,
        [
            "250 2.1.0 Sender OK",
            "250 2.1.5 Recipient OK",
            "550 5.1.1 No such user here",
            "250 2.1.5 Recipient OK",
            "354 Start mail input; end with <CRLF>.<CRLF>"
        ]
    );
    // The text, its end and the next commands in one write too.
    send(&mut c, b"Subject: pipelined\r\n\r\nHello\r\n.\r\nNOOP\r\nQUIT\r\n").await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.6.0 Message accepted");
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.0.0 OK");
    assert_eq!(read_reply(&mut c).await.unwrap(), "221 2.0.0 mx.test closing connection");
    assert_closed(&mut c).await;

    let messages = server.backend.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].from, ReversePath::Mailbox("sender@remote.test".into()));
    assert_eq!(messages[0].recipients, ["a@example.com", "B@Example.com"]);
    assert_eq!(messages[0].message, b"Subject: pipelined\r\n\r\nHello\r\n");
    server.stop().await;
}

#[tokio::test]
async fn dot_stuffing_round_trip_with_smtplib() {
    let server = start(config(Role::Mx), TlsMode::None);
    let out = python(
        r#"
import smtplib, sys
msg = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nsingle dot above\r\n. \r\nend\r\n"
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as s:
    code, _ = s.ehlo("client.test")
    assert code == 250
    assert s.has_extn("pipelining") and s.has_extn("8bitmime") and s.has_extn("enhancedstatuscodes")
    refused = s.sendmail("sender@remote.test", ["a@example.com", "x@remote.test"], msg)
    print(refused)
"#,
        server.addr.port(),
        None,
    )
    .await;
    assert!(out.contains("x@remote.test") && out.contains("550"), "{out}");
    let messages = server.backend.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&messages[0].message),
        "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nsingle dot above\r\n. \r\nend\r\n"
    );
    assert_eq!(messages[0].recipients, ["a@example.com"]);
    server.stop().await;
}

#[tokio::test]
async fn bdat_two_chunks_and_refused_chunks() {
    let server = start(config(Role::Mx), TlsMode::None);
    let mut c = connect(server.addr).await;
    command(&mut c, "EHLO client.test").await;
    // A refused BDAT still consumes its octets: they are not commands.
    send(&mut c, b"BDAT 6\r\nQUIT\r\n").await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "503 5.5.1 Need MAIL before BDAT");

    let chunk1 = b"Subject: chunks\r\n\r\n.not stuffed\r\n.\r\n";
    let chunk2 = b"second\r\n";
    let mut wire = b"MAIL FROM:<> BODY=BINARYMIME\r\nRCPT TO:<a@example.com>\r\n".to_vec();
    wire.extend_from_slice(format!("BDAT {}\r\n", chunk1.len()).as_bytes());
    wire.extend_from_slice(chunk1);
    wire.extend_from_slice(format!("BDAT {} LAST\r\n", chunk2.len()).as_bytes());
    wire.extend_from_slice(chunk2);
    wire.extend_from_slice(b"NOOP\r\n");
    send(&mut c, &wire).await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.1.0 Sender OK");
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.1.5 Recipient OK");
    assert_eq!(read_reply(&mut c).await.unwrap(), format!("250 2.0.0 {} octets received", chunk1.len()));
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.6.0 Message accepted");
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.0.0 OK");

    // Too large: the chunk is read and discarded, the session goes on.
    command(&mut c, "MAIL FROM:<>").await;
    command(&mut c, "RCPT TO:<a@example.com>").await;
    let big = vec![b'x'; MAX_SIZE as usize + 1];
    send(&mut c, format!("BDAT {} LAST\r\n", big.len()).as_bytes()).await;
    send(&mut c, &big).await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "552 5.3.4 Message size exceeds fixed maximum message size");
    assert_eq!(command(&mut c, "NOOP").await, "250 2.0.0 OK");

    let messages = server.backend.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message, [&chunk1[..], &chunk2[..]].concat());
    server.stop().await;
}

#[tokio::test]
async fn oversize_lines_and_messages() {
    let server = start(config(Role::Mx), TlsMode::None);
    let mut c = connect(server.addr).await;
    command(&mut c, "EHLO client.test").await;
    // A command line over 4096 octets: one error, then the next command.
    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(5000));
    send(&mut c, long.as_bytes()).await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "500 5.5.6 Line too long");
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.0.0 OK");
    // The same with the end of the long line arriving later.
    send(&mut c, format!("NOOP {}", "x".repeat(5000)).as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&mut c, b"xxx\r\nNOOP\r\n").await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "500 5.5.6 Line too long");
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.0.0 OK");

    // DATA text lines have no limit of their own, only the message size.
    command(&mut c, "MAIL FROM:<>").await;
    command(&mut c, "RCPT TO:<a@example.com>").await;
    command(&mut c, "DATA").await;
    let long_line = format!("Subject: long\r\n\r\n{}\r\n.\r\n", "y".repeat(6000));
    send(&mut c, long_line.as_bytes()).await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.6.0 Message accepted");

    // Over the size limit: read to the end, then refused.
    assert_eq!(
        command(&mut c, "MAIL FROM:<> SIZE=65537").await.split(' ').take(2).collect::<Vec<_>>(),
        ["552", "5.3.4"]
    );
    command(&mut c, "MAIL FROM:<>").await;
    command(&mut c, "RCPT TO:<a@example.com>").await;
    command(&mut c, "DATA").await;
    let mut text = Vec::new();
    while text.len() <= MAX_SIZE as usize {
        text.extend_from_slice(b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
    }
    text.extend_from_slice(b".\r\n");
    send(&mut c, &text).await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "552 5.3.4 Message size exceeds fixed maximum message size");
    assert_eq!(command(&mut c, "NOOP").await, "250 2.0.0 OK");

    // Bare LF: only CRLF.CRLF ends the text, the message is refused.
    command(&mut c, "MAIL FROM:<>").await;
    command(&mut c, "RCPT TO:<a@example.com>").await;
    command(&mut c, "DATA").await;
    send(&mut c, b"Subject: smuggle\r\n\r\nx\n.\nMAIL FROM:<evil@remote.test>\n").await;
    send(&mut c, b"RCPT TO:<a@example.com>\r\n.\r\n").await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "554 5.6.0 Message contains bare CR or LF; lines must end with CRLF");
    assert_eq!(command(&mut c, "NOOP").await, "250 2.0.0 OK");
    assert_eq!(server.backend.messages().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn too_many_errors_close_the_connection() {
    let mut smtp = config(Role::Mx);
    smtp.max_errors = 3;
    let server = start(smtp, TlsMode::None);
    let mut c = connect(server.addr).await;
    send(&mut c, b"FOO\r\nRCPT TO:<a@example.com>\r\nBAR\r\nNOOP\r\n").await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "500 5.5.2 command unrecognized");
    assert_eq!(read_reply(&mut c).await.unwrap(), "503 5.5.1 Need MAIL before RCPT");
    assert_eq!(read_reply(&mut c).await.unwrap(), "500 5.5.2 command unrecognized");
    assert_eq!(read_reply(&mut c).await.unwrap(), "421 4.7.0 mx.test too many errors, closing connection");
    assert_closed(&mut c).await;
    server.stop().await;
}

#[tokio::test]
async fn starttls_discards_pipelined_plaintext() {
    let server = start(config(Role::Mx), TlsMode::StartTls);
    let mut c = connect(server.addr).await;
    let ehlo = command(&mut c, "EHLO client.test").await;
    assert!(ehlo.ends_with("\n250 STARTTLS"), "{ehlo}");
    // The injection: a command behind STARTTLS in the same packet.
    send(&mut c, b"STARTTLS\r\nRSET\r\n").await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "220 2.0.0 Ready to start TLS");
    let connector = server.client_tls();
    let name = ServerName::try_from("localhost").unwrap();
    // Had the server answered RSET in plaintext, the handshake would fail.
    let mut c = timeout(WAIT, connector.connect(name, c)).await.unwrap().unwrap();
    // The first reply inside TLS is the one to EHLO, not one to RSET.
    let ehlo = command(&mut c, "EHLO client.test").await;
    assert!(ehlo.starts_with("250-mx.test greets client.test") && !ehlo.contains("STARTTLS"), "{ehlo}");
    assert_eq!(command(&mut c, "STARTTLS").await, "503 5.5.1 Already using TLS");
    command(&mut c, "MAIL FROM:<>").await;
    command(&mut c, "RCPT TO:<a@example.com>").await;
    command(&mut c, "DATA").await;
    send(&mut c, b"Subject: tls\r\n\r\n.\r\n").await;
    assert_eq!(read_reply(&mut c).await.unwrap(), "250 2.6.0 Message accepted");
    assert_eq!(command(&mut c, "QUIT").await, "221 2.0.0 mx.test closing connection");
    assert!(server.backend.messages()[0].tls);
    server.stop().await;
}

#[tokio::test]
async fn submission_auth_needs_tls_with_smtplib() {
    let server = start(config(Role::Submission), TlsMode::StartTls);
    let cert = server.cert.clone();
    let out = python(
        r#"
import base64, smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
plain = base64.b64encode(b"\0user@example.com\0secret").decode()
with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
    s.ehlo("client.test")
    assert not s.has_extn("auth"), s.esmtp_features
    print("plaintext AUTH:", s.docmd("AUTH", "PLAIN " + plain)[0])
    print("plaintext MAIL:", s.docmd("MAIL", "FROM:<user@example.com>")[0])
    s.starttls(context=ssl.create_default_context(cafile=cafile))
    s.ehlo("client.test")
    assert s.has_extn("auth") and "PLAIN" in s.esmtp_features["auth"], s.esmtp_features
    try:
        s.login("user@example.com", "wrong")
    except smtplib.SMTPAuthenticationError as e:
        print("bad password:", e.smtp_code)
    print("login:", s.login("user@example.com", "secret")[0])
    s.sendmail("user@example.com", ["a@example.com"], b"Subject: submitted\r\n\r\nhi\r\n")
# LOGIN in two steps, without an initial response.
with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
    s.starttls(context=ssl.create_default_context(cafile=cafile))
    s.ehlo("client.test")
    s.user, s.password = "user@example.com", "secret"
    print("login2:", s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0])
"#,
        server.addr.port(),
        cert.as_deref(),
    )
    .await;
    assert!(out.contains("plaintext AUTH: 538"), "{out}");
    assert!(out.contains("plaintext MAIL: 530"), "{out}");
    assert!(out.contains("bad password: 535"), "{out}");
    assert!(out.contains("login: 235"), "{out}");
    assert!(out.contains("login2: 235"), "{out}");
    let messages = server.backend.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].tls);
    assert_eq!(messages[0].principal.as_deref(), Some(USER));
    server.stop().await;
}

#[tokio::test]
async fn implicit_tls_submission_with_smtplib() {
    let server = start(config(Role::Submission), TlsMode::Implicit);
    let cert = server.cert.clone();
    let out = python(
        r#"
import smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
with smtplib.SMTP_SSL("127.0.0.1", port, timeout=10, context=ssl.create_default_context(cafile=cafile)) as s:
    s.ehlo("client.test")
    assert not s.has_extn("starttls") and s.has_extn("auth"), s.esmtp_features
    s.login("user@example.com", "secret")
    s.send_message_ok = s.sendmail("user@example.com", ["a@example.com"], "Subject: 465\r\n\r\nhi\r\n")
    print("ok")
"#,
        server.addr.port(),
        cert.as_deref(),
    )
    .await;
    assert!(out.contains("ok"), "{out}");
    assert_eq!(server.backend.messages().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn auth_failures_are_throttled_across_connections() {
    let mut smtp = config(Role::Submission);
    smtp.allow_plaintext_auth = true;
    let throttle = Arc::new(LoginThrottle::new(ThrottlePolicy {
        guess_free: 1,
        guess_refuse: 2,
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_millis(300),
        ..ThrottlePolicy::default()
    }));
    let server = start_with(smtp, TlsMode::None, Some(throttle.clone()));
    let plain = |user: &str, password: &str| {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        format!("AUTH PLAIN {token}")
    };
    let mut c = connect(server.addr).await;
    command(&mut c, "EHLO client.test").await;
    assert_eq!(command(&mut c, &plain(USER, "wrong-1")).await, "535 5.7.8 Authentication credentials invalid");
    let started = tokio::time::Instant::now();
    assert_eq!(command(&mut c, &plain(USER, "wrong-2")).await, "535 5.7.8 Authentication credentials invalid");
    assert!(started.elapsed() >= Duration::from_millis(200), "the second guess waits");
    drop(c);

    // The count follows the address to a new connection: after two distinct
    // guesses the next attempt is refused without being checked, even with
    // the right password.
    let mut c = connect(server.addr).await;
    command(&mut c, "EHLO client.test").await;
    assert_eq!(
        command(&mut c, &plain(USER, PASSWORD)).await,
        "421 4.7.0 mx.test too many wrong passwords for this account from this address, closing connection"
    );
    assert_closed(&mut c).await;

    // Another account from the same address is not concerned.
    let mut c = connect(server.addr).await;
    command(&mut c, "EHLO client.test").await;
    let started = tokio::time::Instant::now();
    assert_eq!(command(&mut c, &plain("other@example.com", "x")).await, "535 5.7.8 Authentication credentials invalid");
    assert!(started.elapsed() < Duration::from_millis(200), "no delay for another account");
    server.stop().await;
}
