#![allow(dead_code)]

use axigen_core::directory::DirectoryAdmin;
use axigen_core::model::{Address, Domain, DomainName, NewAccount};
use axigen_core::settings::Overrides;
use axigen_store::{Store, StoreOptions};

pub fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreOptions::default()).expect("open store")
}

pub async fn domain(store: &Store, name: &str) {
    store
        .put_domain(Domain { name: DomainName::new(name).unwrap(), settings: Overrides::default(), postmaster: None })
        .await
        .unwrap();
}

pub async fn account(store: &Store, address: &str) -> axigen_core::model::Account {
    store
        .create_account(NewAccount {
            address: Address::parse(address).unwrap(),
            class: None,
            display_name: String::new(),
            password: "secret".into(),
            settings: Overrides::default(),
        })
        .await
        .unwrap()
}

pub fn message(n: usize) -> bytes::Bytes {
    bytes::Bytes::from(format!(
        "From: a@example.org\r\nTo: b@example.com\r\nSubject: message {n}\r\nMessage-ID: <{n}@example.org>\r\n\r\nBody of message {n}.\r\n{}\r\n",
        "x".repeat(n % 300)
    ))
}

/// Column families added after each format: what a store of format N lacks
/// (format 7 changed the queue records only, format 9 the folder name
/// entries only).
const ADDED_AFTER: &[(u32, &[&str])] = &[
    (1, &["queue"]),
    (2, &["structure"]),
    (3, &["acl"]),
    (4, &["device", "sync_state"]),
    (5, &["autoreply"]),
    (7, &["rpop"]),
    (9, &["item", "item_key"]),
];

/// Turns a closed store into exactly what format `format` wrote: the
/// column families of later formats dropped, the format record set back.
pub fn downgrade(dir: &std::path::Path, format: u32) {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir).unwrap();
    let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir, cfs).unwrap();
    for (_, names) in ADDED_AFTER.iter().filter(|(after, _)| *after >= format) {
        for name in *names {
            db.drop_cf(name).unwrap();
        }
    }
    db.put_cf(db.cf_handle("meta").unwrap(), b"format", format.to_be_bytes()).unwrap();
}

/// The column families of a closed store and its format record.
pub fn layout(dir: &std::path::Path) -> (Vec<String>, Vec<u8>) {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir, cfs.clone()).unwrap();
    let format = db.get_cf(db.cf_handle("meta").unwrap(), b"format").unwrap().unwrap();
    (cfs, format)
}
