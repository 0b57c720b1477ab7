//! Replay protection: remembering which nonces have been used.
//!
//! - [`InMemoryNonceStore`], the default: one process, bounded, expiring;
//! - `RedisNonceStore` (feature `redis`): shared by every instance behind a load balancer;
//! - your own store through [`NonceStore`].

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::{
    hash::{BuildHasher as _, RandomState},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
};

pub use memory::InMemoryNonceStore;
#[cfg(feature = "redis")]
pub use redis::{RedisNonceStore, RedisNonceStoreBuilder};

use crate::{KeyId, Nonce, StoreError, StoreFuture};

/// Whether a nonce was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Not seen before; now recorded.
    Fresh,
    /// Already recorded for this key id: the request is a replay.
    Replayed,
}

/// One nonce to record: what a [`NonceStore`] is asked to remember.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct NonceEntry<'a> {
    /// The key the request was signed with; nonces are per key.
    pub key_id: &'a KeyId,
    /// The nonce.
    pub nonce: &'a Nonce,
    /// The request's `Time`, in Unix seconds.
    pub signed_at: u64,
    /// Remember the nonce through the end of this second (Unix seconds):
    /// until then `verify()` may still accept a copy of the request.
    pub expires_at: u64,
    /// The earliest Unix second at which the request could first have been
    /// accepted: its `Time` minus the layer's maximum clock skew
    /// (saturating at 0). A store that finds it has lost what it
    /// remembered (a Redis restarted without persistence, say) cannot tell
    /// whether a request accepted before the loss is being replayed, and
    /// should refuse every request whose `valid_from` is at or before the
    /// loss, future-dated ones included: their `Time` may be later than the
    /// loss while their first acceptance was not.
    pub valid_from: u64,
    /// A random value that identifies this request (not its nonce): the same
    /// for every call of its `verify()`, different for any other request,
    /// a replay included. A store whose answer can be lost after it
    /// recorded the nonce (a `verify()` cancelled while a remote store
    /// answers, then called again) should record this value with the nonce
    /// and answer [`NonceStatus::Fresh`] when it finds its own value again.
    pub request_id: u64,
    /// The Unix second by the layer's clock, read when the request was
    /// authenticated (or when `verify()` came to record it), so that a store
    /// may take it as its "now" instead of reading the clock again. It can
    /// lag the clock by a little and is not monotonic across entries: a
    /// store for which an earlier time is unsafe (one that timestamps a
    /// loss of data, as `RedisNonceStore` does) should read its own clock.
    pub now: u64,
}

/// Records nonces so that each is accepted once per key id.
///
/// [`insert`](NonceStore::insert) must check and record atomically: two
/// concurrent calls with the same nonce must not both see
/// [`NonceStatus::Fresh`]. An `Err` is never read as "not seen": the layer
/// answers 503 `replay_store_unavailable`.
pub trait NonceStore: Send + Sync + 'static {
    /// Records `entry`, or reports that it was already recorded.
    fn insert(&self, entry: NonceEntry<'_>) -> StoreFuture<Result<NonceStatus, StoreError>>;
}

impl<N: NonceStore + ?Sized> NonceStore for Arc<N> {
    fn insert(&self, entry: NonceEntry<'_>) -> StoreFuture<Result<NonceStatus, StoreError>> {
        (**self).insert(entry)
    }
}

/// A fresh [`NonceEntry::request_id`]: a keyed hash (SipHash, with a key
/// drawn from the operating system once per process) of a process-wide
/// counter: distinct inputs for every request of this process, so two
/// requests share an id only by a 2^-64 chance, in this process or across
/// instances; unpredictable without the key; and cheap: no system call per
/// request.
pub(crate) fn new_request_id() -> u64 {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    KEY.get_or_init(RandomState::new)
        .hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_differ() {
        let ids: std::collections::HashSet<u64> = (0..10_000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
    }
}
