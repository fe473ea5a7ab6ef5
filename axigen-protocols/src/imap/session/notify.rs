//! NOTIFY (RFC 5465): the client names mailboxes and events, and the
//! session reports them as they happen, between commands as well as in
//! IDLE (the driver wakes it, see [`Session::notify_watch`]).
//!
//! - Other mailboxes of the user's own: STATUS responses, with MESSAGES,
//!   UIDNEXT and UIDVALIDITY for MessageNew, MESSAGES for MessageExpunge,
//!   UIDVALIDITY and HIGHESTMODSEQ for FlagChange (5.2-5.4); LIST responses
//!   for MailboxName (created, deleted as `\NonExistent`, renamed with
//!   `OLDNAME`, 5.5) and SubscriptionChange (5.6).
//! - The selected mailbox: EXISTS, EXPUNGE and FETCH as in IDLE; with
//!   `SELECTED` they may come at any time, with `SELECTED-DELAYED` (or no
//!   selected group) only when a command completes. `MessageNew
//!   (fetch-att ...)` adds a FETCH of those items for each new message.
//! - What happened comes from the store's change log since the last
//!   report, never from comparing listings.
//! - AnnotationChange and the METADATA events are refused with
//!   `NO [BADEVENT (...)]`: the server keeps neither.
//! - Shared mailboxes of other accounts are not watched (only the selected
//!   one, as always).

use std::collections::HashMap;

use axigen_core::mailstore::{ChangeKind, FolderId, FolderInfo, ModSeq, Uid};
use axigen_core::model::AccountId;

use super::{Session, store_error, tagged};
use crate::imap::data::Data;
use crate::imap::encode;
use crate::imap::extensions::notify::{Event, Filter, NotifySet};
use crate::imap::fetch::{FetchCommand, FetchItems};
use crate::imap::response::{Code, Status, StatusResponse};
use crate::imap::sequence::SequenceSet;
use crate::imap::status::StatusItem;
use crate::imap::types::{MailboxName, Tag};

/// The events this server reports.
const SUPPORTED: &[&str] = &["MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange"];

/// An active NOTIFY.
#[derive(Debug, Clone)]
pub(super) struct NotifyState {
    set: NotifySet,
    /// The user's account MODSEQ up to which changes were reported.
    modseq: ModSeq,
    /// The user's folders as last reported: (name, subscribed).
    folders: HashMap<FolderId, (String, bool)>,
}

/// Whether a filter for other mailboxes covers a folder.
fn covers(filter: &Filter, name: &str, subscribed: bool) -> bool {
    let under =
        |m: &MailboxName| name == m.as_str() || name.strip_prefix(m.as_str()).is_some_and(|r| r.starts_with('/'));
    match filter {
        Filter::Selected | Filter::SelectedDelayed => false,
        Filter::Inboxes => name == "INBOX",
        Filter::Personal => true,
        Filter::Subscribed => subscribed,
        Filter::Subtree(list) => list.iter().any(under),
        Filter::Mailboxes(list) => list.iter().any(|m| name == m.as_str()),
    }
}

impl NotifyState {
    /// The events asked for a folder other than the selected one.
    fn events_for(&self, name: &str, subscribed: bool) -> Vec<&Event> {
        self.set.groups.iter().filter(|g| covers(&g.filter, name, subscribed)).flat_map(|g| g.events.iter()).collect()
    }

    /// The group of the selected mailbox, if any: (delayed, events).
    fn selected(&self) -> Option<(bool, &[Event])> {
        self.set.groups.iter().find_map(|g| match g.filter {
            Filter::Selected => Some((false, g.events.as_slice())),
            Filter::SelectedDelayed => Some((true, g.events.as_slice())),
            _ => None,
        })
    }
}

/// The STATUS items that report these events (RFC 5465 5.2-5.4), in a
/// fixed order.
fn status_items(events: &[&Event], new: bool, expunged: bool, flags: bool) -> Vec<StatusItem> {
    let has = |f: fn(&Event) -> bool| events.iter().any(|e| f(e));
    let mut items = Vec::new();
    let new = new && has(|e| matches!(e, Event::MessageNew(_)));
    let expunged = expunged && has(|e| matches!(e, Event::MessageExpunge));
    let flags = flags && has(|e| matches!(e, Event::FlagChange));
    if new || expunged {
        items.push(StatusItem::Messages);
    }
    if new {
        items.push(StatusItem::UidNext);
    }
    if new || flags {
        items.push(StatusItem::UidValidity);
    }
    if flags {
        items.push(StatusItem::HighestModSeq);
    }
    items
}

impl Session {
    /// NOTIFY SET / NOTIFY NONE.
    pub(super) async fn notify(&mut self, tag: &Tag, set: Option<NotifySet>, out: &mut Vec<u8>) -> StatusResponse {
        let Some(set) = set else {
            self.notify = None;
            return tagged(tag, Status::Ok, "NOTIFY completed");
        };
        let unsupported =
            set.groups.iter().flat_map(|g| g.events.iter()).any(|e| !SUPPORTED.contains(&e.name().as_str()));
        if unsupported {
            let events = SUPPORTED.iter().map(|e| (*e).to_owned()).collect();
            return tagged(tag, Status::No, "unsupported events").with_code(Code::BadEvent(events));
        }
        let me = self.account();
        let (modseq, folders) = match (self.store.highest_modseq(me).await, self.store.folders(me).await) {
            (Ok(m), Ok(f)) => (m, f),
            (Err(err), _) | (_, Err(err)) => return store_error(tag, &err),
        };
        let state = NotifyState {
            modseq,
            folders: folders.iter().map(|f| (f.id, (f.name.clone(), f.subscribed))).collect(),
            set,
        };
        // RFC 5465 3: with STATUS, where the other mailboxes stand now.
        if state.set.status {
            for folder in folders.iter().filter(|f| !self.is_selected(me, f.id)) {
                let events = state.events_for(&folder.name, folder.subscribed);
                let items = status_items(&events, true, true, true);
                self.status_response(me, folder, &items, out).await;
            }
        }
        self.notify = Some(state);
        tagged(tag, Status::Ok, "NOTIFY completed")
    }

    fn is_selected(&self, owner: AccountId, folder: FolderId) -> bool {
        self.selected.as_ref().is_some_and(|s| s.owner == owner && s.folder == folder)
    }

    /// `* STATUS name (items)` for a folder of the user's own.
    async fn status_response(&self, me: AccountId, folder: &FolderInfo, items: &[StatusItem], out: &mut Vec<u8>) {
        if items.is_empty() {
            return;
        }
        let Ok(mailbox) = MailboxName::new(&folder.name) else { return };
        let target = super::acl::Target { owner: me, folder: folder.clone(), rights: axigen_core::acl::Rights::ALL };
        if let Ok(values) = self.status_values(&target, items).await {
            self.data(out, &Data::Status { mailbox, items: values });
        }
    }

    /// Whether the driver should watch for changes between commands, and
    /// whether the selected mailbox's changes may then be sent at once
    /// (`SELECTED`, not `SELECTED-DELAYED`).
    pub fn notify_watch(&self) -> Option<(AccountId, bool)> {
        let state = self.notify.as_ref()?;
        let immediate = state.selected().is_some_and(|(delayed, events)| !delayed && !events.is_empty());
        Some((self.principal.as_ref()?.account, immediate))
    }

    /// The account MODSEQ up to which NOTIFY has reported.
    pub fn notify_modseq(&self) -> Option<ModSeq> {
        self.notify.as_ref().map(|s| s.modseq)
    }

    /// Between commands, when the driver saw a change: the selected
    /// mailbox's changes if `SELECTED` allows them now, then the others'.
    pub async fn notify_poll(&mut self, out: &mut Vec<u8>) {
        if self.notify_watch().is_some_and(|(_, immediate)| immediate) && self.selected.is_some() {
            self.report_changes(out).await;
            self.update_contexts(out).await;
        }
        self.notify_others(out).await;
    }

    /// Reports what changed in the user's other mailboxes since the last
    /// report (RFC 5465 5).
    pub(super) async fn notify_others(&mut self, out: &mut Vec<u8>) {
        let Some(state) = self.notify.as_ref() else { return };
        let me = self.account();
        // Read first: every change up to it is in the log read next, so the
        // report can move to it even when the log holds nothing newer.
        let Ok(highest) = self.store.highest_modseq(me).await else { return };
        let changes = match self.store.changes_since(me, state.modseq).await {
            Ok(c) => c,
            Err(err) => {
                // Not reported, but not asked for again and again either.
                tracing::warn!(session = %self.id, error = %err, "NOTIFY cannot read the change log");
                if let Some(state) = self.notify.as_mut() {
                    state.modseq = state.modseq.max(highest);
                }
                return;
            }
        };
        let Some(last) = changes.last().map(|c| c.modseq) else {
            if let Some(state) = self.notify.as_mut() {
                state.modseq = state.modseq.max(highest);
            }
            return;
        };
        let Ok(folders) = self.store.folders(me).await else { return };
        let now: HashMap<FolderId, &FolderInfo> = folders.iter().map(|f| (f.id, f)).collect();
        // Per folder: (new, expunged, flags, folder changed), in the order
        // the folders first changed.
        let mut order: Vec<FolderId> = Vec::new();
        let mut what: HashMap<FolderId, (bool, bool, bool, bool)> = HashMap::new();
        for change in &changes {
            let entry = what.entry(change.folder).or_insert_with(|| {
                order.push(change.folder);
                (false, false, false, false)
            });
            match change.kind {
                ChangeKind::Added { .. } => entry.0 = true,
                ChangeKind::Expunged { .. } => entry.1 = true,
                ChangeKind::Flags { .. } => entry.2 = true,
                _ => entry.3 = true,
            }
        }
        let Some(mut state) = self.notify.take() else { return };
        for id in order {
            if self.is_selected(me, id) {
                continue;
            }
            let (new, expunged, flags, folder_changed) = what[&id];
            let before = state.folders.get(&id).cloned();
            let after = now.get(&id).map(|f| (f.name.clone(), f.subscribed));
            if folder_changed {
                self.mailbox_events(&state, before.as_ref(), after.as_ref(), out);
            }
            if let Some(folder) = now.get(&id) {
                let events = state.events_for(&folder.name, folder.subscribed);
                let items = status_items(&events, new, expunged, flags);
                self.status_response(me, folder, &items, out).await;
            }
        }
        state.modseq = last.max(highest);
        state.folders = folders.iter().map(|f| (f.id, (f.name.clone(), f.subscribed))).collect();
        self.notify = Some(state);
    }

    /// LIST responses for a folder created, deleted, renamed or
    /// (un)subscribed (RFC 5465 5.5, 5.6).
    fn mailbox_events(
        &self,
        state: &NotifyState,
        before: Option<&(String, bool)>,
        after: Option<&(String, bool)>,
        out: &mut Vec<u8>,
    ) {
        let wants =
            |name: &str, subscribed: bool, f: fn(&Event) -> bool| state.events_for(name, subscribed).into_iter().any(f);
        let names = |e: &Event| matches!(e, Event::MailboxName);
        let subscriptions = |e: &Event| matches!(e, Event::SubscriptionChange);
        let mut line = |attributes: &str, name: &str, old: Option<&str>| {
            out.extend_from_slice(format!("* LIST ({attributes}) \"/\" ").as_bytes());
            encode::mailbox_str(out, name, self.utf8);
            if let Some(old) = old {
                out.extend_from_slice(b" (\"OLDNAME\" (");
                encode::mailbox_str(out, old, self.utf8);
                out.extend_from_slice(b"))");
            }
            out.extend_from_slice(b"\r\n");
        };
        let subscribed_attr = |s: bool| if s { "\\Subscribed" } else { "" };
        match (before, after) {
            (None, Some((name, subscribed))) if wants(name, *subscribed, names) => {
                line(subscribed_attr(*subscribed), name, None)
            }
            (Some((name, subscribed)), None) if wants(name, *subscribed, names) => line("\\NonExistent", name, None),
            (Some((old, was)), Some((name, subscribed))) => {
                if old != name && (wants(name, *subscribed, names) || wants(old, *was, names)) {
                    line(subscribed_attr(*subscribed), name, Some(old));
                } else if was != subscribed
                    && (wants(name, *subscribed, subscriptions) || wants(name, *was, subscriptions))
                {
                    line(subscribed_attr(*subscribed), name, None);
                }
            }
            _ => {}
        }
    }

    /// `MessageNew (fetch-att ...)` on the selected mailbox: a FETCH of
    /// those items for the messages that just arrived (RFC 5465 5.2).
    pub(super) async fn notify_fetch_new(&mut self, added: &[Uid], out: &mut Vec<u8>) {
        let Some(atts) = self.notify.as_ref().and_then(|s| s.selected()).and_then(|(_, events)| {
            events.iter().find_map(|e| match e {
                Event::MessageNew(atts) if !atts.is_empty() => Some(atts.clone()),
                _ => None,
            })
        }) else {
            return;
        };
        let Some(set) = SequenceSet::from_numbers(added.iter().map(|u| u.0)) else { return };
        let cmd =
            FetchCommand { uid: true, set, items: FetchItems::Attributes(atts), changed_since: None, vanished: false };
        let Ok(tag) = Tag::new("notify") else { return };
        // The FETCH responses go out; the tagged status of this internal
        // fetch does not.
        let _ = self.fetch(&tag, &cmd, out).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_items() {
        let mb = |s: &str| MailboxName::new(s).unwrap();
        assert!(covers(&Filter::Inboxes, "INBOX", false));
        assert!(!covers(&Filter::Inboxes, "Sent", true));
        assert!(covers(&Filter::Subtree(vec![mb("Lists")]), "Lists/rust", false));
        assert!(covers(&Filter::Subtree(vec![mb("Lists")]), "Lists", false));
        assert!(!covers(&Filter::Subtree(vec![mb("Lists")]), "Listsmore", false));
        assert!(covers(&Filter::Mailboxes(vec![mb("a"), mb("b")]), "b", false));
        assert!(!covers(&Filter::Mailboxes(vec![mb("a")]), "a/b", false));
        assert!(covers(&Filter::Subscribed, "x", true));
        let new = Event::MessageNew(vec![]);
        assert_eq!(
            status_items(&[&new], true, true, true),
            vec![StatusItem::Messages, StatusItem::UidNext, StatusItem::UidValidity]
        );
        assert_eq!(status_items(&[&Event::MessageExpunge], true, true, true), vec![StatusItem::Messages]);
        assert_eq!(
            status_items(&[&Event::FlagChange], true, true, true),
            vec![StatusItem::UidValidity, StatusItem::HighestModSeq]
        );
        assert!(status_items(&[&new], false, true, true).is_empty());
    }
}
