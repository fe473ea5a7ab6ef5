//! [`ItemStore`] on RocksDB: groupware items beside the mail.
//!
//! Implementation notes:
//!
//! - An item record (`item`, keyed like a message) holds the MODSEQ, size,
//!   write time, blob id, resource name and the postcard [`ItemIndex`]
//!   (axigen_core::groupware::ItemIndex). The folder's `item_key` entries
//!   map resource names and object UIDs to item UIDs, and keep the name of
//!   each removed item (a tombstone) for the DAV sync report.
//! - Content goes to the `blob` family with a reference count, as a
//!   message does, prepared on the caller's thread ([`NewBlob::prepare`]).
//! - Folder counters (`messages`, `size`) and the account's quota usage
//!   count items as they count messages; `unseen` stays 0.

use async_trait::async_trait;
use axigen_core::itemstore::{
    ItemChanges, ItemMeta, ItemRemoval, ItemStore, ItemWrite, NewItem, Precondition, folder_accepts, validate_item_name,
};
use axigen_core::mailstore::{ChangeKind, FolderId, FolderInfo, MailStore, ModSeq, QuotaLimit, Uid};
use axigen_core::model::AccountId;
use axigen_core::{Error, Result, unix_now};

use crate::Store;
use crate::commit::{Ctx, cf, storage};
use crate::keys::*;
use crate::mail::{
    NewBlob, account_state, blob_decref, blob_incref, check_quota, folder_rec, log_change, put_account_state,
    put_folder,
};

fn item_uid_at(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<Uid>> {
    ctx.get(CF_ITEM_KEY, key)?.map(|v| be32(&v).map(Uid)).transpose()
}

fn item_at(ctx: &Ctx<'_>, a: AccountId, f: FolderId, uid: Uid) -> Result<Option<ItemMeta>> {
    ctx.get(CF_ITEM, &item_key(a, f, uid))?.map(|b| decode_item(uid, &b)).transpose()
}

fn item_named(ctx: &Ctx<'_>, a: AccountId, f: FolderId, name: &str) -> Result<Option<ItemMeta>> {
    match item_uid_at(ctx, &item_name_key(a, f, name))? {
        Some(uid) => Ok(Some(item_at(ctx, a, f, uid)?.ok_or_else(|| corrupt("item name index"))?)),
        None => Ok(None),
    }
}

/// The item of the folder that has this object UID, if any.
fn item_with_object_uid(ctx: &Ctx<'_>, a: AccountId, f: FolderId, object_uid: &str) -> Result<Option<ItemMeta>> {
    match item_uid_at(ctx, &item_uid_key(a, f, object_uid))? {
        Some(uid) => Ok(Some(item_at(ctx, a, f, uid)?.ok_or_else(|| corrupt("item UID index"))?)),
        None => Ok(None),
    }
}

fn items_folder(ctx: &Ctx<'_>, a: AccountId, f: FolderId) -> Result<FolderInfo> {
    let folder = folder_rec(ctx, a, f)?;
    if folder.kind == axigen_core::mailstore::FolderKind::Mail {
        return Err(Error::Invalid(format!("folder {} holds mail, not items", folder.name)));
    }
    Ok(folder)
}

/// Writes a new item record with its index entries, taking a UID.
#[allow(clippy::too_many_arguments)]
fn insert_item(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    s: &mut AccountState,
    folder: &mut FolderInfo,
    name: &str,
    blob: axigen_core::mailstore::BlobId,
    size: u64,
    index: axigen_core::groupware::ItemIndex,
) -> Result<ItemMeta> {
    let uid = folder.uid_next;
    if uid.0 == u32::MAX {
        return Err(Error::Conflict(format!("folder {} has used up its UIDs", folder.name)));
    }
    folder.uid_next = Uid(uid.0 + 1);
    let modseq = log_change(ctx, a, s, folder.id, ChangeKind::Added { uid })?;
    let meta = ItemMeta { uid, name: name.to_owned(), modseq, blob, size, modified: unix_now() as i64, index };
    ctx.put(CF_ITEM, &item_key(a, folder.id, uid), &encode_item(&meta)?)?;
    ctx.put(CF_ITEM_KEY, &item_name_key(a, folder.id, name), &uid.0.to_be_bytes())?;
    ctx.put(CF_ITEM_KEY, &item_uid_key(a, folder.id, &meta.index.uid), &uid.0.to_be_bytes())?;
    folder.highest_modseq = modseq;
    folder.messages += 1;
    folder.size += size;
    s.bytes += size;
    s.messages += 1;
    Ok(meta)
}

/// Removes an item record and its index entries, leaving a tombstone.
/// The blob reference is the caller's to drop (a move keeps it).
fn drop_item(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    s: &mut AccountState,
    folder: &mut FolderInfo,
    item: &ItemMeta,
) -> Result<ModSeq> {
    ctx.delete(CF_ITEM, &item_key(a, folder.id, item.uid))?;
    ctx.delete(CF_ITEM_KEY, &item_name_key(a, folder.id, &item.name))?;
    ctx.delete(CF_ITEM_KEY, &item_uid_key(a, folder.id, &item.index.uid))?;
    ctx.put(CF_ITEM_KEY, &item_tombstone_key(a, folder.id, item.uid), item.name.as_bytes())?;
    let modseq = log_change(ctx, a, s, folder.id, ChangeKind::Expunged { uid: item.uid })?;
    folder.highest_modseq = modseq;
    folder.messages -= 1;
    folder.size -= item.size;
    s.bytes -= item.size;
    s.messages -= 1;
    Ok(modseq)
}

#[allow(clippy::too_many_arguments)]
fn put_item_op(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    f: FolderId,
    name: &str,
    item: NewItem,
    blob: NewBlob,
    condition: Precondition,
    quota: QuotaLimit,
) -> Result<ItemWrite> {
    let mut folder = items_folder(ctx, a, f)?;
    if !folder_accepts(folder.kind, item.index().kind) {
        return Err(Error::Invalid(format!("folder {} does not hold this kind of item", folder.name)));
    }
    let current = item_named(ctx, a, f, name)?;
    if !condition.holds(current.as_ref()) {
        return Ok(ItemWrite::PreconditionFailed);
    }
    if let Some(other) = item_with_object_uid(ctx, a, f, &item.index().uid)?
        && current.as_ref().is_none_or(|c| c.uid != other.uid)
    {
        return Ok(ItemWrite::UidConflict(other.name));
    }
    let mut s = account_state(ctx, a)?;
    let size = item.content().len() as u64;
    match current {
        None => {
            check_quota(a, &s, quota, size, 1)?;
            blob_incref(ctx, &blob.id, Some(&blob))?;
            let meta = insert_item(ctx, a, &mut s, &mut folder, name, blob.id, size, item.index().clone())?;
            put_folder(ctx, a, &folder)?;
            put_account_state(ctx, a, &s)?;
            Ok(ItemWrite::Created(meta))
        }
        Some(old) => {
            check_quota(a, &s, quota, size.saturating_sub(old.size), 0)?;
            blob_incref(ctx, &blob.id, Some(&blob))?;
            blob_decref(ctx, &old.blob)?;
            if old.index.uid != item.index().uid {
                ctx.delete(CF_ITEM_KEY, &item_uid_key(a, f, &old.index.uid))?;
                ctx.put(CF_ITEM_KEY, &item_uid_key(a, f, &item.index().uid), &old.uid.0.to_be_bytes())?;
            }
            let modseq = log_change(ctx, a, &mut s, f, ChangeKind::Updated { uid: old.uid })?;
            let meta = ItemMeta {
                modseq,
                blob: blob.id,
                size,
                modified: unix_now() as i64,
                index: item.index().clone(),
                ..old.clone()
            };
            ctx.put(CF_ITEM, &item_key(a, f, old.uid), &encode_item(&meta)?)?;
            folder.highest_modseq = modseq;
            folder.size = folder.size - old.size + size;
            s.bytes = s.bytes - old.size + size;
            put_folder(ctx, a, &folder)?;
            put_account_state(ctx, a, &s)?;
            Ok(ItemWrite::Replaced(meta))
        }
    }
}

fn remove_item_op(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    f: FolderId,
    name: &str,
    condition: Precondition,
) -> Result<ItemRemoval> {
    let mut folder = items_folder(ctx, a, f)?;
    let Some(item) = item_named(ctx, a, f, name)? else {
        return Ok(if condition.holds(None) { ItemRemoval::NotFound } else { ItemRemoval::PreconditionFailed });
    };
    if !condition.holds(Some(&item)) {
        return Ok(ItemRemoval::PreconditionFailed);
    }
    let mut s = account_state(ctx, a)?;
    let modseq = drop_item(ctx, a, &mut s, &mut folder, &item)?;
    blob_decref(ctx, &item.blob)?;
    put_folder(ctx, a, &folder)?;
    put_account_state(ctx, a, &s)?;
    Ok(ItemRemoval::Removed(modseq))
}

#[allow(clippy::too_many_arguments)]
fn move_item_op(
    ctx: &mut Ctx<'_>,
    a: AccountId,
    from: FolderId,
    name: &str,
    to: FolderId,
    new_name: &str,
    overwrite: bool,
    condition: Precondition,
) -> Result<Option<ItemWrite>> {
    let mut src = items_folder(ctx, a, from)?;
    let Some(item) = item_named(ctx, a, from, name)? else {
        return Ok(if condition.holds(None) { None } else { Some(ItemWrite::PreconditionFailed) });
    };
    if !condition.holds(Some(&item)) {
        return Ok(Some(ItemWrite::PreconditionFailed));
    }
    if from == to && name == new_name {
        // RFC 4918 9.9.4: source and destination are the same resource.
        return Err(Error::Conflict("an item cannot be moved onto itself".into()));
    }
    if !folder_accepts(items_folder(ctx, a, to)?.kind, item.index.kind) {
        return Err(Error::Invalid("the target folder does not hold this kind of item".into()));
    }
    // Every check before the first write.
    let existing = item_named(ctx, a, to, new_name)?;
    if existing.is_some() && !overwrite {
        return Ok(Some(ItemWrite::PreconditionFailed));
    }
    if let Some(other) = item_with_object_uid(ctx, a, to, &item.index.uid)?
        && !(from == to && other.uid == item.uid)
        && existing.as_ref().is_none_or(|e| e.uid != other.uid)
    {
        return Ok(Some(ItemWrite::UidConflict(other.name)));
    }
    let mut s = account_state(ctx, a)?;
    drop_item(ctx, a, &mut s, &mut src, &item)?;
    put_folder(ctx, a, &src)?;
    let mut dst = folder_rec(ctx, a, to)?;
    if let Some(existing) = &existing {
        drop_item(ctx, a, &mut s, &mut dst, existing)?;
        blob_decref(ctx, &existing.blob)?;
    }
    let meta = insert_item(ctx, a, &mut s, &mut dst, new_name, item.blob, item.size, item.index.clone())?;
    put_folder(ctx, a, &dst)?;
    put_account_state(ctx, a, &s)?;
    Ok(Some(if existing.is_some() { ItemWrite::Replaced(meta) } else { ItemWrite::Created(meta) }))
}

/// Drops a folder's items (a folder or account being deleted): records,
/// index entries, tombstones and blob references. Returns (bytes, items)
/// for the caller's counters.
pub(crate) fn drop_folder_items(ctx: &mut Ctx<'_>, a: AccountId, f: FolderId) -> Result<(u64, u64)> {
    let (mut bytes, mut count) = (0, 0);
    for (k, v) in ctx.scan(CF_ITEM, &folder_key(a, f))? {
        let item = decode_item(Uid(be32(&k[8..])?), &v)?;
        ctx.delete(CF_ITEM, &k)?;
        blob_decref(ctx, &item.blob)?;
        bytes += item.size;
        count += 1;
    }
    for (k, _) in ctx.scan(CF_ITEM_KEY, &folder_key(a, f))? {
        ctx.delete(CF_ITEM_KEY, &k)?;
    }
    Ok((bytes, count))
}

impl Store {
    fn read_item(&self, account: AccountId, folder: FolderId, uid: Uid) -> Result<Option<ItemMeta>> {
        self.db
            .get_cf(cf(&self.db, CF_ITEM), item_key(account, folder, uid))
            .map_err(storage)?
            .map(|b| decode_item(uid, &b))
            .transpose()
    }
}

#[async_trait]
impl ItemStore for Store {
    async fn items(&self, account: AccountId, folder: FolderId) -> Result<Vec<ItemMeta>> {
        self.folder_records(CF_ITEM, account, folder, decode_item)
    }

    async fn item_by_name(&self, account: AccountId, folder: FolderId, name: &str) -> Result<Option<ItemMeta>> {
        let key = item_name_key(account, folder, name);
        match self.db.get_cf(cf(&self.db, CF_ITEM_KEY), key).map_err(storage)? {
            Some(v) => self.read_item(account, folder, Uid(be32(&v)?)),
            None => Ok(None),
        }
    }

    async fn put_item(
        &self,
        account: AccountId,
        folder: FolderId,
        name: &str,
        item: NewItem,
        condition: Precondition,
        quota: QuotaLimit,
    ) -> Result<ItemWrite> {
        validate_item_name(name)?;
        let blob = NewBlob::prepare(item.content().clone())?;
        let name = name.to_owned();
        self.committer
            .submit(blob.weight(), move |ctx| put_item_op(ctx, account, folder, &name, item, blob, condition, quota))
            .await
    }

    async fn remove_item(
        &self,
        account: AccountId,
        folder: FolderId,
        name: &str,
        condition: Precondition,
    ) -> Result<ItemRemoval> {
        let name = name.to_owned();
        self.committer.submit(0, move |ctx| remove_item_op(ctx, account, folder, &name, condition)).await
    }

    async fn move_item(
        &self,
        account: AccountId,
        from: FolderId,
        name: &str,
        to: FolderId,
        new_name: &str,
        overwrite: bool,
        condition: Precondition,
    ) -> Result<Option<ItemWrite>> {
        validate_item_name(new_name)?;
        let (name, new_name) = (name.to_owned(), new_name.to_owned());
        self.committer
            .submit(0, move |ctx| move_item_op(ctx, account, from, &name, to, &new_name, overwrite, condition))
            .await
    }

    async fn item_changes(&self, account: AccountId, folder: FolderId, since: ModSeq) -> Result<Option<ItemChanges>> {
        let Some(info) = self.folder(account, folder).await? else { return Ok(None) };
        let changes = self.changes_since(account, since).await?;
        let mut touched: Vec<(Uid, ModSeq)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // Latest change first, so each UID is judged by where it is now.
        for change in changes.iter().rev().filter(|c| c.folder == folder && c.modseq <= info.highest_modseq) {
            if let ChangeKind::Added { uid } | ChangeKind::Updated { uid } | ChangeKind::Expunged { uid } = change.kind
                && seen.insert(uid)
            {
                touched.push((uid, change.modseq));
            }
        }
        let mut out = ItemChanges { modseq: info.highest_modseq, ..Default::default() };
        let keys = cf(&self.db, CF_ITEM_KEY);
        // Latest first: a name removed twice is reported at its last removal.
        for (uid, modseq) in touched {
            match self.read_item(account, folder, uid)? {
                Some(item) => out.changed.push(item),
                None => {
                    let Some(name) = self.db.get_cf(keys, item_tombstone_key(account, folder, uid)).map_err(storage)?
                    else {
                        continue;
                    };
                    let name = String::from_utf8(name).map_err(|_| corrupt("item tombstone"))?;
                    // A name removed and then taken again is the new item's change.
                    if out.removed.iter().any(|(n, _)| *n == name)
                        || self.db.get_cf(keys, item_name_key(account, folder, &name)).map_err(storage)?.is_some()
                    {
                        continue;
                    }
                    out.removed.push((name, modseq));
                }
            }
        }
        out.changed.sort_by_key(|i| i.modseq);
        out.removed.sort_by_key(|(_, m)| *m);
        Ok(Some(out))
    }

    async fn collection_properties(&self, account: AccountId, folder: FolderId) -> Result<Vec<(String, String)>> {
        let prefix = collection_property_key(account, folder, "");
        self.scan(CF_ITEM_KEY, &prefix)?
            .into_iter()
            .map(|(k, v)| {
                let key = String::from_utf8(k[prefix.len()..].to_vec()).map_err(|_| corrupt("property key"))?;
                let value = String::from_utf8(v.to_vec()).map_err(|_| corrupt("property value"))?;
                Ok((key, value))
            })
            .collect()
    }

    async fn set_collection_properties(
        &self,
        account: AccountId,
        folder: FolderId,
        changes: Vec<(String, Option<String>)>,
    ) -> Result<()> {
        let weight = changes.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, String::len)).sum();
        self.committer
            .submit(weight, move |ctx| {
                items_folder(ctx, account, folder)?;
                for (key, value) in changes {
                    let k = collection_property_key(account, folder, &key);
                    match value {
                        Some(v) => ctx.put(CF_ITEM_KEY, &k, v.as_bytes())?,
                        None => ctx.delete(CF_ITEM_KEY, &k)?,
                    }
                }
                Ok(())
            })
            .await
    }
}
