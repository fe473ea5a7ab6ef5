//! The IMAP limits of issue #4 over a real loopback socket and a real
//! RocksDB store: logins per account (spoken to by Python's imaplib and by
//! raw TCP) and the command rate (raw TCP, where the pacing is measured).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axigen_core::directory::DirectoryAdmin;
use axigen_core::model::{AccountId, Address, Domain, DomainName, NewAccount};
use axigen_core::settings::Overrides;
use axigen_protocols::imap::limits::AccountConnections;
use axigen_protocols::imap::{ImapConfig, ImapService};
use axigen_protocols::listener::{Listener, ListenerConfig};
use axigen_store::{Store, StoreOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;

const USER: &str = "alice@example.com";
const PASSWORD: &str = "secret";
const WAIT: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    account: AccountId,
    accounts: Arc<AccountConnections>,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// A server with one account, whose listener allows far more connections
/// per address than the tests open, so that only the IMAP limits apply.
async fn start(adjust: impl FnOnce(&mut ImapConfig)) -> Server {
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
            settings: Overrides::default(),
        })
        .await
        .unwrap();
    let mut config = ImapConfig::new("imap.example.com");
    config.allow_plaintext_login = true;
    adjust(&mut config);
    let accounts = Arc::new(AccountConnections::new());
    let service = ImapService::new(config, store.clone(), store.clone(), store.notifier().clone())
        .with_account_connections(accounts.clone());
    let listener = Listener::bind(&ListenerConfig::new("imap", "127.0.0.1:0".parse().unwrap()), None).unwrap();
    let addr = listener.local_addr();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(listener.run(Arc::new(service), stopped));
    Server { addr, account: account.id, accounts, _stop: stop, _dir: dir }
}

async fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let mut stream = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let mut greeting = String::new();
    timeout(WAIT, stream.read_line(&mut greeting)).await.unwrap().unwrap();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    stream
}

/// Sends `send`, returns everything up to the line starting with `until`.
async fn exchange(stream: &mut BufReader<TcpStream>, send: &str, until: &str) -> String {
    stream.get_mut().write_all(send.as_bytes()).await.unwrap();
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = timeout(WAIT, stream.read_line(&mut line)).await.expect("no answer").unwrap();
        assert!(n > 0, "connection closed; got {all}");
        all.push_str(&line);
        if line.starts_with(until) {
            return all;
        }
    }
}

/// Waits until `account` has `count` sessions logged in.
async fn wait_for_open(server: &Server, count: u32) {
    for _ in 0..200 {
        if server.accounts.open(server.account) == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("account has {} sessions, expected {count}", server.accounts.open(server.account));
}

const IMAPLIB_LOGINS: &str = r#"
import base64, imaplib, sys, time
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def why(e):
    text = e.args[0] if e.args else ""
    return text.decode() if isinstance(text, bytes) else str(text)
first = imaplib.IMAP4(host, port)
print("first:", first.login(user, password)[0])
second = imaplib.IMAP4(host, port)
print("second:", second.login(user, password)[0])
third = imaplib.IMAP4(host, port)
try:
    third.login(user, password)
    print("third: accepted")
except imaplib.IMAP4.error as e:
    print("third: refused", why(e))
# AUTHENTICATE PLAIN with the initial response (RFC 4959 SASL-IR).
plain = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
typ, data = third._simple_command("AUTHENTICATE", "PLAIN", plain)
print("third authenticate:", "accepted" if typ == "OK" else "refused " + data[-1].decode())
print("third noop:", third.noop()[0])
print("first logout:", first.logout()[0])
for attempt in range(100):
    try:
        third.login(user, password)
        print("third after logout: OK")
        break
    except imaplib.IMAP4.error as e:
        time.sleep(0.05)
else:
    print("third after logout: still refused")
print("third select:", third.select("INBOX")[0])
second.logout()
third.logout()
print("imaplib done")
"#;

/// (a) With two sessions per account, imaplib's third login (LOGIN, then
/// AUTHENTICATE PLAIN) is refused with LIMIT; once one logs out, it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_per_account_with_imaplib() {
    let server = start(|c| c.max_connections_per_account = 2).await;
    let output = timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .arg("-c")
            .arg(IMAPLIB_LOGINS)
            .arg(server.addr.ip().to_string())
            .arg(server.addr.port().to_string())
            .arg(USER)
            .arg(PASSWORD)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("client timed out")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "client failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for expected in [
        "first: OK",
        "second: OK",
        "third: refused [LIMIT] too many connections for this account",
        "third authenticate: refused [LIMIT] too many connections for this account",
        "third noop: OK",
        "first logout: BYE",
        "third after logout: OK",
        "third select: OK",
        "imaplib done",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    wait_for_open(&server, 0).await;
}

/// The exact refusal on the wire, the state it leaves, and slots released
/// by connections that just go away.
#[tokio::test]
async fn refused_login_stays_unauthenticated_and_dropped_connections_release() {
    let server = start(|c| c.max_connections_per_account = 2).await;
    let login = format!("l1 LOGIN {USER} {PASSWORD}\r\n");
    let mut a = connect(server.addr).await;
    exchange(&mut a, &login, "l1 OK").await;
    let mut b = connect(server.addr).await;
    exchange(&mut b, &login, "l1 OK").await;
    assert_eq!(server.accounts.open(server.account), 2);

    let mut c = connect(server.addr).await;
    let reply = exchange(&mut c, &login, "l1 ").await;
    assert_eq!(reply, "l1 NO [LIMIT] too many connections for this account\r\n");
    let reply = exchange(&mut c, "s1 SELECT INBOX\r\n", "s1 ").await;
    assert!(reply.starts_with("s1 BAD"), "the refused session is not logged in: {reply}");
    // AUTHENTICATE, answered on a continuation line, is refused alike.
    exchange(&mut c, "a1 AUTHENTICATE PLAIN\r\n", "+").await;
    // base64("\0alice@example.com\0secret")
    let reply = exchange(&mut c, "AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n", "a1 ").await;
    assert_eq!(reply, "a1 NO [LIMIT] too many connections for this account\r\n");
    assert_eq!(server.accounts.open(server.account), 2, "the refusals took no slot");

    // A wrong password says nothing about the limit.
    let reply = exchange(&mut c, &format!("l2 LOGIN {USER} wrong\r\n"), "l2 ").await;
    assert!(reply.starts_with("l2 NO [AUTHENTICATIONFAILED]"), "{reply}");

    // A client that vanishes without LOGOUT, or that is dropped while
    // selected, gives its slot back.
    drop(a);
    wait_for_open(&server, 1).await;
    exchange(&mut b, "s2 SELECT INBOX\r\n", "s2 OK").await;
    drop(b);
    wait_for_open(&server, 0).await;
    let reply = exchange(&mut c, &login.replace("l1", "l3"), "l3 ").await;
    assert!(reply.starts_with("l3 OK"), "{reply}");
    assert_eq!(server.accounts.open(server.account), 1);
}

/// Reads tagged lines until `count` replies with tags `n0..` arrived;
/// checks each is OK and in order.
async fn read_tagged_oks(stream: &mut BufReader<TcpStream>, count: usize) {
    for i in 0..count {
        let mut line = String::new();
        let n = timeout(WAIT, stream.read_line(&mut line)).await.expect("no answer").unwrap();
        assert!(n > 0, "connection closed after {i} replies");
        assert!(line.starts_with(&format!("n{i} OK")), "reply {i}: {line}");
    }
}

/// (b) 600 pipelined NOOPs against 100 a second (a burst of 400) take at
/// least the 2 s the bucket implies, and every one is answered OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_are_paced_not_refused() {
    let server = start(|c| c.max_commands_per_second = 100).await;
    let mut stream = connect(server.addr).await;
    let commands: String = (0..600).map(|i| format!("n{i} NOOP\r\n")).collect();
    let started = Instant::now();
    stream.get_mut().write_all(commands.as_bytes()).await.unwrap();
    read_tagged_oks(&mut stream, 600).await;
    let elapsed = started.elapsed();
    // (600 - 400) / 100 = 2 s; the margin allows for the first answers
    // being read while tokens were already refilling.
    assert!(elapsed >= Duration::from_millis(1800), "600 NOOPs took only {elapsed:?}");
    let reply = exchange(&mut stream, "z LOGOUT\r\n", "z ").await;
    assert!(reply.starts_with("* BYE"), "{reply}");
}

/// (c) A client that keeps flooding past the cut-off gets `* BYE` and is
/// disconnected; another client of the same account is served meanwhile
/// and afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_cut_off_and_others_keep_working() {
    let server = start(|c| {
        c.max_commands_per_second = 100;
        c.command_flood_cutoff = Duration::from_secs(1);
    })
    .await;
    let login = format!("l1 LOGIN {USER} {PASSWORD}\r\n");
    let mut polite = connect(server.addr).await;
    exchange(&mut polite, &login, "l1 OK").await;
    let mut flood = connect(server.addr).await;
    exchange(&mut flood, &login, "l1 OK").await;
    wait_for_open(&server, 2).await;

    let (mut from_flood, mut to_flood) = flood.into_inner().into_split();
    // Far more than the burst and a second's worth; the writer blocks once
    // the server stops reading, and fails once it has closed.
    let writer = tokio::spawn(async move {
        let chunk: String = (0..100).map(|i| format!("f{i} NOOP\r\n")).collect();
        for _ in 0..200 {
            if to_flood.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    });

    // Meanwhile the polite client's commands are answered promptly.
    exchange(&mut polite, "s1 SELECT INBOX\r\n", "s1 OK").await;
    for i in 0..5 {
        let started = Instant::now();
        exchange(&mut polite, &format!("p{i} NOOP\r\n"), &format!("p{i} OK")).await;
        assert!(started.elapsed() < Duration::from_secs(2), "NOOP took {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The flooder gets its burst and about a second at the rate, then BYE.
    let mut received = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from_flood.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    timeout(WAIT, read_all).await.expect("the flooding connection was not closed");
    let text = String::from_utf8_lossy(&received);
    assert!(text.ends_with("* BYE too many commands\r\n"), "{}", &text[text.len().saturating_sub(200)..]);
    let answered = text.matches(" OK NOOP completed").count();
    assert!((400..=1000).contains(&answered), "{answered} NOOPs answered before the cut-off");
    timeout(WAIT, writer).await.expect("the flooder's writer still blocked").unwrap();

    // Its slot is free again; the polite client still works.
    wait_for_open(&server, 1).await;
    let reply = exchange(&mut polite, "p9 STATUS INBOX (MESSAGES)\r\n", "p9 ").await;
    assert!(reply.contains("p9 OK"), "{reply}");
    let reply = exchange(&mut polite, "z LOGOUT\r\n", "z ").await;
    assert!(reply.starts_with("* BYE logging out"), "{reply}");
}

/// The AUTHENTICATE response lines and IDLE's DONE are not commands: with
/// one command a second and four saved up, four commands and the four lines
/// that answer them run at once, and only the commands after them wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuation_lines_are_not_counted() {
    let server = start(|c| c.max_commands_per_second = 1).await;
    let mut stream = connect(server.addr).await;
    let started = Instant::now();
    exchange(&mut stream, "a1 AUTHENTICATE PLAIN\r\n", "+ ").await;
    let reply = exchange(&mut stream, "*\r\n", "a1 ").await;
    assert!(reply.starts_with("a1 BAD"), "cancelled: {reply}");
    exchange(&mut stream, "a2 AUTHENTICATE PLAIN\r\n", "+ ").await;
    // base64("\0alice@example.com\0secret")
    exchange(&mut stream, "AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n", "a2 OK").await;
    for tag in ["a3", "a4"] {
        exchange(&mut stream, &format!("{tag} IDLE\r\n"), "+ ").await;
        exchange(&mut stream, "DONE\r\n", &format!("{tag} OK")).await;
    }
    let unpaced = started.elapsed();
    // Were the four lines counted, four of the eight would wait a second each.
    assert!(unpaced < Duration::from_millis(1500), "four commands were delayed: {unpaced:?}");
    // The bucket is empty now: six commands at one a second with four saved
    // up take two seconds in all, so the limit is really in force.
    exchange(&mut stream, "a5 NOOP\r\na6 NOOP\r\n", "a6 OK").await;
    let total = started.elapsed();
    assert!(total >= Duration::from_millis(1800), "six commands took only {total:?}");
}
