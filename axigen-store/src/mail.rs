//! [`MailStore`] on RocksDB.
//!
//! Implementation notes:
//!
//! - Mutations are closures run by the committer (see `commit.rs`); they read
//!   through the group's pending writes so that they see the effects of
//!   earlier operations of the same group.
//! - Every change-log entry takes its own MODSEQ from the account counter, so
//!   the change log is keyed by (account, MODSEQ) without collisions.
//! - A blob is written in the same batch as the first message record
//!   that references it and deleted with the last one; its structure record
//!   goes with it. Content is hashed and its structure computed on the
//!   caller's thread ([`NewBlob::prepare`]), never on the committer, whose
//!   time is every writer's latency.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use axigen_core::acl::{Grantee, Rights, SharedFolder};
use axigen_core::mailstore::{
    Appended, BlobId, Change, ChangeKind, Copied, DeliveryTarget, FlagChange, FlagOp, Flags, FlagsChanged, FolderId,
    FolderInfo, FolderKind, Listing, MailStore, MessageMeta, ModSeq, NewMessage, QuotaLimit, QuotaUsage, SpecialUse,
    Uid,
};
use axigen_core::model::AccountId;
use axigen_core::structure::{MessageStructure, parse_structure};
use axigen_core::{Error, Result, unix_now};
use bytes::Bytes;
use rocksdb::{Direction, IteratorMode, ReadOptions};

use crate::Store;
use crate::commit::{Ctx, cf, storage};
use crate::keys::*;

// ---- operations run on the committer ---------------------------------------

pub(crate) fn account_state(ctx: &Ctx<'_>, a: AccountId) -> Result<AccountState> {
    match ctx.get(CF_ACCOUNT, &acct(a))? {
        Some(b) => AccountState::decode(&b),
        None => Err(Error::NotFound(format!("account {a}"))),
    }
}

pub(crate) fn put_account_state(ctx: &mut Ctx<'_>, a: AccountId, s: &AccountState) -> Result<()> {
    ctx.put(CF_ACCOUNT, &acct(a), &s.encode())
}

pub(crate) fn folder_rec(ctx: &Ctx<'_>, a: AccountId, f: FolderId) -> Result<FolderInfo> {
    match ctx.get(CF_FOLDER, &folder_key(a, f))? {
        Some(b) => decode_folder(f, &b),
        None => Err(Error::NotFound(format!("folder {} of account {a}", f.0))),
    }
}

pub(crate) fn put_folder(ctx: &mut Ctx<'_>, a: AccountId, f: &FolderInfo) -> Result<()> {
    ctx.put(CF_FOLDER, &folder_key(a, f.id), &encode_folder(f))
}

/// Takes the next MODSEQ and records the change.
pub(crate) fn log_change(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    s: &mut AccountState,
    folder: FolderId,
    kind: ChangeKind,
) -> Result<ModSeq> {
    s.highest_modseq += 1;
    let m = ModSeq(s.highest_modseq);
    ctx.put(CF_CHANGELOG, &changelog_key(a, m), &encode_change(folder, &kind))?;
    ctx.notify(a, m);
    Ok(m)
}

fn blob_refs(ctx: &Ctx<'_>, blob: &BlobId) -> Result<u64> {
    Ok(match ctx.get(CF_BLOB_REF, &blob.0)? {
        Some(b) => be64(&b)?,
        None => 0,
    })
}

/// Content arriving in the store, prepared on the caller's thread: its blob
/// id (BLAKE3) and its encoded structure, so that the committer only writes.
pub(crate) struct NewBlob {
    pub id: BlobId,
    pub content: Bytes,
    pub structure: Vec<u8>,
}

impl NewBlob {
    pub fn prepare(content: Bytes) -> Result<NewBlob> {
        let id = BlobId::of(&content);
        let structure = encode_structure(&parse_structure(&content))?;
        Ok(NewBlob { id, content, structure })
    }

    /// Bytes it may add to a group (the group-size bound).
    pub fn weight(&self) -> usize {
        self.content.len() + self.structure.len()
    }
}

/// Adds a reference to a blob. The first reference writes the content and
/// its structure, so `new` is needed unless the blob is known to exist.
pub(crate) fn blob_incref(ctx: &mut Ctx<'_>, blob: &BlobId, new: Option<&NewBlob>) -> Result<()> {
    let n = blob_refs(ctx, blob)?;
    if n == 0 {
        let new = new.ok_or_else(|| corrupt("blob referenced but missing"))?;
        ctx.put(CF_BLOB, &blob.0, &new.content)?;
        ctx.put(CF_STRUCTURE, &blob.0, &new.structure)?;
    }
    ctx.put(CF_BLOB_REF, &blob.0, &(n + 1).to_be_bytes())
}

pub(crate) fn blob_decref(ctx: &mut Ctx<'_>, blob: &BlobId) -> Result<()> {
    let n = blob_refs(ctx, blob)?;
    if n <= 1 {
        ctx.delete(CF_BLOB, &blob.0)?;
        ctx.delete(CF_STRUCTURE, &blob.0)?;
        ctx.delete(CF_BLOB_REF, &blob.0)
    } else {
        ctx.put(CF_BLOB_REF, &blob.0, &(n - 1).to_be_bytes())
    }
}

pub(crate) fn check_quota(
    a: AccountId,
    s: &AccountState,
    quota: QuotaLimit,
    add_bytes: u64,
    add_msgs: u64,
) -> Result<()> {
    if quota.max_bytes > 0 && s.bytes + add_bytes > quota.max_bytes {
        return Err(Error::OverQuota(format!(
            "account {a}: {} of {} bytes used, message needs {add_bytes}",
            s.bytes, quota.max_bytes
        )));
    }
    if quota.max_messages > 0 && s.messages + add_msgs > quota.max_messages {
        return Err(Error::OverQuota(format!("account {a}: {} of {} messages stored", s.messages, quota.max_messages)));
    }
    Ok(())
}

fn clean_keywords(keywords: &[String]) -> Result<Vec<String>> {
    let mut set = BTreeSet::new();
    for k in keywords {
        if k.is_empty() || k.len() > 255 || k.starts_with('\\') || k.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(Error::Invalid(format!("keyword {k:?} is not a valid flag keyword")));
        }
        set.insert(k.clone());
    }
    Ok(set.into_iter().collect())
}

/// Adds a message record to a folder, updating every counter.
#[allow(clippy::too_many_arguments)]
fn insert_message(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    s: &mut AccountState,
    folder: &mut FolderInfo,
    flags: Flags,
    keywords: Vec<String>,
    internal_date: i64,
    size: u64,
    blob: BlobId,
) -> Result<(Uid, ModSeq)> {
    let uid = folder.uid_next;
    if uid.0 == u32::MAX {
        return Err(Error::Conflict(format!("folder {} has used up its UIDs", folder.name)));
    }
    folder.uid_next = Uid(uid.0 + 1);
    let modseq = log_change(ctx, a, s, folder.id, ChangeKind::Added { uid })?;
    let meta = MessageMeta { uid, modseq, flags, keywords, internal_date, size, blob };
    ctx.put(CF_MESSAGE, &message_key(a, folder.id, uid), &encode_message(&meta))?;
    folder.highest_modseq = modseq;
    folder.messages += 1;
    folder.size += size;
    if !flags.contains(Flags::SEEN) {
        folder.unseen += 1;
    }
    s.bytes += size;
    s.messages += 1;
    Ok((uid, modseq))
}

/// Removes a message record, updating every counter.
fn remove_message(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    s: &mut AccountState,
    folder: &mut FolderInfo,
    meta: &MessageMeta,
) -> Result<ModSeq> {
    ctx.delete(CF_MESSAGE, &message_key(a, folder.id, meta.uid))?;
    blob_decref(ctx, &meta.blob)?;
    let modseq = log_change(ctx, a, s, folder.id, ChangeKind::Expunged { uid: meta.uid })?;
    folder.highest_modseq = modseq;
    folder.messages -= 1;
    folder.size -= meta.size;
    if !meta.flags.contains(Flags::SEEN) {
        folder.unseen -= 1;
    }
    s.bytes -= meta.size;
    s.messages -= 1;
    Ok(modseq)
}

fn get_message(ctx: &Ctx<'_>, a: AccountId, f: FolderId, uid: Uid) -> Result<Option<MessageMeta>> {
    ctx.get(CF_MESSAGE, &message_key(a, f, uid))?.map(|b| decode_message(uid, &b)).transpose()
}

/// Checks a folder name: `/`-separated, non-empty levels, no control characters.
pub(crate) fn validate_folder_name(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::Invalid(format!("folder name {name:?}: {why}")));
    if name.is_empty() || name.len() > 1000 {
        return bad("must be 1 to 1000 bytes");
    }
    if name.split('/').any(|level| level.is_empty()) {
        return bad("empty hierarchy level");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("control characters are not allowed");
    }
    if name.contains('*') || name.contains('%') {
        return bad("'*' and '%' are reserved for LIST patterns");
    }
    Ok(())
}

fn next_uidvalidity(ctx: &mut Ctx<'_>) -> Result<u32> {
    let last = match ctx.get(CF_META, META_LAST_UIDVALIDITY)? {
        Some(b) => be32(&b)?,
        None => 0,
    };
    let now = u32::try_from(unix_now()).unwrap_or(u32::MAX - 1);
    let v = now.max(last.saturating_add(1)).max(1);
    ctx.put(CF_META, META_LAST_UIDVALIDITY, &v.to_be_bytes())?;
    Ok(v)
}

pub(crate) fn create_folder_op(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    name: &str,
    kind: FolderKind,
    special_use: Option<SpecialUse>,
) -> Result<FolderInfo> {
    validate_folder_name(name)?;
    let name = normalize_folder_name(name);
    let mut s = account_state(ctx, a)?;
    // An empty entry is a subscription to the name alone: the new folder
    // takes it over (and is subscribed, as every new folder is).
    if ctx.get(CF_FOLDER_NAME, &folder_name_key(a, &name))?.is_some_and(|v| !v.is_empty()) {
        return Err(Error::AlreadyExists(format!("folder {name}")));
    }
    let id = FolderId(s.next_folder);
    s.next_folder += 1;
    let modseq = log_change(ctx, a, &mut s, id, ChangeKind::FolderCreated)?;
    let info = FolderInfo {
        id,
        name: name.clone(),
        kind,
        special_use,
        uid_validity: next_uidvalidity(ctx)?,
        uid_next: Uid(1),
        highest_modseq: modseq,
        messages: 0,
        unseen: 0,
        size: 0,
        subscribed: true,
    };
    put_folder(ctx, a, &info)?;
    ctx.put(CF_FOLDER_NAME, &folder_name_key(a, &name), &id.0.to_be_bytes())?;
    put_account_state(ctx, a, &s)?;
    Ok(info)
}

/// Deletes a folder, its messages and its name index entry.
pub(crate) fn delete_folder_op(ctx: &mut Ctx<'_>, a: AccountId, f: FolderId, allow_inbox: bool) -> Result<()> {
    let folder = folder_rec(ctx, a, f)?;
    if folder.name == "INBOX" && !allow_inbox {
        return Err(Error::Invalid("INBOX cannot be deleted".into()));
    }
    let mut s = account_state(ctx, a)?;
    for (k, v) in ctx.scan(CF_MESSAGE, &folder_key(a, f))? {
        let meta = decode_message(Uid(be32(&k[8..])?), &v)?;
        ctx.delete(CF_MESSAGE, &k)?;
        blob_decref(ctx, &meta.blob)?;
        s.bytes -= meta.size;
        s.messages -= 1;
    }
    let (bytes, items) = crate::items::drop_folder_items(ctx, a, f)?;
    s.bytes -= bytes;
    s.messages -= items;
    ctx.delete(CF_FOLDER, &folder_key(a, f))?;
    // RFC 3501 6.3.4: a subscription outlives its folder, as a name entry
    // without a folder id.
    if folder.subscribed && folder.kind == FolderKind::Mail {
        ctx.put(CF_FOLDER_NAME, &folder_name_key(a, &folder.name), &[])?;
    } else {
        ctx.delete(CF_FOLDER_NAME, &folder_name_key(a, &folder.name))?;
    }
    crate::acl::drop_folder_acl(ctx, a, f)?;
    log_change(ctx, a, &mut s, f, ChangeKind::FolderDeleted)?;
    put_account_state(ctx, a, &s)
}

fn append_op(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    f: FolderId,
    msg: NewMessage,
    blob: NewBlob,
    quota: QuotaLimit,
) -> Result<Appended> {
    let keywords = clean_keywords(&msg.keywords)?;
    let mut s = account_state(ctx, a)?;
    let mut folder = folder_rec(ctx, a, f)?;
    let size = msg.content.len() as u64;
    check_quota(a, &s, quota, size, 1)?;
    blob_incref(ctx, &blob.id, Some(&blob))?;
    let (uid, modseq) =
        insert_message(ctx, a, &mut s, &mut folder, msg.flags, keywords, msg.internal_date, size, blob.id)?;
    put_folder(ctx, a, &folder)?;
    put_account_state(ctx, a, &s)?;
    Ok(Appended { account: a, folder: f, uid_validity: folder.uid_validity, uid, modseq })
}

pub(crate) fn deliver_op(
    ctx: &mut Ctx<'_>,
    blob: NewBlob,
    internal_date: i64,
    targets: Vec<DeliveryTarget>,
) -> Result<Vec<Appended>> {
    let size = blob.content.len() as u64;
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let mut s = account_state(ctx, t.account)?;
        let mut folder = folder_rec(ctx, t.account, t.folder)?;
        check_quota(t.account, &s, t.quota, size, 1)?;
        blob_incref(ctx, &blob.id, Some(&blob))?;
        let (uid, modseq) =
            insert_message(ctx, t.account, &mut s, &mut folder, t.flags, Vec::new(), internal_date, size, blob.id)?;
        put_folder(ctx, t.account, &folder)?;
        put_account_state(ctx, t.account, &s)?;
        out.push(Appended { account: t.account, folder: t.folder, uid_validity: folder.uid_validity, uid, modseq });
    }
    Ok(out)
}

fn change_flags_op(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    f: FolderId,
    uids: Vec<Uid>,
    change: FlagChange,
) -> Result<FlagsChanged> {
    let keywords = clean_keywords(&change.keywords)?;
    let mut s = account_state(ctx, a)?;
    let mut folder = folder_rec(ctx, a, f)?;
    let mut out = FlagsChanged::default();
    for uid in uids {
        let Some(mut meta) = get_message(ctx, a, f, uid)? else { continue };
        if let Some(since) = change.unchanged_since
            && meta.modseq > since
        {
            out.modified.push(uid);
            continue;
        }
        let (flags, kws) = match change.op {
            FlagOp::Add => {
                let mut k: BTreeSet<String> = meta.keywords.iter().cloned().collect();
                k.extend(keywords.iter().cloned());
                (meta.flags.union(change.flags), k.into_iter().collect::<Vec<_>>())
            }
            FlagOp::Remove => (
                meta.flags.without(change.flags),
                meta.keywords.iter().filter(|k| !keywords.contains(k)).cloned().collect(),
            ),
            FlagOp::Replace => (change.flags, keywords.clone()),
        };
        if flags == meta.flags && kws == meta.keywords {
            continue;
        }
        let was_seen = meta.flags.contains(Flags::SEEN);
        let is_seen = flags.contains(Flags::SEEN);
        if was_seen && !is_seen {
            folder.unseen += 1;
        } else if !was_seen && is_seen {
            folder.unseen -= 1;
        }
        let modseq = log_change(ctx, a, &mut s, f, ChangeKind::Flags { uid })?;
        meta.flags = flags;
        meta.keywords = kws;
        meta.modseq = modseq;
        folder.highest_modseq = modseq;
        ctx.put(CF_MESSAGE, &message_key(a, f, uid), &encode_message(&meta))?;
        out.changed.push((uid, modseq, meta.flags, meta.keywords));
    }
    put_folder(ctx, a, &folder)?;
    put_account_state(ctx, a, &s)?;
    Ok(out)
}

fn copy_op(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    from: FolderId,
    uids: Vec<Uid>,
    to: FolderId,
    quota: Option<QuotaLimit>,
    remove: bool,
) -> Result<Copied> {
    // A move within one folder (RFC 6851 allows it) gives each message a
    // new UID, in one atomic write like any other move.
    let mut s = account_state(ctx, a)?;
    let mut src = folder_rec(ctx, a, from)?;
    let mut dst = folder_rec(ctx, a, to)?;
    let mut out = Copied { uid_validity: dst.uid_validity, uids: Vec::new() };
    let mut sorted = uids;
    sorted.sort();
    sorted.dedup();
    for uid in sorted {
        let Some(meta) = get_message(ctx, a, from, uid)? else { continue };
        if let Some(q) = quota {
            check_quota(a, &s, q, meta.size, 1)?;
        }
        blob_incref(ctx, &meta.blob, None)?;
        let target = if from == to { &mut src } else { &mut dst };
        let (new_uid, _) = insert_message(
            ctx,
            a,
            &mut s,
            target,
            meta.flags,
            meta.keywords.clone(),
            meta.internal_date,
            meta.size,
            meta.blob,
        )?;
        if remove {
            remove_message(ctx, a, &mut s, &mut src, &meta)?;
        }
        out.uids.push((uid, new_uid));
    }
    put_folder(ctx, a, &src)?;
    if from != to {
        put_folder(ctx, a, &dst)?;
    }
    put_account_state(ctx, a, &s)?;
    Ok(out)
}

fn expunge_op(ctx: &mut Ctx<'_>, a: AccountId, f: FolderId, uids: Vec<Uid>) -> Result<Vec<Uid>> {
    let mut s = account_state(ctx, a)?;
    let mut folder = folder_rec(ctx, a, f)?;
    let mut sorted = uids;
    sorted.sort();
    sorted.dedup();
    let mut out = Vec::new();
    for uid in sorted {
        let Some(meta) = get_message(ctx, a, f, uid)? else { continue };
        remove_message(ctx, a, &mut s, &mut folder, &meta)?;
        out.push(uid);
    }
    put_folder(ctx, a, &folder)?;
    put_account_state(ctx, a, &s)?;
    Ok(out)
}

fn rename_folder_op(ctx: &mut Ctx<'_>, a: AccountId, f: FolderId, new_name: &str) -> Result<()> {
    validate_folder_name(new_name)?;
    let new_name = normalize_folder_name(new_name);
    let folder = folder_rec(ctx, a, f)?;
    if folder.name == "INBOX" {
        return Err(Error::Invalid("INBOX cannot be renamed by the store; move its messages instead".into()));
    }
    if new_name == "INBOX" {
        return Err(Error::AlreadyExists("folder INBOX".into()));
    }
    if new_name == folder.name {
        return Ok(());
    }
    if new_name.starts_with(&format!("{}/", folder.name)) {
        return Err(Error::Invalid(format!("cannot move {} under itself", folder.name)));
    }
    // The folder and every folder below it move (RFC 9051 6.3.6).
    let mut moves = vec![(folder.clone(), new_name.clone())];
    let child_prefix = format!("{}/", folder.name);
    for (k, v) in ctx.scan(CF_FOLDER, &acct(a))? {
        let child = decode_folder(FolderId(be32(&k[4..])?), &v)?;
        if let Some(rest) = child.name.strip_prefix(&child_prefix) {
            moves.push((child.clone(), format!("{new_name}/{rest}")));
        }
    }
    for (_, target) in &moves {
        if ctx.get(CF_FOLDER_NAME, &folder_name_key(a, target))?.is_some_and(|v| !v.is_empty()) {
            return Err(Error::AlreadyExists(format!("folder {target}")));
        }
    }
    let mut s = account_state(ctx, a)?;
    for (mut info, target) in moves {
        ctx.delete(CF_FOLDER_NAME, &folder_name_key(a, &info.name))?;
        ctx.put(CF_FOLDER_NAME, &folder_name_key(a, &target), &info.id.0.to_be_bytes())?;
        info.name = target;
        info.highest_modseq = log_change(ctx, a, &mut s, info.id, ChangeKind::FolderUpdated)?;
        put_folder(ctx, a, &info)?;
    }
    put_account_state(ctx, a, &s)
}

/// Subscriptions to names without a mailbox one account may hold: each
/// is a record of its own, outside any quota.
pub const MAX_NAME_SUBSCRIPTIONS: usize = 1000;

/// SUBSCRIBE / UNSUBSCRIBE by name: the folder's flag, or the name entry
/// without a folder id that keeps a subscription to a name no folder has.
fn subscribe_name_op(ctx: &mut Ctx<'_>, a: AccountId, name: &str, subscribed: bool) -> Result<()> {
    validate_folder_name(name)?;
    let key = folder_name_key(a, name);
    match ctx.get(CF_FOLDER_NAME, &key)? {
        Some(id) if !id.is_empty() => {
            let folder = folder_rec(ctx, a, FolderId(be32(&id)?))?;
            // Calendars, contacts and the like are not IMAP mailboxes.
            if folder.kind != FolderKind::Mail {
                return Err(Error::NotFound(format!("mailbox {name}")));
            }
            subscribe_op(ctx, a, folder.id, subscribed)
        }
        Some(_) if !subscribed => ctx.delete(CF_FOLDER_NAME, &key),
        None if subscribed => {
            let held = ctx.scan(CF_FOLDER_NAME, &acct(a))?.iter().filter(|(_, v)| v.is_empty()).count();
            if held >= MAX_NAME_SUBSCRIPTIONS {
                return Err(Error::Conflict(format!(
                    "already {MAX_NAME_SUBSCRIPTIONS} subscriptions to names without a mailbox"
                )));
            }
            ctx.put(CF_FOLDER_NAME, &key, &[])
        }
        None => Err(Error::NotFound(format!("subscription {name}"))),
        Some(_) => Ok(()),
    }
}

fn subscribe_op(ctx: &mut Ctx<'_>, a: AccountId, f: FolderId, subscribed: bool) -> Result<()> {
    let mut folder = folder_rec(ctx, a, f)?;
    if folder.subscribed == subscribed {
        return Ok(());
    }
    let mut s = account_state(ctx, a)?;
    folder.subscribed = subscribed;
    folder.highest_modseq = log_change(ctx, a, &mut s, f, ChangeKind::FolderUpdated)?;
    put_folder(ctx, a, &folder)?;
    put_account_state(ctx, a, &s)
}

// ---- reads (outside the committer: they see only durable data) -------------

impl Store {
    pub(crate) fn read_account_state(&self, a: AccountId) -> Result<AccountState> {
        match self.db.get_cf(cf(&self.db, CF_ACCOUNT), acct(a)).map_err(storage)? {
            Some(b) => AccountState::decode(&b),
            None => Err(Error::NotFound(format!("account {a}"))),
        }
    }

    /// Every (key, value) under a prefix of a column family, durable data only.
    /// Every record of a folder in a family keyed account-folder-uid, in
    /// UID order, decoded straight from the iterator's buffers: a
    /// 20,000-message folder costs no allocation per record but what the
    /// decoder makes.
    pub(crate) fn folder_records<T>(
        &self,
        family: &str,
        account: AccountId,
        folder: FolderId,
        decode: impl Fn(Uid, &[u8]) -> Result<T>,
    ) -> Result<Vec<T>> {
        let prefix = folder_key(account, folder);
        let mut ro = ReadOptions::default();
        if let Some(end) = prefix_end(&prefix) {
            ro.set_iterate_upper_bound(end);
        }
        let mut it = self.db.raw_iterator_cf_opt(cf(&self.db, family), ro);
        it.seek(prefix);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            out.push(decode(Uid(be32(k.get(8..).unwrap_or_default())?), v)?);
            it.next();
        }
        it.status().map_err(storage)?;
        Ok(out)
    }

    pub(crate) fn scan(&self, cf_name: &str, prefix: &[u8]) -> Result<Vec<Row>> {
        let mut ro = ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            ro.set_iterate_upper_bound(end);
        }
        self.db
            .iterator_cf_opt(cf(&self.db, cf_name), ro, IteratorMode::From(prefix, Direction::Forward))
            .map(|r| r.map_err(storage))
            .collect()
    }
}

#[async_trait]
impl MailStore for Store {
    async fn create_folder(
        &self,
        account: AccountId,
        name: &str,
        kind: FolderKind,
        special_use: Option<SpecialUse>,
    ) -> Result<FolderInfo> {
        let name = name.to_owned();
        self.committer.submit(0, move |ctx| create_folder_op(ctx, account, &name, kind, special_use)).await
    }

    async fn create_unsubscribed_folder(
        &self,
        account: AccountId,
        name: &str,
        kind: FolderKind,
        special_use: Option<SpecialUse>,
    ) -> Result<FolderInfo> {
        let name = name.to_owned();
        self.committer
            .submit(0, move |ctx| {
                let key = folder_name_key(account, &name);
                let was_subscribed = ctx.get(CF_FOLDER_NAME, &key)?.is_some_and(|v| v.is_empty());
                let mut info = create_folder_op(ctx, account, &name, kind, special_use)?;
                if !was_subscribed {
                    info.subscribed = false;
                    put_folder(ctx, account, &info)?;
                }
                Ok(info)
            })
            .await
    }

    async fn rename_folder(&self, account: AccountId, folder: FolderId, new_name: &str) -> Result<()> {
        let new_name = new_name.to_owned();
        self.committer.submit(0, move |ctx| rename_folder_op(ctx, account, folder, &new_name)).await
    }

    async fn delete_folder(&self, account: AccountId, folder: FolderId) -> Result<()> {
        self.committer.submit(0, move |ctx| delete_folder_op(ctx, account, folder, false)).await?;
        self.listings.forget(account, Some(folder));
        Ok(())
    }

    async fn set_subscribed(&self, account: AccountId, folder: FolderId, subscribed: bool) -> Result<()> {
        self.committer.submit(0, move |ctx| subscribe_op(ctx, account, folder, subscribed)).await
    }

    async fn subscribed_names(&self, account: AccountId) -> Result<Vec<String>> {
        self.read_account_state(account)?;
        self.scan(CF_FOLDER_NAME, &acct(account))?
            .into_iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(k, _)| {
                String::from_utf8(k[4..].to_vec()).map_err(|_| Error::Storage("folder name is not UTF-8".into()))
            })
            .collect()
    }

    async fn set_name_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()> {
        let name = name.to_owned();
        self.committer.submit(0, move |ctx| subscribe_name_op(ctx, account, &name, subscribed)).await
    }

    async fn folders(&self, account: AccountId) -> Result<Vec<FolderInfo>> {
        self.read_account_state(account)?;
        let mut out = self
            .scan(CF_FOLDER, &acct(account))?
            .into_iter()
            .map(|(k, v)| decode_folder(FolderId(be32(&k[4..])?), &v))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn folder(&self, account: AccountId, folder: FolderId) -> Result<Option<FolderInfo>> {
        self.db
            .get_cf(cf(&self.db, CF_FOLDER), folder_key(account, folder))
            .map_err(storage)?
            .map(|b| decode_folder(folder, &b))
            .transpose()
    }

    async fn folder_by_name(&self, account: AccountId, name: &str) -> Result<Option<FolderInfo>> {
        let id = match self.db.get_cf(cf(&self.db, CF_FOLDER_NAME), folder_name_key(account, name)).map_err(storage)? {
            // An empty entry: a subscription, no folder.
            Some(b) if b.is_empty() => return Ok(None),
            Some(b) => FolderId(be32(&b)?),
            None => return Ok(None),
        };
        self.folder(account, id).await
    }

    async fn append(
        &self,
        account: AccountId,
        folder: FolderId,
        message: NewMessage,
        quota: QuotaLimit,
    ) -> Result<Appended> {
        // Hash and parse here, on the caller's thread, so the committer only writes.
        let blob = NewBlob::prepare(message.content.clone())?;
        self.committer.submit(blob.weight(), move |ctx| append_op(ctx, account, folder, message, blob, quota)).await
    }

    async fn deliver(&self, content: Bytes, internal_date: i64, targets: &[DeliveryTarget]) -> Result<Vec<Appended>> {
        let targets = targets.to_vec();
        let blob = NewBlob::prepare(content)?;
        self.committer.submit(blob.weight(), move |ctx| deliver_op(ctx, blob, internal_date, targets)).await
    }

    async fn messages(&self, account: AccountId, folder: FolderId) -> Result<Vec<MessageMeta>> {
        self.folder_records(CF_MESSAGE, account, folder, decode_message)
    }

    async fn listing(&self, account: AccountId, folder: FolderId) -> Result<Option<Listing>> {
        // The folder first, then the messages (see the listings module).
        let Some(info) = self.folder(account, folder).await? else { return Ok(None) };
        if let Some(kept) = self.listings.get(account, folder, info.highest_modseq) {
            return Ok(Some(kept));
        }
        let listing = Listing::new(info.highest_modseq, self.messages(account, folder).await?);
        self.listings.insert(account, folder, listing.clone());
        Ok(Some(listing))
    }

    async fn message(&self, account: AccountId, folder: FolderId, uid: Uid) -> Result<Option<MessageMeta>> {
        self.db
            .get_cf(cf(&self.db, CF_MESSAGE), message_key(account, folder, uid))
            .map_err(storage)?
            .map(|b| decode_message(uid, &b))
            .transpose()
    }

    async fn content(&self, blob: BlobId) -> Result<Bytes> {
        // Blob-file errors do not name the file: the damage is recorded
        // against this store.
        match self.db.get_cf(cf(&self.db, CF_BLOB), blob.0).map_err(|e| self.read_failed(e))? {
            Some(v) => Ok(Bytes::from(v)),
            None => Err(Error::NotFound(format!("message content {}", blob.to_hex()))),
        }
    }

    async fn header(&self, blob: BlobId) -> Result<Bytes> {
        if let Some(header) = self.blobs.headers.get(&blob) {
            return Ok(header);
        }
        let content = self.content(blob).await?;
        Ok(self.blobs.headers.insert_header(blob, &content))
    }

    async fn structure(&self, blob: BlobId) -> Result<Arc<MessageStructure>> {
        if let Some(kept) = self.blobs.structures.get(&blob) {
            return Ok(kept);
        }
        let record = self.db.get_pinned_cf(cf(&self.db, CF_STRUCTURE), blob.0).map_err(storage)?;
        let problem = match record.as_deref().map(|r| (r.len(), decode_structure(r))) {
            Some((len, Ok(s))) => {
                let s = Arc::new(s);
                // Decoded, a structure takes about three times its record.
                self.blobs.structures.insert(blob, s.clone(), len * 3);
                return Ok(s);
            }
            Some((_, Err(e))) => e.to_string(),
            None => "missing".to_owned(),
        };
        // A store that passes `check` never gets here; serve the fetch anyway.
        let content = self.content(blob).await?;
        tracing::warn!(blob = %blob.to_hex(), problem, "message structure record unusable; computed from the content");
        Ok(Arc::new(parse_structure(&content)))
    }

    async fn change_flags(
        &self,
        account: AccountId,
        folder: FolderId,
        uids: &[Uid],
        change: &FlagChange,
    ) -> Result<FlagsChanged> {
        let uids = uids.to_vec();
        let change = change.clone();
        self.committer.submit(0, move |ctx| change_flags_op(ctx, account, folder, uids, change)).await
    }

    async fn copy(
        &self,
        account: AccountId,
        from: FolderId,
        uids: &[Uid],
        to: FolderId,
        quota: QuotaLimit,
    ) -> Result<Copied> {
        let uids = uids.to_vec();
        self.committer.submit(0, move |ctx| copy_op(ctx, account, from, uids, to, Some(quota), false)).await
    }

    async fn move_messages(&self, account: AccountId, from: FolderId, uids: &[Uid], to: FolderId) -> Result<Copied> {
        let uids = uids.to_vec();
        self.committer.submit(0, move |ctx| copy_op(ctx, account, from, uids, to, None, true)).await
    }

    async fn expunge(&self, account: AccountId, folder: FolderId, uids: &[Uid]) -> Result<Vec<Uid>> {
        let uids = uids.to_vec();
        self.committer.submit(0, move |ctx| expunge_op(ctx, account, folder, uids)).await
    }

    async fn highest_modseq(&self, account: AccountId) -> Result<ModSeq> {
        Ok(ModSeq(self.read_account_state(account)?.highest_modseq))
    }

    async fn changes_since(&self, account: AccountId, since: ModSeq) -> Result<Vec<Change>> {
        let mut ro = ReadOptions::default();
        if let Some(end) = prefix_end(&acct(account)) {
            ro.set_iterate_upper_bound(end);
        }
        let start = changelog_key(account, ModSeq(since.0.saturating_add(1)));
        self.db
            .iterator_cf_opt(cf(&self.db, CF_CHANGELOG), ro, IteratorMode::From(&start, Direction::Forward))
            .map(|r| {
                let (k, v) = r.map_err(storage)?;
                let (folder, kind) = decode_change(&v)?;
                Ok(Change { modseq: ModSeq(be64(&k[4..])?), folder, kind })
            })
            .collect()
    }

    async fn set_rights(&self, owner: AccountId, folder: FolderId, grantee: Grantee, rights: Rights) -> Result<()> {
        self.committer.submit(0, move |ctx| crate::acl::set_rights_op(ctx, owner, folder, grantee, rights)).await
    }

    async fn acl(&self, owner: AccountId, folder: FolderId) -> Result<Vec<(Grantee, Rights)>> {
        let prefix = crate::acl::grant_prefix(owner, folder);
        crate::acl::decode_acl(prefix.len(), self.scan(CF_ACL, &prefix)?)
    }

    async fn shared_with(&self, account: AccountId) -> Result<Vec<SharedFolder>> {
        let direct = crate::acl::reverse_prefix(Grantee::Account(account));
        let anyone = crate::acl::reverse_prefix(Grantee::Anyone);
        let merged = crate::acl::merge_shared(
            account,
            self.scan(CF_ACL, &direct)?,
            self.scan(CF_ACL, &anyone)?,
            direct.len(),
            anyone.len(),
        )?;
        crate::acl::shared_list(merged, |owner, folder| {
            let key = crate::acl::subscription_key(owner, folder, account);
            Ok(self.db.get_cf(cf(&self.db, CF_ACL), key).map_err(storage)?.is_some())
        })
    }

    async fn set_shared_subscription(
        &self,
        account: AccountId,
        owner: AccountId,
        folder: FolderId,
        subscribed: bool,
    ) -> Result<()> {
        self.committer
            .submit(0, move |ctx| crate::acl::set_subscription_op(ctx, account, owner, folder, subscribed))
            .await
    }

    async fn quota_usage(&self, account: AccountId) -> Result<QuotaUsage> {
        let s = self.read_account_state(account)?;
        Ok(QuotaUsage { bytes: s.bytes, messages: s.messages })
    }
}
