//! FolderCreate, FolderUpdate, FolderDelete (MS-ASCMD 2.2.1.3, 2.2.1.6,
//! 2.2.1.4) and MoveItems (2.2.1.12).
//!
//! Folder commands carry the hierarchy's SyncKey; each success moves the
//! device's hierarchy state forward with the change already applied, so the
//! next FolderSync does not report it again. The folders a mail client
//! cannot remove (INBOX, the special-use folders and the default calendar,
//! contacts, tasks and notes folders) are refused. A deleted folder takes
//! its subfolders with it.

use std::collections::BTreeMap;

use axigen_core::mailstore::{FolderId, FolderInfo, FolderKind, Uid};
use bytes::Bytes;
use hyper::Response;
use tracing::{info, warn};

use crate::folders::{FolderEntry, HierarchyState};
use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::wbxml::{CodePage, Element};

/// Folders that exist for every account and are not the user's to remove.
fn special(f: &FolderInfo) -> bool {
    f.name == "INBOX"
        || f.special_use.is_some()
        || (f.kind != FolderKind::Mail && ["Calendar", "Contacts", "Tasks", "Notes"].contains(&f.name.as_str()))
}

/// MS-ASCMD 2.2.3.186.2: the kind of a folder of a FolderCreate `Type`.
fn kind_of(kind: &str) -> Option<FolderKind> {
    match kind.trim() {
        "1" | "12" => Some(FolderKind::Mail),
        "13" => Some(FolderKind::Calendar),
        "14" => Some(FolderKind::Contacts),
        "15" => Some(FolderKind::Tasks),
        "17" => Some(FolderKind::Notes),
        _ => None,
    }
}

/// Names the device may not use: empty, with the hierarchy delimiter, or
/// control characters.
fn valid_name(name: &str) -> bool {
    !name.trim().is_empty() && !name.contains('/') && !name.chars().any(char::is_control) && name.len() <= 255
}

impl ActiveSync {
    /// The device's hierarchy state when `key` is its current key.
    async fn hierarchy_at(&self, ctx: &Context, key: &str) -> Result<HierarchyState, u16> {
        let state = match self.hierarchy_state(ctx).await {
            Ok(s) => s,
            Err(err) => {
                warn!(account = %ctx.principal.account, error = %err, "cannot read the hierarchy state");
                return Err(6);
            }
        };
        match (state, key.trim().parse::<u32>()) {
            (Some(s), Ok(k)) if k == s.key => Ok(s),
            // MS-ASCMD: 9, the key does not match: the device runs FolderSync.
            _ => Err(9),
        }
    }

    /// The next hierarchy key, with the folders as they are now.
    async fn advance_hierarchy(&self, ctx: &Context, state: HierarchyState) -> Result<u32, u16> {
        let current: BTreeMap<String, FolderEntry> = match self.device_folders(ctx.principal.account).await {
            Ok(c) => c,
            Err(_) => return Err(6),
        };
        let next = HierarchyState { key: state.key + 1, folders: current, previous: Some((state.key, state.folders)) };
        let bytes = serde_json::to_vec(&next).map_err(|_| 6u16)?;
        self.devices.put_sync_state(ctx.principal.account, &ctx.device.device_id, "", bytes).await.map_err(|err| {
            warn!(account = %ctx.principal.account, error = %err, "cannot store the hierarchy state");
            6u16
        })?;
        Ok(next.key)
    }

    /// The store name of a new folder under `parent` ("0": the top).
    async fn child_name(&self, ctx: &Context, parent: &str, name: &str) -> Result<(String, Option<FolderInfo>), u16> {
        if parent.trim() == "0" {
            return Ok((name.to_owned(), None));
        }
        let parent = match self.visible_folder(ctx, parent).await {
            Ok(Some(p)) => p,
            // 5: the parent folder was not found.
            Ok(None) => return Err(5),
            Err(_) => return Err(6),
        };
        Ok((format!("{}/{name}", parent.name), Some(parent)))
    }

    /// A folder by server id among those the device sees.
    async fn visible_folder(&self, ctx: &Context, id: &str) -> axigen_core::Result<Option<FolderInfo>> {
        let Ok(id) = id.trim().parse::<u32>() else { return Ok(None) };
        let visible = self.device_folders(ctx.principal.account).await?;
        if !visible.contains_key(&id.to_string()) {
            return Ok(None);
        }
        self.store.folder(ctx.principal.account, FolderId(id)).await
    }

    /// Answers a folder command: `<name><Status>1</Status>...extra</name>`,
    /// or only the status the handler failed with.
    fn folder_answer(name: &str, result: Result<Vec<Element>, u16>) -> Response<Bytes> {
        let (status, extra) = match result {
            Ok(extra) => (1, extra),
            Err(status) => (status, Vec::new()),
        };
        let mut answer = Element::new(CodePage::FolderHierarchy, name).with_text_child("Status", status.to_string());
        for e in extra {
            answer.push(e);
        }
        wbxml_response(&answer)
    }

    /// The named fields of a folder command document; 10 (a malformed
    /// request) when it is not that command or a field is missing.
    fn folder_fields<const N: usize>(
        root: Option<&Element>,
        command: &str,
        names: [&str; N],
    ) -> Result<[String; N], u16> {
        let root = root.filter(|r| r.is(CodePage::FolderHierarchy, command)).ok_or(10u16)?;
        let mut out: [String; N] = std::array::from_fn(|_| String::new());
        for (slot, name) in out.iter_mut().zip(names) {
            *slot = root.child_text(CodePage::FolderHierarchy, name).ok_or(10u16)?.into_owned();
        }
        Ok(out)
    }

    /// A folder the device may change: visible (4 otherwise) and not special
    /// (`special_status` otherwise).
    async fn changeable_folder(&self, ctx: &Context, id: &str, special_status: u16) -> Result<FolderInfo, u16> {
        let folder = self.visible_folder(ctx, id).await.map_err(|_| 6u16)?.ok_or(4u16)?;
        if special(&folder) {
            return Err(special_status);
        }
        Ok(folder)
    }

    /// FolderCreate.
    pub(crate) async fn folder_create(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        Self::folder_answer("FolderCreate", self.create_folder_from_device(&ctx, root.as_ref()).await)
    }

    async fn create_folder_from_device(&self, ctx: &Context, root: Option<&Element>) -> Result<Vec<Element>, u16> {
        let [key, parent, name, kind] =
            Self::folder_fields(root, "FolderCreate", ["SyncKey", "ParentId", "DisplayName", "Type"])?;
        let kind = kind_of(&kind).ok_or(10u16)?;
        if !valid_name(&name) {
            return Err(10);
        }
        let state = self.hierarchy_at(ctx, &key).await?;
        let account = ctx.principal.account;
        let (full, _) = self.child_name(ctx, &parent, &name).await?;
        // 2: a folder of that name exists.
        if self.store.folder_by_name(account, &full).await.map_err(|_| 6u16)?.is_some() {
            return Err(2);
        }
        let created = self.store.create_folder(account, &full, kind, None).await.map_err(|err| {
            warn!(account = %account, error = %err, "FolderCreate failed");
            6u16
        })?;
        info!(account = %account, device = %ctx.device.device_id, folder = %full, "folder created by the device");
        let key = self.advance_hierarchy(ctx, state).await?;
        Ok(vec![
            Element::new(CodePage::FolderHierarchy, "SyncKey").with_text(key.to_string()),
            Element::new(CodePage::FolderHierarchy, "ServerId").with_text(created.id.0.to_string()),
        ])
    }

    /// FolderUpdate: rename and move.
    pub(crate) async fn folder_update(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        Self::folder_answer("FolderUpdate", self.update_folder_from_device(&ctx, root.as_ref()).await)
    }

    async fn update_folder_from_device(&self, ctx: &Context, root: Option<&Element>) -> Result<Vec<Element>, u16> {
        let [key, id, parent, name] =
            Self::folder_fields(root, "FolderUpdate", ["SyncKey", "ServerId", "ParentId", "DisplayName"])?;
        if !valid_name(&name) {
            return Err(10);
        }
        let state = self.hierarchy_at(ctx, &key).await?;
        let account = ctx.principal.account;
        // 2: a special folder cannot be renamed.
        let folder = self.changeable_folder(ctx, &id, 2).await?;
        let (full, parent) = self.child_name(ctx, &parent, &name).await?;
        // A folder cannot go under itself.
        if parent.is_some_and(|p| p.id == folder.id || p.name.starts_with(&format!("{}/", folder.name))) {
            return Err(5);
        }
        if full != folder.name {
            if self.store.folder_by_name(account, &full).await.map_err(|_| 6u16)?.is_some() {
                return Err(2);
            }
            self.store.rename_folder(account, folder.id, &full).await.map_err(|err| {
                warn!(account = %account, error = %err, "FolderUpdate failed");
                6u16
            })?;
            info!(account = %account, device = %ctx.device.device_id, from = %folder.name, to = %full, "folder renamed by the device");
        }
        let key = self.advance_hierarchy(ctx, state).await?;
        Ok(vec![Element::new(CodePage::FolderHierarchy, "SyncKey").with_text(key.to_string())])
    }

    /// FolderDelete, with the folder's subfolders.
    pub(crate) async fn folder_delete(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        Self::folder_answer("FolderDelete", self.delete_folder_from_device(&ctx, root.as_ref()).await)
    }

    async fn delete_folder_from_device(&self, ctx: &Context, root: Option<&Element>) -> Result<Vec<Element>, u16> {
        let [key, id] = Self::folder_fields(root, "FolderDelete", ["SyncKey", "ServerId"])?;
        let state = self.hierarchy_at(ctx, &key).await?;
        let account = ctx.principal.account;
        // 3: a special folder cannot be deleted.
        let folder = self.changeable_folder(ctx, &id, 3).await?;
        let prefix = format!("{}/", folder.name);
        let mut doomed: Vec<FolderInfo> = self
            .store
            .folders(account)
            .await
            .map_err(|_| 6u16)?
            .into_iter()
            .filter(|f| f.name.starts_with(&prefix))
            .collect();
        // The deepest first, the folder itself last.
        doomed.sort_by_key(|f| std::cmp::Reverse(f.name.matches('/').count()));
        doomed.push(folder.clone());
        for f in &doomed {
            self.store.delete_folder(account, f.id).await.map_err(|err| {
                warn!(account = %account, folder = %f.name, error = %err, "FolderDelete failed");
                6u16
            })?;
            // The collection's state goes with it (an empty state reads as none).
            let _ = self.devices.put_sync_state(account, &ctx.device.device_id, &f.id.0.to_string(), Vec::new()).await;
        }
        info!(account = %account, device = %ctx.device.device_id, folder = %folder.name, "folder deleted by the device");
        let key = self.advance_hierarchy(ctx, state).await?;
        Ok(vec![Element::new(CodePage::FolderHierarchy, "SyncKey").with_text(key.to_string())])
    }

    /// MoveItems: mail between folders the device sees.
    pub(crate) async fn move_items(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        let Some(root) = root.filter(|r| r.is(CodePage::Move, "MoveItems")) else { return status_only(command, 5) };
        let account = ctx.principal.account;
        let mut out = Element::new(CodePage::Move, "MoveItems");
        for mv in root.children_named(CodePage::Move, "Move") {
            let text =
                |name: &str| mv.child_text(CodePage::Move, name).map(|t| t.trim().to_owned()).unwrap_or_default();
            let (src_msg, src_fld, dst_fld) = (text("SrcMsgId"), text("SrcFldId"), text("DstFldId"));
            let response = |status: u16, dst: Option<String>| {
                let mut e = Element::new(CodePage::Move, "Response")
                    .with_text_child("SrcMsgId", src_msg.clone())
                    .with_text_child("Status", status.to_string());
                if let Some(d) = dst {
                    e.push(Element::new(CodePage::Move, "DstMsgId").with_text(d));
                }
                e
            };
            // MS-ASCMD 2.2.3.177.10: 1 invalid source, 2 invalid destination,
            // 3 success, 4 same folder, 5 failure.
            let uid = src_msg
                .split_once(':')
                .filter(|(f, _)| *f == src_fld)
                .and_then(|(_, u)| u.parse::<u32>().ok())
                .map(Uid);
            let (source, destination) =
                match (self.sync_folder(&ctx, &src_fld).await, self.sync_folder(&ctx, &dst_fld).await) {
                    (Ok(Some(s)), Ok(Some(d))) => (s, d),
                    (Ok(None), _) => {
                        out.push(response(1, None));
                        continue;
                    }
                    (_, Ok(None)) => {
                        out.push(response(2, None));
                        continue;
                    }
                    _ => {
                        out.push(response(5, None));
                        continue;
                    }
                };
            let Some(uid) = uid else {
                out.push(response(1, None));
                continue;
            };
            if source.id == destination.id {
                out.push(response(4, None));
                continue;
            }
            match self.store.move_messages(account, source.id, &[uid], destination.id).await {
                Ok(moved) => match moved.uids.first() {
                    Some((_, new_uid)) => {
                        if let Err(err) = self.note_move(&ctx, source.id, uid, destination.id, *new_uid).await {
                            warn!(account = %account, error = %err, "cannot note the move in the sync state");
                        }
                        out.push(response(3, Some(format!("{}:{}", destination.id.0, new_uid.0))));
                    }
                    None => out.push(response(1, None)),
                },
                Err(err) => {
                    warn!(account = %account, error = %err, "MoveItems failed");
                    out.push(response(5, None));
                }
            }
        }
        wbxml_response(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_types_and_names() {
        assert_eq!(kind_of("12"), Some(FolderKind::Mail));
        assert_eq!(kind_of("14"), Some(FolderKind::Contacts));
        assert_eq!(kind_of("2"), None, "an Inbox cannot be created");
        assert!(valid_name("Projects"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("  "));
        assert!(!valid_name("x\ny"));
    }
}
