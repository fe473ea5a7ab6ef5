//! The resource handlers of the admin API: domains, account classes,
//! accounts, aliases, settings, the licence and its seats, mobile devices,
//! and the store check. [`AdminApi::route`] dispatches an authenticated
//! request to them.

use std::collections::BTreeMap;

use axigen_core::access::activesync_access;
use axigen_core::devices::{Device, DeviceAccess, DeviceStore, WipeState};
use axigen_core::directory::{Directory, DirectoryAdmin};
use axigen_core::license::Feature;
use axigen_core::mailstore::MailStore;
use axigen_core::model::{Account, AccountClass, AccountId, Address, Alias, Domain, DomainName, LocalPart, NewAccount};
use axigen_core::password;
use axigen_core::queue::{QueueId, QueueStore};
use axigen_core::rpop::{RpopSource, RpopStatus, RpopStore, RpopTls};
use axigen_core::settings::{Overrides, Setting, SettingUpdate};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use super::{AdminApi, ApiError, ApiResult, Reply, method_not_allowed};

// ---------------------------------------------------------------------------
// Request parsing helpers
// ---------------------------------------------------------------------------

/// The boolean query parameter `name`: `Some(true)` for `name=true` /
/// `name=1` / a bare `name`, `Some(false)` for `false` / `0` or absent;
/// `None` for anything else.
fn query_flag(query: &str, name: &str) -> Option<bool> {
    let mut flag = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
        if key == name {
            flag = match value {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return None,
            };
        }
    }
    Some(flag)
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

/// `{"name": value | "inherit"}` as the admin sends it; values stay raw so
/// that errors can name the key.
type SettingsPatch = BTreeMap<String, Value>;

/// Applies a settings patch to one level; every error names the setting.
fn apply_settings(overrides: &mut Overrides, patch: SettingsPatch) -> Result<(), ApiError> {
    for (name, raw) in patch {
        let update: SettingUpdate =
            serde_json::from_value(raw).map_err(|e| ApiError::bad_request(format!("setting `{name}`: {e}")))?;
        overrides.set(&name, update.0)?;
    }
    Ok(())
}

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`)
/// or a value (`Some(Some(v))`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDomainBody {
    name: String,
    #[serde(default)]
    settings: SettingsPatch,
    /// The account (local part or address) that receives postmaster mail.
    #[serde(default)]
    postmaster: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainPatch {
    /// `null` returns to the default (the domain's first account).
    #[serde(default, deserialize_with = "double_option")]
    postmaster: Option<Option<String>>,
}

/// Checks a domain's `postmaster` value: a local part, or an address in
/// the domain.
fn check_postmaster(domain: &DomainName, value: &str) -> Result<(), ApiError> {
    let address = if value.contains('@') { value.to_owned() } else { format!("{value}@{domain}") };
    match axigen_core::model::Address::parse(&address) {
        Ok(a) if a.domain == *domain => Ok(()),
        Ok(_) => Err(ApiError::bad_request(format!("postmaster: {value:?} is not an address of {domain}"))),
        Err(e) => Err(ApiError::bad_request(format!("postmaster: {value:?}: {e}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClassBody {
    name: String,
    #[serde(default)]
    settings: SettingsPatch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccountBody {
    local_part: String,
    password: String,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    settings: SettingsPatch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountPatchBody {
    /// Absent: unchanged; `null`: no class; a name: that class.
    #[serde(default, deserialize_with = "double_option")]
    class: Option<Option<String>>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    account: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceAccessBody {
    access: DeviceAccess,
}

/// A remote wipe request. The scope is required: a whole-device wipe is not
/// something to get by leaving a field out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WipeBody {
    account_only: bool,
}

// ---------------------------------------------------------------------------
// JSON views
// ---------------------------------------------------------------------------

/// An account as the API shows it: never the password hash.
fn account_json(a: &Account) -> Value {
    json!({
        "id": a.id,
        "address": a.address,
        "class": a.class,
        "display_name": a.display_name,
        "settings": a.settings,
    })
}

fn domain_json(d: &Domain) -> Value {
    json!({ "name": d.name, "settings": d.settings, "postmaster": d.postmaster })
}

fn class_json(c: &AccountClass) -> Value {
    json!({ "domain": c.domain, "name": c.name, "settings": c.settings })
}

/// A device as the API shows it: what the administrator sees and decides,
/// never the policy keys themselves.
fn device_json(d: &Device) -> Value {
    json!({
        "device_id": d.device_id,
        "device_type": d.device_type,
        "model": d.model,
        "friendly_name": d.friendly_name,
        "os": d.os,
        "user_agent": d.user_agent,
        "protocol_version": d.protocol_version,
        "first_seen": d.first_seen,
        "last_sync": d.last_sync,
        "provisioned": d.policy_key != 0,
        "access": d.access,
        "wipe": d.wipe,
    })
}

/// A source as the API shows it: everything but the password, with its status.
fn rpop_json(source: &RpopSource, status: &RpopStatus) -> Value {
    json!({
        "name": source.name,
        "host": source.host,
        "port": source.port,
        "tls": source.tls,
        "username": source.username,
        "folder": source.folder,
        "leave_on_server": source.leave_on_server,
        "interval_secs": source.interval_secs,
        "enabled": source.enabled,
        "status": status,
    })
}

/// The body of `PUT /accounts/{a}/rpop/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RpopBody {
    host: String,
    port: u16,
    #[serde(default)]
    tls: RpopTls,
    username: String,
    /// Absent: the stored one is kept.
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    folder: Option<String>,
    #[serde(default)]
    leave_on_server: bool,
    #[serde(default)]
    interval_secs: Option<u64>,
    #[serde(default)]
    enabled: Option<bool>,
}

fn queue_id(text: &str) -> Result<QueueId, ApiError> {
    text.parse::<u64>().map(QueueId).map_err(|_| ApiError::bad_request(format!("{text:?} is not a queue id")))
}

fn queue_not_found(id: QueueId) -> ApiError {
    ApiError::not_found(format!("queued message {} does not exist", id.0))
}

fn device_not_found(account: &Account, device_id: &str) -> ApiError {
    ApiError::not_found(format!("device {device_id} of account {} does not exist", account.address))
}

/// Arms a remote wipe, told to the device at its next request. A pending
/// wipe that was not sent yet is replaced (the latest request decides the
/// scope); a wipe the device confirmed may be asked for again (it re-arms,
/// e.g. for a device that came back). A wipe sent and not yet confirmed is
/// refused: the device already has its instruction.
fn request_wipe(device: &mut Device, account_only: bool, now: i64) -> axigen_core::Result<()> {
    if let WipeState::Sent { sent_at, .. } = device.wipe {
        return Err(axigen_core::Error::Conflict(format!(
            "a remote wipe was sent to device {} at {sent_at} (Unix time) and is not acknowledged yet",
            device.device_id
        )));
    }
    device.wipe = WipeState::Pending { account_only, requested_at: now };
    Ok(())
}

/// Withdraws a wipe that the device has not been told about yet.
fn cancel_wipe(device: &mut Device) -> axigen_core::Result<()> {
    match device.wipe {
        WipeState::Pending { .. } => {
            device.wipe = WipeState::None;
            Ok(())
        }
        WipeState::Sent { .. } => Err(axigen_core::Error::Conflict(format!(
            "the remote wipe was already sent to device {} and cannot be withdrawn",
            device.device_id
        ))),
        WipeState::None | WipeState::Acknowledged { .. } => {
            Err(axigen_core::Error::Conflict(format!("no remote wipe is pending for device {}", device.device_id)))
        }
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

impl AdminApi {
    /// The server level: every setting's value there and whether it is set at
    /// that level (`server`) or the built-in default (`built-in`).
    fn server_level_json(&self) -> Result<Value, ApiError> {
        let stored = self.store.server_level_settings()?;
        let defaults = self.store.server_defaults();
        let mut out = Map::new();
        for info in axigen_core::settings::CATALOGUE {
            let level = if stored.contains_key(info.name) { "server" } else { "built-in" };
            out.insert(info.name.to_owned(), json!({ "value": defaults.get(info.name)?, "level": level }));
        }
        Ok(Value::Object(out))
    }

    /// Answers an authenticated request whose path below `/api/v1/` is split
    /// into the (decoded, non-empty) segments `s`.
    pub(super) async fn route(&self, method: &Method, s: &[&str], query: &str, body: &Bytes) -> ApiResult {
        match s {
            ["settings"] => match *method {
                Method::GET => Ok(Reply::ok(json!(axigen_core::settings::catalogue()))),
                _ => Err(method_not_allowed("GET")),
            },
            ["defaults"] => match *method {
                Method::GET => Ok(Reply::ok(self.server_level_json()?)),
                Method::PATCH => {
                    let patch: SettingsPatch = parse_json(body)?;
                    let _guard = self.writes.lock().await;
                    for (name, raw) in patch {
                        let update: SettingUpdate = serde_json::from_value(raw)
                            .map_err(|e| ApiError::bad_request(format!("setting `{name}`: {e}")))?;
                        let value = match update.0 {
                            Setting::Inherit => None,
                            Setting::Explicit(v) => Some(v),
                        };
                        self.store.set_server_default(&name, value).await?;
                        tracing::info!(setting = %name, "server-level setting changed");
                    }
                    Ok(Reply::ok(self.server_level_json()?))
                }
                _ => Err(method_not_allowed("GET, PATCH")),
            },
            ["domains"] => match *method {
                Method::GET => {
                    let domains = self.store.domains().await?;
                    Ok(Reply::ok(Value::Array(domains.iter().map(domain_json).collect())))
                }
                Method::POST => self.create_domain(body).await,
                _ => Err(method_not_allowed("GET, POST")),
            },
            ["domains", d] => {
                let name = DomainName::new(d)?;
                match *method {
                    Method::GET => Ok(Reply::ok(domain_json(&self.domain(&name).await?))),
                    Method::PATCH => {
                        let patch: DomainPatch = parse_json(body)?;
                        let _guard = self.writes.lock().await;
                        let mut domain = self.domain(&name).await?;
                        if let Some(postmaster) = patch.postmaster {
                            if let Some(p) = &postmaster {
                                check_postmaster(&name, p)?;
                            }
                            domain.postmaster = postmaster;
                        }
                        self.store.put_domain(domain.clone()).await?;
                        tracing::info!(domain = %name, postmaster = ?domain.postmaster, "domain changed");
                        Ok(Reply::ok(domain_json(&domain)))
                    }
                    Method::DELETE => {
                        let _guard = self.writes.lock().await;
                        self.store.delete_domain(&name).await?;
                        tracing::info!(domain = %name, "domain deleted");
                        Ok(Reply::ok(json!({ "deleted": name })))
                    }
                    _ => Err(method_not_allowed("GET, PATCH, DELETE")),
                }
            }
            ["domains", d, "settings"] => match *method {
                Method::PATCH => {
                    let name = DomainName::new(d)?;
                    let patch: SettingsPatch = parse_json(body)?;
                    let _guard = self.writes.lock().await;
                    let mut domain = self.domain(&name).await?;
                    apply_settings(&mut domain.settings, patch)?;
                    self.store.put_domain(domain.clone()).await?;
                    tracing::info!(domain = %name, "domain settings changed");
                    Ok(Reply::ok(domain_json(&domain)))
                }
                _ => Err(method_not_allowed("PATCH")),
            },
            ["domains", d, "classes"] => {
                let name = DomainName::new(d)?;
                match *method {
                    Method::GET => {
                        self.domain(&name).await?;
                        let classes = self.store.classes(&name).await?;
                        Ok(Reply::ok(Value::Array(classes.iter().map(class_json).collect())))
                    }
                    Method::POST => self.create_class(name, body).await,
                    _ => Err(method_not_allowed("GET, POST")),
                }
            }
            ["domains", d, "classes", c] => {
                let name = DomainName::new(d)?;
                match *method {
                    Method::GET => Ok(Reply::ok(class_json(&self.class(&name, c).await?))),
                    Method::DELETE => {
                        let _guard = self.writes.lock().await;
                        self.store.delete_class(&name, c).await?;
                        tracing::info!(domain = %name, class = %c, "account class deleted");
                        Ok(Reply::ok(json!({ "deleted": c })))
                    }
                    _ => Err(method_not_allowed("GET, DELETE")),
                }
            }
            ["domains", d, "classes", c, "settings"] => match *method {
                Method::PATCH => {
                    let name = DomainName::new(d)?;
                    let patch: SettingsPatch = parse_json(body)?;
                    let _guard = self.writes.lock().await;
                    let mut class = self.class(&name, c).await?;
                    apply_settings(&mut class.settings, patch)?;
                    self.store.put_class(class.clone()).await?;
                    tracing::info!(domain = %name, class = %c, "account class settings changed");
                    Ok(Reply::ok(class_json(&class)))
                }
                _ => Err(method_not_allowed("PATCH")),
            },
            ["domains", d, "accounts"] => {
                let name = DomainName::new(d)?;
                match *method {
                    Method::GET => {
                        self.domain(&name).await?;
                        let accounts = self.store.accounts(&name).await?;
                        Ok(Reply::ok(Value::Array(accounts.iter().map(account_json).collect())))
                    }
                    Method::POST => self.create_account(name, body).await,
                    _ => Err(method_not_allowed("GET, POST")),
                }
            }
            ["domains", d, "aliases"] => match *method {
                Method::GET => {
                    let name = DomainName::new(d)?;
                    self.domain(&name).await?;
                    let mut out = Vec::new();
                    for alias in self.store.aliases(&name).await? {
                        out.push(self.alias_json(&alias).await?);
                    }
                    Ok(Reply::ok(Value::Array(out)))
                }
                _ => Err(method_not_allowed("GET")),
            },
            ["accounts", a] => match *method {
                Method::GET => Ok(Reply::ok(account_json(&self.account(a).await?))),
                Method::PATCH => self.patch_account(a, body).await,
                Method::DELETE => {
                    let _guard = self.writes.lock().await;
                    let account = self.account(a).await?;
                    self.store.delete_account(account.id).await?;
                    tracing::info!(account = %account.address, "account deleted");
                    Ok(Reply::ok(json!({ "deleted": account.address })))
                }
                _ => Err(method_not_allowed("GET, PATCH, DELETE")),
            },
            ["accounts", a, "settings"] => match *method {
                Method::PATCH => {
                    let patch: SettingsPatch = parse_json(body)?;
                    let _guard = self.writes.lock().await;
                    let mut account = self.account(a).await?;
                    apply_settings(&mut account.settings, patch)?;
                    self.store.update_account(account.clone()).await?;
                    tracing::info!(account = %account.address, "account settings changed");
                    Ok(Reply::ok(account_json(&account)))
                }
                _ => Err(method_not_allowed("PATCH")),
            },
            ["accounts", a, "effective"] => match *method {
                Method::GET => self.effective(a).await,
                _ => Err(method_not_allowed("GET")),
            },
            ["accounts", a, "folders"] => match *method {
                Method::GET => {
                    // Mailbox statistics only: the admin API never returns message content.
                    let account = self.account(a).await?;
                    let folders = MailStore::folders(&*self.store, account.id).await?;
                    let usage = self.store.quota_usage(account.id).await?;
                    Ok(Reply::ok(json!({ "usage": usage, "folders": folders })))
                }
                _ => Err(method_not_allowed("GET")),
            },
            ["accounts", a, "devices"] => match *method {
                Method::GET => {
                    let account = self.account(a).await?;
                    let devices = self.store.devices(account.id).await?;
                    Ok(Reply::ok(Value::Array(devices.iter().map(device_json).collect())))
                }
                _ => Err(method_not_allowed("GET")),
            },
            ["accounts", a, "devices", d] => match *method {
                Method::GET => {
                    let account = self.account(a).await?;
                    match self.store.device(account.id, d).await? {
                        Some(device) => Ok(Reply::ok(device_json(&device))),
                        None => Err(device_not_found(&account, d)),
                    }
                }
                Method::DELETE => {
                    // The device and its sync state go in one write: its
                    // next request finds no partnership and starts over.
                    // That would also forget a wipe in progress and let the
                    // device sync again, so it takes `force=true` then.
                    let force = query_flag(query, "force")
                        .ok_or_else(|| ApiError::bad_request("`force` must be true or false"))?;
                    let account = self.account(a).await?;
                    let _guard = self.writes.lock().await;
                    let device =
                        self.store.device(account.id, d).await?.ok_or_else(|| device_not_found(&account, d))?;
                    if !force && matches!(device.wipe, WipeState::Pending { .. } | WipeState::Sent { .. }) {
                        return Err(ApiError::new(
                            StatusCode::CONFLICT,
                            format!(
                                "a remote wipe of device {d} is in progress; removing the partnership would let the \
                                 device synchronise again (add ?force=true to remove it anyway)"
                            ),
                        ));
                    }
                    if !self.store.delete_device(account.id, d).await? {
                        return Err(device_not_found(&account, d));
                    }
                    tracing::info!(account = %account.address, device = %d, "device partnership removed");
                    Ok(Reply::ok(json!({ "deleted": d })))
                }
                _ => Err(method_not_allowed("GET, DELETE")),
            },
            ["accounts", a, "devices", d, "access"] => match *method {
                Method::PUT => {
                    let req: DeviceAccessBody = parse_json(body)?;
                    let account = self.account(a).await?;
                    let device = self
                        .change_device(&account, d, move |device| {
                            device.access = req.access;
                            Ok(())
                        })
                        .await?;
                    tracing::info!(account = %account.address, device = %d, access = ?req.access, "device access set");
                    Ok(Reply::ok(device_json(&device)))
                }
                _ => Err(method_not_allowed("PUT")),
            },
            ["accounts", a, "devices", d, "wipe"] => match *method {
                Method::POST => {
                    let req: WipeBody = parse_json(body)?;
                    let account = self.account(a).await?;
                    let now = i64::try_from(axigen_core::unix_now()).unwrap_or(i64::MAX);
                    let _guard = self.writes.lock().await;
                    let device = self
                        .change_device(&account, d, move |device| request_wipe(device, req.account_only, now))
                        .await?;
                    tracing::warn!(
                        account = %account.address,
                        device = %d,
                        account_only = req.account_only,
                        "remote wipe requested"
                    );
                    Ok(Reply::json(StatusCode::ACCEPTED, device_json(&device)))
                }
                Method::DELETE => {
                    let account = self.account(a).await?;
                    let _guard = self.writes.lock().await;
                    let device = self.change_device(&account, d, cancel_wipe).await?;
                    tracing::info!(account = %account.address, device = %d, "pending remote wipe cancelled");
                    Ok(Reply::ok(device_json(&device)))
                }
                _ => Err(method_not_allowed("POST, DELETE")),
            },
            ["accounts", a, "seats", f] => {
                let feature: Feature = f
                    .parse()
                    .map_err(|e: axigen_core::license::UnknownFeature| ApiError::bad_request(e.to_string()))?;
                match *method {
                    Method::POST => {
                        let account = self.account(a).await?;
                        match self.licensing.authorize(account.id, feature).await {
                            Ok(grant) => Ok(Reply::ok(json!({
                                "account": account.address,
                                "feature": feature,
                                "seat_limited": grant.seat_limited,
                                "new_seat": grant.new_seat,
                            }))),
                            Err(refusal) => Err(ApiError::refusal(&refusal)),
                        }
                    }
                    Method::DELETE => {
                        let account = self.account(a).await?;
                        if self.licensing.release_seat(account.id, feature).await? {
                            Ok(Reply::ok(json!({
                                "account": account.address,
                                "feature": feature,
                                "released": true,
                            })))
                        } else {
                            Err(ApiError::not_found(format!("{} holds no {feature} seat", account.address)))
                        }
                    }
                    _ => Err(method_not_allowed("POST, DELETE")),
                }
            }
            ["license"] => match *method {
                Method::GET => self.license_view().await,
                Method::PUT => self.install_license(body),
                _ => Err(method_not_allowed("GET, PUT")),
            },
            ["aliases", a] => {
                let address = Address::parse(a)?;
                match *method {
                    Method::PUT => {
                        let req: AliasBody = parse_json(body)?;
                        let target = self.account(&req.account).await?;
                        let alias = Alias { address, account: target.id };
                        let _guard = self.writes.lock().await;
                        self.store.put_alias(alias.clone()).await?;
                        tracing::info!(alias = %alias.address, account = %target.address, "alias set");
                        Ok(Reply::ok(self.alias_json(&alias).await?))
                    }
                    Method::DELETE => {
                        let _guard = self.writes.lock().await;
                        self.store.delete_alias(&address).await?;
                        tracing::info!(alias = %address, "alias deleted");
                        Ok(Reply::ok(json!({ "deleted": address })))
                    }
                    _ => Err(method_not_allowed("PUT, DELETE")),
                }
            }
            // RPOP: remote POP3 mailboxes fetched into the account. The
            // password is never returned.
            ["accounts", a, "rpop"] => match *method {
                Method::GET => {
                    let account = self.account(a).await?;
                    let mut out = Vec::new();
                    for source in self.store.account_rpop_sources(account.id).await? {
                        let status = self.store.rpop_status(account.id, &source.name).await?;
                        out.push(rpop_json(&source, &status));
                    }
                    Ok(Reply::ok(Value::Array(out)))
                }
                _ => Err(method_not_allowed("GET")),
            },
            ["accounts", a, "rpop", name] => match *method {
                Method::GET => {
                    let account = self.account(a).await?;
                    let source = self.rpop_source(&account, name).await?;
                    let status = self.store.rpop_status(account.id, name).await?;
                    Ok(Reply::ok(rpop_json(&source, &status)))
                }
                Method::PUT => {
                    let req: RpopBody = parse_json(body)?;
                    let account = self.account(a).await?;
                    let permitted = self.store.effective_settings(account.id).await?.rpop_permitted;
                    if !permitted.value {
                        return Err(ApiError::new(
                            StatusCode::FORBIDDEN,
                            format!("RPOP is not permitted for {} ({})", account.address, permitted.source),
                        ));
                    }
                    let existing =
                        self.store.account_rpop_sources(account.id).await?.into_iter().find(|s| s.name == *name);
                    let password = match (req.password, &existing) {
                        (Some(p), _) => p,
                        (None, Some(old)) => old.password.clone(),
                        (None, None) => return Err(ApiError::bad_request("`password` is required for a new source")),
                    };
                    let source = RpopSource {
                        account: account.id,
                        name: name.to_string(),
                        host: req.host,
                        port: req.port,
                        tls: req.tls,
                        username: req.username,
                        password,
                        folder: req.folder.unwrap_or_else(|| "INBOX".into()),
                        leave_on_server: req.leave_on_server,
                        interval_secs: req.interval_secs.unwrap_or(600),
                        enabled: req.enabled.unwrap_or(true),
                    };
                    self.store.put_rpop_source(source.clone()).await?;
                    tracing::info!(account = %account.address, source = %name, host = %source.host, "rpop source set");
                    let status = self.store.rpop_status(account.id, name).await?;
                    Ok(Reply::ok(rpop_json(&source, &status)))
                }
                Method::DELETE => {
                    let account = self.account(a).await?;
                    if !self.store.delete_rpop_source(account.id, name).await? {
                        return Err(ApiError::not_found(format!("{} has no rpop source {name}", account.address)));
                    }
                    Ok(Reply::ok(json!({ "deleted": name })))
                }
                _ => Err(method_not_allowed("GET, PUT, DELETE")),
            },
            // The outbound queue: what waits for remote hosts, with each
            // recipient's state; counters for reporting.
            ["queue"] => match *method {
                Method::GET => {
                    let entries = QueueStore::queued(&*self.store).await?;
                    let stats = self.store.queue_stats().await?;
                    Ok(Reply::ok(json!({ "stats": stats, "messages": entries })))
                }
                _ => Err(method_not_allowed("GET")),
            },
            ["queue", "stats"] => match *method {
                Method::GET => Ok(Reply::ok(json!(self.store.queue_stats().await?))),
                _ => Err(method_not_allowed("GET")),
            },
            ["queue", id] => {
                let id = queue_id(id)?;
                match *method {
                    Method::GET => match self.store.queued_entry(id).await? {
                        Some(entry) => Ok(Reply::ok(json!(entry))),
                        None => Err(queue_not_found(id)),
                    },
                    Method::DELETE => {
                        self.store.delete_queued(id).await.map_err(|e| match e {
                            axigen_core::Error::NotFound(_) => queue_not_found(id),
                            other => other.into(),
                        })?;
                        tracing::warn!(queue_id = id.0, "queued message deleted by the administrator");
                        Ok(Reply::ok(json!({ "deleted": id.0 })))
                    }
                    _ => Err(method_not_allowed("GET, DELETE")),
                }
            }
            ["queue", id, "retry"] => match *method {
                Method::POST => {
                    let id = queue_id(id)?;
                    self.store.retry_now(id).await.map_err(|e| match e {
                        axigen_core::Error::NotFound(_) => queue_not_found(id),
                        other => other.into(),
                    })?;
                    tracing::info!(queue_id = id.0, "queued message due now (administrator)");
                    Ok(Reply::ok(json!({ "retry": id.0 })))
                }
                _ => Err(method_not_allowed("POST")),
            },
            ["throttle"] => match *method {
                Method::GET => {
                    let p = self.throttle.policy();
                    let mut body =
                        serde_json::to_value(self.throttle.report()).map_err(|e| ApiError::internal(e.to_string()))?;
                    if let Value::Object(map) = &mut body {
                        map.insert(
                            "policy".into(),
                            json!({
                                "window_secs": p.window.as_secs(),
                                "guess_free": p.guess_free,
                                "guess_refuse": p.guess_refuse,
                                "spray_free": p.spray_free,
                                "spray_refuse": p.spray_refuse,
                                "attack_free": p.attack_free,
                                "first_delay_ms": p.first_delay.as_millis() as u64,
                                "max_delay_ms": p.max_delay.as_millis() as u64,
                            }),
                        );
                    }
                    Ok(Reply::ok(body))
                }
                _ => Err(method_not_allowed("GET")),
            },
            ["throttle", "addresses", ip] => match *method {
                Method::DELETE => {
                    let addr: std::net::IpAddr =
                        ip.parse().map_err(|_| ApiError::bad_request(format!("{ip:?} is not an IP address")))?;
                    if self.throttle.clear_address(addr) {
                        tracing::info!(address = %addr, "login throttle cleared for an address by the administrator");
                        Ok(Reply::ok(json!({ "cleared": addr.to_string() })))
                    } else {
                        Err(ApiError::not_found(format!("the throttle holds nothing for {addr}")))
                    }
                }
                _ => Err(method_not_allowed("DELETE")),
            },
            ["throttle", "accounts", login] => match *method {
                Method::DELETE => {
                    if self.throttle.clear_login(login) {
                        tracing::info!(login = %login, "login throttle cleared for an account by the administrator");
                        Ok(Reply::ok(json!({ "cleared": login })))
                    } else {
                        Err(ApiError::not_found(format!("the throttle holds nothing for {login}")))
                    }
                }
                _ => Err(method_not_allowed("DELETE")),
            },
            ["check"] => match *method {
                Method::POST => {
                    let deep = query_flag(query, "deep")
                        .ok_or_else(|| ApiError::bad_request("`deep` must be true or false"))?;
                    let store = self.store.clone();
                    let report = tokio::task::spawn_blocking(move || store.check(deep))
                        .await
                        .map_err(|e| ApiError::internal(format!("the check failed: {e}")))??;
                    let mut body = serde_json::to_value(&report).map_err(|e| ApiError::internal(e.to_string()))?;
                    if let Value::Object(map) = &mut body {
                        map.insert("clean".into(), Value::Bool(report.is_clean()));
                        map.insert("deep".into(), Value::Bool(deep));
                    }
                    Ok(Reply::ok(body))
                }
                _ => Err(method_not_allowed("POST")),
            },
            _ => Err(ApiError::not_found(format!("no such resource: /api/v1/{}", s.join("/")))),
        }
    }

    // --- lookups -----------------------------------------------------------

    async fn domain(&self, name: &DomainName) -> Result<Domain, ApiError> {
        self.store.domain(name).await?.ok_or_else(|| ApiError::not_found(format!("domain {name} does not exist")))
    }

    async fn class(&self, domain: &DomainName, name: &str) -> Result<AccountClass, ApiError> {
        self.domain(domain).await?;
        self.store
            .class(domain, name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("class {name} of domain {domain} does not exist")))
    }

    async fn rpop_source(&self, account: &Account, name: &str) -> Result<RpopSource, ApiError> {
        self.store
            .account_rpop_sources(account.id)
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ApiError::not_found(format!("{} has no rpop source {name}", account.address)))
    }

    async fn account(&self, address: &str) -> Result<Account, ApiError> {
        let address = Address::parse(address)?;
        self.store
            .account_by_address(&address)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("account {address} does not exist")))
    }

    /// Changes one device of `account` atomically (see
    /// [`axigen_store::Store::update_device`]); 404 when it does not exist.
    async fn change_device<F>(&self, account: &Account, device_id: &str, change: F) -> Result<Device, ApiError>
    where
        F: FnOnce(&mut Device) -> axigen_core::Result<()> + Send + 'static,
    {
        match self.store.update_device(account.id, device_id, change).await {
            Err(axigen_core::Error::NotFound(_)) => Err(device_not_found(account, device_id)),
            other => Ok(other?),
        }
    }

    async fn address_of(&self, id: AccountId) -> Result<Value, ApiError> {
        Ok(match self.store.account(id).await? {
            Some(a) => json!(a.address),
            None => Value::Null,
        })
    }

    async fn alias_json(&self, alias: &Alias) -> Result<Value, ApiError> {
        Ok(json!({
            "address": alias.address,
            "account": self.address_of(alias.account).await?,
            "account_id": alias.account,
        }))
    }

    // --- writes ------------------------------------------------------------

    async fn create_domain(&self, body: &Bytes) -> ApiResult {
        let req: NewDomainBody = parse_json(body)?;
        let mut domain = Domain { name: DomainName::new(&req.name)?, settings: Overrides::default(), postmaster: None };
        apply_settings(&mut domain.settings, req.settings)?;
        if let Some(p) = req.postmaster {
            check_postmaster(&domain.name, &p)?;
            domain.postmaster = Some(p);
        }
        let _guard = self.writes.lock().await;
        if self.store.domain(&domain.name).await?.is_some() {
            return Err(ApiError::new(StatusCode::CONFLICT, format!("domain {} already exists", domain.name)));
        }
        self.store.put_domain(domain.clone()).await?;
        tracing::info!(domain = %domain.name, "domain created");
        Ok(Reply::created(domain_json(&domain)))
    }

    async fn create_class(&self, domain: DomainName, body: &Bytes) -> ApiResult {
        let req: NewClassBody = parse_json(body)?;
        axigen_core::model::validate_class_name(&req.name)?;
        let mut class = AccountClass { domain, name: req.name, settings: Overrides::default() };
        apply_settings(&mut class.settings, req.settings)?;
        let _guard = self.writes.lock().await;
        self.domain(&class.domain).await?;
        if self.store.class(&class.domain, &class.name).await?.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("class {} of domain {} already exists", class.name, class.domain),
            ));
        }
        self.store.put_class(class.clone()).await?;
        tracing::info!(domain = %class.domain, class = %class.name, "account class created");
        Ok(Reply::created(class_json(&class)))
    }

    async fn create_account(&self, domain: DomainName, body: &Bytes) -> ApiResult {
        let req: NewAccountBody = parse_json(body)?;
        let address = Address { local: LocalPart::new(&req.local_part)?, domain };
        let mut settings = Overrides::default();
        apply_settings(&mut settings, req.settings)?;
        let _guard = self.writes.lock().await;
        // Without a licence, or with one that does not cap accounts, there
        // is no account limit.
        if self.licensing.license().is_some_and(|l| l.max_accounts.is_some()) {
            let count = self.store.account_count().await?;
            self.licensing.check_account_count(count).map_err(|refusal| ApiError::refusal(&refusal))?;
        }
        let account = self
            .store
            .create_account(NewAccount {
                address,
                class: req.class,
                display_name: req.display_name,
                password: req.password,
                settings,
            })
            .await?;
        tracing::info!(account = %account.address, id = %account.id, "account created");
        Ok(Reply::created(account_json(&account)))
    }

    async fn patch_account(&self, address: &str, body: &Bytes) -> ApiResult {
        let req: AccountPatchBody = parse_json(body)?;
        let new_hash = match req.password {
            Some(password) if password.is_empty() => {
                return Err(ApiError::bad_request("the password may not be empty"));
            }
            Some(password) => Some(
                tokio::task::spawn_blocking(move || password::hash_password(&password))
                    .await
                    .map_err(|e| ApiError::internal(format!("password hashing failed: {e}")))??,
            ),
            None => None,
        };
        let _guard = self.writes.lock().await;
        let mut account = self.account(address).await?;
        if let Some(class) = req.class {
            account.class = class;
        }
        if let Some(display_name) = req.display_name {
            account.display_name = display_name;
        }
        if let Some(hash) = new_hash {
            account.password_hash = hash;
        }
        self.store.update_account(account.clone()).await?;
        tracing::info!(account = %account.address, "account changed");
        Ok(Reply::ok(account_json(&account)))
    }

    // --- views -------------------------------------------------------------

    async fn effective(&self, address: &str) -> ApiResult {
        let account = self.account(address).await?;
        let settings = self.store.effective_settings(account.id).await?;
        let mut licence = Map::new();
        for feature in Feature::ALL {
            let state = self.licensing.seat_state(account.id, feature).await?;
            licence.insert(
                feature.as_str().to_owned(),
                serde_json::to_value(&state).map_err(|e| ApiError::internal(e.to_string()))?,
            );
        }
        let (enabled, reason) = activesync_access(&*self.store, &self.licensing, account.id).await;
        Ok(Reply::ok(json!({
            "address": account.address,
            "id": account.id,
            "class": account.class,
            "settings": settings,
            "licence": licence,
            "activesync": { "enabled": enabled, "reason": reason },
        })))
    }

    async fn license_view(&self) -> ApiResult {
        let license = self.licensing.license();
        let mut seats = Map::new();
        for feature in Feature::ALL {
            let limit = license.as_ref().and_then(|l| l.seat_limit(feature));
            let holders = self.licensing.seat_holders(feature).await?;
            if limit.is_none() && holders.is_empty() {
                continue;
            }
            let mut addresses = Vec::with_capacity(holders.len());
            for id in holders {
                addresses.push(match self.store.account(id).await? {
                    Some(a) => json!(a.address),
                    None => json!(format!("account {id}")),
                });
            }
            seats.insert(feature.as_str().to_owned(), json!({ "limit": limit, "holders": addresses }));
        }
        let accounts = self.store.account_count().await?;
        Ok(Reply::ok(json!({
            "license": license,
            "expired": license.as_ref().map(|l| l.is_expired(self.licensing.now())),
            "accounts": {
                "count": accounts,
                "max": license.as_ref().and_then(|l| l.max_accounts),
            },
            "seats": seats,
            "can_install": self.license_provider.is_some(),
        })))
    }

    fn install_license(&self, body: &Bytes) -> ApiResult {
        let Some(provider) = &self.license_provider else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no vendor public key is configured, so a licence cannot be installed at run time",
            ));
        };
        let text =
            std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the licence file is not UTF-8 text"))?;
        match provider.reload_from(text) {
            Ok(license) => Ok(Reply::ok(json!({ "license": license }))),
            Err(e) => Err(ApiError::bad_request(e.to_string())),
        }
    }
}
