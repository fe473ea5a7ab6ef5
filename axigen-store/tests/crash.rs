//! Crash test: a child process appends messages from several concurrent
//! writers and prints the id of each message whose append was acknowledged;
//! the parent kills it with SIGKILL at a random moment, reopens the store and
//! requires every acknowledged message to be there, intact, and the store to
//! be consistent. Several rounds on the same store.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axigen_core::directory::Directory;
use axigen_core::mailstore::{Flags, MailStore, NewMessage, QuotaLimit};
use axigen_core::model::Address;

const ENV_DIR: &str = "AXIGEN_CRASH_DIR";
const ENV_ROUND: &str = "AXIGEN_CRASH_ROUND";

fn body(id: &str) -> bytes::Bytes {
    bytes::Bytes::from(format!(
        "From: load@example.org\r\nTo: crash@example.com\r\nSubject: {id}\r\nX-Id: {id}\r\n\r\n{id}\r\n{}\r\n",
        "payload line\r\n".repeat(20)
    ))
}

/// The child: appends until killed. Run only by `crash_test` below.
#[test]
#[ignore = "child process of crash_test; does nothing on its own"]
fn crash_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else { return };
    let round = std::env::var(ENV_ROUND).unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let store = std::sync::Arc::new(common::open(std::path::Path::new(&dir)));
        let account = store
            .account_by_address(&Address::parse("crash@example.com").unwrap())
            .await
            .unwrap()
            .expect("the parent created the account");
        let inbox = store.folder_by_name(account.id, "INBOX").await.unwrap().unwrap();
        let writers: Vec<_> = (0..16)
            .map(|w| {
                let store = store.clone();
                let round = round.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        let id = format!("r{round}-w{w}-n{n}");
                        let msg = NewMessage {
                            flags: Flags::empty(),
                            keywords: vec![],
                            internal_date: 0,
                            content: body(&id),
                        };
                        store.append(account.id, inbox.id, msg, QuotaLimit::default()).await.unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {id}").unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
    });
}

fn pseudo_random(seed: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    let mut x = nanos ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

#[test]
fn crash_test() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = common::open(dir.path());
        common::domain(&store, "example.com").await;
        common::account(&store, "crash@example.com").await;
    });

    let mut acked: HashSet<String> = HashSet::new();
    for round in 0..5u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(ENV_DIR, dir.path())
            .env(ENV_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("ACK ") {
                    let _ = tx.send(id.to_owned());
                }
            }
        });
        // Wait until the child is appending (its first acknowledgement), then
        // kill it at a random moment while acknowledgements keep coming.
        let mut ids = vec![rx.recv_timeout(Duration::from_secs(60)).expect("the child acknowledged nothing")];
        let delay = Duration::from_millis(pseudo_random(round) % 800);
        let start = Instant::now();
        while start.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        ids.extend(rx.try_iter());
        acked.extend(ids);

        let found = rt.block_on(async {
            let store = common::open(dir.path());
            let report = store.check(true).unwrap();
            assert!(report.is_clean(), "round {round}: {:#?}", report.findings);
            let account =
                store.account_by_address(&Address::parse("crash@example.com").unwrap()).await.unwrap().unwrap();
            let inbox = store.folder_by_name(account.id, "INBOX").await.unwrap().unwrap();
            let mut found = HashSet::new();
            for m in store.messages(account.id, inbox.id).await.unwrap() {
                let content = store.content(m.blob).await.unwrap();
                let text = String::from_utf8(content.to_vec()).unwrap();
                let id = text.lines().find_map(|l| l.strip_prefix("X-Id: ")).unwrap().to_owned();
                assert_eq!(content, body(&id), "message {id} intact");
                found.insert(id);
            }
            found
        });
        let lost: Vec<_> = acked.difference(&found).collect();
        assert!(lost.is_empty(), "round {round}: acknowledged but lost: {lost:?}");
        eprintln!("round {round}: {} acknowledged so far, {} stored", acked.len(), found.len());
    }
    assert!(acked.len() > 50, "too few appends to mean anything: {}", acked.len());
}
