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
    sync::Arc,
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

/// A fresh [`NonceEntry::request_id`]: a counter of the calling thread,
/// started at a random point (drawn from the operating system once per
/// thread) and passed through a bijective mix. Two ids of one thread never
/// meet (before 2^64 of them); any other id, of another thread or instance,
/// is the same by a 2^-64 chance, as with independent random values. No
/// system call and no shared write per request: a process-wide counter
/// made the threads of a busy server take turns at one cache line.
pub(crate) fn new_request_id() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static NEXT: Cell<u64> = Cell::new(RandomState::new().hash_one(0u64));
    }
    let counter = NEXT.with(|next| {
        let counter = next.get();
        next.set(counter.wrapping_add(1));
        counter
    });
    mix(counter)
}

/// SplitMix64's finaliser: a bijection of `u64` that spreads consecutive
/// inputs over the whole range.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_differ() {
        let ids: std::collections::HashSet<u64> = (0..10_000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        // Another thread starts elsewhere: none of its ids is one of these.
        let theirs: Vec<u64> =
            std::thread::spawn(|| (0..10_000).map(|_| new_request_id()).collect())
                .join()
                .unwrap();
        assert!(theirs.iter().all(|id| !ids.contains(id)));
    }

    #[test]
    fn mix_is_a_bijection_that_spreads_neighbours() {
        // The finaliser's inverse (xorshifts and multiplicative inverses).
        fn unmix(mut z: u64) -> u64 {
            z ^= (z >> 31) ^ (z >> 62);
            z = z.wrapping_mul(0x3196_42b2_d24d_8ec3);
            z ^= (z >> 27) ^ (z >> 54);
            z = z.wrapping_mul(0x96de_1b17_3f11_9089);
            z ^ (z >> 30) ^ (z >> 60)
        }
        for x in [0, 1, 2, 41, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(unmix(mix(x)), x);
        }
        // Neighbours land far apart: about half of the bits differ.
        let flipped = (mix(1000) ^ mix(1001)).count_ones();
        assert!((16..=48).contains(&flipped), "{flipped}");
    }
}
