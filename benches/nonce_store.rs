//! The in-memory nonce store against its predecessor, in the same run:
//! `cargo bench --bench nonce_store`.
//!
//! Every insert is a fresh nonce (made before the clock starts):
//!
//! - `one_thread/{baseline,sharded}/{live}`: one thread inserting into a
//!   store that already holds `live` entries and keeps growing through the
//!   run, as a server's does in its first nonce lifetime (600 s);
//! - `one_thread/{baseline,sharded}/expiring`: entries that live one to two
//!   seconds, so that the store is in its steady state, where as many
//!   entries expire as are recorded;
//! - `two_threads_one_key/...`: two threads inserting nonces of the same
//!   key at once (the sharded store's worst case: one key, one lock);
//! - `two_threads_two_keys/...`: the same with a key per thread.
//!
//! Times are per insert, in CPU time of the whole process (both threads'
//! for two: spinning on a lock counts), so that other work on a shared
//! machine does not show; `NONCE_BENCH_CLOCK=wall` measures wall time
//! instead (two threads: the wall time of both over the inserts of both).
//! `BaselineNonceStore` (benches/nonce_store/baseline.rs) is the store as
//! it was before issue 14. Memory is measured from outside by
//! `cargo run --release --example nonce_rss`.

#[path = "nonce_store/baseline.rs"]
mod baseline;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Barrier,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use baseline::BaselineNonceStore;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tower_hmac::{InMemoryNonceStore, KeyId, Nonce, NonceStatus, StoreError};

trait Store: Sync {
    fn record(
        &self,
        key: &KeyId,
        nonce: &Nonce,
        expires_at: u64,
    ) -> Result<NonceStatus, StoreError>;
}

impl Store for BaselineNonceStore {
    fn record(
        &self,
        key: &KeyId,
        nonce: &Nonce,
        expires_at: u64,
    ) -> Result<NonceStatus, StoreError> {
        BaselineNonceStore::record(self, key, nonce, expires_at)
    }
}

impl Store for InMemoryNonceStore {
    fn record(
        &self,
        key: &KeyId,
        nonce: &Nonce,
        expires_at: u64,
    ) -> Result<NonceStatus, StoreError> {
        InMemoryNonceStore::record(self, key, nonce, expires_at)
    }
}

/// Room for every nonce of the run.
const CAPACITY: usize = 100_000_000;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Distinct nonces, as long as the signer's (22 characters).
struct Nonces(AtomicUsize);

impl Nonces {
    fn take(&self, n: usize) -> Vec<Nonce> {
        let first = self.0.fetch_add(n, Ordering::Relaxed);
        (first..first + n).map(nonce).collect()
    }
}

fn nonce(i: usize) -> Nonce {
    let mut digits = [b'0'; 22];
    let mut rest = i;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    std::str::from_utf8(&digits).unwrap().parse().unwrap()
}

/// The clock that times the inserts: the process's CPU time unless
/// `NONCE_BENCH_CLOCK=wall`.
#[derive(Clone, Copy)]
enum Clock {
    Cpu,
    Wall,
}

/// A point in time of a [`Clock`].
enum Mark {
    Cpu(Duration),
    Wall(Instant),
}

impl Clock {
    fn from_env() -> Self {
        match std::env::var("NONCE_BENCH_CLOCK").as_deref() {
            Ok("wall") => Self::Wall,
            _ => Self::Cpu,
        }
    }

    fn now(self) -> Mark {
        match self {
            Self::Cpu => Mark::Cpu(process_cpu_time()),
            Self::Wall => Mark::Wall(Instant::now()),
        }
    }
}

impl Mark {
    fn elapsed(&self) -> Duration {
        match self {
            Self::Cpu(start) => process_cpu_time() - *start,
            Self::Wall(start) => start.elapsed(),
        }
    }
}

/// CPU time used by this process, all threads.
#[cfg(target_os = "linux")]
fn process_cpu_time() -> Duration {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut time = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid `struct timespec` (64-bit Linux) to write to.
    let status = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut time) };
    assert_eq!(status, 0, "clock_gettime");
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn process_cpu_time() -> Duration {
    panic!("CPU time is read on Linux only: set NONCE_BENCH_CLOCK=wall")
}

fn key(name: &str) -> KeyId {
    name.parse().unwrap()
}

/// Inserts `nonces` (all fresh), asserting they are.
fn insert_all(store: &dyn Store, key: &KeyId, nonces: &[Nonce], expires_at: u64) {
    for nonce in nonces {
        let fresh = store.record(key, nonce, expires_at).unwrap();
        debug_assert_eq!(fresh, NonceStatus::Fresh);
        std::hint::black_box(fresh);
    }
}

fn prefilled(store: &dyn Store, nonces: &Nonces, live: usize, expires_at: u64) {
    let keys = [key("client-a"), key("client-b")];
    for chunk in 0..live.div_ceil(100_000) {
        let batch = nonces.take(100_000.min(live - chunk * 100_000));
        insert_all(store, &keys[chunk % 2], &batch, expires_at);
    }
}

fn stores() -> Vec<(&'static str, Box<dyn Store>)> {
    vec![
        (
            "baseline",
            Box::new(BaselineNonceStore::with_capacity(CAPACITY)),
        ),
        (
            "sharded",
            Box::new(InMemoryNonceStore::with_capacity(CAPACITY)),
        ),
    ]
}

fn one_thread(c: &mut Criterion) {
    let clock = Clock::from_env();
    let mut group = c.benchmark_group("nonce_store/one_thread");
    group.throughput(Throughput::Elements(1));
    let expires_at = unix_now() + 3_600;
    let nonces = Nonces(AtomicUsize::new(0));
    let key = key("client-a");
    for live in [0, 1_000_000] {
        for (name, store) in stores() {
            prefilled(&*store, &nonces, live, expires_at);
            group.bench_function(BenchmarkId::new(name, live), |b| {
                b.iter_custom(|iters| {
                    let batch = nonces.take(iters as usize);
                    let started = clock.now();
                    insert_all(&*store, &key, &batch, expires_at);
                    started.elapsed()
                })
            });
        }
    }
    for (name, store) in stores() {
        group.bench_function(BenchmarkId::new(name, "expiring"), |b| {
            b.iter_custom(|iters| {
                let batch = nonces.take(iters as usize);
                // Live through the next second: gone a second or two later.
                let expires_at = unix_now() + 1;
                let started = clock.now();
                insert_all(&*store, &key, &batch, expires_at);
                started.elapsed()
            })
        });
    }
    group.finish();
}

fn two_threads(c: &mut Criterion, name: &str, keys: [KeyId; 2]) {
    let clock = Clock::from_env();
    let mut group = c.benchmark_group(format!("nonce_store/{name}"));
    group.throughput(Throughput::Elements(1));
    let expires_at = unix_now() + 3_600;
    let nonces = Nonces(AtomicUsize::new(0));
    for live in [0, 1_000_000] {
        for (store_name, store) in stores() {
            prefilled(&*store, &nonces, live, expires_at);
            group.bench_function(BenchmarkId::new(store_name, live), |b| {
                b.iter_custom(|iters| {
                    let half = (iters as usize).div_ceil(2);
                    let batches = [nonces.take(half), nonces.take(half)];
                    let start = Barrier::new(3);
                    let started = std::thread::scope(|scope| {
                        for (key, batch) in keys.iter().zip(&batches) {
                            let (store, start) = (&*store, &start);
                            scope.spawn(move || {
                                start.wait();
                                insert_all(store, key, batch, expires_at);
                            });
                        }
                        let started = clock.now();
                        start.wait();
                        // The scope joins both threads before it returns.
                        started
                    });
                    started.elapsed().mul_f64(iters as f64 / (2 * half) as f64)
                })
            });
        }
    }
    group.finish();
}

fn two_threads_one_key(c: &mut Criterion) {
    two_threads(c, "two_threads_one_key", [key("client-a"), key("client-a")]);
}

fn two_threads_two_keys(c: &mut Criterion) {
    two_threads(
        c,
        "two_threads_two_keys",
        [key("client-a"), key("client-b")],
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = one_thread, two_threads_one_key, two_threads_two_keys
}
criterion_main!(benches);
