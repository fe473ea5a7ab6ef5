//! Mobile devices ([`DeviceStore`], format 5): the `device` and `sync_state`
//! column families.
//!
//! | column family | key | value |
//! |---|---|---|
//! | `device` | account-id device-id | JSON [`Device`] |
//! | `sync_state` | account-id device-id-length(u8) device-id collection | the protocol's opaque state |
//!
//! A device id is what the client sends as `DeviceId`: MS-ASHTTP 2.2.1.1.1.2
//! defines it as `1*32(ALPHA / DIGIT)`, and every method refuses anything
//! else with [`Error::Invalid`] before touching the store. The length byte in
//! a sync-state key makes the prefix of one device's states unique (device
//! `ab` does not see the states of device `abc`), so a device's states are
//! one prefix scan. The collection is the rest of the key (`""` is the
//! folder hierarchy).
//!
//! Every write runs on the committer: a state is written only while its
//! device exists, and a device is deleted with all its states in one write,
//! so that a removed partnership never leaves state behind for the device's
//! next `FolderSync` to resume from. Deleting an account deletes its devices
//! and states in the same write (see `directory.rs`).

use async_trait::async_trait;
use axigen_core::devices::{Device, DeviceStore};
use axigen_core::model::AccountId;
use axigen_core::{Error, Result};

use crate::Store;
use crate::commit::{Ctx, cf, storage};
use crate::keys::*;

/// The longest device id MS-ASHTTP allows.
pub(crate) const MAX_DEVICE_ID_LEN: usize = 32;

/// Refuses a device id that MS-ASHTTP does not allow (`1*32(ALPHA / DIGIT)`).
pub(crate) fn validate_device_id(id: &str) -> Result<()> {
    let ok = !id.is_empty() && id.len() <= MAX_DEVICE_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "device id {id:?}: a device id is 1 to {MAX_DEVICE_ID_LEN} ASCII letters or digits (MS-ASHTTP DeviceId)"
        )))
    }
}

pub(crate) fn device_key(a: AccountId, device_id: &str) -> Vec<u8> {
    [&acct(a)[..], device_id.as_bytes()].concat()
}

/// The prefix of every sync state of one device.
pub(crate) fn sync_state_prefix(a: AccountId, device_id: &str) -> Vec<u8> {
    // Validated ids are at most 32 bytes, so the length fits a byte.
    [&acct(a)[..], &[device_id.len() as u8], device_id.as_bytes()].concat()
}

pub(crate) fn sync_state_key(a: AccountId, device_id: &str, collection: &str) -> Vec<u8> {
    [sync_state_prefix(a, device_id).as_slice(), collection.as_bytes()].concat()
}

/// `(account, device id, collection)` of a sync-state key.
pub(crate) fn decode_sync_state_key(k: &[u8]) -> Result<(AccountId, String, String)> {
    let account = AccountId(be32(k)?);
    let len = *k.get(4).ok_or_else(|| corrupt("sync state key"))? as usize;
    let id = k.get(5..5 + len).ok_or_else(|| corrupt("sync state key"))?;
    let id = String::from_utf8(id.to_vec()).map_err(|_| corrupt("sync state device id"))?;
    let collection = String::from_utf8(k[5 + len..].to_vec()).map_err(|_| corrupt("sync state collection"))?;
    Ok((account, id, collection))
}

/// `(account, device id)` of a device key.
pub(crate) fn decode_device_key(k: &[u8]) -> Result<(AccountId, String)> {
    let account = AccountId(be32(k)?);
    let id = String::from_utf8(k[4..].to_vec()).map_err(|_| corrupt("device id"))?;
    Ok((account, id))
}

pub(crate) fn decode_device(b: &[u8]) -> Result<Device> {
    serde_json::from_slice(b).map_err(|e| Error::Storage(format!("corrupt device record: {e}")))
}

fn encode_device(d: &Device) -> Result<Vec<u8>> {
    serde_json::to_vec(d).map_err(|e| Error::Storage(format!("encoding device record: {e}")))
}

fn device_op(ctx: &Ctx<'_>, a: AccountId, device_id: &str) -> Result<Option<Device>> {
    ctx.get(CF_DEVICE, &device_key(a, device_id))?.map(|b| decode_device(&b)).transpose()
}

fn put_device_op(ctx: &mut Ctx<'_>, device: &Device) -> Result<()> {
    if ctx.get(CF_DIRECTORY, &account_key(device.account))?.is_none() {
        return Err(Error::NotFound(format!("account {}", device.account)));
    }
    ctx.put(CF_DEVICE, &device_key(device.account, &device.device_id), &encode_device(device)?)
}

fn clear_states_op(ctx: &mut Ctx<'_>, a: AccountId, device_id: &str) -> Result<()> {
    for (k, _) in ctx.scan(CF_SYNC_STATE, &sync_state_prefix(a, device_id))? {
        ctx.delete(CF_SYNC_STATE, &k)?;
    }
    Ok(())
}

/// Removes every device of an account and their states (it is being deleted).
pub(crate) fn drop_account_devices(ctx: &mut Ctx<'_>, a: AccountId) -> Result<()> {
    for name in [CF_DEVICE, CF_SYNC_STATE] {
        for (k, _) in ctx.scan(name, &acct(a))? {
            ctx.delete(name, &k)?;
        }
    }
    Ok(())
}

impl Store {
    /// Changes one device in a single committer operation: `change` sees the
    /// stored record and its result is written back, with no other write in
    /// between (an administrator's decision cannot be lost to a concurrent
    /// read-modify-write of the same record through this method). Fails with
    /// [`Error::NotFound`] when the device does not exist, and with
    /// [`Error::Invalid`] if `change` alters the account or the device id;
    /// an error from `change` leaves the record as it was.
    pub async fn update_device<F>(&self, account: AccountId, device_id: &str, change: F) -> Result<Device>
    where
        F: FnOnce(&mut Device) -> Result<()> + Send + 'static,
    {
        validate_device_id(device_id)?;
        let device_id = device_id.to_owned();
        self.committer
            .submit(0, move |ctx| {
                let mut device = device_op(ctx, account, &device_id)?
                    .ok_or_else(|| Error::NotFound(format!("device {device_id} of account {account}")))?;
                change(&mut device)?;
                if device.account != account || device.device_id != device_id {
                    return Err(Error::Invalid("a device's account and id cannot be changed".into()));
                }
                put_device_op(ctx, &device)?;
                Ok(device)
            })
            .await
    }
}

#[async_trait]
impl DeviceStore for Store {
    async fn update_device(
        &self,
        account: AccountId,
        device_id: &str,
        change: Box<dyn for<'d> FnOnce(&'d mut Device) + Send + 'static>,
    ) -> Result<Device> {
        Store::update_device(self, account, device_id, move |d| {
            change(d);
            Ok(())
        })
        .await
    }

    async fn device(&self, account: AccountId, device_id: &str) -> Result<Option<Device>> {
        validate_device_id(device_id)?;
        self.db
            .get_cf(cf(&self.db, CF_DEVICE), device_key(account, device_id))
            .map_err(storage)?
            .map(|b| decode_device(&b))
            .transpose()
    }

    /// An account without devices, or that does not exist, has none.
    async fn devices(&self, account: AccountId) -> Result<Vec<Device>> {
        // Keys sort by device id under the account prefix.
        self.scan(CF_DEVICE, &acct(account))?.into_iter().map(|(_, v)| decode_device(&v)).collect()
    }

    async fn put_device(&self, device: Device) -> Result<()> {
        validate_device_id(&device.device_id)?;
        self.committer.submit(0, move |ctx| put_device_op(ctx, &device)).await
    }

    async fn delete_device(&self, account: AccountId, device_id: &str) -> Result<bool> {
        validate_device_id(device_id)?;
        let device_id = device_id.to_owned();
        self.committer
            .submit(0, move |ctx| {
                let key = device_key(account, &device_id);
                let existed = ctx.get(CF_DEVICE, &key)?.is_some();
                ctx.delete(CF_DEVICE, &key)?;
                clear_states_op(ctx, account, &device_id)?;
                Ok(existed)
            })
            .await
    }

    async fn sync_state(&self, account: AccountId, device_id: &str, collection: &str) -> Result<Option<Vec<u8>>> {
        validate_device_id(device_id)?;
        self.db.get_cf(cf(&self.db, CF_SYNC_STATE), sync_state_key(account, device_id, collection)).map_err(storage)
    }

    async fn put_sync_state(
        &self,
        account: AccountId,
        device_id: &str,
        collection: &str,
        state: Vec<u8>,
    ) -> Result<()> {
        validate_device_id(device_id)?;
        let (device_id, collection) = (device_id.to_owned(), collection.to_owned());
        self.committer
            .submit(state.len(), move |ctx| {
                if ctx.get(CF_DEVICE, &device_key(account, &device_id))?.is_none() {
                    return Err(Error::NotFound(format!("device {device_id} of account {account}")));
                }
                ctx.put(CF_SYNC_STATE, &sync_state_key(account, &device_id, &collection), &state)
            })
            .await
    }

    async fn clear_sync_states(&self, account: AccountId, device_id: &str) -> Result<()> {
        validate_device_id(device_id)?;
        let device_id = device_id.to_owned();
        self.committer.submit(0, move |ctx| clear_states_op(ctx, account, &device_id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_follow_ms_ashttp_and_keys_round_trip() {
        for ok in ["a", "ApplDNQXYZ12345", &"9".repeat(32)] {
            validate_device_id(ok).unwrap();
        }
        for bad in ["", &"x".repeat(33), "abc-def", "abc def", "é", "a/b", "a\0b"] {
            let e = validate_device_id(bad).unwrap_err();
            assert!(matches!(&e, Error::Invalid(m) if m.contains("1 to 32 ASCII letters or digits")), "{bad:?}: {e}");
        }
        let k = sync_state_key(AccountId(7), "abc", "12");
        assert_eq!(decode_sync_state_key(&k).unwrap(), (AccountId(7), "abc".into(), "12".into()));
        let hierarchy = sync_state_key(AccountId(7), "abc", "");
        assert_eq!(decode_sync_state_key(&hierarchy).unwrap(), (AccountId(7), "abc".into(), String::new()));
        // One device's prefix does not cover a device whose id extends it.
        assert!(!sync_state_key(AccountId(7), "abcd", "").starts_with(&sync_state_prefix(AccountId(7), "abc")));
        assert_eq!(decode_device_key(&device_key(AccountId(3), "Dev1")).unwrap(), (AccountId(3), "Dev1".into()));
        assert!(decode_sync_state_key(&[0, 0, 0, 1, 9, b'a']).is_err());
    }
}
