use std::sync::Arc;

use super::*;

fn ids() -> (KeyId, Nonce, Nonce) {
    (
        "7".parse().unwrap(),
        "AAAAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
        "BBBBBBBBBBBBBBBBBBBBBB".parse().unwrap(),
    )
}

fn nonce(i: usize) -> Nonce {
    format!("nonce-{i:016}").parse().unwrap()
}

/// Unix seconds well after the store was made.
const T: u64 = 4_000_000_000;

fn store(capacity: usize) -> InMemoryNonceStore {
    let mut store = InMemoryNonceStore::with_capacity(capacity);
    store.clock = Clock { base: T - 1_000 };
    store
}

fn shard_of(store: &InMemoryNonceStore, key: &KeyId) -> usize {
    let (tag, _, _) = store.hash(key, &nonce(0));
    (tag >> (64 - SHARDS.trailing_zeros())) as usize
}

#[test]
fn second_insert_is_a_replay_until_expiry() {
    let store = store(1_000);
    let (key, a, _) = ids();
    let at = |nonce: &Nonce, key: &KeyId, exp: u64, now: u64| {
        store.insert_at(key, nonce, T + exp, T + now).unwrap()
    };
    assert_eq!(at(&a, &key, 110, 100), NonceStatus::Fresh);
    assert_eq!(at(&a, &key, 110, 105), NonceStatus::Replayed);
    let other_key: KeyId = "8".parse().unwrap();
    assert_eq!(at(&a, &other_key, 110, 105), NonceStatus::Fresh);
    assert_eq!(
        at(&a, &key, 110, 110),
        NonceStatus::Replayed,
        "alive through its expiry second"
    );
    assert_eq!(at(&a, &key, 120, 111), NonceStatus::Fresh);
}

#[test]
fn full_store_fails_closed_and_recovers_after_expiry() {
    let store = store(1);
    let (key, a, b) = ids();
    assert_eq!(
        store.insert_at(&key, &a, T + 110, T + 100).unwrap(),
        NonceStatus::Fresh
    );
    assert!(store.insert_at(&key, &b, T + 110, T + 101).is_err());
    // The first nonce is still remembered while its window is open.
    assert_eq!(
        store.insert_at(&key, &a, T + 110, T + 102).unwrap(),
        NonceStatus::Replayed
    );
    assert_eq!(
        store.insert_at(&key, &b, T + 130, T + 111).unwrap(),
        NonceStatus::Fresh
    );
    assert_eq!(store.held.load(Ordering::Relaxed), 1);
}

#[test]
fn an_expired_request_is_fresh_but_not_recorded() {
    let store = store(10);
    let (key, a, b) = ids();
    store.insert_at(&key, &a, T + 110, T + 100).unwrap();
    assert_eq!(
        store.insert_at(&key, &b, T + 99, T + 100).unwrap(),
        NonceStatus::Fresh
    );
    assert_eq!(store.held.load(Ordering::Relaxed), 1);
    assert_eq!(
        store.insert_at(&key, &b, T + 120, T + 100).unwrap(),
        NonceStatus::Fresh
    );
    assert_eq!(
        store.insert_at(&key, &a, T + 99, T + 100).unwrap(),
        NonceStatus::Replayed,
        "a live entry is a replay whatever the copy's own expiry"
    );
}

#[test]
fn a_full_share_refuses_only_its_own_key() {
    let store = store(100).key_capacity(10);
    let (busy, _, _) = ids();
    for i in 0..10 {
        let fresh = store.insert_at(&busy, &nonce(i), T + 110, T + 100).unwrap();
        assert_eq!(fresh, NonceStatus::Fresh);
    }
    let refused = store
        .insert_at(&busy, &nonce(10), T + 110, T + 100)
        .unwrap_err();
    assert!(refused.to_string().contains("key 7's share"), "{refused}");
    // Its replays are still replays, and other keys are unaffected, in
    // its shard or elsewhere.
    assert_eq!(
        store.insert_at(&busy, &nonce(3), T + 110, T + 100).unwrap(),
        NonceStatus::Replayed
    );
    for other in ["8", "9", "a", "b", "c"] {
        let other: KeyId = other.parse().unwrap();
        for i in 0..10 {
            let fresh = store.insert_at(&other, &nonce(i), T + 110, T + 100);
            assert_eq!(fresh.unwrap(), NonceStatus::Fresh);
        }
    }
    // The store is now full in all: 60 held, 40 left, but no key may
    // take more than 10.
    assert_eq!(store.held.load(Ordering::Relaxed), 60);
    // Its share frees as its entries expire.
    assert_eq!(
        store
            .insert_at(&busy, &nonce(10), T + 130, T + 111)
            .unwrap(),
        NonceStatus::Fresh
    );
}

#[test]
fn the_store_bound_holds_across_keys_and_idle_shards_are_counted_out() {
    let store = store(10).key_capacity(8);
    let first: KeyId = "k0".parse().unwrap();
    let second = (1..1_000)
        .map(|i| format!("k{i}").parse::<KeyId>().unwrap())
        .find(|key| shard_of(&store, key) != shard_of(&store, &first))
        .unwrap();
    for i in 0..8 {
        store
            .insert_at(&first, &nonce(i), T + 110, T + 100)
            .unwrap();
    }
    for i in 0..2 {
        store
            .insert_at(&second, &nonce(i), T + 200, T + 100)
            .unwrap();
    }
    let full = store
        .insert_at(&second, &nonce(2), T + 200, T + 101)
        .unwrap_err();
    assert!(full.to_string().contains("store is full"), "{full}");
    // `first`'s shard is not used again, yet its expired entries no longer
    // count against the store.
    for i in 2..8 {
        let fresh = store.insert_at(&second, &nonce(i), T + 200, T + 111);
        assert_eq!(fresh.unwrap(), NonceStatus::Fresh, "{i}");
    }
    assert_eq!(store.held.load(Ordering::Relaxed), 8);
}

#[test]
fn time_going_backwards_corrupts_nothing() {
    let store = store(100);
    let (key, a, b) = ids();
    store.insert_at(&key, &a, T + 110, T + 100).unwrap();
    // Far ahead: `a` is counted out, though its slot is still there.
    store.expire_everywhere(store.clock.second(T + 900));
    assert_eq!(store.held.load(Ordering::Relaxed), 0);
    // Back again: the slot is live again, and nothing is counted twice or
    // below zero.
    assert_eq!(
        store.insert_at(&key, &a, T + 110, T + 105).unwrap(),
        NonceStatus::Replayed
    );
    // Ahead again, recording: `a`'s slot may now be reused for `b`.
    store.insert_at(&key, &b, T + 1_000, T + 900).unwrap();
    assert_eq!(store.held.load(Ordering::Relaxed), 1);
    assert_eq!(
        store.insert_at(&key, &b, T + 1_000, T + 105).unwrap(),
        NonceStatus::Replayed
    );
    for i in 0..50 {
        store.insert_at(&key, &nonce(i), T + 120, T + 105).unwrap();
    }
    assert_eq!(store.held.load(Ordering::Relaxed), 51);
    for i in 0..50 {
        let again = store.insert_at(&key, &nonce(i), T + 120, T + 106);
        assert_eq!(again.unwrap(), NonceStatus::Replayed);
    }
    // Before the store was made, and at the far end of its range.
    assert_eq!(
        store.insert_at(&key, &nonce(60), 5, 1).unwrap(),
        NonceStatus::Fresh
    );
    assert_eq!(
        store.insert_at(&key, &nonce(61), u64::MAX, T).unwrap(),
        NonceStatus::Fresh
    );
    assert_eq!(
        store
            .insert_at(&key, &nonce(61), u64::MAX, u64::MAX)
            .unwrap(),
        NonceStatus::Replayed
    );
}

#[test]
fn many_nonces_are_all_remembered_in_little_memory() {
    let store = store(2_000_000).key_capacity(2_000_000);
    let keys: Vec<KeyId> = (0..4)
        .map(|i| format!("key-{i}").parse().unwrap())
        .collect();
    let n = if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    };
    for i in 0..n {
        let key = &keys[i % 4];
        let fresh = store.insert_at(key, &nonce(i), T + 600, T);
        assert_eq!(fresh.unwrap(), NonceStatus::Fresh, "{i}");
    }
    for i in (0..n).step_by(7) {
        let key = &keys[i % 4];
        let again = store.insert_at(key, &nonce(i), T + 600, T + 1);
        assert_eq!(again.unwrap(), NonceStatus::Replayed, "{i}");
        // The same nonce under another key is another entry.
        let other = &keys[(i + 1) % 4];
        let fresh = store.insert_at(other, &nonce(i), T + 600, T + 1);
        assert_eq!(fresh.unwrap(), NonceStatus::Fresh, "{i}");
    }
    let per_entry = store.heap_bytes() as f64 / store.held.load(Ordering::Relaxed) as f64;
    assert!(per_entry < 40.0, "{per_entry} bytes per entry");
}

#[test]
fn concurrent_inserts_of_one_nonce_see_one_fresh() {
    let store = Arc::new(store(1_000_000));
    let key: KeyId = "7".parse().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let key = key.clone();
            std::thread::spawn(move || {
                (0..20_000)
                    .filter(|&i| {
                        store.insert_at(&key, &nonce(i), T + 600, T).unwrap() == NonceStatus::Fresh
                    })
                    .count()
            })
        })
        .collect();
    let fresh: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(fresh, 20_000);
}

#[test]
fn records_of_keys_no_longer_used_are_forgotten() {
    let store = store(1_000_000);
    for i in 0..5_000 {
        let key: KeyId = format!("one-off-{i}").parse().unwrap();
        store.insert_at(&key, &nonce(i), T + 110, T + 100).unwrap();
    }
    let records = |store: &InMemoryNonceStore| -> usize {
        store.shards.iter().map(|s| s.lock().records.len()).sum()
    };
    assert_eq!(records(&store), 5_000);
    let steady: KeyId = "steady".parse().unwrap();
    for i in 0..20_000 {
        store
            .insert_at(&steady, &nonce(i), T + 300, T + 200)
            .unwrap();
    }
    // Only the keys that shared a shard with `steady` were looked at.
    let left: usize = records(&store);
    let in_its_shard = store.shards[shard_of(&store, &steady)].lock().records.len();
    assert_eq!(in_its_shard, 1);
    assert!(left < 5_000, "{left}");
    store.expire_everywhere(store.clock.second(T + 200));
    assert_eq!(store.held.load(Ordering::Relaxed), 20_000);
}

#[test]
fn a_zero_capacity_refuses_everything() {
    let (key, a, _) = ids();
    assert!(store(0).insert_at(&key, &a, T + 110, T + 100).is_err());
    let store = store(10).key_capacity(0);
    assert!(store.insert_at(&key, &a, T + 110, T + 100).is_err());
}

#[test]
fn insert_answers_at_once() {
    let store = InMemoryNonceStore::new();
    let (key, a, _) = ids();
    let now = unix_now();
    assert_eq!(
        store.record(&key, &a, now + 600).unwrap(),
        NonceStatus::Fresh
    );
    assert_eq!(
        store.record(&key, &a, now + 600).unwrap(),
        NonceStatus::Replayed
    );
    assert_eq!(store.len(), 1);
    assert!(format!("{store:?}").contains("key_capacity: 1000000"));
}

#[test]
fn in_its_steady_state_the_store_stays_small() {
    // 20,000 nonces a second, each living 30 seconds: 600,000 live once
    // the first have expired, as many recorded as expire from then on.
    let store = store(10_000_000);
    let key: KeyId = "steady".parse().unwrap();
    let (per_second, lifetime, seconds) = if cfg!(debug_assertions) {
        (2_000, 30, 120)
    } else {
        (20_000, 30, 240)
    };
    let mut worst: f64 = 0.0;
    for second in 0..seconds {
        let now = T + second;
        for i in 0..per_second {
            let nonce = nonce((second * per_second + i) as usize);
            let fresh = store.insert_at(&key, &nonce, now + lifetime - 1, now);
            assert_eq!(fresh.unwrap(), NonceStatus::Fresh);
        }
        if second >= 2 * lifetime {
            let live = store.held.load(Ordering::Relaxed);
            assert_eq!(live as u64, per_second * lifetime);
            worst = worst.max(store.heap_bytes() as f64 / live as f64);
        }
    }
    eprintln!("steady state: at most {worst:.1} bytes of table per live entry");
    assert!(worst < 45.0, "{worst:.1} bytes per live entry");
}
