//! Settings (MS-ASCMD 2.2.1.18): what the device tells about itself, what
//! the server tells about the account.
//!
//! * **DeviceInformation Set**: the model, friendly name, operating system
//!   and user agent are kept with the device record (where the
//!   administrator sees them). The device record has no place for the IMEI,
//!   the phone number, the OS language, the mobile operator or
//!   EnableOutboundSMS: those are accepted and not kept (nor logged: they
//!   identify a person).
//! * **UserInformation Get**: the account's display name and primary
//!   address (14.1 and later inside `Accounts/Account`, before that as a
//!   bare `EmailAddresses` list). The directory looks aliases up by their
//!   own address only and cannot list an account's aliases, so only the
//!   primary address is given.
//! * **Oof Get/Set**: the account's out-of-office reply (see `oof.rs`),
//!   which SMTP delivery sends; status 3 (access denied) when the endpoint
//!   was built without an out-of-office store.
//! * **DevicePassword Set**: the recovery password is acknowledged
//!   (status 1); the server keeps no copy, there being no recovery service
//!   that would hand it out.
//! * **RightsManagementInformation Get**: there is no rights management;
//!   the answer is an empty template list.
//!
//! A request naming anything else, or a property without its Get or Set,
//! is a protocol error (status 2) for the whole request, as is a body that
//! is not a Settings document.

use bytes::Bytes;
use hyper::Response;
use tracing::{debug, info};

use crate::request::ProtocolVersion;
use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::wbxml::{CodePage, Element};

/// MS-ASCMD 2.2.3.177.15: the Settings status codes used here.
pub(crate) mod status {
    pub const SUCCESS: u16 = 1;
    /// Protocol error: the request does not validate.
    pub const PROTOCOL: u16 = 2;
    /// Access denied: what this server does not offer to the account.
    pub const ACCESS_DENIED: u16 = 3;
    /// Server unavailable: the store or directory failed.
    pub const UNAVAILABLE: u16 = 4;
    /// Invalid arguments.
    pub const INVALID_ARGUMENTS: u16 = 5;
}

/// The properties a Settings request may name.
const PROPERTIES: &[&str] =
    &["Oof", "DevicePassword", "DeviceInformation", "UserInformation", "RightsManagementInformation"];

/// What a DeviceInformation Set carries that the device record keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeviceInfo {
    pub model: Option<String>,
    pub friendly_name: Option<String>,
    pub os: Option<String>,
    pub user_agent: Option<String>,
}

/// Longest value kept for a device property (the schema allows 1024).
const MAX_PROPERTY: usize = 1024;

impl DeviceInfo {
    /// The values of a `Set`, trimmed; empty ones are absent. `None` when a
    /// value is longer than the schema allows.
    pub(crate) fn from_set(set: &Element) -> Option<DeviceInfo> {
        let mut too_long = false;
        let mut text = |name: &str| {
            let value = set.child_text(CodePage::Settings, name)?.trim().to_owned();
            too_long |= value.chars().count() > MAX_PROPERTY;
            (!value.is_empty()).then_some(value)
        };
        let info = DeviceInfo {
            model: text("Model"),
            friendly_name: text("FriendlyName"),
            os: text("OS"),
            user_agent: text("UserAgent"),
        };
        (!too_long).then_some(info)
    }
}

/// One property's answer: `<name><Status>n</Status>...</name>`.
pub(crate) fn answer(name: &str, status: u16) -> Element {
    Element::new(CodePage::Settings, name).with_text_child("Status", status.to_string())
}

impl ActiveSync {
    /// The Settings command.
    pub(crate) async fn settings(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        let (account, device) = (ctx.principal.account, ctx.device.device_id.clone());
        let Some(root) = root.filter(|r| r.is(CodePage::Settings, "Settings")) else {
            info!(account = %account, device = %device, "Settings refused: not a Settings request");
            return status_only(command, status::PROTOCOL);
        };
        let properties: Vec<&Element> = root.elements().collect();
        let well_formed = |p: &Element| {
            p.page() == CodePage::Settings
                && PROPERTIES.contains(&p.name())
                && p.elements().count() == 1
                && p.elements().all(|op| op.is(CodePage::Settings, "Get") || op.is(CodePage::Settings, "Set"))
        };
        if properties.is_empty() || !properties.iter().all(|p| well_formed(p)) {
            info!(account = %account, device = %device, "Settings refused: no property, an unknown one, or one without Get/Set");
            return status_only(command, status::PROTOCOL);
        }
        let mut out = Element::new(CodePage::Settings, "Settings").with_text_child("Status", "1");
        for property in properties {
            let set = property.child(CodePage::Settings, "Set");
            let get = property.child(CodePage::Settings, "Get");
            let element = match (property.name(), get, set) {
                ("DeviceInformation", _, Some(set)) => self.device_information(&ctx, set).await,
                ("UserInformation", Some(_), _) => self.user_information(&ctx).await,
                ("Oof", get, set) => self.oof(&ctx, get, set).await,
                ("DevicePassword", _, Some(set)) => {
                    let given = set.child_text(CodePage::Settings, "Password").is_some_and(|p| !p.is_empty());
                    info!(account = %account, device = %device, given, "Settings DevicePassword acknowledged (not kept)");
                    answer("DevicePassword", if given { status::SUCCESS } else { status::INVALID_ARGUMENTS })
                }
                ("RightsManagementInformation", Some(_), _) => {
                    debug!(account = %account, device = %device, "Settings RightsManagementInformation: no templates");
                    answer("RightsManagementInformation", status::SUCCESS).with(Element::new(CodePage::Settings, "Get"))
                }
                (name, _, _) => {
                    // DeviceInformation/UserInformation/DevicePassword/RightsManagementInformation
                    // with the other operation than the one they take.
                    info!(account = %account, device = %device, property = name, "Settings refused: operation not supported for this property");
                    answer(name, status::PROTOCOL)
                }
            };
            out.push(element);
        }
        wbxml_response(&out)
    }

    /// DeviceInformation Set: kept with the device record.
    async fn device_information(&self, ctx: &Context, set: &Element) -> Element {
        let Some(info) = DeviceInfo::from_set(set) else {
            info!(account = %ctx.principal.account, device = %ctx.device.device_id, "Settings DeviceInformation refused: a value too long");
            return answer("DeviceInformation", status::INVALID_ARGUMENTS);
        };
        let DeviceInfo { model, friendly_name, os, user_agent } = info;
        let updated = self
            .update(&ctx.device, move |d| {
                d.model = model.or(d.model.take());
                d.friendly_name = friendly_name.or(d.friendly_name.take());
                d.os = os.or(d.os.take());
                d.user_agent = user_agent.or(d.user_agent.take());
            })
            .await;
        match updated {
            Ok(d) => {
                info!(account = %d.account, device = %d.device_id, model = ?d.model, os = ?d.os, "Settings DeviceInformation stored");
                answer("DeviceInformation", status::SUCCESS)
            }
            Err(_) => answer("DeviceInformation", status::UNAVAILABLE),
        }
    }

    /// UserInformation Get: display name and primary address.
    async fn user_information(&self, ctx: &Context) -> Element {
        let account = match self.directory.account(ctx.principal.account).await {
            Ok(Some(a)) => a,
            Ok(None) => return answer("UserInformation", status::ACCESS_DENIED),
            Err(err) => {
                tracing::warn!(account = %ctx.principal.account, error = %err, "Settings UserInformation: directory failed");
                return answer("UserInformation", status::UNAVAILABLE);
            }
        };
        let address = account.address.to_string();
        let get = if ctx.version >= ProtocolVersion::V14_1 {
            let mut addresses =
                Element::new(CodePage::Settings, "EmailAddresses").with_text_child("SmtpAddress", &address);
            addresses.push(Element::new(CodePage::Settings, "PrimarySmtpAddress").with_text(address.clone()));
            let name = account.display_name.trim();
            let mut entry = Element::new(CodePage::Settings, "Account");
            entry.push(Element::new(CodePage::Settings, "UserDisplayName").with_text(if name.is_empty() {
                address.clone()
            } else {
                name.to_owned()
            }));
            entry.push(addresses);
            Element::new(CodePage::Settings, "Get").with(Element::new(CodePage::Settings, "Accounts").with(entry))
        } else {
            Element::new(CodePage::Settings, "Get")
                .with(Element::new(CodePage::Settings, "EmailAddresses").with_text_child("SmtpAddress", address))
        };
        answer("UserInformation", status::SUCCESS).with(get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_information_keeps_what_the_record_holds() {
        let set = Element::new(CodePage::Settings, "Set")
            .with_text_child("Model", " iPhone15,2 ")
            .with_text_child("IMEI", "356938035643809")
            .with_text_child("FriendlyName", "")
            .with_text_child("OS", "iOS 17.4")
            .with_text_child("UserAgent", "Apple-iPhone15C2/2104.236");
        let info = DeviceInfo::from_set(&set).unwrap();
        assert_eq!(info.model.as_deref(), Some("iPhone15,2"));
        assert_eq!(info.friendly_name, None);
        assert_eq!(info.os.as_deref(), Some("iOS 17.4"));
        assert_eq!(info.user_agent.as_deref(), Some("Apple-iPhone15C2/2104.236"));
        let long = Element::new(CodePage::Settings, "Set").with_text_child("Model", "x".repeat(MAX_PROPERTY + 1));
        assert_eq!(DeviceInfo::from_set(&long), None);
    }
}
