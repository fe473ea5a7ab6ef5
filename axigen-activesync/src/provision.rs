//! Provisioning (MS-ASPROV): the policy document, the two-phase policy key
//! handshake and remote wipe.
//!
//! The policy is built from the account's effective settings. Its final key
//! is derived from a digest of the document, so a device keeps its key for
//! as long as the policy stays the same, whatever it does meanwhile (a
//! key that changes without a policy change sends clients into a
//! FolderSync/Provision loop), and every device gets a new key as soon as
//! the policy changes. The first phase hands out a random temporary key,
//! which the device must acknowledge.

use axigen_core::devices::WipeState;
use axigen_core::model::AccountId;
use bytes::Bytes;
use hyper::Response;
use tracing::info;

use crate::request::ProtocolVersion;
use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::wbxml::{CodePage, Element};

/// The only policy type of protocol versions 12.0 and later.
const POLICY_TYPE: &str = "MS-EAS-Provisioning-WBXML";

/// The policy settings sent to devices, from the account's effective
/// settings: (element, value) in the order of MS-ASPROV 2.2.2.28.
pub(crate) fn policy_settings(max_attachment: u64) -> Vec<(&'static str, String)> {
    vec![
        ("DevicePasswordEnabled", "0".into()),
        ("AlphanumericDevicePasswordRequired", "0".into()),
        ("DeviceEncryptionEnabled", "0".into()),
        ("AttachmentsEnabled", "1".into()),
        ("MaxAttachmentSize", max_attachment.to_string()),
        ("AllowSimpleDevicePassword", "1".into()),
        ("AllowStorageCard", "1".into()),
        ("AllowCamera", "1".into()),
        ("RequireDeviceEncryption", "0".into()),
        ("AllowHTMLEmail", "1".into()),
        ("AllowBrowser", "1".into()),
        ("AllowConsumerEmail", "1".into()),
    ]
}

/// The policy key standing for a policy: never 0 (which means "none").
pub(crate) fn key_of(settings: &[(&'static str, String)]) -> u32 {
    let mut hasher = blake3::Hasher::new();
    for (name, value) in settings {
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value.as_bytes());
        hasher.update(b"\n");
    }
    let digest = hasher.finalize();
    let b = digest.as_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) | 1
}

fn provision_doc(settings: &[(&'static str, String)]) -> Element {
    let mut doc = Element::new(CodePage::Provision, "EASProvisionDoc");
    for (name, value) in settings {
        doc.push(Element::new(CodePage::Provision, name).with_text(value.clone()));
    }
    doc
}

fn random_key() -> u32 {
    loop {
        let k = rand::random::<u32>();
        if k != 0 {
            return k;
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl ActiveSync {
    /// The account's current policy.
    pub(crate) async fn policy_for(&self, account: AccountId) -> axigen_core::Result<Vec<(&'static str, String)>> {
        let settings = self.directory.effective_settings(account).await?;
        Ok(policy_settings(settings.max_message_size.value))
    }

    /// The key of the account's current policy.
    pub(crate) async fn policy_key_for(&self, account: AccountId) -> axigen_core::Result<u32> {
        Ok(key_of(&self.policy_for(account).await?))
    }

    /// The Provision command (MS-ASPROV 3.2.5.1).
    pub(crate) async fn provision(&self, mut ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        let Some(root) = root.filter(|r| r.is(CodePage::Provision, "Provision")) else {
            return status_only(command, 2);
        };
        let account = ctx.principal.account;
        let mut response = Element::new(CodePage::Provision, "Provision");
        // DeviceInformation (MS-ASCMD 2.2.3.50): kept with the device.
        if let Some(set) =
            root.child(CodePage::Settings, "DeviceInformation").and_then(|d| d.child(CodePage::Settings, "Set"))
        {
            let text = |name: &str| set.child_text(CodePage::Settings, name).map(|t| t.into_owned());
            let (model, friendly, os, agent) = (text("Model"), text("FriendlyName"), text("OS"), text("UserAgent"));
            ctx.device = match self
                .update(&ctx.device, move |d| {
                    d.model = model.or(d.model.take());
                    d.friendly_name = friendly.or(d.friendly_name.take());
                    d.os = os.or(d.os.take());
                    d.user_agent = agent.or(d.user_agent.take());
                })
                .await
            {
                Ok(d) => d,
                Err(r) => return r,
            };
            response.push(
                Element::new(CodePage::Settings, "DeviceInformation")
                    .with(Element::new(CodePage::Settings, "Status").with_text("1")),
            );
        }

        // The device confirms a remote wipe.
        let wipe_ack = root
            .child(CodePage::Provision, "RemoteWipe")
            .or_else(|| root.child(CodePage::Provision, "AccountOnlyRemoteWipe"));
        if let Some(ack) = wipe_ack {
            let account_only = ack.name() == "AccountOnlyRemoteWipe";
            let ok = ack.child_text(CodePage::Provision, "Status").as_deref() == Some("1");
            info!(account = %account, device = %ctx.device.device_id, account_only, ok, "remote wipe acknowledged by the device");
            if ok {
                let at = unix_now();
                let updated = self
                    .update(&ctx.device, move |d| {
                        if matches!(d.wipe, WipeState::Pending { .. } | WipeState::Sent { .. }) {
                            d.wipe = WipeState::Acknowledged { account_only, at };
                        }
                    })
                    .await;
                if let Err(r) = updated {
                    return r;
                }
            }
            response.push(Element::new(CodePage::Provision, "Status").with_text("1"));
            return wbxml_response(&response);
        }
        // A pending wipe is what the device gets instead of a policy.
        if let WipeState::Pending { account_only, .. } | WipeState::Sent { account_only, .. } = ctx.device.wipe {
            let account_only = account_only && ctx.version >= ProtocolVersion::V16_1;
            let sent_at = unix_now();
            let updated = self
                .update(&ctx.device, move |d| {
                    if matches!(d.wipe, WipeState::Pending { .. } | WipeState::Sent { .. }) {
                        d.wipe = WipeState::Sent { account_only, sent_at };
                    }
                })
                .await;
            if let Err(r) = updated {
                return r;
            }
            info!(account = %account, device = %ctx.device.device_id, account_only, "remote wipe sent to the device");
            response.push(Element::new(CodePage::Provision, "Status").with_text("1"));
            response.push(Element::new(
                CodePage::Provision,
                if account_only { "AccountOnlyRemoteWipe" } else { "RemoteWipe" },
            ));
            return wbxml_response(&response);
        }

        let Some(policy) =
            root.child(CodePage::Provision, "Policies").and_then(|p| p.child(CodePage::Provision, "Policy"))
        else {
            return status_only(command, 2);
        };
        let policy_type =
            policy.child_text(CodePage::Provision, "PolicyType").map(|t| t.into_owned()).unwrap_or_default();
        let mut answer = Element::new(CodePage::Provision, "Policy")
            .with(Element::new(CodePage::Provision, "PolicyType").with_text(policy_type.clone()));
        if policy_type != POLICY_TYPE {
            // MS-ASPROV 2.2.2.54.2: 3, unknown PolicyType.
            answer.push(Element::new(CodePage::Provision, "Status").with_text("3"));
            response.push(Element::new(CodePage::Provision, "Status").with_text("1"));
            response.push(Element::new(CodePage::Provision, "Policies").with(answer));
            return wbxml_response(&response);
        }
        let settings = match self.policy_for(account).await {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(account = %account, error = %err, "cannot build the policy");
                return status_only(command, 3);
            }
        };
        let final_key = key_of(&settings);
        let acknowledged =
            policy.child_text(CodePage::Provision, "PolicyKey").and_then(|k| k.trim().parse::<u32>().ok());
        match acknowledged {
            // Phase 2: the device acknowledges the temporary key.
            Some(key) => {
                let client_status = policy.child_text(CodePage::Provision, "Status").map(|s| s.into_owned());
                if ctx.device.pending_policy_key != Some(key) {
                    info!(account = %account, device = %ctx.device.device_id, "provisioning acknowledged a wrong key");
                    // MS-ASPROV 2.2.2.54.2: 5, the wrong policy key.
                    answer.push(Element::new(CodePage::Provision, "Status").with_text("5"));
                } else {
                    let updated = self
                        .update(&ctx.device, move |d| {
                            d.pending_policy_key = None;
                            d.policy_key = final_key;
                            d.policy_digest = Some(format!("{final_key:08x}"));
                        })
                        .await;
                    if let Err(r) = updated {
                        return r;
                    }
                    info!(account = %account, device = %ctx.device.device_id, key = final_key, client_status = ?client_status, "device provisioned");
                    answer.push(Element::new(CodePage::Provision, "Status").with_text("1"));
                    answer.push(Element::new(CodePage::Provision, "PolicyKey").with_text(final_key.to_string()));
                }
            }
            // Phase 1: the policy and a temporary key.
            None => {
                let temporary = random_key();
                if let Err(r) = self.update(&ctx.device, move |d| d.pending_policy_key = Some(temporary)).await {
                    return r;
                }
                answer.push(Element::new(CodePage::Provision, "Status").with_text("1"));
                answer.push(Element::new(CodePage::Provision, "PolicyKey").with_text(temporary.to_string()));
                answer.push(Element::new(CodePage::Provision, "Data").with(provision_doc(&settings)));
            }
        }
        response.push(Element::new(CodePage::Provision, "Status").with_text("1"));
        response.push(Element::new(CodePage::Provision, "Policies").with(answer));
        wbxml_response(&response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_follows_the_policy_and_only_the_policy() {
        let a = key_of(&policy_settings(1000));
        assert_eq!(a, key_of(&policy_settings(1000)), "same policy, same key");
        assert_ne!(a, key_of(&policy_settings(2000)), "another policy, another key");
        assert_ne!(a, 0);
        // The document has every setting, in order, under EASProvisionDoc.
        let doc = provision_doc(&policy_settings(1000));
        assert_eq!(doc.child_text(CodePage::Provision, "MaxAttachmentSize").as_deref(), Some("1000"));
        assert!(crate::wbxml::encode(&doc).is_ok());
    }
}
