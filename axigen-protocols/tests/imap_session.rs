//! The IMAP service over a real loopback socket and a real RocksDB store,
//! spoken to by Python's imaplib (tests/clients/imap_client.py) and, where
//! the exact bytes matter, by raw TCP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axigen_core::directory::DirectoryAdmin;
use axigen_core::mailstore::{Flags, MailStore, NewMessage, QuotaLimit};
use axigen_core::model::{Account, Address, Domain, DomainName, NewAccount};
use axigen_core::settings::{Overrides, Setting};
use axigen_protocols::imap::{ImapConfig, ImapService};
use axigen_protocols::listener::{Listener, ListenerConfig};
use axigen_protocols::smtp::{LoginThrottle, ThrottlePolicy};
use axigen_protocols::tls::{self, TlsMode};
use axigen_store::{Store, StoreOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;

const USER: &str = "alice@example.com";
const PASSWORD: &str = "secret";
const WAIT: Duration = Duration::from_secs(10);

const PLAIN_1: &str = "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: First message\r\n\
Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@example.org>\r\n\r\nHello, first body.\r\n";
const MULTIPART: &str = "From: Bob <bob@example.net>\r\nTo: alice@example.com\r\nSubject: Multipart message\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"xyz\"\r\n\r\npreamble\r\n--xyz\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nThis is the text part.\r\n--xyz\r\n\
Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--xyz--\r\n";
const PLAIN_3: &str = "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: Third\r\n\r\nthe third body\r\n";

struct Server {
    addr: SocketAddr,
    cert: Option<PathBuf>,
    store: Arc<Store>,
    account: Account,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn start(allow_plaintext_login: bool) -> Server {
    start_with(allow_plaintext_login, TlsMode::None, Overrides::default()).await
}

async fn start_with(allow_plaintext_login: bool, mode: TlsMode, settings: Overrides) -> Server {
    start_full(allow_plaintext_login, mode, settings, None).await
}

async fn start_full(
    allow_plaintext_login: bool,
    mode: TlsMode,
    settings: Overrides,
    throttle: Option<Arc<LoginThrottle>>,
) -> Server {
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
            settings,
        })
        .await
        .unwrap();
    let inbox = store.folder_by_name(account.id, "INBOX").await.unwrap().unwrap();
    for (i, content) in [PLAIN_1, MULTIPART, PLAIN_3].into_iter().enumerate() {
        let message = NewMessage {
            flags: Flags::empty(),
            keywords: vec![],
            internal_date: 1_700_000_000 + i as i64,
            content: bytes::Bytes::from(content),
        };
        store.append(account.id, inbox.id, message, QuotaLimit::default()).await.unwrap();
    }
    let mut config = ImapConfig::new("imap.example.com");
    config.allow_plaintext_login = allow_plaintext_login;
    let mut service = ImapService::new(config, store.clone(), store.clone(), store.notifier().clone());
    if let Some(t) = throttle {
        service = service.with_throttle(t);
    }
    let (tls_config, cert) = if mode == TlsMode::None {
        (None, None)
    } else {
        let (cert, key, _) = tls::ensure_dev_certificate(dir.path(), &[]).unwrap();
        (Some(tls::load_server_config(&cert, &key).unwrap()), Some(cert))
    };
    let mut listener_config = ListenerConfig::new("imap", "127.0.0.1:0".parse().unwrap());
    listener_config.tls = mode;
    let listener = Listener::bind(&listener_config, tls_config).unwrap();
    let addr = listener.local_addr();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(listener.run(Arc::new(service), stopped));
    Server { addr, cert, store, account, _stop: stop, _dir: dir }
}

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imap_client.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaplib_session() {
    let server = start(true).await;
    let markers = tempfile::tempdir().unwrap();
    let marker = markers.path().join("idling");
    let child = tokio::process::Command::new("python3")
        .arg(client_script())
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .arg(USER)
        .arg(PASSWORD)
        .arg(markers.path())
        .kill_on_drop(true)
        .output();
    // When the client idles, deliver a message to INBOX from the store side.
    let store = server.store.clone();
    let account = server.account.id;
    let appender = tokio::spawn(async move {
        for _ in 0..400 {
            if marker.exists() {
                let inbox = store.folder_by_name(account, "INBOX").await.unwrap().unwrap();
                let message = NewMessage {
                    flags: Flags::empty(),
                    keywords: vec![],
                    internal_date: 1_700_000_100,
                    content: bytes::Bytes::from_static(b"From: x@example.org\r\nSubject: new\r\n\r\nnew\r\n"),
                };
                store.append(account, inbox.id, message, QuotaLimit::default()).await.unwrap();
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    });
    let output = timeout(Duration::from_secs(60), child).await.expect("client timed out").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("imap client ok"), "{stdout}");
    assert!(appender.await.unwrap(), "the client never idled");
}

/// Sends raw lines, returns everything up to the line starting with `until`.
async fn exchange(stream: &mut BufReader<TcpStream>, send: &str, until: &str) -> String {
    stream.get_mut().write_all(send.as_bytes()).await.unwrap();
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = timeout(WAIT, stream.read_line(&mut line)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed; got {all}");
        all.push_str(&line);
        if line.starts_with(until) {
            return all;
        }
    }
}

#[tokio::test]
async fn failed_logins_are_throttled_across_connections() {
    let policy = ThrottlePolicy {
        guess_free: 1,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(20),
        guess_refuse: 3,
        ..ThrottlePolicy::default()
    };
    let throttle = Arc::new(LoginThrottle::new(policy));
    let server = start_full(true, TlsMode::None, Overrides::default(), Some(throttle.clone())).await;
    for n in 0..3 {
        let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
        let mut greeting = String::new();
        stream.read_line(&mut greeting).await.unwrap();
        let reply = exchange(&mut stream, &format!("f{n} LOGIN {USER} wrong-{n}\r\n"), &format!("f{n} ")).await;
        assert!(reply.starts_with(&format!("f{n} NO [AUTHENTICATIONFAILED]")), "{reply}");
    }
    // Past the limit even the right password is not checked, from any connection of that address.
    let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
    let mut greeting = String::new();
    stream.read_line(&mut greeting).await.unwrap();
    let reply = exchange(&mut stream, &format!("g1 LOGIN {USER} {PASSWORD}\r\n"), "g1 ").await;
    assert!(reply.starts_with("g1 NO [UNAVAILABLE]"), "{reply}");
    assert_eq!(throttle.tracked().0, 1);
}

#[tokio::test]
async fn plaintext_login_refused_and_states_checked() {
    let server = start(false).await;
    let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
    let mut greeting = String::new();
    stream.read_line(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("* OK [CAPABILITY ") && greeting.contains("LOGINDISABLED"), "{greeting}");
    let reply = exchange(&mut stream, "a1 LOGIN alice@example.com secret\r\n", "a1 ").await;
    assert!(reply.starts_with("a1 NO [PRIVACYREQUIRED]"), "{reply}");
    let reply = exchange(&mut stream, "a2 AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n", "a2 ").await;
    assert!(reply.starts_with("a2 NO [PRIVACYREQUIRED]"), "{reply}");
    let reply = exchange(&mut stream, "a3 SELECT INBOX\r\n", "a3 ").await;
    assert!(reply.starts_with("a3 BAD"), "{reply}");
    let reply = exchange(&mut stream, "a4 FOO\r\n", "a4 ").await;
    assert!(reply.starts_with("a4 BAD"), "{reply}");
    let reply = exchange(&mut stream, "a5 LOGOUT\r\n", "a5 ").await;
    assert!(reply.starts_with("* BYE") && reply.contains("a5 OK"), "{reply}");
}

#[tokio::test]
async fn authenticate_plain_with_continuation_and_select_responses() {
    let server = start(true).await;
    let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
    let mut greeting = String::new();
    stream.read_line(&mut greeting).await.unwrap();
    let reply = exchange(&mut stream, "a1 AUTHENTICATE PLAIN\r\n", "+").await;
    assert!(reply.starts_with('+'), "{reply}");
    // "\0alice@example.com\0wrong"
    let reply = exchange(&mut stream, "AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n\r\n", "a1 ").await;
    assert!(reply.starts_with("a1 NO [AUTHENTICATIONFAILED]"), "{reply}");
    let reply = exchange(&mut stream, "a2 AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n", "a2 ").await;
    assert!(reply.starts_with("a2 OK"), "{reply}");
    let reply = exchange(&mut stream, "a3 EXAMINE INBOX\r\n", "a3 ").await;
    for expected in ["* 3 EXISTS", "* 0 RECENT", "[UIDVALIDITY ", "[UIDNEXT 4]", "a3 OK [READ-ONLY]"] {
        assert!(reply.contains(expected), "{expected} in {reply}");
    }
    let reply = exchange(&mut stream, "a4 STORE 1 +FLAGS (\\Seen)\r\n", "a4 ").await;
    assert!(reply.starts_with("a4 NO [READ-ONLY]"), "{reply}");
    let reply = exchange(&mut stream, "a5 FETCH 1 (BODY[])\r\n", "a5 ").await;
    assert!(!reply.contains("\\Seen"), "EXAMINE must not set \\Seen: {reply}");
    let reply = exchange(&mut stream, "a6 NAMESPACE\r\n", "a6 ").await;
    assert!(reply.starts_with("* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) NIL"), "{reply}");
    let reply = exchange(&mut stream, "a7 FETCH 1:* (UID\r\n", "a7 ").await;
    assert!(reply.starts_with("a7 BAD"), "{reply}");
    let reply = exchange(&mut stream, "a9 APPEND INBOX {14+}\r\nSubject: z\r\n\r\n\r\n", "a9 ").await;
    // RFC 3501 7.3.2: an EXAMINE session counts the new message as recent
    // without taking it.
    assert!(reply.starts_with("* 4 EXISTS\r\n* 1 RECENT\r\na9 OK [APPENDUID "), "{reply}");
    let reply = exchange(&mut stream, "b1 FETCH 9 (FLAGS)\r\n", "b1 ").await;
    assert!(reply.starts_with("b1 BAD"), "{reply}");
    let reply = exchange(&mut stream, "b2 UID FETCH 9 (FLAGS)\r\n", "b2 ").await;
    assert!(reply.starts_with("b2 OK"), "{reply}");
    let reply = exchange(&mut stream, "a8 SELECT Nope\r\n", "a8 ").await;
    assert!(reply.contains("a8 NO [NONEXISTENT]"), "{reply}");
}

async fn python(script: &str, args: &[String]) -> String {
    let output = timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3").arg("-c").arg(script).args(args).kill_on_drop(true).output(),
    )
    .await
    .expect("client timed out")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "client failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_then_login_with_imaplib() {
    let server = start_with(false, TlsMode::StartTls, Overrides::default()).await;
    let cert = server.cert.clone().unwrap();
    let out = python(
        r#"
import imaplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
m = imaplib.IMAP4("127.0.0.1", port)
assert "STARTTLS" in m.capabilities and "LOGINDISABLED" in m.capabilities, m.capabilities
try:
    m.login("alice@example.com", "secret")
    raise AssertionError("plaintext login accepted")
except imaplib.IMAP4.error as e:
    print("plaintext:", e)
m.starttls(ssl_context=ssl.create_default_context(cafile=cafile))
assert "STARTTLS" not in m.capabilities and "AUTH=PLAIN" in m.capabilities, m.capabilities
print("login:", m.login("alice@example.com", "secret")[0])
print("select:", m.select("INBOX"))
m.logout()
# imaplib's AUTHENTICATE waits for the server's (empty) base64 challenge.
m = imaplib.IMAP4("127.0.0.1", port)
m.starttls(ssl_context=ssl.create_default_context(cafile=cafile))
challenges = []
def plain(challenge):
    challenges.append(challenge)
    return b"\0alice@example.com\0secret"
print("authenticate:", m.authenticate("PLAIN", plain)[0], challenges)
m.logout()
"#,
        &[server.addr.port().to_string(), cert.display().to_string()],
    )
    .await;
    assert!(out.contains("authenticate: OK [b'']"), "{out}");
    assert!(out.contains("PRIVACYREQUIRED"), "{out}");
    assert!(out.contains("login: OK"), "{out}");
    assert!(out.contains("select: ('OK', [b'3'])"), "{out}");
}

#[tokio::test]
async fn starttls_discards_pipelined_plaintext() {
    let server = start_with(false, TlsMode::StartTls, Overrides::default()).await;
    let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
    let mut greeting = String::new();
    stream.read_line(&mut greeting).await.unwrap();
    // The injected command must not be answered after the handshake.
    stream.get_mut().write_all(b"a1 STARTTLS\r\na2 LOGIN alice@example.com secret\r\n").await.unwrap();
    let mut line = String::new();
    timeout(WAIT, stream.read_line(&mut line)).await.unwrap().unwrap();
    assert!(line.starts_with("a1 OK"), "{line}");
    let mut rest = Vec::new();
    // The server now waits for a ClientHello: nothing more arrives in plaintext.
    let more = timeout(Duration::from_millis(300), tokio::io::AsyncReadExt::read_buf(&mut stream, &mut rest)).await;
    assert!(more.is_err() || rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

#[tokio::test]
async fn imap_disabled_account_is_refused() {
    let settings = Overrides { imap_enabled: Setting::Explicit(false), ..Overrides::default() };
    let server = start_with(true, TlsMode::None, settings).await;
    let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
    let mut greeting = String::new();
    stream.read_line(&mut greeting).await.unwrap();
    let reply = exchange(&mut stream, "a1 LOGIN alice@example.com secret\r\n", "a1 ").await;
    assert!(reply.starts_with("a1 NO"), "{reply}");
    let reply = exchange(&mut stream, "a2 LIST \"\" *\r\n", "a2 ").await;
    assert!(reply.starts_with("a2 BAD"), "{reply}");
}

#[tokio::test]
async fn quota_uid_expunge_and_list_options() {
    let settings = Overrides { quota_messages: Setting::Explicit(4), ..Overrides::default() };
    let server = start_with(true, TlsMode::None, settings).await;
    let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
    let mut greeting = String::new();
    stream.read_line(&mut greeting).await.unwrap();
    exchange(&mut stream, "a1 LOGIN alice@example.com secret\r\n", "a1 OK").await;
    let reply = exchange(&mut stream, "a2 APPEND INBOX {14+}\r\nSubject: x\r\n\r\n\r\n", "a2 ").await;
    assert!(reply.starts_with("a2 OK [APPENDUID "), "{reply}");
    let reply = exchange(&mut stream, "a3 APPEND INBOX (\\Seen) {14+}\r\nSubject: y\r\n\r\n\r\n", "a3 ").await;
    assert!(reply.starts_with("a3 NO [OVERQUOTA]"), "{reply}");
    let reply = exchange(&mut stream, "a4 LIST () \"\" \"*\" RETURN (SPECIAL-USE SUBSCRIBED)\r\n", "a4 ").await;
    assert!(reply.contains("\\Sent") && reply.contains("a4 OK"), "{reply}");
    let reply = exchange(&mut stream, "a5 LIST (SPECIAL-USE) \"\" *\r\n", "a5 ").await;
    assert!(!reply.contains("INBOX") && reply.contains("\\Trash"), "{reply}");
    let reply = exchange(&mut stream, "a6 SELECT INBOX\r\n", "a6 ").await;
    assert!(reply.contains("* 4 EXISTS"), "{reply}");
    exchange(&mut stream, "a7 STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n", "a7 OK").await;
    let reply = exchange(&mut stream, "a8 UID EXPUNGE 2\r\n", "a8 ").await;
    assert!(reply.starts_with("* 2 EXPUNGE\r\na8 OK"), "{reply}");
    let reply = exchange(&mut stream, "a9 UID COPY 1 Trash\r\n", "a9 ").await;
    assert!(reply.starts_with("a9 OK [COPYUID "), "{reply}");
    let reply = exchange(&mut stream, "b1 UID MOVE 1 Junk\r\n", "b1 ").await;
    assert!(reply.starts_with("* OK [COPYUID ") && reply.contains("* 1 EXPUNGE\r\nb1 OK"), "{reply}");
    let reply = exchange(&mut stream, "b2 CREATE a/b/c\r\n", "b2 ").await;
    assert!(reply.starts_with("b2 OK"), "{reply}");
    let reply = exchange(&mut stream, "b3 RENAME a x/y\r\n", "b3 ").await;
    assert!(reply.starts_with("b3 OK"), "{reply}");
    let reply = exchange(&mut stream, "b4 LIST \"\" x/*\r\n", "b4 ").await;
    assert!(reply.contains("\"x/y/b/c\"") || reply.contains(" x/y/b/c\r\n"), "{reply}");
    let reply = exchange(&mut stream, "b6 DELETE x/y\r\n", "b6 ").await;
    assert!(reply.starts_with("b6 NO [HASCHILDREN]"), "{reply}");
    let reply = exchange(&mut stream, "b7 DELETE x/y/b/c\r\n", "b7 ").await;
    assert!(reply.starts_with("b7 OK"), "{reply}");
    let reply = exchange(&mut stream, "b8 RENAME INBOX Old/Inbox\r\n", "b8 ").await;
    assert!(reply.starts_with("* 2 EXPUNGE\r\n* 1 EXPUNGE\r\nb8 OK"), "{reply}");
    let reply = exchange(&mut stream, "b9 STATUS Old/Inbox (MESSAGES)\r\n", "b9 ").await;
    assert!(reply.contains("MESSAGES 2"), "{reply}");
    let reply = exchange(&mut stream, "b5 STATUS Trash (MESSAGES)\r\n", "b5 ").await;
    assert!(reply.contains("MESSAGES 1"), "{reply}");
}

async fn logged_in(addr: SocketAddr) -> BufReader<TcpStream> {
    let mut stream = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let mut greeting = String::new();
    stream.read_line(&mut greeting).await.unwrap();
    exchange(&mut stream, "l1 LOGIN alice@example.com secret\r\n", "l1 OK").await;
    stream
}

/// Reads lines until one starts with `until`.
async fn read_until(stream: &mut BufReader<TcpStream>, until: &str) -> String {
    exchange(stream, "", until).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_noop_report_other_sessions_changes() {
    let server = start(true).await;
    let mut a = logged_in(server.addr).await;
    let mut b = logged_in(server.addr).await;
    exchange(&mut a, "a1 SELECT INBOX\r\n", "a1 OK").await;
    exchange(&mut b, "b1 SELECT INBOX\r\n", "b1 OK").await;

    // A idles; B flags and expunges message 2: A sees FETCH FLAGS, then EXPUNGE.
    let reply = exchange(&mut a, "a2 IDLE\r\n", "+").await;
    assert!(reply.starts_with("+ "), "{reply}");
    exchange(&mut b, "b2 STORE 2 +FLAGS (\\Flagged)\r\n", "b2 OK").await;
    let line = timeout(Duration::from_secs(1), read_until(&mut a, "* 2 FETCH")).await.expect("IDLE not woken");
    assert!(line.contains("\\Flagged"), "{line}");
    exchange(&mut b, "b3 STORE 2 +FLAGS.SILENT (\\Deleted)\r\nb4 EXPUNGE\r\n", "b4 OK").await;
    let reply = timeout(Duration::from_secs(1), read_until(&mut a, "* 2 EXPUNGE")).await.expect("IDLE not woken");
    assert!(reply.ends_with("* 2 EXPUNGE\r\n"), "{reply}");
    let reply = exchange(&mut a, "DONE\r\n", "a2 ").await;
    assert!(reply.starts_with("a2 OK"), "{reply}");

    // Not during FETCH, but after NOOP (RFC 9051 7.4.1).
    exchange(&mut b, "b5 STORE 1 +FLAGS.SILENT (\\Deleted)\r\nb6 EXPUNGE\r\n", "b6 OK").await;
    let reply = exchange(&mut a, "a3 FETCH 1:* (UID)\r\n", "a3 ").await;
    assert!(!reply.contains("EXPUNGE") && reply.contains("* 2 FETCH (UID 3)"), "{reply}");
    let reply = exchange(&mut a, "a4 NOOP\r\n", "a4 ").await;
    assert!(reply.starts_with("* 1 EXPUNGE\r\na4 OK"), "{reply}");
    let reply = exchange(&mut a, "a5 FETCH 1:* (UID)\r\n", "a5 ").await;
    assert!(reply.starts_with("* 1 FETCH (UID 3)\r\na5 OK"), "{reply}");
    let reply = exchange(&mut a, "a6 LOGOUT\r\n", "a6 ").await;
    assert!(reply.starts_with("* BYE"), "{reply}");
}

#[tokio::test]
async fn enable_imap4rev2() {
    let server = start(true).await;
    let mut a = logged_in(server.addr).await;
    let reply = exchange(&mut a, "e1 ENABLE IMAP4rev2\r\n", "e1 ").await;
    assert!(reply.starts_with("* ENABLED IMAP4rev2\r\ne1 OK"), "{reply}");
    let reply = exchange(&mut a, "e2 CREATE \"Entwürfe\"\r\n", "e2 ").await;
    assert!(reply.starts_with("e2 OK"), "{reply}");
    let reply = exchange(&mut a, "e3 LIST \"\" Entw*\r\n", "e3 ").await;
    assert!(reply.contains("Entwürfe"), "{reply}");
    let reply = exchange(&mut a, "e4 SELECT INBOX\r\n", "e4 ").await;
    assert!(!reply.contains("RECENT"), "{reply}");
    let reply = exchange(&mut a, "e5 UID SEARCH ALL\r\n", "e5 ").await;
    assert!(reply.starts_with("* ESEARCH (TAG \"e5\") UID ALL 1:3\r\n"), "{reply}");
}

#[tokio::test]
async fn garbage_ends_the_session() {
    let server = start(true).await;
    let mut stream = BufReader::new(TcpStream::connect(server.addr).await.unwrap());
    let mut greeting = String::new();
    stream.read_line(&mut greeting).await.unwrap();
    let garbage = "x\r\n".repeat(60);
    let reply = exchange(&mut stream, &garbage, "* BYE").await;
    assert_eq!(reply.matches("BAD").count(), 50, "{reply}");
}

/// The number that follows `after` in `reply`.
fn number_after(reply: &str, after: &str) -> u64 {
    let start = reply.find(after).unwrap_or_else(|| panic!("no {after} in {reply}")) + after.len();
    reply[start..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condstore_conditional_store_and_changedsince() {
    let server = start(true).await;
    let mut a = logged_in(server.addr).await;
    let mut b = logged_in(server.addr).await;
    let reply = exchange(&mut a, "c0 CAPABILITY\r\n", "c0 OK").await;
    assert!(reply.contains(" CONDSTORE"), "{reply}");
    // RFC 7162 3.1.2.1: HIGHESTMODSEQ on SELECT.
    let reply = exchange(&mut a, "a1 SELECT INBOX (CONDSTORE)\r\n", "a1 ").await;
    assert!(reply.contains("a1 OK"), "{reply}");
    let highest = number_after(&reply, "[HIGHESTMODSEQ ");
    let reply = exchange(&mut a, "a2 FETCH 1 (MODSEQ)\r\n", "a2 ").await;
    assert!(number_after(&reply, "* 1 FETCH (MODSEQ (") <= highest, "{reply}");

    // B changes message 1; A's conditional STORE on 1:2 fails for 1 only.
    exchange(&mut b, "b1 SELECT INBOX\r\n", "b1 OK").await;
    exchange(&mut b, "b2 STORE 1 +FLAGS (\\Flagged)\r\n", "b2 OK").await;
    let reply = exchange(&mut a, &format!("a3 STORE 1:2 (UNCHANGEDSINCE {highest}) +FLAGS (\\Seen)\r\n"), "a3 ").await;
    assert!(reply.contains("a3 OK [MODIFIED 1]"), "{reply}");
    assert!(reply.contains("* 2 FETCH (FLAGS (\\Seen) MODSEQ ("), "{reply}");
    assert!(!reply.contains("* 1 FETCH (FLAGS (\\Seen"), "{reply}");
    // NOOP reports B's change, with MODSEQ (RFC 7162 3.1.4).
    let reply = exchange(&mut a, "a4 NOOP\r\n", "a4 ").await;
    assert!(reply.contains("* 1 FETCH (FLAGS (\\Flagged) MODSEQ ("), "{reply}");

    // CHANGEDSINCE: exactly messages 1 and 2 changed since the SELECT.
    let reply = exchange(&mut a, &format!("a5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})\r\n"), "a5 ").await;
    assert!(reply.contains("UID 1 ") && reply.contains("UID 2 ") && !reply.contains("UID 3 "), "{reply}");
    assert!(reply.contains("MODSEQ ("), "{reply}");
    let reply = exchange(&mut a, &format!("a6 SEARCH MODSEQ {}\r\n", highest + 1), "a6 ").await;
    assert!(reply.starts_with("* SEARCH 1 2 (MODSEQ "), "{reply}");
    let reply = exchange(&mut b, "b3 STATUS INBOX (HIGHESTMODSEQ)\r\n", "b3 ").await;
    assert!(number_after(&reply, "HIGHESTMODSEQ ") > highest, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qresync_after_other_session_expunged_and_flagged() {
    let server = start(true).await;
    let mut a = logged_in(server.addr).await;
    let mut b = logged_in(server.addr).await;
    let reply = exchange(&mut a, "a0 SELECT INBOX (QRESYNC (1 1))\r\n", "a0 ").await;
    assert!(reply.starts_with("a0 BAD"), "RFC 7162 3.2.5 needs ENABLE first: {reply}");
    let reply = exchange(&mut a, "a1 ENABLE QRESYNC\r\n", "a1 ").await;
    assert!(reply.starts_with("* ENABLED QRESYNC\r\na1 OK"), "{reply}");
    let reply = exchange(&mut a, "a2 SELECT INBOX\r\n", "a2 OK").await;
    let validity = number_after(&reply, "[UIDVALIDITY ");
    let highest = number_after(&reply, "[HIGHESTMODSEQ ");
    exchange(&mut a, "a3 UNSELECT\r\n", "a3 OK").await;

    // B flags message 1 and expunges message 2 while A is away.
    exchange(&mut b, "b1 SELECT INBOX\r\n", "b1 OK").await;
    exchange(&mut b, "b2 STORE 1 +FLAGS (\\Flagged)\r\n", "b2 OK").await;
    exchange(&mut b, "b3 STORE 2 +FLAGS.SILENT (\\Deleted)\r\nb4 EXPUNGE\r\n", "b4 OK").await;

    let reply = exchange(&mut a, &format!("a4 SELECT INBOX (QRESYNC ({validity} {highest}))\r\n"), "a4 ").await;
    assert!(reply.contains("a4 OK"), "{reply}");
    let vanished: Vec<&str> = reply.lines().filter(|l| l.starts_with("* VANISHED")).collect();
    assert_eq!(vanished, vec!["* VANISHED (EARLIER) 2"], "{reply}");
    let fetches: Vec<&str> = reply.lines().filter(|l| l.contains(" FETCH ")).collect();
    assert_eq!(fetches.len(), 1, "{reply}");
    assert!(fetches[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ ("), "{reply}");

    // Once QRESYNC is enabled, expunges are VANISHED (RFC 7162 3.2.10).
    exchange(&mut b, "b5 UID STORE 3 +FLAGS.SILENT (\\Deleted)\r\nb6 EXPUNGE\r\n", "b6 OK").await;
    let reply = exchange(&mut a, "a5 NOOP\r\n", "a5 ").await;
    assert!(reply.contains("* VANISHED 3\r\n") && !reply.contains("EXPUNGE"), "{reply}");
    exchange(&mut a, "a9 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n", "a9 OK").await;
    let reply = exchange(&mut a, "b0 EXPUNGE\r\n", "b0 ").await;
    assert!(reply.starts_with("* VANISHED 1\r\nb0 OK [HIGHESTMODSEQ "), "RFC 7162 3.2.7: {reply}");
    let reply =
        exchange(&mut a, &format!("a6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)\r\n"), "a6 ").await;
    assert!(reply.starts_with("* VANISHED (EARLIER) 1:3\r\n"), "{reply}");
    let reply = exchange(&mut a, "a7 FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n", "a7 ").await;
    assert!(reply.starts_with("a7 BAD"), "{reply}");

    // known-uids limits what is reported.
    let reply = exchange(&mut a, &format!("a8 SELECT INBOX (QRESYNC ({validity} {highest} 2))\r\n"), "a8 ").await;
    assert!(reply.contains("* VANISHED (EARLIER) 2\r\n") && !reply.contains(" FETCH "), "{reply}");
    assert!(reply.contains("* 0 EXISTS"), "{reply}");
}

#[tokio::test]
async fn list_status_quota_and_appendlimit() {
    let settings = Overrides {
        quota_messages: Setting::Explicit(10),
        quota_storage_bytes: Setting::Explicit(100 * 1024),
        ..Overrides::default()
    };
    let server = start_with(true, TlsMode::None, settings).await;
    let mut a = logged_in(server.addr).await;
    // RFC 7889 3: APPENDLIMIT=n, the configured max append.
    let reply = exchange(&mut a, "a1 CAPABILITY\r\n", "a1 OK").await;
    let max_append = ImapConfig::new("x").max_append;
    for cap in [format!(" APPENDLIMIT={max_append}"), " LIST-STATUS".into(), " QUOTA".into(), " ESEARCH".into()] {
        assert!(reply.contains(&cap), "{cap} missing: {reply}");
    }
    let reply = exchange(&mut a, "a2 STATUS INBOX (APPENDLIMIT SIZE MESSAGES)\r\n", "a2 ").await;
    assert!(reply.contains(&format!("APPENDLIMIT {max_append}")) && reply.contains("MESSAGES 3"), "{reply}");

    // RFC 5819 2: a STATUS after each LIST.
    let reply = exchange(&mut a, "a3 LIST \"\" \"*\" RETURN (STATUS (MESSAGES UIDNEXT))\r\n", "a3 ").await;
    assert!(reply.contains("a3 OK"), "{reply}");
    let lines: Vec<&str> = reply.lines().collect();
    let inbox = lines.iter().position(|l| l.starts_with("* LIST") && l.ends_with(" INBOX")).expect(&reply);
    assert_eq!(lines[inbox + 1], "* STATUS INBOX (MESSAGES 3 UIDNEXT 4)", "{reply}");
    let lists = lines.iter().filter(|l| l.starts_with("* LIST")).count();
    let statuses = lines.iter().filter(|l| l.starts_with("* STATUS")).count();
    assert_eq!(lists, statuses, "{reply}");

    // RFC 9208: usage from the store, STORAGE in KiB.
    let usage = server.store.quota_usage(server.account.id).await.unwrap();
    let reply = exchange(&mut a, "a4 GETQUOTAROOT INBOX\r\n", "a4 ").await;
    let expected = format!(
        "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE {} 100 MESSAGE {} 10)\r\na4 OK",
        usage.bytes.div_ceil(1024),
        usage.messages
    );
    assert!(reply.starts_with(&expected), "{reply}\nexpected {expected}");
    assert_eq!(usage.messages, 3);
    let reply = exchange(&mut a, "a5 GETQUOTA \"\"\r\n", "a5 ").await;
    assert!(reply.starts_with("* QUOTA \"\" (STORAGE "), "{reply}");
    let reply = exchange(&mut a, "a6 SETQUOTA \"\" (STORAGE 1000)\r\n", "a6 ").await;
    assert!(reply.starts_with("a6 NO [NOPERM]"), "{reply}");
    let reply = exchange(&mut a, "a7 SELECT INBOX\r\na8 SEARCH RETURN (MIN MAX COUNT ALL) ALL\r\n", "a8 ").await;
    assert!(reply.contains("* ESEARCH (TAG \"a8\") MIN 1 MAX 3 ALL 1:3 COUNT 3\r\n"), "{reply}");
}

#[tokio::test]
async fn binary_fetch_decodes_parts() {
    let server = start(true).await;
    let mut a = logged_in(server.addr).await;
    let reply = exchange(&mut a, "a1 CAPABILITY\r\n", "a1 OK").await;
    assert!(reply.contains(" BINARY"), "{reply}");
    exchange(&mut a, "a2 EXAMINE INBOX\r\n", "a2 OK").await;
    // Part 2 of message 2 is base64 of the octets 0..=9: a literal8 (RFC 3516 4.2).
    let reply = exchange(&mut a, "a3 FETCH 2 (BINARY.SIZE[2] BINARY.PEEK[2] BINARY[1])\r\n", "a3 ").await;
    let bytes: String = (0u8..10).map(char::from).collect();
    let expected = format!(
        "* 2 FETCH (BINARY.SIZE[2] 10 BINARY[2] ~{{10}}\r\n{bytes} BINARY[1] {{22}}\r\nThis is the text part.)\r\n"
    );
    assert!(reply.starts_with(&expected), "{reply:?}");
    assert!(reply.contains("a3 OK"), "{reply}");
    let reply = exchange(&mut a, "a4 FETCH 2 (BINARY.PEEK[2]<2.3>)\r\n", "a4 ").await;
    assert!(reply.starts_with("* 2 FETCH (BINARY[2]<2> {3}\r\n\u{2}\u{3}\u{4})"), "{reply:?}");

    // RFC 3516 4.3: an encoding the server cannot decode.
    let message = "Subject: u\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n";
    let reply = exchange(&mut a, &format!("a5 APPEND INBOX {{{}+}}\r\n{message}\r\n", message.len()), "a5 OK").await;
    let reply = reply + &exchange(&mut a, "a6 NOOP\r\n", "a6 ").await;
    assert!(reply.contains("APPENDUID") && reply.contains("* 4 EXISTS"), "{reply}");
    let reply = exchange(&mut a, "a7 FETCH 4 (BINARY.PEEK[1])\r\n", "a7 ").await;
    assert!(reply.starts_with("a7 NO [UNKNOWN-CTE]"), "{reply}");
}

#[tokio::test]
async fn utf8_accept_names_and_append() {
    let server = start(true).await;
    let mut a = logged_in(server.addr).await;
    let message = "Subject: Grüße\r\nFrom: jörg@example.com\r\n\r\nhallo\r\n";
    let append = |tag: &str| format!("{tag} APPEND INBOX UTF8 (~{{{}+}}\r\n{message})\r\n", message.len());
    // RFC 6855 4: UTF8 append data needs the ENABLE first.
    let reply = exchange(&mut a, &append("a0"), "a0 ").await;
    assert!(reply.starts_with("a0 BAD"), "{reply}");
    let reply = exchange(&mut a, "a1 ENABLE UTF8=ACCEPT\r\n", "a1 ").await;
    assert!(reply.starts_with("* ENABLED UTF8=ACCEPT\r\na1 OK"), "{reply}");
    let reply = exchange(&mut a, "a2 CREATE \"Grüße\"\r\n", "a2 ").await;
    assert!(reply.starts_with("a2 OK"), "{reply}");
    // RFC 6855 3: names are UTF-8 on the wire, not modified UTF-7.
    let reply = exchange(&mut a, "a3 LIST \"\" \"Gr*\"\r\n", "a3 ").await;
    assert!(reply.contains(" \"Grüße\"\r\n") || reply.contains(" Grüße\r\n"), "{reply}");
    let reply = exchange(&mut a, &append("a4"), "a4 ").await;
    assert!(reply.starts_with("a4 OK [APPENDUID "), "{reply}");
    exchange(&mut a, "a5 SELECT INBOX\r\n", "a5 OK").await;
    let reply = exchange(&mut a, "a6 SEARCH CHARSET UTF-8 ALL\r\n", "a6 ").await;
    assert!(reply.starts_with("a6 BAD"), "RFC 6855 3: {reply}");
    let reply = exchange(&mut a, "a7 FETCH 4 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n", "a7 ").await;
    assert!(reply.contains("Subject: Grüße"), "{reply}");
}

/// Folder sharing between three accounts (RFC 4314), with imaplib: rights
/// granted, enforced and taken away; see tests/clients/imap_acl.py.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_sharing_between_accounts() {
    let server = start(true).await;
    let store = &server.store;
    let alice = server.account.id;
    for user in ["bob", "carol"] {
        store
            .create_account(NewAccount {
                address: Address::parse(&format!("{user}@example.com")).unwrap(),
                class: None,
                display_name: user.into(),
                password: PASSWORD.into(),
                settings: Overrides::default(),
            })
            .await
            .unwrap();
    }
    let team = store.create_folder(alice, "Team", axigen_core::mailstore::FolderKind::Mail, None).await.unwrap();
    let private = store.create_folder(alice, "Private", axigen_core::mailstore::FolderKind::Mail, None).await.unwrap();
    for (folder, subject) in [(team.id, "team one"), (team.id, "team two"), (private.id, "private")] {
        let message = NewMessage {
            flags: Flags::empty(),
            keywords: vec![],
            internal_date: 1_700_000_000,
            content: bytes::Bytes::from(format!("From: alice@example.com\r\nSubject: {subject}\r\n\r\n{subject}\r\n")),
        };
        store.append(alice, folder, message, QuotaLimit::default()).await.unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imap_acl.py");
    let output = timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .arg(script)
            .arg(server.addr.ip().to_string())
            .arg(server.addr.port().to_string())
            .arg(PASSWORD)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("client timed out")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "client failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("imap acl ok"), "{stdout}");
    // The store agrees with what the client saw, and is consistent.
    let report = store.check(false).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.acl_entries, 1, "only the anyone entry on Private is left");
}

/// SENT* compare the Date field's own day; header searches and header
/// fetches (served from the header cache after the first) give the same
/// answers every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_dates_and_cached_header_reads() {
    let server = start(true).await;
    let mut stream = logged_in(server.addr).await;
    exchange(&mut stream, "s1 SELECT INBOX\r\n", "s1 ").await;
    // Message 1 is dated Mon, 7 Feb 1994 21:52:25 -0800 (8 Feb in UTC);
    // the others have no Date field and an internal date in 2023.
    let reply = exchange(&mut stream, "s2 SEARCH SENTON 7-Feb-1994\r\n", "s2 ").await;
    assert!(reply.starts_with("* SEARCH 1\r\n"), "{reply}");
    let reply = exchange(&mut stream, "s3 SEARCH SENTON 8-Feb-1994\r\n", "s3 ").await;
    assert!(reply.starts_with("* SEARCH\r\n"), "{reply}");
    let reply = exchange(&mut stream, "s4 SEARCH SENTBEFORE 1-Jan-2000\r\n", "s4 ").await;
    assert!(reply.starts_with("* SEARCH 1\r\n"), "{reply}");
    let reply = exchange(&mut stream, "s5 SEARCH SENTSINCE 1-Jan-2020\r\n", "s5 ").await;
    assert!(reply.starts_with("* SEARCH 2 3\r\n"), "{reply}");
    for round in 0..3 {
        let reply = exchange(&mut stream, &format!("h{round} SEARCH SUBJECT \"multipart\"\r\n"), "h").await;
        assert!(reply.starts_with("* SEARCH 2\r\n"), "{reply}");
        let reply =
            exchange(&mut stream, &format!("f{round} FETCH 1:3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"), "f").await;
        assert!(
            reply.contains("* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {26}\r\nSubject: First message\r\n\r\n)")
                && reply.contains("* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: Third\r\n\r\n)"),
            "{reply}"
        );
        let reply = exchange(&mut stream, &format!("b{round} SEARCH BODY \"third body\"\r\n"), "b").await;
        assert!(reply.starts_with("* SEARCH 3\r\n"), "{reply}");
    }
    assert!(server.store.header_cache_bytes() > 0, "header reads went through the cache");
}

/// Header searches match RFC 2047 encoded-words by their decoded text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_decodes_encoded_words() {
    let server = start(true).await;
    let mut stream = logged_in(server.addr).await;
    let message = "From: =?ISO-8859-1?Q?J=F6rg?= <j@example.com>\r\nSubject: =?UTF-8?Q?Mittagessen_am_Fr=C3=A4itag?=\r\n\r\nx\r\n";
    let reply = exchange(&mut stream, &format!("a1 APPEND INBOX {{{}+}}\r\n{message}\r\n", message.len()), "a1 ").await;
    assert!(reply.starts_with("a1 OK"), "{reply}");
    exchange(&mut stream, "s1 SELECT INBOX\r\n", "s1 ").await;
    let reply = exchange(&mut stream, "s2 SEARCH CHARSET UTF-8 SUBJECT {8+}\r\nFräitag\r\n", "s2 ").await;
    assert!(reply.starts_with("* SEARCH 4\r\n"), "{reply}");
    let reply = exchange(&mut stream, "s3 SEARCH CHARSET UTF-8 FROM {5+}\r\njörg\r\n", "s3 ").await;
    assert!(reply.starts_with("* SEARCH 4\r\n"), "{reply}");
    let reply = exchange(&mut stream, "s4 SEARCH SUBJECT samstag\r\n", "s4 ").await;
    assert!(reply.starts_with("* SEARCH\r\n"), "{reply}");
}

/// FETCH and SEARCH answer from the session's copy of the listing only
/// while the folder is unchanged: another session's change shows at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_and_search_see_other_sessions_changes() {
    let server = start(true).await;
    let mut a = logged_in(server.addr).await;
    let mut b = logged_in(server.addr).await;
    exchange(&mut a, "a1 SELECT INBOX\r\n", "a1 ").await;
    exchange(&mut b, "b1 SELECT INBOX\r\n", "b1 ").await;
    let reply = exchange(&mut a, "a2 FETCH 1 FLAGS\r\n", "a2 ").await;
    assert!(reply.starts_with("* 1 FETCH (FLAGS ())"), "{reply}");
    let reply = exchange(&mut a, "a3 SEARCH UNSEEN\r\n", "a3 ").await;
    assert!(reply.starts_with("* SEARCH 1 2 3\r\n"), "{reply}");
    exchange(&mut b, "b2 STORE 1 +FLAGS.SILENT (\\Seen \\Flagged)\r\n", "b2 ").await;
    let reply = exchange(&mut a, "a4 FETCH 1 FLAGS\r\n", "a4 ").await;
    assert!(reply.starts_with("* 1 FETCH (FLAGS (\\Seen \\Flagged))"), "{reply}");
    let reply = exchange(&mut a, "a5 SEARCH UNSEEN\r\n", "a5 ").await;
    assert!(reply.starts_with("* SEARCH 2 3\r\n"), "{reply}");
    // A body fetch that sets \Seen is seen by the next SEARCH of the same session.
    exchange(&mut a, "a6 FETCH 2 BODY[TEXT]\r\n", "a6 ").await;
    let reply = exchange(&mut a, "a7 SEARCH UNSEEN\r\n", "a7 ").await;
    assert!(reply.starts_with("* SEARCH 3\r\n"), "{reply}");
}
