use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    sync::{Arc, Mutex},
};

use super::{NonceEntry, NonceStatus, NonceStore};
use crate::clock::unix_now;
use crate::{KeyId, Nonce, StoreError, StoreFuture};

/// The default nonce store: in process memory, bounded, expiring.
///
/// Entries leave once their request can no longer pass the time check.
/// The store holds at most `capacity` live entries (default
/// [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY), about 100 to 250 bytes each
/// depending on key id and nonce lengths), shared by all keys. When
/// it is full of entries that have not yet expired it fails closed: `insert`
/// returns an error, the request is answered 503, and nothing is forgotten
/// early. Size it to your peak request rate times the replay window.
///
/// It protects one process only. Several instances behind a load balancer
/// need a shared store.
///
/// It ignores [`NonceEntry::request_id`] and [`NonceEntry::valid_from`]: it
/// answers at once (so a `verify()` cannot be cancelled between its record
/// and its answer) and cannot lose its memory without the process, and the
/// layer with it, going too.
#[derive(Debug)]
pub struct InMemoryNonceStore {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    expiry_by_entry: HashMap<Arc<str>, u64>,
    by_expiry: BinaryHeap<Reverse<(u64, Arc<str>)>>,
}

impl InMemoryNonceStore {
    /// The default bound on live entries.
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// A store with the default capacity.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A store that holds at most `capacity` live entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// How many entries are held, expired ones not yet evicted included.
    pub fn len(&self) -> usize {
        self.lock().expiry_by_entry.len()
    }

    /// Whether no entries are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic elsewhere while holding the lock leaves the maps consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn insert_at(
        &self,
        key_id: &KeyId,
        nonce: &Nonce,
        expires_at: u64,
        now: u64,
    ) -> Result<NonceStatus, StoreError> {
        let mut entries = self.lock();
        entries.evict_expired(now);
        let entry: Arc<str> = format!("{key_id} {nonce}").into();
        if entries.expiry_by_entry.contains_key(&entry) {
            return Ok(NonceStatus::Replayed);
        }
        if expires_at < now {
            // Nothing to remember: the request is already outside the window.
            return Ok(NonceStatus::Fresh);
        }
        if entries.expiry_by_entry.len() >= self.capacity {
            return Err(StoreError::new(format!(
                "the in-memory nonce store is full ({} live entries)",
                self.capacity
            )));
        }
        entries.expiry_by_entry.insert(entry.clone(), expires_at);
        entries.by_expiry.push(Reverse((expires_at, entry)));
        Ok(NonceStatus::Fresh)
    }
}

impl Entries {
    fn evict_expired(&mut self, now: u64) {
        while let Some(Reverse((expires_at, _))) = self.by_expiry.peek() {
            // An entry lives through its expiry second: verify() accepts up to and including it.
            if *expires_at >= now {
                break;
            }
            let Reverse((expires_at, entry)) = self.by_expiry.pop().expect("peeked");
            if self.expiry_by_entry.get(&entry) == Some(&expires_at) {
                self.expiry_by_entry.remove(&entry);
            }
        }
    }
}

impl Default for InMemoryNonceStore {
    fn default() -> Self {
        Self::new()
    }
}

impl NonceStore for InMemoryNonceStore {
    fn insert(&self, entry: NonceEntry<'_>) -> StoreFuture<Result<NonceStatus, StoreError>> {
        StoreFuture::ready(self.insert_at(entry.key_id, entry.nonce, entry.expires_at, unix_now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (KeyId, Nonce, Nonce) {
        (
            "7".parse().unwrap(),
            "AAAAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
            "BBBBBBBBBBBBBBBBBBBBBB".parse().unwrap(),
        )
    }

    #[test]
    fn second_insert_is_a_replay_until_expiry() {
        let store = InMemoryNonceStore::new();
        let (key, a, _) = ids();
        assert_eq!(
            store.insert_at(&key, &a, 110, 100).unwrap(),
            NonceStatus::Fresh
        );
        assert_eq!(
            store.insert_at(&key, &a, 110, 105).unwrap(),
            NonceStatus::Replayed
        );
        let other_key: KeyId = "8".parse().unwrap();
        assert_eq!(
            store.insert_at(&other_key, &a, 110, 105).unwrap(),
            NonceStatus::Fresh
        );
        assert_eq!(
            store.insert_at(&key, &a, 110, 110).unwrap(),
            NonceStatus::Replayed,
            "alive through its expiry second"
        );
        assert_eq!(
            store.insert_at(&key, &a, 120, 111).unwrap(),
            NonceStatus::Fresh
        );
    }

    #[test]
    fn full_store_fails_closed_and_recovers_after_expiry() {
        let store = InMemoryNonceStore::with_capacity(1);
        let (key, a, b) = ids();
        assert_eq!(
            store.insert_at(&key, &a, 110, 100).unwrap(),
            NonceStatus::Fresh
        );
        assert!(store.insert_at(&key, &b, 110, 101).is_err());
        // The first nonce is still remembered while its window is open.
        assert_eq!(
            store.insert_at(&key, &a, 110, 102).unwrap(),
            NonceStatus::Replayed
        );
        assert_eq!(
            store.insert_at(&key, &b, 130, 111).unwrap(),
            NonceStatus::Fresh
        );
        assert_eq!(store.len(), 1);
    }
}
