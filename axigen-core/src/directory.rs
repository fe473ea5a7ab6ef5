//! Directory, authentication and policy resolution traits.
//!
//! [`Directory`] is what protocol sessions need: authenticate, look up an
//! account, resolve a recipient (aliases included) and compute an account's
//! effective settings. [`DirectoryAdmin`] adds the writes an administrator
//! makes. The RocksDB store implements both; an LDAP directory (clustering)
//! implements the first.

use async_trait::async_trait;

use crate::model::{Account, AccountClass, AccountId, Address, Alias, Domain, DomainName, NewAccount, Principal};
use crate::password;
use crate::settings::{EffectiveSettings, ServerDefaults, resolve};
use crate::{Error, Result};

/// Why a login was refused. Deliberately coarse: a client learns only
/// "invalid credentials", the log learns which.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user or wrong password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The directory could not answer.
    #[error("directory unavailable: {0}")]
    Unavailable(#[from] Error),
}

/// Read side of the directory.
#[async_trait]
pub trait Directory: Send + Sync {
    /// A hosted domain.
    async fn domain(&self, name: &DomainName) -> Result<Option<Domain>>;
    /// An account class of a domain.
    async fn class(&self, domain: &DomainName, name: &str) -> Result<Option<AccountClass>>;
    /// An account by id.
    async fn account(&self, id: AccountId) -> Result<Option<Account>>;
    /// An account by its primary address.
    async fn account_by_address(&self, address: &Address) -> Result<Option<Account>>;
    /// The account an alias delivers to.
    async fn alias(&self, address: &Address) -> Result<Option<Alias>>;
    /// The server-wide defaults, the last level of inheritance.
    fn server_defaults(&self) -> ServerDefaults;

    /// Checks a user name (an address) and password. Runs the same argon2 work
    /// whether or not the account exists, on the blocking pool so that a login
    /// storm does not stall the sessions sharing the runtime.
    async fn authenticate(&self, user: &str, password: &str) -> Result<Principal, AuthError> {
        let account = match Address::parse(user) {
            Ok(addr) => self.account_by_address(&addr).await?,
            Err(_) => None,
        };
        let hash =
            account.as_ref().map(|a| a.password_hash.clone()).unwrap_or_else(|| password::dummy_hash().to_owned());
        let ok = password::verify_password_off_runtime(password, &hash).await;
        match account {
            Some(a) if ok => Ok(Principal { account: a.id, address: a.address }),
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// Resolves a recipient to an account: a primary address, else an alias.
    /// `None` means the domain is hosted here but the mailbox does not exist,
    /// or the domain is not hosted ([`Directory::is_local_domain`] tells which).
    async fn resolve_recipient(&self, address: &Address) -> Result<Option<AccountId>> {
        if let Some(a) = self.account_by_address(address).await? {
            return Ok(Some(a.id));
        }
        Ok(self.alias(address).await?.map(|a| a.account))
    }

    /// Whether mail for this domain is delivered locally.
    async fn is_local_domain(&self, domain: &DomainName) -> Result<bool> {
        Ok(self.domain(domain).await?.is_some())
    }

    /// The first account created in `domain` (the lowest id), if the
    /// directory can tell; the default receiver of the domain's postmaster
    /// mail.
    async fn first_account(&self, _domain: &DomainName) -> Result<Option<AccountId>> {
        Ok(None)
    }

    /// The first hosted domain in name order, if the directory can tell;
    /// where mail for a bare `postmaster` goes when the server's host name
    /// is not a hosted domain.
    async fn first_domain(&self) -> Result<Option<DomainName>> {
        Ok(None)
    }

    /// The account that receives mail for `postmaster@domain` (RFC 5321
    /// 4.5.1 requires the reserved mailbox to be accepted at every hosted
    /// domain), in this order:
    ///
    /// 1. an account or alias whose local part is `postmaster` (any case);
    /// 2. the domain's [`postmaster`](crate::model::Domain::postmaster)
    ///    field, a local part or address of an account or alias;
    /// 3. the domain's first account ([`Directory::first_account`]).
    ///
    /// `None` when the domain is not hosted or has no account at all.
    async fn postmaster(&self, domain: &DomainName) -> Result<Option<AccountId>> {
        let Some(record) = self.domain(domain).await? else {
            return Ok(None);
        };
        if let Ok(reserved) = Address::parse(&format!("postmaster@{domain}"))
            && let Some(id) = self.resolve_recipient(&reserved).await?
        {
            return Ok(Some(id));
        }
        if let Some(named) = record.postmaster.as_deref() {
            let address = if named.contains('@') { named.to_owned() } else { format!("{named}@{domain}") };
            match Address::parse(&address) {
                Ok(address) => match self.resolve_recipient(&address).await? {
                    Some(id) => return Ok(Some(id)),
                    None => tracing::warn!(%domain, postmaster = %address,
                        "the domain's postmaster names no account or alias; using its first account"),
                },
                Err(_) => tracing::warn!(%domain, postmaster = %named,
                    "the domain's postmaster is not an address; using its first account"),
            }
        }
        self.first_account(domain).await
    }

    /// The effective settings of an account, each with where it came from.
    async fn effective_settings(&self, id: AccountId) -> Result<EffectiveSettings> {
        let account = self.account(id).await?.ok_or_else(|| Error::NotFound(format!("account {id}")))?;
        let domain = self
            .domain(&account.address.domain)
            .await?
            .ok_or_else(|| Error::NotFound(format!("domain {}", account.address.domain)))?;
        let class = match &account.class {
            Some(name) => Some(
                self.class(&domain.name, name)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("class {name} of domain {}", domain.name)))?,
            ),
            None => None,
        };
        Ok(resolve(&self.server_defaults(), &domain, class.as_ref(), &account.settings))
    }
}

/// Write side of the directory, for administrators.
#[async_trait]
pub trait DirectoryAdmin: Directory {
    /// All hosted domains, by name.
    async fn domains(&self) -> Result<Vec<Domain>>;
    /// Creates or replaces a domain's record (its settings).
    async fn put_domain(&self, domain: Domain) -> Result<()>;
    /// Deletes a domain; refused while it has accounts, classes or aliases.
    async fn delete_domain(&self, name: &DomainName) -> Result<()>;

    /// The classes of a domain.
    async fn classes(&self, domain: &DomainName) -> Result<Vec<AccountClass>>;
    /// Creates or replaces a class; its domain must exist.
    async fn put_class(&self, class: AccountClass) -> Result<()>;
    /// Deletes a class; refused while accounts belong to it.
    async fn delete_class(&self, domain: &DomainName, name: &str) -> Result<()>;

    /// The accounts of a domain.
    async fn accounts(&self, domain: &DomainName) -> Result<Vec<Account>>;
    /// Number of accounts on the server (for the licence's account limit).
    async fn account_count(&self) -> Result<u32>;
    /// Creates an account (hashing its password) with an INBOX and the
    /// standard special-use folders.
    async fn create_account(&self, new: NewAccount) -> Result<Account>;
    /// Replaces an account's record (class, display name, settings, password hash).
    /// The address and id cannot change.
    async fn update_account(&self, account: Account) -> Result<()>;
    /// Deletes an account, its aliases, its folders and its messages.
    async fn delete_account(&self, id: AccountId) -> Result<()>;

    /// The aliases of a domain.
    async fn aliases(&self, domain: &DomainName) -> Result<Vec<Alias>>;
    /// Creates or re-points an alias; the address must not be an account's.
    async fn put_alias(&self, alias: Alias) -> Result<()>;
    /// Removes an alias.
    async fn delete_alias(&self, address: &Address) -> Result<()>;
}
