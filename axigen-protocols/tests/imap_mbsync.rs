//! Two-way synchronisation with a real client: isync's `mbsync` against the
//! IMAP service (STARTTLS, the dev certificate) over a real RocksDB store,
//! mirrored to a local Maildir. Skipped (with a message) when `mbsync` is not
//! installed (`apt-get install isync`), except in CI (`CI` set), where
//! `.ci/run` installs it and its absence is a failure.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axigen_core::directory::DirectoryAdmin;
use axigen_core::mailstore::{FlagChange, FlagOp, Flags, FolderKind, MailStore, NewMessage, QuotaLimit};
use axigen_core::model::{Account, Address, Domain, DomainName, NewAccount};
use axigen_core::settings::Overrides;
use axigen_protocols::imap::{ImapConfig, ImapService};
use axigen_protocols::listener::{Listener, ListenerConfig};
use axigen_protocols::tls::{self, TlsMode};
use axigen_store::{Store, StoreOptions};
use tokio::sync::watch;
use tokio::time::timeout;

const USER: &str = "alice@example.com";
const PASSWORD: &str = "secret";

struct Server {
    addr: SocketAddr,
    cert: PathBuf,
    store: Arc<Store>,
    account: Account,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

fn message(n: usize, subject: &str) -> String {
    format!(
        "From: Bob <bob@example.net>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Date: Mon, 7 Feb 2022 21:52:25 +0000\r\nMessage-ID: <{n}.{subject}@example.net>\r\n\r\n\
         Body of message {n} ({subject}).\r\n"
    )
}

/// The server folders and the subjects of the messages created in each.
const FOLDERS: [(&str, usize); 3] = [("INBOX", 4), ("Work", 3), ("Work/Projects", 2)];

async fn start() -> Server {
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
    let mut n = 0;
    for (name, count) in FOLDERS {
        let folder = match store.folder_by_name(account.id, name).await.unwrap() {
            Some(folder) => folder,
            None => store.create_folder(account.id, name, FolderKind::Mail, None).await.unwrap(),
        };
        for _ in 0..count {
            n += 1;
            let message = NewMessage {
                flags: if n % 2 == 0 { Flags::SEEN } else { Flags::empty() },
                keywords: vec![],
                internal_date: 1_700_000_000 + n as i64,
                content: bytes::Bytes::from(message(n, &format!("server-{n}"))),
            };
            store.append(account.id, folder.id, message, QuotaLimit::default()).await.unwrap();
        }
    }
    let service =
        ImapService::new(ImapConfig::new("imap.example.com"), store.clone(), store.clone(), store.notifier().clone());
    let (cert, key, _) = tls::ensure_dev_certificate(&dir.path().join("tls"), &[]).unwrap();
    let tls_config = tls::load_server_config(&cert, &key).unwrap();
    let mut listener_config = ListenerConfig::new("imap", "127.0.0.1:0".parse().unwrap());
    listener_config.tls = TlsMode::StartTls;
    let listener = Listener::bind(&listener_config, Some(tls_config)).unwrap();
    let addr = listener.local_addr();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(listener.run(Arc::new(service), stopped));
    Server { addr, cert, store, account, _stop: stop, _dir: dir }
}

fn mbsync_installed() -> bool {
    std::process::Command::new("mbsync").arg("-v").output().is_ok_and(|o| o.status.success())
}

/// isync 1.4 spells the TLS option `SSLType`, 1.5 `TLSType` (accepting the old name).
fn write_config(dir: &Path, server: &Server, maildir: &Path) -> PathBuf {
    let config = format!(
        "IMAPAccount axigen\n\
         Host 127.0.0.1\n\
         Port {port}\n\
         User {USER}\n\
         Pass {PASSWORD}\n\
         SSLType STARTTLS\n\
         CertificateFile {cert}\n\
         \n\
         IMAPStore remote\n\
         Account axigen\n\
         \n\
         MaildirStore local\n\
         Path {maildir}/\n\
         Inbox {maildir}/INBOX\n\
         SubFolders Verbatim\n\
         \n\
         Channel axigen\n\
         Far :remote:\n\
         Near :local:\n\
         Patterns *\n\
         Sync All\n\
         Create Both\n\
         Expunge Both\n\
         SyncState *\n",
        port = server.addr.port(),
        cert = server.cert.display(),
        maildir = maildir.display(),
    );
    let path = dir.join("mbsyncrc");
    std::fs::write(&path, config).unwrap();
    path
}

async fn mbsync(config: &Path) -> String {
    let output = timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("mbsync").arg("-V").arg("-c").arg(config).arg("-a").kill_on_drop(true).output(),
    )
    .await
    .expect("mbsync timed out")
    .unwrap();
    let transcript =
        format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "mbsync failed ({}):\n{transcript}", output.status);
    transcript
}

/// A local message: its file and its Maildir flags (the letters after `:2,`).
#[derive(Debug, Clone)]
struct Local {
    path: PathBuf,
    flags: String,
}

/// The messages of a Maildir folder (`cur` and `new`).
fn local_messages(folder: &Path) -> Vec<Local> {
    let mut all = Vec::new();
    for sub in ["cur", "new"] {
        let Ok(entries) = std::fs::read_dir(folder.join(sub)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let flags = name.split_once(":2,").map(|(_, f)| f.to_owned()).unwrap_or_default();
            all.push(Local { path, flags });
        }
    }
    all.sort_by(|a, b| a.path.cmp(&b.path));
    all
}

fn local_folder(maildir: &Path, name: &str) -> PathBuf {
    maildir.join(name)
}

/// A message as both sides should agree on it: mbsync stores LF line ends
/// locally and adds an `X-TUID` header to messages it transfers.
fn normalized(content: &[u8]) -> String {
    String::from_utf8_lossy(content)
        .replace("\r\n", "\n")
        .lines()
        .filter(|l| !l.starts_with("X-TUID: "))
        .map(|l| format!("{l}\r\n"))
        .collect()
}

/// Subject header value of a message.
fn subject(content: &[u8]) -> String {
    let text = String::from_utf8_lossy(content);
    text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().trim().to_owned()
}

/// The server side of a folder: subject -> (flags, content).
async fn server_folder(server: &Server, name: &str) -> BTreeMap<String, (Flags, Vec<u8>)> {
    let folder = server.store.folder_by_name(server.account.id, name).await.unwrap().expect(name);
    let mut all = BTreeMap::new();
    for meta in server.store.messages(server.account.id, folder.id).await.unwrap() {
        let content = server.store.content(meta.blob).await.unwrap().to_vec();
        let previous = all.insert(subject(&content), (meta.flags, content));
        assert!(previous.is_none(), "duplicate message on the server in {name}");
    }
    all
}

/// The local side of a folder: subject -> (maildir flags, content).
fn local_folder_map(maildir: &Path, name: &str) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut all = BTreeMap::new();
    for local in local_messages(&local_folder(maildir, name)) {
        let content = std::fs::read(&local.path).unwrap();
        let previous = all.insert(subject(&content), (local.flags, content));
        assert!(previous.is_none(), "duplicate local message in {name}");
    }
    all
}

/// Both sides hold the same messages with the same content and the same
/// \Seen and \Flagged state.
async fn assert_in_sync(server: &Server, maildir: &Path, transcript: &str) {
    for (name, _) in FOLDERS {
        let remote = server_folder(server, name).await;
        let local = local_folder_map(maildir, name);
        assert_eq!(
            remote.keys().collect::<Vec<_>>(),
            local.keys().collect::<Vec<_>>(),
            "{name}: server and Maildir differ\n{transcript}"
        );
        for (subject, (flags, content)) in &remote {
            let (local_flags, local_content) = &local[subject];
            assert_eq!(normalized(content), normalized(local_content), "{name}/{subject}: content differs");
            assert_eq!(
                flags.contains(Flags::SEEN),
                local_flags.contains('S'),
                "{name}/{subject}: \\Seen {local_flags}"
            );
            assert_eq!(
                flags.contains(Flags::FLAGGED),
                local_flags.contains('F'),
                "{name}/{subject}: \\Flagged {local_flags}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_two_way_sync() {
    if !mbsync_installed() {
        assert!(std::env::var_os("CI").is_none(), "mbsync is not installed; .ci/run must install isync");
        eprintln!("mbsync not installed (apt-get install isync): skipping");
        return;
    }
    let server = start().await;
    let work = tempfile::tempdir().unwrap();
    let maildir = work.path().join("mail");
    std::fs::create_dir_all(&maildir).unwrap();
    let config = write_config(work.path(), &server, &maildir);

    // (a) Everything is pulled.
    let transcript = mbsync(&config).await;
    for (name, count) in FOLDERS {
        assert_eq!(local_messages(&local_folder(&maildir, name)).len(), count, "{name}\n{transcript}");
    }
    assert_in_sync(&server, &maildir, &transcript).await;

    // (b) Local changes: a new message in Work, \Flagged on one INBOX
    // message, one Work/Projects message deleted.
    let added = message(100, "local-new");
    let new_path = local_folder(&maildir, "Work").join("new").join("1700000000.local1.testhost");
    std::fs::write(&new_path, &added).unwrap();
    let inbox = local_messages(&local_folder(&maildir, "INBOX"));
    let to_flag = &inbox[0];
    let flag_subject = subject(&std::fs::read(&to_flag.path).unwrap());
    let base = to_flag.path.to_string_lossy().split_once(":2,").unwrap().0.to_owned();
    let mut letters: Vec<char> = format!("{}F", to_flag.flags).chars().collect();
    letters.sort_unstable();
    std::fs::rename(&to_flag.path, format!("{base}:2,{}", letters.into_iter().collect::<String>())).unwrap();
    let projects = local_messages(&local_folder(&maildir, "Work/Projects"));
    let deleted_subject = subject(&std::fs::read(&projects[0].path).unwrap());
    std::fs::remove_file(&projects[0].path).unwrap();

    let transcript = mbsync(&config).await;
    let work_remote = server_folder(&server, "Work").await;
    assert_eq!(work_remote.len(), 4, "{transcript}");
    assert_eq!(normalized(&work_remote["local-new"].1), added, "uploaded content differs");
    let inbox_remote = server_folder(&server, "INBOX").await;
    assert_eq!(inbox_remote.len(), 4);
    assert!(inbox_remote[&flag_subject].0.contains(Flags::FLAGGED), "\\Flagged not propagated\n{transcript}");
    let projects_remote = server_folder(&server, "Work/Projects").await;
    assert_eq!(projects_remote.len(), 1, "deletion not propagated (Expunge Both)\n{transcript}");
    assert!(!projects_remote.contains_key(&deleted_subject));
    assert_in_sync(&server, &maildir, &transcript).await;

    // (c) Server changes: a new message in Work/Projects, \Seen on an unseen
    // INBOX message.
    let projects = server.store.folder_by_name(server.account.id, "Work/Projects").await.unwrap().unwrap();
    let appended = message(200, "server-new");
    server
        .store
        .append(
            server.account.id,
            projects.id,
            NewMessage {
                flags: Flags::empty(),
                keywords: vec![],
                internal_date: 1_700_000_200,
                content: bytes::Bytes::from(appended.clone()),
            },
            QuotaLimit::default(),
        )
        .await
        .unwrap();
    let inbox_folder = server.store.folder_by_name(server.account.id, "INBOX").await.unwrap().unwrap();
    let unseen = server
        .store
        .messages(server.account.id, inbox_folder.id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| !m.flags.contains(Flags::SEEN))
        .unwrap();
    let unseen_subject = subject(&server.store.content(unseen.blob).await.unwrap());
    let change = FlagChange { op: FlagOp::Add, flags: Flags::SEEN, keywords: vec![], unchanged_since: None };
    server.store.change_flags(server.account.id, inbox_folder.id, &[unseen.uid], &change).await.unwrap();

    let transcript = mbsync(&config).await;
    let projects_local = local_folder_map(&maildir, "Work/Projects");
    assert_eq!(projects_local.len(), 2, "{transcript}");
    assert_eq!(normalized(&projects_local["server-new"].1), appended);
    let inbox_local = local_folder_map(&maildir, "INBOX");
    assert!(inbox_local[&unseen_subject].0.contains('S'), "\\Seen not pulled\n{transcript}");
    assert_in_sync(&server, &maildir, &transcript).await;

    // A further run changes nothing.
    let transcript = mbsync(&config).await;
    assert_in_sync(&server, &maildir, &transcript).await;
    for (name, count) in [("INBOX", 4), ("Work", 4), ("Work/Projects", 2)] {
        assert_eq!(local_messages(&local_folder(&maildir, name)).len(), count, "{name}\n{transcript}");
        assert_eq!(server_folder(&server, name).await.len(), count, "{name}");
    }
}
