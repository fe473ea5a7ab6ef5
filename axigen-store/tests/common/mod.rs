#![allow(dead_code)]

use axigen_core::directory::DirectoryAdmin;
use axigen_core::model::{Address, Domain, DomainName, NewAccount};
use axigen_core::settings::Overrides;
use axigen_store::{Store, StoreOptions};

pub fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreOptions::default()).expect("open store")
}

pub async fn domain(store: &Store, name: &str) {
    store.put_domain(Domain { name: DomainName::new(name).unwrap(), settings: Overrides::default() }).await.unwrap();
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
