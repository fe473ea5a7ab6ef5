//! Folder permissions (seed 3.5.2): who may see and change another
//! account's folder, with the rights of IMAP ACL (RFC 4314 2.1).
//!
//! A folder's owner always has every right and is never listed in the
//! folder's access list. Other accounts get rights through an entry for
//! their account or through the `anyone` entry; their effective rights are
//! the union of both. There are no negative rights.
//!
//! The rights are checked in one place per protocol (IMAP here, WebMail and
//! ActiveSync later) from [`crate::mailstore::MailStore::rights`]; the store
//! only records them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mailstore::FolderId;
use crate::model::AccountId;

/// A set of rights (RFC 4314 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Rights(u16);

impl Rights {
    /// `l`: the folder is visible in listings.
    pub const LOOKUP: Rights = Rights(1 << 0);
    /// `r`: open the folder, read its messages, see its status.
    pub const READ: Rights = Rights(1 << 1);
    /// `s`: keep the \Seen flag.
    pub const SEEN: Rights = Rights(1 << 2);
    /// `w`: set flags other than \Seen and \Deleted.
    pub const WRITE: Rights = Rights(1 << 3);
    /// `i`: append, copy and move messages into the folder.
    pub const INSERT: Rights = Rights(1 << 4);
    /// `p`: send mail to the folder's submission address.
    pub const POST: Rights = Rights(1 << 5);
    /// `k`: create subfolders.
    pub const CREATE: Rights = Rights(1 << 6);
    /// `x`: delete or rename the folder.
    pub const DELETE_FOLDER: Rights = Rights(1 << 7);
    /// `t`: set and clear \Deleted.
    pub const DELETE_MESSAGES: Rights = Rights(1 << 8);
    /// `e`: expunge.
    pub const EXPUNGE: Rights = Rights(1 << 9);
    /// `a`: read and change the access list.
    pub const ADMIN: Rights = Rights(1 << 10);

    /// No right.
    pub const NONE: Rights = Rights(0);
    /// Every right: what an owner has.
    pub const ALL: Rights = Rights((1 << 11) - 1);

    /// Each right with its letter, in the canonical order `lrswipkxtea`.
    pub const LETTERS: [(Rights, char); 11] = [
        (Rights::LOOKUP, 'l'),
        (Rights::READ, 'r'),
        (Rights::SEEN, 's'),
        (Rights::WRITE, 'w'),
        (Rights::INSERT, 'i'),
        (Rights::POST, 'p'),
        (Rights::CREATE, 'k'),
        (Rights::DELETE_FOLDER, 'x'),
        (Rights::DELETE_MESSAGES, 't'),
        (Rights::EXPUNGE, 'e'),
        (Rights::ADMIN, 'a'),
    ];

    /// Parses rights letters. The obsolete `c` stands for `kx` and `d` for
    /// `te` (RFC 4314 2.1.1); an unknown letter is returned as the error.
    pub fn parse(letters: &str) -> Result<Rights, char> {
        let mut out = Rights::NONE;
        for c in letters.chars() {
            out = out.union(match c {
                'c' => Rights::CREATE.union(Rights::DELETE_FOLDER),
                'd' => Rights::DELETE_MESSAGES.union(Rights::EXPUNGE),
                _ => Rights::LETTERS.iter().find(|(_, l)| *l == c).map(|(r, _)| *r).ok_or(c)?,
            });
        }
        Ok(out)
    }

    /// The raw bits (for storage).
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Rights from raw bits; unknown bits are dropped.
    pub const fn from_bits(bits: u16) -> Rights {
        Rights(bits & Rights::ALL.0)
    }

    /// Both sets.
    #[must_use]
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// `self` without `other`.
    #[must_use]
    pub const fn difference(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }

    /// Whether every right of `other` is in `self`.
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any right of `other` is in `self`.
    pub const fn intersects(self, other: Rights) -> bool {
        self.0 & other.0 != 0
    }

    /// No right at all.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Rights {
    /// The letters in canonical order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (r, c) in Rights::LETTERS {
            if self.contains(r) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Who an access-list entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Grantee {
    /// Every authenticated account (`anyone`, RFC 4314 2).
    Anyone,
    /// One account.
    Account(AccountId),
}

/// A folder of another account that an account may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFolder {
    /// The folder's owner.
    pub owner: AccountId,
    /// The folder.
    pub folder: FolderId,
    /// The account's effective rights (its own entry and `anyone`).
    pub rights: Rights,
    /// Whether the account subscribed to it.
    pub subscribed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip_in_canonical_order() {
        let r = Rights::parse("ailr").unwrap();
        assert_eq!(r.to_string(), "lria");
        assert_eq!(Rights::ALL.to_string(), "lrswipkxtea");
        assert_eq!(Rights::parse(&Rights::ALL.to_string()), Ok(Rights::ALL));
        assert_eq!(Rights::parse(""), Ok(Rights::NONE));
    }

    #[test]
    fn obsolete_rights_expand() {
        assert_eq!(Rights::parse("c").unwrap().to_string(), "kx");
        assert_eq!(Rights::parse("d").unwrap().to_string(), "te");
        assert_eq!(Rights::parse("lrz"), Err('z'));
    }

    #[test]
    fn set_operations() {
        let lr = Rights::LOOKUP.union(Rights::READ);
        assert!(lr.contains(Rights::READ));
        assert!(!lr.contains(Rights::READ.union(Rights::WRITE)));
        assert!(lr.intersects(Rights::READ.union(Rights::WRITE)));
        assert_eq!(lr.difference(Rights::READ), Rights::LOOKUP);
        assert_eq!(Rights::from_bits(u16::MAX), Rights::ALL);
    }
}
