//! Turns for writers of one hot document. Transactions that write the same document conflict
//! (MongoDB reports `WriteConflict` to all but the first), and a loser runs again from its
//! first read: with a few writers in flight on one job's escrow, most of the work done is work
//! thrown away, and more so the longer each attempt is. [`HotKeys`] lets the writers of one key
//! within this process wait their turn instead, so each attempt runs once. It is only an
//! optimization: correctness still rests on the database (another process, or a writer that
//! does not take a turn, is still caught by the conflict and retried).
//!
//! Keys share a fixed number of stripes, so memory is bounded whatever the keys; two keys on one
//! stripe merely wait for each other. A holder must not take a second turn while it holds one.

use std::hash::{BuildHasher, Hash, RandomState};

use tokio::sync::{Mutex, MutexGuard};

/// How many stripes the keys share: enough that unrelated jobs rarely wait on each other.
const STRIPES: usize = 256;

/// Per-key turns for the writers of hot documents (see the module's documentation).
pub struct HotKeys {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

impl Default for HotKeys {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl HotKeys {
    /// Waits for the turn of `key`; the turn ends when the returned guard is dropped. Waiters
    /// are served in the order they arrived.
    pub async fn turn<K: Hash>(&self, key: &K) -> MutexGuard<'_, ()> {
        self.stripes[self.stripe(key)].lock().await
    }

    fn stripe<K: Hash>(&self, key: &K) -> usize {
        (self.hasher.hash_one(key) as usize) % self.stripes.len()
    }
}

impl std::fmt::Debug for HotKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HotKeys")
            .field("stripes", &self.stripes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn holders_of_one_key_take_turns_and_other_keys_do_not_wait_for_them() {
        let keys = Arc::new(HotKeys::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (keys, inside, most) = (keys.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = keys.turn(&"job").await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);

        // A held key leaves some other key free (at most one in 256 shares its stripe).
        let held = keys.turn(&"job").await;
        let other = (0..8)
            .map(|n| format!("other {n}"))
            .find(|other| keys.stripe(other) != keys.stripe(&"job"))
            .expect("a key on another stripe");
        assert!(keys.stripes[keys.stripe(&"job")].try_lock().is_err());
        assert!(keys.stripes[keys.stripe(&other)].try_lock().is_ok());
        drop(held);
        assert!(keys.stripes[keys.stripe(&"job")].try_lock().is_ok());
    }
}
