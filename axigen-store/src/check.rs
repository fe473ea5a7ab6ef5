//! Consistency check: recomputes every counter and reference from the records
//! and reports each disagreement. Read-only; runs on the durable state.

use std::collections::{BTreeMap, HashMap, HashSet};

use axigen_core::Result;
use axigen_core::mailstore::{BlobId, ChangeKind, Flags, FolderId, ModSeq, Uid};
use axigen_core::model::{Account, AccountId};
use axigen_core::structure::parse_structure;
use serde::Serialize;

use crate::Store;
use crate::keys::*;

/// One problem found by [`Store::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What is affected, e.g. `account 3 folder 2 (INBOX)`.
    pub object: String,
    /// What is wrong.
    pub problem: String,
}

/// What [`Store::check`] looked at and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Accounts checked.
    pub accounts: u64,
    /// Folders checked.
    pub folders: u64,
    /// Message records checked.
    pub messages: u64,
    /// Blobs checked.
    pub blobs: u64,
    /// Message structure records checked.
    pub structures: u64,
    /// Change-log entries checked.
    pub changes: u64,
    /// Outbound queue entries checked.
    pub queued: u64,
    /// Folder access-list entries checked.
    pub acl_entries: u64,
    /// Mobile devices (ActiveSync partnerships) checked.
    pub devices: u64,
    /// Per-collection sync states of devices checked.
    pub sync_states: u64,
    /// Groupware items checked (each one's index recomputed from its content).
    pub items: u64,
    /// Problems, empty when the store is consistent.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// True when nothing was found.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    fn add(&mut self, object: impl Into<String>, problem: impl Into<String>) {
        self.findings.push(Finding { object: object.into(), problem: problem.into() });
    }
}

impl Store {
    /// Verifies counters, UIDs, MODSEQs, blob references, message structures,
    /// the change log, access lists, and devices with their sync states. With `deep`, also re-hashes every blob against its
    /// id and recomputes its structure.
    ///
    /// First every file is read with its checksums verified (the message
    /// contents too with `deep`); damage is reported with what the damaged
    /// file holds, and then the consistency checks are skipped, since they
    /// would stop at the first damaged record.
    pub fn check(&self, deep: bool) -> Result<CheckReport> {
        let mut r = CheckReport::default();
        if let Some(recorded) = self.recorded_damage() {
            let first = recorded.lines().take(2).collect::<Vec<_>>().join(" ");
            r.add(
                format!("marker {}", self.path.join(crate::integrity::DAMAGED_FILE).display()),
                format!("damage recorded at run time: {first}"),
            );
        }
        let damage = crate::integrity::verify(&self.db, &self.path, deep)?;
        if !damage.is_empty() {
            r.findings.extend(damage);
            r.add("store", "consistency checks skipped: the store is damaged");
            return Ok(r);
        }
        let mut refs: HashMap<BlobId, u64> = HashMap::new();
        let mut folder_keys: HashSet<[u8; 8]> = HashSet::new();

        let mut directory_accounts = BTreeMap::new();
        for (k, v) in self.scan(CF_DIRECTORY, ACCOUNT_PREFIX)? {
            let id = AccountId(be32(&k[1..])?);
            match serde_json::from_slice::<Account>(&v) {
                Ok(a) => {
                    directory_accounts.insert(id, a);
                }
                Err(e) => r.add(format!("account {id}"), format!("unreadable directory record: {e}")),
            }
        }

        for (k, v) in self.scan(CF_ACCOUNT, b"")? {
            let a = AccountId(be32(&k)?);
            r.accounts += 1;
            let obj = format!("account {a}");
            let state = match AccountState::decode(&v) {
                Ok(s) => s,
                Err(e) => {
                    r.add(obj, e.to_string());
                    continue;
                }
            };
            match directory_accounts.remove(&a) {
                None => r.add(&obj, "mail state without a directory entry"),
                Some(acc) => {
                    let idx =
                        self.scan(CF_DIRECTORY, &address_key(acc.address.domain.as_str(), acc.address.local.as_str()))?;
                    if !idx.iter().any(|(_, v)| be32(v).ok() == Some(a.0)) {
                        r.add(&obj, format!("address index does not point to it for {}", acc.address));
                    }
                }
            }

            // Change log: every entry at or below the account's MODSEQ, keyed uniquely.
            let mut logged: HashMap<(FolderId, Uid), ModSeq> = HashMap::new();
            for (ck, cv) in self.scan(CF_CHANGELOG, &acct(a))? {
                r.changes += 1;
                let m = ModSeq(be64(&ck[4..])?);
                if m.0 > state.highest_modseq {
                    r.add(
                        &obj,
                        format!("change log entry {} is above the account MODSEQ {}", m.0, state.highest_modseq),
                    );
                }
                match decode_change(&cv) {
                    Ok((f, ChangeKind::Added { uid } | ChangeKind::Flags { uid } | ChangeKind::Updated { uid })) => {
                        let e = logged.entry((f, uid)).or_insert(m);
                        *e = (*e).max(m);
                    }
                    Ok(_) => {}
                    Err(e) => r.add(&obj, format!("change log entry {}: {e}", m.0)),
                }
            }

            let (mut bytes, mut messages) = (0u64, 0u64);
            let mut max_folder = 0u32;
            for (fk, fv) in self.scan(CF_FOLDER, &acct(a))? {
                r.folders += 1;
                let fid = FolderId(be32(&fk[4..])?);
                max_folder = max_folder.max(fid.0);
                let folder = match decode_folder(fid, &fv) {
                    Ok(f) => f,
                    Err(e) => {
                        r.add(format!("{obj} folder {}", fid.0), e.to_string());
                        continue;
                    }
                };
                let fobj = format!("{obj} folder {} ({})", fid.0, folder.name);
                folder_keys.insert(folder_key(a, fid));
                match self.db.get_cf(crate::commit::cf(&self.db, CF_FOLDER_NAME), folder_name_key(a, &folder.name)) {
                    Ok(Some(id)) if be32(&id).ok() == Some(fid.0) => {}
                    _ => r.add(&fobj, "folder name index does not point to it"),
                }
                if folder.highest_modseq.0 > state.highest_modseq {
                    r.add(&fobj, "HIGHESTMODSEQ above the account MODSEQ");
                }
                let (mut count, mut size, mut unseen) = (0u32, 0u64, 0u32);
                let mut last_uid = 0;
                for (mk, mv) in self.scan(CF_MESSAGE, &folder_key(a, fid))? {
                    r.messages += 1;
                    let uid = Uid(be32(&mk[8..])?);
                    let meta = match decode_message(uid, &mv) {
                        Ok(m) => m,
                        Err(e) => {
                            r.add(format!("{fobj} uid {}", uid.0), e.to_string());
                            continue;
                        }
                    };
                    if uid.0 == 0 || uid.0 <= last_uid {
                        r.add(&fobj, format!("UID {} out of order", uid.0));
                    }
                    last_uid = uid.0;
                    if uid >= folder.uid_next {
                        r.add(&fobj, format!("UID {} is not below UIDNEXT {}", uid.0, folder.uid_next.0));
                    }
                    if meta.modseq > folder.highest_modseq {
                        r.add(&fobj, format!("UID {} has MODSEQ {} above HIGHESTMODSEQ", uid.0, meta.modseq.0));
                    }
                    if logged.get(&(fid, uid)) != Some(&meta.modseq) {
                        r.add(
                            &fobj,
                            format!("UID {}: its MODSEQ {} is not its last change-log entry", uid.0, meta.modseq.0),
                        );
                    }
                    count += 1;
                    size += meta.size;
                    if !meta.flags.contains(Flags::SEEN) {
                        unseen += 1;
                    }
                    *refs.entry(meta.blob).or_default() += 1;
                }
                let (item_count, item_size) = self.check_folder_items(&mut r, a, &folder, &fobj, &logged, &mut refs)?;
                count += item_count;
                size += item_size;
                if (count, size, unseen) != (folder.messages, folder.size, folder.unseen) {
                    r.add(
                        &fobj,
                        format!(
                            "counters say {} messages / {} bytes / {} unseen, records say {count} / {size} / {unseen}",
                            folder.messages, folder.size, folder.unseen
                        ),
                    );
                }
                bytes += size;
                messages += u64::from(count);
            }
            if (bytes, messages) != (state.bytes, state.messages) {
                r.add(
                    &obj,
                    format!(
                        "quota usage says {} bytes / {} messages, folders hold {bytes} / {messages}",
                        state.bytes, state.messages
                    ),
                );
            }
            if max_folder >= state.next_folder {
                r.add(&obj, "a folder id is not below the next folder id");
            }
        }
        for (a, acc) in directory_accounts {
            r.add(format!("account {a}"), format!("{} has no mail state", acc.address));
        }

        // Queued outbound messages hold blob references too.
        for (k, v) in self.scan(CF_QUEUE, b"")? {
            let obj = format!("queue entry {}", be64(&k).unwrap_or(0));
            r.queued += 1;
            match serde_json::from_slice::<crate::queue::QueueRecord>(&v) {
                Ok(rec) => match crate::queue::blob_from_hex(&rec.blob) {
                    Ok(b) => *refs.entry(b).or_default() += 1,
                    Err(e) => r.add(obj, e.to_string()),
                },
                Err(e) => r.add(obj, format!("unreadable: {e}")),
            }
        }

        // Blobs, their reference counts and their structures.
        let structure_cf = crate::commit::cf(&self.db, CF_STRUCTURE);
        let mut blob_ids = HashSet::new();
        let mut counted: HashMap<BlobId, u64> = HashMap::new();
        for (k, v) in self.scan(CF_BLOB_REF, b"")? {
            let mut id = [0u8; 32];
            if k.len() != 32 {
                r.add("blob_ref", "key of the wrong length");
                continue;
            }
            id.copy_from_slice(&k);
            counted.insert(BlobId(id), be64(&v)?);
        }
        for (k, v) in self.scan(CF_BLOB, b"")? {
            r.blobs += 1;
            let mut id = [0u8; 32];
            if k.len() != 32 {
                r.add("blob", "key of the wrong length");
                continue;
            }
            id.copy_from_slice(&k);
            let id = BlobId(id);
            let obj = format!("blob {}", id.to_hex());
            if deep && BlobId::of(&v) != id {
                r.add(&obj, "content does not match its hash");
            }
            blob_ids.insert(id);
            match self.db.get_pinned_cf(structure_cf, id.0).map_err(crate::commit::storage)? {
                None => r.add(&obj, "no message structure record"),
                Some(record) => match decode_structure(&record) {
                    Err(e) => r.add(&obj, format!("message structure: {e}")),
                    Ok(s) if deep && s != parse_structure(&v) => {
                        r.add(&obj, "message structure does not match the content")
                    }
                    Ok(_) => {}
                },
            }
            let actual = refs.remove(&id).unwrap_or(0);
            let recorded = counted.remove(&id).unwrap_or(0);
            if actual == 0 {
                r.add(&obj, "no message refers to it (orphan)");
            }
            if actual != recorded {
                r.add(&obj, format!("reference count {recorded}, references found {actual}"));
            }
        }
        for (id, n) in refs {
            r.add(format!("blob {}", id.to_hex()), format!("missing, but {n} message(s) refer to it"));
        }
        for (id, _) in counted {
            r.add(format!("blob {}", id.to_hex()), "reference count without content");
        }
        for item in self.db.iterator_cf(structure_cf, rocksdb::IteratorMode::Start) {
            let (k, _) = item.map_err(crate::commit::storage)?;
            r.structures += 1;
            match <[u8; 32]>::try_from(&k[..]) {
                Ok(id) if blob_ids.contains(&BlobId(id)) => {}
                Ok(id) => r.add(format!("blob {}", BlobId(id).to_hex()), "message structure without content"),
                Err(_) => r.add("structure", "key of the wrong length"),
            }
        }
        // Item records and index entries of folders that do not exist.
        for family in [CF_ITEM, CF_ITEM_KEY] {
            for row in self.db.iterator_cf(crate::commit::cf(&self.db, family), rocksdb::IteratorMode::Start) {
                let (k, _) = row.map_err(crate::commit::storage)?;
                if k.len() < 8 || !folder_keys.contains(&<[u8; 8]>::try_from(&k[..8]).unwrap_or_default()) {
                    let (a, f) = (be32(&k).unwrap_or(0), k.get(4..).and_then(|b| be32(b).ok()).unwrap_or(0));
                    r.add(
                        format!("account {a} folder {f}"),
                        format!("{family} record of a folder that does not exist"),
                    );
                }
            }
        }
        self.check_acl(&mut r)?;
        self.check_devices(&mut r)?;
        self.check_autoreply(&mut r)?;
        self.check_rpop(&mut r)?;
        Ok(r)
    }

    /// A folder's items: UIDs, MODSEQs against the change log, the name,
    /// UID and tombstone entries, and each index recomputed from the
    /// content. Returns the folder's item count and bytes, and counts the
    /// items' blob references into `refs`.
    fn check_folder_items(
        &self,
        r: &mut CheckReport,
        a: AccountId,
        folder: &axigen_core::mailstore::FolderInfo,
        fobj: &str,
        logged: &HashMap<(FolderId, Uid), ModSeq>,
        refs: &mut HashMap<BlobId, u64>,
    ) -> Result<(u32, u64)> {
        let fid = folder.id;
        let (mut count, mut size) = (0u32, 0u64);
        let mut names: HashMap<String, Uid> = HashMap::new();
        let mut object_uids: HashMap<String, Uid> = HashMap::new();
        for (k, v) in self.scan(CF_ITEM, &folder_key(a, fid))? {
            r.items += 1;
            let uid = Uid(be32(&k[8..])?);
            let item = match decode_item(uid, &v) {
                Ok(i) => i,
                Err(e) => {
                    r.add(format!("{fobj} item {}", uid.0), e.to_string());
                    continue;
                }
            };
            let iobj = format!("{fobj} item {} ({})", uid.0, item.name);
            if folder.kind == axigen_core::mailstore::FolderKind::Mail {
                r.add(&iobj, "a groupware item in a mail folder");
            }
            if uid >= folder.uid_next {
                r.add(&iobj, format!("UID not below UIDNEXT {}", folder.uid_next.0));
            }
            if item.modseq > folder.highest_modseq {
                r.add(&iobj, format!("MODSEQ {} above HIGHESTMODSEQ", item.modseq.0));
            }
            if logged.get(&(fid, uid)) != Some(&item.modseq) {
                r.add(&iobj, format!("its MODSEQ {} is not its last change-log entry", item.modseq.0));
            }
            names.insert(item.name.clone(), uid);
            object_uids.insert(item.index.uid.clone(), uid);
            count += 1;
            size += item.size;
            *refs.entry(item.blob).or_default() += 1;
            match self.db.get_cf(crate::commit::cf(&self.db, CF_BLOB), item.blob.0).map_err(crate::commit::storage)? {
                None => {} // reported with the blobs
                Some(content) => {
                    if content.len() as u64 != item.size {
                        r.add(&iobj, format!("size {} but content of {} bytes", item.size, content.len()));
                    }
                    match axigen_core::itemstore::NewItem::parse(bytes::Bytes::from(content), folder.kind) {
                        Ok(parsed) if *parsed.index() == item.index => {}
                        Ok(_) => r.add(&iobj, "its index does not match its content"),
                        Err(e) => r.add(&iobj, format!("its content is not a valid item: {e}")),
                    }
                }
            }
        }
        for (k, v) in self.scan(CF_ITEM_KEY, &folder_key(a, fid))? {
            let (tag, rest) = (k.get(8).copied(), k.get(9..).unwrap_or_default());
            let text = String::from_utf8_lossy(rest).into_owned();
            match tag {
                Some(b'N') | Some(b'U') => {
                    let map = if tag == Some(b'N') { &mut names } else { &mut object_uids };
                    let what = if tag == Some(b'N') { "name" } else { "object UID" };
                    match (be32(&v).ok().map(Uid), map.remove(&text)) {
                        (Some(to), Some(uid)) if to == uid => {}
                        (to, _) => r.add(
                            fobj,
                            format!(
                                "{what} index entry {text:?} points to item {}, which does not have it",
                                to.map_or(0, |u| u.0)
                            ),
                        ),
                    }
                }
                Some(b'T') => {
                    if let Ok(uid) = be32(rest).map(Uid)
                        && self
                            .db
                            .get_cf(crate::commit::cf(&self.db, CF_ITEM), item_key(a, fid, uid))
                            .map_err(crate::commit::storage)?
                            .is_some()
                    {
                        r.add(fobj, format!("item {} has a removal record but exists", uid.0));
                    }
                }
                Some(b'P') if !rest.is_empty() && std::str::from_utf8(&v).is_ok() => {}
                _ => r.add(fobj, "unknown item index entry"),
            }
        }
        for (name, uid) in names {
            r.add(fobj, format!("item {} ({name}) is missing from the name index", uid.0));
        }
        for (object, uid) in object_uids {
            r.add(fobj, format!("item {} (UID {object}) is missing from the object UID index", uid.0));
        }
        Ok((count, size))
    }

    /// Whether the directory has the account (remembered in `seen`).
    fn account_exists(&self, seen: &mut HashMap<AccountId, bool>, account: AccountId) -> Result<bool> {
        if let Some(&exists) = seen.get(&account) {
            return Ok(exists);
        }
        let exists = self
            .db
            .get_cf(crate::commit::cf(&self.db, CF_DIRECTORY), account_key(account))
            .map_err(crate::commit::storage)?
            .is_some();
        seen.insert(account, exists);
        Ok(exists)
    }

    /// Every RPOP record belongs to an account that exists, sources decode
    /// and match their key, and UIDLs and statuses belong to a source.
    fn check_rpop(&self, r: &mut CheckReport) -> Result<()> {
        let mut accounts: HashMap<AccountId, bool> = HashMap::new();
        let mut sources: HashSet<(AccountId, String)> = HashSet::new();
        let rows = self.scan(CF_RPOP, b"")?;
        // Sources sort before statuses and UIDLs of the same account (S < T < U).
        for (k, v) in &rows {
            let Ok(account) = be32(k).map(AccountId) else {
                r.add("rpop", format!("key {k:?} is too short"));
                continue;
            };
            let obj = format!("rpop record of account {account}");
            if !self.account_exists(&mut accounts, account)? {
                r.add(&obj, "record of an account that does not exist");
            }
            let name = match k.get(4) {
                Some(b'S') | Some(b'T') => String::from_utf8_lossy(&k[5..]).into_owned(),
                Some(b'U') => {
                    let len = usize::from(k.get(5).copied().unwrap_or(0));
                    String::from_utf8_lossy(k.get(6..6 + len).unwrap_or_default()).into_owned()
                }
                _ => {
                    r.add(&obj, format!("unknown key {k:?}"));
                    continue;
                }
            };
            match k[4] {
                b'S' => match crate::rpop::decode_source(v) {
                    Ok(src) if src.account == account && src.name == name => {
                        sources.insert((account, name));
                    }
                    Ok(src) => {
                        r.add(&obj, format!("the record is for source {:?} of account {}", src.name, src.account))
                    }
                    Err(e) => r.add(&obj, e.to_string()),
                },
                _ if !sources.contains(&(account, name.clone())) => {
                    r.add(&obj, format!("status or UIDL of source {name:?}, which does not exist"))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every out-of-office record belongs to an account that exists; the
    /// settings decode and each reply record holds a time.
    fn check_autoreply(&self, r: &mut CheckReport) -> Result<()> {
        let mut accounts: HashMap<AccountId, bool> = HashMap::new();
        for (k, v) in self.scan(CF_AUTOREPLY, b"")? {
            let Ok(account) = be32(&k).map(AccountId) else {
                r.add("autoreply", format!("key {k:?} is too short"));
                continue;
            };
            let obj = format!("out-of-office record of account {account}");
            let exists = self.account_exists(&mut accounts, account)?;
            if !exists {
                r.add(&obj, "record of an account that does not exist");
            }
            match k.get(4) {
                Some(b'S') if k.len() == 5 => {
                    if let Err(e) = crate::autoreply::decode_settings(&v) {
                        r.add(&obj, e.to_string());
                    }
                }
                Some(b'R') if k.len() > 5 && v.len() == 8 => {}
                _ => r.add(&obj, format!("unknown key {k:?} or value of {} bytes", v.len())),
            }
        }
        Ok(())
    }

    /// Every device record decodes, matches its key and belongs to an
    /// account that exists; every sync state belongs to a device.
    fn check_devices(&self, r: &mut CheckReport) -> Result<()> {
        use crate::devices::{decode_device, decode_device_key, decode_sync_state_key, validate_device_id};
        let mut accounts: HashMap<AccountId, bool> = HashMap::new();
        let mut devices: HashSet<(AccountId, String)> = HashSet::new();
        for (k, v) in self.scan(CF_DEVICE, b"")? {
            r.devices += 1;
            let (account, id) = match decode_device_key(&k) {
                Ok(parts) => parts,
                Err(e) => {
                    r.add("device", format!("key {k:?}: {e}"));
                    continue;
                }
            };
            let obj = format!("device {id:?} of account {account}");
            if let Err(e) = validate_device_id(&id) {
                r.add(&obj, e.to_string());
            }
            match decode_device(&v) {
                Ok(d) if d.account != account || d.device_id != id => {
                    r.add(&obj, format!("the record is for device {:?} of account {}", d.device_id, d.account))
                }
                Ok(_) => {}
                Err(e) => r.add(&obj, e.to_string()),
            }
            let exists = self.account_exists(&mut accounts, account)?;
            if !exists {
                r.add(&obj, "device of an account that does not exist");
            }
            devices.insert((account, id));
        }
        for (k, _) in self.scan(CF_SYNC_STATE, b"")? {
            r.sync_states += 1;
            match decode_sync_state_key(&k) {
                Ok((account, id, collection)) => {
                    if !devices.contains(&(account, id.clone())) {
                        r.add(
                            format!("sync state of device {id:?} of account {account} collection {collection:?}"),
                            "sync state without a device",
                        );
                    }
                }
                Err(e) => r.add("sync_state", format!("key {k:?}: {e}")),
            }
        }
        Ok(())
    }

    /// Every access-list entry has both copies with the same rights, on a
    /// folder that exists; every shared subscription is on an existing folder.
    fn check_acl(&self, r: &mut CheckReport) -> Result<()> {
        use crate::acl::{GRANT, REVERSE, SUBSCRIBED, decode_grantee, grant_key, owner_folder, reverse_key};
        let folder_exists = |owner: AccountId, folder: FolderId| -> Result<bool> {
            Ok(self
                .db
                .get_cf(crate::commit::cf(&self.db, CF_FOLDER), folder_key(owner, folder))
                .map_err(crate::commit::storage)?
                .is_some())
        };
        for (k, v) in self.scan(CF_ACL, b"")? {
            match k.first().copied() {
                Some(GRANT) if k.len() == 14 => {
                    let (owner, folder) = owner_folder(&k, 1)?;
                    let grantee = decode_grantee(&k[9..])?;
                    r.acl_entries += 1;
                    let obj = format!("acl of account {owner} folder {} for {grantee:?}", folder.0);
                    if !folder_exists(owner, folder)? {
                        r.add(&obj, "entry for a folder that does not exist");
                    }
                    let reverse =
                        self.db.get_cf(crate::commit::cf(&self.db, CF_ACL), reverse_key(grantee, owner, folder));
                    match reverse.map_err(crate::commit::storage)? {
                        Some(rv) if rv[..] == v[..] => {}
                        Some(_) => r.add(&obj, "the grantee's copy has other rights"),
                        None => r.add(&obj, "the grantee's copy is missing"),
                    }
                }
                Some(REVERSE) if k.len() == 14 => {
                    let grantee = decode_grantee(&k[1..6])?;
                    let (owner, folder) = owner_folder(&k, 6)?;
                    let grant = self.db.get_cf(crate::commit::cf(&self.db, CF_ACL), grant_key(owner, folder, grantee));
                    if grant.map_err(crate::commit::storage)?.is_none() {
                        r.add(
                            format!("acl of account {owner} folder {} for {grantee:?}", folder.0),
                            "the grantee's copy has no entry on the folder",
                        );
                    }
                }
                Some(SUBSCRIBED) if k.len() == 13 => {
                    let (owner, folder) = owner_folder(&k, 1)?;
                    if !folder_exists(owner, folder)? {
                        r.add(
                            format!(
                                "subscription of account {} to account {owner} folder {}",
                                be32(&k[9..])?,
                                folder.0
                            ),
                            "subscription to a folder that does not exist",
                        );
                    }
                }
                _ => r.add("acl", format!("unknown key {k:?}")),
            }
        }
        Ok(())
    }
}
