//! Resident memory per live nonce, measured from outside the store:
//! `cargo run --release --example nonce_rss [-- N]`.
//!
//! For each store (the in-memory store, and the one it replaced, kept in
//! `benches/nonce_store/baseline.rs`), a fresh child process reads its own
//! `VmRSS` from `/proc/self/status`, records N nonces (default 1,000,000;
//! 22-character nonces like the signer's, spread over 4 keys, all live),
//! reads `VmRSS` again, and reports the growth divided by N. Children run
//! one at a time, so the figures come from one run of this program. Also
//! printed: the time per insert (wall, and CPU from `/proc/thread-self/stat`,
//! which a busy machine does not inflate as much), the slowest single
//! insert and how many took over 100 µs (wall time: on a shared machine,
//! being descheduled counts too). Linux only.

#[path = "../benches/nonce_store/baseline.rs"]
mod baseline;

use std::{
    process::Command,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use baseline::BaselineNonceStore;
use tower_hmac::{InMemoryNonceStore, KeyId, Nonce, NonceStatus};

const STORES: [&str; 2] = ["baseline", "sharded"];

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--child") {
        let store = args.next().expect("a store name");
        let n = args.next().expect("a count").parse().expect("a number");
        child(&store, n);
        return;
    }
    let n: usize = first.map_or(1_000_000, |n| n.parse().expect("N, a number of nonces"));
    println!(
        "| store | nonces | RSS before | RSS after | bytes per live nonce | per insert: wall | CPU | slowest insert | inserts over 100 µs |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for store in STORES {
        let out = Command::new(std::env::current_exe().expect("this program"))
            .args(["--child", store, &n.to_string()])
            .output()
            .expect("the child runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn child(store: &str, n: usize) {
    let keys: Vec<KeyId> = (0..4)
        .map(|i| format!("client-{i}").parse().unwrap())
        .collect();
    // The nonces are made first, and not counted.
    let nonces: Vec<Nonce> = (0..n).map(nonce).collect();
    let expires_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3_600;
    // Each store is made, then measured from its first insert to its last.
    let measured = match store {
        "baseline" => {
            let store = BaselineNonceStore::with_capacity(usize::MAX);
            record_all(&keys, &nonces, |key, nonce| {
                store.record(key, nonce, expires_at).unwrap()
            })
        }
        "sharded" => {
            let store = InMemoryNonceStore::with_capacity(usize::MAX);
            let measured = record_all(&keys, &nonces, |key, nonce| {
                store.record(key, nonce, expires_at).unwrap()
            });
            assert_eq!(store.len(), n);
            measured
        }
        other => panic!("no store {other}"),
    };
    let Measured {
        before,
        after,
        elapsed,
        cpu,
        slow,
    } = measured;
    println!(
        "| {store} | {n} | {:.1} MiB | {:.1} MiB | {:.1} | {:.0} ns | {:.0} ns | {:.1} ms | {} |",
        before as f64 / 1024.0 / 1024.0,
        after as f64 / 1024.0 / 1024.0,
        (after - before) as f64 / n as f64,
        elapsed.as_nanos() as f64 / n as f64,
        cpu as f64 * 1e9 / TICKS_PER_SECOND / n as f64,
        slow.max.as_secs_f64() * 1e3,
        slow.over_100us,
    );
}

struct Measured {
    before: u64,
    after: u64,
    elapsed: Duration,
    cpu: u64,
    slow: Slowest,
}

/// Records every nonce (key by key in turn), each once and fresh.
fn record_all(
    keys: &[KeyId],
    nonces: &[Nonce],
    record: impl Fn(&KeyId, &Nonce) -> NonceStatus,
) -> Measured {
    let mut slow = Slowest::default();
    let before = vm_rss();
    let (started, cpu_started) = (Instant::now(), cpu_ticks());
    for (i, nonce) in nonces.iter().enumerate() {
        let insert = Instant::now();
        let fresh = record(&keys[i % keys.len()], nonce);
        slow.note(insert.elapsed());
        assert_eq!(fresh, NonceStatus::Fresh);
    }
    let (elapsed, cpu) = (started.elapsed(), cpu_ticks() - cpu_started);
    Measured {
        before,
        after: vm_rss(),
        elapsed,
        cpu,
        slow,
    }
}

/// The slowest inserts, in wall time (so a busy machine adds its own).
#[derive(Default)]
struct Slowest {
    max: Duration,
    over_100us: usize,
}

impl Slowest {
    fn note(&mut self, took: Duration) {
        self.max = self.max.max(took);
        self.over_100us += usize::from(took > Duration::from_micros(100));
    }
}

/// The `i`th nonce: 22 decimal digits, as long as the signer's.
fn nonce(i: usize) -> Nonce {
    let mut digits = [b'0'; 22];
    let mut rest = i;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    std::str::from_utf8(&digits).unwrap().parse().unwrap()
}

/// Linux's `USER_HZ`, the unit of `/proc/*/stat` times.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (user and system) of this thread so far, in `USER_HZ` ticks:
/// the machine may be shared, and wall time then says little.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("Linux's /proc");
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("(comm)") + 2..]
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15, counting the pid as 1.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// This process's resident set, in bytes.
fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux's /proc");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}
