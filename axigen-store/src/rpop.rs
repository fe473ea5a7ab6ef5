//! RPOP sources and what was fetched from them ([`RpopStore`], format 8):
//! the `rpop` column family.
//!
//! | key | value |
//! |---|---|
//! | account-id `S` name | JSON [`RpopSource`] |
//! | account-id `T` name | JSON [`RpopStatus`] |
//! | account-id `U` name-length(u8) name uidl | when it was fetched (u64, Unix seconds) |
//!
//! A fetched message and its UIDL are written by one committer operation
//! (the delivery and the `U` record in the same batch), so after a crash a
//! message is either stored and remembered, or neither.

use async_trait::async_trait;
use axigen_core::mailstore::{Appended, DeliveryTarget, FolderId, QuotaLimit};
use axigen_core::model::AccountId;
use axigen_core::rpop::{RpopSource, RpopStatus, RpopStore};
use axigen_core::{Error, Result, unix_now};
use bytes::Bytes;

use crate::Store;
use crate::commit::{Ctx, cf, storage};
use crate::keys::*;
use crate::mail::{NewBlob, deliver_op};

fn source_key(a: AccountId, name: &str) -> Vec<u8> {
    [&acct(a)[..], b"S", name.as_bytes()].concat()
}

fn status_key(a: AccountId, name: &str) -> Vec<u8> {
    [&acct(a)[..], b"T", name.as_bytes()].concat()
}

/// Names are at most 64 bytes (validated), so the length fits a byte.
fn uidl_prefix(a: AccountId, name: &str) -> Vec<u8> {
    [&acct(a)[..], b"U", &[name.len() as u8], name.as_bytes()].concat()
}

fn uidl_key(a: AccountId, name: &str, uidl: &str) -> Vec<u8> {
    [uidl_prefix(a, name).as_slice(), uidl.as_bytes()].concat()
}

pub(crate) fn decode_source(b: &[u8]) -> Result<RpopSource> {
    serde_json::from_slice(b).map_err(|e| Error::Storage(format!("corrupt rpop source: {e}")))
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Storage(format!("encoding rpop record: {e}")))
}

fn require_source(ctx: &Ctx<'_>, a: AccountId, name: &str) -> Result<()> {
    match ctx.get(CF_RPOP, &source_key(a, name))? {
        Some(_) => Ok(()),
        None => Err(Error::NotFound(format!("rpop source {name} of account {a}"))),
    }
}

/// Removes an account's sources, UIDLs and statuses (it is being deleted).
pub(crate) fn drop_account(ctx: &mut Ctx<'_>, a: AccountId) -> Result<()> {
    for (k, _) in ctx.scan(CF_RPOP, &acct(a))? {
        ctx.delete(CF_RPOP, &k)?;
    }
    Ok(())
}

fn valid_uidl(uidl: &str) -> Result<()> {
    // RFC 1939 7: 1 to 70 characters in the range 0x21 to 0x7E.
    if uidl.is_empty() || uidl.len() > 70 || !uidl.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::Invalid(format!("UIDL {uidl:?}: 1 to 70 printable characters (RFC 1939)")));
    }
    Ok(())
}

#[async_trait]
impl RpopStore for Store {
    async fn rpop_sources(&self) -> Result<Vec<RpopSource>> {
        let mut out = Vec::new();
        for (k, v) in self.scan(CF_RPOP, b"")? {
            if k.get(4) == Some(&b'S') {
                out.push(decode_source(&v)?);
            }
        }
        Ok(out)
    }

    async fn account_rpop_sources(&self, account: AccountId) -> Result<Vec<RpopSource>> {
        let prefix = [&acct(account)[..], b"S"].concat();
        self.scan(CF_RPOP, &prefix)?.iter().map(|(_, v)| decode_source(v)).collect()
    }

    async fn put_rpop_source(&self, source: RpopSource) -> Result<()> {
        source.validate()?;
        let value = json(&source)?;
        self.committer
            .submit(0, move |ctx| {
                if ctx.get(CF_DIRECTORY, &account_key(source.account))?.is_none() {
                    return Err(Error::NotFound(format!("account {}", source.account)));
                }
                ctx.put(CF_RPOP, &source_key(source.account, &source.name), &value)
            })
            .await
    }

    async fn delete_rpop_source(&self, account: AccountId, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.committer
            .submit(0, move |ctx| {
                let key = source_key(account, &name);
                let existed = ctx.get(CF_RPOP, &key)?.is_some();
                ctx.delete(CF_RPOP, &key)?;
                ctx.delete(CF_RPOP, &status_key(account, &name))?;
                if name.len() <= 64 {
                    for (k, _) in ctx.scan(CF_RPOP, &uidl_prefix(account, &name))? {
                        ctx.delete(CF_RPOP, &k)?;
                    }
                }
                Ok(existed)
            })
            .await
    }

    async fn rpop_uidls(&self, account: AccountId, name: &str) -> Result<Vec<String>> {
        if name.len() > 64 {
            return Ok(Vec::new());
        }
        let prefix = uidl_prefix(account, name);
        self.scan(CF_RPOP, &prefix)?
            .into_iter()
            .map(|(k, _)| String::from_utf8(k[prefix.len()..].to_vec()).map_err(|_| corrupt("rpop uidl")))
            .collect()
    }

    async fn deliver_fetched(
        &self,
        account: AccountId,
        name: &str,
        uidl: &str,
        folder: FolderId,
        quota: QuotaLimit,
        content: Bytes,
        internal_date: i64,
    ) -> Result<Option<Appended>> {
        valid_uidl(uidl)?;
        let key = uidl_key(account, name, uidl);
        let name = name.to_owned();
        let blob = NewBlob::prepare(content)?;
        self.committer
            .submit(blob.weight(), move |ctx| {
                require_source(ctx, account, &name)?;
                if ctx.get(CF_RPOP, &key)?.is_some() {
                    return Ok(None);
                }
                let target = DeliveryTarget { account, folder, flags: Default::default(), quota };
                let mut appended = deliver_op(ctx, blob, internal_date, vec![target])?;
                ctx.put(CF_RPOP, &key, &unix_now().to_be_bytes())?;
                Ok(appended.pop())
            })
            .await
    }

    async fn remember_fetched(&self, account: AccountId, name: &str, uidl: &str) -> Result<()> {
        valid_uidl(uidl)?;
        let key = uidl_key(account, name, uidl);
        let name = name.to_owned();
        self.committer
            .submit(0, move |ctx| {
                require_source(ctx, account, &name)?;
                ctx.put(CF_RPOP, &key, &unix_now().to_be_bytes())
            })
            .await
    }

    async fn prune_rpop_uidls(&self, account: AccountId, name: &str, on_server: Vec<String>) -> Result<u64> {
        if name.len() > 64 {
            return Ok(0);
        }
        let prefix = uidl_prefix(account, name);
        let keep: std::collections::HashSet<Vec<u8>> = on_server.into_iter().map(String::into_bytes).collect();
        self.committer
            .submit(0, move |ctx| {
                let mut removed = 0;
                for (k, _) in ctx.scan(CF_RPOP, &prefix)? {
                    if !keep.contains(&k[prefix.len()..]) {
                        ctx.delete(CF_RPOP, &k)?;
                        removed += 1;
                    }
                }
                Ok(removed)
            })
            .await
    }

    async fn rpop_status(&self, account: AccountId, name: &str) -> Result<RpopStatus> {
        match self.db.get_cf(cf(&self.db, CF_RPOP), status_key(account, name)).map_err(storage)? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| Error::Storage(format!("corrupt rpop status: {e}"))),
            None => Ok(RpopStatus::default()),
        }
    }

    async fn set_rpop_status(&self, account: AccountId, name: &str, status: RpopStatus) -> Result<()> {
        let value = json(&status)?;
        let name = name.to_owned();
        self.committer
            .submit(0, move |ctx| {
                require_source(ctx, account, &name)?;
                ctx.put(CF_RPOP, &status_key(account, &name), &value)
            })
            .await
    }
}
