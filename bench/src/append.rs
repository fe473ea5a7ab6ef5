//! Durable appends per second at 1, 8 and 64 concurrent writers, next to the
//! disk's raw fsync rate measured in the same run.
//!
//! ```text
//! cargo run --release -p axigen-bench --bin append-bench -- [DIR] [SECONDS]
//! ```
//!
//! DIR (default: a temporary directory under the current directory, so that
//! it is on the same disk as a `./data` store) holds the scratch store.
//! Every append is acknowledged only once synced; the ratio to the raw rate
//! shows what group commit buys.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axigen_core::directory::DirectoryAdmin;
use axigen_core::mailstore::{Flags, MailStore, NewMessage, QuotaLimit};
use axigen_core::model::{Address, Domain, DomainName, NewAccount};
use axigen_core::settings::Overrides;
use axigen_store::{Store, StoreOptions};

/// Single writer: write 4 KiB, fdatasync, repeat.
fn raw_fsync_rate(dir: &std::path::Path, secs: f64) -> f64 {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&path).unwrap();
    let block = vec![0x5au8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        f.write_all(&block).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(path);
    rate
}

fn message(i: u64) -> bytes::Bytes {
    bytes::Bytes::from(format!(
        "From: bench@example.org\r\nTo: user@example.com\r\nSubject: bench {i}\r\nMessage-ID: <{i}@bench>\r\n\r\n{}\r\n",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".repeat(60)
    ))
}

async fn durable_rate(
    store: Arc<Store>,
    writers: usize,
    secs: f64,
    accounts: &[(axigen_core::model::AccountId, axigen_core::mailstore::FolderId)],
) -> f64 {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, done, count, seq) = (store.clone(), done.clone(), count.clone(), seq.clone());
        let (account, folder) = accounts[w % accounts.len()];
        tasks.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let i = seq.fetch_add(1, Ordering::Relaxed);
                let msg = NewMessage { flags: Flags::empty(), keywords: vec![], internal_date: 0, content: message(i) };
                store.append(account, folder, msg, QuotaLimit::default()).await.unwrap();
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scratch = match args.get(1) {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir_in(".").unwrap(),
    };
    let secs: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let raw = raw_fsync_rate(scratch.path(), secs);
        let store = Arc::new(Store::open(scratch.path().join("store"), StoreOptions::default()).unwrap());
        store
            .put_domain(Domain {
                name: DomainName::new("example.com").unwrap(),
                settings: Overrides::default(),
                postmaster: None,
            })
            .await
            .unwrap();
        // Writers spread over 16 mailboxes, as concurrent SMTP deliveries are.
        let mut accounts = Vec::new();
        for i in 0..16 {
            let a = store
                .create_account(NewAccount {
                    address: Address::parse(&format!("user{i}@example.com")).unwrap(),
                    class: None,
                    display_name: String::new(),
                    password: "x".into(),
                    settings: Overrides::default(),
                })
                .await
                .unwrap();
            let inbox = store.folder_by_name(a.id, "INBOX").await.unwrap().unwrap();
            accounts.push((a.id, inbox.id));
        }
        println!("disk: raw single-writer 4 KiB write+fdatasync: {raw:>9.0} /s");
        println!("{:>8} {:>16} {:>12}", "writers", "durable appends/s", "x raw fsync");
        for writers in [1usize, 8, 64] {
            let rate = durable_rate(store.clone(), writers, secs, &accounts).await;
            println!("{writers:>8} {rate:>16.0} {:>12.2}", rate / raw);
        }
        let report = store.check(false).unwrap();
        assert!(report.is_clean(), "store inconsistent after the benchmark: {:?}", report.findings);
    });
}
