//! Request-scoped batching of lookups by id, without a timer and without asking twice.
//!
//! A lookup queues its key and waits on the key's slot; the first key of a batch also starts a
//! sender task that sends the queue once the request is *idle*: not being polled and not woken,
//! so every lookup the request could still make without an answer from the database has
//! joined. The request's future is wrapped by [`Passes::count`], which tracks exactly that.
//! Where nothing tracks the request (a subscription's events, unit tests), the sender yields
//! once and sends. A key already in flight joins that batch instead of being queued again, and
//! with caching on a key answered once is answered from memory for the rest of the request.
//! Values are shared (`Arc`). Waiters wait on `futures_channel` oneshots, which (unlike tokio's)
//! do not spend tokio's cooperative budget: a thousand answered lookups would otherwise force a
//! thousand-field request to yield, and every pass re-polls its pending fields.
//!
//! Why not a timer (async-graphql's loader waits 1 ms): under load a thousand lookups take
//! longer than the window, so half a level went out in one `$in` and the rest (the same ids
//! again, not yet answered) in a second. Why not yielding inside the request until lookups stop
//! coming (the `dataloader` crate yields a fixed number of times per caller): every pass of a
//! request re-polls its pending fields, thousands of futures, and that cost more CPU than the
//! batching saved. The sender runs in a task of its own, so a request dropped mid-way leaves
//! no slot that nothing will answer.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bson::oid::ObjectId;
use futures_channel::oneshot;
use futures_util::task::{waker, ArcWake, AtomicWaker};
use tokio::sync::Notify;

use crate::error::{ApiError, ApiResult};

/// Keys sent in one batch at most; a fuller queue goes out at once.
pub const MAX_BATCH: usize = 1_000;

/// One batch lookup: values by id, for the ids asked (ids with no value are simply absent).
pub trait Batch: Send + Sync + 'static {
    /// What one id loads to.
    type Value: Send + Sync + 'static;

    /// Loads the values of `keys` (distinct).
    fn load(
        &self,
        keys: &[ObjectId],
    ) -> impl Future<Output = ApiResult<HashMap<ObjectId, Self::Value>>> + Send;
}

/// What a lookup gives: the shared value, nothing (no such id), or its batch's error.
pub type Loaded<V> = Result<Option<Arc<V>>, ApiError>;

/// How long a loader keeps what it read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Caching {
    /// Until the request ends (queries and mutations).
    Request,
    /// Not at all (subscription streams, whose events are resolved one after another): only
    /// lookups in flight together share an answer.
    None,
}

/// Whether one request is idle (see the module doc), shared by its loaders and the wrapper
/// around its future.
#[derive(Clone, Default)]
pub struct Passes(Arc<PassState>);

#[derive(Default)]
struct PassState {
    /// The request's future is wrapped ([`Passes::count`]) and has been polled.
    tracked: AtomicBool,
    /// Inside a poll of the request's future.
    polling: AtomicBool,
    /// Woken since its last poll began: another poll is coming.
    woken: AtomicBool,
    /// The request's future finished or was dropped.
    ended: AtomicBool,
    /// Polls of the request's future so far.
    polls: AtomicUsize,
    /// The request's own waker, called through ours.
    waker: AtomicWaker,
    /// Told after every poll and at the end.
    changed: Notify,
}

impl ArcWake for PassState {
    fn wake_by_ref(state: &Arc<Self>) {
        state.woken.store(true, Ordering::SeqCst);
        state.waker.wake();
    }
}

impl PassState {
    fn idle(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
            || (!self.polling.load(Ordering::SeqCst) && !self.woken.load(Ordering::SeqCst))
    }
}

impl Passes {
    /// Wraps the request's future so that its loaders know when it is idle.
    pub fn count<F: Future>(&self, request: F) -> Counted<F> {
        let state = self.0.clone();
        Counted {
            request: Box::pin(request),
            waker: waker(state.clone()),
            state,
        }
    }

    /// Waits until the request is idle (or, where nothing tracks it, lets it run once).
    async fn until_idle(&self) {
        let state = &self.0;
        if !state.tracked.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
            return;
        }
        loop {
            let changed = state.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if state.idle() {
                // Idle twice, with no poll between: a wake the request's worker defers to the
                // end of its poll (tokio's cooperative budget does) has landed by then.
                let polls = state.polls.load(Ordering::SeqCst);
                tokio::task::yield_now().await;
                if state.idle() && state.polls.load(Ordering::SeqCst) == polls {
                    return;
                }
                continue;
            }
            changed.await;
        }
    }
}

/// A request's future, tracked for its loaders ([`Passes::count`]).
pub struct Counted<F: Future> {
    request: Pin<Box<F>>,
    waker: Waker,
    state: Arc<PassState>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let state = this.state.clone();
        state.waker.register(cx.waker());
        state.tracked.store(true, Ordering::SeqCst);
        state.polling.store(true, Ordering::SeqCst);
        state.woken.store(false, Ordering::SeqCst);
        let polled = this
            .request
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker));
        if polled.is_ready() {
            state.ended.store(true, Ordering::SeqCst);
        }
        state.polls.fetch_add(1, Ordering::SeqCst);
        state.polling.store(false, Ordering::SeqCst);
        state.changed.notify_waiters();
        polled
    }
}

impl<F: Future> Drop for Counted<F> {
    fn drop(&mut self) {
        self.state.ended.store(true, Ordering::SeqCst);
        self.state.changed.notify_waiters();
    }
}

enum Slot<V> {
    /// Queued or in flight: who waits for it.
    Waiting(Vec<oneshot::Sender<Loaded<V>>>),
    /// Answered (kept only with [`Caching::Request`]).
    Ready(Loaded<V>),
}

struct State<V> {
    slots: HashMap<ObjectId, Slot<V>>,
    queued: Vec<ObjectId>,
    led: bool,
}

struct Inner<B: Batch> {
    batch: B,
    caching: Caching,
    passes: Passes,
    state: Mutex<State<B::Value>>,
}

impl<B: Batch> Inner<B> {
    fn state(&self) -> MutexGuard<'_, State<B::Value>> {
        // A panic while holding the lock leaves plain maps behind, still consistent enough to
        // answer (at worst a waiter is told the lookup was abandoned).
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Sends `keys` in a task of its own and answers their waiters.
    fn send(self: &Arc<Self>, keys: Vec<ObjectId>) {
        if keys.is_empty() {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            let loaded = inner.batch.load(&keys).await;
            let mut state = inner.state();
            let mut values = loaded;
            for key in keys {
                let answer: Loaded<B::Value> = match &mut values {
                    Ok(values) => Ok(values.remove(&key).map(Arc::new)),
                    Err(error) => Err(error.clone()),
                };
                let waiting = match inner.caching {
                    Caching::Request => state.slots.insert(key, Slot::Ready(answer.clone())),
                    Caching::None => state.slots.remove(&key),
                };
                if let Some(Slot::Waiting(senders)) = waiting {
                    for sender in senders {
                        let _ = sender.send(answer.clone());
                    }
                }
            }
        });
    }

    /// Starts the task that sends the queue once the request is idle.
    fn send_when_idle(self: &Arc<Self>) {
        let inner = self.clone();
        tokio::spawn(async move {
            inner.passes.until_idle().await;
            let keys = {
                let mut state = inner.state();
                state.led = false;
                std::mem::take(&mut state.queued)
            };
            inner.send(keys);
        });
    }
}

/// One request's loader of one kind.
pub struct Loader<B: Batch> {
    inner: Arc<Inner<B>>,
}

impl<B: Batch> Loader<B> {
    /// A loader over `batch` for the request tracked by `passes`.
    pub fn new(batch: B, caching: Caching, passes: Passes) -> Self {
        Loader {
            inner: Arc::new(Inner {
                batch,
                caching,
                passes,
                state: Mutex::new(State {
                    slots: HashMap::new(),
                    queued: Vec::new(),
                    led: false,
                }),
            }),
        }
    }

    /// The value of `key`, batched with every other lookup of the request.
    pub async fn load_one(&self, key: ObjectId) -> Loaded<B::Value> {
        let (sender, receiver) = oneshot::channel();
        let (lead, full) = {
            let mut state = self.inner.state();
            match state.slots.get_mut(&key) {
                Some(Slot::Ready(answer)) => return answer.clone(),
                Some(Slot::Waiting(senders)) => {
                    senders.push(sender);
                    (false, None)
                }
                None => {
                    state.slots.insert(key, Slot::Waiting(vec![sender]));
                    state.queued.push(key);
                    let lead = !state.led;
                    state.led = true;
                    let full = (state.queued.len() >= MAX_BATCH)
                        .then(|| std::mem::take(&mut state.queued));
                    (lead, full)
                }
            }
        };
        if let Some(keys) = full {
            self.inner.send(keys);
        }
        if lead {
            self.inner.send_when_idle();
        }
        receiver
            .await
            .unwrap_or_else(|_| Err(ApiError::Internal("a batched lookup was abandoned".into())))
    }

    /// Remembers `values` as already read (nothing, where the loader does not cache). A key
    /// already queued or in flight keeps its batch's answer.
    pub fn feed_many(&self, values: Vec<(ObjectId, B::Value)>) {
        if self.inner.caching != Caching::Request {
            return;
        }
        let mut state = self.inner.state();
        for (key, value) in values {
            if !matches!(state.slots.get(&key), Some(Slot::Waiting(_))) {
                state
                    .slots
                    .insert(key, Slot::Ready(Ok(Some(Arc::new(value)))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures_util::future::join_all;

    /// Answers each key with its hex, records every batch it was sent, and fails when asked for
    /// `failing`.
    struct Recording {
        batches: Batches,
        failing: Option<ObjectId>,
    }

    impl Batch for Recording {
        type Value = String;

        async fn load(&self, keys: &[ObjectId]) -> ApiResult<HashMap<ObjectId, String>> {
            self.batches.lock().expect("lock").push(keys.to_vec());
            tokio::task::yield_now().await;
            if self.failing.is_some_and(|failing| keys.contains(&failing)) {
                return Err(ApiError::Internal("the batch failed".into()));
            }
            Ok(keys.iter().map(|key| (*key, key.to_hex())).collect())
        }
    }

    /// Every batch a [`Recording`] was sent.
    type Batches = Arc<Mutex<Vec<Vec<ObjectId>>>>;

    fn loader(caching: Caching) -> (Loader<Recording>, Batches) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let loader = Loader::new(
            Recording {
                batches: batches.clone(),
                failing: None,
            },
            caching,
            Passes::default(),
        );
        (loader, batches)
    }

    #[tokio::test]
    async fn siblings_share_one_batch_and_each_key_is_asked_once() {
        let (loader, batches) = loader(Caching::Request);
        let keys: Vec<ObjectId> = (0..10).map(|_| ObjectId::new()).collect();
        // A thousand lookups of ten keys, as a thousand submissions name ten testers.
        let lookups = (0..1_000).map(|n| loader.load_one(keys[n % 10]));
        let answers = join_all(lookups).await;
        for (n, answer) in answers.into_iter().enumerate() {
            let value = answer.expect("loaded").expect("found");
            assert_eq!(*value, keys[n % 10].to_hex());
        }
        let batches = batches.lock().expect("lock").clone();
        assert_eq!(batches.len(), 1, "one batch: {batches:?}");
        assert_eq!(batches[0].len(), 10, "each key once");
        // Answered from memory afterwards.
        loader.load_one(keys[3]).await.expect("cached");
        assert_eq!(batches.len(), 1);
    }

    #[tokio::test]
    async fn lookups_that_arrive_over_several_passes_of_a_busy_request_join_one_batch() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let passes = Passes::default();
        let loader = Loader::new(
            Recording {
                batches: batches.clone(),
                failing: None,
            },
            Caching::Request,
            passes.clone(),
        );
        let keys: Vec<ObjectId> = (0..50).map(|_| ObjectId::new()).collect();
        // Each lookup starts after its own number of passes (a chain of awaits before it): the
        // request is never idle until the last has joined.
        let lookups = keys.iter().enumerate().map(|(n, key)| {
            let loader = &loader;
            async move {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
                loader.load_one(*key).await
            }
        });
        let answers = passes.count(join_all(lookups)).await;
        assert!(answers.iter().all(|answer| answer.is_ok()));
        let batches = batches.lock().expect("lock").clone();
        assert_eq!(batches.len(), 1, "{} batches", batches.len());
        assert_eq!(batches[0].len(), 50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_on_a_busy_runtime_still_sends_each_level_once() {
        // Three levels of a hundred lookups, each level started by the answers of the one
        // before, as a nested query's are; other work keeps the runtime's threads busy.
        let batches = Arc::new(Mutex::new(Vec::new()));
        let passes = Passes::default();
        let loader = Arc::new(Loader::new(
            Recording {
                batches: batches.clone(),
                failing: None,
            },
            Caching::Request,
            passes.clone(),
        ));
        let noise: Vec<_> = (0..4)
            .map(|_| {
                tokio::spawn(async {
                    for _ in 0..20_000 {
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        let levels: Vec<Vec<ObjectId>> = (0..3)
            .map(|_| (0..100).map(|_| ObjectId::new()).collect())
            .collect();
        let request = {
            let loader = loader.clone();
            let levels = levels.clone();
            async move {
                let first = join_all(levels[0].iter().map(|key| loader.load_one(*key))).await;
                let child_key = levels[2][0];
                let second = join_all(first.iter().zip(&levels[1]).map(|(_, key)| {
                    let loader = loader.clone();
                    async move {
                        let parent = loader.load_one(*key).await;
                        let child = loader.load_one(child_key).await;
                        (parent, child)
                    }
                }))
                .await;
                second
                    .into_iter()
                    .all(|(parent, child)| parent.is_ok() && child.is_ok())
            }
        };
        assert!(passes.count(request).await);
        let sizes: Vec<usize> = batches.lock().expect("lock").iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![100, 100, 1], "one batch per level");
        // The wrapper has ended: a lookup now still gets its answer.
        assert!(loader.load_one(ObjectId::new()).await.is_ok());
        for task in noise {
            task.await.expect("noise");
        }
    }

    #[tokio::test]
    async fn a_key_in_flight_is_not_asked_again_and_without_caching_nothing_is_kept() {
        let (loader, batches) = loader(Caching::None);
        let key = ObjectId::new();
        let (first, second) = tokio::join!(loader.load_one(key), async {
            // Joins while the first batch is queued or in flight.
            tokio::task::yield_now().await;
            loader.load_one(key).await
        });
        assert_eq!(first.expect("first"), second.expect("second"));
        assert_eq!(batches.lock().expect("lock").len(), 1);
        // Nothing remembered: a later lookup asks again.
        loader.load_one(key).await.expect("again");
        assert_eq!(batches.lock().expect("lock").len(), 2);
        // And fed values are not kept either.
        loader.feed_many(vec![(key, "fed".into())]);
        assert_ne!(
            *loader.load_one(key).await.expect("fresh").expect("found"),
            "fed"
        );
    }

    #[tokio::test]
    async fn a_failed_batch_fails_every_lookup_in_it_and_fed_values_need_no_batch() {
        let failing = ObjectId::new();
        let batches = Arc::new(Mutex::new(Vec::new()));
        let loader = Loader::new(
            Recording {
                batches: batches.clone(),
                failing: Some(failing),
            },
            Caching::Request,
            Passes::default(),
        );
        let other = ObjectId::new();
        let (a, b) = tokio::join!(loader.load_one(failing), loader.load_one(other));
        assert!(a.is_err() && b.is_err(), "one batch, one error for both");
        let fed = ObjectId::new();
        loader.feed_many(vec![(fed, "fed".into())]);
        assert_eq!(
            *loader.load_one(fed).await.expect("fed").expect("found"),
            "fed"
        );
        assert_eq!(batches.lock().expect("lock").len(), 1);
    }

    #[tokio::test]
    async fn lookups_dropped_before_their_batch_went_out_leave_no_slot_unanswered() {
        let (loader, batches) = loader(Caching::Request);
        let (led, waiting) = (ObjectId::new(), ObjectId::new());
        {
            // Both lookups are polled once (they queue their keys, the first starts the
            // sender) and dropped with their request.
            let leader = loader.load_one(led);
            futures_util::pin_mut!(leader);
            assert!(futures_util::poll!(leader.as_mut()).is_pending());
            let follower = loader.load_one(waiting);
            futures_util::pin_mut!(follower);
            assert!(futures_util::poll!(follower.as_mut()).is_pending());
        }
        // The sender still sends both; a new lookup of a key is answered from that batch.
        let answer = loader.load_one(waiting).await.expect("answered");
        assert_eq!(*answer.expect("found"), waiting.to_hex());
        assert_eq!(batches.lock().expect("lock").len(), 1);
    }

    #[tokio::test]
    async fn a_full_queue_goes_out_at_once() {
        let (loader, batches) = loader(Caching::Request);
        let keys: Vec<ObjectId> = (0..MAX_BATCH + 5).map(|_| ObjectId::new()).collect();
        let answers = join_all(keys.iter().map(|key| loader.load_one(*key))).await;
        assert!(answers.iter().all(|answer| answer.is_ok()));
        let sizes: Vec<usize> = batches.lock().expect("lock").iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![MAX_BATCH, 5]);
    }
}
