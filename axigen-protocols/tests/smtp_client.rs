//! The outbound SMTP client against real servers: Python's aiosmtpd (a
//! separate implementation, tests/clients/smtp_peer.py), the crate's own SMTP
//! service with STARTTLS and AUTH, and scripted fake servers for the failure
//! cases (silence, garbage, a connection closed mid-transaction).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axigen_core::model::{AccountId, Address, Principal};
use axigen_protocols::listener::{Listener, ListenerConfig};
use axigen_protocols::smtp::client::{
    ClientConfig, ClientError, Credentials, RcptStatus, SmtpClient, Timeouts, TlsPolicy,
};
use axigen_protocols::smtp::{
    Envelope, MailParams, Recipient, Reply, ReversePath, Role, SessionInfo, SmtpBackend, SmtpConfig, SmtpService,
};
use axigen_protocols::tls::{self, TlsMode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const USER: &str = "user@example.com";
const PASSWORD: &str = "secret";

fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new("client.test");
    config.timeouts = Timeouts::all(WAIT);
    config
}

fn rustls_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn recipients(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

// ---------------------------------------------------------------- aiosmtpd

/// aiosmtpd running tests/clients/smtp_peer.py; killed on drop.
struct Peer {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

/// One message as aiosmtpd received it.
#[derive(Debug)]
struct Received {
    envelope: serde_json::Value,
    content: Vec<u8>,
}

impl Peer {
    fn start() -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/smtp_peer.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("smtp_peer.py did not start (is aiosmtpd installed? pip install aiosmtpd): {line:?}")
        });
        Peer { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), dir }
    }

    fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|json| Received {
                envelope: serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap(),
                content: std::fs::read(json.with_extension("eml")).unwrap(),
            })
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn aiosmtpd_two_messages_with_deferrals_and_rejections() {
    let peer = Peer::start();
    let mut client = SmtpClient::connect(peer.addr, client_config()).await.unwrap();
    assert_eq!(client.greeting().code, 220);
    assert!(client.greeting().lines[0].starts_with("peer.test"), "{}", client.greeting());
    let caps = client.capabilities().clone();
    assert!(client.is_esmtp() && !client.is_tls());
    assert!(caps.size && caps.eight_bit_mime && caps.smtputf8 && !caps.starttls, "{caps:?}");
    assert_eq!(caps.max_size, Some(100000));

    let message = b"Subject: one\r\n\r\n.leading dot\r\n..two dots\nbare LF line\r\n.\r\nlast";
    let to = recipients(&["ok@example.org", "defer-me@example.org", "reject-me@example.org", "Other@example.org"]);
    let transaction = client.send("sender@example.net", &to, message).await.unwrap();
    assert!(transaction.mail.is_positive());
    assert!(transaction.delivered(), "{transaction:?}");
    let statuses: Vec<_> = transaction.recipients.iter().map(|(_, s)| s.clone()).collect();
    assert!(matches!(&statuses[0], RcptStatus::Accepted(r) if r.code == 250));
    assert!(matches!(&statuses[1], RcptStatus::Refused(r) if r.is_transient() && r.enhanced == Some((4, 2, 0))));
    assert!(matches!(&statuses[2], RcptStatus::Refused(r) if r.is_permanent() && r.enhanced == Some((5, 1, 1))));
    assert!(matches!(&statuses[3], RcptStatus::Accepted(_)));
    assert_eq!(transaction.outcome(0).unwrap().enhanced, Some((2, 0, 0)));
    assert_eq!(transaction.outcome(1).unwrap().code, 451);

    // Second message on the same connection (RSET first): 8-bit, UTF-8 address.
    let to = recipients(&["jos\u{e9}@example.org"]);
    let message = "Subject: deux\r\n\r\nd\u{e9}j\u{e0} vu\r\n".as_bytes();
    let transaction = client.send("", &to, message).await.unwrap();
    assert!(transaction.delivered(), "{transaction:?}");

    // All recipients refused: no DATA, no error.
    let transaction = client.send("a@example.net", &recipients(&["reject@example.org"]), b"x").await.unwrap();
    assert!(!transaction.delivered() && transaction.data.is_none());
    assert_eq!(transaction.outcome(0).unwrap().code, 550);
    client.quit().await.unwrap();

    let messages = peer.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0].envelope["from"], "sender@example.net");
    assert_eq!(messages[0].envelope["rcpt"], serde_json::json!(["ok@example.org", "Other@example.org"]));
    assert_eq!(messages[0].envelope["helo"], "client.test");
    assert_eq!(
        messages[0].content,
        b"Subject: one\r\n\r\n.leading dot\r\n..two dots\r\nbare LF line\r\n.\r\nlast\r\n".to_vec()
    );
    let options = messages[0].envelope["mail_options"].to_string();
    assert!(options.contains("SIZE="), "{options}");
    assert_eq!(messages[1].envelope["from"], "<>");
    assert_eq!(messages[1].envelope["rcpt"], serde_json::json!(["jos\u{e9}@example.org"]));
    let options = messages[1].envelope["mail_options"].to_string();
    assert!(options.contains("SMTPUTF8") && options.contains("BODY=8BITMIME"), "{options}");
    assert_eq!(messages[1].content, message);
}

#[tokio::test]
async fn aiosmtpd_without_starttls() {
    let peer = Peer::start();
    let tls = rustls_config(rustls::RootCertStore::empty());
    let config = client_config().with_tls(TlsPolicy::Required, tls.clone());
    let err = SmtpClient::connect(peer.addr, config).await.unwrap_err();
    assert!(matches!(err, ClientError::StartTlsNotOffered), "{err}");

    // Opportunistic goes on in clear text; AUTH is not attempted there.
    let client =
        SmtpClient::connect(peer.addr, client_config().with_tls(TlsPolicy::Opportunistic, tls.clone())).await.unwrap();
    assert!(!client.is_tls());
    client.quit().await.unwrap();
    let mut config = client_config().with_tls(TlsPolicy::Opportunistic, tls);
    config.credentials = Some(Credentials { user: USER.into(), password: PASSWORD.into() });
    let err = SmtpClient::connect(peer.addr, config).await.unwrap_err();
    assert!(matches!(err, ClientError::AuthWithoutTls), "{err}");
}

// ------------------------------------------------------- the crate's server

#[derive(Debug, Clone)]
struct Delivered {
    from: String,
    recipients: Vec<String>,
    message: Vec<u8>,
    tls: bool,
    principal: Option<String>,
}

/// Accepts `*@example.com` and one user; records messages.
#[derive(Default)]
struct TestBackend {
    messages: Mutex<Vec<Delivered>>,
}

#[async_trait]
impl SmtpBackend for TestBackend {
    fn max_message_size(&self, _session: &SessionInfo) -> u64 {
        64 * 1024
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
        let from = format!("{:?}", envelope.from);
        self.messages.lock().unwrap().push(Delivered {
            from,
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
    cert: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

fn start(role: Role, mode: TlsMode) -> Server {
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
    let service = SmtpService::new(SmtpConfig::new("mx.test", role), backend.clone());
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

    /// A rustls configuration that trusts the server's self-signed certificate.
    fn trusting(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in tls::load_certificates(self.cert.as_deref().unwrap()).unwrap() {
            roots.add(c).unwrap();
        }
        rustls_config(roots)
    }

    fn messages(&self) -> Vec<Delivered> {
        self.backend.messages.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn own_server_starttls_pipelining_and_rset() {
    let server = start(Role::Mx, TlsMode::StartTls);
    let mut client = SmtpClient::connect(server.addr, client_config().with_tls(TlsPolicy::Required, server.trusting()))
        .await
        .unwrap();
    assert_eq!(client.greeting().lines, ["mx.test ESMTP ready"]);
    assert!(client.is_tls());
    // The capabilities are those of the EHLO after TLS.
    let caps = client.capabilities();
    assert!(!caps.starttls && caps.pipelining && caps.chunking && caps.enhanced_status_codes, "{caps:?}");
    assert_eq!(caps.max_size, Some(64 * 1024));

    let to = recipients(&["a@example.com", "nobody@example.org", "b@example.com"]);
    let transaction = client.send("s@example.net", &to, b"Subject: 1\r\n\r\n.hidden?\r\n").await.unwrap();
    assert!(transaction.delivered());
    assert!(matches!(&transaction.recipients[1].1, RcptStatus::Refused(r) if r.enhanced == Some((5, 1, 1))));
    assert_eq!(transaction.data.as_ref().unwrap().enhanced, Some((2, 6, 0)));
    let transaction =
        client.send("s@example.net", &recipients(&["c@example.com"]), b"Subject: 2\n\nx\n").await.unwrap();
    assert!(transaction.delivered());
    // Too large for the announced SIZE: refused before MAIL, connection still usable.
    let err = client.send("s@example.net", &recipients(&["c@example.com"]), &vec![b'x'; 70 * 1024]).await.unwrap_err();
    assert!(matches!(err, ClientError::MessageTooLarge { limit: 65536, .. }), "{err}");
    assert!(client.is_usable());
    client.quit().await.unwrap();

    let messages = server.messages();
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m.tls));
    assert_eq!(messages[0].recipients, ["a@example.com", "b@example.com"]);
    assert!(messages[0].message.ends_with(b"Subject: 1\r\n\r\n.hidden?\r\n"), "{:?}", messages[0].message);
    assert_eq!(messages[1].recipients, ["c@example.com"]);
    assert!(messages[1].message.ends_with(b"Subject: 2\r\n\r\nx\r\n"));
    assert!(!messages[1].from.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn own_server_auth_after_starttls() {
    let server = start(Role::Submission, TlsMode::StartTls);
    let mut config = client_config().with_tls(TlsPolicy::Opportunistic, server.trusting());
    config.credentials = Some(Credentials { user: USER.into(), password: PASSWORD.into() });
    let mut client = SmtpClient::connect(server.addr, config.clone()).await.unwrap();
    assert!(client.is_tls() && client.is_authenticated());
    let transaction = client.send(USER, &recipients(&["x@example.com"]), b"Subject: sub\r\n\r\nhi\r\n").await.unwrap();
    assert!(transaction.delivered());
    client.quit().await.unwrap();
    assert_eq!(server.messages()[0].principal.as_deref(), Some(USER));

    config.credentials = Some(Credentials { user: USER.into(), password: "wrong".into() });
    let err = SmtpClient::connect(server.addr, config).await.unwrap_err();
    assert!(matches!(&err, ClientError::AuthFailed(r) if r.code == 535), "{err}");

    // A certificate the client does not trust: the handshake error says so.
    let config = client_config().with_tls(TlsPolicy::Opportunistic, rustls_config(rustls::RootCertStore::empty()));
    let err = SmtpClient::connect(server.addr, config).await.unwrap_err();
    assert!(err.is_tls_failure(), "{err}");
    assert!(err.to_string().contains("TLS handshake failed"));
    // ... and a retry in clear text works.
    let client = SmtpClient::connect(server.addr, client_config()).await.unwrap();
    assert!(!client.is_tls() && client.capabilities().starttls);
    client.quit().await.unwrap();
    server.stop().await;
}

// ------------------------------------------------------------ fake servers

/// A scripted server for one connection: sends `greeting` (if any), then
/// answers the n-th line it receives with `replies[n]`, and closes when the
/// script is exhausted. Without a greeting it says nothing and holds the
/// connection open.
async fn fake(greeting: Option<&'static [u8]>, replies: Vec<&'static [u8]>) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = tokio::io::BufReader::new(read).lines();
        let mut received = Vec::new();
        let Some(greeting) = greeting else {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return received;
        };
        write.write_all(greeting).await.unwrap();
        for reply in replies {
            match lines.next_line().await {
                Ok(Some(line)) => received.push(line),
                _ => return received,
            }
            if write.write_all(reply).await.is_err() {
                return received;
            }
        }
        received
    });
    (addr, task)
}

fn quick() -> ClientConfig {
    let mut config = ClientConfig::new("client.test");
    config.timeouts = Timeouts::all(Duration::from_millis(500));
    config
}

#[tokio::test]
async fn silent_server_times_out() {
    let (addr, _task) = fake(None, vec![]).await;
    let started = Instant::now();
    let err = SmtpClient::connect(addr, quick()).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { stage: "greeting" }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn server_silent_after_data_times_out() {
    let (addr, _task) = fake(
        Some(b"220 fake\r\n"),
        vec![b"250 fake\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"", b"", b"", b"", b""],
    )
    .await;
    let mut client = SmtpClient::connect(addr, quick()).await.unwrap();
    let started = Instant::now();
    let err = client.send("a@b", &recipients(&["c@d"]), b"x\r\n").await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { stage: "DATA end" }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(client.send("a@b", &recipients(&["c@d"]), b"x").await, Err(ClientError::Broken)));
}

#[tokio::test]
async fn server_closing_mid_transaction_is_an_error() {
    let (addr, task) = fake(Some(b"220 fake\r\n"), vec![b"250 fake\r\n", b"250 ok\r\n"]).await;
    let mut client = SmtpClient::connect(addr, client_config()).await.unwrap();
    let started = Instant::now();
    let err = client.send("a@b", &recipients(&["c@d"]), b"x").await.unwrap_err();
    assert!(matches!(err, ClientError::Closed { stage: "RCPT" } | ClientError::Io { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(task.await.unwrap(), ["EHLO client.test", "MAIL FROM:<a@b>"]);
}

#[tokio::test]
async fn helo_fallback_and_421() {
    let (addr, task) = fake(
        Some(b"220 old fake\r\n"),
        vec![b"502 what?\r\n", b"250 hello\r\n", b"250 ok\r\n", b"421 4.3.2 shutting down\r\n"],
    )
    .await;
    let mut client = SmtpClient::connect(addr, client_config()).await.unwrap();
    assert!(!client.is_esmtp());
    assert_eq!(client.capabilities().extensions.len(), 0);
    let err = client.send("a@b", &recipients(&["c@d"]), b"x").await.unwrap_err();
    assert!(matches!(&err, ClientError::ServiceClosing(r) if r.code == 421), "{err}");
    let received = task.await.unwrap();
    assert_eq!(received, ["EHLO client.test", "HELO client.test", "MAIL FROM:<a@b>", "RCPT TO:<c@d>"]);
    // SMTPUTF8 is needed and not offered: refused before sending.
    let (addr, _task) = fake(Some(b"220 fake\r\n"), vec![b"250 fake\r\n"]).await;
    let mut client = SmtpClient::connect(addr, client_config()).await.unwrap();
    let err = client.send("a@b", &recipients(&["\u{e9}@d"]), b"x").await.unwrap_err();
    assert!(matches!(err, ClientError::Smtputf8NotOffered), "{err}");
}

#[tokio::test]
async fn garbage_and_refusals_are_errors() {
    let (addr, _task) = fake(Some(b"hello, this is not SMTP\r\n"), vec![]).await;
    let err = SmtpClient::connect(addr, client_config()).await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol { stage: "greeting", .. }), "{err}");

    let (addr, _task) = fake(Some(b"554 5.7.1 go away\r\n"), vec![]).await;
    let err = SmtpClient::connect(addr, client_config()).await.unwrap_err();
    assert!(matches!(&err, ClientError::Greeting(r) if r.code == 554), "{err}");

    let (addr, _task) = fake(Some(b"220-fake\r\n221 mixed\r\n"), vec![]).await;
    let err = SmtpClient::connect(addr, client_config()).await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol { .. }), "{err}");

    // Bytes injected after the 220 of STARTTLS.
    let (addr, _task) = fake(
        Some(b"220 fake\r\n"),
        vec![b"250-fake\r\n250 STARTTLS\r\n", b"220 go ahead\r\n250 injected\r\n", b"", b""],
    )
    .await;
    let config = client_config().with_tls(TlsPolicy::Opportunistic, rustls_config(rustls::RootCertStore::empty()));
    let err = SmtpClient::connect(addr, config).await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol { stage: "STARTTLS", .. }), "{err}");

    // An endless reply line.
    let (addr, _task) = fake(Some(Box::leak(vec![b'2'; 10_000].into_boxed_slice())), vec![]).await;
    let err = SmtpClient::connect(addr, client_config()).await.unwrap_err();
    assert!(matches!(&err, ClientError::Protocol { message, .. } if message.contains("longer")), "{err}");
}
