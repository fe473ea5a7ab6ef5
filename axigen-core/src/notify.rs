//! Wakes sessions waiting for changes (IMAP IDLE, ActiveSync Ping).
//!
//! Each account has a `watch` channel carrying its latest MODSEQ. A waiter
//! holds a receiver and, when woken, reads "changes since" from the store; a
//! burst of changes therefore costs one wake-up, and an idle account costs no
//! memory once its last waiter has gone. Stores call [`ChangeNotifier::notify`]
//! only after the change is durable.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::mailstore::ModSeq;
use crate::model::AccountId;

/// Per-account change signal.
#[derive(Debug, Default)]
pub struct ChangeNotifier {
    channels: Mutex<HashMap<AccountId, watch::Sender<ModSeq>>>,
}

impl ChangeNotifier {
    /// A notifier with no waiters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a waiter for an account. `changed().await` on the receiver
    /// resolves after the next [`ChangeNotifier::notify`] for that account.
    pub fn subscribe(&self, account: AccountId) -> watch::Receiver<ModSeq> {
        let mut map = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(account).or_insert_with(|| watch::channel(ModSeq(0)).0).subscribe()
    }

    /// Announces that the account changed up to `modseq`.
    pub fn notify(&self, account: AccountId, modseq: ModSeq) {
        let mut map = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.get(&account) {
            if tx.receiver_count() == 0 {
                map.remove(&account);
            } else {
                tx.send_replace(modseq);
            }
        }
    }

    /// Number of accounts with at least one channel (for metrics and tests).
    pub fn watched_accounts(&self) -> usize {
        let map = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        map.values().filter(|tx| tx.receiver_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiter_is_woken_by_its_account_only() {
        let n = ChangeNotifier::new();
        let mut a = n.subscribe(AccountId(1));
        let mut b = n.subscribe(AccountId(2));
        n.notify(AccountId(1), ModSeq(7));
        tokio::time::timeout(Duration::from_secs(1), a.changed()).await.unwrap().unwrap();
        assert_eq!(*a.borrow(), ModSeq(7));
        assert!(tokio::time::timeout(Duration::from_millis(50), b.changed()).await.is_err());
        drop(a);
        drop(b);
        n.notify(AccountId(1), ModSeq(8));
        assert_eq!(n.watched_accounts(), 0);
    }
}
