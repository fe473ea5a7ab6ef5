//! Account settings and their inheritance (seed 3.6.2.1).
//!
//! Every account-level option is either [`Setting::Explicit`] or
//! [`Setting::Inherit`]. The effective value of an account's option comes from
//! the first level that sets it explicitly, in this order:
//!
//! 1. the account itself,
//! 2. its account class (if it belongs to one),
//! 3. its domain,
//! 4. the server defaults ([`ServerDefaults`]).
//!
//! [`resolve`] returns each value together with its [`Provenance`], so an
//! administrator (or an error message) can say "ActiveSync disabled: inherited
//! from class `basic`". Nothing is copied into accounts: changing a class or a
//! domain changes every account that inherits from it the next time it is
//! resolved.
//!
//! The catalogue of settings is one macro invocation below; each entry has a
//! dotted name used by the admin API and the TOML configuration, a type
//! (boolean or unsigned integer), a server default and a description.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// One option at one level: inherited from the level above, or set here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Setting<T> {
    /// Take the value from the next level up.
    #[default]
    Inherit,
    /// Set at this level.
    Explicit(T),
}

impl<T: Copy> Setting<T> {
    /// The explicit value, if any.
    pub fn explicit(&self) -> Option<T> {
        match self {
            Setting::Inherit => None,
            Setting::Explicit(v) => Some(*v),
        }
    }
}

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "level", content = "name", rename_all = "lowercase")]
pub enum Provenance {
    /// Set explicitly on the account.
    Account,
    /// Inherited from the named account class.
    Class(String),
    /// Inherited from the named domain.
    Domain(String),
    /// The server default.
    Default,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::Account => f.write_str("set explicitly on the account"),
            Provenance::Class(c) => write!(f, "inherited from class `{c}`"),
            Provenance::Domain(d) => write!(f, "inherited from domain `{d}`"),
            Provenance::Default => f.write_str("server default"),
        }
    }
}

/// An effective value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effective<T> {
    /// The value in force.
    pub value: T,
    /// The level that set it.
    pub source: Provenance,
}

/// A setting's value without its Rust type, for the admin API and the TOML
/// configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    /// A switch.
    Bool(bool),
    /// A count or a size.
    U64(u64),
}

impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Bool(b) => write!(f, "{b}"),
            SettingValue::U64(n) => write!(f, "{n}"),
        }
    }
}

/// The type a setting holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SettingType {
    /// `true` / `false`.
    Bool,
    /// A non-negative integer.
    U64,
}

/// Conversion between a typed setting and [`SettingValue`].
pub trait TypedSetting: Copy + Sized {
    /// The dynamic type tag.
    const TYPE: SettingType;
    /// Wraps the value.
    fn to_value(self) -> SettingValue;
    /// Unwraps a value of the right type.
    fn from_value(v: SettingValue) -> Option<Self>;
}

impl TypedSetting for bool {
    const TYPE: SettingType = SettingType::Bool;
    fn to_value(self) -> SettingValue {
        SettingValue::Bool(self)
    }
    fn from_value(v: SettingValue) -> Option<Self> {
        match v {
            SettingValue::Bool(b) => Some(b),
            SettingValue::U64(_) => None,
        }
    }
}

impl TypedSetting for u64 {
    const TYPE: SettingType = SettingType::U64;
    fn to_value(self) -> SettingValue {
        SettingValue::U64(self)
    }
    fn from_value(v: SettingValue) -> Option<Self> {
        match v {
            SettingValue::U64(n) => Some(n),
            SettingValue::Bool(_) => None,
        }
    }
}

/// Description of one catalogue entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SettingInfo {
    /// Dotted name, e.g. `activesync.enabled`.
    pub name: &'static str,
    /// Value type.
    #[serde(rename = "type")]
    pub ty: SettingType,
    /// Server default.
    pub default: SettingValue,
    /// What it controls.
    pub description: &'static str,
}

macro_rules! catalogue {
    ($( $field:ident : $ty:ty = $default:expr, $name:literal, $doc:literal; )*) => {
        /// The options one level (account, class or domain) sets or inherits.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct Overrides {
            $( #[doc = $doc] pub $field: Setting<$ty>, )*
        }

        /// Server-wide defaults: the last level of inheritance.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct ServerDefaults {
            $( #[doc = $doc] pub $field: $ty, )*
        }

        impl Default for ServerDefaults {
            fn default() -> Self {
                ServerDefaults { $( $field: $default, )* }
            }
        }

        /// The effective settings of one account, each with its provenance.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct EffectiveSettings {
            $( #[doc = $doc] #[serde(rename = $name)] pub $field: Effective<$ty>, )*
        }

        /// Every setting the server knows, in catalogue order.
        pub const CATALOGUE: &[SettingInfo] = &[
            $( SettingInfo {
                name: $name,
                ty: <$ty as TypedSetting>::TYPE,
                default: SettingValue::U64(0), // replaced in `catalogue()`
                description: $doc,
            }, )*
        ];

        /// The catalogue with the built-in defaults filled in.
        pub fn catalogue() -> Vec<SettingInfo> {
            let d = ServerDefaults::default();
            let mut out = CATALOGUE.to_vec();
            let mut i = 0;
            $( out[i].default = d.$field.to_value(); i += 1; )*
            let _ = i;
            out
        }

        impl Overrides {
            /// Reads one setting by name.
            pub fn get(&self, name: &str) -> Result<Setting<SettingValue>, Error> {
                match name {
                    $( $name => Ok(match self.$field {
                        Setting::Inherit => Setting::Inherit,
                        Setting::Explicit(v) => Setting::Explicit(v.to_value()),
                    }), )*
                    _ => Err(unknown_setting(name)),
                }
            }

            /// Sets or clears (`Inherit`) one setting by name, checking its type.
            pub fn set(&mut self, name: &str, value: Setting<SettingValue>) -> Result<(), Error> {
                match name {
                    $( $name => {
                        self.$field = match value {
                            Setting::Inherit => Setting::Inherit,
                            Setting::Explicit(v) => Setting::Explicit(
                                <$ty as TypedSetting>::from_value(v).ok_or_else(|| {
                                    Error::Invalid(format!(
                                        "setting `{}` takes a {:?} value, not {v}",
                                        $name, <$ty as TypedSetting>::TYPE
                                    ))
                                })?,
                            ),
                        };
                        Ok(())
                    } )*
                    _ => Err(unknown_setting(name)),
                }
            }

            /// The explicitly set options, by name.
            pub fn to_map(&self) -> BTreeMap<&'static str, SettingValue> {
                let mut m = BTreeMap::new();
                $( if let Setting::Explicit(v) = self.$field { m.insert($name, v.to_value()); } )*
                m
            }
        }

        impl ServerDefaults {
            /// Reads one default by name.
            pub fn get(&self, name: &str) -> Result<SettingValue, Error> {
                match name {
                    $( $name => Ok(self.$field.to_value()), )*
                    _ => Err(unknown_setting(name)),
                }
            }

            /// Overrides one default by name (from the configuration file).
            pub fn set(&mut self, name: &str, value: SettingValue) -> Result<(), Error> {
                match name {
                    $( $name => {
                        self.$field = <$ty as TypedSetting>::from_value(value).ok_or_else(|| {
                            Error::Invalid(format!(
                                "setting `{}` takes a {:?} value, not {value}",
                                $name, <$ty as TypedSetting>::TYPE
                            ))
                        })?;
                        Ok(())
                    } )*
                    _ => Err(unknown_setting(name)),
                }
            }
        }

        /// Resolves every setting of an account (see the module docs for the order).
        pub fn resolve(
            defaults: &ServerDefaults,
            domain: &crate::model::Domain,
            class: Option<&crate::model::AccountClass>,
            account: &Overrides,
        ) -> EffectiveSettings {
            EffectiveSettings {
                $( $field: pick(
                    account.$field,
                    class.map(|c| (c.settings.$field, c.name.as_str())),
                    (domain.settings.$field, domain.name.as_str()),
                    defaults.$field,
                ), )*
            }
        }

        impl EffectiveSettings {
            /// One effective setting by name, untyped.
            pub fn get(&self, name: &str) -> Result<Effective<SettingValue>, Error> {
                match name {
                    $( $name => Ok(Effective {
                        value: self.$field.value.to_value(),
                        source: self.$field.source.clone(),
                    }), )*
                    _ => Err(unknown_setting(name)),
                }
            }
        }
    };
}

catalogue! {
    smtp_enabled: bool = true, "service.smtp",
        "The account may send mail through the submission service.";
    imap_enabled: bool = true, "service.imap",
        "The account may log in over IMAP.";
    pop3_enabled: bool = true, "service.pop3",
        "The account may log in over POP3.";
    webmail_enabled: bool = true, "service.webmail",
        "The account may use WebMail.";
    dav_enabled: bool = true, "service.dav",
        "The account may use CalDAV and CardDAV (calendars, tasks and contacts over HTTP).";
    activesync_enabled: bool = false, "activesync.enabled",
        "Exchange ActiveSync access (needs a licence edition that offers it and a free seat).";
    activesync_email: bool = true, "activesync.email",
        "ActiveSync devices may synchronise mail folders.";
    activesync_contacts: bool = true, "activesync.contacts",
        "ActiveSync devices may synchronise the address book.";
    activesync_pim: bool = true, "activesync.pim",
        "ActiveSync devices may synchronise calendar and tasks.";
    quota_storage_bytes: u64 = 0, "quota.storage_bytes",
        "Mailbox storage quota in bytes; 0 means unlimited.";
    quota_messages: u64 = 0, "quota.messages",
        "Maximum number of stored messages; 0 means unlimited.";
    max_message_size: u64 = 50 * 1024 * 1024, "limits.max_message_size",
        "Largest message, in bytes, the account may send or receive.";
    relay_allowed: bool = true, "relay.allowed",
        "The account may send, after authenticating, to domains not hosted here.";
    rpop_permitted: bool = false, "rpop.permitted",
        "The account may fetch mail from remote POP3 mailboxes (RPOP).";
}

fn unknown_setting(name: &str) -> Error {
    let known: Vec<&str> = CATALOGUE.iter().map(|s| s.name).collect();
    Error::Invalid(format!("unknown setting `{name}` (known settings: {})", known.join(", ")))
}

fn pick<T: Copy>(
    account: Setting<T>,
    class: Option<(Setting<T>, &str)>,
    domain: (Setting<T>, &str),
    default: T,
) -> Effective<T> {
    if let Setting::Explicit(value) = account {
        return Effective { value, source: Provenance::Account };
    }
    if let Some((Setting::Explicit(value), name)) = class {
        return Effective { value, source: Provenance::Class(name.to_owned()) };
    }
    if let Setting::Explicit(value) = domain.0 {
        return Effective { value, source: Provenance::Domain(domain.1.to_owned()) };
    }
    Effective { value: default, source: Provenance::Default }
}

// Overrides travel as a map of explicit settings: `{"activesync.enabled": true}`.
// An absent key is `Inherit`. Unknown keys and wrongly typed values are errors
// that name the key.
impl Serialize for Overrides {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Overrides {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, SettingValue>::deserialize(d)?;
        let mut o = Overrides::default();
        for (k, v) in map {
            o.set(&k, Setting::Explicit(v)).map_err(serde::de::Error::custom)?;
        }
        Ok(o)
    }
}

/// A change to one setting sent by an administrator: a value, or `"inherit"`
/// to clear the level's explicit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingUpdate(pub Setting<SettingValue>);

impl<'de> Deserialize<'de> for SettingUpdate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Value(SettingValue),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Value(v) => Ok(SettingUpdate(Setting::Explicit(v))),
            Raw::Word(w) if w == "inherit" => Ok(SettingUpdate(Setting::Inherit)),
            Raw::Word(w) => {
                Err(serde::de::Error::custom(format!("expected true/false, a number or \"inherit\", found {w:?}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountClass, Domain, DomainName};

    fn domain() -> Domain {
        Domain { name: DomainName::new("example.com").unwrap(), settings: Overrides::default(), postmaster: None }
    }

    fn class(name: &str) -> AccountClass {
        AccountClass {
            domain: DomainName::new("example.com").unwrap(),
            name: name.into(),
            settings: Overrides::default(),
        }
    }

    #[test]
    fn inheritance_order_account_class_domain_default() {
        let mut d = domain();
        let mut c = class("mobile");
        let mut a = Overrides::default();
        let defaults = ServerDefaults::default();

        let e = resolve(&defaults, &d, Some(&c), &a);
        assert_eq!(e.activesync_enabled, Effective { value: false, source: Provenance::Default });

        d.settings.activesync_enabled = Setting::Explicit(true);
        let e = resolve(&defaults, &d, Some(&c), &a);
        assert_eq!(e.activesync_enabled.source, Provenance::Domain("example.com".into()));
        assert!(e.activesync_enabled.value);

        c.settings.activesync_enabled = Setting::Explicit(false);
        let e = resolve(&defaults, &d, Some(&c), &a);
        assert_eq!(e.activesync_enabled, Effective { value: false, source: Provenance::Class("mobile".into()) });

        a.activesync_enabled = Setting::Explicit(true);
        let e = resolve(&defaults, &d, Some(&c), &a);
        assert_eq!(e.activesync_enabled, Effective { value: true, source: Provenance::Account });

        // An account without a class skips that level.
        a.activesync_enabled = Setting::Inherit;
        let e = resolve(&defaults, &d, None, &a);
        assert_eq!(e.activesync_enabled.source, Provenance::Domain("example.com".into()));
    }

    #[test]
    fn set_by_name_checks_name_and_type() {
        let mut o = Overrides::default();
        o.set("quota.storage_bytes", Setting::Explicit(SettingValue::U64(1000))).unwrap();
        assert_eq!(o.quota_storage_bytes, Setting::Explicit(1000));
        let err = o.set("quota.storage_bytes", Setting::Explicit(SettingValue::Bool(true))).unwrap_err();
        assert!(err.to_string().contains("quota.storage_bytes"), "{err}");
        let err = o.set("no.such", Setting::Inherit).unwrap_err();
        assert!(err.to_string().contains("no.such"), "{err}");
        o.set("quota.storage_bytes", Setting::Inherit).unwrap();
        assert_eq!(o.quota_storage_bytes, Setting::Inherit);
    }

    #[test]
    fn overrides_serialise_as_a_map_of_explicit_values() {
        let o = Overrides {
            activesync_enabled: Setting::Explicit(true),
            quota_messages: Setting::Explicit(10),
            ..Overrides::default()
        };
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(json, r#"{"activesync.enabled":true,"quota.messages":10}"#);
        let back: Overrides = serde_json::from_str(&json).unwrap();
        assert_eq!(back, o);
        let err = serde_json::from_str::<Overrides>(r#"{"activesync.enabeld":true}"#).unwrap_err();
        assert!(err.to_string().contains("activesync.enabeld"));
    }

    #[test]
    fn catalogue_lists_every_setting_with_defaults() {
        let c = catalogue();
        assert!(c.len() >= 13);
        let asy = c.iter().find(|s| s.name == "activesync.enabled").unwrap();
        assert_eq!(asy.default, SettingValue::Bool(false));
        let size = c.iter().find(|s| s.name == "limits.max_message_size").unwrap();
        assert_eq!(size.default, SettingValue::U64(50 * 1024 * 1024));
    }

    #[test]
    fn setting_update_accepts_inherit() {
        let u: SettingUpdate = serde_json::from_str("\"inherit\"").unwrap();
        assert_eq!(u.0, Setting::Inherit);
        let u: SettingUpdate = serde_json::from_str("true").unwrap();
        assert_eq!(u.0, Setting::Explicit(SettingValue::Bool(true)));
        assert!(serde_json::from_str::<SettingUpdate>("\"yes\"").is_err());
    }
}
