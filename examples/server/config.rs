//! The reference server's configuration file (TOML). Every key is documented
//! in `examples/server/server.example.toml`; this module parses it, fills in
//! the embedded defaults and validates it, naming the offending key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axigen_core::settings::{ServerDefaults, SettingValue};
use axigen_protocols::listener::ListenerConfig;
use axigen_protocols::tls::TlsMode;
use serde::Deserialize;

/// Services a listener can carry, with whether this build serves them yet.
pub const SERVICES: &[(&str, bool)] =
    &[("smtp", true), ("submission", true), ("imap", true), ("pop3", true), ("http", true)];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the RocksDB store, the development certificate and other state live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Tokio worker threads; 0 = one per core.
    #[serde(default)]
    pub worker_threads: usize,
    /// This server's host name: SMTP greeting, `Received:` headers, bounces.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub smtp: SmtpSettings,
    #[serde(default)]
    pub imap: ImapSettings,
    #[serde(default)]
    pub pop3: Pop3Settings,
    #[serde(default)]
    pub dav: DavSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub processing: Processing,
    #[serde(default)]
    pub delivery: DeliverySettings,
    #[serde(default)]
    pub dns: axigen_protocols::dns::DnsConfig,
    #[serde(default)]
    pub rpop: RpopSettings,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub license: LicenseConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Server-wide setting defaults, by setting name.
    #[serde(default)]
    pub defaults: BTreeMap<String, SettingValue>,
    #[serde(default = "default_listeners", rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub directory: DeclaredDirectory,
}

/// `[store]`: the embedded RocksDB store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Free space (MiB) that writes must leave on the store's file system;
    /// below it deliveries and appends get a temporary error. 0 = no check.
    pub min_free_mb: u64,
    /// Messages whose metadata is kept ready in folder listings.
    pub listing_cache_messages: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        let o = axigen_store::StoreOptions::default();
        StoreSettings { min_free_mb: o.min_free_bytes >> 20, listing_cache_messages: o.listing_cache_messages }
    }
}

/// `[smtp]`: limits shared by the SMTP and submission listeners.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Largest message accepted, in bytes (advertised with SIZE).
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u64,
    /// Recipients per message.
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    /// Bad commands before the session is closed.
    #[serde(default = "default_max_errors")]
    pub max_errors: u32,
    /// Allow AUTH on submission before STARTTLS (not recommended).
    #[serde(default)]
    pub allow_plaintext_auth: bool,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            max_message_size: default_max_message_size(),
            max_recipients: default_max_recipients(),
            max_errors: default_max_errors(),
            allow_plaintext_auth: false,
        }
    }
}

fn default_max_message_size() -> u64 {
    50 * 1024 * 1024
}
fn default_max_recipients() -> usize {
    100
}
fn default_max_errors() -> u32 {
    10
}
/// `[pop3]`: the POP3 listeners (`pop3` with STLS, `pop3s`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3Settings {
    /// Allow USER/PASS and AUTH PLAIN without TLS (default false).
    #[serde(default)]
    pub allow_plaintext_auth: bool,
}

/// `[dav]`: CalDAV and CardDAV on the `http` listeners, under `/dav/`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DavSettings {
    /// Serve authenticated requests over plain HTTP (default false: only
    /// over TLS; turn on behind a TLS-terminating proxy or for tests on
    /// loopback).
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// `[delivery]`: sending queued mail to remote hosts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Whether queued mail is sent at all (off: it waits in the queue).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The remote SMTP port.
    #[serde(default = "default_delivery_port")]
    pub port: u16,
    /// Deliveries at once.
    #[serde(default = "default_delivery_connections")]
    pub max_connections: usize,
    /// Deliveries at once to one destination domain.
    #[serde(default = "default_delivery_per_domain")]
    pub per_domain: usize,
    /// Domains whose hosts must offer STARTTLS with a valid certificate.
    #[serde(default)]
    pub require_tls: Vec<String>,
    /// Trusted roots (PEM) for the domains in `require_tls` and the relay.
    #[serde(default = "default_ca_file")]
    pub ca_file: PathBuf,
    /// `[delivery.retry]`: retry intervals, queue lifetime and delay warning.
    #[serde(default)]
    pub retry: axigen_protocols::outbound::schedule::RetrySchedule,
    /// A relay for all outgoing mail instead of the MX hosts.
    #[serde(default)]
    pub smart_host: Option<SmartHostSettings>,
}

/// `[delivery.smart_host]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmartHostSettings {
    /// Host name or IP address.
    pub host: String,
    #[serde(default = "default_submission_port")]
    pub port: u16,
    /// AUTH user and password (both or neither).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// STARTTLS with a verified certificate is required (default true).
    #[serde(default = "yes")]
    pub require_tls: bool,
}

fn yes() -> bool {
    true
}
fn default_delivery_port() -> u16 {
    25
}
fn default_submission_port() -> u16 {
    587
}
fn default_delivery_connections() -> usize {
    20
}
fn default_delivery_per_domain() -> usize {
    4
}
fn default_ca_file() -> PathBuf {
    PathBuf::from("/etc/ssl/certs/ca-certificates.crt")
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            enabled: true,
            port: default_delivery_port(),
            max_connections: default_delivery_connections(),
            per_domain: default_delivery_per_domain(),
            require_tls: Vec::new(),
            ca_file: default_ca_file(),
            retry: Default::default(),
            smart_host: None,
        }
    }
}

/// `[imap]`: limits shared by the IMAP listeners (`imap`, `imaps`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    /// Sessions one account may have logged in at once, over all IMAP
    /// listeners; 0 = no limit.
    #[serde(default = "default_imap_max_connections_per_account")]
    pub max_connections_per_account: u32,
    /// Commands one connection may send per second, sustained (four
    /// seconds' worth may come at once); 0 = no limit.
    #[serde(default = "default_imap_max_commands_per_second")]
    pub max_commands_per_second: u32,
    /// Allow LOGIN and AUTHENTICATE PLAIN without TLS (default false:
    /// LOGINDISABLED until STARTTLS).
    #[serde(default)]
    pub allow_plaintext_auth: bool,
}

impl Default for ImapSettings {
    fn default() -> Self {
        ImapSettings {
            max_connections_per_account: default_imap_max_connections_per_account(),
            max_commands_per_second: default_imap_max_commands_per_second(),
            allow_plaintext_auth: false,
        }
    }
}

/// `[auth]`: password checks for every protocol and the admin API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// How long a successful password check is remembered, in seconds, so
    /// that clients logging in again do not pay argon2 each time; 0 turns
    /// the cache off. A password change retires the entry at once.
    #[serde(default = "default_verified_cache_seconds")]
    pub verified_cache_seconds: u64,
    /// Successful checks remembered at most.
    #[serde(default = "default_verified_cache_entries")]
    pub verified_cache_entries: usize,
    /// `[auth.throttle]`: the login throttle of every service.
    #[serde(default)]
    pub throttle: ThrottleSettings,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            verified_cache_seconds: default_verified_cache_seconds(),
            verified_cache_entries: default_verified_cache_entries(),
            throttle: ThrottleSettings::default(),
        }
    }
}

/// `[auth.throttle]`: see `axigen_core::login_throttle` for what each
/// threshold does; durations are written as "5m", "1s", "30d".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    #[serde(with = "humantime_serde_compat")]
    pub window: std::time::Duration,
    pub guess_free: u32,
    pub guess_refuse: u32,
    pub spray_free: u32,
    pub spray_refuse: u32,
    pub attack_free: u32,
    #[serde(with = "humantime_serde_compat")]
    pub first_delay: std::time::Duration,
    #[serde(with = "humantime_serde_compat")]
    pub max_delay: std::time::Duration,
    #[serde(with = "humantime_serde_compat")]
    pub known_address_ttl: std::time::Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        let p = axigen_core::login_throttle::ThrottlePolicy::default();
        ThrottleSettings {
            window: p.window,
            guess_free: p.guess_free,
            guess_refuse: p.guess_refuse,
            spray_free: p.spray_free,
            spray_refuse: p.spray_refuse,
            attack_free: p.attack_free,
            first_delay: p.first_delay,
            max_delay: p.max_delay,
            known_address_ttl: p.known_address_ttl,
        }
    }
}

impl ThrottleSettings {
    /// The policy these settings describe.
    pub fn policy(&self) -> axigen_core::login_throttle::ThrottlePolicy {
        axigen_core::login_throttle::ThrottlePolicy {
            window: self.window,
            guess_free: self.guess_free,
            guess_refuse: self.guess_refuse,
            spray_free: self.spray_free,
            spray_refuse: self.spray_refuse,
            attack_free: self.attack_free,
            first_delay: self.first_delay,
            max_delay: self.max_delay,
            known_address_ttl: self.known_address_ttl,
            ..Default::default()
        }
    }
}

/// A duration written for humans ("90s", "5m", "30d").
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

fn default_verified_cache_seconds() -> u64 {
    15 * 60
}
fn default_verified_cache_entries() -> usize {
    10_000
}

fn default_imap_max_connections_per_account() -> u32 {
    axigen_protocols::imap::ImapConfig::new("").max_connections_per_account
}
fn default_imap_max_commands_per_second() -> u32 {
    axigen_protocols::imap::ImapConfig::new("").max_commands_per_second
}
fn default_hostname() -> String {
    "localhost".into()
}

/// `[processing]`: rules and external scanners applied to every message.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processing {
    #[serde(default)]
    pub rule: Vec<axigen_protocols::inbound::Rule>,
    #[serde(default)]
    pub scanner: Vec<axigen_protocols::inbound::ScannerConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter directive.
    #[serde(default = "default_level")]
    pub level: String,
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: default_level(), format: LogFormat::Text }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseConfig {
    /// Signed licence file; relative paths are relative to the config file.
    pub file: Option<PathBuf>,
    /// The vendor's Ed25519 public key (base64) that licences must be signed with.
    pub public_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Names put in the development certificate generated on first start.
    #[serde(default = "default_hostnames")]
    pub hostnames: Vec<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig { hostnames: default_hostnames() }
    }
}

/// Domains, classes, accounts and aliases applied idempotently at start.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredDirectory {
    #[serde(default)]
    pub domain: Vec<DeclaredDomain>,
    #[serde(default)]
    pub class: Vec<DeclaredClass>,
    #[serde(default)]
    pub account: Vec<DeclaredAccount>,
    #[serde(default)]
    pub alias: Vec<DeclaredAlias>,
    /// Remote POP3 mailboxes fetched into accounts (RPOP).
    #[serde(default)]
    pub rpop: Vec<DeclaredRpop>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredDomain {
    pub name: String,
    #[serde(default)]
    pub settings: axigen_core::settings::Overrides,
    /// The account (local part or address) that receives postmaster mail;
    /// unset: the domain's first account.
    #[serde(default)]
    pub postmaster: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredClass {
    pub domain: String,
    pub name: String,
    #[serde(default)]
    pub settings: axigen_core::settings::Overrides,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredAccount {
    pub address: String,
    pub password: String,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub settings: axigen_core::settings::Overrides,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredAlias {
    pub address: String,
    pub account: String,
}

/// `[[directory.rpop]]`: one remote mailbox of an account.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredRpop {
    /// The local account's address.
    pub account: String,
    /// The source's name within the account.
    pub name: String,
    pub host: String,
    #[serde(default = "default_pop3s_port")]
    pub port: u16,
    /// `none`, `stls` or `implicit` (default).
    #[serde(default = "default_rpop_tls")]
    pub tls: axigen_core::rpop::RpopTls,
    pub username: String,
    pub password: String,
    #[serde(default = "default_rpop_folder")]
    pub folder: String,
    #[serde(default)]
    pub leave_on_server: bool,
    #[serde(default = "default_rpop_interval")]
    pub interval_secs: u64,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_pop3s_port() -> u16 {
    995
}
fn default_rpop_tls() -> axigen_core::rpop::RpopTls {
    axigen_core::rpop::RpopTls::Implicit
}
fn default_rpop_folder() -> String {
    "INBOX".into()
}
fn default_rpop_interval() -> u64 {
    600
}

/// `[rpop]`: fetching remote POP3 mailboxes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpopSettings {
    /// Whether sources are fetched at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sources fetched at once.
    #[serde(default = "default_rpop_concurrent")]
    pub max_concurrent: usize,
    /// Trusted roots (PEM) for the remote servers' certificates.
    #[serde(default = "default_ca_file")]
    pub ca_file: PathBuf,
    /// How often the sources are looked at, in seconds.
    #[serde(default = "default_rpop_poll")]
    pub poll_seconds: u64,
}

fn default_rpop_concurrent() -> usize {
    4
}
fn default_rpop_poll() -> u64 {
    10
}

impl Default for RpopSettings {
    fn default() -> Self {
        RpopSettings {
            enabled: true,
            max_concurrent: default_rpop_concurrent(),
            ca_file: default_ca_file(),
            poll_seconds: default_rpop_poll(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_level() -> String {
    "info".into()
}
fn default_hostnames() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}

fn listener(name: &str, service: &str, port: u16, tls: TlsMode) -> ListenerConfig {
    let text = format!(
        "name = \"{name}\"\nservice = \"{service}\"\nbind = \"127.0.0.1:{port}\"\ntls = \"{}\"\n",
        match tls {
            TlsMode::None => "none",
            TlsMode::StartTls => "starttls",
            TlsMode::Implicit => "implicit",
        }
    );
    toml::from_str(&text).expect("built-in listener definitions parse")
}

/// The embedded default: every standard port plus 10000, on loopback.
pub fn default_listeners() -> Vec<ListenerConfig> {
    vec![
        listener("smtp", "smtp", 10025, TlsMode::StartTls),
        listener("submission", "submission", 10587, TlsMode::StartTls),
        listener("imap", "imap", 10143, TlsMode::StartTls),
        listener("imaps", "imap", 10993, TlsMode::Implicit),
        listener("pop3", "pop3", 10110, TlsMode::StartTls),
        listener("pop3s", "pop3", 10995, TlsMode::Implicit),
        listener("http", "http", 10080, TlsMode::None),
        listener("https", "http", 10443, TlsMode::Implicit),
    ]
}

/// `LEVEL` or comma-separated `TARGET=LEVEL` / `LEVEL` directives.
fn valid_log_filter(text: &str) -> bool {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    let level_ok = |l: &str| LEVELS.contains(&l.trim().to_ascii_lowercase().as_str());
    !text.trim().is_empty()
        && text.split(',').all(|d| match d.split_once('=') {
            Some((target, level)) => {
                !target.trim().is_empty()
                    && target.trim().chars().all(|c| c.is_alphanumeric() || "_:-".contains(c))
                    && level_ok(level)
            }
            None => level_ok(d),
        })
}

/// A configuration error that names the key.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// The configuration used when no file is given.
    pub fn embedded_default() -> Config {
        Config::parse("", Path::new(".")).expect("the empty configuration is valid")
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses and validates configuration text; relative paths are resolved
    /// against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string().trim_end().to_owned()))?;
        c.validate()?;
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() && base != Path::new(".") {
                *p = base.join(&*p);
            }
        };
        resolve(&mut c.data_dir);
        if let Some(f) = c.license.file.as_mut() {
            resolve(f);
        }
        for l in &mut c.listeners {
            if let Some(p) = l.certificate.as_mut() {
                resolve(p);
            }
            if let Some(p) = l.key.as_mut() {
                resolve(p);
            }
        }
        Ok(c)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let err = |key: String, msg: String| Err(ConfigError(format!("key `{key}`: {msg}")));
        if self.worker_threads > 1024 {
            return err("worker_threads".into(), "at most 1024".into());
        }
        if self.hostname.is_empty() || !self.hostname.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)) {
            return err("hostname".into(), format!("{:?} is not a host name", self.hostname));
        }
        if self.smtp.max_recipients == 0 {
            return err("smtp.max_recipients".into(), "must be at least 1".into());
        }
        if let Err(e) = axigen_protocols::inbound::RulesFilter::new(self.processing.rule.clone()) {
            return err("processing.rule".into(), e);
        }
        for (i, s) in self.processing.scanner.iter().enumerate() {
            if s.timeout_secs == 0 {
                return err(format!("processing.scanner[{i}].timeout_secs"), "must be at least 1".into());
            }
        }
        if let Err(e) = self.delivery.retry.validate() {
            return Err(ConfigError(format!("key `{}`", e.replacen(": ", "`: ", 1))));
        }
        if self.delivery.max_connections == 0 {
            return err("delivery.max_connections".into(), "must be at least 1".into());
        }
        if self.delivery.per_domain == 0 {
            return err("delivery.per_domain".into(), "must be at least 1".into());
        }
        if let Some(relay) = &self.delivery.smart_host
            && relay.user.is_some() != relay.password.is_some()
        {
            return err("delivery.smart_host.user".into(), "user and password must be given together".into());
        }
        if self.rpop.max_concurrent == 0 {
            return err("rpop.max_concurrent".into(), "must be at least 1".into());
        }
        if self.rpop.poll_seconds == 0 {
            return err("rpop.poll_seconds".into(), "must be at least 1".into());
        }
        if let Err(e) = self.dns.servers() {
            return err("dns.nameservers".into(), e);
        }
        if let Err(e) = self.auth.throttle.policy().validate() {
            return err(format!("auth.throttle.{}", e.split_whitespace().next().unwrap_or("")), e);
        }
        if !valid_log_filter(&self.log.level) {
            return err("log.level".into(), format!("{:?} is not a log level or filter", self.log.level));
        }
        self.server_defaults()?;
        if let Some(pk) = &self.license.public_key {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(pk.trim()) {
                Ok(b) if b.len() == 32 => {}
                _ => {
                    return err(
                        "license.public_key".into(),
                        "must be the base64 of a 32-byte Ed25519 public key".into(),
                    );
                }
            }
        }
        if self.license.file.is_some() && self.license.public_key.is_none() {
            return err("license.public_key".into(), "required when license.file is set".into());
        }
        let mut seen: BTreeMap<SocketAddr, usize> = BTreeMap::new();
        for (i, l) in self.listeners.iter().enumerate() {
            let key = |k: &str| format!("listener[{i}].{k}");
            if !SERVICES.iter().any(|(s, _)| *s == l.service) {
                let known: Vec<_> = SERVICES.iter().map(|(s, _)| *s).collect();
                return err(key("service"), format!("unknown service {:?} (known: {})", l.service, known.join(", ")));
            }
            if l.bind.port() != 0
                && let Some(j) = seen.insert(l.bind, i)
            {
                return err(key("bind"), format!("{} is already used by listener[{j}]", l.bind));
            }
            if l.certificate.is_some() != l.key.is_some() {
                return err(key("certificate"), "certificate and key must be given together".into());
            }
            if l.max_connections == 0 {
                return err(key("max_connections"), "must be at least 1".into());
            }
        }
        for (i, a) in self.directory.account.iter().enumerate() {
            if axigen_core::model::Address::parse(&a.address).is_err() {
                return err(format!("directory.account[{i}].address"), format!("{:?} is not an address", a.address));
            }
            if a.password.is_empty() {
                return err(format!("directory.account[{i}].password"), "may not be empty".into());
            }
        }
        for (i, d) in self.directory.domain.iter().enumerate() {
            if let Err(e) = axigen_core::model::DomainName::new(&d.name) {
                return err(format!("directory.domain[{i}].name"), e.to_string());
            }
        }
        Ok(())
    }

    /// The server defaults with the `[defaults]` table applied.
    pub fn server_defaults(&self) -> Result<ServerDefaults, ConfigError> {
        let mut d = ServerDefaults::default();
        for (k, v) in &self.defaults {
            d.set(k, *v).map_err(|e| ConfigError(format!("key `defaults.\"{k}\"`: {e}")))?;
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_has_every_standard_listener() {
        let c = Config::embedded_default();
        let ports: Vec<u16> = c.listeners.iter().map(|l| l.bind.port()).collect();
        assert_eq!(ports, vec![10025, 10587, 10143, 10993, 10110, 10995, 10080, 10443]);
        assert_eq!(c.data_dir, PathBuf::from("data"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("data_dri = \"x\"", "data_dri"),
            ("[log]\nlevel = \"loud!!\"", "log.level"),
            ("[defaults]\n\"quota.messages\" = true", "quota.messages"),
            ("[defaults]\n\"no.such\" = 1", "no.such"),
            ("[[listener]]\nservice = \"smpt\"\nbind = \"127.0.0.1:1\"", "listener[0].service"),
            ("[[listener]]\nservice = \"http\"\nbind = \"nonsense\"", "bind"),
            ("[[listener]]\nservice = \"http\"\nbind = \"127.0.0.1:1\"\nallow = [\"10.0.0.0/33\"]", "allow"),
            ("[license]\npublic_key = \"abc\"", "license.public_key"),
            ("[[directory.account]]\naddress = \"nobody\"\npassword = \"x\"", "directory.account[0].address"),
            ("[[directory.domain]]\nname = \"a..b\"", "directory.domain[0].name"),
            ("[imap]\nmax_connections_per_account = -1", "max_connections_per_account"),
            ("[imap]\nmax_commands_per_second = \"fast\"", "max_commands_per_second"),
            ("[imap]\nmax_comands_per_second = 10", "max_comands_per_second"),
            ("[delivery]\nper_domain = 0", "delivery.per_domain"),
            ("[delivery.retry]\nintervals = []", "delivery.retry.intervals"),
            ("[delivery.retry]\nmax_lifetime = \"soon\"", "max_lifetime"),
            ("[delivery.smart_host]\nhost = \"relay\"\nuser = \"u\"", "delivery.smart_host.user"),
            ("[delivery]\nretries = 3", "retries"),
            ("[dns]\nnameservers = [\"resolver\"]", "dns.nameservers"),
            ("[rpop]\nmax_concurrent = 0", "rpop.max_concurrent"),
            ("[auth.throttle]\nspray_free = 20", "auth.throttle.spray_refuse"),
            ("[auth.throttle]\nwindow = \"often\"", "window"),
            ("[auth.throttle]\nwindoww = \"5m\"", "windoww"),
            (
                "[[directory.rpop]]\naccount = \"a@b.c\"\nname = \"x\"\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\ntls = \"ssl\"",
                "tls",
            ),
        ];
        for (text, key) in cases {
            let e = Config::parse(text, Path::new(".")).err().unwrap_or_else(|| panic!("{text:?} accepted"));
            assert!(e.0.contains(key), "error for {text:?} does not name {key}: {}", e.0);
        }
    }

    #[test]
    fn example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("server/server.example.toml");
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.listeners.is_empty());
        assert_eq!((c.imap.max_connections_per_account, c.imap.max_commands_per_second), (20, 200));
        assert!(c.delivery.enabled);
        assert_eq!(c.delivery.retry, axigen_protocols::outbound::schedule::RetrySchedule::default());
    }

    #[test]
    fn imap_limits_default_and_parse() {
        let c = Config::embedded_default();
        assert_eq!((c.imap.max_connections_per_account, c.imap.max_commands_per_second), (20, 200));
        let c = Config::parse("[imap]\nmax_connections_per_account = 0\nmax_commands_per_second = 50", Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.imap.max_connections_per_account, c.imap.max_commands_per_second), (0, 50));
    }
}
