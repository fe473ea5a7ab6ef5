//! The directory model: server, domains, account classes, accounts and aliases.
//!
//! Names are validated once, at construction (`DomainName::new`, `Address::parse`),
//! so the rest of the code never meets an empty or mixed-case domain.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::settings::Overrides;

/// Numeric identity of an account inside one server. Storage keys use it, so
/// renaming an address never moves mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub u32);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A DNS domain name, lower-cased, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    /// Validates and normalises a domain name (RFC 1035 labels; IDNs are
    /// expected in their A-label form).
    pub fn new(name: &str) -> Result<Self, Error> {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let bad = |why: &str| Error::Invalid(format!("domain name {name:?}: {why}"));
        if name.is_empty() || name.len() > 253 {
            return Err(bad("must be 1 to 253 characters"));
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("each label must be 1 to 63 characters"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("a label may not start or end with '-'"));
            }
            if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(bad("only letters, digits, '-' and '.' are allowed"));
            }
        }
        Ok(DomainName(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DomainName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        DomainName::new(&s)
    }
}

impl From<DomainName> for String {
    fn from(d: DomainName) -> String {
        d.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A local part: the part of an address before `@`. Stored lower-cased;
/// mailbox names are case-insensitive on this server (RFC 5321 2.4 lets the
/// receiving host decide).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalPart(String);

impl LocalPart {
    /// Validates a local part: 1 to 64 octets of dot-atom text (RFC 5322 3.2.3),
    /// UTF-8 allowed (RFC 6531).
    pub fn new(s: &str) -> Result<Self, Error> {
        let lp = s.trim().to_lowercase();
        let bad = |why: &str| Error::Invalid(format!("local part {lp:?}: {why}"));
        if lp.is_empty() || lp.len() > 64 {
            return Err(bad("must be 1 to 64 octets"));
        }
        if lp.starts_with('.') || lp.ends_with('.') || lp.contains("..") {
            return Err(bad("dots may not lead, trail or repeat"));
        }
        const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";
        if !lp.chars().all(|c| c.is_alphanumeric() || SPECIALS.contains(c) || (!c.is_ascii() && !c.is_control())) {
            return Err(bad("contains a character not allowed in an address"));
        }
        Ok(LocalPart(lp))
    }

    /// The local part as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LocalPart {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        LocalPart::new(&s)
    }
}

impl From<LocalPart> for String {
    fn from(l: LocalPart) -> String {
        l.0
    }
}

/// A mailbox address `local@domain`, normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address {
    /// Before the `@`.
    pub local: LocalPart,
    /// After the `@`.
    pub domain: DomainName,
}

impl Address {
    /// Parses `local@domain`; the last `@` separates the two.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, domain) =
            s.rsplit_once('@').ok_or_else(|| Error::Invalid(format!("address {s:?}: missing '@'")))?;
        Ok(Address { local: LocalPart::new(local)?, domain: DomainName::new(domain)? })
    }
}

impl TryFrom<String> for Address {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Address::parse(&s)
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.to_string()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local.0, self.domain.0)
    }
}

/// A hosted domain. Its settings apply to every account of the domain that
/// neither sets them itself nor gets them from its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// The domain's name.
    pub name: DomainName,
    /// Domain-level settings; `Inherit` falls through to the server defaults.
    #[serde(default)]
    pub settings: Overrides,
    /// Who receives mail for the reserved `postmaster` mailbox (RFC 5321
    /// 4.5.1) when no account or alias of that name exists: the local part
    /// (or whole address) of an account or alias of the domain. Unset: the
    /// domain's first account (the oldest). See
    /// [`Directory::postmaster`](crate::directory::Directory::postmaster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postmaster: Option<String>,
}

/// A named bundle of settings inside a domain, shared by the accounts that
/// belong to it (seed 3.6.2.1, "Account Class").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountClass {
    /// The domain the class belongs to.
    pub domain: DomainName,
    /// The class name, unique within its domain.
    pub name: String,
    /// Class-level settings; `Inherit` falls through to the domain.
    #[serde(default)]
    pub settings: Overrides,
}

/// Checks a class name: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
pub fn validate_class_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)) {
        return Err(Error::Invalid(format!("class name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'")));
    }
    Ok(())
}

/// A mail account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Storage identity.
    pub id: AccountId,
    /// The account's primary address.
    pub address: Address,
    /// The class the account belongs to, in the same domain, if any.
    #[serde(default)]
    pub class: Option<String>,
    /// Display name, free text.
    #[serde(default)]
    pub display_name: String,
    /// PHC-format argon2 hash of the password (see [`crate::password`]).
    pub password_hash: String,
    /// Account-level settings; `Inherit` falls through to the class, then the domain.
    #[serde(default)]
    pub settings: Overrides,
}

/// What an administrator supplies to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The primary address; its domain must exist.
    pub address: Address,
    /// Optional class of the same domain.
    pub class: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Plain-text password, hashed before it is stored.
    pub password: String,
    /// Initial account-level settings.
    pub settings: Overrides,
}

/// An extra address that delivers to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// The alias address (its domain must be hosted here).
    pub address: Address,
    /// The account that receives its mail.
    pub account: AccountId,
}

/// What an authenticated session acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account.
    pub account: AccountId,
    /// Its primary address.
    pub address: Address,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_normalised_and_checked() {
        assert_eq!(DomainName::new("Example.COM.").unwrap().as_str(), "example.com");
        assert!(DomainName::new("").is_err());
        assert!(DomainName::new("a..b").is_err());
        assert!(DomainName::new("-a.b").is_err());
        assert!(DomainName::new("a b.c").is_err());
    }

    #[test]
    fn addresses_round_trip() {
        let a = Address::parse("<John.Doe@Example.com>").unwrap();
        assert_eq!(a.to_string(), "john.doe@example.com");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"john.doe@example.com\"");
        let back: Address = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert!(Address::parse("nobody").is_err());
        assert!(Address::parse("a..b@x.org").is_err());
        assert!(Address::parse("jöran@example.org").is_ok());
    }
}
