//! tower-hmac against other crates, in one criterion run:
//! `cd benches/peers && cargo bench` (add `--features aws-lc` for aws-lc-rs).
//!
//! - `sha256`: SHA-256 backends over the same 64 KiB frames (RustCrypto
//!   `sha2`, tower-hmac's default, against `ring`, tower-hmac's own
//!   `BodyHasher` built with its `ring` feature, and optionally `aws-lc-rs`),
//!   plus the two `ring` kernels a CPU without SHA extensions runs, called
//!   directly (`ring` picks SHA-NI wherever the CPU has it, with no override).
//!   `scripts/bench_all.sh` runs this group a second time with `sha2`'s
//!   portable code and AWS-LC's SHA-NI masked (`OPENSSL_ia32cap`).
//! - `hmac`: HMAC-SHA256 of a typical string-to-sign, keyed state precomputed.
//! - `verify_get`: verifying a comparable signed GET, tower-hmac (parse the
//!   header, build the string-to-sign, check the HMAC) against `httpsig-hyper`
//!   (RFC 9421 `hmac-sha256`, covering the same parts of the request).

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use http::{header, Request};
use httpsig_hyper::{
    prelude::{message_component::HttpMessageComponentId, *},
    MessageSignatureReqSync,
};
use sha2::{Digest as _, Sha256};
use tower_hmac::{
    schemes::hmac_sha256::Authorization, BodyDigest,
    Nonce, Secret, Signer,
};

const SECRET: [u8; 32] = [7; 32];
const FRAME: usize = 64 * 1024;
const URL: &str = "http://bench.local/items/42?fields=name,price";

fn sha256(c: &mut Criterion) {
    let chunk: Vec<u8> = (0..FRAME).map(|i| (i % 251) as u8).collect();
    let mut group = c.benchmark_group("sha256");
    {
        let frames = 16usize;
        let label = format!("{}MiB", (frames * FRAME) >> 20);
        group.throughput(Throughput::Bytes((frames * FRAME) as u64));
        group.bench_function(BenchmarkId::new("sha2", &label), |b| {
            b.iter(|| {
                let mut hasher = Sha256::new();
                for _ in 0..frames {
                    hasher.update(black_box(&chunk[..]));
                }
                hasher.finalize()
            })
        });
        group.bench_function(BenchmarkId::new("ring", &label), |b| {
            b.iter(|| {
                let mut context = ring::digest::Context::new(&ring::digest::SHA256);
                for _ in 0..frames {
                    context.update(black_box(&chunk[..]));
                }
                context.finish()
            })
        });
        group.bench_function(BenchmarkId::new("tower_hmac_ring", &label), |b| {
            b.iter(|| {
                let mut hasher = tower_hmac::BodyHasher::new();
                for _ in 0..frames {
                    hasher.update(black_box(&chunk[..]));
                }
                hasher.finish()
            })
        });
        #[cfg(target_arch = "x86_64")]
        for (name, kernel) in ring_kernels::WITHOUT_SHA_EXTENSIONS {
            group.bench_function(BenchmarkId::new(name, &label), |b| {
                b.iter(|| {
                    let mut state = ring_kernels::INITIAL_STATE;
                    for _ in 0..frames {
                        ring_kernels::run(kernel, &mut state, black_box(&chunk[..]));
                    }
                    state
                })
            });
        }
        #[cfg(feature = "aws-lc")]
        group.bench_function(BenchmarkId::new("aws_lc_rs", &label), |b| {
            b.iter(|| {
                let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
                for _ in 0..frames {
                    context.update(black_box(&chunk[..]));
                }
                context.finish()
            })
        });
    }
    group.finish();
}

/// `ring` 0.17.14's SHA-256 block functions (its assembly, exported under a
/// versioned prefix; `Cargo.lock` pins the version). Called directly, because
/// `ring` itself always takes SHA-NI when the CPU has it.
#[cfg(target_arch = "x86_64")]
mod ring_kernels {
    type Kernel = unsafe extern "C" fn(state: *mut [u32; 8], data: *const u8, blocks: usize);

    extern "C" {
        fn ring_core_0_17_14__sha256_block_data_order_ssse3(
            state: *mut [u32; 8],
            data: *const u8,
            blocks: usize,
        );
        fn ring_core_0_17_14__sha256_block_data_order_nohw(
            state: *mut [u32; 8],
            data: *const u8,
            blocks: usize,
        );
    }

    /// What `ring` runs without SHA extensions: SSSE3 on any x86-64 from the
    /// last 15 years but Intel ones with AVX (there an AVX kernel, which is
    /// slow on this AMD CPU and so is not measured here), and plain x86-64.
    pub const WITHOUT_SHA_EXTENSIONS: [(&str, Kernel); 2] = [
        ("ring_kernel_ssse3", ring_core_0_17_14__sha256_block_data_order_ssse3),
        ("ring_kernel_nohw", ring_core_0_17_14__sha256_block_data_order_nohw),
    ];

    pub const INITIAL_STATE: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    /// Runs `kernel` over the whole 64-byte blocks of `data`.
    pub fn run(kernel: Kernel, state: &mut [u32; 8], data: &[u8]) {
        assert!(std::arch::is_x86_feature_detected!("ssse3"));
        let blocks = data.len() / 64;
        if blocks > 0 {
            // SAFETY: `data` holds `blocks` whole blocks, `state` is eight
            // words, and the CPU has SSSE3 (asserted above).
            unsafe { kernel(state, data.as_ptr(), blocks) }
        }
    }
}

/// A typical small GET, signed by tower-hmac's signer over host, accept and user-agent.
fn tower_hmac_request() -> Request<()> {
    let mut request = Request::get(URL)
        .header(header::HOST, "bench.local")
        .header(header::USER_AGENT, "bench/1.0")
        .header(header::ACCEPT, "application/json")
        .body(())
        .unwrap();
    Signer::new("7".parse().unwrap(), Secret::new(SECRET.to_vec()).unwrap())
        .sign_header(header::USER_AGENT)
        .sign_header(header::ACCEPT)
        .sign_at(
            &mut request,
            &BodyDigest::of(b""),
            unix_now(),
            Nonce::random(),
        )
        .unwrap();
    request
}

fn hmac(c: &mut Criterion) {
    let request = tower_hmac_request();
    let auth = Authorization::from_header(&request.headers()[header::AUTHORIZATION]).unwrap();
    let text = auth
        .canonical_request(request.method(), request.uri(), request.headers())
        .string_to_sign(&BodyDigest::of(b""));
    let mut group = c.benchmark_group("hmac");
    group.throughput(Throughput::Bytes(text.len() as u64));
    let keyed = Hmac::<Sha256>::new_from_slice(&SECRET).unwrap();
    group.bench_function("sha2_hmac", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(&text));
            mac.finalize().into_bytes()
        })
    });
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &SECRET);
    group.bench_function("ring", |b| {
        b.iter(|| ring::hmac::sign(&key, black_box(&text)))
    });
    #[cfg(feature = "aws-lc")]
    {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &SECRET);
        group.bench_function("aws_lc_rs", |b| {
            b.iter(|| aws_lc_rs::hmac::sign(&key, black_box(&text)))
        });
    }
    group.finish();
}

fn verify_get(c: &mut Criterion) {
    // tower-hmac
    let request = tower_hmac_request();
    let secret = Secret::new(SECRET.to_vec()).unwrap();
    let empty = BodyDigest::of(b"");

    // httpsig-hyper: the same request, covering the same parts, with created and nonce.
    let shared_key = SharedKey::HmacSha256(SECRET.to_vec());
    let components = [
        "@method",
        "@authority",
        "@path",
        "@query",
        "user-agent",
        "accept",
    ]
    .map(|name| HttpMessageComponentId::try_from(name).unwrap());
    let mut params = HttpSignatureParams::try_new(&components).unwrap();
    params.set_key_info(&shared_key);
    params.set_random_nonce();
    let mut peer = Request::get(URL)
        .header(header::HOST, "bench.local")
        .header(header::USER_AGENT, "bench/1.0")
        .header(header::ACCEPT, "application/json")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    peer.set_message_signature_sync(&params, &shared_key, Some("sig"))
        .unwrap();
    let key_id = VerifyingKey::key_id(&shared_key);
    assert!(peer
        .verify_message_signature_sync(&shared_key, Some(&key_id))
        .is_ok());

    let mut group = c.benchmark_group("verify_get");
    group.bench_function("tower_hmac", |b| {
        b.iter(|| {
            let request = black_box(&request);
            let auth =
                Authorization::from_header(&request.headers()[header::AUTHORIZATION]).unwrap();
            let canonical =
                auth.canonical_request(request.method(), request.uri(), request.headers());
            assert!(canonical.verify(&secret, &empty, auth.signature()));
        })
    });
    group.bench_function("httpsig_hyper", |b| {
        b.iter(|| {
            black_box(&peer)
                .verify_message_signature_sync(&shared_key, Some(&key_id))
                .unwrap()
        })
    });
    group.finish();
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    targets = sha256, hmac, verify_get
}
criterion_main!(benches);
