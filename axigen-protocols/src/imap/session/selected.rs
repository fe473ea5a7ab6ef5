//! The selected state (RFC 9051 6.4): SELECT/EXAMINE, the message sequence
//! number <-> UID map, pending changes, CLOSE, UNSELECT, EXPUNGE, STORE,
//! COPY and MOVE (RFC 6851), with UIDPLUS response codes (RFC 4315).

use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;

use axigen_core::acl::Rights;
use axigen_core::mailstore::{
    ChangeKind, Copied, FlagChange, FlagOp, Flags, FolderId, MessageMeta, ModSeq, NewMessage, QuotaLimit, Uid,
};
use axigen_core::model::AccountId;

use super::acl::{Target, allowed_flags, flag_right, no_permission};
use super::{Session, State, imap_flags, store_error, store_flags, tagged};
use crate::imap::command::{QResync, SelectParams};
use crate::imap::data::Data;
use crate::imap::response::{Code, PermanentFlag, Status, StatusResponse};
use crate::imap::sequence::SequenceSet;
use crate::imap::store::{StoreAction, StoreCommand};
use crate::imap::types::{Flag, MailboxName, Tag};

/// The selected mailbox as this session sees it.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The folder's owner: the user, or another account that shares it.
    pub owner: AccountId,
    /// The folder.
    pub folder: FolderId,
    /// The user's rights on it (every right on its own folders).
    pub rights: Rights,
    /// EXAMINE, or a read-only SELECT.
    pub read_only: bool,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDs in message sequence number order: `uids[n - 1]` is message `n`.
    /// Shared with the store's listing (and every session that selected the
    /// folder unchanged) until this session's view changes.
    pub uids: Arc<Vec<Uid>>,
    /// The account MODSEQ up to which changes were reported.
    pub modseq: ModSeq,
    /// MODSEQs of flag changes this session made and already reported.
    own_changes: HashSet<ModSeq>,
    /// Messages `\Recent` in this session (RFC 3501 2.3.2), ascending;
    /// always empty once IMAP4rev2 is enabled.
    pub recent: Vec<Uid>,
    /// Keywords announced with `FLAGS` (RFC 3501 7.2.6): a FETCH may only
    /// carry those.
    keywords: BTreeSet<String>,
    /// Updating searches and sorts (RFC 5267 4.3); they end with the
    /// selection.
    pub(super) contexts: Vec<super::context::UpdateContext>,
}

/// For lists in UID order read with UIDs in ascending order: moves `at`
/// forward to `uid` and gives its index, if listed. A whole-mailbox FETCH or
/// SEARCH then makes one pass instead of a search per message.
pub(super) fn walk_to<T>(list: &[T], at: &mut usize, uid: Uid, uid_of: impl Fn(&T) -> Uid) -> Option<usize> {
    while *at < list.len() && uid_of(&list[*at]) < uid {
        *at += 1;
    }
    (*at < list.len() && uid_of(&list[*at]) == uid).then_some(*at)
}

impl Selected {
    /// The message sequence number of a UID.
    pub fn seq_of(&self, uid: Uid) -> Option<u32> {
        self.uids.binary_search(&uid).ok().and_then(|i| u32::try_from(i + 1).ok())
    }

    /// Number of messages.
    pub fn exists(&self) -> u32 {
        u32::try_from(self.uids.len()).unwrap_or(u32::MAX)
    }

    /// The UIDs a set names: message numbers, or UIDs with `uid` (`*` is the
    /// largest UID, RFC 9051 6.4.8), in ascending order.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<Uid> {
        if uid {
            let largest = self.uids.last().map_or(0, |u| u.0);
            self.uids.iter().copied().filter(|u| set.contains(u.0, largest)).collect()
        } else {
            set.to_numbers(self.exists())
                .into_iter()
                .filter_map(|n| self.uids.get(usize::try_from(n).ok()?.checked_sub(1)?).copied())
                .collect()
        }
    }

    /// Notes flag changes made by this session: they are answered by the
    /// command itself and not reported again.
    pub(super) fn note_own(&mut self, modseqs: impl IntoIterator<Item = ModSeq>) {
        self.own_changes.extend(modseqs);
    }

    /// Whether every message number of a set exists (RFC 9051 9, note on
    /// `seq-number`: a number above EXISTS, or `*` in an empty mailbox, is
    /// BAD). UID sets are never invalid.
    pub fn valid_numbers(&self, set: &SequenceSet, uid: bool) -> bool {
        uid || set.ranges().iter().all(|r| {
            let (low, high) = r.bounds(self.exists());
            low >= 1 && high <= self.exists()
        })
    }

    /// Removes an expunged UID; its former sequence number.
    fn remove(&mut self, uid: Uid) -> Option<u32> {
        let seq = self.seq_of(uid)?;
        Arc::make_mut(&mut self.uids).retain(|u| *u != uid);
        if let Ok(i) = self.recent.binary_search(&uid) {
            self.recent.remove(i);
        }
        Some(seq)
    }

    /// Whether a message is `\Recent` in this session.
    pub fn is_recent(&self, uid: Uid) -> bool {
        self.recent.binary_search(&uid).is_ok()
    }
}

/// The keywords the messages carry (repeats included): what SELECT
/// announces, and what FETCH checks before showing flags.
pub(super) fn keywords_in_use(messages: &[MessageMeta]) -> impl Iterator<Item = &String> {
    messages.iter().flat_map(|m| &m.keywords)
}

/// `* n FETCH ([UID u ]FLAGS (...)[ MODSEQ (m)])`; MODSEQ once CONDSTORE
/// is enabled (RFC 7162 3.1.4: every FETCH with FLAGS carries it).
pub(super) fn flags_response(out: &mut Vec<u8>, seq: u32, meta: &MessageMeta, uid: bool, modseq: bool, recent: bool) {
    use std::io::Write as _;
    let _ = write!(out, "* {seq} FETCH (");
    if uid {
        let _ = write!(out, "UID {} ", meta.uid.0);
    }
    out.extend_from_slice(b"FLAGS ");
    super::write_flag_list(out, meta.flags, &meta.keywords, recent);
    if modseq {
        let _ = write!(out, " MODSEQ ({})", meta.modseq.0);
    }
    out.extend_from_slice(b")\r\n");
}

fn expunge_response(out: &mut Vec<u8>, seq: u32) {
    if let Some(n) = NonZeroU32::new(seq) {
        Data::Expunge(n).encode(out, false);
    }
}

impl Session {
    /// The selected folder's messages in UID order: the store's shared
    /// listing, which stays the same while the folder's HIGHESTMODSEQ does.
    pub(super) async fn selected_messages(&mut self) -> axigen_core::Result<Arc<Vec<MessageMeta>>> {
        let Some(selected) = self.selected.as_ref() else { return Ok(Arc::default()) };
        let (owner, folder) = (selected.owner, selected.folder);
        let Some(listing) = self.store.listing(owner, folder).await? else { return Ok(Arc::default()) };
        Ok(listing.messages)
    }

    /// Drops what the session keeps only to answer faster (while it idles).
    /// Listings are the store's, shared and bounded, so there is nothing of
    /// the session's own to drop now.
    pub fn release_caches(&mut self) {}

    pub(super) async fn select(
        &mut self,
        tag: &Tag,
        mailbox: &MailboxName,
        read_only: bool,
        params: &SelectParams,
        out: &mut Vec<u8>,
    ) -> StatusResponse {
        // RFC 7162 3.2.5: QRESYNC without a prior ENABLE QRESYNC is BAD.
        if params.qresync.is_some() && !self.qresync {
            return tagged(tag, Status::Bad, "QRESYNC is not enabled");
        }
        // RFC 7162 3.1.8: SELECT (CONDSTORE) enables CONDSTORE.
        if params.condstore {
            self.condstore = true;
        }
        // RFC 9051 6.3.2: a SELECT first deselects, even when it fails.
        if self.selected.take().is_some() {
            // RFC 9051 7.1: CLOSED when the previous mailbox is deselected.
            StatusResponse::untagged(Status::Ok, "previous mailbox closed").with_code(Code::Closed).encode(out);
        }
        self.state = State::Authenticated;
        let Target { owner: account, folder, rights } = match self.target_with(tag, mailbox, Rights::READ, None).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        // RFC 4314 4: without a right that changes the mailbox, it is
        // opened read-only.
        let read_only = read_only
            || !rights
                .intersects(Rights::SEEN.union(Rights::WRITE).union(Rights::DELETE_MESSAGES).union(Rights::EXPUNGE));
        // Read the MODSEQ first: a change racing the listing is reported later.
        let modseq = match self.store.highest_modseq(account).await {
            Ok(m) => m,
            Err(err) => return store_error(tag, &err),
        };
        // The shared listing: a folder selected lately and unchanged since is
        // not read again.
        let listing = match self.store.listing(account, folder.id).await {
            Ok(Some(listing)) => listing,
            Ok(None) => return tagged(tag, Status::No, "no such mailbox").with_code(Code::NonExistent),
            Err(err) => return store_error(tag, &err),
        };
        // RFC 3501 2.3.2: a read-write SELECT takes the folder's recent
        // messages for this session; EXAMINE only counts them.
        let (recent, recent_count) = if self.rev2 {
            (Vec::new(), 0)
        } else if read_only {
            (Vec::new(), self.recent.unclaimed(account, folder.id, &listing.messages))
        } else {
            let claimed = self.recent.claim(account, folder.id, &listing.messages, &listing.uids);
            let n = u32::try_from(claimed.len()).unwrap_or(u32::MAX);
            (claimed, n)
        };
        let keywords = keywords_in_use(&listing.messages).filter(|k| Flag::parse(k).is_ok()).cloned().collect();
        // RFC 3501 7.1: the first unseen message, for IMAP4rev1 clients.
        let first_unseen = listing.messages.iter().position(|m| !m.flags.contains(Flags::SEEN));
        let selected = Selected {
            owner: account,
            folder: folder.id,
            rights,
            read_only,
            uid_validity: folder.uid_validity,
            uids: listing.uids,
            modseq,
            own_changes: HashSet::new(),
            recent,
            keywords,
            contexts: Vec::new(),
        };
        let exists = selected.exists();
        self.selected = Some(selected);
        self.flags_data(out);
        self.data(out, &Data::Exists(exists));
        if !self.rev2 {
            self.data(out, &Data::Recent(recent_count));
            if let Some(n) = first_unseen.and_then(|i| u32::try_from(i + 1).ok()).and_then(NonZeroU32::new) {
                StatusResponse::untagged(Status::Ok, "first unseen").with_code(Code::Unseen(n)).encode(out);
            }
        }
        if let Some(v) = NonZeroU32::new(folder.uid_validity) {
            StatusResponse::untagged(Status::Ok, "UIDs valid").with_code(Code::UidValidity(v)).encode(out);
        }
        if let Some(n) = NonZeroU32::new(folder.uid_next.0) {
            StatusResponse::untagged(Status::Ok, "predicted next UID").with_code(Code::UidNext(n)).encode(out);
        }
        // RFC 7162 3.1.2.1: HIGHESTMODSEQ with every successful SELECT/EXAMINE.
        StatusResponse::untagged(Status::Ok, "highest mod-sequence")
            .with_code(Code::HighestModSeq(folder.highest_modseq.0.max(1)))
            .encode(out);
        self.state = State::Selected;
        if let Some(q) = &params.qresync
            && q.uid_validity.get() == folder.uid_validity
            && let Err(err) = self.resync(q, out).await
        {
            return store_error(tag, &err);
        }
        if read_only {
            tagged(tag, Status::Ok, "EXAMINE completed").with_code(Code::ReadOnly)
        } else {
            tagged(tag, Status::Ok, "SELECT completed").with_code(Code::ReadWrite)
        }
    }

    /// A CONDSTORE-enabling command (RFC 7162 3.1) in a session that had not
    /// enabled it: with a mailbox selected, `* OK [HIGHESTMODSEQ n]` is sent
    /// before the command's other responses (RFC 7162 3.1.2.1, 3.1.8).
    pub(super) async fn enable_condstore(&mut self, out: &mut Vec<u8>) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        let Some(selected) = self.selected.as_ref() else { return };
        if let Ok(Some(info)) = self.store.folder(selected.owner, selected.folder).await {
            StatusResponse::untagged(Status::Ok, "highest mod-sequence")
                .with_code(Code::HighestModSeq(info.highest_modseq.0.max(1)))
                .encode(out);
        }
    }

    /// `* FLAGS` and `* OK [PERMANENTFLAGS]` for the selected mailbox: the
    /// system flags and the keywords announced so far (RFC 9051 7.3.5).
    fn flags_data(&self, out: &mut Vec<u8>) {
        let Some(selected) = self.selected.as_ref() else { return };
        let mut flags = vec![Flag::Answered, Flag::Flagged, Flag::Deleted, Flag::Seen, Flag::Draft];
        flags.extend(selected.keywords.iter().filter_map(|k| Flag::parse(k).ok()));
        self.data(out, &Data::Flags(flags.clone()));
        let permanent = if selected.read_only {
            vec![]
        } else {
            // RFC 4314 4: only the flags the user's rights let it keep.
            let mut p: Vec<PermanentFlag> =
                allowed_flags(&flags, selected.rights).into_iter().map(PermanentFlag::Flag).collect();
            if selected.rights.contains(Rights::WRITE) {
                p.push(PermanentFlag::Any);
            }
            p
        };
        StatusResponse::untagged(Status::Ok, "flags permitted").with_code(Code::PermanentFlags(permanent)).encode(out);
    }

    /// Announces keywords not announced yet with a new `FLAGS` and
    /// `PERMANENTFLAGS` (RFC 3501 7.2.6): called before any FETCH, from
    /// this command or another session's change, can carry them.
    pub(super) fn announce_keywords<'a>(&mut self, out: &mut Vec<u8>, keywords: impl IntoIterator<Item = &'a String>) {
        let Some(selected) = self.selected.as_mut() else { return };
        let mut new = false;
        for k in keywords {
            if !selected.keywords.contains(k) && Flag::parse(k).is_ok() {
                selected.keywords.insert(k.clone());
                new = true;
            }
        }
        if new {
            self.flags_data(out);
        }
    }

    /// CLOSE (`expunge`: RFC 9051 6.4.1, silently) or UNSELECT (RFC 3691).
    pub(super) async fn close(&mut self, tag: &Tag, expunge: bool) -> StatusResponse {
        let Some(selected) = self.selected.take() else {
            return tagged(tag, Status::Bad, "no mailbox selected");
        };
        self.state = State::Authenticated;
        // RFC 4314 4: CLOSE expunges only with the e right, silently.
        if expunge && !selected.read_only && selected.rights.contains(Rights::EXPUNGE) {
            let account = selected.owner;
            match self.store.messages(account, selected.folder).await {
                Ok(messages) => {
                    let deleted: Vec<Uid> =
                        messages.iter().filter(|m| m.flags.contains(Flags::DELETED)).map(|m| m.uid).collect();
                    if !deleted.is_empty()
                        && let Err(err) = self.store.expunge(account, selected.folder, &deleted).await
                    {
                        return store_error(tag, &err);
                    }
                }
                Err(err) => return store_error(tag, &err),
            }
        }
        tagged(tag, Status::Ok, if expunge { "CLOSE completed" } else { "UNSELECT completed" })
    }

    /// EXPUNGE, or UID EXPUNGE of `set` (RFC 4315 2.1).
    pub(super) async fn expunge(&mut self, tag: &Tag, set: Option<&SequenceSet>, out: &mut Vec<u8>) -> StatusResponse {
        let Some(selected) = self.selected.as_ref() else {
            return tagged(tag, Status::Bad, "no mailbox selected");
        };
        let account = selected.owner;
        if selected.read_only {
            return tagged(tag, Status::No, "mailbox is read-only").with_code(Code::ReadOnly);
        }
        if !selected.rights.contains(Rights::EXPUNGE) {
            return no_permission(tag, "the e right is needed to expunge");
        }
        let folder = selected.folder;
        let allowed: Option<HashSet<Uid>> = set.map(|s| selected.resolve(s, true).into_iter().collect());
        let messages = match self.store.messages(account, folder).await {
            Ok(m) => m,
            Err(err) => return store_error(tag, &err),
        };
        let deleted: Vec<Uid> = messages
            .iter()
            .filter(|m| m.flags.contains(Flags::DELETED))
            .filter(|m| allowed.as_ref().is_none_or(|a| a.contains(&m.uid)))
            .filter(|m| selected.seq_of(m.uid).is_some())
            .map(|m| m.uid)
            .collect();
        if !deleted.is_empty() {
            match self.store.expunge(account, folder, &deleted).await {
                Ok(removed) => self.report_expunged(&removed, out),
                Err(err) => return store_error(tag, &err),
            }
        }
        let response = tagged(tag, Status::Ok, "EXPUNGE completed");
        // RFC 7162 3.2.7: once CONDSTORE is enabled, the tagged OK of EXPUNGE
        // carries the mailbox's new HIGHESTMODSEQ.
        if self.condstore
            && let Ok(Some(info)) = self.store.folder(account, folder).await
        {
            return response.with_code(Code::HighestModSeq(info.highest_modseq.0.max(1)));
        }
        response
    }

    /// Sends `* n EXPUNGE` for UIDs removed from the selected mailbox, or
    /// `* VANISHED uids` once QRESYNC is enabled (RFC 7162 3.2.10).
    fn report_expunged(&mut self, uids: &[Uid], out: &mut Vec<u8>) {
        // RFC 5267 4.3.4: updating results lose them first.
        self.contexts_before_expunge(uids, out);
        let qresync = self.qresync;
        let Some(selected) = self.selected.as_mut() else { return };
        let mut uids = uids.to_vec();
        // Highest first, so each number is valid when it is sent.
        uids.sort_unstable_by(|a, b| b.cmp(a));
        let mut vanished = Vec::new();
        for uid in uids {
            if let Some(seq) = selected.remove(uid) {
                if qresync {
                    vanished.push(uid.0);
                } else {
                    expunge_response(out, seq);
                }
            }
        }
        if let Some(uids) = SequenceSet::from_numbers(vanished) {
            Data::Vanished { earlier: false, uids }.encode(out, false);
        }
    }

    /// The QRESYNC part of SELECT (RFC 7162 3.2.5.1), from the change log:
    /// `VANISHED (EARLIER)` for the messages expunged since the client's
    /// MODSEQ, then a FETCH of UID, FLAGS and MODSEQ for those changed since.
    async fn resync(&mut self, q: &QResync, out: &mut Vec<u8>) -> axigen_core::Result<()> {
        let Some(selected) = self.selected.as_ref() else { return Ok(()) };
        let account = selected.owner;
        let folder = selected.folder;
        let changes = self.store.changes_since(account, ModSeq(q.modseq.get())).await?;
        // RFC 7162 3.2.5.1: with known-uids, expunges and flag changes are
        // reported for those UIDs only.
        let known = |uid: Uid| q.known_uids.as_ref().is_none_or(|k| k.contains(uid.0, u32::MAX));
        let mut vanished = Vec::new();
        let mut changed = HashSet::new();
        for change in changes.iter().filter(|c| c.folder == folder) {
            match change.kind {
                ChangeKind::Expunged { uid } if selected.seq_of(uid).is_none() && known(uid) => vanished.push(uid.0),
                ChangeKind::Flags { uid } | ChangeKind::Added { uid }
                    if selected.seq_of(uid).is_some() && known(uid) =>
                {
                    changed.insert(uid);
                }
                _ => {}
            }
        }
        if let Some(uids) = SequenceSet::from_numbers(vanished) {
            Data::Vanished { earlier: true, uids }.encode(out, false);
        }
        if changed.is_empty() {
            return Ok(());
        }
        let messages = self.store.messages(account, folder).await?;
        let changed: Vec<&MessageMeta> = messages.iter().filter(|m| changed.contains(&m.uid)).collect();
        self.announce_keywords(out, changed.iter().flat_map(|m| &m.keywords));
        let Some(selected) = self.selected.as_ref() else { return Ok(()) };
        for meta in changed {
            if let Some(seq) = selected.seq_of(meta.uid) {
                flags_response(out, seq, meta, true, true, selected.is_recent(meta.uid));
            }
        }
        Ok(())
    }

    /// Reports what changed in the selected mailbox since the last report:
    /// EXPUNGE, EXISTS and FETCH FLAGS (RFC 9051 7.4.1, 7.5.2).
    pub(super) async fn report_changes(&mut self, out: &mut Vec<u8>) {
        let Some(selected) = self.selected.as_ref() else { return };
        let account = selected.owner;
        let (folder, since) = (selected.folder, selected.modseq);
        let changes = match self.store.changes_since(account, since).await {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(session = %self.id, error = %err, "cannot read changes");
                return;
            }
        };
        let Some(last) = changes.last().map(|c| c.modseq) else { return };
        let mine: Vec<_> = changes.iter().filter(|c| c.folder == folder).collect();
        if mine.is_empty() {
            if let Some(s) = self.selected.as_mut() {
                s.modseq = last;
            }
            return;
        }
        if mine.iter().any(|c| c.kind == ChangeKind::FolderDeleted) {
            StatusResponse::untagged(Status::Bye, "selected mailbox was deleted").encode(out);
            self.selected = None;
            self.state = State::Authenticated;
            return;
        }
        let messages = match self.store.messages(account, folder).await {
            Ok(m) => m,
            Err(err) => {
                tracing::warn!(session = %self.id, error = %err, "cannot list messages");
                return;
            }
        };
        let present: HashSet<Uid> = messages.iter().map(|m| m.uid).collect();
        let Some(selected) = self.selected.as_ref() else { return };
        let gone: Vec<Uid> = selected.uids.iter().copied().filter(|u| !present.contains(u)).collect();
        self.report_expunged(&gone, out);
        let (rev2, recent) = (self.rev2, self.recent.clone());
        let Some(selected) = self.selected.as_mut() else { return };
        let largest = selected.uids.last().copied().unwrap_or(Uid(0));
        let before = selected.uids.len();
        let added: Vec<Uid> = messages.iter().map(|m| m.uid).filter(|u| *u > largest).collect();
        let new_uids = added.clone();
        Arc::make_mut(&mut selected.uids).extend(added.iter().copied());
        if selected.uids.len() != before {
            Data::Exists(selected.exists()).encode(out, false);
            // RFC 3501 7.3.2: new mail is recent in the read-write session
            // that sees it first.
            if !rev2 {
                if !selected.read_only {
                    let claimed = recent.claim(selected.owner, selected.folder, &messages, &added);
                    selected.recent.extend(claimed);
                    let n = u32::try_from(selected.recent.len()).unwrap_or(u32::MAX);
                    Data::Recent(n).encode(out, false);
                } else {
                    let n = recent.unclaimed(selected.owner, selected.folder, &messages);
                    Data::Recent(n).encode(out, false);
                }
            }
        }
        let flagged: HashSet<Uid> = mine
            .iter()
            .filter_map(|c| match c.kind {
                ChangeKind::Flags { uid } if !selected.own_changes.contains(&c.modseq) => Some(uid),
                _ => None,
            })
            .collect();
        selected.own_changes.retain(|m| *m > last);
        let flagged: Vec<&MessageMeta> = messages.iter().filter(|m| flagged.contains(&m.uid)).collect();
        self.announce_keywords(out, flagged.iter().flat_map(|m| &m.keywords));
        let Some(selected) = self.selected.as_mut() else { return };
        for meta in flagged {
            if let Some(seq) = selected.seq_of(meta.uid) {
                flags_response(out, seq, meta, self.qresync, self.condstore, selected.is_recent(meta.uid));
            }
        }
        selected.modseq = last;
        // RFC 5465 5.2: MessageNew (fetch-att ...) on the selected mailbox.
        if !new_uids.is_empty() && self.notify.is_some() {
            self.notify_fetch_new(&new_uids, out).await;
        }
    }

    pub(super) async fn store_flags(&mut self, tag: &Tag, cmd: &StoreCommand, out: &mut Vec<u8>) -> StatusResponse {
        let Some(selected) = self.selected.as_ref() else {
            return tagged(tag, Status::Bad, "no mailbox selected");
        };
        let account = selected.owner;
        if selected.read_only {
            return tagged(tag, Status::No, "mailbox is read-only").with_code(Code::ReadOnly);
        }
        // RFC 4314 4: s for \Seen, t for \Deleted, w for the others. Flags
        // the user may not change are left out; replacing the whole set
        // needs all three rights, as it could clear any flag.
        let flag_rights = Rights::SEEN.union(Rights::WRITE).union(Rights::DELETE_MESSAGES);
        let permitted = allowed_flags(&cmd.flags, selected.rights);
        if (cmd.action == StoreAction::Replace && !selected.rights.contains(flag_rights))
            || (permitted.is_empty() && !cmd.flags.is_empty())
        {
            let needed: Rights = cmd.flags.iter().map(flag_right).fold(Rights::NONE, Rights::union);
            return no_permission(tag, &format!("changing these flags needs the {needed} rights"));
        }
        if !selected.valid_numbers(&cmd.set, cmd.uid) {
            return tagged(tag, Status::Bad, "invalid message number");
        }
        let uids = selected.resolve(&cmd.set, cmd.uid);
        let folder = selected.folder;
        let (flags, keywords) = store_flags(&permitted);
        let op = match cmd.action {
            StoreAction::Add => FlagOp::Add,
            StoreAction::Remove => FlagOp::Remove,
            StoreAction::Replace => FlagOp::Replace,
        };
        let change = FlagChange { op, flags, keywords, unchanged_since: cmd.unchanged_since.map(ModSeq) };
        // RFC 7162 3.1: STORE (UNCHANGEDSINCE) is a CONDSTORE-enabling command.
        if cmd.unchanged_since.is_some() {
            self.enable_condstore(out).await;
        }
        if uids.is_empty() {
            return tagged(tag, Status::Ok, "STORE completed");
        }
        // RFC 3501 7.2.6: new keywords are announced before a FETCH
        // carries them.
        if cmd.action != StoreAction::Remove {
            self.announce_keywords(out, change.keywords.iter());
        }
        let result = match self.store.change_flags(account, folder, &uids, &change).await {
            Ok(changed) => {
                if let Some(selected) = self.selected.as_mut() {
                    selected.note_own(changed.changed.iter().map(|c| c.1));
                }
                changed
            }
            Err(err) => return store_error(tag, &err),
        };
        let modified: HashSet<Uid> = result.modified.iter().copied().collect();
        let updated: HashSet<Uid> = result.changed.iter().map(|c| c.0).collect();
        // RFC 7162 3.1.3: with UNCHANGEDSINCE, the messages that were updated
        // are reported with their new MODSEQ even with .SILENT.
        let report_updated = cmd.unchanged_since.is_some();
        if !cmd.silent || report_updated {
            let wanted: HashSet<Uid> = uids.iter().copied().filter(|u| !modified.contains(u)).collect();
            match self.store.messages(account, folder).await {
                Ok(messages) => {
                    // Another session may have added keywords to these
                    // messages: announced before the FETCH shows them.
                    if !cmd.silent {
                        let shown = messages.iter().filter(|m| wanted.contains(&m.uid));
                        self.announce_keywords(out, shown.flat_map(|m| &m.keywords));
                    }
                    let Some(selected) = self.selected.as_ref() else {
                        return tagged(tag, Status::Ok, "STORE completed");
                    };
                    for meta in messages.iter().filter(|m| wanted.contains(&m.uid)) {
                        let Some(seq) = selected.seq_of(meta.uid) else { continue };
                        if !cmd.silent {
                            flags_response(out, seq, meta, cmd.uid, self.condstore, selected.is_recent(meta.uid));
                        } else if updated.contains(&meta.uid) {
                            let uid = if cmd.uid { format!("UID {} ", meta.uid.0) } else { String::new() };
                            out.extend_from_slice(
                                format!("* {seq} FETCH ({uid}MODSEQ ({}))\r\n", meta.modseq.0).as_bytes(),
                            );
                        }
                    }
                }
                Err(err) => return store_error(tag, &err),
            }
        }
        // RFC 7162 3.1.3: the messages that failed the UNCHANGEDSINCE test,
        // as UIDs for UID STORE, else as message numbers.
        if !modified.is_empty() {
            let Some(selected) = self.selected.as_ref() else {
                return tagged(tag, Status::Ok, "STORE completed");
            };
            let numbers: Vec<u32> = if cmd.uid {
                result.modified.iter().map(|u| u.0).collect()
            } else {
                result.modified.iter().filter_map(|u| selected.seq_of(*u)).collect()
            };
            if let Some(set) = SequenceSet::from_numbers(numbers) {
                return tagged(tag, Status::Ok, "conditional STORE failed for some messages")
                    .with_code(Code::Modified(set));
            }
        }
        tagged(tag, Status::Ok, "STORE completed")
    }

    /// COPY, or MOVE with `is_move` (RFC 6851 3.3: COPYUID in an untagged
    /// OK, then the EXPUNGEs, then the tagged OK). Between folders of two
    /// accounts (a shared folder on either side), the messages are appended
    /// to the destination, measured against its owner's quota, and for MOVE
    /// then expunged here; the content is stored once either way.
    pub(super) async fn copy(
        &mut self,
        tag: &Tag,
        uid: bool,
        set: &SequenceSet,
        mailbox: &MailboxName,
        is_move: bool,
        out: &mut Vec<u8>,
    ) -> StatusResponse {
        let Some(selected) = self.selected.as_ref() else {
            return tagged(tag, Status::Bad, "no mailbox selected");
        };
        let (account, from, source_rights) = (selected.owner, selected.folder, selected.rights);
        if is_move && selected.read_only {
            return tagged(tag, Status::No, "mailbox is read-only").with_code(Code::ReadOnly);
        }
        if is_move && !source_rights.contains(Rights::DELETE_MESSAGES.union(Rights::EXPUNGE)) {
            return no_permission(tag, "moving out needs the t and e rights");
        }
        if !selected.valid_numbers(set, uid) {
            return tagged(tag, Status::Bad, "invalid message number");
        }
        let uids = selected.resolve(set, uid);
        let target = match self.target_with(tag, mailbox, Rights::INSERT, Some(Code::TryCreate)).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        if uids.is_empty() {
            return tagged(tag, Status::Ok, "nothing to do");
        }
        // Messages added by a session are recent whatever their INTERNALDATE.
        self.recent.touch(target.owner, target.folder.id, target.folder.uid_next);
        let result = if target.owner != account || target.rights != Rights::ALL {
            self.copy_across(account, from, &uids, &target, is_move).await
        } else if is_move {
            self.store.move_messages(account, from, &uids, target.folder.id).await
        } else {
            match self.quota_of(account).await {
                Ok(quota) => self.store.copy(account, from, &uids, target.folder.id, quota).await,
                Err(err) => Err(err),
            }
        };
        let copied = match result {
            Ok(c) => c,
            Err(err) => return store_error(tag, &err),
        };
        let code = match (
            NonZeroU32::new(copied.uid_validity),
            SequenceSet::from_numbers_in_order(copied.uids.iter().map(|(s, _)| s.0)),
            SequenceSet::from_numbers_in_order(copied.uids.iter().map(|(_, d)| d.0)),
        ) {
            (Some(uid_validity), Some(source), Some(destination)) => {
                Some(Code::CopyUid { uid_validity, source, destination })
            }
            _ => None,
        };
        if is_move {
            if let Some(code) = code {
                StatusResponse::untagged(Status::Ok, "moved").with_code(code).encode(out);
            }
            let moved: Vec<Uid> = copied.uids.iter().map(|(s, _)| *s).collect();
            self.report_expunged(&moved, out);
            tagged(tag, Status::Ok, "MOVE completed")
        } else {
            let response = tagged(tag, Status::Ok, "COPY completed");
            match code {
                Some(code) => response.with_code(code),
                None => response,
            }
        }
    }

    /// COPY or MOVE into a folder of another account, or one where the user
    /// may not keep every flag: each message is appended with the flags the
    /// destination rights allow (RFC 4314 4), then, for MOVE, the copied
    /// ones are expunged from the source. A failure part-way leaves the
    /// copies made so far, as COPY may (RFC 9051 6.4.7 asks for all or
    /// nothing only of a single store operation, which this is not).
    async fn copy_across(
        &self,
        account: AccountId,
        from: FolderId,
        uids: &[Uid],
        target: &Target,
        is_move: bool,
    ) -> axigen_core::Result<Copied> {
        let quota: QuotaLimit = self.quota_of(target.owner).await?;
        let wanted: HashSet<Uid> = uids.iter().copied().collect();
        let messages = self.store.messages(account, from).await?;
        let mut copied = Copied { uid_validity: target.folder.uid_validity, uids: Vec::new() };
        for meta in messages.into_iter().filter(|m| wanted.contains(&m.uid)) {
            let content = self.store.content(meta.blob).await?;
            let flags = allowed_flags(&imap_flags(meta.flags, &meta.keywords), target.rights);
            let (flags, keywords) = store_flags(&flags);
            let new = NewMessage { flags, keywords, internal_date: meta.internal_date, content };
            let appended = self.store.append(target.owner, target.folder.id, new, quota).await?;
            copied.uid_validity = appended.uid_validity;
            copied.uids.push((meta.uid, appended.uid));
        }
        if is_move && !copied.uids.is_empty() {
            let moved: Vec<Uid> = copied.uids.iter().map(|(s, _)| *s).collect();
            self.store.expunge(account, from, &moved).await?;
        }
        Ok(copied)
    }
}
