//! Ping (MS-ASCMD 2.2.1.13): push. The request parks until one of the
//! folders it names has something for the device, or its heartbeat ends.
//!
//! - It is woken by the store's change notifier (after a durable change),
//!   never by polling.
//! - Heartbeats outside the configured bounds get status 5 with the bound,
//!   as the protocol says.
//! - A newer Ping from the same device ends the older one (status 1).
//! - A device that Pings in a tight loop (more than a few Pings within a
//!   short time, each returning at once) is slowed: its answers are
//!   delayed rather than served faster.
//! - The folders and heartbeat of the last full Ping are kept, so an empty
//!   Ping repeats it.
//! - The same holds for Sync used as a poll: a device whose Syncs bring
//!   nothing and change nothing for the same collections, more than a few
//!   times within a short time, gets those answers delayed (see
//!   [`Pings::empty_sync`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axigen_core::model::AccountId;
use bytes::Bytes;
use hyper::Response;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::wbxml::{CodePage, Element};

/// The sync-state collection where the last Ping is kept.
const PING_STATE: &str = "ping";

/// Pings within [`LOOP_WINDOW`] before a device counts as looping.
const LOOP_PINGS: usize = 5;
const LOOP_WINDOW: Duration = Duration::from_secs(10);
/// The delay a looping device gets before each answer.
const LOOP_DELAY: Duration = Duration::from_secs(5);

/// The parked Pings and recent Ping times, per device.
#[derive(Debug, Default)]
pub(crate) struct Pings {
    inner: Mutex<HashMap<(AccountId, String), DevicePings>>,
}

#[derive(Debug, Default)]
struct DevicePings {
    generation: u64,
    cancel: Option<tokio::sync::watch::Sender<bool>>,
    recent: Vec<Instant>,
    /// Recent Syncs that found nothing, with the collections they named.
    empty_syncs: Vec<(Instant, String)>,
}

impl Pings {
    /// Registers a new Ping, ending the device's older one; its generation,
    /// the receiver that tells it to end, and whether the device is looping.
    fn start(&self, account: AccountId, device: &str) -> (u64, tokio::sync::watch::Receiver<bool>, bool) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = inner.entry((account, device.to_owned())).or_default();
        if let Some(old) = entry.cancel.take() {
            let _ = old.send(true);
        }
        let now = Instant::now();
        entry.recent.retain(|t| now.duration_since(*t) < LOOP_WINDOW);
        entry.recent.push(now);
        entry.generation += 1;
        let (tx, rx) = tokio::sync::watch::channel(false);
        entry.cancel = Some(tx);
        (entry.generation, rx, entry.recent.len() > LOOP_PINGS)
    }

    /// Records a Sync of `collections` that brought the device nothing and
    /// carried no change from it; whether the device now polls those
    /// collections in a loop (more than [`LOOP_PINGS`] such Syncs of the
    /// same collections within [`LOOP_WINDOW`]), in which case the answer is
    /// to wait the returned delay. Syncs of different collections one after
    /// the other (a device going through its folders) are not a loop.
    pub(crate) fn empty_sync(&self, account: AccountId, device: &str, collections: String) -> Option<Duration> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = inner.entry((account, device.to_owned())).or_default();
        let now = Instant::now();
        entry.empty_syncs.retain(|(t, _)| now.duration_since(*t) < LOOP_WINDOW);
        let same = entry.empty_syncs.iter().filter(|(_, c)| *c == collections).count();
        entry.empty_syncs.push((now, collections));
        (same >= LOOP_PINGS).then_some(LOOP_DELAY)
    }

    fn finish(&self, account: AccountId, device: &str, generation: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = inner.get_mut(&(account, device.to_owned()))
            && entry.generation == generation
        {
            entry.cancel = None;
        }
    }

    /// Devices with a parked Ping (for tests and metrics).
    pub(crate) fn parked(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.values().filter(|p| p.cancel.is_some()).count()
    }
}

/// The last full Ping of a device.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PingState {
    heartbeat: u64,
    folders: Vec<String>,
}

impl ActiveSync {
    /// The Ping command.
    pub(crate) async fn ping(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        let (account, device) = (ctx.principal.account, ctx.device.device_id.clone());
        let (min, max) = (self.config.min_heartbeat.as_secs(), self.config.max_heartbeat.as_secs());
        let answer = |status: u16| Element::new(CodePage::Ping, "Ping").with_text_child("Status", status.to_string());

        let stored: Option<PingState> = match self.devices.sync_state(account, &device, PING_STATE).await {
            Ok(raw) => raw.and_then(|r| serde_json::from_slice(&r).ok()),
            Err(err) => {
                warn!(account = %account, error = %err, "cannot read the ping state");
                return status_only(command, 8);
            }
        };
        let request = root.filter(|r| r.is(CodePage::Ping, "Ping"));
        let heartbeat = request
            .as_ref()
            .and_then(|r| r.child_text(CodePage::Ping, "HeartbeatInterval"))
            .and_then(|h| h.trim().parse::<u64>().ok())
            .or(stored.as_ref().map(|s| s.heartbeat));
        let folders: Option<Vec<String>> = request
            .as_ref()
            .and_then(|r| r.child(CodePage::Ping, "Folders"))
            .map(|f| {
                f.children_named(CodePage::Ping, "Folder")
                    .filter_map(|f| f.child_text(CodePage::Ping, "Id").map(|i| i.trim().to_owned()))
                    .collect()
            })
            .or(stored.as_ref().map(|s| s.folders.clone()));
        // MS-ASCMD 2.2.3.177.11: 3, the request lacks what no earlier Ping gave.
        let (Some(heartbeat), Some(folders)) = (heartbeat, folders.filter(|f| !f.is_empty())) else {
            return wbxml_response(&answer(3));
        };
        // 5, a heartbeat out of bounds, with the bound to use.
        if heartbeat < min || heartbeat > max {
            let bound = if heartbeat < min { min } else { max };
            info!(account = %account, device = %device, heartbeat, bound, "ping heartbeat out of bounds");
            return wbxml_response(&answer(5).with_text_child("HeartbeatInterval", bound.to_string()));
        }
        // 6, too many folders, with the limit.
        if folders.len() > self.config.max_ping_folders {
            return wbxml_response(&answer(6).with_text_child("MaxFolders", self.config.max_ping_folders.to_string()));
        }
        let state = PingState { heartbeat, folders: folders.clone() };
        if stored.as_ref().is_none_or(|s| s.heartbeat != state.heartbeat || s.folders != state.folders) {
            let saved = match serde_json::to_vec(&state) {
                Ok(bytes) => self.devices.put_sync_state(account, &device, PING_STATE, bytes).await,
                Err(e) => Err(axigen_core::Error::Storage(e.to_string())),
            };
            if let Err(err) = saved {
                warn!(account = %account, error = %err, "cannot store the ping state");
                return status_only(command, 8);
            }
        }

        let (generation, mut cancelled, looping) = self.pings.start(account, &device);
        // Subscribe before looking, so no change falls between the two.
        let mut changes = self.notifier.subscribe(account);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(heartbeat);
        let result = loop {
            match self.changed_folders(&ctx, &folders).await {
                Ok(Some(changed)) if !changed.is_empty() => break Ok(changed),
                // 7: a folder the device does not have any more: refresh the hierarchy.
                Ok(None) => break Err(7),
                Ok(Some(_)) => {}
                Err(err) => {
                    warn!(account = %account, error = %err, "ping cannot read changes");
                    break Err(8);
                }
            }
            tokio::select! {
                r = changes.changed() => if r.is_err() { break Ok(Vec::new()) },
                _ = cancelled.changed() => {
                    debug!(account = %account, device = %device, "ping ended by a newer one");
                    break Ok(Vec::new());
                }
                _ = tokio::time::sleep_until(deadline) => break Ok(Vec::new()),
            }
        };
        self.pings.finish(account, &device, generation);
        if looping {
            info!(account = %account, device = %device, "device pings in a loop: answer delayed");
            tokio::time::sleep(LOOP_DELAY).await;
        }
        match result {
            Ok(changed) if changed.is_empty() => wbxml_response(&answer(1)),
            Ok(changed) => {
                let mut list = Element::new(CodePage::Ping, "Folders");
                for id in changed {
                    list.push(Element::new(CodePage::Ping, "Folder").with_text(id));
                }
                wbxml_response(&answer(2).with(list))
            }
            Err(status) => wbxml_response(&answer(status)),
        }
    }

    /// The folders of `ids` with something for the device; `None` when one
    /// is not a folder the device may see (its hierarchy is out of date).
    async fn changed_folders(&self, ctx: &Context, ids: &[String]) -> axigen_core::Result<Option<Vec<String>>> {
        let mut changed = Vec::new();
        for id in ids {
            let Some(folder) = self.sync_folder(ctx, id).await? else { return Ok(None) };
            if self.pending(ctx, &folder).await? {
                changed.push(id.clone());
            }
        }
        Ok(Some(changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_repeated_empty_syncs_of_the_same_collections_are_a_loop() {
        let pings = Pings::default();
        let (a, d) = (AccountId(1), "phone");
        // A device going through ten folders once each is not looping.
        for folder in 0..10 {
            let folder = format!("f{folder}");
            assert_eq!(pings.empty_sync(a, d, folder), None);
        }
        // Polling the Inbox: the first LOOP_PINGS are answered at once.
        for _ in 0..LOOP_PINGS {
            assert_eq!(pings.empty_sync(a, d, "1".into()), None);
        }
        assert_eq!(pings.empty_sync(a, d, "1".into()), Some(LOOP_DELAY));
        // Another device of the account is not slowed.
        assert_eq!(pings.empty_sync(a, "other", "1".into()), None);
    }
}
