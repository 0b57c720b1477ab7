//! Replay protection: remembering which nonces have been used.
//!
//! - [`InMemoryNonceStore`], the default: one process, bounded, expiring;
//! - `RedisNonceStore` (feature `redis`): shared by every instance behind a load balancer;
//! - your own store through [`NonceStore`].

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::sync::Arc;

// For the Redis store; every other module takes the clock from `crate::clock`.
#[cfg(feature = "redis")]
pub(crate) use crate::clock::unix_now;
pub use memory::InMemoryNonceStore;
#[cfg(feature = "redis")]
pub use redis::RedisNonceStore;

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
