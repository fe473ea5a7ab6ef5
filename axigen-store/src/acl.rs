//! Folder access lists (format 4): the `acl` column family.
//!
//! | key | value |
//! |---|---|
//! | `G` owner folder grantee | rights (u16): the entry, read by the folder's owner side |
//! | `R` grantee owner folder | rights (u16): the same entry, read by the grantee side |
//! | `S` owner folder account | empty: `account` subscribed to the owner's folder |
//!
//! A grantee is 5 bytes: `0` and four zero bytes for `anyone`, `1` and the
//! account id for an account. Both copies of an entry are written and
//! deleted in the same operation; `server check` verifies they agree.

use std::collections::BTreeMap;

use axigen_core::acl::{Grantee, Rights, SharedFolder};
use axigen_core::mailstore::FolderId;
use axigen_core::model::AccountId;
use axigen_core::{Error, Result};

use crate::commit::Ctx;
use crate::keys::{CF_ACL, CF_FOLDER, Row, acct, be32, corrupt, folder_key};

pub(crate) const GRANT: u8 = b'G';
pub(crate) const REVERSE: u8 = b'R';
pub(crate) const SUBSCRIBED: u8 = b'S';

pub(crate) fn grantee_bytes(g: Grantee) -> [u8; 5] {
    match g {
        Grantee::Anyone => [0; 5],
        Grantee::Account(a) => {
            let id = a.0.to_be_bytes();
            [1, id[0], id[1], id[2], id[3]]
        }
    }
}

pub(crate) fn decode_grantee(b: &[u8]) -> Result<Grantee> {
    match b.first() {
        Some(0) => Ok(Grantee::Anyone),
        Some(1) => Ok(Grantee::Account(AccountId(be32(&b[1..])?))),
        _ => Err(corrupt("acl grantee")),
    }
}

pub(crate) fn grant_prefix(owner: AccountId, folder: FolderId) -> Vec<u8> {
    [&[GRANT][..], &folder_key(owner, folder)].concat()
}

pub(crate) fn grant_key(owner: AccountId, folder: FolderId, g: Grantee) -> Vec<u8> {
    [grant_prefix(owner, folder).as_slice(), &grantee_bytes(g)].concat()
}

pub(crate) fn reverse_prefix(g: Grantee) -> Vec<u8> {
    [&[REVERSE][..], &grantee_bytes(g)].concat()
}

pub(crate) fn reverse_key(g: Grantee, owner: AccountId, folder: FolderId) -> Vec<u8> {
    [reverse_prefix(g).as_slice(), &folder_key(owner, folder)].concat()
}

pub(crate) fn subscription_prefix(owner: AccountId, folder: FolderId) -> Vec<u8> {
    [&[SUBSCRIBED][..], &folder_key(owner, folder)].concat()
}

pub(crate) fn subscription_key(owner: AccountId, folder: FolderId, account: AccountId) -> Vec<u8> {
    [subscription_prefix(owner, folder).as_slice(), &acct(account)].concat()
}

pub(crate) fn decode_rights(v: &[u8]) -> Result<Rights> {
    let bits: [u8; 2] = v.try_into().map_err(|_| corrupt("acl rights"))?;
    Ok(Rights::from_bits(u16::from_be_bytes(bits)))
}

/// `(owner, folder)` of a reverse or subscription key after its grantee or
/// prefix part starting at `at`.
pub(crate) fn owner_folder(k: &[u8], at: usize) -> Result<(AccountId, FolderId)> {
    let rest = k.get(at..).ok_or_else(|| corrupt("acl key"))?;
    Ok((AccountId(be32(rest)?), FolderId(be32(rest.get(4..).ok_or_else(|| corrupt("acl key"))?)?)))
}

pub(crate) fn set_rights_op(
    ctx: &mut Ctx<'_>,
    owner: AccountId,
    folder: FolderId,
    grantee: Grantee,
    rights: Rights,
) -> Result<()> {
    if grantee == Grantee::Account(owner) {
        return Err(Error::Invalid("the owner's rights on its own folder cannot be changed".into()));
    }
    if ctx.get(CF_FOLDER, &folder_key(owner, folder))?.is_none() {
        return Err(Error::NotFound(format!("folder {} of account {owner}", folder.0)));
    }
    let (g, r) = (grant_key(owner, folder, grantee), reverse_key(grantee, owner, folder));
    if rights.is_empty() {
        ctx.delete(CF_ACL, &g)?;
        ctx.delete(CF_ACL, &r)?;
        if let Grantee::Account(a) = grantee {
            ctx.delete(CF_ACL, &subscription_key(owner, folder, a))?;
        }
    } else {
        let v = rights.bits().to_be_bytes();
        ctx.put(CF_ACL, &g, &v)?;
        ctx.put(CF_ACL, &r, &v)?;
    }
    Ok(())
}

/// Removes every entry and subscription of a folder (it is being deleted).
pub(crate) fn drop_folder_acl(ctx: &mut Ctx<'_>, owner: AccountId, folder: FolderId) -> Result<()> {
    let prefix = grant_prefix(owner, folder);
    for (k, _) in ctx.scan(CF_ACL, &prefix)? {
        let grantee = decode_grantee(&k[prefix.len()..])?;
        ctx.delete(CF_ACL, &k)?;
        ctx.delete(CF_ACL, &reverse_key(grantee, owner, folder))?;
    }
    for (k, _) in ctx.scan(CF_ACL, &subscription_prefix(owner, folder))? {
        ctx.delete(CF_ACL, &k)?;
    }
    Ok(())
}

/// Removes every entry for an account as grantee and its subscriptions (it
/// is being deleted; its own folders are dropped with them).
pub(crate) fn drop_grantee(ctx: &mut Ctx<'_>, account: AccountId) -> Result<()> {
    let grantee = Grantee::Account(account);
    let prefix = reverse_prefix(grantee);
    for (k, _) in ctx.scan(CF_ACL, &prefix)? {
        let (owner, folder) = owner_folder(&k, prefix.len())?;
        ctx.delete(CF_ACL, &k)?;
        ctx.delete(CF_ACL, &grant_key(owner, folder, grantee))?;
    }
    for (k, _) in ctx.scan(CF_ACL, &[SUBSCRIBED])? {
        if k.len() == 13 && be32(&k[9..])? == account.0 {
            ctx.delete(CF_ACL, &k)?;
        }
    }
    Ok(())
}

pub(crate) fn set_subscription_op(
    ctx: &mut Ctx<'_>,
    account: AccountId,
    owner: AccountId,
    folder: FolderId,
    subscribed: bool,
) -> Result<()> {
    let key = subscription_key(owner, folder, account);
    if subscribed {
        if ctx.get(CF_FOLDER, &folder_key(owner, folder))?.is_none() {
            return Err(Error::NotFound(format!("folder {} of account {owner}", folder.0)));
        }
        ctx.put(CF_ACL, &key, &[])
    } else {
        ctx.delete(CF_ACL, &key)
    }
}

/// The entries of a folder from a scan of its grant prefix.
pub(crate) fn decode_acl(prefix_len: usize, rows: Vec<Row>) -> Result<Vec<(Grantee, Rights)>> {
    rows.into_iter().map(|(k, v)| Ok((decode_grantee(&k[prefix_len..])?, decode_rights(&v)?))).collect()
}

/// Merges the reverse entries of an account and of `anyone` into the
/// account's view of shared folders (its own folders excluded).
pub(crate) fn merge_shared(
    account: AccountId,
    direct: Vec<Row>,
    anyone: Vec<Row>,
    direct_prefix: usize,
    anyone_prefix: usize,
) -> Result<BTreeMap<(AccountId, FolderId), Rights>> {
    let mut out: BTreeMap<(AccountId, FolderId), Rights> = BTreeMap::new();
    for (rows, at) in [(direct, direct_prefix), (anyone, anyone_prefix)] {
        for (k, v) in rows {
            let (owner, folder) = owner_folder(&k, at)?;
            if owner == account {
                continue;
            }
            let e = out.entry((owner, folder)).or_default();
            *e = e.union(decode_rights(&v)?);
        }
    }
    Ok(out)
}

/// Builds the [`SharedFolder`] list, marking subscriptions.
pub(crate) fn shared_list(
    merged: BTreeMap<(AccountId, FolderId), Rights>,
    subscribed: impl Fn(AccountId, FolderId) -> Result<bool>,
) -> Result<Vec<SharedFolder>> {
    merged
        .into_iter()
        .filter(|(_, rights)| !rights.is_empty())
        .map(|((owner, folder), rights)| {
            Ok(SharedFolder { owner, folder, rights, subscribed: subscribed(owner, folder)? })
        })
        .collect()
}
