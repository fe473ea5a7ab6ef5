//! Mail storage: folders, messages, flags and the per-account change log.
//!
//! Implementation contract (every implementation keeps these; the RocksDB
//! store's property tests check them):
//!
//! - UIDs in a folder are assigned in strictly increasing order and never
//!   reused while the folder's UIDVALIDITY stays the same (RFC 9051 2.3.1.1).
//! - Every mutation takes a new MODSEQ from a per-account counter, so MODSEQs
//!   are strictly increasing across the account; a folder's HIGHESTMODSEQ is
//!   the last MODSEQ that touched it (RFC 7162 3.1.1).
//! - Each mutation appends to the account's change log; [`MailStore::changes_since`]
//!   returns exactly the changes after a MODSEQ, in order.
//! - Each logical operation is one atomic write. When a method's future
//!   completes with `Ok`, the change is durable (synced to disk): callers may
//!   acknowledge it to a client.
//! - Waiters registered with the [`crate::notify::ChangeNotifier`] are woken only
//!   after the change is durable.
//! - Stored content always has its structure: [`MailStore::structure`] of a
//!   blob equals [`crate::structure::parse_structure`] of its
//!   [`MailStore::content`], without parsing it again.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::acl::{Grantee, Rights, SharedFolder};
use crate::model::AccountId;
use crate::structure::MessageStructure;
use crate::{Error, Result};

/// A folder's identity within its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FolderId(pub u32);

/// A message's UID within its folder (RFC 9051 2.3.1.1). Never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uid(pub u32);

/// A modification sequence (RFC 7162). Never 0 for a stored change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModSeq(pub u64);

/// Content-addressed reference to a stored message body (BLAKE3 of the bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// The blob id of some content.
    pub fn of(content: &[u8]) -> Self {
        BlobId(*blake3::hash(content).as_bytes())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobId({})", &self.to_hex()[..16])
    }
}

/// What a folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FolderKind {
    /// Messages.
    Mail,
    /// Calendar events.
    Calendar,
    /// Contacts.
    Contacts,
    /// Tasks.
    Tasks,
    /// Notes.
    Notes,
}

/// IMAP special-use roles (RFC 6154).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecialUse {
    /// `\All`
    All,
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Flagged`
    Flagged,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
}

impl SpecialUse {
    /// The IMAP attribute (RFC 6154 2).
    pub fn imap_attribute(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }
}

/// The folders every new account gets: name, kind, role.
pub const DEFAULT_FOLDERS: &[(&str, FolderKind, Option<SpecialUse>)] = &[
    ("INBOX", FolderKind::Mail, None),
    ("Sent", FolderKind::Mail, Some(SpecialUse::Sent)),
    ("Drafts", FolderKind::Mail, Some(SpecialUse::Drafts)),
    ("Trash", FolderKind::Mail, Some(SpecialUse::Trash)),
    ("Junk", FolderKind::Mail, Some(SpecialUse::Junk)),
    ("Calendar", FolderKind::Calendar, None),
    ("Contacts", FolderKind::Contacts, None),
    ("Tasks", FolderKind::Tasks, None),
    ("Notes", FolderKind::Notes, None),
];

/// System flags as a bit set (RFC 9051 2.3.2). `\Recent` is session state and
/// is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Flags(pub u8);

impl Flags {
    /// `\Seen`
    pub const SEEN: Flags = Flags(1);
    /// `\Answered`
    pub const ANSWERED: Flags = Flags(2);
    /// `\Flagged`
    pub const FLAGGED: Flags = Flags(4);
    /// `\Deleted`
    pub const DELETED: Flags = Flags(8);
    /// `\Draft`
    pub const DRAFT: Flags = Flags(16);
    /// Every system flag, with its IMAP name.
    pub const NAMES: [(Flags, &'static str); 5] = [
        (Flags::SEEN, "\\Seen"),
        (Flags::ANSWERED, "\\Answered"),
        (Flags::FLAGGED, "\\Flagged"),
        (Flags::DELETED, "\\Deleted"),
        (Flags::DRAFT, "\\Draft"),
    ];

    /// No flag set.
    pub const fn empty() -> Flags {
        Flags(0)
    }
    /// Whether all flags of `other` are set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Union.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    /// Difference.
    pub const fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
    /// Parses an IMAP system flag name (case-insensitive).
    pub fn from_imap(name: &str) -> Option<Flags> {
        Flags::NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)).map(|(f, _)| *f)
    }
}

/// A folder's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderInfo {
    /// Identity.
    pub id: FolderId,
    /// Full hierarchical name, `/`-separated; `INBOX` is the inbox.
    pub name: String,
    /// What it holds.
    pub kind: FolderKind,
    /// Special-use role.
    pub special_use: Option<SpecialUse>,
    /// UIDVALIDITY (RFC 9051 2.3.1.1).
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub uid_next: Uid,
    /// Last MODSEQ that touched the folder.
    pub highest_modseq: ModSeq,
    /// Number of messages.
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Total size of the messages in bytes.
    pub size: u64,
    /// IMAP subscription state.
    pub subscribed: bool,
}

/// A stored message's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// UID in its folder.
    pub uid: Uid,
    /// MODSEQ of its last change.
    pub modseq: ModSeq,
    /// System flags.
    pub flags: Flags,
    /// Keywords (user flags), sorted, without duplicates.
    pub keywords: Vec<String>,
    /// INTERNALDATE as unix seconds.
    pub internal_date: i64,
    /// RFC822.SIZE.
    pub size: u64,
    /// Where the content is.
    #[serde(skip, default = "zero_blob")]
    pub blob: BlobId,
}

fn zero_blob() -> BlobId {
    BlobId([0; 32])
}

/// A folder's messages as one reader sees them, cheap to share: the
/// metadata in UID order, the UIDs alone (what an IMAP SELECT keeps as its
/// sequence-number map), and the folder's HIGHESTMODSEQ read before them
/// (the listing is at least that new).
#[derive(Debug, Clone)]
pub struct Listing {
    /// The folder's HIGHESTMODSEQ when the listing was read.
    pub modseq: ModSeq,
    /// Every message, in UID order.
    pub messages: Arc<Vec<MessageMeta>>,
    /// The same messages' UIDs, in order.
    pub uids: Arc<Vec<Uid>>,
}

impl Listing {
    /// A listing of `messages` (in UID order) read at `modseq`.
    pub fn new(modseq: ModSeq, messages: Vec<MessageMeta>) -> Listing {
        let uids = Arc::new(messages.iter().map(|m| m.uid).collect());
        Listing { modseq, messages: Arc::new(messages), uids }
    }

    /// Messages listed.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the folder is empty.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Initial flags.
    pub flags: Flags,
    /// Initial keywords.
    pub keywords: Vec<String>,
    /// INTERNALDATE, unix seconds.
    pub internal_date: i64,
    /// The RFC 5322 message.
    pub content: Bytes,
}

/// Limits checked atomically with a write (policy-resolved by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaLimit {
    /// Maximum stored bytes; 0 = unlimited.
    pub max_bytes: u64,
    /// Maximum stored messages; 0 = unlimited.
    pub max_messages: u64,
}

/// One recipient folder of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryTarget {
    /// The recipient account.
    pub account: AccountId,
    /// The folder to file into.
    pub folder: FolderId,
    /// Initial flags.
    pub flags: Flags,
    /// The account's quota.
    pub quota: QuotaLimit,
}

/// Where an appended message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The account.
    pub account: AccountId,
    /// The folder.
    pub folder: FolderId,
    /// The folder's UIDVALIDITY (for APPENDUID, RFC 4315).
    pub uid_validity: u32,
    /// The new message's UID.
    pub uid: Uid,
    /// The MODSEQ of the append.
    pub modseq: ModSeq,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// Add the given flags.
    Add,
    /// Remove the given flags.
    Remove,
    /// Replace all flags with the given ones.
    Replace,
}

/// A flag change request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    /// How.
    pub op: FlagOp,
    /// System flags.
    pub flags: Flags,
    /// Keywords.
    pub keywords: Vec<String>,
    /// CONDSTORE UNCHANGEDSINCE (RFC 7162 3.1.3): messages modified after it are
    /// left alone and reported.
    pub unchanged_since: Option<ModSeq>,
}

/// Result of a flag change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagsChanged {
    /// Messages whose flags changed: UID, new MODSEQ, flags, keywords.
    pub changed: Vec<(Uid, ModSeq, Flags, Vec<String>)>,
    /// Messages skipped because of UNCHANGEDSINCE.
    pub modified: Vec<Uid>,
}

/// A copy or move result: source UID to destination UID (RFC 4315 COPYUID).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Destination UIDVALIDITY.
    pub uid_validity: u32,
    /// Pairs in ascending source order.
    pub uids: Vec<(Uid, Uid)>,
}

/// What a change-log entry records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeKind {
    /// A folder was created.
    FolderCreated,
    /// A folder was renamed or its subscription changed.
    FolderUpdated,
    /// A folder was deleted (with its messages).
    FolderDeleted,
    /// A message was added.
    Added {
        /// Its UID.
        uid: Uid,
    },
    /// A message's flags changed.
    Flags {
        /// Its UID.
        uid: Uid,
    },
    /// A groupware item got new content (it keeps its UID and name).
    Updated {
        /// Its UID.
        uid: Uid,
    },
    /// A message was removed.
    Expunged {
        /// Its former UID.
        uid: Uid,
    },
}

/// One change-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The MODSEQ the change took.
    pub modseq: ModSeq,
    /// The folder concerned.
    pub folder: FolderId,
    /// What happened.
    #[serde(flatten)]
    pub kind: ChangeKind,
}

/// Storage used by an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuotaUsage {
    /// Bytes of stored messages (each message counted in every folder it is in).
    pub bytes: u64,
    /// Number of stored messages.
    pub messages: u64,
}

/// Mail storage. See the module docs for the contract.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Creates a folder. Names are `/`-separated; `INBOX` is case-insensitive.
    async fn create_folder(
        &self,
        account: AccountId,
        name: &str,
        kind: FolderKind,
        special_use: Option<SpecialUse>,
    ) -> Result<FolderInfo>;
    /// Creates a folder that is not subscribed, unless its name was
    /// (RFC 3501 6.3.4: IMAP CREATE does not subscribe; 6.3.6: a
    /// subscription outlives its mailbox). One write, so no one sees the
    /// folder subscribed in between.
    async fn create_unsubscribed_folder(
        &self,
        account: AccountId,
        name: &str,
        kind: FolderKind,
        special_use: Option<SpecialUse>,
    ) -> Result<FolderInfo> {
        let was_subscribed = self.subscribed_names(account).await?.iter().any(|n| n == name);
        let info = self.create_folder(account, name, kind, special_use).await?;
        if was_subscribed {
            return Ok(info);
        }
        self.set_subscribed(account, info.id, false).await?;
        Ok(FolderInfo { subscribed: false, ..info })
    }
    /// Renames a folder (not INBOX).
    async fn rename_folder(&self, account: AccountId, folder: FolderId, new_name: &str) -> Result<()>;
    /// Deletes a folder and its messages.
    async fn delete_folder(&self, account: AccountId, folder: FolderId) -> Result<()>;
    /// Sets the IMAP subscription flag.
    async fn set_subscribed(&self, account: AccountId, folder: FolderId, subscribed: bool) -> Result<()>;
    /// The names an account is subscribed to that no folder has: a
    /// subscription outlives its mailbox (RFC 3501 6.3.5, 6.3.6), and a
    /// name may be subscribed before it exists. A store that keeps no such
    /// names has none.
    async fn subscribed_names(&self, _account: AccountId) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Subscribes or unsubscribes a name: the folder of that name if there
    /// is one, else the name alone (see [`MailStore::subscribed_names`]).
    /// A folder later created under a subscribed name is subscribed.
    async fn set_name_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()> {
        match self.folder_by_name(account, name).await? {
            Some(folder) => self.set_subscribed(account, folder.id, subscribed).await,
            None => Err(Error::NotFound(format!("folder {name}"))),
        }
    }
    /// All folders of an account, by name.
    async fn folders(&self, account: AccountId) -> Result<Vec<FolderInfo>>;
    /// One folder by id.
    async fn folder(&self, account: AccountId, folder: FolderId) -> Result<Option<FolderInfo>>;
    /// One folder by name (`INBOX` case-insensitive).
    async fn folder_by_name(&self, account: AccountId, name: &str) -> Result<Option<FolderInfo>>;

    /// Appends one message to one folder, refusing it if it would exceed `quota`.
    async fn append(
        &self,
        account: AccountId,
        folder: FolderId,
        message: NewMessage,
        quota: QuotaLimit,
    ) -> Result<Appended>;
    /// Delivers one message to many folders (of one or many accounts) in one
    /// atomic write, storing the content once. Targets over quota make the
    /// whole call fail with [`crate::Error::OverQuota`] naming the account.
    async fn deliver(&self, content: Bytes, internal_date: i64, targets: &[DeliveryTarget]) -> Result<Vec<Appended>>;

    /// The messages of a folder in UID order.
    async fn messages(&self, account: AccountId, folder: FolderId) -> Result<Vec<MessageMeta>>;
    /// The messages of a folder in UID order, shared (see [`Listing`]).
    /// Stores may keep the listings of recently read folders and hand the
    /// same one to every reader while the folder is unchanged; `None` when
    /// the folder does not exist.
    async fn listing(&self, account: AccountId, folder: FolderId) -> Result<Option<Listing>> {
        let Some(info) = self.folder(account, folder).await? else { return Ok(None) };
        Ok(Some(Listing::new(info.highest_modseq, self.messages(account, folder).await?)))
    }
    /// One message.
    async fn message(&self, account: AccountId, folder: FolderId, uid: Uid) -> Result<Option<MessageMeta>>;
    /// A message's content.
    async fn content(&self, blob: BlobId) -> Result<Bytes>;
    /// A message's header: its content up to and including the empty line
    /// that ends the header. Header searches and header fetches read this
    /// instead of the whole content; stores may keep it in memory.
    async fn header(&self, blob: BlobId) -> Result<Bytes> {
        let content = self.content(blob).await?;
        let crlf = content.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
        let end = crlf.or_else(|| content.windows(2).position(|w| w == b"\n\n").map(|p| p + 2));
        Ok(content.slice(..end.unwrap_or(content.len())))
    }
    /// A message's structure (ENVELOPE, BODYSTRUCTURE and section offsets
    /// into [`MailStore::content`]), computed when the content was stored.
    async fn structure(&self, blob: BlobId) -> Result<Arc<MessageStructure>>;

    /// Changes flags of the given messages (unknown UIDs are ignored).
    async fn change_flags(
        &self,
        account: AccountId,
        folder: FolderId,
        uids: &[Uid],
        change: &FlagChange,
    ) -> Result<FlagsChanged>;
    /// Copies messages to another folder of the same account.
    async fn copy(
        &self,
        account: AccountId,
        from: FolderId,
        uids: &[Uid],
        to: FolderId,
        quota: QuotaLimit,
    ) -> Result<Copied>;
    /// Moves messages to another folder of the same account (RFC 6851): one
    /// atomic write that adds them there and expunges them here.
    async fn move_messages(&self, account: AccountId, from: FolderId, uids: &[Uid], to: FolderId) -> Result<Copied>;
    /// Removes messages; returns the UIDs actually removed.
    async fn expunge(&self, account: AccountId, folder: FolderId, uids: &[Uid]) -> Result<Vec<Uid>>;

    /// The account's last MODSEQ.
    async fn highest_modseq(&self, account: AccountId) -> Result<ModSeq>;
    /// Every change after `since`, in MODSEQ order.
    async fn changes_since(&self, account: AccountId, since: ModSeq) -> Result<Vec<Change>>;
    /// Storage the account uses.
    async fn quota_usage(&self, account: AccountId) -> Result<QuotaUsage>;

    /// Sets the rights of `grantee` on an owner's folder; no rights removes
    /// the entry. The owner cannot be a grantee of its own folder.
    async fn set_rights(&self, owner: AccountId, folder: FolderId, grantee: Grantee, rights: Rights) -> Result<()>;
    /// The access list of a folder (the owner is not in it), by grantee.
    async fn acl(&self, owner: AccountId, folder: FolderId) -> Result<Vec<(Grantee, Rights)>>;
    /// The folders of other accounts that `account` has rights on, with its
    /// effective rights and subscription, by owner and folder.
    async fn shared_with(&self, account: AccountId) -> Result<Vec<SharedFolder>>;
    /// Subscribes `account` to another account's folder, or unsubscribes it.
    async fn set_shared_subscription(
        &self,
        account: AccountId,
        owner: AccountId,
        folder: FolderId,
        subscribed: bool,
    ) -> Result<()>;
    /// The rights of `account` on an owner's folder: every right for the
    /// owner, else the union of the account's entry and `anyone`.
    async fn rights(&self, account: AccountId, owner: AccountId, folder: FolderId) -> Result<Rights> {
        if account == owner {
            return Ok(Rights::ALL);
        }
        Ok(self
            .acl(owner, folder)
            .await?
            .into_iter()
            .filter(|(g, _)| *g == Grantee::Anyone || *g == Grantee::Account(account))
            .fold(Rights::NONE, |acc, (_, r)| acc.union(r)))
    }
}
