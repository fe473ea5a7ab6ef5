//! Out-of-office settings ([`AutoReplyStore`], format 6): the `autoreply`
//! column family.
//!
//! | key | value |
//! |---|---|
//! | account-id `S` | JSON [`AutoReply`] |
//! | account-id `R` sender (lower case) | when the sender was last answered (i64, Unix seconds) |
//!
//! The `R` records are what keeps one sender from getting a reply to every
//! message: they are claimed on the committer (read and written in one
//! operation, so two deliveries at once produce one reply), all dropped
//! when the settings change, and dropped with the account. They grow with
//! the number of distinct senders answered during one absence.

use async_trait::async_trait;
use axigen_core::autoreply::{AutoReply, AutoReplyStore};
use axigen_core::model::AccountId;
use axigen_core::{Error, Result};

use crate::Store;
use crate::commit::{Ctx, cf, storage};
use crate::keys::*;

pub(crate) fn settings_key(a: AccountId) -> Vec<u8> {
    [&acct(a)[..], b"S"].concat()
}

fn replied_prefix(a: AccountId) -> Vec<u8> {
    [&acct(a)[..], b"R"].concat()
}

fn replied_key(a: AccountId, sender: &str) -> Vec<u8> {
    [replied_prefix(a).as_slice(), sender.to_lowercase().as_bytes()].concat()
}

pub(crate) fn decode_settings(b: &[u8]) -> Result<AutoReply> {
    serde_json::from_slice(b).map_err(|e| Error::Storage(format!("corrupt out-of-office record: {e}")))
}

fn clear_replied(ctx: &mut Ctx<'_>, a: AccountId) -> Result<()> {
    for (k, _) in ctx.scan(CF_AUTOREPLY, &replied_prefix(a))? {
        ctx.delete(CF_AUTOREPLY, &k)?;
    }
    Ok(())
}

/// Removes an account's settings and reply records (it is being deleted).
pub(crate) fn drop_account(ctx: &mut Ctx<'_>, a: AccountId) -> Result<()> {
    for (k, _) in ctx.scan(CF_AUTOREPLY, &acct(a))? {
        ctx.delete(CF_AUTOREPLY, &k)?;
    }
    Ok(())
}

#[async_trait]
impl AutoReplyStore for Store {
    async fn auto_reply(&self, account: AccountId) -> Result<Option<AutoReply>> {
        self.db
            .get_cf(cf(&self.db, CF_AUTOREPLY), settings_key(account))
            .map_err(storage)?
            .map(|b| decode_settings(&b))
            .transpose()
    }

    async fn set_auto_reply(&self, account: AccountId, settings: AutoReply) -> Result<()> {
        settings.validate()?;
        let value =
            serde_json::to_vec(&settings).map_err(|e| Error::Storage(format!("encoding out-of-office record: {e}")))?;
        self.committer
            .submit(0, move |ctx| {
                if ctx.get(CF_DIRECTORY, &account_key(account))?.is_none() {
                    return Err(Error::NotFound(format!("account {account}")));
                }
                clear_replied(ctx, account)?;
                ctx.put(CF_AUTOREPLY, &settings_key(account), &value)
            })
            .await
    }

    async fn claim_reply(&self, account: AccountId, sender: &str, now: i64, interval: i64) -> Result<bool> {
        let key = replied_key(account, sender);
        self.committer
            .submit(0, move |ctx| {
                if ctx.get(CF_DIRECTORY, &account_key(account))?.is_none() {
                    return Err(Error::NotFound(format!("account {account}")));
                }
                if let Some(last) = ctx.get(CF_AUTOREPLY, &key)? {
                    let last = be64(&last)? as i64;
                    // A clock that went back counts as a recent reply.
                    if now < last.saturating_add(interval) {
                        return Ok(false);
                    }
                }
                ctx.put(CF_AUTOREPLY, &key, &(now as u64).to_be_bytes())?;
                Ok(true)
            })
            .await
    }
}
