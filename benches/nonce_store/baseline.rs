//! The in-memory nonce store as it was before issue 14 (commit df1c79b),
//! kept as the baseline of `benches/nonce_store.rs` and
//! `examples/nonce_rss.rs`: one lock, a `HashMap` from a `"key nonce"`
//! string to its expiry, and a heap of expiries to evict from.
//! Only its public surface changed: `record` stands for `NonceStore::insert`.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use tower_hmac::{KeyId, Nonce, NonceStatus, StoreError};

#[derive(Debug)]
pub struct BaselineNonceStore {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    expiry_by_entry: HashMap<Arc<str>, u64>,
    by_expiry: BinaryHeap<Reverse<(u64, Arc<str>)>>,
}

impl BaselineNonceStore {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    pub fn record(
        &self,
        key_id: &KeyId,
        nonce: &Nonce,
        expires_at: u64,
    ) -> Result<NonceStatus, StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let mut entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        entries.evict_expired(now);
        let entry: Arc<str> = format!("{key_id} {nonce}").into();
        if entries.expiry_by_entry.contains_key(&entry) {
            return Ok(NonceStatus::Replayed);
        }
        if expires_at < now {
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
