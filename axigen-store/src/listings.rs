//! Folder listings kept ready: the metadata of every message of recently
//! read folders, shared by every reader (IMAP SELECT and FETCH, POP3, the
//! ActiveSync Sync) while the folder is unchanged.
//!
//! A listing is kept under the folder's HIGHESTMODSEQ read *before* the
//! messages were listed. Every change to a folder's messages raises its
//! HIGHESTMODSEQ, so a listing whose MODSEQ equals the folder's current one
//! is exact; a change that lands between the two reads only makes the
//! listing look older than it is, and it is read again next time. Entries
//! are dropped oldest-used first once the listings hold more messages than
//! the budget.

use std::collections::HashMap;
use std::sync::Mutex;

use axigen_core::mailstore::{FolderId, Listing, ModSeq};
use axigen_core::model::AccountId;

#[derive(Debug)]
struct Entry {
    listing: Listing,
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<(AccountId, FolderId), Entry>,
    held: usize,
    clock: u64,
}

/// Listings by folder, within a budget of messages.
#[derive(Debug)]
pub struct ListingCache {
    inner: Mutex<Inner>,
    budget: usize,
}

impl ListingCache {
    /// A cache of at most `budget` messages over all folders; 0 keeps none.
    pub fn new(budget: usize) -> ListingCache {
        ListingCache { inner: Mutex::default(), budget }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The folder's listing if it was kept at exactly `modseq`.
    pub fn get(&self, account: AccountId, folder: FolderId, modseq: ModSeq) -> Option<Listing> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner.entries.get_mut(&(account, folder))?;
        if entry.listing.modseq != modseq {
            return None;
        }
        entry.used = clock;
        Some(entry.listing.clone())
    }

    /// Keeps a listing (read after the folder's HIGHESTMODSEQ was its
    /// `modseq`).
    pub fn insert(&self, account: AccountId, folder: FolderId, listing: Listing) {
        let size = listing.len().max(1);
        if size > self.budget {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        if let Some(old) = inner.entries.remove(&(account, folder)) {
            inner.held -= old.listing.len().max(1);
        }
        while inner.held + size > self.budget {
            let Some(oldest) = inner.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| *k) else { break };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.held -= e.listing.len().max(1);
            }
        }
        inner.entries.insert((account, folder), Entry { listing, used });
        inner.held += size;
    }

    /// Forgets a folder (deleted) or every folder of an account (`None`).
    pub fn forget(&self, account: AccountId, folder: Option<FolderId>) {
        let mut inner = self.lock();
        let before: Vec<(AccountId, FolderId)> =
            inner.entries.keys().filter(|(a, f)| *a == account && folder.is_none_or(|x| x == *f)).copied().collect();
        for key in before {
            if let Some(e) = inner.entries.remove(&key) {
                inner.held -= e.listing.len().max(1);
            }
        }
    }

    /// Messages held over all listings.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.lock().held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axigen_core::mailstore::{BlobId, Flags, MessageMeta, Uid};

    fn listing(n: u32, modseq: u64) -> Listing {
        Listing::new(
            ModSeq(modseq),
            (1..=n)
                .map(|u| MessageMeta {
                    uid: Uid(u),
                    modseq: ModSeq(1),
                    flags: Flags::empty(),
                    keywords: Vec::new(),
                    internal_date: 0,
                    size: 10,
                    blob: BlobId([0; 32]),
                })
                .collect(),
        )
    }

    #[test]
    fn kept_per_modseq_and_evicted_least_recently_used_first() {
        let cache = ListingCache::new(10);
        let (a, f1, f2, f3) = (AccountId(1), FolderId(1), FolderId(2), FolderId(3));
        cache.insert(a, f1, listing(4, 5));
        cache.insert(a, f2, listing(4, 7));
        assert!(cache.get(a, f1, ModSeq(5)).is_some());
        assert!(cache.get(a, f1, ModSeq(6)).is_none(), "a changed folder is read again");
        // f2 is now the least recently used: it goes first.
        cache.insert(a, f3, listing(4, 1));
        assert!(cache.get(a, f2, ModSeq(7)).is_none());
        assert!(cache.get(a, f1, ModSeq(5)).is_some());
        assert_eq!(cache.held(), 8);
        // Replacing an entry does not count it twice.
        cache.insert(a, f3, listing(5, 2));
        assert_eq!(cache.held(), 9);
        // Too large for the budget: not kept.
        cache.insert(a, FolderId(4), listing(11, 1));
        assert!(cache.get(a, FolderId(4), ModSeq(1)).is_none());
        cache.forget(a, None);
        assert_eq!(cache.held(), 0);
    }
}
