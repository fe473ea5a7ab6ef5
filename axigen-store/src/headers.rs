//! A memory cache of message headers, for header searches (IMAP `SEARCH
//! SUBJECT`, `FROM`, `HEADER ...`) and header fetches (`BODY.PEEK[HEADER
//! .FIELDS (...)]`, what clients ask to draw a message list).
//!
//! Without it, each of those reads and decompresses every whole message of
//! the folder. Blobs are content-addressed and never change, so an entry is
//! never stale: it is only ever evicted, oldest first, once the cache holds
//! more than its byte budget. Entries are copies of the header alone, so a
//! large message does not stay in memory through its header.

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

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<BlobId, Bytes>,
    order: VecDeque<BlobId>,
    bytes: usize,
}

/// Headers by blob, within a byte budget.
#[derive(Debug)]
pub struct HeaderCache {
    inner: Mutex<Inner>,
    budget: usize,
}

impl HeaderCache {
    /// A cache of at most `budget` bytes; 0 keeps nothing.
    pub fn new(budget: usize) -> HeaderCache {
        HeaderCache { inner: Mutex::default(), budget }
    }

    /// A cached header.
    pub fn get(&self, blob: &BlobId) -> Option<Bytes> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.get(blob).cloned()
    }

    /// Keeps the header of `content`, evicting the oldest entries to stay in
    /// budget; returns it.
    pub fn insert(&self, blob: BlobId, content: &[u8]) -> Bytes {
        let header = Bytes::copy_from_slice(&content[..header_len(content)]);
        let cost = header.len() + ENTRY_OVERHEAD;
        if cost > self.budget / 8 {
            // One entry never takes a large share of the budget.
            return header;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.entries.contains_key(&blob) {
            return header;
        }
        while inner.bytes + cost > self.budget {
            let Some(old) = inner.order.pop_front() else { break };
            if let Some(h) = inner.entries.remove(&old) {
                inner.bytes -= h.len() + ENTRY_OVERHEAD;
            }
        }
        inner.entries.insert(blob, header.clone());
        inner.order.push_back(blob);
        inner.bytes += cost;
        header
    }

    /// Bytes held (headers and per-entry overhead).
    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).bytes
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
            let h = cache.insert(BlobId([n; 32]), &content(n));
            assert_eq!(&h[..], &content(n)[..header_len(&content(n))]);
            assert!(cache.bytes() <= budget);
        }
        assert!(cache.get(&BlobId([3; 32])).is_none(), "the oldest went first");
        assert!(cache.get(&BlobId([4; 32])).is_some());
        assert_eq!(cache.get(&BlobId([19; 32])).unwrap(), Bytes::from_static(b"Subject: m00019\r\n\r\n"));
        // An entry too large for its share of the budget is not kept.
        let big = format!("Subject: {}\r\n\r\n", "x".repeat(1000));
        cache.insert(BlobId([99; 32]), big.as_bytes());
        assert!(cache.get(&BlobId([99; 32])).is_none());
        // No budget, no entries.
        let none = HeaderCache::new(0);
        none.insert(BlobId([1; 32]), b"A: b\r\n\r\n");
        assert!(none.get(&BlobId([1; 32])).is_none());
    }
}
