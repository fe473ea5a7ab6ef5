//! A memory cache of message headers, for header searches (IMAP `SEARCH
//! SUBJECT`, `FROM`, `HEADER ...`) and header fetches (`BODY.PEEK[HEADER
//! .FIELDS (...)]`, what clients ask to draw a message list).
//!
//! Without it, each of those reads and decompresses every whole message of
//! the folder. Blobs are content-addressed and never change, so an entry is
//! never stale: it is evicted, oldest first, once the cache holds more than
//! its byte budget, and dropped when the store deletes its blob. Entries are
//! copies of the header alone, so a large message does not stay in memory
//! through its header.
//!
//! The same [`BlobCache`] keeps decoded message structures (IMAP FETCH
//! ENVELOPE and BODYSTRUCTURE over a whole mailbox then decode none).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axigen_core::mailstore::BlobId;
use bytes::Bytes;

/// Bytes kept per entry besides the header itself (map and queue slots).
const ENTRY_OVERHEAD: usize = 96;

/// The length of a message's header, up to and including the empty line
/// that ends it (the whole content when there is none).
pub fn header_len(raw: &[u8]) -> usize {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = || raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    crlf.or_else(lf).unwrap_or(raw.len())
}

/// What a cache holds by blob, within a byte budget, oldest out first.
/// Blobs are content-addressed and never change, so an entry is never
/// stale: it is evicted, or dropped when its blob is deleted.
#[derive(Debug)]
pub struct BlobCache<V> {
    inner: Mutex<Inner<V>>,
    budget: usize,
}

#[derive(Debug)]
struct Inner<V> {
    entries: HashMap<BlobId, (V, usize)>,
    order: VecDeque<BlobId>,
    bytes: usize,
}

impl<V: Clone> BlobCache<V> {
    /// A cache of at most `budget` bytes; 0 keeps nothing.
    pub fn new(budget: usize) -> BlobCache<V> {
        BlobCache { inner: Mutex::new(Inner { entries: HashMap::new(), order: VecDeque::new(), bytes: 0 }), budget }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A cached value.
    pub fn get(&self, blob: &BlobId) -> Option<V> {
        self.lock().entries.get(blob).map(|(v, _)| v.clone())
    }

    /// Keeps `value`, which costs `cost` bytes (plus the entry overhead),
    /// evicting the oldest entries to stay in budget. One entry never takes
    /// more than an eighth of the budget.
    pub fn insert(&self, blob: BlobId, value: V, cost: usize) {
        let cost = cost + ENTRY_OVERHEAD;
        if cost > self.budget / 8 {
            return;
        }
        let mut inner = self.lock();
        if inner.entries.contains_key(&blob) {
            return;
        }
        while inner.bytes + cost > self.budget {
            let Some(old) = inner.order.pop_front() else { break };
            if let Some((_, c)) = inner.entries.remove(&old) {
                inner.bytes -= c;
            }
        }
        inner.entries.insert(blob, (value, cost));
        inner.order.push_back(blob);
        inner.bytes += cost;
    }

    /// Drops the entries of deleted blobs.
    pub fn remove(&self, blobs: &[BlobId]) {
        let mut inner = self.lock();
        let mut removed = false;
        for blob in blobs {
            if let Some((_, c)) = inner.entries.remove(blob) {
                inner.bytes -= c;
                removed = true;
            }
        }
        // The queue keeps the ids of removed entries until they come up for
        // eviction; keep it from outgrowing the entries when blobs come and
        // go without the budget ever being reached.
        if removed && inner.order.len() > 2 * inner.entries.len() + 64 {
            let Inner { entries, order, .. } = &mut *inner;
            order.retain(|b| entries.contains_key(b));
        }
    }

    /// Bytes held (values and per-entry overhead).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// The store's caches by blob, which the committer tells of deleted blobs.
#[derive(Debug)]
pub struct BlobCaches {
    pub headers: HeaderCache,
    pub structures: BlobCache<std::sync::Arc<axigen_core::structure::MessageStructure>>,
}

impl BlobCaches {
    /// Forgets what is kept for blobs that were deleted.
    pub fn forget(&self, blobs: &[BlobId]) {
        self.headers.remove(blobs);
        self.structures.remove(blobs);
    }
}

/// Headers by blob.
pub type HeaderCache = BlobCache<Bytes>;

impl HeaderCache {
    /// Keeps the header of `content` (a copy of the header alone, so that a
    /// large message does not stay in memory through its header); returns
    /// it.
    pub fn insert_header(&self, blob: BlobId, content: &[u8]) -> Bytes {
        let header = Bytes::copy_from_slice(&content[..header_len(content)]);
        self.insert(blob, header.clone(), header.len());
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_ends_at_the_empty_line() {
        assert_eq!(header_len(b"A: 1\r\nB: 2\r\n\r\nbody"), 14);
        assert_eq!(header_len(b"A: 1\n\nbody"), 6);
        assert_eq!(header_len(b"A: 1\r\n"), 6);
    }

    #[test]
    fn keeps_headers_within_budget_oldest_out_first() {
        let budget = 16 * (ENTRY_OVERHEAD + 19);
        let cache = HeaderCache::new(budget);
        let content = |n: u8| format!("Subject: m{n:05}\r\n\r\nbody").into_bytes();
        for n in 0..20u8 {
            let h = cache.insert_header(BlobId([n; 32]), &content(n));
            assert_eq!(&h[..], &content(n)[..header_len(&content(n))]);
            assert!(cache.bytes() <= budget);
        }
        assert!(cache.get(&BlobId([3; 32])).is_none(), "the oldest went first");
        assert!(cache.get(&BlobId([4; 32])).is_some());
        assert_eq!(cache.get(&BlobId([19; 32])).unwrap(), Bytes::from_static(b"Subject: m00019\r\n\r\n"));
        // An entry too large for its share of the budget is not kept.
        let big = format!("Subject: {}\r\n\r\n", "x".repeat(1000));
        cache.insert_header(BlobId([99; 32]), big.as_bytes());
        assert!(cache.get(&BlobId([99; 32])).is_none());
        // No budget, no entries.
        let none = HeaderCache::new(0);
        none.insert_header(BlobId([1; 32]), b"A: b\r\n\r\n");
        assert!(none.get(&BlobId([1; 32])).is_none());
    }

    #[test]
    fn deleted_blobs_leave_the_cache_and_its_queue() {
        let cache: BlobCache<u32> = BlobCache::new(1 << 20);
        for round in 0..1000u32 {
            let blob = BlobId([(round % 7) as u8; 32]);
            cache.insert(blob, round, 10);
            assert_eq!(cache.get(&blob), Some(round));
            cache.remove(&[blob]);
            assert_eq!(cache.get(&blob), None);
        }
        assert_eq!(cache.bytes(), 0);
        assert!(cache.lock().order.len() <= 64, "the queue does not grow with blobs that came and went");
    }
}
