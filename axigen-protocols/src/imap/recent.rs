//! `\Recent` (RFC 3501 2.3.2): a message is recent in exactly one session,
//! the first read-write session to see it, which reports `* n RECENT` and
//! shows `\Recent` in its FLAGS; later sessions see it as not recent.
//! IMAP4rev2 dropped the flag (RFC 9051 Appendix E), so only sessions that
//! did not enable it get any of this.
//!
//! The [`RecentTracker`] is shared by the IMAP listeners of a server: per
//! folder it keeps the first UID no session has claimed yet. A read-write
//! SELECT, and each new message a read-write session notices, moves it
//! forward. EXAMINE and STATUS count what is unclaimed without claiming it.
//!
//! The tracker lives in memory. A folder is tracked from the first time a
//! session looks at it or adds to it after the server started; messages
//! already there then count as recent only if they arrived while the server
//! was running (their INTERNALDATE is not older than its start), so a
//! restart does not make a whole mailbox recent again. A message delivered
//! before a restart and not yet seen by any session is no longer recent
//! after it: a small loss for a flag that IMAP4rev2 removed.

use std::collections::HashMap;
use std::sync::Mutex;

use axigen_core::mailstore::{FolderId, MessageMeta, Uid};
use axigen_core::model::AccountId;

/// The first unclaimed UID of each folder, shared by the sessions.
#[derive(Debug)]
pub struct RecentTracker {
    /// When the tracker was made (unix seconds).
    started: i64,
    folders: Mutex<HashMap<(AccountId, FolderId), u32>>,
}

impl Default for RecentTracker {
    fn default() -> Self {
        RecentTracker::new()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

impl RecentTracker {
    /// A tracker that counts messages arriving from now on as recent.
    pub fn new() -> RecentTracker {
        RecentTracker { started: now(), folders: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(AccountId, FolderId), u32>> {
        // A panic elsewhere while holding the lock leaves a valid map.
        self.folders.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before messages are added to a folder by a session (APPEND, COPY,
    /// MOVE): starts tracking it, so that they count as new whatever their
    /// INTERNALDATE. `uid_next` is the folder's before the addition.
    pub fn touch(&self, account: AccountId, folder: FolderId, uid_next: Uid) {
        self.lock().entry((account, folder)).or_insert(uid_next.0);
    }

    /// The first unclaimed UID, starting to track the folder from its
    /// listing if needed (`messages` in UID order).
    fn first_unclaimed(
        &self,
        map: &mut HashMap<(AccountId, FolderId), u32>,
        key: (AccountId, FolderId),
        messages: &[MessageMeta],
    ) -> u32 {
        *map.entry(key).or_insert_with(|| {
            let last = messages.last().map_or(0, |m| m.uid.0);
            messages.iter().find(|m| m.internal_date >= self.started).map_or(last.saturating_add(1), |m| m.uid.0)
        })
    }

    /// How many of a folder's messages no session has claimed (EXAMINE,
    /// STATUS RECENT).
    pub fn unclaimed(&self, account: AccountId, folder: FolderId, messages: &[MessageMeta]) -> u32 {
        let mut map = self.lock();
        let first = self.first_unclaimed(&mut map, (account, folder), messages);
        let at = messages.partition_point(|m| m.uid.0 < first);
        u32::try_from(messages.len() - at).unwrap_or(u32::MAX)
    }

    /// Claims, for one session, the unclaimed messages among `uids` (the
    /// session's view, ascending); gives those it got. `messages` is the
    /// folder's listing, used only when the folder is not tracked yet.
    pub fn claim(&self, account: AccountId, folder: FolderId, messages: &[MessageMeta], uids: &[Uid]) -> Vec<Uid> {
        let mut map = self.lock();
        let first = self.first_unclaimed(&mut map, (account, folder), messages);
        let Some(last) = uids.last() else { return Vec::new() };
        if last.0 < first {
            return Vec::new();
        }
        map.insert((account, folder), last.0.saturating_add(1));
        let at = uids.partition_point(|u| u.0 < first);
        uids[at..].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axigen_core::mailstore::{BlobId, Flags, ModSeq};

    fn meta(uid: u32, internal_date: i64) -> MessageMeta {
        MessageMeta {
            uid: Uid(uid),
            modseq: ModSeq(1),
            flags: Flags::empty(),
            keywords: vec![],
            internal_date,
            size: 1,
            blob: BlobId([0; 32]),
        }
    }

    #[test]
    fn one_session_claims_each_message() {
        let t = RecentTracker::new();
        let (a, f) = (AccountId(1), FolderId(2));
        // Two old messages, then one that arrived while running.
        let mut list = vec![meta(1, 0), meta(2, 0), meta(3, t.started)];
        assert_eq!(t.unclaimed(a, f, &list), 1);
        let uids: Vec<Uid> = list.iter().map(|m| m.uid).collect();
        assert_eq!(t.claim(a, f, &list, &uids), vec![Uid(3)]);
        // A second session gets nothing; EXAMINE counts nothing.
        assert_eq!(t.claim(a, f, &list, &uids), Vec::<Uid>::new());
        assert_eq!(t.unclaimed(a, f, &list), 0);
        // New mail goes to whoever notices it first.
        list.push(meta(4, 0));
        assert_eq!(t.unclaimed(a, f, &list), 1);
        assert_eq!(t.claim(a, f, &list, &[Uid(1), Uid(2), Uid(3), Uid(4)]), vec![Uid(4)]);
        assert_eq!(t.claim(a, f, &list, &[Uid(1), Uid(2), Uid(3), Uid(4)]), Vec::<Uid>::new());
    }

    #[test]
    fn appended_messages_are_recent_whatever_their_date() {
        let t = RecentTracker::new();
        let (a, f) = (AccountId(1), FolderId(2));
        t.touch(a, f, Uid(1));
        let list = vec![meta(1, 0), meta(2, 0)];
        assert_eq!(t.unclaimed(a, f, &list), 2);
        assert_eq!(t.claim(a, f, &list, &[Uid(1), Uid(2)]), vec![Uid(1), Uid(2)]);
    }
}
