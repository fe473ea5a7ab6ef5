//! Sync (MS-ASCMD 2.2.1.21) of mail folders, and GetItemEstimate.
//!
//! # Sync state
//!
//! Each SyncKey of a collection stands for a point in the account's change
//! log (a MODSEQ): everything up to it is on the device. A new collection is
//! first loaded in UID order up to the UIDNEXT seen when its first key was
//! handed out (with the MODSEQ read before it); everything after comes from
//! `changes_since` for that folder, never from comparing listings. The key
//! before the current one stays valid: a client that lost an answer and
//! repeats its request is answered again from the earlier point.
//!
//! Items are `folder:uid`. Read and follow-up flag changes from the device
//! become `\Seen` and `\Flagged`; a deleted item moves to Trash
//! (`DeletesAsMoves`, the default) or is expunged. Changes the device made
//! are not sent back to it.

use std::collections::HashSet;

use axigen_core::mailstore::{
    ChangeKind, FlagChange, FlagOp, Flags, FolderId, FolderInfo, FolderKind, MessageMeta, ModSeq, SpecialUse, Uid,
};
use bytes::Bytes;
use hyper::Response;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::wbxml::{CodePage, Element};

/// Items per collection in one answer when the client does not say, and the most it may ask for.
const DEFAULT_WINDOW: usize = 100;
const MAX_WINDOW: usize = 512;

/// Where a collection stands on a device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct Point {
    /// Changes up to this MODSEQ are on the device.
    pub modseq: u64,
    /// The next UID of the first load; `None` once it is complete.
    pub next_uid: Option<u32>,
    /// UIDs below this belong to the first load.
    pub limit: u32,
    /// FilterType's age limit in days (0: all).
    pub days: u32,
    /// MODSEQs of flag changes the device made, not to be sent back to it.
    #[serde(default)]
    pub own: Vec<u64>,
    /// UIDs the device deleted, whose expunges are not to be sent back.
    #[serde(default)]
    pub gone: Vec<u32>,
    /// UIDs the device got from MoveItems, whose additions are not sent again.
    #[serde(default)]
    pub moved_in: Vec<u32>,
}

/// A collection's state: the current key and the one before.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CollectionState {
    pub key: u32,
    pub point: Point,
    pub previous: Option<(u32, Point)>,
}

/// MS-ASCMD 2.2.3.70.1: FilterType as an age in days (0: everything).
fn filter_days(filter: Option<&str>) -> u32 {
    match filter.map(str::trim) {
        Some("1") => 1,
        Some("2") => 3,
        Some("3") => 7,
        Some("4") => 14,
        Some("5") => 31,
        _ => 0,
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// `2026-11-28T15:20:00.000Z` (MS-ASDTYPE 2.3).
pub(crate) fn eas_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = axigen_core::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z", secs / 3600, secs / 60 % 60, secs % 60)
}

pub(crate) fn server_id(folder: FolderId, uid: Uid) -> String {
    format!("{}:{}", folder.0, uid.0)
}

pub(crate) fn parse_server_id(id: &str) -> Option<(FolderId, Uid)> {
    let (f, u) = id.split_once(':')?;
    Some((FolderId(f.parse().ok()?), Uid(u.parse().ok()?)))
}

/// What the device asked for the bodies (MS-ASAIRS BodyPreference).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyWanted {
    /// 1 plain text, 2 HTML, 4 MIME.
    kind: u8,
    truncation: Option<usize>,
}

impl BodyWanted {
    /// Plain text cut at `max` bytes: enough for a preview.
    pub(crate) fn plain_preview(max: usize) -> BodyWanted {
        BodyWanted { kind: 1, truncation: Some(max) }
    }
}

pub(crate) fn body_preference(options: Option<&Element>) -> BodyWanted {
    let pref = options.and_then(|o| o.child(CodePage::AirSyncBase, "BodyPreference"));
    let kind = pref
        .and_then(|p| p.child_text(CodePage::AirSyncBase, "Type"))
        .and_then(|t| t.trim().parse::<u8>().ok())
        .filter(|t| [1, 2, 4].contains(t))
        .unwrap_or(1);
    let truncation = pref
        .and_then(|p| p.child_text(CodePage::AirSyncBase, "TruncationSize"))
        .and_then(|t| t.trim().parse::<usize>().ok());
    BodyWanted { kind, truncation }
}

/// Cuts text at a character boundary at most `max` bytes long.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The email's ApplicationData (MS-ASEMAIL 2.2.2) from its content.
pub(crate) fn email_data(meta: &MessageMeta, folder: FolderId, content: &[u8], body: BodyWanted) -> Element {
    use mail_parser::MessageParser;
    let message = MessageParser::new().parse(content);
    let addresses = |a: Option<&mail_parser::Address<'_>>| -> String {
        a.map(|a| {
            a.iter()
                .map(|addr| match (addr.name.as_deref(), addr.address.as_deref()) {
                    (Some(n), Some(m)) => format!("\"{}\" <{m}>", n.replace('"', "")),
                    (None, Some(m)) => format!("<{m}>"),
                    (Some(n), None) => n.to_owned(),
                    (None, None) => String::new(),
                })
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
    };
    let display = |a: Option<&mail_parser::Address<'_>>| -> String {
        a.map(|a| {
            a.iter()
                .filter_map(|addr| addr.name.as_deref().or(addr.address.as_deref()).map(str::to_owned))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
    };
    let (to, cc, from, subject, text, html) = match &message {
        Some(m) => (
            addresses(m.to()),
            addresses(m.cc()),
            addresses(m.from()),
            m.subject().unwrap_or_default().to_owned(),
            m.body_text(0).map(|t| t.into_owned()),
            m.body_html(0).map(|t| t.into_owned()),
        ),
        None => (String::new(), String::new(), String::new(), String::new(), None, None),
    };
    let display_to = message.as_ref().map(|m| display(m.to())).unwrap_or_default();
    let mut data = Element::new(CodePage::AirSync, "ApplicationData");
    if !to.is_empty() {
        data.push(Element::new(CodePage::Email, "To").with_text(to));
    }
    if !cc.is_empty() {
        data.push(Element::new(CodePage::Email, "Cc").with_text(cc));
    }
    if !from.is_empty() {
        data.push(Element::new(CodePage::Email, "From").with_text(from));
    }
    data.push(Element::new(CodePage::Email, "Subject").with_text(subject.clone()));
    data.push(Element::new(CodePage::Email, "DateReceived").with_text(eas_date(meta.internal_date)));
    if !display_to.is_empty() {
        data.push(Element::new(CodePage::Email, "DisplayTo").with_text(display_to));
    }
    data.push(Element::new(CodePage::Email, "ThreadTopic").with_text(subject));
    data.push(Element::new(CodePage::Email, "Importance").with_text("1"));
    data.push(Element::new(CodePage::Email, "Read").with_text(if meta.flags.contains(Flags::SEEN) {
        "1"
    } else {
        "0"
    }));
    // The body in the preferred form, or plain text when it has none.
    let (kind, full): (u8, Vec<u8>) = match body.kind {
        4 => (4, content.to_vec()),
        2 if html.is_some() => (2, html.clone().unwrap_or_default().into_bytes()),
        _ => (1, text.clone().or(html.clone()).unwrap_or_default().into_bytes()),
    };
    let total = full.len();
    let mut b = Element::new(CodePage::AirSyncBase, "Body").with_text_child("Type", kind.to_string());
    b = b.with_text_child("EstimatedDataSize", total.to_string());
    let data_text = match body.truncation.filter(|t| *t < total) {
        Some(max) => {
            b = b.with_text_child("Truncated", "1");
            if kind == 4 {
                String::from_utf8_lossy(&full[..max]).into_owned()
            } else {
                truncate(&String::from_utf8_lossy(&full), max).to_owned()
            }
        }
        None => String::from_utf8_lossy(&full).into_owned(),
    };
    b = b.with(Element::new(CodePage::AirSyncBase, "Data").with_text(data_text));
    if let Some(list) = message.as_ref().and_then(|m| crate::itemops::attachments(folder, meta.uid, m)) {
        data.push(list);
    }
    data.push(b);
    data.push(Element::new(CodePage::Email, "MessageClass").with_text("IPM.Note"));
    data.push(Element::new(CodePage::Email, "InternetCPID").with_text("65001"));
    let mut flag = Element::new(CodePage::Email, "Flag");
    if meta.flags.contains(Flags::FLAGGED) {
        flag.push(Element::new(CodePage::Email, "Status").with_text("2"));
        flag.push(Element::new(CodePage::Email, "FlagType").with_text("Flag for follow up"));
    }
    data.push(flag);
    data.push(Element::new(CodePage::AirSyncBase, "NativeBodyType").with_text(if html.is_some() && text.is_none() {
        "2"
    } else {
        "1"
    }));
    data
}

/// The read and flag state of a change, as an ApplicationData.
fn flags_data(meta: &MessageMeta) -> Element {
    let mut flag = Element::new(CodePage::Email, "Flag");
    if meta.flags.contains(Flags::FLAGGED) {
        flag.push(Element::new(CodePage::Email, "Status").with_text("2"));
        flag.push(Element::new(CodePage::Email, "FlagType").with_text("Flag for follow up"));
    }
    Element::new(CodePage::AirSync, "ApplicationData")
        .with(Element::new(CodePage::Email, "Read").with_text(if meta.flags.contains(Flags::SEEN) { "1" } else { "0" }))
        .with(flag)
}

/// One collection of a Sync request.
struct Request<'a> {
    key: u32,
    window: usize,
    get_changes: bool,
    deletes_as_moves: bool,
    body: BodyWanted,
    days: u32,
    commands: Option<&'a Element>,
}

impl ActiveSync {
    async fn collection_state(&self, ctx: &Context, folder: FolderId) -> axigen_core::Result<Option<CollectionState>> {
        let raw = self.devices.sync_state(ctx.principal.account, &ctx.device.device_id, &folder.0.to_string()).await?;
        Ok(raw.and_then(|r| serde_json::from_slice(&r).ok()))
    }

    async fn put_collection_state(
        &self,
        ctx: &Context,
        folder: FolderId,
        state: &CollectionState,
    ) -> axigen_core::Result<()> {
        let bytes = serde_json::to_vec(state).map_err(|e| axigen_core::Error::Storage(e.to_string()))?;
        self.devices.put_sync_state(ctx.principal.account, &ctx.device.device_id, &folder.0.to_string(), bytes).await
    }

    /// A mail folder the device may sync: it exists, is mail, and the
    /// account's `activesync.email` is on.
    pub(crate) async fn sync_folder(&self, ctx: &Context, id: &str) -> axigen_core::Result<Option<FolderInfo>> {
        let Ok(id) = id.trim().parse::<u32>() else { return Ok(None) };
        let settings = self.directory.effective_settings(ctx.principal.account).await?;
        if !settings.activesync_email.value {
            return Ok(None);
        }
        Ok(self.store.folder(ctx.principal.account, FolderId(id)).await?.filter(|f| f.kind == FolderKind::Mail))
    }

    /// Notes on the device's collection states that it moved `uid` out of
    /// `from` and has it as `new_uid` in `to` (MoveItems): neither the
    /// expunge nor the addition is sent back to it.
    pub(crate) async fn note_move(
        &self,
        ctx: &Context,
        from: FolderId,
        uid: Uid,
        to: FolderId,
        new_uid: Uid,
    ) -> axigen_core::Result<()> {
        if let Some(mut state) = self.collection_state(ctx, from).await? {
            state.point.gone.push(uid.0);
            self.put_collection_state(ctx, from, &state).await?;
        }
        if let Some(mut state) = self.collection_state(ctx, to).await?
            && new_uid.0 >= state.point.limit
        {
            state.point.moved_in.push(new_uid.0);
            self.put_collection_state(ctx, to, &state).await?;
        }
        Ok(())
    }

    /// The Sync command.
    pub(crate) async fn sync(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        // MS-ASCMD 2.2.3.177.17: 13, an empty request (the client should
        // repeat its last full one); 4, a malformed one.
        let Some(root) = root else { return status_only(command, 13) };
        if !root.is(CodePage::AirSync, "Sync") {
            return status_only(command, 4);
        }
        let Some(collections) = root.child(CodePage::AirSync, "Collections") else { return status_only(command, 4) };
        let global_window =
            root.child_text(CodePage::AirSync, "WindowSize").and_then(|w| w.trim().parse::<usize>().ok());
        let mut out = Element::new(CodePage::AirSync, "Collections");
        let mut empty = true;
        let mut named: Vec<String> = Vec::new();
        for collection in collections.children_named(CodePage::AirSync, "Collection") {
            named.push(collection.child_text(CodePage::AirSync, "CollectionId").unwrap_or_default().trim().to_owned());
            let answer = self.sync_collection(&ctx, collection, global_window).await;
            // A poll that finds nothing: no change from the device, none for it,
            // and no first key (a new collection is not a poll).
            empty &= collection.child(CodePage::AirSync, "Commands").is_none()
                && collection.child_text(CodePage::AirSync, "SyncKey").is_none_or(|k| k.trim() != "0")
                && answer.child(CodePage::AirSync, "Commands").is_none()
                && answer.child(CodePage::AirSync, "MoreAvailable").is_none();
            out.push(answer);
        }
        named.sort();
        if empty
            && let Some(delay) = self.pings.empty_sync(ctx.principal.account, &ctx.device.device_id, named.join(","))
        {
            info!(account = %ctx.principal.account, device = %ctx.device.device_id, "device polls with Sync in a loop: answer delayed");
            tokio::time::sleep(delay).await;
        }
        let now = unix_now();
        if let Err(r) = self.update(&ctx.device, move |d| d.last_sync = now).await {
            return r;
        }
        wbxml_response(&Element::new(CodePage::AirSync, "Sync").with(out))
    }

    async fn sync_collection(&self, ctx: &Context, c: &Element, global_window: Option<usize>) -> Element {
        let text = |name: &str| c.child_text(CodePage::AirSync, name).map(|t| t.trim().to_owned());
        let id = text("CollectionId").unwrap_or_default();
        let answer = |status: u16, key: Option<String>| {
            let mut e = Element::new(CodePage::AirSync, "Collection");
            if let Some(k) = key {
                e.push(Element::new(CodePage::AirSync, "SyncKey").with_text(k));
            }
            e.with_text_child("CollectionId", id.clone()).with_text_child("Status", status.to_string())
        };
        let Some(key) = text("SyncKey").and_then(|k| k.parse::<u32>().ok()) else { return answer(4, None) };
        let folder = match self.sync_folder(ctx, &id).await {
            Ok(Some(f)) => f,
            // MS-ASCMD: 12, the folder hierarchy changed: the device refreshes it.
            Ok(None) => return answer(12, Some(key.to_string())),
            Err(err) => {
                warn!(account = %ctx.principal.account, error = %err, "cannot open the collection");
                return answer(5, Some(key.to_string()));
            }
        };
        let options = c.child(CodePage::AirSync, "Options");
        let window = text("WindowSize")
            .and_then(|w| w.parse::<usize>().ok())
            .or(global_window)
            .unwrap_or(DEFAULT_WINDOW)
            .clamp(1, MAX_WINDOW);
        let request = Request {
            key,
            window,
            get_changes: c.child(CodePage::AirSync, "GetChanges").is_none_or(|g| g.text().as_deref() != Some("0")),
            deletes_as_moves: c
                .child(CodePage::AirSync, "DeletesAsMoves")
                .is_none_or(|d| d.text().as_deref() != Some("0")),
            body: body_preference(options),
            days: filter_days(options.and_then(|o| o.child_text(CodePage::AirSync, "FilterType")).as_deref()),
            commands: c.child(CodePage::AirSync, "Commands"),
        };
        match self.sync_one(ctx, &folder, request).await {
            Ok(e) => e,
            Err(SyncError::Key) => {
                info!(account = %ctx.principal.account, device = %ctx.device.device_id, folder = %id, key, "Sync with an unknown key: the collection starts over");
                answer(3, Some("0".into()))
            }
            Err(SyncError::Store(err)) => {
                warn!(account = %ctx.principal.account, error = %err, "sync failed");
                answer(5, Some(key.to_string()))
            }
        }
    }

    async fn sync_one(&self, ctx: &Context, folder: &FolderInfo, req: Request<'_>) -> Result<Element, SyncError> {
        let account = ctx.principal.account;
        let state = self.collection_state(ctx, folder.id).await?;
        // The first key: the point the first load starts from.
        if req.key == 0 {
            let modseq = self.store.highest_modseq(account).await?;
            let limit = self.store.folder(account, folder.id).await?.map_or(folder.uid_next.0, |f| f.uid_next.0);
            let point = Point { modseq: modseq.0, next_uid: Some(1), limit, days: req.days, ..Point::default() };
            let state = CollectionState { key: 1, point, previous: None };
            self.put_collection_state(ctx, folder.id, &state).await?;
            return Ok(Element::new(CodePage::AirSync, "Collection")
                .with_text_child("SyncKey", "1")
                .with_text_child("CollectionId", folder.id.0.to_string())
                .with_text_child("Status", "1"));
        }
        let Some(state) = state else { return Err(SyncError::Key) };
        let (base, retry) = if req.key == state.key {
            (state.point.clone(), false)
        } else if let Some((_, p)) = state.previous.clone().filter(|(k, _)| *k == req.key) {
            (p, true)
        } else {
            return Err(SyncError::Key);
        };
        let mut base = base;
        // A changed FilterType restarts nothing here: it applies to what is
        // sent from now on.
        base.days = req.days;

        // The device's own changes first (MS-ASCMD 2.2.3.24 Commands).
        let mut responses = Element::new(CodePage::AirSync, "Responses");
        let mut own_flags: HashSet<u64> = base.own.iter().copied().collect();
        let mut own_gone: HashSet<Uid> = base.gone.iter().map(|u| Uid(*u)).collect();
        let mut moved_in: HashSet<Uid> = base.moved_in.iter().map(|u| Uid(*u)).collect();
        let (own_before, gone_before, moved_before) = (own_flags.len(), own_gone.len(), moved_in.len());
        if let Some(commands) = req.commands {
            self.apply_client_commands(
                ctx,
                folder,
                commands,
                req.deletes_as_moves,
                &mut responses,
                &mut own_flags,
                &mut own_gone,
            )
            .await?;
        }

        let mut commands = Element::new(CodePage::AirSync, "Commands");
        let mut count = 0usize;
        let mut point = base.clone();
        let mut more = false;
        if req.get_changes {
            let messages = self.store.messages(account, folder.id).await?;
            let since = unix_now() - i64::from(base.days) * 86_400;
            let in_window = |m: &MessageMeta| base.days == 0 || m.internal_date >= since;
            // The first load, in UID order.
            if let Some(next) = base.next_uid {
                let mut last = None;
                for m in messages.iter().filter(|m| m.uid.0 >= next && m.uid.0 < base.limit && in_window(m)) {
                    if count == req.window {
                        more = true;
                        break;
                    }
                    let content = self.store.content(m.blob).await?;
                    commands.push(
                        Element::new(CodePage::AirSync, "Add")
                            .with_text_child("ServerId", server_id(folder.id, m.uid))
                            .with(email_data(m, folder.id, &content, req.body)),
                    );
                    count += 1;
                    last = Some(m.uid.0);
                }
                point.next_uid = if more { last.map(|u| u + 1) } else { None };
            }
            // Then the change log.
            if point.next_uid.is_none() && !more {
                let changes = self.store.changes_since(account, ModSeq(base.modseq)).await?;
                let mut seen: HashSet<Uid> = HashSet::new();
                let mut cursor = base.modseq;
                let by_uid = |uid: Uid| messages.binary_search_by_key(&uid, |m| m.uid).ok().map(|i| &messages[i]);
                for change in changes.iter() {
                    if change.folder != folder.id {
                        cursor = change.modseq.0;
                        continue;
                    }
                    let item = match change.kind {
                        ChangeKind::Added { uid } if uid.0 < base.limit || own_gone.contains(&uid) => None,
                        ChangeKind::Added { uid } if moved_in.remove(&uid) => None,
                        ChangeKind::Added { uid } => by_uid(uid).filter(|m| in_window(m)).map(|m| (uid, "Add", m)),
                        ChangeKind::Flags { .. } if own_flags.remove(&change.modseq.0) => None,
                        ChangeKind::Flags { uid } | ChangeKind::Updated { uid } => {
                            by_uid(uid).map(|m| (uid, "Change", m))
                        }
                        ChangeKind::Expunged { uid } if own_gone.remove(&uid) => None,
                        ChangeKind::Expunged { uid } => {
                            if seen.insert(uid) {
                                if count == req.window {
                                    more = true;
                                    break;
                                }
                                commands.push(
                                    Element::new(CodePage::AirSync, "Delete")
                                        .with_text_child("ServerId", server_id(folder.id, uid)),
                                );
                                count += 1;
                            }
                            None
                        }
                        ChangeKind::FolderCreated | ChangeKind::FolderUpdated | ChangeKind::FolderDeleted => None,
                    };
                    if let Some((uid, op, m)) = item
                        && seen.insert(uid)
                    {
                        if count == req.window {
                            more = true;
                            break;
                        }
                        let data = if op == "Add" {
                            let content = self.store.content(m.blob).await?;
                            email_data(m, folder.id, &content, req.body)
                        } else {
                            flags_data(m)
                        };
                        commands.push(
                            Element::new(CodePage::AirSync, op)
                                .with_text_child("ServerId", server_id(folder.id, uid))
                                .with(data),
                        );
                        count += 1;
                    }
                    cursor = change.modseq.0;
                }
                if !more {
                    cursor = changes.last().map_or(cursor, |c| c.modseq.0).max(cursor);
                }
                point.modseq = cursor;
            }
        }
        // What the device did that is still ahead of its point.
        point.own = own_flags.iter().copied().filter(|m| *m > point.modseq).collect();
        point.own.sort_unstable();
        point.gone = own_gone.iter().map(|u| u.0).collect();
        point.gone.sort_unstable();
        point.moved_in = moved_in.iter().map(|u| u.0).collect();
        point.moved_in.sort_unstable();

        // A new key when the device's point moved or it changed something.
        let changed = point != base
            || own_flags.len() != own_before
            || own_gone.len() != gone_before
            || moved_in.len() != moved_before
            || count > 0;
        let new_key = if retry {
            state.key
        } else if changed {
            state.key + 1
        } else {
            state.key
        };
        if new_key != state.key || retry || point != state.point {
            let previous = if retry { state.previous.clone() } else { Some((state.key, state.point.clone())) };
            let next = CollectionState { key: new_key, point, previous };
            self.put_collection_state(ctx, folder.id, &next).await?;
        }
        let mut e = Element::new(CodePage::AirSync, "Collection")
            .with_text_child("SyncKey", new_key.to_string())
            .with_text_child("CollectionId", folder.id.0.to_string())
            .with_text_child("Status", "1");
        if count > 0 {
            e.push(commands);
        }
        if !responses.children.is_empty() {
            e.push(responses);
        }
        if more {
            e.push(Element::new(CodePage::AirSync, "MoreAvailable"));
        }
        Ok(e)
    }

    /// Change (Read, Flag) and Delete from the device.
    #[allow(clippy::too_many_arguments)]
    async fn apply_client_commands(
        &self,
        ctx: &Context,
        folder: &FolderInfo,
        commands: &Element,
        deletes_as_moves: bool,
        responses: &mut Element,
        own_flags: &mut HashSet<u64>,
        own_gone: &mut HashSet<Uid>,
    ) -> Result<(), SyncError> {
        let account = ctx.principal.account;
        for command in commands.elements() {
            let id = command.child_text(CodePage::AirSync, "ServerId").map(|s| s.into_owned()).unwrap_or_default();
            let target = parse_server_id(&id).filter(|(f, _)| *f == folder.id);
            let fail = |op: &str, status: &str| {
                Element::new(CodePage::AirSync, op)
                    .with_text_child("ServerId", id.clone())
                    .with_text_child("Status", status)
            };
            match command.name() {
                "Change" => {
                    let Some((_, uid)) = target else {
                        responses.push(fail("Change", "8"));
                        continue;
                    };
                    let Some(data) = command.child(CodePage::AirSync, "ApplicationData") else { continue };
                    let mut add = Flags::empty();
                    let mut remove = Flags::empty();
                    match data.child_text(CodePage::Email, "Read").as_deref().map(str::trim) {
                        Some("1") => add = add.union(Flags::SEEN),
                        Some("0") => remove = remove.union(Flags::SEEN),
                        _ => {}
                    }
                    if let Some(flag) = data.child(CodePage::Email, "Flag") {
                        match flag.child_text(CodePage::Email, "Status").as_deref().map(str::trim) {
                            Some("2") => add = add.union(Flags::FLAGGED),
                            _ => remove = remove.union(Flags::FLAGGED),
                        }
                    }
                    for (op, flags) in [(FlagOp::Add, add), (FlagOp::Remove, remove)] {
                        if flags == Flags::empty() {
                            continue;
                        }
                        let change = FlagChange { op, flags, keywords: vec![], unchanged_since: None };
                        let done = self.store.change_flags(account, folder.id, &[uid], &change).await?;
                        own_flags.extend(done.changed.iter().map(|c| c.1.0));
                        if done.changed.is_empty() && self.store.message(account, folder.id, uid).await?.is_none() {
                            responses.push(fail("Change", "8"));
                        }
                    }
                }
                "Delete" => {
                    let Some((_, uid)) = target else {
                        responses.push(fail("Delete", "8"));
                        continue;
                    };
                    let trash = if deletes_as_moves && folder.special_use != Some(SpecialUse::Trash) {
                        self.store
                            .folders(account)
                            .await?
                            .into_iter()
                            .find(|f| f.special_use == Some(SpecialUse::Trash) && f.kind == FolderKind::Mail)
                    } else {
                        None
                    };
                    let gone = match trash {
                        Some(trash) => {
                            !self.store.move_messages(account, folder.id, &[uid], trash.id).await?.uids.is_empty()
                        }
                        None => !self.store.expunge(account, folder.id, &[uid]).await?.is_empty(),
                    };
                    if gone {
                        own_gone.insert(uid);
                    } else {
                        responses.push(fail("Delete", "8"));
                    }
                }
                "Add" => {
                    // Mail is not created by Sync here (drafts come through SendMail).
                    let client =
                        command.child_text(CodePage::AirSync, "ClientId").map(|s| s.into_owned()).unwrap_or_default();
                    responses.push(
                        Element::new(CodePage::AirSync, "Add")
                            .with_text_child("ClientId", client)
                            .with_text_child("Status", "6"),
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// GetItemEstimate (MS-ASCMD 2.2.1.9): how many items a Sync would send.
    pub(crate) async fn get_item_estimate(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        let Some(collections) = root
            .as_ref()
            .filter(|r| r.is(CodePage::GetItemEstimate, "GetItemEstimate"))
            .and_then(|r| r.child(CodePage::GetItemEstimate, "Collections"))
        else {
            return status_only(command, 2);
        };
        let mut out = Element::new(CodePage::GetItemEstimate, "GetItemEstimate");
        for c in collections.children_named(CodePage::GetItemEstimate, "Collection") {
            let id =
                c.child_text(CodePage::GetItemEstimate, "CollectionId").map(|s| s.into_owned()).unwrap_or_default();
            let key = c.child_text(CodePage::AirSync, "SyncKey").and_then(|k| k.trim().parse::<u32>().ok());
            let (status, estimate) = match (self.sync_folder(&ctx, &id).await, key) {
                (Ok(Some(folder)), Some(key)) => match self.estimate(&ctx, &folder, key).await {
                    Ok(Some(n)) => (1, n),
                    // MS-ASCMD 2.2.3.177.7: 4, an invalid sync key.
                    Ok(None) => (4, 0),
                    Err(_) => (2, 0),
                },
                (Ok(Some(_)), None) => (4, 0),
                // 2: the collection is not there for this device.
                _ => (2, 0),
            };
            let mut collection =
                Element::new(CodePage::GetItemEstimate, "Collection").with_text_child("CollectionId", id);
            if status == 1 {
                collection.push(Element::new(CodePage::GetItemEstimate, "Estimate").with_text(estimate.to_string()));
            }
            out.push(
                Element::new(CodePage::GetItemEstimate, "Response")
                    .with_text_child("Status", status.to_string())
                    .with(collection),
            );
        }
        wbxml_response(&out)
    }

    /// Whether a Sync of `folder` would bring the device anything (a folder
    /// it never synced does).
    pub(crate) async fn pending(&self, ctx: &Context, folder: &FolderInfo) -> axigen_core::Result<bool> {
        match self.collection_state(ctx, folder.id).await? {
            None => Ok(true),
            Some(state) => Ok(self.estimate(ctx, folder, state.key).await?.is_none_or(|n| n > 0)),
        }
    }

    /// Items a Sync from `key` would send now; `None` for an unknown key.
    async fn estimate(&self, ctx: &Context, folder: &FolderInfo, key: u32) -> axigen_core::Result<Option<usize>> {
        let Some(state) = self.collection_state(ctx, folder.id).await? else { return Ok(None) };
        let point = if key == state.key {
            state.point
        } else if let Some((_, p)) = state.previous.filter(|(k, _)| *k == key) {
            p
        } else {
            return Ok(None);
        };
        let (own, gone): (HashSet<u64>, HashSet<u32>) =
            (point.own.iter().copied().collect(), point.gone.iter().copied().collect());
        let account = ctx.principal.account;
        let messages = self.store.messages(account, folder.id).await?;
        let since = unix_now() - i64::from(point.days) * 86_400;
        let in_window = |m: &MessageMeta| point.days == 0 || m.internal_date >= since;
        let mut n = 0;
        if let Some(next) = point.next_uid {
            n += messages.iter().filter(|m| m.uid.0 >= next && m.uid.0 < point.limit && in_window(m)).count();
        }
        let mut uids = HashSet::new();
        for change in
            self.store.changes_since(account, ModSeq(point.modseq)).await?.iter().filter(|c| c.folder == folder.id)
        {
            match change.kind {
                ChangeKind::Added { uid } if uid.0 >= point.limit && !point.moved_in.contains(&uid.0) => {
                    uids.insert(uid);
                }
                ChangeKind::Flags { .. } if own.contains(&change.modseq.0) => {}
                ChangeKind::Expunged { uid } if gone.contains(&uid.0) => {}
                ChangeKind::Flags { uid } | ChangeKind::Updated { uid } | ChangeKind::Expunged { uid } => {
                    uids.insert(uid);
                }
                _ => {}
            }
        }
        Ok(Some(n + uids.len()))
    }
}

/// Why a collection could not be synced.
enum SyncError {
    /// The key is neither the current nor the previous one.
    Key,
    /// The store failed.
    Store(axigen_core::Error),
}

impl From<axigen_core::Error> for SyncError {
    fn from(e: axigen_core::Error) -> Self {
        SyncError::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_protocol_format() {
        assert_eq!(eas_date(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(eas_date(1_700_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(eas_date(951_825_600), "2000-02-29T12:00:00.000Z");
    }

    #[test]
    fn server_ids_round_trip() {
        assert_eq!(parse_server_id(&server_id(FolderId(5), Uid(12))), Some((FolderId(5), Uid(12))));
        assert_eq!(parse_server_id("5"), None);
        assert_eq!(parse_server_id("a:1"), None);
    }

    #[test]
    fn filter_types() {
        assert_eq!(filter_days(None), 0);
        assert_eq!(filter_days(Some("3")), 7);
        assert_eq!(filter_days(Some("9")), 0);
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
