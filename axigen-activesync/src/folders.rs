//! FolderSync (MS-ASCMD 2.2.1.5): the folder hierarchy a device sees.
//!
//! Which folders a device sees follows the account's sub-options: mail
//! folders with `activesync.email`, contacts with `activesync.contacts`,
//! calendars, tasks and notes with `activesync.pim`. A folder class that is
//! off is absent, and the next FolderSync deletes it from a device that had
//! it. Server ids are the store's folder ids.
//!
//! The state of the hierarchy collection keeps, per SyncKey, the folders
//! the device was told about; the previous key stays valid, so a client
//! that retries a request whose answer it lost gets the same changes again
//! rather than a key mismatch.

use std::collections::BTreeMap;

use axigen_core::mailstore::{FolderInfo, FolderKind, SpecialUse};
use axigen_core::model::AccountId;
use bytes::Bytes;
use hyper::Response;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::wbxml::{CodePage, Element};

/// One folder as a device knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FolderEntry {
    pub parent: String,
    pub name: String,
    pub kind: u8,
}

/// The hierarchy as told at a SyncKey.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HierarchyState {
    pub key: u32,
    pub folders: BTreeMap<String, FolderEntry>,
    /// The key before, with what it stood for.
    pub previous: Option<(u32, BTreeMap<String, FolderEntry>)>,
}

/// The collection name of the hierarchy in the device store.
const HIERARCHY: &str = "";

/// MS-ASCMD 2.2.3.186.3: the FolderSync type of a folder.
fn folder_type(f: &FolderInfo) -> u8 {
    match (f.kind, f.special_use) {
        (FolderKind::Mail, _) if f.name == "INBOX" => 2,
        (FolderKind::Mail, Some(SpecialUse::Drafts)) => 3,
        (FolderKind::Mail, Some(SpecialUse::Trash)) => 4,
        (FolderKind::Mail, Some(SpecialUse::Sent)) => 5,
        (FolderKind::Mail, _) => 12,
        (FolderKind::Tasks, _) if f.name == "Tasks" => 7,
        (FolderKind::Tasks, _) => 15,
        (FolderKind::Calendar, _) if f.name == "Calendar" => 8,
        (FolderKind::Calendar, _) => 13,
        (FolderKind::Contacts, _) if f.name == "Contacts" => 9,
        (FolderKind::Contacts, _) => 14,
        (FolderKind::Notes, _) if f.name == "Notes" => 10,
        (FolderKind::Notes, _) => 17,
    }
}

/// What a device may see of the folders, by server id.
pub(crate) fn visible(folders: &[FolderInfo], email: bool, contacts: bool, pim: bool) -> BTreeMap<String, FolderEntry> {
    let shown = |f: &FolderInfo| match f.kind {
        FolderKind::Mail => email,
        FolderKind::Contacts => contacts,
        FolderKind::Calendar | FolderKind::Tasks | FolderKind::Notes => pim,
    };
    let by_name: BTreeMap<&str, &FolderInfo> =
        folders.iter().filter(|f| shown(f)).map(|f| (f.name.as_str(), f)).collect();
    by_name
        .values()
        .map(|f| {
            let (parent_name, leaf) = match f.name.rsplit_once('/') {
                Some((p, l)) => (Some(p), l),
                None => (None, f.name.as_str()),
            };
            // A parent the device does not see puts the folder at the top.
            let parent = parent_name.and_then(|p| by_name.get(p)).map_or("0".to_owned(), |p| p.id.0.to_string());
            let name = if f.name == "INBOX" { "Inbox".to_owned() } else { leaf.to_owned() };
            (f.id.0.to_string(), FolderEntry { parent, name, kind: folder_type(f) })
        })
        .collect()
}

/// The changes from `old` to `new`: adds, updates, deletes.
fn changes(old: &BTreeMap<String, FolderEntry>, new: &BTreeMap<String, FolderEntry>) -> Vec<Element> {
    let mut out = Vec::new();
    let entry = |op: &str, id: &str, f: &FolderEntry| {
        Element::new(CodePage::FolderHierarchy, op)
            .with_text_child("ServerId", id)
            .with_text_child("ParentId", f.parent.clone())
            .with_text_child("DisplayName", f.name.clone())
            .with_text_child("Type", f.kind.to_string())
    };
    for (id, f) in new {
        match old.get(id) {
            None => out.push(entry("Add", id, f)),
            Some(o) if o != f => out.push(entry("Update", id, f)),
            Some(_) => {}
        }
    }
    for id in old.keys().filter(|id| !new.contains_key(*id)) {
        out.push(Element::new(CodePage::FolderHierarchy, "Delete").with_text_child("ServerId", id.clone()));
    }
    out
}

impl ActiveSync {
    /// The folders a device of `account` sees now.
    pub(crate) async fn device_folders(
        &self,
        account: AccountId,
    ) -> axigen_core::Result<BTreeMap<String, FolderEntry>> {
        let settings = self.directory.effective_settings(account).await?;
        let folders = self.store.folders(account).await?;
        Ok(visible(
            &folders,
            settings.activesync_email.value,
            settings.activesync_contacts.value,
            settings.activesync_pim.value,
        ))
    }

    pub(crate) async fn hierarchy_state(&self, ctx: &Context) -> axigen_core::Result<Option<HierarchyState>> {
        let raw = self.devices.sync_state(ctx.principal.account, &ctx.device.device_id, HIERARCHY).await?;
        Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
    }

    /// The FolderSync command.
    pub(crate) async fn folder_sync(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        // MS-ASCMD 2.2.3.177.5: 10, an incorrectly formatted request.
        let Some(key) = root
            .as_ref()
            .filter(|r| r.is(CodePage::FolderHierarchy, "FolderSync"))
            .and_then(|r| r.child_text(CodePage::FolderHierarchy, "SyncKey"))
            .and_then(|k| k.trim().parse::<u32>().ok())
        else {
            return status_only(command, 10);
        };
        let (account, device) = (ctx.principal.account, ctx.device.device_id.clone());
        let current = match self.device_folders(account).await {
            Ok(c) => c,
            Err(err) => {
                warn!(account = %account, error = %err, "cannot list folders");
                return status_only(command, 6);
            }
        };
        let state = match self.hierarchy_state(&ctx).await {
            Ok(s) => s,
            Err(err) => {
                warn!(account = %account, error = %err, "cannot read the hierarchy state");
                return status_only(command, 6);
            }
        };
        // The base the device's key stands for, and the key it gets now.
        let (base, new_state) = match (key, state) {
            (0, _) => (BTreeMap::new(), None),
            (k, Some(s)) if k == s.key => (s.folders.clone(), Some(s)),
            (k, Some(s)) if s.previous.as_ref().is_some_and(|(pk, _)| *pk == k) => {
                let (pk, folders) = s.previous.clone().unwrap_or_default();
                // A retry: the same answer under the key already handed out.
                let retried = HierarchyState { key: pk, folders: folders.clone(), previous: None };
                (folders, Some(retried))
            }
            _ => {
                info!(account = %account, device = %device, key, "FolderSync with an unknown key: the device starts over");
                // MS-ASCMD 2.2.3.177.5: 9, the client must FolderSync from 0.
                return status_only(command, 9);
            }
        };
        let changes = changes(&base, &current);
        let next_key = match (&new_state, changes.is_empty()) {
            (Some(s), true) => s.key,
            (Some(s), false) => s.key + 1,
            (None, _) => 1,
        };
        if new_state.as_ref().is_none_or(|s| s.key != next_key || s.folders != current) {
            let state = HierarchyState {
                key: next_key,
                folders: current.clone(),
                previous: new_state.as_ref().filter(|s| s.key != next_key).map(|s| (s.key, base.clone())),
            };
            let stored = match serde_json::to_vec(&state) {
                Ok(bytes) => self.devices.put_sync_state(account, &device, HIERARCHY, bytes).await,
                Err(err) => Err(axigen_core::Error::Storage(err.to_string())),
            };
            if let Err(err) = stored {
                warn!(account = %account, error = %err, "cannot store the hierarchy state");
                return status_only(command, 6);
            }
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        if let Err(r) = self.update(&ctx.device, move |d| d.last_sync = now).await {
            return r;
        }
        let mut list =
            Element::new(CodePage::FolderHierarchy, "Changes").with_text_child("Count", changes.len().to_string());
        for c in changes {
            list.push(c);
        }
        let response = Element::new(CodePage::FolderHierarchy, "FolderSync")
            .with_text_child("Status", "1")
            .with_text_child("SyncKey", next_key.to_string())
            .with(list);
        wbxml_response(&response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axigen_core::mailstore::{FolderId, ModSeq, Uid};

    fn folder(id: u32, name: &str, kind: FolderKind, special_use: Option<SpecialUse>) -> FolderInfo {
        FolderInfo {
            id: FolderId(id),
            name: name.into(),
            kind,
            special_use,
            uid_validity: 1,
            uid_next: Uid(1),
            highest_modseq: ModSeq(1),
            messages: 0,
            unseen: 0,
            size: 0,
            subscribed: true,
        }
    }

    #[test]
    fn sub_options_decide_the_visible_folders() {
        let folders = vec![
            folder(1, "INBOX", FolderKind::Mail, None),
            folder(2, "Sent", FolderKind::Mail, Some(SpecialUse::Sent)),
            folder(3, "Projects", FolderKind::Mail, None),
            folder(4, "Projects/2026", FolderKind::Mail, None),
            folder(5, "Calendar", FolderKind::Calendar, None),
            folder(6, "Contacts", FolderKind::Contacts, None),
            folder(7, "Tasks", FolderKind::Tasks, None),
        ];
        let all = visible(&folders, true, true, true);
        assert_eq!(all["1"], FolderEntry { parent: "0".into(), name: "Inbox".into(), kind: 2 });
        assert_eq!(all["2"].kind, 5);
        assert_eq!(all["4"], FolderEntry { parent: "3".into(), name: "2026".into(), kind: 12 });
        assert_eq!((all["5"].kind, all["6"].kind, all["7"].kind), (8, 9, 7));
        let mail_only = visible(&folders, true, false, false);
        assert_eq!(mail_only.keys().cloned().collect::<Vec<_>>(), ["1", "2", "3", "4"]);
        let pim_only = visible(&folders, false, false, true);
        assert_eq!(pim_only.keys().cloned().collect::<Vec<_>>(), ["5", "7"]);
    }

    #[test]
    fn changes_are_adds_updates_and_deletes() {
        let folders = vec![folder(1, "INBOX", FolderKind::Mail, None), folder(3, "A", FolderKind::Mail, None)];
        let before = visible(&folders, true, true, true);
        let after = visible(
            &[
                folder(1, "INBOX", FolderKind::Mail, None),
                folder(3, "B", FolderKind::Mail, None),
                folder(9, "C", FolderKind::Mail, None),
            ],
            true,
            true,
            true,
        );
        let names: Vec<&str> = changes(&before, &after).iter().map(|e| e.name()).collect();
        assert_eq!(names, ["Update", "Add"]);
        let names: Vec<&str> = changes(&after, &before).iter().map(|e| e.name()).collect();
        assert_eq!(names, ["Update", "Delete"]);
    }
}
