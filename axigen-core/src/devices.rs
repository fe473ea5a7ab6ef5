//! Mobile devices (Exchange ActiveSync partnerships, seed 3.6) and their
//! synchronisation state.
//!
//! A device is known per account by the `DeviceId` it sends. The record
//! keeps what the administrator sees and decides (type, model, last sync,
//! allow/block/quarantine, remote wipe) and what provisioning needs (the
//! policy key handed out and the policy it stands for). Sync state is owned
//! by the protocol: the store keeps it as opaque bytes per device and
//! collection, and deletes it with the device, so that removing a
//! partnership makes the device start over cleanly.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::model::AccountId;

/// What the administrator decided for a device (honoured on its next request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceAccess {
    /// The device may synchronise.
    #[default]
    Allowed,
    /// Every request is refused.
    Blocked,
    /// The device is held until the administrator allows it: it may
    /// provision and list folders, but gets no content.
    Quarantined,
}

/// Where a remote wipe stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum WipeState {
    /// No wipe asked for.
    #[default]
    None,
    /// The administrator asked; the device is told at its next request.
    Pending {
        /// Only the account's data (MS-ASPROV AccountOnlyRemoteWipe), not the whole device.
        account_only: bool,
        /// When it was asked (Unix seconds).
        requested_at: i64,
    },
    /// The device was told and has not confirmed yet.
    Sent {
        /// Only the account's data.
        account_only: bool,
        /// When it was told (Unix seconds).
        sent_at: i64,
    },
    /// The device confirmed the wipe.
    Acknowledged {
        /// Only the account's data.
        account_only: bool,
        /// When it confirmed (Unix seconds).
        at: i64,
    },
}

/// One device of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The account.
    pub account: AccountId,
    /// The client's `DeviceId` (MS-ASHTTP: up to 32 alphanumeric characters).
    pub device_id: String,
    /// The client's `DeviceType` (e.g. `iPhone`, `Android`).
    pub device_type: String,
    /// `Settings` DeviceInformation: model, friendly name, OS, user agent...
    #[serde(default)]
    pub model: Option<String>,
    /// A friendly name the user gave the device.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Operating system.
    #[serde(default)]
    pub os: Option<String>,
    /// The HTTP `User-Agent` last seen.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The protocol version of the last request (e.g. `16.1`).
    #[serde(default)]
    pub protocol_version: String,
    /// First request (Unix seconds).
    pub first_seen: i64,
    /// Last successful synchronisation command (Unix seconds; 0 = never).
    #[serde(default)]
    pub last_sync: i64,
    /// The policy key the device holds after provisioning; 0 = not provisioned.
    #[serde(default)]
    pub policy_key: u32,
    /// A key handed out in the first phase of provisioning, waiting for the
    /// device's acknowledgement.
    #[serde(default)]
    pub pending_policy_key: Option<u32>,
    /// A digest of the policy document `policy_key` stands for: the key
    /// changes only when the effective policy does.
    #[serde(default)]
    pub policy_digest: Option<String>,
    /// The administrator's decision.
    #[serde(default)]
    pub access: DeviceAccess,
    /// Remote wipe.
    #[serde(default)]
    pub wipe: WipeState,
}

/// Storage of devices and their sync state.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// One device of an account.
    async fn device(&self, account: AccountId, device_id: &str) -> Result<Option<Device>>;
    /// The devices of an account, by device id.
    async fn devices(&self, account: AccountId) -> Result<Vec<Device>>;
    /// Creates or replaces a device record (durable when it returns).
    async fn put_device(&self, device: Device) -> Result<()>;
    /// Changes a device in one atomic step (read, change, write), so that a
    /// protocol updating what it owns never undoes an administrator's
    /// decision made meanwhile. `NotFound` when there is no such device.
    async fn update_device(
        &self,
        account: AccountId,
        device_id: &str,
        change: Box<dyn for<'d> FnOnce(&'d mut Device) + Send + 'static>,
    ) -> Result<Device>;
    /// Removes a device and all its sync state; `false` when there was none.
    async fn delete_device(&self, account: AccountId, device_id: &str) -> Result<bool>;
    /// The protocol's state for one collection of a device (the folder
    /// hierarchy is the collection `""`).
    async fn sync_state(&self, account: AccountId, device_id: &str, collection: &str) -> Result<Option<Vec<u8>>>;
    /// Stores the state of one collection (durable when it returns). The
    /// device must exist.
    async fn put_sync_state(&self, account: AccountId, device_id: &str, collection: &str, state: Vec<u8>)
    -> Result<()>;
    /// Forgets every collection's state of a device (a full resync follows).
    async fn clear_sync_states(&self, account: AccountId, device_id: &str) -> Result<()>;
}
