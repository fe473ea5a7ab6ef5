//! The directory (domains, classes, accounts, aliases) and the admin
//! credential, stored in the `directory` and `meta` column families.
//!
//! Every write checks the references it makes (a class's domain exists, an
//! account's class exists, an alias does not shadow an account) inside the
//! committer, so the checks and the write are atomic.

use std::collections::BTreeMap;

use async_trait::async_trait;
use axigen_core::directory::{Directory, DirectoryAdmin};
use axigen_core::mailstore::DEFAULT_FOLDERS;
use axigen_core::model::{
    Account, AccountClass, AccountId, Address, Alias, Domain, DomainName, NewAccount, validate_class_name,
};
use axigen_core::password::hash_password;
use axigen_core::settings::{ServerDefaults, SettingValue};
use axigen_core::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::commit::{Ctx, cf, storage};
use crate::keys::*;
use crate::mail::{create_folder_op, delete_folder_op};

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Storage(format!("encoding record: {e}")))
}

fn from_json<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| Error::Storage(format!("corrupt directory record: {e}")))
}

fn ctx_json<T: DeserializeOwned>(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<T>> {
    ctx.get(CF_DIRECTORY, key)?.map(|b| from_json(&b)).transpose()
}

/// The administrator credential kept in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminCredential {
    /// Login name for the admin API.
    pub user: String,
    /// argon2 PHC hash.
    pub password_hash: String,
}

impl Store {
    /// The server-level setting values stored here (the level below domains),
    /// by setting name. Settings absent from the map take the built-in default.
    pub fn server_level_settings(&self) -> Result<BTreeMap<String, SettingValue>> {
        self.db
            .get_cf(cf(&self.db, CF_META), META_DEFAULTS)
            .map_err(storage)?
            .map(|b| from_json(&b))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Sets (`Some`) or clears (`None`, back to the built-in default) one
    /// server-level setting, durably. Unknown names and wrong types are refused.
    pub async fn set_server_default(&self, name: &str, value: Option<SettingValue>) -> Result<()> {
        if let Some(v) = value {
            // Validates the name and the type.
            ServerDefaults::default().set(name, v)?;
        } else if !axigen_core::settings::CATALOGUE.iter().any(|s| s.name == name) {
            ServerDefaults::default().set(name, SettingValue::Bool(false))?;
        }
        let name = name.to_owned();
        self.committer
            .submit(0, move |ctx| {
                let mut map: BTreeMap<String, SettingValue> =
                    ctx.get(CF_META, META_DEFAULTS)?.map(|b| from_json(&b)).transpose()?.unwrap_or_default();
                match value {
                    Some(v) => map.insert(name, v),
                    None => map.remove(&name),
                };
                ctx.put(CF_META, META_DEFAULTS, &to_json(&map)?)
            })
            .await?;
        self.reload_defaults()
    }

    /// Recomputes the effective server defaults from the durable state.
    pub(crate) fn reload_defaults(&self) -> Result<()> {
        let mut d = self.base_defaults;
        for (k, v) in self.server_level_settings()? {
            d.set(&k, v).map_err(|e| Error::Storage(format!("stored server default: {e}")))?;
        }
        *self.defaults.write().unwrap_or_else(|e| e.into_inner()) = d;
        Ok(())
    }

    fn dir_json<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.db.get_cf(cf(&self.db, CF_DIRECTORY), key).map_err(storage)?.map(|b| from_json(&b)).transpose()
    }

    fn dir_scan<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<T>> {
        self.scan(CF_DIRECTORY, prefix)?.iter().map(|(_, v)| from_json(v)).collect()
    }

    /// The admin credential, if one was set.
    pub fn admin_credential(&self) -> Result<Option<AdminCredential>> {
        self.db.get_cf(cf(&self.db, CF_META), META_ADMIN).map_err(storage)?.map(|b| from_json(&b)).transpose()
    }

    /// Sets the admin credential (durably).
    pub async fn set_admin_credential(&self, user: &str, password: &str) -> Result<()> {
        let cred = AdminCredential { user: user.to_owned(), password_hash: hash_password(password)? };
        let bytes = to_json(&cred)?;
        self.committer.submit(0, move |ctx| ctx.put(CF_META, META_ADMIN, &bytes)).await
    }

    /// Stores the admin credential only if none exists yet; returns whether it did.
    pub async fn init_admin_credential(&self, user: &str, password: &str) -> Result<bool> {
        let cred = AdminCredential { user: user.to_owned(), password_hash: hash_password(password)? };
        let bytes = to_json(&cred)?;
        self.committer
            .submit(0, move |ctx| {
                if ctx.get(CF_META, META_ADMIN)?.is_some() {
                    return Ok(false);
                }
                ctx.put(CF_META, META_ADMIN, &bytes)?;
                Ok(true)
            })
            .await
    }
}

#[async_trait]
impl Directory for Store {
    async fn domain(&self, name: &DomainName) -> Result<Option<Domain>> {
        self.dir_json(&domain_key(name.as_str()))
    }

    async fn class(&self, domain: &DomainName, name: &str) -> Result<Option<AccountClass>> {
        self.dir_json(&class_key(domain.as_str(), name))
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        self.dir_json(&account_key(id))
    }

    async fn account_by_address(&self, address: &Address) -> Result<Option<Account>> {
        let key = address_key(address.domain.as_str(), address.local.as_str());
        match self.db.get_cf(cf(&self.db, CF_DIRECTORY), key).map_err(storage)? {
            Some(b) => self.dir_json(&account_key(AccountId(be32(&b)?))),
            None => Ok(None),
        }
    }

    async fn alias(&self, address: &Address) -> Result<Option<Alias>> {
        self.dir_json(&alias_key(address.domain.as_str(), address.local.as_str()))
    }

    fn server_defaults(&self) -> ServerDefaults {
        self.defaults()
    }

    async fn first_account(&self, domain: &DomainName) -> Result<Option<AccountId>> {
        // Account ids only grow, so the lowest is the oldest.
        let mut first: Option<u32> = None;
        for (_, id) in self.scan(CF_DIRECTORY, &address_prefix(domain.as_str()))? {
            let id = be32(&id)?;
            first = Some(first.map_or(id, |f| f.min(id)));
        }
        Ok(first.map(AccountId))
    }

    async fn first_domain(&self) -> Result<Option<DomainName>> {
        let domains = self.scan(CF_DIRECTORY, b"D")?;
        let Some((key, _)) = domains.first() else {
            return Ok(None);
        };
        let name = std::str::from_utf8(&key[1..]).map_err(|_| corrupt("domain key"))?;
        Ok(Some(DomainName::new(name)?))
    }
}

fn require_domain(ctx: &Ctx<'_>, d: &DomainName) -> Result<()> {
    if ctx.get(CF_DIRECTORY, &domain_key(d.as_str()))?.is_none() {
        return Err(Error::NotFound(format!("domain {d}")));
    }
    Ok(())
}

fn require_class(ctx: &Ctx<'_>, d: &DomainName, class: Option<&str>) -> Result<()> {
    if let Some(c) = class
        && ctx.get(CF_DIRECTORY, &class_key(d.as_str(), c))?.is_none()
    {
        return Err(Error::NotFound(format!("class {c} of domain {d}")));
    }
    Ok(())
}

fn accounts_of(ctx: &Ctx<'_>, d: &DomainName) -> Result<Vec<Account>> {
    let mut out = Vec::new();
    for (_, id) in ctx.scan(CF_DIRECTORY, &address_prefix(d.as_str()))? {
        let id = AccountId(be32(&id)?);
        if let Some(a) = ctx_json::<Account>(ctx, &account_key(id))? {
            out.push(a);
        }
    }
    Ok(out)
}

#[async_trait]
impl DirectoryAdmin for Store {
    async fn domains(&self) -> Result<Vec<Domain>> {
        self.dir_scan(b"D")
    }

    async fn put_domain(&self, domain: Domain) -> Result<()> {
        let bytes = to_json(&domain)?;
        self.committer.submit(0, move |ctx| ctx.put(CF_DIRECTORY, &domain_key(domain.name.as_str()), &bytes)).await
    }

    async fn delete_domain(&self, name: &DomainName) -> Result<()> {
        let name = name.clone();
        self.committer
            .submit(0, move |ctx| {
                require_domain(ctx, &name)?;
                let d = name.as_str();
                if !ctx.scan(CF_DIRECTORY, &address_prefix(d))?.is_empty() {
                    return Err(Error::Conflict(format!("domain {d} still has accounts")));
                }
                if !ctx.scan(CF_DIRECTORY, &class_prefix(d))?.is_empty() {
                    return Err(Error::Conflict(format!("domain {d} still has account classes")));
                }
                if !ctx.scan(CF_DIRECTORY, &alias_prefix(d))?.is_empty() {
                    return Err(Error::Conflict(format!("domain {d} still has aliases")));
                }
                ctx.delete(CF_DIRECTORY, &domain_key(d))
            })
            .await
    }

    async fn classes(&self, domain: &DomainName) -> Result<Vec<AccountClass>> {
        self.dir_scan(&class_prefix(domain.as_str()))
    }

    async fn put_class(&self, class: AccountClass) -> Result<()> {
        validate_class_name(&class.name)?;
        let bytes = to_json(&class)?;
        self.committer
            .submit(0, move |ctx| {
                require_domain(ctx, &class.domain)?;
                ctx.put(CF_DIRECTORY, &class_key(class.domain.as_str(), &class.name), &bytes)
            })
            .await
    }

    async fn delete_class(&self, domain: &DomainName, name: &str) -> Result<()> {
        let (domain, name) = (domain.clone(), name.to_owned());
        self.committer
            .submit(0, move |ctx| {
                require_class(ctx, &domain, Some(&name))?;
                let users: Vec<String> = accounts_of(ctx, &domain)?
                    .into_iter()
                    .filter(|a| a.class.as_deref() == Some(name.as_str()))
                    .map(|a| a.address.to_string())
                    .collect();
                if !users.is_empty() {
                    return Err(Error::Conflict(format!(
                        "class {name} is used by {} account(s), e.g. {}",
                        users.len(),
                        users[0]
                    )));
                }
                ctx.delete(CF_DIRECTORY, &class_key(domain.as_str(), &name))
            })
            .await
    }

    async fn accounts(&self, domain: &DomainName) -> Result<Vec<Account>> {
        let mut out = Vec::new();
        for (_, id) in self.scan(CF_DIRECTORY, &address_prefix(domain.as_str()))? {
            if let Some(a) = self.account(AccountId(be32(&id)?)).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    async fn account_count(&self) -> Result<u32> {
        Ok(self.scan(CF_DIRECTORY, ACCOUNT_PREFIX)?.len() as u32)
    }

    async fn create_account(&self, new: NewAccount) -> Result<Account> {
        if new.password.is_empty() {
            return Err(Error::Invalid("the password may not be empty".into()));
        }
        let password_hash = hash_password(&new.password)?;
        self.committer
            .submit(0, move |ctx| {
                let addr = &new.address;
                require_domain(ctx, &addr.domain)?;
                require_class(ctx, &addr.domain, new.class.as_deref())?;
                let akey = address_key(addr.domain.as_str(), addr.local.as_str());
                if ctx.get(CF_DIRECTORY, &akey)?.is_some() {
                    return Err(Error::AlreadyExists(format!("account {addr}")));
                }
                if ctx.get(CF_DIRECTORY, &alias_key(addr.domain.as_str(), addr.local.as_str()))?.is_some() {
                    return Err(Error::AlreadyExists(format!("{addr} is an alias")));
                }
                let id = match ctx.get(CF_META, META_NEXT_ACCOUNT)? {
                    Some(b) => be32(&b)?,
                    None => 1,
                };
                ctx.put(CF_META, META_NEXT_ACCOUNT, &(id + 1).to_be_bytes())?;
                let account = Account {
                    id: AccountId(id),
                    address: addr.clone(),
                    class: new.class.clone(),
                    display_name: new.display_name.clone(),
                    password_hash: password_hash.clone(),
                    settings: new.settings,
                };
                ctx.put(CF_DIRECTORY, &account_key(account.id), &to_json(&account)?)?;
                ctx.put(CF_DIRECTORY, &akey, &id.to_be_bytes())?;
                let state = AccountState { next_folder: 1, ..Default::default() };
                ctx.put(CF_ACCOUNT, &acct(account.id), &state.encode())?;
                for (name, kind, role) in DEFAULT_FOLDERS {
                    create_folder_op(ctx, account.id, name, *kind, *role)?;
                }
                Ok(account)
            })
            .await
    }

    async fn update_account(&self, account: Account) -> Result<()> {
        self.committer
            .submit(0, move |ctx| {
                let old: Account = ctx_json(ctx, &account_key(account.id))?
                    .ok_or_else(|| Error::NotFound(format!("account {}", account.id)))?;
                if old.address != account.address {
                    return Err(Error::Invalid("an account's address cannot be changed".into()));
                }
                require_class(ctx, &account.address.domain, account.class.as_deref())?;
                ctx.put(CF_DIRECTORY, &account_key(account.id), &to_json(&account)?)
            })
            .await
    }

    async fn delete_account(&self, id: AccountId) -> Result<()> {
        self.committer
            .submit(0, move |ctx| {
                let account: Account =
                    ctx_json(ctx, &account_key(id))?.ok_or_else(|| Error::NotFound(format!("account {id}")))?;
                for (k, _) in ctx.scan(CF_FOLDER, &acct(id))? {
                    delete_folder_op(ctx, id, axigen_core::mailstore::FolderId(be32(&k[4..])?), true)?;
                }
                // And the subscriptions to names without a folder.
                for (k, _) in ctx.scan(crate::keys::CF_FOLDER_NAME, &acct(id))? {
                    ctx.delete(crate::keys::CF_FOLDER_NAME, &k)?;
                }
                crate::acl::drop_grantee(ctx, id)?;
                crate::devices::drop_account_devices(ctx, id)?;
                crate::autoreply::drop_account(ctx, id)?;
                crate::rpop::drop_account(ctx, id)?;
                for (k, _) in ctx.scan(CF_CHANGELOG, &acct(id))? {
                    ctx.delete(CF_CHANGELOG, &k)?;
                }
                for (k, v) in ctx.scan(CF_DIRECTORY, b"L")? {
                    let alias: Alias = from_json(&v)?;
                    if alias.account == id {
                        ctx.delete(CF_DIRECTORY, &k)?;
                    }
                }
                for feature in axigen_core::license::Feature::ALL {
                    ctx.delete(CF_SEAT, &seat_key(feature.as_str(), id))?;
                }
                ctx.delete(CF_ACCOUNT, &acct(id))?;
                ctx.delete(CF_DIRECTORY, &account_key(id))?;
                ctx.delete(CF_DIRECTORY, &address_key(account.address.domain.as_str(), account.address.local.as_str()))
            })
            .await?;
        self.listings.forget(id, None);
        Ok(())
    }

    async fn aliases(&self, domain: &DomainName) -> Result<Vec<Alias>> {
        self.dir_scan(&alias_prefix(domain.as_str()))
    }

    async fn put_alias(&self, alias: Alias) -> Result<()> {
        self.committer
            .submit(0, move |ctx| {
                let a = &alias.address;
                require_domain(ctx, &a.domain)?;
                if ctx.get(CF_DIRECTORY, &address_key(a.domain.as_str(), a.local.as_str()))?.is_some() {
                    return Err(Error::AlreadyExists(format!("{a} is an account's address")));
                }
                if ctx.get(CF_DIRECTORY, &account_key(alias.account))?.is_none() {
                    return Err(Error::NotFound(format!("account {}", alias.account)));
                }
                ctx.put(CF_DIRECTORY, &alias_key(a.domain.as_str(), a.local.as_str()), &to_json(&alias)?)
            })
            .await
    }

    async fn delete_alias(&self, address: &Address) -> Result<()> {
        let key = alias_key(address.domain.as_str(), address.local.as_str());
        let shown = address.to_string();
        self.committer
            .submit(0, move |ctx| {
                if ctx.get(CF_DIRECTORY, &key)?.is_none() {
                    return Err(Error::NotFound(format!("alias {shown}")));
                }
                ctx.delete(CF_DIRECTORY, &key)
            })
            .await
    }
}
