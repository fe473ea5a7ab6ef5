//! Key encoding and record codecs. Integers are big-endian so that keys sort
//! numerically; records on the hot path (folders, messages, change-log
//! entries, account state) use a fixed binary layout, message structures
//! postcard, directory objects JSON.

use axigen_core::Error;
use axigen_core::itemstore::ItemMeta;
use axigen_core::mailstore::{
    BlobId, ChangeKind, Flags, FolderId, FolderInfo, FolderKind, MessageMeta, ModSeq, SpecialUse, Uid,
};
use axigen_core::model::AccountId;
use axigen_core::structure::MessageStructure;

/// A key-value pair read from a scan.
pub type Row = (Box<[u8]>, Box<[u8]>);

/// Column family names (documented in the crate docs).
pub const CF_META: &str = "meta";
pub const CF_DIRECTORY: &str = "directory";
pub const CF_ACCOUNT: &str = "account";
pub const CF_FOLDER: &str = "folder";
pub const CF_FOLDER_NAME: &str = "folder_name";
pub const CF_MESSAGE: &str = "message";
pub const CF_CHANGELOG: &str = "changelog";
pub const CF_BLOB: &str = "blob";
pub const CF_BLOB_REF: &str = "blob_ref";
pub const CF_SEAT: &str = "seat";
pub const CF_QUEUE: &str = "queue";
pub const CF_STRUCTURE: &str = "structure";
pub const CF_ACL: &str = "acl";
pub const CF_DEVICE: &str = "device";
pub const CF_SYNC_STATE: &str = "sync_state";
pub const CF_AUTOREPLY: &str = "autoreply";
pub const CF_RPOP: &str = "rpop";
pub const CF_ITEM: &str = "item";
pub const CF_ITEM_KEY: &str = "item_key";

/// Every column family, in creation order.
pub const ALL_CFS: &[&str] = &[
    CF_META,
    CF_DIRECTORY,
    CF_ACCOUNT,
    CF_FOLDER,
    CF_FOLDER_NAME,
    CF_MESSAGE,
    CF_CHANGELOG,
    CF_BLOB,
    CF_BLOB_REF,
    CF_SEAT,
    CF_QUEUE,
    CF_STRUCTURE,
    CF_ACL,
    CF_DEVICE,
    CF_SYNC_STATE,
    CF_AUTOREPLY,
    CF_RPOP,
    CF_ITEM,
    CF_ITEM_KEY,
];

pub const META_FORMAT: &[u8] = b"format";
pub const META_NEXT_ACCOUNT: &[u8] = b"next_account";
pub const META_LAST_UIDVALIDITY: &[u8] = b"last_uidvalidity";
pub const META_NEXT_SEAT_SEQ: &[u8] = b"next_seat_seq";
pub const META_ADMIN: &[u8] = b"admin";
pub const META_DEFAULTS: &[u8] = b"defaults";
pub const META_NEXT_QUEUE_ID: &[u8] = b"next_queue_id";
pub const META_QUEUE_DELIVERED: &[u8] = b"queue_delivered";
pub const META_QUEUE_FAILED: &[u8] = b"queue_failed";

pub fn be32(k: &[u8]) -> Result<u32, Error> {
    k.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).ok_or_else(|| corrupt("short u32"))
}

pub fn be64(k: &[u8]) -> Result<u64, Error> {
    k.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).ok_or_else(|| corrupt("short u64"))
}

pub fn corrupt(what: &str) -> Error {
    Error::Storage(format!("corrupt record: {what}"))
}

// ---- directory CF -------------------------------------------------------

pub fn domain_key(domain: &str) -> Vec<u8> {
    [b"D", domain.as_bytes()].concat()
}
pub fn class_prefix(domain: &str) -> Vec<u8> {
    [b"C", domain.as_bytes(), b"\0"].concat()
}
pub fn class_key(domain: &str, class: &str) -> Vec<u8> {
    [class_prefix(domain).as_slice(), class.as_bytes()].concat()
}
pub fn account_key(id: AccountId) -> Vec<u8> {
    [b"A".as_slice(), &id.0.to_be_bytes()].concat()
}
pub const ACCOUNT_PREFIX: &[u8] = b"A";
/// Address index: `N` + domain + NUL + local part -> account id.
pub fn address_key(domain: &str, local: &str) -> Vec<u8> {
    [b"N", domain.as_bytes(), b"\0", local.as_bytes()].concat()
}
pub fn address_prefix(domain: &str) -> Vec<u8> {
    [b"N", domain.as_bytes(), b"\0"].concat()
}
/// Alias: `L` + domain + NUL + local part -> JSON alias.
pub fn alias_key(domain: &str, local: &str) -> Vec<u8> {
    [b"L", domain.as_bytes(), b"\0", local.as_bytes()].concat()
}
pub fn alias_prefix(domain: &str) -> Vec<u8> {
    [b"L", domain.as_bytes(), b"\0"].concat()
}

// ---- per-account keys ------------------------------------------------------

pub fn acct(a: AccountId) -> [u8; 4] {
    a.0.to_be_bytes()
}

pub fn folder_key(a: AccountId, f: FolderId) -> [u8; 8] {
    let mut k = [0; 8];
    k[..4].copy_from_slice(&a.0.to_be_bytes());
    k[4..].copy_from_slice(&f.0.to_be_bytes());
    k
}

/// Folder names are unique per account; INBOX is matched case-insensitively
/// (RFC 9051 5.1), so its index key is upper-cased.
pub fn normalize_folder_name(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_owned()
    } else if let (Some(head), Some(rest)) = (name.get(..6), name.get(6..))
        && !rest.is_empty()
        && head.eq_ignore_ascii_case("INBOX/")
    {
        format!("INBOX/{rest}")
    } else {
        name.to_owned()
    }
}

pub fn folder_name_key(a: AccountId, name: &str) -> Vec<u8> {
    [&a.0.to_be_bytes()[..], normalize_folder_name(name).as_bytes()].concat()
}

pub fn message_key(a: AccountId, f: FolderId, uid: Uid) -> [u8; 12] {
    let mut k = [0; 12];
    k[..8].copy_from_slice(&folder_key(a, f));
    k[8..].copy_from_slice(&uid.0.to_be_bytes());
    k
}

pub fn changelog_key(a: AccountId, m: ModSeq) -> [u8; 12] {
    let mut k = [0; 12];
    k[..4].copy_from_slice(&a.0.to_be_bytes());
    k[4..].copy_from_slice(&m.0.to_be_bytes());
    k
}

pub fn seat_prefix(feature: &str) -> Vec<u8> {
    [feature.as_bytes(), b"\0"].concat()
}
pub fn seat_key(feature: &str, a: AccountId) -> Vec<u8> {
    [seat_prefix(feature).as_slice(), &a.0.to_be_bytes()].concat()
}

/// The smallest key greater than every key with this prefix, or `None` if
/// the prefix is all 0xff.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

// ---- records ----------------------------------------------------------------

/// Per-account counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountState {
    pub next_folder: u32,
    pub highest_modseq: u64,
    pub bytes: u64,
    pub messages: u64,
}

impl AccountState {
    pub fn encode(&self) -> [u8; 28] {
        let mut b = [0; 28];
        b[..4].copy_from_slice(&self.next_folder.to_be_bytes());
        b[4..12].copy_from_slice(&self.highest_modseq.to_be_bytes());
        b[12..20].copy_from_slice(&self.bytes.to_be_bytes());
        b[20..28].copy_from_slice(&self.messages.to_be_bytes());
        b
    }
    pub fn decode(b: &[u8]) -> Result<Self, Error> {
        if b.len() != 28 {
            return Err(corrupt("account state"));
        }
        Ok(AccountState {
            next_folder: be32(b)?,
            highest_modseq: be64(&b[4..])?,
            bytes: be64(&b[12..])?,
            messages: be64(&b[20..])?,
        })
    }
}

fn kind_code(k: FolderKind) -> u8 {
    match k {
        FolderKind::Mail => 0,
        FolderKind::Calendar => 1,
        FolderKind::Contacts => 2,
        FolderKind::Tasks => 3,
        FolderKind::Notes => 4,
    }
}
fn kind_from(c: u8) -> Result<FolderKind, Error> {
    Ok(match c {
        0 => FolderKind::Mail,
        1 => FolderKind::Calendar,
        2 => FolderKind::Contacts,
        3 => FolderKind::Tasks,
        4 => FolderKind::Notes,
        _ => return Err(corrupt("folder kind")),
    })
}
fn special_code(s: Option<SpecialUse>) -> u8 {
    match s {
        None => 0,
        Some(SpecialUse::All) => 1,
        Some(SpecialUse::Archive) => 2,
        Some(SpecialUse::Drafts) => 3,
        Some(SpecialUse::Flagged) => 4,
        Some(SpecialUse::Junk) => 5,
        Some(SpecialUse::Sent) => 6,
        Some(SpecialUse::Trash) => 7,
    }
}
fn special_from(c: u8) -> Result<Option<SpecialUse>, Error> {
    Ok(match c {
        0 => None,
        1 => Some(SpecialUse::All),
        2 => Some(SpecialUse::Archive),
        3 => Some(SpecialUse::Drafts),
        4 => Some(SpecialUse::Flagged),
        5 => Some(SpecialUse::Junk),
        6 => Some(SpecialUse::Sent),
        7 => Some(SpecialUse::Trash),
        _ => return Err(corrupt("special use")),
    })
}

/// Folder record: fixed 39-byte header, then the UTF-8 name.
pub fn encode_folder(f: &FolderInfo) -> Vec<u8> {
    let mut b = Vec::with_capacity(39 + f.name.len());
    b.extend_from_slice(&f.uid_validity.to_be_bytes());
    b.extend_from_slice(&f.uid_next.0.to_be_bytes());
    b.extend_from_slice(&f.highest_modseq.0.to_be_bytes());
    b.extend_from_slice(&f.messages.to_be_bytes());
    b.extend_from_slice(&f.unseen.to_be_bytes());
    b.extend_from_slice(&f.size.to_be_bytes());
    b.push(kind_code(f.kind));
    b.push(special_code(f.special_use));
    b.push(u8::from(f.subscribed));
    b.extend_from_slice(f.name.as_bytes());
    b
}

pub fn decode_folder(id: FolderId, b: &[u8]) -> Result<FolderInfo, Error> {
    if b.len() < 35 {
        return Err(corrupt("folder"));
    }
    Ok(FolderInfo {
        id,
        uid_validity: be32(b)?,
        uid_next: Uid(be32(&b[4..])?),
        highest_modseq: ModSeq(be64(&b[8..])?),
        messages: be32(&b[16..])?,
        unseen: be32(&b[20..])?,
        size: be64(&b[24..])?,
        kind: kind_from(b[32])?,
        special_use: special_from(b[33])?,
        subscribed: b[34] != 0,
        name: String::from_utf8(b[35..].to_vec()).map_err(|_| corrupt("folder name"))?,
    })
}

/// Message record: modseq(8) flags(1) internal_date(8) size(8) blob(32)
/// then keywords as (u8 length, bytes)*.
pub fn encode_message(m: &MessageMeta) -> Vec<u8> {
    let mut b = Vec::with_capacity(57 + m.keywords.iter().map(|k| k.len() + 1).sum::<usize>());
    b.extend_from_slice(&m.modseq.0.to_be_bytes());
    b.push(m.flags.0);
    b.extend_from_slice(&m.internal_date.to_be_bytes());
    b.extend_from_slice(&m.size.to_be_bytes());
    b.extend_from_slice(&m.blob.0);
    for k in &m.keywords {
        // Keywords are atoms, limited to 255 octets when they are set.
        b.push(k.len() as u8);
        b.extend_from_slice(k.as_bytes());
    }
    b
}

pub fn decode_message(uid: Uid, b: &[u8]) -> Result<MessageMeta, Error> {
    if b.len() < 57 {
        return Err(corrupt("message"));
    }
    let mut blob = [0u8; 32];
    blob.copy_from_slice(&b[25..57]);
    let mut keywords = Vec::new();
    let mut rest = &b[57..];
    while let Some((&len, tail)) = rest.split_first() {
        let len = len as usize;
        let kw = tail.get(..len).ok_or_else(|| corrupt("keyword"))?;
        keywords.push(String::from_utf8(kw.to_vec()).map_err(|_| corrupt("keyword"))?);
        rest = &tail[len..];
    }
    Ok(MessageMeta {
        uid,
        modseq: ModSeq(be64(b)?),
        flags: Flags(b[8]),
        internal_date: be64(&b[9..])? as i64,
        size: be64(&b[17..])?,
        blob: BlobId(blob),
        keywords,
    })
}

/// Change-log entry: folder(4) kind(1) uid(4). Kinds: 0 folder created,
/// 1 folder updated, 2 folder deleted, 3 added, 4 flags, 5 expunged,
/// 6 item content updated.
pub fn encode_change(folder: FolderId, kind: &ChangeKind) -> [u8; 9] {
    let (code, uid) = match kind {
        ChangeKind::FolderCreated => (0, 0),
        ChangeKind::FolderUpdated => (1, 0),
        ChangeKind::FolderDeleted => (2, 0),
        ChangeKind::Added { uid } => (3, uid.0),
        ChangeKind::Flags { uid } => (4, uid.0),
        ChangeKind::Expunged { uid } => (5, uid.0),
        ChangeKind::Updated { uid } => (6, uid.0),
    };
    let mut b = [0; 9];
    b[..4].copy_from_slice(&folder.0.to_be_bytes());
    b[4] = code;
    b[5..].copy_from_slice(&uid.to_be_bytes());
    b
}

pub fn decode_change(b: &[u8]) -> Result<(FolderId, ChangeKind), Error> {
    if b.len() != 9 {
        return Err(corrupt("change"));
    }
    let folder = FolderId(be32(b)?);
    let uid = Uid(be32(&b[5..])?);
    let kind = match b[4] {
        0 => ChangeKind::FolderCreated,
        1 => ChangeKind::FolderUpdated,
        2 => ChangeKind::FolderDeleted,
        3 => ChangeKind::Added { uid },
        4 => ChangeKind::Flags { uid },
        5 => ChangeKind::Expunged { uid },
        6 => ChangeKind::Updated { uid },
        _ => return Err(corrupt("change kind")),
    };
    Ok((folder, kind))
}

// ---- groupware items -----------------------------------------------------

pub fn item_key(a: AccountId, f: FolderId, uid: Uid) -> [u8; 12] {
    message_key(a, f, uid)
}

/// `item_key` entries of a folder: `N` + resource name -> uid, `U` + the
/// object's UID -> uid, `T` + uid -> the resource name of a removed item,
/// `P` + property key -> a collection property's text.
pub fn item_name_key(a: AccountId, f: FolderId, name: &str) -> Vec<u8> {
    [&folder_key(a, f)[..], b"N", name.as_bytes()].concat()
}
pub fn item_uid_key(a: AccountId, f: FolderId, object_uid: &str) -> Vec<u8> {
    [&folder_key(a, f)[..], b"U", object_uid.as_bytes()].concat()
}
/// `item_key` entry `P` + `{namespace}name`: a collection property of the folder.
pub fn collection_property_key(a: AccountId, f: FolderId, key: &str) -> Vec<u8> {
    [&folder_key(a, f)[..], b"P", key.as_bytes()].concat()
}
pub fn item_tombstone_key(a: AccountId, f: FolderId, uid: Uid) -> Vec<u8> {
    [&folder_key(a, f)[..], b"T", &uid.0.to_be_bytes()].concat()
}

/// Item record: modseq(8) size(8) modified(8) blob(32) name-length(2) name,
/// then the postcard encoding of the [`ItemIndex`].
pub fn encode_item(m: &ItemMeta) -> Result<Vec<u8>, Error> {
    let mut b = Vec::with_capacity(58 + m.name.len() + m.index.uid.len() + 24);
    b.extend_from_slice(&m.modseq.0.to_be_bytes());
    b.extend_from_slice(&m.size.to_be_bytes());
    b.extend_from_slice(&m.modified.to_be_bytes());
    b.extend_from_slice(&m.blob.0);
    let len = u16::try_from(m.name.len()).map_err(|_| Error::Invalid("item name too long".into()))?;
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(m.name.as_bytes());
    postcard::to_extend(&m.index, b).map_err(|e| Error::Storage(format!("cannot encode an item index: {e}")))
}

pub fn decode_item(uid: Uid, b: &[u8]) -> Result<ItemMeta, Error> {
    if b.len() < 58 {
        return Err(corrupt("item"));
    }
    let mut blob = [0u8; 32];
    blob.copy_from_slice(&b[24..56]);
    let len = u16::from_be_bytes([b[56], b[57]]) as usize;
    let name = b.get(58..58 + len).ok_or_else(|| corrupt("item name"))?;
    let name = String::from_utf8(name.to_vec()).map_err(|_| corrupt("item name"))?;
    let index = postcard::from_bytes(&b[58 + len..]).map_err(|e| corrupt(&format!("item index: {e}")))?;
    Ok(ItemMeta {
        uid,
        name,
        modseq: ModSeq(be64(b)?),
        size: be64(&b[8..])?,
        modified: be64(&b[16..])? as i64,
        blob: BlobId(blob),
        index,
    })
}

/// Version byte that starts a structure record. A record of another version
/// is not decoded (the structure is computed again from the content).
pub const STRUCTURE_RECORD_VERSION: u8 = 1;

/// Structure record: [`STRUCTURE_RECORD_VERSION`], then the postcard
/// encoding of the [`MessageStructure`] (varint integers, length-prefixed
/// bytes, no field names).
pub fn encode_structure(s: &MessageStructure) -> Result<Vec<u8>, Error> {
    postcard::to_extend(s, vec![STRUCTURE_RECORD_VERSION])
        .map_err(|e| Error::Storage(format!("cannot encode a message structure: {e}")))
}

pub fn decode_structure(b: &[u8]) -> Result<MessageStructure, Error> {
    match b.split_first() {
        Some((&STRUCTURE_RECORD_VERSION, rest)) => {
            postcard::from_bytes(rest).map_err(|e| corrupt(&format!("message structure: {e}")))
        }
        Some((v, _)) => Err(corrupt(&format!("message structure record version {v}"))),
        None => Err(corrupt("empty message structure")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let f = FolderInfo {
            id: FolderId(3),
            name: "Archive/2026".into(),
            kind: FolderKind::Mail,
            special_use: Some(SpecialUse::Archive),
            uid_validity: 1_700_000_000,
            uid_next: Uid(42),
            highest_modseq: ModSeq(99),
            messages: 41,
            unseen: 2,
            size: 123_456,
            subscribed: true,
        };
        assert_eq!(decode_folder(FolderId(3), &encode_folder(&f)).unwrap(), f);
        let m = MessageMeta {
            uid: Uid(7),
            modseq: ModSeq(12),
            flags: Flags::SEEN.union(Flags::FLAGGED),
            keywords: vec!["$Forwarded".into(), "work".into()],
            internal_date: -5,
            size: 1000,
            blob: BlobId::of(b"x"),
        };
        assert_eq!(decode_message(Uid(7), &encode_message(&m)).unwrap(), m);
        for kind in [ChangeKind::FolderCreated, ChangeKind::Expunged { uid: Uid(9) }] {
            assert_eq!(decode_change(&encode_change(FolderId(1), &kind)).unwrap(), (FolderId(1), kind));
        }
        let raw = b"From: a@example.org\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
        let st = axigen_core::structure::parse_structure(raw);
        assert_eq!(decode_structure(&encode_structure(&st).unwrap()).unwrap(), st);
        assert!(decode_structure(&[2, 0]).is_err() && decode_structure(&[]).is_err());
        let item = ItemMeta {
            uid: Uid(4),
            name: "événement.ics".into(),
            modseq: ModSeq(77),
            blob: BlobId::of(b"y"),
            size: 12,
            modified: 1_700_000_000,
            index: axigen_core::groupware::ItemIndex {
                uid: "u@x".into(),
                kind: axigen_core::groupware::ItemKind::Event,
                start: Some(-3),
                end: None,
                recurring: true,
            },
        };
        assert_eq!(decode_item(Uid(4), &encode_item(&item).unwrap()).unwrap(), item);
        assert!(decode_item(Uid(4), &encode_item(&item).unwrap()[..60]).is_err());
        let s = AccountState { next_folder: 10, highest_modseq: 5, bytes: 9, messages: 1 };
        assert_eq!(AccountState::decode(&s.encode()).unwrap(), s);
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
    }
}
