//! The in-memory nonce store: sharded by key, fixed-size entries that
//! carry their own expiry, counted per key and in all.

mod counts;
mod sip;
mod table;

use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasherDefault, Hasher},
    sync::{
        atomic::{AtomicU32, AtomicUsize, Ordering},
        Mutex, MutexGuard,
    },
};

use self::{
    counts::Expiring,
    sip::SipKey,
    table::{Slot, Table},
};
use super::{NonceEntry, NonceStatus, NonceStore};
use crate::clock::unix_now;
use crate::{KeyId, Nonce, StoreError, StoreFuture};

/// Shards (each a lock): a key's nonces are all in one, chosen by a keyed
/// hash of the key id.
const SHARDS: usize = 64;
/// Key records looked at, per insert, to forget those with nothing live.
const RECORDS_SWEPT_PER_INSERT: usize = 2;

/// The default nonce store: in process memory, bounded per key and in
/// all, expiring.
///
/// Entries leave once their request can no longer pass the time check.
/// Each key may hold at most [`key_capacity`](Self::key_capacity) live
/// entries (default [`DEFAULT_KEY_CAPACITY`](Self::DEFAULT_KEY_CAPACITY)),
/// and all keys together at most the store's capacity (default
/// [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)), which bounds its memory.
/// When a key's share is full, that key's new nonces fail closed: `insert`
/// returns an error, the request is answered 503
/// `replay_store_unavailable`, and nothing is forgotten early; other keys
/// are not affected until the store as a whole is full. Size the share
/// to a key's peak request rate times the nonce lifetime (`Time +
/// max_clock_skew + max_request_duration`, 600 s for a request with a
/// correct clock under the layer's defaults, 900 s at most).
///
/// # Memory
///
/// Each recorded nonce is a 16-byte slot: 96 bits of a keyed hash
/// (SipHash-2-4, with a key drawn from the operating system for each
/// store) of the key id and nonce, and the second through which it lives.
/// Slots sit four to a cache line in segments of 16 KiB, which split in
/// two when they are about 80% full of live entries: measured from outside
/// (`cargo run --release --example nonce_rss`, the process's resident
/// memory growth), a live nonce costs 24 to 34 bytes while the store grows
/// (33.8 at 1,000,000 and at 4,000,000 nonces), and at most 29 bytes of
/// table once as many expire as are recorded. Full at the default
/// capacity (4,000,000 live entries) the store holds about 135 MB. Memory
/// is kept at its high-water mark: expired slots are reused, not returned.
/// Each key with live nonces adds about 100 bytes, and 8 bytes per
/// distinct expiry second among them.
///
/// Two different nonces are mistaken for one another (a genuine request
/// refused as `replayed_request`) only when their 96-bit hashes are equal:
/// with `n` live entries in the key's shard, a chance of at most `n / 2^96`
/// per request: below 5 × 10^-23 with 4,000,000 live entries, so that a
/// million requests a second for ten years (3 × 10^14) would meet one with
/// a chance below 2 × 10^-8. Nobody can aim at a collision: the hash key
/// never leaves the process and no hash is ever shown.
///
/// # Time
///
/// An entry with expiry second `e` is live through `e`, as
/// [`NonceEntry::expires_at`] asks, and free from `e + 1` on: expiry
/// neither visits nor sweeps entries; a slot past its second is simply
/// free for reuse, and the counts drop by whole seconds. A clock that goes
/// backwards corrupts nothing: what was already counted out stays out,
/// and an entry still held is live again if its second is at or after the
/// new now.
///
/// It protects one process only. Several instances behind a load balancer
/// need a shared store.
///
/// It ignores [`NonceEntry::request_id`] and [`NonceEntry::valid_from`]: it
/// answers at once (so a `verify()` cannot be cancelled between its record
/// and its answer) and cannot lose its memory without the process, and the
/// layer with it, going too.
pub struct InMemoryNonceStore {
    capacity: usize,
    key_capacity: usize,
    /// Entries counted in all shards (reserved before they are inserted).
    held: AtomicUsize,
    /// The store second of the last pass over every shard for expired
    /// counts, made only when the store looks full.
    last_sweep: AtomicU32,
    clock: Clock,
    hash_key: SipKey,
    shards: Box<[Shard]>,
}

/// One lock's worth, on its own cache lines.
#[repr(align(128))]
struct Shard(Mutex<ShardState>);

struct ShardState {
    table: Table,
    /// Every entry of the shard, by expiry: what it adds to `held`.
    counts: Expiring,
    /// Index in `records` by key tag.
    keys: HashMap<u64, u32, BuildHasherDefault<TagHasher>>,
    records: Vec<KeyRecord>,
    /// The next record to sweep.
    cursor: usize,
}

/// One key's live entries in its shard.
struct KeyRecord {
    /// A keyed hash of the key id: two keys share a record (and a share)
    /// only by a 2^-64 chance.
    tag: u64,
    counts: Expiring,
}

/// Unix seconds as the store's own: seconds since the store was made, plus
/// one (0 is a slot never used), saturating at both ends so that the order
/// of any two times is kept or they become equal, never reversed.
#[derive(Clone, Copy)]
struct Clock {
    base: u64,
}

impl Clock {
    fn second(self, unix: u64) -> u32 {
        let since = unix.saturating_sub(self.base).saturating_add(1);
        u32::try_from(since).unwrap_or(u32::MAX)
    }
}

impl InMemoryNonceStore {
    /// The default bound on live entries, all keys together: about 135 MB
    /// when full.
    pub const DEFAULT_CAPACITY: usize = 4_000_000;

    /// The default bound on one key's live entries: 1,666 requests a second,
    /// sustained, under the layer's default windows (nonces live 600 s).
    pub const DEFAULT_KEY_CAPACITY: usize = 1_000_000;

    /// A store with the default capacities: [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)
    /// live entries in all, [`DEFAULT_KEY_CAPACITY`](Self::DEFAULT_KEY_CAPACITY) per key.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY).key_capacity(Self::DEFAULT_KEY_CAPACITY)
    }

    /// A store that holds at most `capacity` live entries in all, shared by
    /// all keys: any one key may use all of it unless
    /// [`key_capacity`](Self::key_capacity) says less.
    pub fn with_capacity(capacity: usize) -> Self {
        let hash_key = SipKey::random();
        let seeds = SipKey::random();
        let shards = (0..SHARDS)
            .map(|i| {
                Shard(Mutex::new(ShardState {
                    table: Table::new(seeds.hash64(&i.to_le_bytes())),
                    counts: Expiring::default(),
                    keys: HashMap::default(),
                    records: Vec::new(),
                    cursor: 0,
                }))
            })
            .collect();
        Self {
            capacity,
            key_capacity: capacity,
            held: AtomicUsize::new(0),
            last_sweep: AtomicU32::new(0),
            clock: Clock { base: unix_now() },
            hash_key,
            shards,
        }
    }

    /// At most `entries` live entries for any one key (its share), within
    /// the store's capacity. When a key's share is full, only that key is
    /// refused.
    ///
    /// ```
    /// use tower_hmac::InMemoryNonceStore;
    ///
    /// // 2,000,000 in all (about 70 MB when full), no key more than 100,000
    /// // (166 requests a second with 600 s nonce lifetimes).
    /// let store = InMemoryNonceStore::with_capacity(2_000_000).key_capacity(100_000);
    /// # drop(store);
    /// ```
    pub fn key_capacity(mut self, entries: usize) -> Self {
        self.key_capacity = entries;
        self
    }

    /// How many entries are live.
    pub fn len(&self) -> usize {
        self.expire_everywhere(self.clock.second(unix_now()));
        self.held.load(Ordering::Relaxed)
    }

    /// Whether no entries are live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records `nonce` for `key_id` until the end of the Unix second
    /// `expires_at`, as [`NonceStore::insert`] does with a
    /// [`NonceEntry`]'s `key_id`, `nonce` and `expires_at`, and answers at
    /// once: for using the store outside the layer, and for benchmarks.
    pub fn record(
        &self,
        key_id: &KeyId,
        nonce: &Nonce,
        expires_at: u64,
    ) -> Result<NonceStatus, StoreError> {
        self.insert_at(key_id, nonce, expires_at, unix_now())
    }

    fn insert_at(
        &self,
        key_id: &KeyId,
        nonce: &Nonce,
        expires_at: u64,
        now: u64,
    ) -> Result<NonceStatus, StoreError> {
        // Hashed before any lock is taken.
        let (tag, h0, h1) = self.hash(key_id, nonce);
        let slot = Slot::new(h0, h1, self.clock.second(expires_at));
        let now_s = self.clock.second(now);
        let shard = &self.shards[(tag >> (64 - SHARDS.trailing_zeros())) as usize];
        let mut swept = false;
        loop {
            let mut state = shard.lock();
            // The buckets are most likely not in cache: their reads overlap
            // the bookkeeping below.
            state.table.prefetch(&slot);
            let gone = state.counts.expire(now_s);
            if gone > 0 {
                self.held.fetch_sub(gone, Ordering::Relaxed);
            }
            state.sweep_records(now_s);
            let record = state.record(tag);
            let key_live = {
                let counts = &mut state.records[record].counts;
                counts.expire(now_s);
                counts.live()
            };
            if state.table.contains(&slot, now_s) {
                return Ok(NonceStatus::Replayed);
            }
            if expires_at < now {
                // Nothing to remember: the request is already outside the window.
                return Ok(NonceStatus::Fresh);
            }
            if key_live >= self.key_capacity {
                return Err(StoreError::new(format!(
                    "key {key_id}'s share of the in-memory nonce store is full ({} live entries)",
                    self.key_capacity
                )));
            }
            if self.held.fetch_add(1, Ordering::Relaxed) >= self.capacity {
                self.held.fetch_sub(1, Ordering::Relaxed);
                drop(state);
                // Other shards may hold counts that have expired since they
                // were last used: count them out once a second, then retry.
                if !swept && self.last_sweep.swap(now_s, Ordering::Relaxed) != now_s {
                    swept = true;
                    self.expire_everywhere(now_s);
                    continue;
                }
                return Err(StoreError::new(format!(
                    "the in-memory nonce store is full ({} live entries)",
                    self.capacity
                )));
            }
            state.records[record].counts.add(slot.expiry());
            state.counts.add(slot.expiry());
            state.table.insert(slot, now_s);
            return Ok(NonceStatus::Fresh);
        }
    }

    /// The key's tag and the entry's 128-bit hash.
    fn hash(&self, key_id: &KeyId, nonce: &Nonce) -> (u64, u64, u64) {
        self.hash_key
            .key_and_entry(key_id.as_bytes(), nonce.as_bytes())
    }

    /// Counts out what has expired in every shard.
    fn expire_everywhere(&self, now_s: u32) {
        for shard in self.shards.iter() {
            let gone = shard.lock().counts.expire(now_s);
            if gone > 0 {
                self.held.fetch_sub(gone, Ordering::Relaxed);
            }
        }
    }

    /// Bytes held by the store's own allocations, an estimate from the
    /// inside (the allocator's own overhead not included).
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let state = shard.lock();
                state.table.heap_bytes()
                    + state.records.capacity() * std::mem::size_of::<KeyRecord>()
                    + state.keys.capacity() * 16
            })
            .sum()
    }
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, ShardState> {
        // Every step leaves the shard consistent, so a panic elsewhere while
        // holding the lock (there is none to expect) leaves it usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ShardState {
    /// The index of the key's record, made if need be.
    fn record(&mut self, tag: u64) -> usize {
        let next = self.records.len();
        let index = *self
            .keys
            .entry(tag)
            .or_insert_with(|| u32::try_from(next).expect("fewer than 2^32 keys in a shard"))
            as usize;
        if index == next {
            self.records.push(KeyRecord {
                tag,
                counts: Expiring::default(),
            });
        }
        index
    }

    /// Looks at a few records in turn and forgets those with nothing live,
    /// so that keys no longer used do not hold memory.
    fn sweep_records(&mut self, now_s: u32) {
        for _ in 0..RECORDS_SWEPT_PER_INSERT {
            if self.records.is_empty() {
                return;
            }
            if self.cursor >= self.records.len() {
                self.cursor = 0;
            }
            let at = self.cursor;
            let record = &mut self.records[at];
            record.counts.expire(now_s);
            if !record.counts.is_empty() {
                self.cursor += 1;
                continue;
            }
            let tag = record.tag;
            self.keys.remove(&tag);
            self.records.swap_remove(at);
            if let Some(moved) = self.records.get(at) {
                self.keys.insert(moved.tag, at as u32);
            }
            if self.records.is_empty() {
                self.records = Vec::new();
                self.keys = HashMap::default();
            }
        }
    }
}

/// Key tags are keyed hashes already; this only spreads the bits that the
/// shard choice left alike.
#[derive(Default)]
struct TagHasher(u64);

impl Hasher for TagHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, tag: u64) {
        self.0 = tag.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Default for InMemoryNonceStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InMemoryNonceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryNonceStore")
            .field("capacity", &self.capacity)
            .field("key_capacity", &self.key_capacity)
            .field("held", &self.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl NonceStore for InMemoryNonceStore {
    fn insert(&self, entry: NonceEntry<'_>) -> StoreFuture<Result<NonceStatus, StoreError>> {
        StoreFuture::ready(self.insert_at(entry.key_id, entry.nonce, entry.expires_at, entry.now))
    }
}

#[cfg(test)]
mod tests;
