//! Per-request batching: every key a request's resolvers ask one loader for
//! during one executor poll goes out in one [`Loader::load`] call.
//!
//! The loaders implement [`Loader`], the shape of async-graphql's
//! `dataloader::Loader` (the one every async-graphql user knows) except
//! that the answer is a foldhash map: async-graphql's trait returns a std
//! `HashMap`, whose SipHash was 1 % of a dashboard request's instructions
//! in callgrind, for maps of a handful of ids. [`Batcher`] replaces its
//! `DataLoader`, which the same profile showed doing far more work than
//! batching needs: per load a SipHash of the key into a per-request set, a
//! map of senders keyed by a request id, a boxed batch future, and a second
//! hash map built to answer each caller. Here a batch is one `Vec` of keys
//! and one `Vec` of waiters behind a mutex; the loaded map is shared by
//! every waiter through an `Arc` (values are cheap clones: `Arc`s of
//! upstream answers), and keys are de-duplicated once per batch with
//! foldhash.
//!
//! When a batch closes is [`tick`](super::tick)'s business: the first key
//! of a batch spawns its task, which waits until the request's executor
//! has run out of work (every key that poll could enqueue is in), takes the
//! queue and loads it. Keys enqueued after that start the next batch.
//!
//! A batch task runs detached from the resolvers that wait on it, so the
//! tasks are registered in [`BatchScope`] and aborted when the request's
//! loaders drop (a client that disconnects stops the fan-out). A waiter
//! whose batch vanished (aborted, or its loader panicked) gets
//! [`UpstreamError::Unreachable`] rather than waiting forever.

use std::{
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::{sync::oneshot, task::AbortHandle};

use super::{
    support::LoadError,
    tick::Tick,
    upstream::{Fetched, UpstreamError},
};
use crate::{context::RequestContext, FastMap};

/// What a loader answers a batch of keys with: the value of every key the
/// service knows (unknown keys are absent).
pub type LoadedMap<K, V> = FastMap<K, V>;

/// Loads many keys of one kind in one go: what a service module implements
/// for [`Batcher`] to batch.
pub trait Loader<K: Send + Sync + Hash + Eq + Clone + 'static>: Send + Sync + 'static {
    /// What one key loads to (cloned for every waiter: keep it an `Arc`).
    type Value: Send + Sync + Clone + 'static;

    /// The values of `keys` (de-duplicated, in no particular order).
    fn load(
        &self,
        keys: &[K],
    ) -> impl Future<Output = Result<LoadedMap<K, Self::Value>, LoadError>> + Send;
}

/// A service that answers many items by key in one call (`GET
/// /products?ids=`, `GET /shipments?orderIds=`): implementing this makes
/// [`ByKey`] its batch loader.
pub trait BatchByKey: Send + Sync + 'static {
    /// One item of the answer.
    type Item: Send + Sync + 'static;

    /// The key an item answers for (its id, or a shipment's order id).
    fn key(item: &Self::Item) -> &str;

    /// The items of `keys` (unknown keys are simply absent).
    fn fetch(
        &self,
        ctx: &RequestContext,
        keys: &[String],
    ) -> impl Future<Output = Result<Fetched<Vec<Arc<Self::Item>>>, UpstreamError>> + Send;
}

/// The per-request batch loader of a [`BatchByKey`] service: every key one
/// batch collects goes out in one call (100 a call), each item answering
/// the key it carries; a failed call fails every key it carried.
pub struct ByKey<S> {
    /// The request whose caller and deadline every call carries.
    pub ctx: Arc<RequestContext>,
    /// The service client.
    pub service: S,
}

impl<S: BatchByKey> Loader<String> for ByKey<S> {
    type Value = Fetched<Arc<S::Item>>;

    async fn load(&self, keys: &[String]) -> Result<LoadedMap<String, Self::Value>, LoadError> {
        let fetched = self
            .service
            .fetch(&self.ctx, keys)
            .await
            .map_err(Arc::new)?;
        let stale = fetched.stale;
        Ok(fetched
            .value
            .into_iter()
            .map(|value| (S::key(&value).to_string(), Fetched { value, stale }))
            .collect())
    }
}

/// What one batch answers every key it carried with.
type Loaded<K, V> = Result<Arc<LoadedMap<K, V>>, LoadError>;

/// Where a request's batch tasks run: after its executor's poll ends
/// ([`Tick`]), inside its span, and registered for abort.
#[derive(Debug)]
pub struct BatchScope {
    span: tracing::Span,
    tick: Arc<Tick>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl BatchScope {
    /// A scope for the current request (its span is the current one).
    pub fn new(tick: Arc<Tick>) -> Self {
        Self {
            span: tracing::Span::current(),
            tick,
            tasks: Mutex::default(),
        }
    }

    /// Spawns `batch` to run once the executor poll that spawned it ends.
    fn spawn(&self, batch: impl Future<Output = ()> + Send + 'static) {
        use tracing::Instrument;
        let tick = self.tick.clone();
        let spawned_in = tick.epoch();
        let task = async move {
            tick.passed(spawned_in).await;
            batch.await;
        };
        let task = tokio::spawn(task.instrument(self.span.clone()));
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task.abort_handle());
    }

    /// Aborts every batch still running (the request went away).
    pub fn abort_all(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (every critical section here is a push or a take).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The keys and waiters of the batch being collected.
struct Queue<K, V> {
    keys: Vec<K>,
    waiting: Vec<oneshot::Sender<Loaded<K, V>>>,
}

struct Shared<K: Send + Sync + Hash + Eq + Clone + 'static, L: Loader<K>> {
    loader: L,
    service: &'static str,
    scope: Arc<BatchScope>,
    queue: Mutex<Queue<K, L::Value>>,
}

/// One loader's batches for one request.
pub struct Batcher<K: Send + Sync + Hash + Eq + Clone + 'static, L: Loader<K>> {
    shared: Arc<Shared<K, L>>,
}

impl<K, L> Batcher<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
{
    /// A batcher of `loader` (calls to `service`) running its batches in
    /// `scope`.
    pub fn new(loader: L, service: &'static str, scope: Arc<BatchScope>) -> Self {
        Self {
            shared: Arc::new(Shared {
                loader,
                service,
                scope,
                queue: Mutex::new(Queue {
                    keys: Vec::new(),
                    waiting: Vec::new(),
                }),
            }),
        }
    }

    /// The value of `key`, loaded with every other key of this poll; `None`
    /// when the service does not know it.
    pub async fn load_one(&self, key: K) -> Result<Option<L::Value>, LoadError> {
        let probe = key.clone();
        let loaded = self.load(std::iter::once(key)).await?;
        Ok(loaded.get(&probe).cloned())
    }

    /// The values of `keys` (unknown keys absent), loaded with every other
    /// key of this poll.
    pub async fn load_many(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Arc<LoadedMap<K, L::Value>>, LoadError> {
        let mut keys = keys.into_iter().peekable();
        if keys.peek().is_none() {
            return Ok(Arc::default());
        }
        self.load(keys).await
    }

    async fn load(&self, keys: impl Iterator<Item = K>) -> Loaded<K, L::Value> {
        let (tx, rx) = oneshot::channel();
        let opens_batch = {
            let mut queue = lock(&self.shared.queue);
            queue.keys.extend(keys);
            queue.waiting.push(tx);
            queue.waiting.len() == 1
        };
        if opens_batch {
            let batch = OpenBatch(Some(self.shared.clone()));
            self.shared.scope.spawn(batch.run());
        }
        rx.await.unwrap_or_else(|_| {
            Err(Arc::new(UpstreamError::Unreachable {
                service: self.shared.service,
            }))
        })
    }
}

/// A spawned batch that has not taken its queue yet. Dropped unrun (its
/// task aborted before the tick passed) it drops the queued waiters, which
/// then answer `Unreachable`, and leaves an empty queue, so the next key
/// opens a new batch instead of joining one nobody will load.
struct OpenBatch<K, L>(Option<Arc<Shared<K, L>>>)
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>;

impl<K, L> OpenBatch<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
{
    async fn run(mut self) {
        if let Some(shared) = self.0.take() {
            shared.run().await;
        }
    }
}

impl<K, L> Drop for OpenBatch<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
{
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            let mut queue = lock(&shared.queue);
            queue.keys.clear();
            queue.waiting.clear();
        }
    }
}

impl<K, L> Shared<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
{
    /// Loads the collected batch and answers every waiter.
    async fn run(&self) {
        let (keys, waiting) = {
            let mut queue = lock(&self.queue);
            (
                std::mem::take(&mut queue.keys),
                std::mem::take(&mut queue.waiting),
            )
        };
        let unique: foldhash::HashSet<K> = keys.into_iter().collect();
        let unique: Vec<K> = unique.into_iter().collect();
        let loaded = self.loader.load(&unique).await.map(Arc::new);
        for waiter in waiting {
            // A waiter that went away (its resolver was cancelled) is fine.
            let _ = waiter.send(loaded.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Default)]
    struct Counts {
        calls: AtomicUsize,
        keys: AtomicUsize,
    }

    /// Answers every non-empty key with its length, counting calls and keys.
    #[derive(Clone, Default)]
    struct Lengths {
        counts: Arc<Counts>,
        fail: bool,
    }

    impl Lengths {
        fn calls(&self) -> usize {
            self.counts.calls.load(Ordering::SeqCst)
        }
    }

    impl Loader<String> for Lengths {
        type Value = usize;

        async fn load(&self, keys: &[String]) -> Result<LoadedMap<String, usize>, LoadError> {
            self.counts.calls.fetch_add(1, Ordering::SeqCst);
            self.counts.keys.fetch_add(keys.len(), Ordering::SeqCst);
            if self.fail {
                return Err(Arc::new(UpstreamError::Timeout { service: "lengths" }));
            }
            Ok(keys
                .iter()
                .filter(|k| !k.is_empty())
                .map(|k| (k.clone(), k.len()))
                .collect())
        }
    }

    fn batcher(loader: &Lengths) -> Batcher<String, Lengths> {
        let scope = Arc::new(BatchScope::new(Arc::new(Tick::default())));
        Batcher::new(loader.clone(), "lengths", scope)
    }

    #[tokio::test]
    async fn keys_asked_together_go_out_in_one_deduplicated_call() {
        let loader = Lengths::default();
        let batcher = batcher(&loader);
        let (a, b, many, missing) = tokio::join!(
            batcher.load_one("a".to_string()),
            batcher.load_one("bb".to_string()),
            batcher.load_many(["a".to_string(), "ccc".to_string()]),
            batcher.load_one(String::new()),
        );
        assert_eq!(a.unwrap(), Some(1));
        assert_eq!(b.unwrap(), Some(2));
        assert_eq!(many.unwrap().get("ccc"), Some(&3));
        assert_eq!(missing.unwrap(), None);
        assert_eq!(loader.calls(), 1);
        assert_eq!(
            loader.counts.keys.load(Ordering::SeqCst),
            4,
            "a, bb, ccc, \"\""
        );
        // The next poll's keys are the next batch.
        assert_eq!(batcher.load_one("dddd".to_string()).await.unwrap(), Some(4));
        assert_eq!(loader.calls(), 2);
    }

    #[tokio::test]
    async fn an_empty_load_many_calls_nothing() {
        let loader = Lengths::default();
        let found = batcher(&loader).load_many(Vec::new()).await.unwrap();
        assert!(found.is_empty());
        assert_eq!(loader.calls(), 0);
    }

    #[tokio::test]
    async fn a_failed_batch_fails_every_waiter() {
        let loader = Lengths {
            fail: true,
            ..Lengths::default()
        };
        let batcher = batcher(&loader);
        let (a, b) = tokio::join!(
            batcher.load_one("a".to_string()),
            batcher.load_one("b".to_string())
        );
        for result in [a, b] {
            assert!(matches!(
                *result.unwrap_err(),
                UpstreamError::Timeout { .. }
            ));
        }
        assert_eq!(loader.calls(), 1);
    }

    #[tokio::test]
    async fn an_aborted_batch_answers_unreachable_instead_of_hanging() {
        let loader = Lengths::default();
        let batcher = batcher(&loader);
        let waiting = batcher.load_one("a".to_string());
        tokio::pin!(waiting);
        // Enqueue (and spawn the batch), then abort it before it runs.
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        batcher.shared.scope.abort_all();
        let error = waiting.await.unwrap_err();
        assert!(matches!(
            *error,
            UpstreamError::Unreachable { service: "lengths" }
        ));
        assert_eq!(loader.calls(), 0);
        // The queue was emptied: the next key opens (and loads) a batch.
        assert_eq!(batcher.load_one("bb".to_string()).await.unwrap(), Some(2));
        assert_eq!(loader.calls(), 1);
    }
}
