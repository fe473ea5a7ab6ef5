//! A tiny in-memory `Directory` + `MailStore` (no RocksDB) and `DeviceStore`
//! for the fuzz targets that drive whole services (`imap_session`,
//! `activesync_dispatch`): one account `u@example.com` / `p` (also reached
//! as `alias@example.com`) with INBOX (three messages), the special-use
//! folders and `a/b`. Fuzzing wants many logins per second, so passwords are
//! compared as they are (no argon2).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axigen_core::acl::{Grantee, Rights, SharedFolder};
use axigen_core::devices::{Device, DeviceStore};
use axigen_core::directory::{AuthError, Directory};
use axigen_core::mailstore::{
    Appended, BlobId, Change, ChangeKind, Copied, DeliveryTarget, FlagChange, FlagOp, Flags, FlagsChanged, FolderId,
    FolderInfo, FolderKind, MailStore, MessageMeta, ModSeq, NewMessage, QuotaLimit, QuotaUsage, SpecialUse, Uid,
};
use axigen_core::model::{Account, AccountClass, AccountId, Address, Alias, Domain, DomainName, Principal};
use axigen_core::notify::ChangeNotifier;
use axigen_core::settings::{Overrides, ServerDefaults};
use axigen_core::structure::{MessageStructure, parse_structure};
use axigen_core::{Error, Result};
use bytes::Bytes;

/// The one account's address (its login).
pub const USER: &str = "u@example.com";
/// Its password.
pub const PASSWORD: &str = "p";
/// An alias of the account.
pub const ALIAS: &str = "alias@example.com";
/// The account's id.
pub const ACCOUNT: AccountId = AccountId(1);

struct Folder {
    info: FolderInfo,
    messages: Vec<MessageMeta>,
}

#[derive(Default)]
struct State {
    folders: Vec<Folder>,
    next_folder: u32,
    modseq: u64,
    blobs: HashMap<BlobId, Bytes>,
    next_blob: u64,
    changes: Vec<Change>,
}

impl State {
    fn folder(&mut self, id: FolderId) -> Result<&mut Folder> {
        self.folders.iter_mut().find(|f| f.info.id == id).ok_or_else(|| Error::NotFound(format!("folder {}", id.0)))
    }

    fn change(&mut self, folder: FolderId, kind: ChangeKind) -> ModSeq {
        self.modseq += 1;
        let modseq = ModSeq(self.modseq);
        self.changes.push(Change { modseq, folder, kind });
        modseq
    }

    fn create(&mut self, name: &str, special_use: Option<SpecialUse>) -> Result<FolderInfo> {
        if name.is_empty() || self.folders.iter().any(|f| same_name(&f.info.name, name)) {
            return Err(Error::AlreadyExists(name.to_owned()));
        }
        self.next_folder += 1;
        let id = FolderId(self.next_folder);
        let modseq = self.change(id, ChangeKind::FolderCreated);
        let info = FolderInfo {
            id,
            name: name.to_owned(),
            kind: FolderKind::Mail,
            special_use,
            uid_validity: 1000 + id.0,
            uid_next: Uid(1),
            highest_modseq: modseq,
            messages: 0,
            unseen: 0,
            size: 0,
            subscribed: true,
        };
        self.folders.push(Folder { info: info.clone(), messages: Vec::new() });
        Ok(info)
    }

    fn append(&mut self, folder: FolderId, message: NewMessage) -> Result<Appended> {
        self.next_blob += 1;
        let mut blob = [0; 32];
        blob[..8].copy_from_slice(&self.next_blob.to_le_bytes());
        let blob = BlobId(blob);
        let size = message.content.len() as u64;
        self.blobs.insert(blob, message.content);
        let uid = self.folder(folder)?.info.uid_next;
        let modseq = self.change(folder, ChangeKind::Added { uid });
        let f = self.folder(folder)?;
        f.info.uid_next = Uid(uid.0 + 1);
        let mut keywords = message.keywords;
        keywords.sort();
        keywords.dedup();
        f.messages.push(MessageMeta {
            uid,
            modseq,
            flags: message.flags,
            keywords,
            internal_date: message.internal_date,
            size,
            blob,
        });
        Ok(Appended { account: ACCOUNT, folder, uid_validity: f.info.uid_validity, uid, modseq })
    }

    fn expunge(&mut self, folder: FolderId, uids: &[Uid]) -> Result<Vec<Uid>> {
        let f = self.folder(folder)?;
        let removed: Vec<Uid> = f.messages.iter().map(|m| m.uid).filter(|u| uids.contains(u)).collect();
        f.messages.retain(|m| !removed.contains(&m.uid));
        for &uid in &removed {
            self.change(folder, ChangeKind::Expunged { uid });
        }
        Ok(removed)
    }

    fn info(&self, f: &Folder) -> FolderInfo {
        let mut info = f.info.clone();
        info.messages = f.messages.len() as u32;
        info.unseen = f.messages.iter().filter(|m| !m.flags.contains(Flags::SEEN)).count() as u32;
        info.size = f.messages.iter().map(|m| m.size).sum();
        let last = self.changes.iter().filter(|c| c.folder == f.info.id).map(|c| c.modseq).max();
        info.highest_modseq = last.unwrap_or(ModSeq(1));
        info
    }
}

fn same_name(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case("INBOX") { b.eq_ignore_ascii_case("INBOX") } else { a == b }
}

/// The directory and mail store of the one account.
pub struct Mem {
    /// The account.
    pub account: Account,
    state: Mutex<State>,
    /// Told of every change (MODSEQ) of the store.
    pub notifier: Arc<ChangeNotifier>,
    acl: Mutex<BTreeMap<(FolderId, Grantee), Rights>>,
}

impl Mem {
    /// The account with default settings.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Mem {
        Mem::with_settings(Overrides::default())
    }

    /// The account with these explicit settings (e.g. `activesync.enabled`).
    pub fn with_settings(settings: Overrides) -> Mem {
        let address = Address::parse(USER).unwrap();
        let account = Account {
            id: ACCOUNT,
            address,
            class: None,
            display_name: "U".into(),
            password_hash: String::new(),
            settings,
        };
        let mut state = State::default();
        state.create("INBOX", None).unwrap();
        for (name, special_use) in [
            ("Drafts", SpecialUse::Drafts),
            ("Sent", SpecialUse::Sent),
            ("Junk", SpecialUse::Junk),
            ("Trash", SpecialUse::Trash),
        ] {
            state.create(name, Some(special_use)).unwrap();
        }
        state.create("a", None).unwrap();
        state.create("a/b", None).unwrap();
        let contents: [&[u8]; 3] = [
            b"From: a@example.org\r\nTo: u@example.com\r\nSubject: one\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nbody\r\n",
            b"Subject: two\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\
Content-Type: text/plain\r\n\r\npart\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner\r\n--x--\r\n",
            b"Subject: three\r\n\r\n",
        ];
        for (i, content) in contents.into_iter().enumerate() {
            let message = NewMessage {
                flags: Flags(i as u8),
                keywords: if i == 2 { vec!["$Junk".into()] } else { vec![] },
                internal_date: 1_700_000_000 + i as i64,
                content: Bytes::from_static(content),
            };
            state.append(FolderId(1), message).unwrap();
        }
        Mem { account, state: Mutex::new(state), notifier: Arc::new(ChangeNotifier::new()), acl: Mutex::default() }
    }

    fn notify(&self) {
        let modseq = ModSeq(self.state.lock().unwrap().modseq);
        self.notifier.notify(ACCOUNT, modseq);
    }
}

fn check_account(account: AccountId) -> Result<()> {
    if account == ACCOUNT { Ok(()) } else { Err(Error::NotFound(format!("account {account}"))) }
}

#[async_trait]
impl Directory for Mem {
    async fn domain(&self, name: &DomainName) -> Result<Option<Domain>> {
        Ok((*name == self.account.address.domain)
            .then(|| Domain { name: name.clone(), settings: Overrides::default(), postmaster: None }))
    }
    async fn class(&self, _domain: &DomainName, _name: &str) -> Result<Option<AccountClass>> {
        Ok(None)
    }
    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        Ok((id == ACCOUNT).then(|| self.account.clone()))
    }
    async fn account_by_address(&self, address: &Address) -> Result<Option<Account>> {
        Ok((*address == self.account.address).then(|| self.account.clone()))
    }
    async fn alias(&self, address: &Address) -> Result<Option<Alias>> {
        let alias = Address::parse(ALIAS).ok();
        Ok((alias.as_ref() == Some(address)).then(|| Alias { address: address.clone(), account: ACCOUNT }))
    }
    fn server_defaults(&self) -> ServerDefaults {
        ServerDefaults::default()
    }
    /// No argon2 here: fuzzing wants many logins per second.
    async fn authenticate(&self, user: &str, password: &str) -> Result<Principal, AuthError> {
        if user == USER && password == PASSWORD {
            Ok(Principal { account: ACCOUNT, address: self.account.address.clone() })
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }
}

#[async_trait]
impl MailStore for Mem {
    async fn create_folder(
        &self,
        account: AccountId,
        name: &str,
        _kind: FolderKind,
        special_use: Option<SpecialUse>,
    ) -> Result<FolderInfo> {
        check_account(account)?;
        let info = self.state.lock().unwrap().create(name, special_use)?;
        self.notify();
        Ok(info)
    }
    async fn rename_folder(&self, account: AccountId, folder: FolderId, new_name: &str) -> Result<()> {
        check_account(account)?;
        {
            let mut state = self.state.lock().unwrap();
            if state.folders.iter().any(|f| same_name(&f.info.name, new_name)) {
                return Err(Error::AlreadyExists(new_name.to_owned()));
            }
            let f = state.folder(folder)?;
            if f.info.name.eq_ignore_ascii_case("INBOX") {
                return Err(Error::Invalid("INBOX".into()));
            }
            let old = std::mem::replace(&mut f.info.name, new_name.to_owned());
            let prefix = format!("{old}/");
            for f in &mut state.folders {
                if let Some(rest) = f.info.name.strip_prefix(&prefix) {
                    f.info.name = format!("{new_name}/{rest}");
                }
            }
            state.change(folder, ChangeKind::FolderUpdated);
        }
        self.notify();
        Ok(())
    }
    async fn delete_folder(&self, account: AccountId, folder: FolderId) -> Result<()> {
        check_account(account)?;
        {
            let mut state = self.state.lock().unwrap();
            state.folder(folder)?;
            state.folders.retain(|f| f.info.id != folder);
            state.change(folder, ChangeKind::FolderDeleted);
        }
        self.notify();
        Ok(())
    }
    async fn set_subscribed(&self, account: AccountId, folder: FolderId, subscribed: bool) -> Result<()> {
        check_account(account)?;
        self.state.lock().unwrap().folder(folder)?.info.subscribed = subscribed;
        Ok(())
    }
    async fn folders(&self, account: AccountId) -> Result<Vec<FolderInfo>> {
        check_account(account)?;
        let state = self.state.lock().unwrap();
        let mut all: Vec<FolderInfo> = state.folders.iter().map(|f| state.info(f)).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }
    async fn folder(&self, account: AccountId, folder: FolderId) -> Result<Option<FolderInfo>> {
        check_account(account)?;
        let state = self.state.lock().unwrap();
        Ok(state.folders.iter().find(|f| f.info.id == folder).map(|f| state.info(f)))
    }
    async fn folder_by_name(&self, account: AccountId, name: &str) -> Result<Option<FolderInfo>> {
        check_account(account)?;
        let state = self.state.lock().unwrap();
        Ok(state.folders.iter().find(|f| same_name(&f.info.name, name)).map(|f| state.info(f)))
    }
    async fn append(
        &self,
        account: AccountId,
        folder: FolderId,
        message: NewMessage,
        quota: QuotaLimit,
    ) -> Result<Appended> {
        check_account(account)?;
        {
            let state = self.state.lock().unwrap();
            let count: usize = state.folders.iter().map(|f| f.messages.len()).sum();
            if quota.max_messages > 0 && count as u64 >= quota.max_messages {
                return Err(Error::OverQuota(USER.into()));
            }
        }
        let appended = self.state.lock().unwrap().append(folder, message)?;
        self.notify();
        Ok(appended)
    }
    async fn deliver(&self, content: Bytes, internal_date: i64, targets: &[DeliveryTarget]) -> Result<Vec<Appended>> {
        let mut all = Vec::new();
        for target in targets {
            let message = NewMessage { flags: target.flags, keywords: vec![], internal_date, content: content.clone() };
            all.push(self.append(target.account, target.folder, message, target.quota).await?);
        }
        Ok(all)
    }
    async fn messages(&self, account: AccountId, folder: FolderId) -> Result<Vec<MessageMeta>> {
        check_account(account)?;
        Ok(self.state.lock().unwrap().folder(folder)?.messages.clone())
    }
    async fn message(&self, account: AccountId, folder: FolderId, uid: Uid) -> Result<Option<MessageMeta>> {
        check_account(account)?;
        Ok(self.state.lock().unwrap().folder(folder)?.messages.iter().find(|m| m.uid == uid).cloned())
    }
    async fn content(&self, blob: BlobId) -> Result<Bytes> {
        self.state.lock().unwrap().blobs.get(&blob).cloned().ok_or_else(|| Error::NotFound("blob".into()))
    }
    async fn structure(&self, blob: BlobId) -> Result<std::sync::Arc<MessageStructure>> {
        Ok(std::sync::Arc::new(parse_structure(&self.content(blob).await?)))
    }
    async fn change_flags(
        &self,
        account: AccountId,
        folder: FolderId,
        uids: &[Uid],
        change: &FlagChange,
    ) -> Result<FlagsChanged> {
        check_account(account)?;
        let mut result = FlagsChanged::default();
        {
            let mut state = self.state.lock().unwrap();
            state.folder(folder)?;
            for &uid in uids {
                let f = state.folder(folder)?;
                let Some(m) = f.messages.iter_mut().find(|m| m.uid == uid) else { continue };
                if change.unchanged_since.is_some_and(|since| m.modseq > since) {
                    result.modified.push(uid);
                    continue;
                }
                let (flags, mut keywords) = match change.op {
                    FlagOp::Add => {
                        let mut k = m.keywords.clone();
                        k.extend(change.keywords.iter().cloned());
                        (m.flags.union(change.flags), k)
                    }
                    FlagOp::Remove => (
                        m.flags.without(change.flags),
                        m.keywords.iter().filter(|k| !change.keywords.contains(k)).cloned().collect(),
                    ),
                    FlagOp::Replace => (change.flags, change.keywords.clone()),
                };
                keywords.sort();
                keywords.dedup();
                if flags == m.flags && keywords == m.keywords {
                    continue;
                }
                m.flags = flags;
                m.keywords = keywords.clone();
                let modseq = state.change(folder, ChangeKind::Flags { uid });
                let f = state.folder(folder)?;
                if let Some(m) = f.messages.iter_mut().find(|m| m.uid == uid) {
                    m.modseq = modseq;
                }
                result.changed.push((uid, modseq, flags, keywords));
            }
        }
        self.notify();
        Ok(result)
    }
    async fn copy(
        &self,
        account: AccountId,
        from: FolderId,
        uids: &[Uid],
        to: FolderId,
        _quota: QuotaLimit,
    ) -> Result<Copied> {
        check_account(account)?;
        let mut copied = Copied::default();
        {
            let mut state = self.state.lock().unwrap();
            copied.uid_validity = state.folder(to)?.info.uid_validity;
            let sources: Vec<MessageMeta> =
                state.folder(from)?.messages.iter().filter(|m| uids.contains(&m.uid)).cloned().collect();
            for m in sources {
                let content = state.blobs.get(&m.blob).cloned().unwrap_or_default();
                let message = NewMessage {
                    flags: m.flags,
                    keywords: m.keywords.clone(),
                    internal_date: m.internal_date,
                    content,
                };
                let appended = state.append(to, message)?;
                copied.uids.push((m.uid, appended.uid));
            }
        }
        self.notify();
        Ok(copied)
    }
    async fn move_messages(&self, account: AccountId, from: FolderId, uids: &[Uid], to: FolderId) -> Result<Copied> {
        let copied = self.copy(account, from, uids, to, QuotaLimit::default()).await?;
        let moved: Vec<Uid> = copied.uids.iter().map(|(from, _)| *from).collect();
        self.expunge(account, from, &moved).await?;
        Ok(copied)
    }
    async fn expunge(&self, account: AccountId, folder: FolderId, uids: &[Uid]) -> Result<Vec<Uid>> {
        check_account(account)?;
        let removed = self.state.lock().unwrap().expunge(folder, uids)?;
        self.notify();
        Ok(removed)
    }
    async fn highest_modseq(&self, account: AccountId) -> Result<ModSeq> {
        check_account(account)?;
        Ok(ModSeq(self.state.lock().unwrap().modseq))
    }
    async fn changes_since(&self, account: AccountId, since: ModSeq) -> Result<Vec<Change>> {
        check_account(account)?;
        Ok(self.state.lock().unwrap().changes.iter().filter(|c| c.modseq > since).cloned().collect())
    }
    async fn set_rights(&self, owner: AccountId, folder: FolderId, grantee: Grantee, rights: Rights) -> Result<()> {
        check_account(owner)?;
        if grantee == Grantee::Account(owner) {
            return Err(Error::Invalid("owner".into()));
        }
        let mut acl = self.acl.lock().unwrap();
        if rights.is_empty() {
            acl.remove(&(folder, grantee));
        } else {
            acl.insert((folder, grantee), rights);
        }
        Ok(())
    }
    async fn acl(&self, owner: AccountId, folder: FolderId) -> Result<Vec<(Grantee, Rights)>> {
        check_account(owner)?;
        let acl = self.acl.lock().unwrap();
        Ok(acl.iter().filter(|((f, _), _)| *f == folder).map(|((_, g), r)| (*g, *r)).collect())
    }
    /// One account: nothing is shared with it by another.
    async fn shared_with(&self, account: AccountId) -> Result<Vec<SharedFolder>> {
        check_account(account)?;
        Ok(vec![])
    }
    async fn set_shared_subscription(&self, _: AccountId, owner: AccountId, _: FolderId, _: bool) -> Result<()> {
        Err(Error::NotFound(format!("account {owner}")))
    }
    async fn quota_usage(&self, account: AccountId) -> Result<QuotaUsage> {
        check_account(account)?;
        let state = self.state.lock().unwrap();
        let messages = state.folders.iter().flat_map(|f| &f.messages);
        Ok(QuotaUsage {
            bytes: messages.clone().map(|m| m.size).sum(),
            messages: state.folders.iter().map(|f| f.messages.len() as u64).sum(),
        })
    }
}

/// Devices and their sync state, in memory.
#[derive(Default)]
pub struct MemDevices {
    devices: Mutex<BTreeMap<(AccountId, String), Device>>,
    states: Mutex<BTreeMap<(AccountId, String, String), Vec<u8>>>,
}

#[async_trait]
impl DeviceStore for MemDevices {
    async fn device(&self, account: AccountId, device_id: &str) -> Result<Option<Device>> {
        Ok(self.devices.lock().unwrap().get(&(account, device_id.to_owned())).cloned())
    }
    async fn devices(&self, account: AccountId) -> Result<Vec<Device>> {
        let devices = self.devices.lock().unwrap();
        Ok(devices.iter().filter(|((a, _), _)| *a == account).map(|(_, d)| d.clone()).collect())
    }
    async fn put_device(&self, device: Device) -> Result<()> {
        self.devices.lock().unwrap().insert((device.account, device.device_id.clone()), device);
        Ok(())
    }
    async fn update_device(
        &self,
        account: AccountId,
        device_id: &str,
        change: Box<dyn for<'d> FnOnce(&'d mut Device) + Send + 'static>,
    ) -> Result<Device> {
        let mut devices = self.devices.lock().unwrap();
        let device = devices
            .get_mut(&(account, device_id.to_owned()))
            .ok_or_else(|| Error::NotFound(format!("device {device_id}")))?;
        change(device);
        Ok(device.clone())
    }
    async fn delete_device(&self, account: AccountId, device_id: &str) -> Result<bool> {
        self.clear_sync_states(account, device_id).await?;
        Ok(self.devices.lock().unwrap().remove(&(account, device_id.to_owned())).is_some())
    }
    async fn sync_state(&self, account: AccountId, device_id: &str, collection: &str) -> Result<Option<Vec<u8>>> {
        let key = (account, device_id.to_owned(), collection.to_owned());
        Ok(self.states.lock().unwrap().get(&key).cloned())
    }
    async fn put_sync_state(
        &self,
        account: AccountId,
        device_id: &str,
        collection: &str,
        state: Vec<u8>,
    ) -> Result<()> {
        if !self.devices.lock().unwrap().contains_key(&(account, device_id.to_owned())) {
            return Err(Error::NotFound(format!("device {device_id}")));
        }
        self.states.lock().unwrap().insert((account, device_id.to_owned(), collection.to_owned()), state);
        Ok(())
    }
    async fn clear_sync_states(&self, account: AccountId, device_id: &str) -> Result<()> {
        self.states.lock().unwrap().retain(|(a, d, _), _| !(*a == account && d == device_id));
        Ok(())
    }
}
