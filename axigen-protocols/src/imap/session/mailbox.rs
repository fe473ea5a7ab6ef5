//! Mailbox commands (RFC 9051 6.3): LIST, LSUB, STATUS, CREATE, DELETE,
//! RENAME, SUBSCRIBE, UNSUBSCRIBE and APPEND. Only folders of kind Mail
//! are visible to IMAP; the hierarchy delimiter is `/`.

use std::num::NonZeroU32;

use axigen_core::acl::Rights;
use axigen_core::mailstore::{FolderInfo, FolderKind, NewMessage, QuotaLimit, SpecialUse};
use axigen_core::model::AccountId;
use bytes::Bytes;
use tracing::info;

use super::acl::{OTHER_USERS, Target, allowed_flags, no_permission, nonexistent, split_shared};
use super::{Session, store_error, store_flags, tagged};
use crate::imap::append::AppendMessage;
use crate::imap::data::{Data, ListEntry};
use crate::imap::list::{ListCommand, ListReturn, ListSelect};
use crate::imap::response::{Code, Status, StatusResponse};
use crate::imap::sequence::SequenceSet;
use crate::imap::status::StatusItem;
use crate::imap::types::{Atom, MailboxName, Tag};

/// The hierarchy delimiter.
pub const DELIMITER: char = '/';

/// The store's name for a mailbox.
pub(super) fn folder_name(name: &MailboxName) -> &str {
    if name.is_inbox() { "INBOX" } else { name.as_str().trim_end_matches(DELIMITER) }
}

/// Whether `name` matches a LIST pattern: `*` matches anything, `%`
/// anything but the delimiter (RFC 9051 6.3.9). INBOX is case-insensitive.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('%') => (0..=n.len()).take_while(|&i| i == 0 || n[i - 1] != DELIMITER).any(|i| go(&p[1..], &n[i..])),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let normalise = |s: &str| -> Vec<char> {
        match (s.get(..5), s.get(5..)) {
            (Some(head), Some(rest))
                if head.eq_ignore_ascii_case("INBOX") && (rest.is_empty() || rest.starts_with(DELIMITER)) =>
            {
                format!("INBOX{rest}").chars().collect()
            }
            _ => s.chars().collect(),
        }
    };
    go(&normalise(pattern), &normalise(name))
}

fn special_use_from(atom: &Atom) -> Option<SpecialUse> {
    let name = atom.as_str().trim_start_matches('\\');
    [
        SpecialUse::All,
        SpecialUse::Archive,
        SpecialUse::Drafts,
        SpecialUse::Flagged,
        SpecialUse::Junk,
        SpecialUse::Sent,
        SpecialUse::Trash,
    ]
    .into_iter()
    .find(|u| u.imap_attribute()[1..].eq_ignore_ascii_case(name))
}

impl Session {
    pub(super) fn account(&self) -> AccountId {
        self.principal.as_ref().map_or(AccountId(0), |p| p.account)
    }

    /// The folders IMAP sees.
    async fn mail_folders(&self) -> axigen_core::Result<Vec<FolderInfo>> {
        let mut folders = self.store.folders(self.account()).await?;
        folders.retain(|f| f.kind == FolderKind::Mail);
        Ok(folders)
    }

    /// Everything LIST may show: the user's folders, the shared folders it
    /// may list, and `\Noselect` names above them, by name.
    async fn listing(&self) -> axigen_core::Result<Vec<Listed>> {
        let mut out: Vec<Listed> = self
            .mail_folders()
            .await?
            .into_iter()
            .map(|f| Listed {
                name: f.name.clone(),
                special_use: f.special_use,
                subscribed: f.subscribed,
                target: Some(Target { owner: self.account(), folder: f, rights: Rights::ALL }),
                exists: true,
            })
            .collect();
        let shared = self.shared_folders().await?;
        let mut names: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for (name, target, subscribed) in shared {
            names.insert(name.clone());
            out.push(Listed { name, special_use: None, subscribed, target: Some(target), exists: true });
        }
        // The names above shared folders that are not themselves listable.
        let mut parents = std::collections::BTreeSet::new();
        for name in &names {
            let mut at = 0;
            while let Some(i) = name[at..].find(DELIMITER) {
                let parent = &name[..at + i];
                if !names.contains(parent) {
                    parents.insert(parent.to_owned());
                }
                at += i + 1;
            }
        }
        for name in parents {
            out.push(Listed { name, special_use: None, subscribed: false, target: None, exists: true });
        }
        // Subscriptions to names no folder has (RFC 3501 6.3.6).
        let listed: std::collections::HashSet<String> = out.iter().map(|l| l.name.clone()).collect();
        for name in self.store.subscribed_names(self.account()).await? {
            if !listed.contains(&name) {
                out.push(Listed { name, special_use: None, subscribed: true, target: None, exists: false });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The LIST answers for the patterns, each name once, in the folders'
    /// order.
    ///
    /// - Without the SUBSCRIBED selection, names without a folder are not
    ///   listed; with it, they are, as `\NonExistent` (RFC 5258 3.4).
    /// - RECURSIVEMATCH (RFC 5258 3.5): a name the pattern matches that is
    ///   not subscribed itself, but has a subscribed descendant the
    ///   patterns do not match, is listed with `CHILDINFO ("SUBSCRIBED")`.
    fn list_entries(&self, folders: &[Listed], patterns: &[String], options: &ListOptions) -> Vec<ListEntry> {
        let matched = |name: &str| patterns.iter().any(|p| matches(p, name));
        // A subscribed descendant the patterns leave out, for RECURSIVEMATCH.
        let hidden_subscribed_child = |name: &str| {
            let prefix = format!("{name}{DELIMITER}");
            folders.iter().any(|c| c.subscribed && c.name.starts_with(&prefix) && !matched(&c.name))
        };
        // RECURSIVEMATCH also reaches names above subscriptions that no
        // folder has.
        let mut names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
        if options.recursive {
            for f in folders.iter().filter(|f| f.subscribed) {
                let mut at = 0;
                while let Some(i) = f.name[at..].find(DELIMITER).map(|i| at + i) {
                    names.push(&f.name[..i]);
                    at = i + DELIMITER.len_utf8();
                }
            }
            names.sort_unstable();
            names.dedup();
        }
        let by_name: std::collections::HashMap<&str, &Listed> = folders.iter().map(|f| (f.name.as_str(), f)).collect();
        let mut entries = Vec::new();
        for name in names {
            if !matched(name) {
                continue;
            }
            let listed = by_name.get(name).copied();
            let subscribed = listed.is_some_and(|f| f.subscribed);
            let child_subscribed = options.recursive && hidden_subscribed_child(name);
            if options.subscribed_only && !subscribed && !child_subscribed {
                continue;
            }
            if listed.is_some_and(|f| !f.exists) && !options.subscribed_only {
                continue;
            }
            if options.special_only && listed.and_then(|f| f.special_use).is_none() {
                continue;
            }
            let mut attributes = Vec::new();
            match listed {
                Some(f) if f.exists => {
                    let prefix = format!("{name}{DELIMITER}");
                    let children = folders.iter().any(|c| c.exists && c.name.starts_with(&prefix));
                    attributes.push(if children { "\\HasChildren" } else { "\\HasNoChildren" }.to_owned());
                    if f.target.is_none() {
                        attributes.insert(0, "\\Noselect".to_owned());
                    }
                    if let Some(role) = f.special_use {
                        attributes.push(role.imap_attribute().to_owned());
                    }
                }
                // RFC 5258 3.4: \NonExistent implies \Noselect, which is
                // then not sent.
                _ => attributes.push("\\NonExistent".to_owned()),
            }
            if (options.subscribed_only || options.returns_subscribed) && subscribed {
                attributes.push("\\Subscribed".to_owned());
            }
            entries.push(ListEntry {
                attributes,
                delimiter: Some(DELIMITER),
                mailbox: name.to_owned(),
                child_subscribed,
            });
        }
        entries
    }

    pub(super) async fn list(&mut self, tag: &Tag, list: &ListCommand, out: &mut Vec<u8>) -> StatusResponse {
        // RFC 9051 6.3.9: an empty pattern asks for the delimiter.
        if list.patterns.len() == 1 && list.patterns[0].is_empty() {
            let entry = ListEntry {
                attributes: vec!["\\Noselect".into()],
                delimiter: Some(DELIMITER),
                mailbox: String::new(),
                child_subscribed: false,
            };
            self.data(out, &Data::List(entry));
            return tagged(tag, Status::Ok, "LIST completed");
        }
        let folders = match self.listing().await {
            Ok(f) => f,
            Err(err) => return store_error(tag, &err),
        };
        let options = ListOptions {
            subscribed_only: list.selection.contains(&ListSelect::Subscribed),
            special_only: list.selection.contains(&ListSelect::SpecialUse),
            recursive: list.selection.contains(&ListSelect::RecursiveMatch),
            returns_subscribed: list.returns.contains(&ListReturn::Subscribed),
        };
        let status_items = list.returns.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items.clone()),
            _ => None,
        });
        let patterns: Vec<String> = list.patterns.iter().map(|p| format!("{}{p}", list.reference)).collect();
        {
            for entry in self.list_entries(&folders, &patterns, &options) {
                let name = entry.mailbox.clone();
                self.data(out, &Data::List(entry));
                // RFC 5819 2: the STATUS of each selectable mailbox follows
                // its LIST response (of a shared one, with the r right).
                let Some(items) = &status_items else { continue };
                let Some(target) = folders.iter().find(|f| f.name == name).and_then(|f| f.target.as_ref()) else {
                    continue;
                };
                let Ok(mailbox) = MailboxName::new(&name) else { continue };
                if !target.rights.contains(Rights::READ) {
                    continue;
                }
                match self.status_values(target, items).await {
                    Ok(values) => self.data(out, &Data::Status { mailbox, items: values }),
                    Err(err) => return store_error(tag, &err),
                }
            }
        }
        tagged(tag, Status::Ok, "LIST completed")
    }

    pub(super) async fn lsub(
        &mut self,
        tag: &Tag,
        reference: &str,
        pattern: &str,
        out: &mut Vec<u8>,
    ) -> StatusResponse {
        let folders = match self.listing().await {
            Ok(f) => f,
            Err(err) => return store_error(tag, &err),
        };
        let pattern = format!("{reference}{pattern}");
        for entry in lsub_entries(&folders, &pattern) {
            self.data(out, &Data::Lsub(entry));
        }
        tagged(tag, Status::Ok, "LSUB completed")
    }

    /// The mailbox of a command that needs `right` on it: NONEXISTENT when
    /// the user may not know it (with `missing` as the code instead when
    /// given), NOPERM without the right.
    pub(super) async fn target_with(
        &self,
        tag: &Tag,
        mailbox: &MailboxName,
        right: Rights,
        missing: Option<Code>,
    ) -> Result<Target, StatusResponse> {
        match self.target(mailbox).await {
            Ok(Some(t)) if t.rights.contains(right) => Ok(t),
            Ok(Some(_)) => Err(no_permission(tag, &format!("the {right} right is needed"))),
            Ok(None) => Err(match missing {
                Some(code) if split_shared(mailbox.as_str()).is_none() => {
                    tagged(tag, Status::No, "no such mailbox").with_code(code)
                }
                _ => nonexistent(tag),
            }),
            Err(err) => Err(store_error(tag, &err)),
        }
    }

    pub(super) async fn status(
        &mut self,
        tag: &Tag,
        mailbox: &MailboxName,
        items: &[StatusItem],
        out: &mut Vec<u8>,
    ) -> StatusResponse {
        let target = match self.target_with(tag, mailbox, Rights::READ, None).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        let values = match self.status_values(&target, items).await {
            Ok(v) => v,
            Err(err) => return store_error(tag, &err),
        };
        self.data(out, &Data::Status { mailbox: mailbox.clone(), items: values });
        tagged(tag, Status::Ok, "STATUS completed")
    }

    /// The values of STATUS items for a folder (RFC 9051 6.3.11), shared
    /// by STATUS and LIST-STATUS (RFC 5819).
    pub(super) async fn status_values(
        &self,
        target: &Target,
        items: &[StatusItem],
    ) -> axigen_core::Result<Vec<(StatusItem, u64)>> {
        let folder = &target.folder;
        let mut recent = 0;
        if items.contains(&StatusItem::Recent)
            && !self.rev2
            && let Some(listing) = self.store.listing(target.owner, folder.id).await?
        {
            recent = self.recent.unclaimed(target.owner, folder.id, &listing.messages);
        }
        let mut deleted = None;
        if items.contains(&StatusItem::Deleted) {
            let msgs = self.store.messages(target.owner, folder.id).await?;
            deleted =
                Some(msgs.iter().filter(|m| m.flags.contains(axigen_core::mailstore::Flags::DELETED)).count() as u64);
        }
        Ok(items
            .iter()
            .map(|&item| {
                let value = match item {
                    StatusItem::Messages => u64::from(folder.messages),
                    StatusItem::Recent => u64::from(recent),
                    StatusItem::UidNext => u64::from(folder.uid_next.0),
                    StatusItem::UidValidity => u64::from(folder.uid_validity),
                    StatusItem::Unseen => u64::from(folder.unseen),
                    StatusItem::Deleted => deleted.unwrap_or(0),
                    StatusItem::Size => folder.size,
                    StatusItem::HighestModSeq => folder.highest_modseq.0,
                    StatusItem::AppendLimit => self.config.max_append,
                };
                (item, value)
            })
            .collect())
    }

    /// Where a new mailbox goes: its owner and its name there. For a shared
    /// name, the parent must be a shared folder with the `k` right.
    async fn creation_place(&self, tag: &Tag, mailbox: &MailboxName) -> Result<(AccountId, String), StatusResponse> {
        let Some((user, folder)) = split_shared(mailbox.as_str()) else {
            return Ok((self.account(), folder_name(mailbox).to_owned()));
        };
        let Some(folder) = folder.map(|f| f.trim_end_matches(DELIMITER)) else {
            return Err(no_permission(tag, "mailboxes are created inside a shared folder"));
        };
        let Some((parent, _)) = folder.rsplit_once(DELIMITER) else {
            return Err(no_permission(tag, "only the owner creates top-level mailboxes"));
        };
        let parent = MailboxName::new(format!("{OTHER_USERS}{DELIMITER}{user}{DELIMITER}{parent}"))
            .map_err(|_| tagged(tag, Status::No, "invalid mailbox name").with_code(Code::Cannot))?;
        let target = self.target_with(tag, &parent, Rights::CREATE, None).await?;
        Ok((target.owner, folder.to_owned()))
    }

    pub(super) async fn create(&mut self, tag: &Tag, mailbox: &MailboxName, special_use: &[Atom]) -> StatusResponse {
        if mailbox.as_str() == OTHER_USERS
            || mailbox.as_str().starts_with(&format!("{OTHER_USERS}{DELIMITER}"))
                && split_shared(mailbox.as_str()).is_none_or(|(_, f)| f.is_none())
        {
            return tagged(tag, Status::No, "reserved for other users' folders").with_code(Code::Cannot);
        }
        let (owner, name) = match self.creation_place(tag, mailbox).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        if name.is_empty() || name.split(DELIMITER).any(str::is_empty) {
            return tagged(tag, Status::No, "invalid mailbox name").with_code(Code::Cannot);
        }
        if name.eq_ignore_ascii_case("INBOX") {
            return tagged(tag, Status::No, "INBOX exists").with_code(Code::AlreadyExists);
        }
        let mut role = None;
        for atom in special_use {
            match special_use_from(atom) {
                Some(r) if role.is_none() && owner == self.account() => role = Some(r),
                _ => return tagged(tag, Status::No, "unsupported special use").with_code(Code::Cannot),
            }
        }
        match self.store.folder_by_name(owner, &name).await {
            Ok(Some(_)) => return tagged(tag, Status::No, "mailbox already exists").with_code(Code::AlreadyExists),
            Ok(None) => {}
            Err(err) => return store_error(tag, &err),
        }
        if let Err(err) = self.create_parents(owner, &name).await {
            return store_error(tag, &err);
        }
        // RFC 9051 6.3.4: CREATE does not subscribe (the store subscribes
        // the folders other protocols make), unless the name was subscribed
        // already (RFC 3501 6.3.6: a subscription outlives its mailbox).
        match self.store.create_unsubscribed_folder(owner, &name, FolderKind::Mail, role).await {
            Ok(_) => tagged(tag, Status::Ok, "CREATE completed"),
            Err(err) => store_error(tag, &err),
        }
    }

    /// Creates the missing superior hierarchical names of `name` (RFC 9051
    /// 6.3.4, 6.3.6).
    async fn create_parents(&self, account: AccountId, name: &str) -> axigen_core::Result<()> {
        let parts: Vec<&str> = name.split(DELIMITER).collect();
        for depth in 1..parts.len() {
            let parent = parts[..depth].join("/");
            if self.store.folder_by_name(account, &parent).await?.is_none() {
                self.store.create_unsubscribed_folder(account, &parent, FolderKind::Mail, None).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn delete(&mut self, tag: &Tag, mailbox: &MailboxName) -> StatusResponse {
        if mailbox.is_inbox() {
            return tagged(tag, Status::No, "cannot delete INBOX").with_code(Code::Cannot);
        }
        let target = match self.target_with(tag, mailbox, Rights::DELETE_FOLDER, None).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        let folder = &target.folder;
        if folder.name == "INBOX" {
            return tagged(tag, Status::No, "cannot delete INBOX").with_code(Code::Cannot);
        }
        // The store cannot keep a \Noselect name for the children, so a
        // mailbox with inferiors stays (RFC 9051 6.3.5, 7.1: HASCHILDREN).
        match self.store.folders(target.owner).await {
            Ok(all) if all.iter().any(|f| f.name.starts_with(&format!("{}{DELIMITER}", folder.name))) => {
                return tagged(tag, Status::No, "mailbox has children").with_code(Code::HasChildren);
            }
            Ok(_) => {}
            Err(err) => return store_error(tag, &err),
        }
        if self.selected.as_ref().is_some_and(|s| s.owner == target.owner && s.folder == folder.id) {
            self.selected = None;
            self.state = super::State::Authenticated;
        }
        match self.store.delete_folder(target.owner, folder.id).await {
            Ok(()) => tagged(tag, Status::Ok, "DELETE completed"),
            Err(err) => store_error(tag, &err),
        }
    }

    pub(super) async fn rename(&mut self, tag: &Tag, from: &MailboxName, to: &MailboxName) -> StatusResponse {
        // Shared folders are renamed by their owner; a user's folder cannot
        // move into another user's hierarchy.
        if split_shared(from.as_str()).is_some() || to.as_str() == OTHER_USERS || split_shared(to.as_str()).is_some() {
            return tagged(tag, Status::No, "shared folders are renamed by their owner").with_code(Code::Cannot);
        }
        if from.is_inbox() {
            return self.rename_inbox(tag, to).await;
        }
        let account = self.account();
        let folder = match self.target(from).await {
            Ok(Some(t)) => t.folder,
            Ok(None) => return nonexistent(tag),
            Err(err) => return store_error(tag, &err),
        };
        match self.store.folder_by_name(account, folder_name(to)).await {
            Ok(Some(_)) => return tagged(tag, Status::No, "mailbox already exists").with_code(Code::AlreadyExists),
            Ok(None) => {}
            Err(err) => return store_error(tag, &err),
        }
        let target = folder_name(to);
        if target.is_empty() || target.split(DELIMITER).any(str::is_empty) {
            return tagged(tag, Status::No, "invalid mailbox name").with_code(Code::Cannot);
        }
        if !target.starts_with(&format!("{}{DELIMITER}", folder.name))
            && let Err(err) = self.create_parents(account, target).await
        {
            return store_error(tag, &err);
        }
        match self.store.rename_folder(account, folder.id, target).await {
            Ok(()) => tagged(tag, Status::Ok, "RENAME completed"),
            Err(err) => store_error(tag, &err),
        }
    }

    /// RENAME INBOX (RFC 9051 6.3.6): its messages move to a new mailbox of
    /// the new name; INBOX stays, empty.
    async fn rename_inbox(&mut self, tag: &Tag, to: &MailboxName) -> StatusResponse {
        let account = self.account();
        let target = folder_name(to);
        if to.is_inbox() || target.is_empty() || target.split(DELIMITER).any(str::is_empty) {
            return tagged(tag, Status::No, "invalid mailbox name").with_code(Code::Cannot);
        }
        let inbox = match self.store.folder_by_name(account, "INBOX").await {
            Ok(Some(f)) => f,
            Ok(None) => return tagged(tag, Status::No, "no INBOX").with_code(Code::NonExistent),
            Err(err) => return store_error(tag, &err),
        };
        match self.store.folder_by_name(account, target).await {
            Ok(Some(_)) => return tagged(tag, Status::No, "mailbox already exists").with_code(Code::AlreadyExists),
            Ok(None) => {}
            Err(err) => return store_error(tag, &err),
        }
        if let Err(err) = self.create_parents(account, target).await {
            return store_error(tag, &err);
        }
        let created = match self.store.create_folder(account, target, FolderKind::Mail, None).await {
            Ok(f) => f,
            Err(err) => return store_error(tag, &err),
        };
        let uids: Vec<_> = match self.store.messages(account, inbox.id).await {
            Ok(m) => m.into_iter().map(|m| m.uid).collect(),
            Err(err) => return store_error(tag, &err),
        };
        if !uids.is_empty()
            && let Err(err) = self.store.move_messages(account, inbox.id, &uids, created.id).await
        {
            return store_error(tag, &err);
        }
        tagged(tag, Status::Ok, "RENAME completed")
    }

    /// SUBSCRIBE and UNSUBSCRIBE; a subscription to a shared folder is the
    /// user's own, kept beside the folder's access list.
    pub(super) async fn subscribe(&mut self, tag: &Tag, mailbox: &MailboxName, on: bool) -> StatusResponse {
        let me = self.account();
        let target = match self.target(mailbox).await {
            Ok(Some(t)) => t,
            // RFC 3501 6.3.6: a name without a mailbox may be subscribed
            // (and stays subscribed after its mailbox is deleted); not in
            // the other users' namespace, whose names are not the user's.
            Ok(None) if split_shared(mailbox.as_str()).is_none() && !mailbox.as_str().starts_with(OTHER_USERS) => {
                return match self.store.set_name_subscribed(me, mailbox.as_str(), on).await {
                    Ok(()) => tagged(tag, Status::Ok, if on { "SUBSCRIBE completed" } else { "UNSUBSCRIBE completed" }),
                    Err(axigen_core::Error::NotFound(_)) => nonexistent(tag),
                    Err(axigen_core::Error::Invalid(_)) => {
                        tagged(tag, Status::No, "invalid mailbox name").with_code(Code::Cannot)
                    }
                    Err(axigen_core::Error::Conflict(_)) => {
                        tagged(tag, Status::No, "too many subscriptions to names without a mailbox")
                            .with_code(Code::Limit)
                    }
                    Err(err) => store_error(tag, &err),
                };
            }
            Ok(None) => return nonexistent(tag),
            Err(err) => return store_error(tag, &err),
        };
        let result = if target.is_shared(me) {
            self.store.set_shared_subscription(me, target.owner, target.folder.id, on).await
        } else {
            self.store.set_subscribed(me, target.folder.id, on).await
        };
        match result {
            Ok(()) => tagged(tag, Status::Ok, if on { "SUBSCRIBE completed" } else { "UNSUBSCRIBE completed" }),
            Err(err) => store_error(tag, &err),
        }
    }

    /// The user's own quota from its effective settings.
    pub(super) async fn quota(&self) -> axigen_core::Result<QuotaLimit> {
        self.quota_of(self.account()).await
    }

    /// An account's quota from its effective settings: what a write into
    /// that account's folders is measured against.
    pub(super) async fn quota_of(&self, account: AccountId) -> axigen_core::Result<QuotaLimit> {
        let settings = self.directory.effective_settings(account).await?;
        Ok(QuotaLimit { max_bytes: settings.quota_storage_bytes.value, max_messages: settings.quota_messages.value })
    }

    pub(super) async fn append(
        &mut self,
        tag: &Tag,
        mailbox: &MailboxName,
        messages: Vec<AppendMessage>,
    ) -> StatusResponse {
        // RFC 9051 6.3.12: TRYCREATE when the mailbox does not exist.
        let target = match self.target_with(tag, mailbox, Rights::INSERT, Some(Code::TryCreate)).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        let folder = &target.folder;
        let quota = match self.quota_of(target.owner).await {
            Ok(q) => q,
            Err(err) => return store_error(tag, &err),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        self.recent.touch(target.owner, folder.id, folder.uid_next);
        let mut uids = Vec::new();
        let mut uid_validity = folder.uid_validity;
        // RFC 4469: each message is built from its parts first; a URL that
        // cannot be read fails the APPEND before anything is stored.
        // What URLs add is built in memory before anything is stored: at
        // most APPENDLIMIT octets for the whole command.
        let mut messages = messages;
        let mut built = 0u64;
        for message in &mut messages {
            if let Some(parts) = message.catenate.take() {
                match self.catenate(tag, &parts, self.config.max_append.saturating_sub(built)).await {
                    Ok(data) => {
                        built += data.len() as u64;
                        message.data = data;
                    }
                    Err(response) => return response,
                }
            }
        }
        for message in messages {
            if message.data.is_empty() {
                return tagged(tag, Status::No, "empty message").with_code(Code::Cannot);
            }
            // RFC 4314 4: flags the user may not set are left out.
            let (flags, keywords) = store_flags(&allowed_flags(&message.flags, target.rights));
            let new = NewMessage {
                flags,
                keywords,
                internal_date: message.date.map_or(now, |d| d.unix_timestamp()),
                // RFC 3516 4.4: binary content is kept, re-encoded so that
                // BODY[] can carry it too.
                content: Bytes::from(super::binary::seven_bit(&message.data).unwrap_or(message.data)),
            };
            match self.store.append(target.owner, folder.id, new, quota).await {
                Ok(appended) => {
                    uid_validity = appended.uid_validity;
                    uids.push(appended.uid.0);
                }
                Err(err) => {
                    info!(session = %self.id, account = %self.account(), error = %err, "APPEND refused");
                    return store_error(tag, &err);
                }
            }
        }
        let response = tagged(tag, Status::Ok, "APPEND completed");
        match (NonZeroU32::new(uid_validity), SequenceSet::from_numbers_in_order(uids)) {
            (Some(uid_validity), Some(uids)) => response.with_code(Code::AppendUid { uid_validity, uids }),
            _ => response,
        }
    }
}

/// LSUB (RFC 3501 6.3.9): the subscribed names the pattern matches, with
/// no child attributes (those are LIST's); and, when the pattern ends in
/// `%`, a parent that is not subscribed itself but has a subscribed
/// descendant is shown with `\Noselect` where the `%` stops at it.
fn lsub_entries(folders: &[Listed], pattern: &str) -> Vec<ListEntry> {
    let mut entries: Vec<ListEntry> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let entry = |name: &str, noselect: bool| ListEntry {
        attributes: if noselect { vec!["\\Noselect".to_owned()] } else { Vec::new() },
        delimiter: Some(DELIMITER),
        mailbox: name.to_owned(),
        child_subscribed: false,
    };
    let subscribed: std::collections::HashSet<&str> =
        folders.iter().filter(|f| f.subscribed).map(|f| f.name.as_str()).collect();
    for f in folders.iter().filter(|f| f.subscribed) {
        if matches(pattern, &f.name) {
            if names.insert(f.name.clone()) {
                entries.push(entry(&f.name, f.target.is_none()));
            }
            continue;
        }
        if !pattern.ends_with('%') {
            continue;
        }
        // The ancestors of a subscribed name, nearest last.
        let mut at = 0;
        while let Some(i) = f.name[at..].find(DELIMITER).map(|i| at + i) {
            let parent = &f.name[..i];
            at = i + DELIMITER.len_utf8();
            if !subscribed.contains(parent) && matches(pattern, parent) && names.insert(parent.to_owned()) {
                entries.push(entry(parent, true));
            }
        }
    }
    entries
}

/// A name LIST may show.
pub(super) struct Listed {
    /// The name as the user sees it.
    name: String,
    special_use: Option<SpecialUse>,
    subscribed: bool,
    /// The folder; `None` for a `\Noselect` name above shared folders, or
    /// a subscribed name without a folder.
    target: Option<Target>,
    /// False for a subscription to a name no folder has.
    exists: bool,
}

/// What a LIST selects and returns (RFC 5258 3).
struct ListOptions {
    subscribed_only: bool,
    special_only: bool,
    recursive: bool,
    returns_subscribed: bool,
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn list_patterns() {
        assert!(matches("*", "INBOX"));
        assert!(matches("*", "a/b/c"));
        assert!(matches("%", "Sent"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(!matches("a/%", "a/b/c"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("Inbox/%", "INBOX/x"));
        assert!(!matches("S%", "Drafts"));
        assert!(matches("Entw*", "Entwürfe"));
        assert!(!matches("Inbox", "Entwü"));
    }
}
