use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use super::KeyStore;
use crate::{KeyId, Secret, StoreError, StoreFuture};

/// Remembers, for a while, which key ids a [`KeyStore`] does not know, so
/// that requests claiming them do not each cost a lookup.
///
/// Every request makes the layer look up the key id it claims, before
/// anything else about it can be trusted. For a store backed by a database
/// or a secrets manager, a client repeating an unknown key id (forged
/// requests, a misconfigured client, a key already removed) costs one query
/// per request. Wrapped in a `NegativeCache`, only the first lookup of an
/// unknown id reaches the store; the answer "no such key" is then given from
/// memory for [`ttl`](Self::ttl).
///
/// - **Hits pass through**: a known key is looked up in the store every
///   time, so revoking one takes effect at once.
/// - **Errors are never cached**: a store that fails is asked again next time.
/// - **Misses are cached for `ttl`** (default 10 s): a key added to the
///   store is refused for up to `ttl` to a client that claimed its id
///   before it was added. Keep it short.
/// - **Bounded memory**: at most [`capacity`](Self::capacity) ids (default
///   10,000). When full, the oldest entries make room (they are looked up
///   again next time, nothing worse). Each entry holds the key id twice (up
///   to 64 bytes each) and its expiry: about 200 bytes with the hash table's
///   overhead, so the default capacity takes about 2 MB at most, whatever
///   clients send.
///
/// It helps against repeated ids only: a client that invents a new key id
/// for every request still causes a lookup each time (and churns the cache
/// without growing it). Limit request rates in front of the layer for that.
///
/// With a slow store, a cached miss answers sooner than a lookup that
/// reaches the store, so timing can tell an id known to be unknown from one
/// that is not. Key ids travel in clear and are not secrets; if yours must
/// not be discoverable, cache hits as well (in your store) so both answer
/// alike.
///
/// ```
/// use std::time::Duration;
/// use tower_hmac::{keys::NegativeCache, InMemoryKeys, SignatureLayer};
///
/// # let database = InMemoryKeys::new(); // stands in for a database-backed KeyStore
/// let keys = NegativeCache::new(database)
///     .capacity(50_000)
///     .ttl(Duration::from_secs(30));
/// let layer = SignatureLayer::new(keys);
/// ```
pub struct NegativeCache<K> {
    inner: K,
    capacity: usize,
    ttl: Duration,
    misses: Arc<Mutex<Misses>>,
}

/// Unknown key ids until when they stay unknown, oldest first.
#[derive(Default)]
struct Misses {
    until: HashMap<KeyId, Instant>,
    /// In the order recorded, which with one `ttl` is the order of expiry.
    order: VecDeque<(Instant, KeyId)>,
}

impl<K: KeyStore> NegativeCache<K> {
    /// The default bound on cached unknown ids.
    pub const DEFAULT_CAPACITY: usize = 10_000;
    /// The default time an unknown id is remembered.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

    /// Wraps `inner` with the default capacity and ttl.
    pub fn new(inner: K) -> Self {
        Self {
            inner,
            capacity: Self::DEFAULT_CAPACITY,
            ttl: Self::DEFAULT_TTL,
            misses: Arc::default(),
        }
    }

    /// Remembers at most `capacity` unknown ids (`0` caches nothing).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Remembers an unknown id for `ttl` after the store said it did not
    /// know it (`Duration::ZERO` caches nothing).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &K {
        &self.inner
    }

    /// How many unknown ids are remembered now, expired ones not yet
    /// dropped included.
    pub fn len(&self) -> usize {
        lock(&self.misses).until.len()
    }

    /// Whether no unknown id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock(misses: &Mutex<Misses>) -> MutexGuard<'_, Misses> {
    // Every change leaves the maps consistent: a panic elsewhere cannot break them.
    misses
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Misses {
    /// Whether `key_id` is known to be unknown at `now`.
    fn contains(&mut self, key_id: &KeyId, now: Instant) -> bool {
        match self.until.get(key_id) {
            Some(&until) if now < until => true,
            Some(_) => {
                self.until.remove(key_id);
                false
            }
            None => false,
        }
    }

    fn record(&mut self, key_id: KeyId, now: Instant, ttl: Duration, capacity: usize) {
        // Drop what has expired, then the oldest while full.
        while let Some(&(until, _)) = self.order.front() {
            if until > now && self.until.len() < capacity {
                break;
            }
            let (until, id) = self.order.pop_front().expect("peeked");
            if self.until.get(&id) == Some(&until) {
                self.until.remove(&id);
            }
        }
        if self.until.len() >= capacity || self.contains(&key_id, now) {
            return;
        }
        let Some(until) = now.checked_add(ttl) else {
            return;
        };
        self.until.insert(key_id.clone(), until);
        self.order.push_back((until, key_id));
    }
}

impl<K: KeyStore> KeyStore for NegativeCache<K> {
    fn lookup(&self, key_id: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
        if self.capacity == 0 || self.ttl.is_zero() {
            return self.inner.lookup(key_id);
        }
        if lock(&self.misses).contains(key_id, Instant::now()) {
            return StoreFuture::ready(Ok(None));
        }
        let (ttl, capacity) = (self.ttl, self.capacity);
        let record = move |misses: &Mutex<Misses>, key_id: KeyId| {
            lock(misses).record(key_id, Instant::now(), ttl, capacity);
        };
        match self.inner.lookup(key_id).into_ready() {
            Ok(found) => {
                if matches!(found, Ok(None)) {
                    record(&self.misses, key_id.clone());
                }
                StoreFuture::ready(found)
            }
            Err(pending) => {
                let (misses, key_id) = (self.misses.clone(), key_id.clone());
                StoreFuture::new(async move {
                    let found = pending.await;
                    if matches!(found, Ok(None)) {
                        record(&misses, key_id);
                    }
                    found
                })
            }
        }
    }
}

impl<K: fmt::Debug> fmt::Debug for NegativeCache<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NegativeCache")
            .field("inner", &self.inner)
            .field("capacity", &self.capacity)
            .field("ttl", &self.ttl)
            .field("cached", &lock(&self.misses).until.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::InMemoryKeys;

    /// How the counted store answers.
    #[derive(Clone, Copy)]
    enum Mode {
        AtOnce,
        Later,
        Failing,
    }

    /// A store that counts the lookups reaching it.
    struct Counted {
        keys: InMemoryKeys,
        mode: Mode,
        lookups: Arc<AtomicUsize>,
    }

    impl KeyStore for Counted {
        fn lookup(&self, key_id: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            let found = self.keys.get(key_id).map(|key| key.secret().clone());
            match self.mode {
                Mode::AtOnce => StoreFuture::ready(Ok(found)),
                Mode::Later => StoreFuture::new(async move {
                    tokio::task::yield_now().await;
                    Ok(found)
                }),
                Mode::Failing => StoreFuture::ready(Err(StoreError::new("down"))),
            }
        }
    }

    fn counted(mode: Mode) -> (NegativeCache<Counted>, Arc<AtomicUsize>) {
        let lookups = Arc::new(AtomicUsize::new(0));
        let keys = InMemoryKeys::new().with_key(id("7"), Secret::new(vec![7; 32]).unwrap());
        let store = Counted {
            keys,
            mode,
            lookups: lookups.clone(),
        };
        (NegativeCache::new(store), lookups)
    }

    fn id(id: &str) -> KeyId {
        id.parse().unwrap()
    }

    #[tokio::test]
    async fn misses_are_cached_hits_pass_through() {
        for mode in [Mode::AtOnce, Mode::Later] {
            let (cache, lookups) = counted(mode);
            for _ in 0..100 {
                assert!(cache.lookup(&id("forged")).await.unwrap().is_none());
            }
            assert_eq!(
                lookups.load(Ordering::SeqCst),
                1,
                "misses reached the store"
            );
            for _ in 0..100 {
                assert!(cache.lookup(&id("7")).await.unwrap().is_some());
            }
            assert_eq!(
                lookups.load(Ordering::SeqCst),
                101,
                "hits must pass through"
            );
            assert_eq!(cache.len(), 1);
        }
    }

    #[tokio::test]
    async fn misses_expire_after_the_ttl() {
        let (cache, lookups) = counted(Mode::AtOnce);
        let cache = cache.ttl(Duration::from_millis(100));
        assert!(cache.lookup(&id("forged")).await.unwrap().is_none());
        assert!(cache.lookup(&id("forged")).await.unwrap().is_none());
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(cache.lookup(&id("forged")).await.unwrap().is_none());
        assert_eq!(lookups.load(Ordering::SeqCst), 2, "expired, asked again");
    }

    #[tokio::test]
    async fn errors_are_never_cached() {
        let (cache, lookups) = counted(Mode::Failing);
        for _ in 0..10 {
            assert!(cache.lookup(&id("forged")).await.is_err());
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 10);
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn memory_stays_bounded_whatever_ids_come() {
        let (cache, lookups) = counted(Mode::AtOnce);
        let cache = cache.capacity(100);
        for round in 0..3 {
            for n in 0..10_000 {
                let _ = cache.lookup(&id(&format!("forged-{round}-{n}"))).await;
                let misses = lock(&cache.misses);
                assert!(misses.until.len() <= 100 && misses.order.len() <= 100);
            }
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 30_000);
        // The most recent ones are the ones kept.
        let before = lookups.load(Ordering::SeqCst);
        assert!(cache.lookup(&id("forged-2-9999")).await.unwrap().is_none());
        assert_eq!(lookups.load(Ordering::SeqCst), before);
        // The entry size the documentation gives: two ids and an expiry, with room to spare.
        assert!(2 * std::mem::size_of::<(Instant, KeyId)>() <= 200);
    }

    #[tokio::test]
    async fn a_zero_capacity_or_ttl_caches_nothing() {
        for cache in [
            counted(Mode::AtOnce).0.capacity(0),
            counted(Mode::AtOnce).0.ttl(Duration::ZERO),
        ] {
            for _ in 0..5 {
                assert!(cache.lookup(&id("forged")).await.unwrap().is_none());
            }
            assert_eq!(cache.get_ref().lookups.load(Ordering::SeqCst), 5);
        }
    }
}
