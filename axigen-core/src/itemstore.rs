//! Groupware item storage: the events, tasks, notes and contacts of
//! calendar, task, notes and contacts folders, beside the mail of the same
//! account, in the same change log.
//!
//! Implementation contract (on top of the [`MailStore`](crate::mailstore::MailStore) one):
//!
//! - An item lives in one folder under a resource name (the last segment of
//!   its CalDAV/CardDAV URL) and a UID within the folder, taken from the
//!   folder's UIDNEXT as a message's is. A name is unique in its folder, and
//!   so is the iCalendar/vCard UID of the object (CalDAV `no-uid-conflict`).
//! - The content is kept byte for byte as a blob (stored once, counted
//!   like a message's) with the [`ItemIndex`] computed from it; the index is
//!   what time-range queries read.
//! - Every write takes a MODSEQ from the account's counter and appends to
//!   the account's change log: [`ChangeKind::Added`](crate::mailstore::ChangeKind::Added)
//!   for a new item, [`ChangeKind::Updated`](crate::mailstore::ChangeKind::Updated)
//!   for new content under the same name,
//!   [`ChangeKind::Expunged`](crate::mailstore::ChangeKind::Expunged) for a removal. The name of a removed item is
//!   kept (a tombstone) so that [`ItemStore::item_changes`] can report it.
//! - Items count in the account's quota usage (bytes and objects) and in
//!   their folder's message count and size.
//! - Each write is atomic and durable when its future resolves, and its
//!   conditions (`If-Match`, `If-None-Match`, UID uniqueness, quota) are
//!   checked in the same atomic step.

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;
use crate::groupware::{ItemError, ItemIndex, ItemKind, index_calendar, index_card};
use crate::mailstore::{BlobId, FolderId, FolderKind, ModSeq, QuotaLimit, Uid};
use crate::model::AccountId;

/// Whether a folder of `folder` kind holds items of `item` kind. Calendar
/// folders hold events and tasks (CalDAV clients keep tasks in calendars
/// that allow both); task folders tasks, notes folders journal entries,
/// contacts folders cards; mail folders none.
pub fn folder_accepts(folder: FolderKind, item: ItemKind) -> bool {
    matches!(
        (folder, item),
        (FolderKind::Calendar, ItemKind::Event | ItemKind::Todo)
            | (FolderKind::Tasks, ItemKind::Todo)
            | (FolderKind::Notes, ItemKind::Journal)
            | (FolderKind::Contacts, ItemKind::Card)
    )
}

/// Content checked and indexed for a folder: only [`NewItem::parse`] makes
/// one, so the index always belongs to the bytes.
#[derive(Debug, Clone)]
pub struct NewItem {
    content: Bytes,
    index: ItemIndex,
}

impl NewItem {
    /// Parses and indexes `content` for a folder of `folder` kind:
    /// iCalendar for calendar, task and notes folders, vCard for contacts.
    /// An object of a kind the folder does not hold is
    /// [`ItemError::WrongKind`].
    pub fn parse(content: Bytes, folder: FolderKind) -> Result<NewItem, ItemError> {
        let index = match folder {
            FolderKind::Contacts => index_card(&content)?,
            FolderKind::Calendar | FolderKind::Tasks | FolderKind::Notes => index_calendar(&content)?,
            FolderKind::Mail => return Err(ItemError::WrongKind),
        };
        if !folder_accepts(folder, index.kind) {
            return Err(ItemError::WrongKind);
        }
        Ok(NewItem { content, index })
    }

    /// The bytes, as the client sent them.
    pub fn content(&self) -> &Bytes {
        &self.content
    }

    /// The index worked out from them.
    pub fn index(&self) -> &ItemIndex {
        &self.index
    }
}

/// A stored item's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemMeta {
    /// UID within the folder.
    pub uid: Uid,
    /// Resource name within the folder (`<something>.ics` or `.vcf` as the
    /// client chose it).
    pub name: String,
    /// MODSEQ of its last change.
    pub modseq: ModSeq,
    /// Where the content is.
    pub blob: BlobId,
    /// Content length in bytes.
    pub size: u64,
    /// When it was last written, unix seconds.
    pub modified: i64,
    /// What the content says.
    pub index: ItemIndex,
}

impl ItemMeta {
    /// The entity tag (RFC 9110 8.8.3), quoted: derived from the content,
    /// so equal bytes have equal tags and any other change changes it.
    pub fn etag(&self) -> String {
        format!("\"{}\"", &self.blob.to_hex()[..32])
    }
}

/// Conditions on a write, checked atomically with it (RFC 9110 13.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Precondition {
    /// `If-Match`: the item must exist with one of these entity tags
    /// (`*` matches any existing item).
    pub if_match: Option<Vec<String>>,
    /// `If-None-Match: *`: the item must not exist.
    pub if_none_match: bool,
}

impl Precondition {
    /// Whether a write may go ahead over `current` (the item now stored
    /// under the name, if any).
    pub fn holds(&self, current: Option<&ItemMeta>) -> bool {
        if self.if_none_match && current.is_some() {
            return false;
        }
        match (&self.if_match, current) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(tags), Some(item)) => {
                let etag = item.etag();
                tags.iter().any(|t| t == "*" || *t == etag || t.strip_prefix("W/") == Some(etag.as_str()))
            }
        }
    }
}

/// What a write did, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemWrite {
    /// A new item was stored.
    Created(ItemMeta),
    /// The item under that name got the new content.
    Replaced(ItemMeta),
    /// The [`Precondition`] does not hold (HTTP 412); nothing changed.
    PreconditionFailed,
    /// Another item of the folder has the object's UID (CalDAV/CardDAV
    /// `no-uid-conflict`); its name is given. Nothing changed.
    UidConflict(String),
}

/// What a removal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemRemoval {
    /// Removed at this MODSEQ.
    Removed(ModSeq),
    /// No item of that name.
    NotFound,
    /// The [`Precondition`] does not hold; nothing changed.
    PreconditionFailed,
}

/// A folder's item changes after a point of the change log (a DAV sync
/// token, an ActiveSync SyncKey).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemChanges {
    /// The folder's HIGHESTMODSEQ: the point these changes bring a client to.
    pub modseq: ModSeq,
    /// Items added or changed since, as they are now, in MODSEQ order.
    pub changed: Vec<ItemMeta>,
    /// Names of items removed since (moved away or deleted) that no item
    /// has now, with the MODSEQ of the removal, in MODSEQ order.
    pub removed: Vec<(String, ModSeq)>,
}

/// Groupware item storage. See the module docs for the contract.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Every item of a folder, in UID order (records only, no content).
    async fn items(&self, account: AccountId, folder: FolderId) -> Result<Vec<ItemMeta>>;
    /// The item stored under a name.
    async fn item_by_name(&self, account: AccountId, folder: FolderId, name: &str) -> Result<Option<ItemMeta>>;
    /// Stores content under a name: a new item, or new content for the
    /// item already there, if `condition` holds and the folder's quota
    /// allows it. A folder that does not hold items of the kind is
    /// [`Error::Invalid`](crate::Error::Invalid).
    async fn put_item(
        &self,
        account: AccountId,
        folder: FolderId,
        name: &str,
        item: NewItem,
        condition: Precondition,
        quota: QuotaLimit,
    ) -> Result<ItemWrite>;
    /// Removes the item stored under a name, if `condition` holds.
    async fn remove_item(
        &self,
        account: AccountId,
        folder: FolderId,
        name: &str,
        condition: Precondition,
    ) -> Result<ItemRemoval>;
    /// Moves an item to another folder of the account (or another name in
    /// the same one), keeping its content: one atomic write. `condition`
    /// applies to the source; an item already under the target name is
    /// replaced when `overwrite`, else the move is
    /// [`ItemWrite::PreconditionFailed`]. The result describes the item at
    /// its new place.
    #[allow(clippy::too_many_arguments)]
    async fn move_item(
        &self,
        account: AccountId,
        from: FolderId,
        name: &str,
        to: FolderId,
        new_name: &str,
        overwrite: bool,
        condition: Precondition,
    ) -> Result<Option<ItemWrite>>;
    /// A folder's item changes after `since`; `None` when the folder does
    /// not exist.
    async fn item_changes(&self, account: AccountId, folder: FolderId, since: ModSeq) -> Result<Option<ItemChanges>>;
    /// The properties kept for a folder as a DAV collection (display
    /// name, colour, description, ...), as (`{namespace}name`, text), by key.
    async fn collection_properties(&self, account: AccountId, folder: FolderId) -> Result<Vec<(String, String)>>;
    /// Sets (`Some`) or removes (`None`) collection properties, in one write.
    async fn set_collection_properties(
        &self,
        account: AccountId,
        folder: FolderId,
        changes: Vec<(String, Option<String>)>,
    ) -> Result<()>;
}

/// Checks a resource name: one URL path segment as decoded, 1 to 255
/// bytes, without `/`, control characters, or the names `.` and `..`.
pub fn validate_item_name(name: &str) -> Result<(), crate::Error> {
    let bad = |why: &str| Err(crate::Error::Invalid(format!("item name {name:?}: {why}")));
    if name.is_empty() || name.len() > 255 {
        return bad("must be 1 to 255 bytes");
    }
    if name == "." || name == ".." {
        return bad("is not a resource name");
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return bad("contains '/' or a control character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(uid: &str) -> Bytes {
        Bytes::from(format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
DTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        ))
    }

    #[test]
    fn folders_take_their_own_kinds() {
        assert!(NewItem::parse(event("a"), FolderKind::Calendar).is_ok());
        for kind in [FolderKind::Tasks, FolderKind::Notes, FolderKind::Contacts, FolderKind::Mail] {
            assert!(NewItem::parse(event("a"), kind).is_err(), "{kind:?}");
        }
        let card = Bytes::from_static(b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nUID:c1\r\nEND:VCARD\r\n");
        let item = NewItem::parse(card, FolderKind::Contacts).unwrap();
        assert_eq!((item.index().uid.as_str(), item.index().kind), ("c1", ItemKind::Card));
    }

    #[test]
    fn preconditions() {
        let item = ItemMeta {
            uid: Uid(1),
            name: "a.ics".into(),
            modseq: ModSeq(3),
            blob: BlobId::of(b"x"),
            size: 1,
            modified: 0,
            index: NewItem::parse(event("a"), FolderKind::Calendar).unwrap().index().clone(),
        };
        let tag = item.etag();
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34);
        let none = Precondition { if_none_match: true, ..Default::default() };
        assert!(none.holds(None) && !none.holds(Some(&item)));
        let matching = Precondition { if_match: Some(vec!["\"other\"".into(), tag.clone()]), ..Default::default() };
        assert!(matching.holds(Some(&item)) && !matching.holds(None));
        let any = Precondition { if_match: Some(vec!["*".into()]), ..Default::default() };
        assert!(any.holds(Some(&item)) && !any.holds(None));
        let other = Precondition { if_match: Some(vec!["\"other\"".into()]), ..Default::default() };
        assert!(!other.holds(Some(&item)));
        assert!(Precondition::default().holds(None) && Precondition::default().holds(Some(&item)));
    }

    #[test]
    fn names() {
        assert!(validate_item_name("abc-123.ics").is_ok());
        for bad in ["", ".", "..", "a/b", "a\nb", &"x".repeat(256)] {
            assert!(validate_item_name(bad).is_err(), "{bad:?}");
        }
    }
}
