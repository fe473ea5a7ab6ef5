//! The POP3 service over real loopback sockets and a real RocksDB store,
//! spoken to by Python's poplib (tests/clients/pop3_client.py), by
//! fetchmail where installed, and by raw TCP where the exact bytes matter.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axigen_core::directory::DirectoryAdmin;
use axigen_core::mailstore::{Flags, MailStore, NewMessage, QuotaLimit};
use axigen_core::model::{Account, Address, Domain, DomainName, NewAccount};
use axigen_core::settings::{Overrides, Setting};
use axigen_protocols::listener::{Listener, ListenerConfig};
use axigen_protocols::pop3::{Pop3Config, Pop3Service};
use axigen_protocols::smtp::{LoginThrottle, ThrottlePolicy};
use axigen_protocols::tls::{self, TlsMode};
use axigen_store::{Store, StoreOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;

const USER: &str = "alice@example.com";
const PASSWORD: &str = "secret";
const WAIT: Duration = Duration::from_secs(10);

/// A dot-stuffed line, a line of two dots, and no line end at the end.
const DOTS: &str = "From: Bob <bob@example.net>\r\nTo: alice@example.com\r\nSubject: dots\r\n\r\n\
.leading dot\r\n..two dots\r\nmiddle\r\nlast line";
/// An 8-bit body.
const EIGHT_BIT: &str = "From: carol@example.de\r\nTo: alice@example.com\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n";
const PLAIN: &str = "From: alice@example.org\r\nSubject: third\r\n\r\nthe third body\r\n";

struct Server {
    addr: SocketAddr,
    cert: Option<PathBuf>,
    store: Arc<Store>,
    account: Account,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn contents(&self) -> Vec<String> {
        let inbox = self.store.folder_by_name(self.account.id, "INBOX").await.unwrap().unwrap();
        let mut all = Vec::new();
        for meta in self.store.messages(self.account.id, inbox.id).await.unwrap() {
            all.push(String::from_utf8(self.store.content(meta.blob).await.unwrap().to_vec()).unwrap());
        }
        all
    }

    async fn python(&self, scenario: &str) -> String {
        let mut command = tokio::process::Command::new("python3");
        command.arg(client_script()).arg(scenario).arg(self.addr.ip().to_string()).arg(self.addr.port().to_string());
        command.arg(USER).arg(PASSWORD);
        if let Some(cert) = &self.cert {
            command.arg(cert);
        }
        let output = timeout(Duration::from_secs(60), command.kill_on_drop(true).output())
            .await
            .expect("client timed out")
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "client failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout
    }
}

struct Options {
    plaintext: bool,
    mode: TlsMode,
    settings: Overrides,
    throttle: Option<Arc<LoginThrottle>>,
}

impl Default for Options {
    fn default() -> Self {
        Options { plaintext: true, mode: TlsMode::None, settings: Overrides::default(), throttle: None }
    }
}

async fn start(options: Options) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("db"), StoreOptions::default()).unwrap());
    store
        .put_domain(Domain {
            name: DomainName::new("example.com").unwrap(),
            settings: Overrides::default(),
            postmaster: None,
        })
        .await
        .unwrap();
    let account = store
        .create_account(NewAccount {
            address: Address::parse(USER).unwrap(),
            class: None,
            display_name: "Alice".into(),
            password: PASSWORD.into(),
            settings: options.settings,
        })
        .await
        .unwrap();
    let inbox = store.folder_by_name(account.id, "INBOX").await.unwrap().unwrap();
    for (i, content) in [DOTS, EIGHT_BIT, PLAIN].into_iter().enumerate() {
        let message = NewMessage {
            flags: Flags::empty(),
            keywords: vec![],
            internal_date: 1_700_000_000 + i as i64,
            content: bytes::Bytes::from(content),
        };
        store.append(account.id, inbox.id, message, QuotaLimit::default()).await.unwrap();
    }
    let mut config = Pop3Config::new("pop.example.com");
    config.allow_plaintext_auth = options.plaintext;
    let mut service = Pop3Service::new(config, store.clone(), store.clone());
    if let Some(throttle) = options.throttle {
        service = service.with_throttle(throttle);
    }
    let (tls_config, cert) = if options.mode == TlsMode::None {
        (None, None)
    } else {
        let (cert, key, _) = tls::ensure_dev_certificate(dir.path(), &[]).unwrap();
        (Some(tls::load_server_config(&cert, &key).unwrap()), Some(cert))
    };
    let mut listener_config = ListenerConfig::new("pop3", "127.0.0.1:0".parse().unwrap());
    listener_config.tls = options.mode;
    let listener = Listener::bind(&listener_config, tls_config).unwrap();
    let addr = listener.local_addr();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(listener.run(Arc::new(service), stopped));
    Server { addr, cert, store, account, _stop: stop, _dir: dir }
}

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pop3_client.py")
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    out.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_stls_transaction_and_quit() {
    let server = start(Options { plaintext: false, mode: TlsMode::StartTls, ..Options::default() }).await;
    let out = server.python("stls").await;
    assert!(value(&out, "user before tls").starts_with("-ERR [AUTH]"), "{out}");
    assert!(value(&out, "bad pass").starts_with("-ERR [AUTH] invalid credentials"), "{out}");
    assert!(value(&out, "login").starts_with("+OK maildrop has 3 messages"), "{out}");
    let sizes = [DOTS.len(), EIGHT_BIT.len(), PLAIN.len()];
    assert_eq!(value(&out, "stat"), format!("3 {}", sizes.iter().sum::<usize>()));
    assert_eq!(value(&out, "list"), format!("1 {},2 {},3 {}", sizes[0], sizes[1], sizes[2]));
    assert_eq!(value(&out, "list 2"), format!("+OK 2 {}", sizes[1]));
    let inbox = server.store.folder_by_name(server.account.id, "INBOX").await.unwrap().unwrap();
    let v = inbox.uid_validity;
    assert_eq!(value(&out, "uidl"), format!("1 {v}.1,2 {v}.2,3 {v}.3"));
    assert_eq!(value(&out, "uidl 1"), format!("+OK 1 {v}.1"));
    assert_eq!(value(&out, "retr 1 lines"), "8");
    assert_eq!(value(&out, "8bit"), "ok");
    assert_eq!(value(&out, "top 1 1 lines"), "5");
    assert!(value(&out, "retr 9").starts_with("-ERR no such message"), "{out}");
    assert!(value(&out, "retr 3").starts_with("-ERR message 3 already deleted"), "{out}");
    assert_eq!(value(&out, "stat after dele"), format!("(2, {})", sizes[0] + sizes[1]));
    assert_eq!(value(&out, "stat after rset"), format!("(3, {})", sizes.iter().sum::<usize>()));
    assert!(value(&out, "quit").starts_with("+OK"), "{out}");
    // DELE 1 then QUIT: the first message is gone, RSET restored the third.
    assert_eq!(server.contents().await, vec![EIGHT_BIT.to_owned(), PLAIN.to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_plain_and_stable_uidl() {
    let server = start(Options::default()).await;
    let first = server.python("plain").await;
    assert!(value(&first, "auth").starts_with("+OK"), "{first}");
    assert!(value(&first, "cancel").starts_with("-ERR"), "{first}");
    assert!(value(&first, "wrong").starts_with("-ERR [AUTH]"), "{first}");
    assert!(value(&first, "continued").starts_with("+OK"), "{first}");
    assert_eq!(value(&first, "stat"), format!("(3, {})", DOTS.len() + EIGHT_BIT.len() + PLAIN.len()));
    // The same ids in a later session, also after a message was removed.
    let second = server.python("plain").await;
    assert_eq!(value(&first, "uidl"), value(&second, "uidl"));
    let inbox = server.store.folder_by_name(server.account.id, "INBOX").await.unwrap().unwrap();
    server.store.expunge(server.account.id, inbox.id, &[axigen_core::mailstore::Uid(1)]).await.unwrap();
    let third = server.python("plain").await;
    let old: Vec<&str> = value(&first, "uidl").split(',').map(|e| e.split(' ').nth(1).unwrap()).collect();
    let new: Vec<&str> = value(&third, "uidl").split(',').map(|e| e.split(' ').nth(1).unwrap()).collect();
    assert_eq!(new, old[1..].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_deletes_nothing() {
    let server = start(Options::default()).await;
    let out = server.python("drop").await;
    assert_eq!(value(&out, "marked"), "3");
    // Give the server a moment to notice the closed connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.contents().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled() {
    let policy = ThrottlePolicy {
        guess_free: 1,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(20),
        guess_refuse: 3,
        ..ThrottlePolicy::default()
    };
    let throttle = Arc::new(LoginThrottle::new(policy));
    let server = start(Options { throttle: Some(throttle.clone()), ..Options::default() }).await;
    let out = server.python("badpass").await;
    for n in 0..3 {
        assert!(value(&out, &format!("attempt {n}")).starts_with("-ERR [AUTH] invalid credentials"), "{out}");
    }
    for n in 3..5 {
        assert!(value(&out, &format!("attempt {n}")).starts_with("-ERR [SYS/TEMP] too many wrong passwords"), "{out}");
    }
    assert_eq!(throttle.tracked().0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_disabled_account_is_refused() {
    let settings = Overrides { pop3_enabled: Setting::Explicit(false), ..Overrides::default() };
    let server = start(Options { settings, ..Options::default() }).await;
    let out = server.python("disabled").await;
    assert_eq!(value(&out, "login"), "-ERR [AUTH] POP3 is disabled for this account (set explicitly on the account)");
    assert!(value(&out, "stat").starts_with("-ERR"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_long_lines_get_err_and_the_session_continues() {
    let server = start(Options::default()).await;
    let out = server.python("longline").await;
    assert_eq!(value(&out, "long"), "-ERR line too long");
    assert_eq!(value(&out, "very long"), "-ERR line too long");
    assert!(value(&out, "login").starts_with("+OK"), "{out}");
    assert!(value(&out, "noop").starts_with("+OK"), "{out}");
}

async fn read_line(stream: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    timeout(WAIT, stream.read_line(&mut line)).await.expect("no reply").unwrap();
    line
}

#[tokio::test]
async fn stls_discards_pipelined_plaintext() {
    let server = start(Options { plaintext: false, mode: TlsMode::StartTls, ..Options::default() }).await;
    let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
    assert!(read_line(&mut stream).await.starts_with("+OK"));
    stream.get_mut().write_all(b"STLS\r\nUSER alice@example.com\r\n").await.unwrap();
    assert!(read_line(&mut stream).await.starts_with("+OK"));
    let mut rest = Vec::new();
    let more = timeout(Duration::from_millis(300), stream.read_buf(&mut rest)).await;
    assert!(more.is_err() || rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

#[tokio::test]
async fn garbage_ends_the_session_and_capa_is_exact() {
    let server = start(Options::default()).await;
    let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
    assert_eq!(read_line(&mut stream).await, "+OK pop.example.com POP3 server ready\r\n");
    stream.get_mut().write_all(b"CAPA\r\n").await.unwrap();
    let mut capa = String::new();
    loop {
        let line = read_line(&mut stream).await;
        capa.push_str(&line);
        if line == ".\r\n" {
            break;
        }
    }
    assert_eq!(
        capa,
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n\
PIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION axigen\r\n.\r\n"
    );
    stream.get_mut().write_all(&[0xff, 0, b'\r', b'\n'].repeat(25)).await.unwrap();
    let mut rest = String::new();
    timeout(WAIT, stream.read_to_string(&mut rest)).await.expect("not closed").unwrap();
    assert!(rest.ends_with("-ERR too many errors\r\n"), "{rest}");
    assert_eq!(rest.lines().count(), 20, "{rest}");
}

/// fetchmail, a real POP3 client: over implicit TLS keeping the messages,
/// then with STLS deleting them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetchmail_fetches_everything() {
    if std::process::Command::new("fetchmail").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "fetchmail is not installed (apt-get install fetchmail)");
        eprintln!("skipped: fetchmail is not installed");
        return;
    }
    for (mode, keep) in [(TlsMode::Implicit, true), (TlsMode::StartTls, false)] {
        let server = start(Options { plaintext: false, mode, ..Options::default() }).await;
        let work = tempfile::tempdir().unwrap();
        let mailbox = work.path().join("mbox");
        let rc = work.path().join("fetchmailrc");
        let ssl = if mode == TlsMode::Implicit { "ssl" } else { "sslproto tls1.2+" };
        let keep = if keep { "keep" } else { "nokeep" };
        std::fs::write(
            &rc,
            format!(
                "set no syslog\npoll 127.0.0.1 with proto POP3 port {port} uidl\n  user \"{USER}\" there with \
                 password \"{PASSWORD}\" is \"nobody\" here\n  {ssl} no sslcertck {keep} fetchall\n  \
                 mda \"cat >> {mbox}\"\n",
                port = server.addr.port(),
                mbox = mailbox.display(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let output = timeout(
            Duration::from_secs(60),
            tokio::process::Command::new("fetchmail")
                .arg("-f")
                .arg(&rc)
                .arg("--pidfile")
                .arg(work.path().join("pid"))
                .arg("--idfile")
                .arg(work.path().join("ids"))
                .arg("-v")
                .env("HOME", work.path())
                .env("FETCHMAILHOME", work.path())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("fetchmail timed out")
        .unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "fetchmail ({mode}) failed:\n{log}");
        let fetched = std::fs::read_to_string(&mailbox).unwrap_or_default();
        for subject in ["Subject: dots", "Subject: 8bit", "Subject: third"] {
            assert!(fetched.contains(subject), "{subject} not fetched ({mode}):\n{fetched}\n{log}");
        }
        assert!(fetched.contains("Grüße aus Köln") && fetched.contains("\n.leading dot"), "{fetched}");
        let left = server.contents().await.len();
        assert_eq!(left, if keep == "keep" { 3 } else { 0 }, "{log}");
    }
}

/// rustls trusting the test server's development certificate.
fn trusting(cert: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in tls::load_certificates(cert).unwrap() {
        roots.add(c).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test]
async fn the_rpop_client_fetches_over_stls_and_implicit_tls() {
    use axigen_core::rpop::RpopTls;
    use axigen_protocols::pop3::client::{Pop3Client, Pop3ClientError};
    let limit = Duration::from_secs(10);
    for (mode, tls) in [(TlsMode::StartTls, RpopTls::Stls), (TlsMode::Implicit, RpopTls::Implicit)] {
        let server = start(Options { plaintext: false, mode, ..Options::default() }).await;
        let config = trusting(server.cert.as_deref().unwrap());
        let mut client = Pop3Client::connect(server.addr, tls, config.clone(), "localhost", limit).await.unwrap();
        client.login(USER, PASSWORD).await.unwrap();
        let uidl = client.uidl().await.unwrap();
        assert_eq!(uidl.len(), 3, "{uidl:?}");
        let stored = server.contents().await;
        for (i, (n, _)) in uidl.iter().enumerate() {
            let message = client.retr(*n, 1 << 20).await.unwrap();
            // POP3 ends every message with a line end (RFC 1939 3).
            let mut expected = stored[i].clone();
            if !expected.ends_with("\r\n") {
                expected.push_str("\r\n");
            }
            assert_eq!(String::from_utf8(message).unwrap(), expected, "message {n} arrives byte for byte");
        }
        assert!(matches!(client.retr(1, 10).await, Err(Pop3ClientError::TooLarge(10))));
    }
    // STLS then DELE and QUIT: the message is gone on the server.
    let server = start(Options { plaintext: false, mode: TlsMode::StartTls, ..Options::default() }).await;
    let config = trusting(server.cert.as_deref().unwrap());
    let mut client = Pop3Client::connect(server.addr, RpopTls::Stls, config.clone(), "localhost", limit).await.unwrap();
    client.login(USER, PASSWORD).await.unwrap();
    client.dele(1).await.unwrap();
    client.quit().await.unwrap();
    assert_eq!(server.contents().await.len(), 2);
    // A wrong password is a refusal; plain text against a TLS-only login too.
    let mut client = Pop3Client::connect(server.addr, RpopTls::Stls, config.clone(), "localhost", limit).await.unwrap();
    assert!(matches!(client.login(USER, "wrong").await, Err(Pop3ClientError::Refused { command: "PASS", .. })));
    let mut plain = Pop3Client::connect(server.addr, RpopTls::None, config, "localhost", limit).await.unwrap();
    assert!(matches!(plain.login(USER, PASSWORD).await, Err(Pop3ClientError::Refused { .. })));
}
