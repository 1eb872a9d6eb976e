//! In-memory fan-out by key: the subscribers of one process registered under a key (a user, a
//! job) and the dispatch of a change to that key's subscribers. Domain crates feed it from ONE
//! change stream per process each, so the database serves one stream whatever the number of
//! subscribers.
//!
//! Each subscriber has a bounded queue; one that falls behind is dropped (its stream ends) rather
//! than slowing the others or growing without bound, and is expected to resubscribe and catch up
//! from the database.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc;

/// How many changes wait for a slow subscriber before it is dropped.
pub const SUBSCRIBER_QUEUE: usize = 256;

/// One registered subscriber: its number (to unregister it) and its queue.
type Subscriber<V> = (u64, mpsc::Sender<V>);

/// Subscribers by key. Cheap to clone (shared).
#[derive(Debug)]
pub struct Fanout<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Fanout<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> Default for Fanout<K, V> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                subscribers: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
            }),
        }
    }
}

#[derive(Debug)]
struct Inner<K, V> {
    subscribers: Mutex<HashMap<K, Vec<Subscriber<V>>>>,
    next_id: AtomicU64,
}

/// One subscriber's queue; dropping it unregisters it.
#[derive(Debug)]
pub struct Subscription<K: Hash + Eq + Clone, V> {
    receiver: mpsc::Receiver<V>,
    key: K,
    id: u64,
    fanout: Arc<Inner<K, V>>,
}

impl<K: Hash + Eq + Clone, V> Subscription<K, V> {
    /// The next change, or `None` once the subscriber was dropped for falling behind.
    pub async fn next(&mut self) -> Option<V> {
        self.receiver.recv().await
    }

    /// A change already queued, without waiting.
    pub fn try_next(&mut self) -> Option<V> {
        self.receiver.try_recv().ok()
    }
}

impl<K: Hash + Eq + Clone, V> Drop for Subscription<K, V> {
    fn drop(&mut self) {
        let mut subscribers = self.fanout.subscribers.lock();
        if let Some(list) = subscribers.get_mut(&self.key) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                subscribers.remove(&self.key);
            }
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Fanout<K, V> {
    /// Registers a subscriber for `key`'s changes from now on.
    pub fn subscribe(&self, key: K) -> Subscription<K, V> {
        let (sender, receiver) = mpsc::channel(SUBSCRIBER_QUEUE);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner
            .subscribers
            .lock()
            .entry(key.clone())
            .or_default()
            .push((id, sender));
        Subscription {
            receiver,
            key,
            id,
            fanout: self.inner.clone(),
        }
    }

    /// How many subscribers are registered, all keys together.
    pub fn subscriber_count(&self) -> usize {
        self.inner.subscribers.lock().values().map(Vec::len).sum()
    }

    /// Hands `change` to `key`'s subscribers; one whose queue is full is dropped.
    pub fn dispatch(&self, key: &K, change: V) {
        let mut subscribers = self.inner.subscribers.lock();
        let Some(list) = subscribers.get_mut(key) else {
            return;
        };
        list.retain(|(_, sender)| sender.try_send(change.clone()).is_ok());
        if list.is_empty() {
            subscribers.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reaches_only_its_keys_subscribers_and_leaving_unregisters() {
        let fanout: Fanout<u8, &str> = Fanout::default();
        let mut first = fanout.subscribe(1);
        let mut second = fanout.subscribe(1);
        let mut other = fanout.subscribe(2);
        fanout.dispatch(&1, "hello");
        assert_eq!(first.try_next(), Some("hello"));
        assert_eq!(second.try_next(), Some("hello"));
        assert_eq!(other.try_next(), None);
        drop(second);
        assert_eq!(fanout.subscriber_count(), 2);
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_dropped_not_waited_for() {
        let fanout: Fanout<u8, u32> = Fanout::default();
        let mut slow = fanout.subscribe(1);
        for change in 0..=SUBSCRIBER_QUEUE as u32 {
            fanout.dispatch(&1, change);
        }
        assert_eq!(fanout.subscriber_count(), 0);
        let mut received = 0;
        while slow.try_next().is_some() {
            received += 1;
        }
        assert_eq!(received, SUBSCRIBER_QUEUE);
    }
}
