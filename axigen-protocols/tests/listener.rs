//! Listener tests over real sockets on 127.0.0.1.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axigen_protocols::listener::{ConnInfo, Connection, Listener, ListenerConfig, Service};
use axigen_protocols::tls::{self, ServerConfig, TlsMode};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(5);

/// Greets, then echoes lines. Commands: `QUIT`, `PANIC`, `STARTTLS`.
struct Echo;

#[async_trait]
impl Service for Echo {
    async fn serve(&self, mut conn: Box<dyn Connection>, info: ConnInfo, tls: Option<Arc<ServerConfig>>) {
        let greeting = format!("* OK {} tls={} starttls={}\r\n", info.listener, info.tls, tls.is_some());
        if conn.write_all(greeting.as_bytes()).await.is_err() {
            return;
        }
        let mut reader = BufReader::new(conn);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let reply = match line.trim_end() {
                "QUIT" => {
                    let _ = reader.get_mut().write_all(b"BYE\r\n").await;
                    return;
                }
                "PANIC" => panic!("service panic requested by the test client"),
                "STARTTLS" => {
                    let Some(config) = tls.clone() else {
                        let _ = reader.get_mut().write_all(b"BAD no TLS\r\n").await;
                        continue;
                    };
                    if !reader.buffer().is_empty() {
                        let _ = reader.get_mut().write_all(b"BAD pipelined\r\n").await;
                        return;
                    }
                    let mut plain = reader.into_inner();
                    if plain.write_all(b"OK begin TLS\r\n").await.is_err() {
                        return;
                    }
                    let Ok(encrypted) = tls::starttls(plain, config).await else {
                        return;
                    };
                    reader = BufReader::new(encrypted);
                    "* OK encrypted".to_owned()
                }
                other => other.to_owned(),
            };
            if reader.get_mut().write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn local_config(service: &str) -> ListenerConfig {
    ListenerConfig::new(service, "127.0.0.1:0".parse().unwrap())
}

fn start_with(listener: Listener) -> Running {
    let addr = listener.local_addr();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(listener.run(Arc::new(Echo), stopped));
    Running { addr, stop, task }
}

fn start(config: &ListenerConfig, tls: Option<Arc<ServerConfig>>) -> Running {
    start_with(Listener::bind(config, tls).unwrap())
}

impl Running {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        // Tests close their clients first, so no drain wait is expected.
        timeout(Duration::from_secs(3), self.task).await.expect("run returns after shutdown").unwrap();
    }
}

async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<String> {
    // Byte by byte, so nothing past the line is consumed (STARTTLS).
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = timeout(WAIT, stream.read(&mut byte))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply"))??;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
        if line.ends_with(b"\r\n") {
            line.truncate(line.len() - 2);
            return Ok(String::from_utf8(line).unwrap());
        }
    }
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, line: &str) -> String {
    stream.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
    read_line(stream).await.unwrap()
}

/// Connects and reads the greeting.
async fn connect(addr: SocketAddr) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let greeting = read_line(&mut stream).await.unwrap();
    (stream, greeting)
}

/// Asserts the server closes the connection without sending anything.
async fn assert_closed_silently(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match timeout(WAIT, stream.read(&mut buf)).await {
        Ok(Ok(0)) => {}
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Ok(Ok(n)) => panic!("expected a closed connection, got {:?}", String::from_utf8_lossy(&buf[..n])),
        Ok(Err(e)) => panic!("unexpected error {e}"),
        Err(_) => panic!("connection still open after {WAIT:?}"),
    }
}

/// Connects until a greeting arrives (a slot freed by a closing connection is
/// released asynchronously); at most for `WAIT`.
async fn connect_eventually(addr: SocketAddr) -> (TcpStream, String) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        if let Ok(greeting) = read_line(&mut stream).await {
            return (stream, greeting);
        }
        assert!(tokio::time::Instant::now() < deadline, "no connection accepted within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn dev_tls(dir: &Path) -> (Arc<ServerConfig>, Arc<rustls::ClientConfig>) {
    let (cert, key, generated) = tls::ensure_dev_certificate(dir, &[]).unwrap();
    assert!(generated);
    let server = tls::load_server_config(&cert, &key).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in tls::load_certificates(&cert).unwrap() {
        roots.add(c).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (server, Arc::new(client))
}

#[tokio::test]
async fn greets_and_echoes() {
    let mut config = local_config("imap");
    config.name = Some("imap-test".into());
    let server = start(&config, None);

    let (mut client, greeting) = connect(server.addr).await;
    assert_eq!(greeting, "* OK imap-test tls=false starttls=false");
    assert_eq!(command(&mut client, "hello").await, "hello");
    assert_eq!(command(&mut client, "a second line").await, "a second line");
    assert_eq!(command(&mut client, "QUIT").await, "BYE");
    server.stop().await;
}

#[tokio::test]
async fn denied_peer_is_closed_before_greeting() {
    let mut config = local_config("smtp");
    config.deny = vec!["127.0.0.1/32".parse().unwrap()];
    let server = start(&config, None);
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    assert_closed_silently(&mut client).await;
    server.stop().await;

    // An allow list that does not contain the peer refuses it too.
    let mut config = local_config("smtp");
    config.allow = vec!["10.0.0.0/8".parse().unwrap()];
    let server = start(&config, None);
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    assert_closed_silently(&mut client).await;
    server.stop().await;

    // Deny wins over a matching allow; a non-matching deny does not refuse.
    let mut config = local_config("smtp");
    config.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.deny = vec!["127.0.0.1/32".parse().unwrap()];
    let server = start(&config, None);
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    assert_closed_silently(&mut client).await;
    server.stop().await;

    let mut config = local_config("smtp");
    config.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.deny = vec!["127.0.0.2/32".parse().unwrap()];
    let server = start(&config, None);
    let (client, greeting) = connect(server.addr).await;
    assert!(greeting.starts_with("* OK smtp"), "{greeting}");
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn per_ip_limit() {
    let mut config = local_config("pop3");
    config.max_connections_per_ip = 2;
    let server = start(&config, None);

    let (mut first, _) = connect(server.addr).await;
    let (mut second, _) = connect(server.addr).await;
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    assert_closed_silently(&mut third).await;
    // The first two are still served.
    assert_eq!(command(&mut first, "one").await, "one");
    assert_eq!(command(&mut second, "two").await, "two");

    drop(first);
    let (mut fourth, greeting) = connect_eventually(server.addr).await;
    assert!(greeting.starts_with("* OK pop3"), "{greeting}");
    assert_eq!(command(&mut fourth, "four").await, "four");
    // Back at the limit.
    let mut fifth = TcpStream::connect(server.addr).await.unwrap();
    assert_closed_silently(&mut fifth).await;
    drop((second, fourth));
    server.stop().await;
}

#[tokio::test]
async fn max_connections_limit() {
    let mut config = local_config("http");
    config.max_connections = 1;
    let server = start(&config, None);

    let (mut first, _) = connect(server.addr).await;
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    assert_closed_silently(&mut second).await;
    assert_eq!(command(&mut first, "QUIT").await, "BYE");
    drop(first);
    let (third, greeting) = connect_eventually(server.addr).await;
    assert!(greeting.starts_with("* OK http"), "{greeting}");
    drop(third);
    server.stop().await;
}

#[tokio::test]
async fn service_panic_releases_slots_and_listener_survives() {
    let mut config = local_config("imap");
    config.max_connections_per_ip = 1;
    config.max_connections = 1;
    let server = start(&config, None);

    let (mut client, _) = connect(server.addr).await;
    client.write_all(b"PANIC\r\n").await.unwrap();
    assert_closed_silently(&mut client).await;

    let (mut again, greeting) = connect_eventually(server.addr).await;
    assert!(greeting.starts_with("* OK imap"), "{greeting}");
    assert_eq!(command(&mut again, "still here").await, "still here");
    assert!(!server.task.is_finished());
    drop(again);
    server.stop().await;
}

#[tokio::test]
async fn implicit_tls_with_dev_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (server_tls, client_tls) = dev_tls(dir.path());
    let mut config = local_config("imap");
    config.name = Some("imaps".into());
    config.tls = TlsMode::Implicit;
    let server = start(&config, Some(server_tls));
    let connector = TlsConnector::from(client_tls);

    for name in ["localhost", "127.0.0.1"] {
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let server_name = ServerName::try_from(name.to_owned()).unwrap();
        let mut client = timeout(WAIT, connector.connect(server_name, tcp)).await.unwrap().unwrap();
        let greeting = read_line(&mut client).await.unwrap();
        assert_eq!(greeting, "* OK imaps tls=true starttls=false");
        assert_eq!(command(&mut client, "secret").await, "secret");
    }

    // A name the certificate does not cover fails verification.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let wrong = ServerName::try_from("mail.example.org").unwrap();
    assert!(timeout(WAIT, connector.connect(wrong, tcp)).await.unwrap().is_err());

    // A plaintext client gets no greeting.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain.write_all(b"hello\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = timeout(WAIT, plain.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert!(!String::from_utf8_lossy(&buf[..n]).contains("* OK"));
    server.stop().await;
}

#[tokio::test]
async fn implicit_tls_handshake_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let (server_tls, client_tls) = dev_tls(dir.path());
    let mut config = local_config("pop3");
    config.tls = TlsMode::Implicit;
    config.max_connections_per_ip = 1;
    let listener =
        Listener::bind(&config, Some(server_tls)).unwrap().with_handshake_timeout(Duration::from_millis(200));
    let server = start_with(listener);

    // A silent client is dropped after the handshake timeout...
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert_closed_silently(&mut silent).await;
    // ... and its per-IP slot (limit 1) is released.
    let connector = TlsConnector::from(client_tls);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        if let Ok(Ok(mut client)) = timeout(WAIT, connector.connect(name, tcp)).await {
            assert_eq!(read_line(&mut client).await.unwrap(), "* OK pop3 tls=true starttls=false");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn starttls_upgrade_inside_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let (server_tls, client_tls) = dev_tls(dir.path());
    let mut config = local_config("smtp");
    config.tls = TlsMode::StartTls;
    let server = start(&config, Some(server_tls));

    let (mut tcp, greeting) = connect(server.addr).await;
    assert_eq!(greeting, "* OK smtp tls=false starttls=true");
    assert_eq!(command(&mut tcp, "plain").await, "plain");
    assert_eq!(command(&mut tcp, "STARTTLS").await, "OK begin TLS");
    let mut client =
        timeout(WAIT, TlsConnector::from(client_tls).connect(ServerName::try_from("localhost").unwrap(), tcp))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(read_line(&mut client).await.unwrap(), "* OK encrypted");
    assert_eq!(command(&mut client, "over tls").await, "over tls");
    assert_eq!(command(&mut client, "QUIT").await, "BYE");
    server.stop().await;

    // A plain listener offers no STARTTLS.
    let server = start(&local_config("smtp"), None);
    let (mut tcp, greeting) = connect(server.addr).await;
    assert_eq!(greeting, "* OK smtp tls=false starttls=false");
    assert_eq!(command(&mut tcp, "STARTTLS").await, "BAD no TLS");
    drop(tcp);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_waits_for_connections() {
    let server = start(&local_config("imap"), None);
    let addr = server.addr;
    let (mut client, _) = connect(addr).await;

    server.stop.send(true).unwrap();
    // New connections are refused once the listening socket is closed.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => break,
            // Connected while the listening socket was being closed.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("unexpected connect error {e}"),
            Ok(mut late) => {
                // Accepted by the kernel before the socket closed: never served.
                assert_closed_silently(&mut late).await;
            }
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // `run` waits for the open connection, which is still served.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!server.task.is_finished());
    assert_eq!(command(&mut client, "draining").await, "draining");
    assert_eq!(command(&mut client, "QUIT").await, "BYE");
    timeout(WAIT, server.task).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_aborts_connections_after_drain_timeout() {
    let listener = Listener::bind(&local_config("imap"), None).unwrap().with_drain_timeout(Duration::from_millis(200));
    let server = start_with(listener);
    let (mut client, _) = connect(server.addr).await;
    server.stop.send(true).unwrap();
    timeout(WAIT, server.task).await.unwrap().unwrap();
    assert_closed_silently(&mut client).await;
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn dropped_shutdown_sender_stops_the_listener() {
    let listener = Listener::bind(&local_config("imap"), None).unwrap();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(listener.run(Arc::new(Echo), stopped));
    drop(stop);
    timeout(WAIT, task).await.unwrap().unwrap();
}
