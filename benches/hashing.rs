//! The layer's costs, each beside its baseline in the same run:
//! `cargo bench --bench hashing`.
//!
//! - `streaming`: 64 KiB frames through `SignatureLayer` (an in-process axum
//!   router whose handler reads the body and calls `verify()`) against plain
//!   SHA-256 (`sha2`) over the same frames.
//! - `per_request`: a small signed GET. Parsing the header, building the
//!   string-to-sign and verifying it (the public `protocol` API) against the
//!   bare HMAC-SHA256 of the same string-to-sign with the keyed state
//!   precomputed once; then the whole layer round trip, with and without
//!   replay protection, beside the same router unsigned.
//!
//! - `algorithms` (with `--features blake3`): the body digest of each
//!   algorithm through `BodyHasher` (SHA-256, BLAKE3), the MAC of a small
//!   GET's string-to-sign under each, and 16 MiB through `SignatureLayer`
//!   signed `HMAC-SHA256` and `BLAKE3-KEYED`, in the same run:
//!   `cargo bench --bench hashing --features blake3 -- algorithms`.
//!
//! Ratios are printed by `scripts/bench_report.py` from criterion's JSON.

#[path = "support/mod.rs"]
mod support;

use std::{convert::Infallible, time::Duration};

use axum::{body::Body, routing::any, Router};
use bytes::Bytes;
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use hmac::{Hmac, KeyInit, Mac};
use http::{header, Request, StatusCode};
use http_body::{Frame, SizeHint};
use sha2::{Digest as _, Sha256};
use support::{drain, drain_and_verify, runtime, unix_now};
use tower::{Layer as _, ServiceExt};
use tower_hmac::{
    schemes::hmac_sha256::Authorization, BodyDigest, InMemoryKeys, InMemoryNonceStore, Nonce,
    Secret, SignatureLayer, Signer,
};
use tower_http::limit::RequestBodyLimitLayer;

const SECRET: [u8; 32] = [7; 32];
const FRAME: usize = 64 * 1024;

fn keys() -> InMemoryKeys {
    InMemoryKeys::new().with_key("7".parse().unwrap(), Secret::new(SECRET.to_vec()).unwrap())
}

fn signer() -> Signer {
    Signer::new("7".parse().unwrap(), Secret::new(SECRET.to_vec()).unwrap())
}

/// `left` frames, each the same 64 KiB buffer (no allocation per frame).
struct Frames {
    chunk: Bytes,
    left: usize,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.left * self.chunk.len()) as u64)
    }
}

fn streaming(c: &mut Criterion) {
    let runtime = runtime();
    let app = Router::new()
        .route("/upload", any(drain_and_verify))
        .route_layer(SignatureLayer::new(keys()).without_replay_protection());
    let chunk = Bytes::from((0..FRAME).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let mut group = c.benchmark_group("streaming");
    for frames in [16usize, 256] {
        let bytes = (frames * FRAME) as u64;
        let label = format!("{}MiB", bytes >> 20);
        group.throughput(Throughput::Bytes(bytes));
        group.bench_with_input(BenchmarkId::new("sha256", &label), &frames, |b, &frames| {
            b.iter(|| {
                let mut hasher = Sha256::new();
                for _ in 0..frames {
                    hasher.update(black_box(&chunk[..]));
                }
                hasher.finalize()
            })
        });
        let mut hasher = Sha256::new();
        for _ in 0..frames {
            hasher.update(&chunk);
        }
        let digest = BodyDigest::from_bytes(hasher.finalize().into());
        let mut request = Request::post("http://bench.local/upload").body(()).unwrap();
        signer().sign_with_digest(&mut request, &digest).unwrap();
        group.bench_with_input(
            BenchmarkId::new("signature_layer", &label),
            &frames,
            |b, &frames| {
                b.iter(|| {
                    let request = request.clone().map(|()| {
                        Body::new(Frames {
                            chunk: chunk.clone(),
                            left: frames,
                        })
                    });
                    let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
                    assert_eq!(response.status(), 200);
                })
            },
        );
    }
    group.finish();
}

/// Fresh requests made in batches small enough to stay in cache, as a
/// server's request is when hyper has just parsed it: criterion's
/// `SmallInput` makes ~10 % of a sample at once, megabytes of requests that
/// the layer (which reads the headers, unlike the unsigned app) meets cold.
const HOT_BATCH: BatchSize = BatchSize::NumIterations(64);

fn per_request(c: &mut Criterion) {
    let runtime = runtime();
    // Each router's routes built once (`with_state`), as `axum::serve` does
    // for every connection; unfinished, each request rebuilds its route.
    let replay_store = || InMemoryNonceStore::with_capacity(50_000_000);
    let signed = Router::new()
        .route("/items/{id}", any(drain_and_verify))
        .route_layer(SignatureLayer::new(keys()).without_replay_protection())
        .with_state(());
    let signed_with_replay = Router::new()
        .route("/items/{id}", any(drain_and_verify))
        // Room for every nonce of the run: the default store (1,000,000
        // entries) fails closed when full, and nonces live for 10 minutes.
        .route_layer(SignatureLayer::new(keys()).nonce_store(replay_store()))
        .with_state(());
    let unsigned = Router::new()
        .route("/items/{id}", any(drain))
        .with_state(());
    // The unsigned route behind a layer of the same shape (it wraps the
    // request and the response body): what any route layer costs in axum.
    let unsigned_layered = Router::new()
        .route("/items/{id}", any(drain))
        .route_layer(RequestBodyLimitLayer::new(usize::MAX))
        .with_state(());
    // The layer around the whole router instead (`ServiceBuilder`, or
    // `Layer::layer(router)`), where axum boxes nothing for it.
    let outer_signed = SignatureLayer::new(keys())
        .without_replay_protection()
        .layer(
            Router::new()
                .route("/items/{id}", any(drain_and_verify))
                .with_state(()),
        );
    let outer_signed_with_replay = SignatureLayer::new(keys())
        .nonce_store(replay_store())
        .layer(
            Router::new()
                .route("/items/{id}", any(drain_and_verify))
                .with_state(()),
        );
    let outer_layered = RequestBodyLimitLayer::new(usize::MAX).layer(unsigned.clone());

    let new_request = || {
        let mut request = Request::get("http://bench.local/items/42?fields=name,price")
            .header(header::HOST, "bench.local")
            .header(header::USER_AGENT, "bench/1.0")
            .header(header::ACCEPT, "application/json")
            .body(())
            .unwrap();
        signer()
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
    };
    let request = new_request();
    let auth = Authorization::from_header(&request.headers()[header::AUTHORIZATION]).unwrap();
    let empty = BodyDigest::of(b"");
    let string_to_sign = auth
        .canonical_request(request.method(), request.uri(), request.headers())
        .string_to_sign(&empty);
    let secret = Secret::new(SECRET.to_vec()).unwrap();
    // The keyed state (inner and outer pads hashed), computed once per key.
    let keyed = Hmac::<Sha256>::new_from_slice(&SECRET).unwrap();

    let mut group = c.benchmark_group("per_request");
    group.bench_function("bare_hmac", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(&string_to_sign));
            mac.finalize().into_bytes()
        })
    });
    group.bench_function("parse_canonicalize_verify", |b| {
        b.iter(|| {
            let request = black_box(&request);
            let auth =
                Authorization::from_header(&request.headers()[header::AUTHORIZATION]).unwrap();
            let canonical =
                auth.canonical_request(request.method(), request.uri(), request.headers());
            assert!(canonical.verify(&secret, &empty, auth.signature()));
        })
    });
    // Its three steps apart, to see where the time goes.
    group.bench_function("step_parse", |b| {
        b.iter(|| {
            Authorization::from_header(black_box(&request.headers()[header::AUTHORIZATION]))
                .unwrap()
        })
    });
    group.bench_function("step_canonicalize", |b| {
        b.iter(|| {
            black_box(&auth).canonical_request(request.method(), request.uri(), request.headers())
        })
    });
    let canonical = auth.canonical_request(request.method(), request.uri(), request.headers());
    group.bench_function("step_verify", |b| {
        b.iter(|| assert!(black_box(&canonical).verify(&secret, &empty, auth.signature())))
    });
    group.bench_function("unsigned_router_get", |b| {
        b.iter(|| {
            let request = request.clone().map(|()| Body::empty());
            let response = runtime.block_on(unsigned.clone().oneshot(request)).unwrap();
            assert_eq!(response.status(), 200);
        })
    });
    group.bench_function("signature_layer_get", |b| {
        b.iter(|| {
            let request = request.clone().map(|()| Body::empty());
            let response = runtime.block_on(signed.clone().oneshot(request)).unwrap();
            assert_eq!(response.status(), 200);
        })
    });
    // Like with like: the same freshly signed request (its own nonce, made
    // outside the timed part) into each app, so that they differ only in
    // the app. Issue 14's target 1 is the ratio of these.
    let fresh = || new_request().map(|()| Body::empty());
    let mut round_trip = |name: &str, app: &dyn Fn(Request<Body>) -> StatusCode| {
        group.bench_function(name, |b| b.iter_batched(fresh, app, HOT_BATCH));
    };
    round_trip("fresh_unsigned_router_get", &|request| {
        status(&runtime, unsigned.clone(), request)
    });
    round_trip("fresh_unsigned_router_get_behind_a_layer", &|request| {
        status(&runtime, unsigned_layered.clone(), request)
    });
    round_trip("fresh_signature_layer_get", &|request| {
        status(&runtime, signed.clone(), request)
    });
    round_trip("signature_layer_get_replay_protected", &|request| {
        status(&runtime, signed_with_replay.clone(), request)
    });
    round_trip("fresh_unsigned_router_get_outer_layer", &|request| {
        status(&runtime, outer_layered.clone(), request)
    });
    round_trip("fresh_signature_layer_get_outer", &|request| {
        status(&runtime, outer_signed.clone(), request)
    });
    round_trip("signature_layer_get_replay_protected_outer", &|request| {
        status(&runtime, outer_signed_with_replay.clone(), request)
    });
    group.finish();
}

/// One in-process round trip: the response's status.
fn status<S, B>(runtime: &tokio::runtime::Runtime, app: S, request: Request<Body>) -> StatusCode
where
    S: tower::Service<Request<Body>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
{
    let response = runtime.block_on(app.oneshot(request)).unwrap();
    assert_eq!(response.status(), 200);
    response.status()
}

/// HMAC-SHA256 against BLAKE3-KEYED: body hashing, the MAC, and the layer.
#[cfg(feature = "blake3")]
fn algorithms(c: &mut Criterion) {
    use tower_hmac::{schemes::blake3_keyed::Blake3Keyed, Algorithm, BodyHasher};

    let runtime = runtime();
    let app = Router::new()
        .route("/upload", any(drain_and_verify))
        .route_layer(
            SignatureLayer::new(keys())
                .scheme(Blake3Keyed::new())
                .without_replay_protection(),
        );
    let chunk = Bytes::from((0..FRAME).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let frames = 256;
    let mut group = c.benchmark_group("algorithms");
    for (name, algorithm) in [
        ("sha256", Algorithm::HmacSha256),
        ("blake3", Algorithm::Blake3Keyed),
    ] {
        group.throughput(Throughput::Bytes((frames * FRAME) as u64));
        group.bench_function(BenchmarkId::new("body_hasher_16MiB", name), |b| {
            b.iter(|| {
                let mut hasher = BodyHasher::for_algorithm(algorithm);
                for _ in 0..frames {
                    hasher.update(black_box(&chunk[..]));
                }
                hasher.finish()
            })
        });
        let signer = signer().algorithm(algorithm);
        let mut hasher = signer.body_hasher();
        for _ in 0..frames {
            hasher.update(&chunk);
        }
        let mut upload = Request::post("http://bench.local/upload").body(()).unwrap();
        signer
            .sign_with_digest(&mut upload, &hasher.finish())
            .unwrap();
        group.bench_function(BenchmarkId::new("signature_layer_16MiB", name), |b| {
            b.iter(|| {
                let request = upload.clone().map(|()| {
                    Body::new(Frames {
                        chunk: chunk.clone(),
                        left: frames,
                    })
                });
                let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
                assert_eq!(response.status(), 200);
            })
        });

        group.throughput(Throughput::Elements(1));
        let mut get = Request::get("http://api.example.com/v1/items?limit=10")
            .body(())
            .unwrap();
        signer.sign(&mut get, b"").unwrap();
        let value = get.headers()[header::AUTHORIZATION].clone();
        let secret = Secret::new(SECRET.to_vec()).unwrap();
        group.bench_function(BenchmarkId::new("parse_canonicalize_verify", name), |b| {
            b.iter(|| {
                let auth = Authorization::from_header_as(algorithm, black_box(&value)).unwrap();
                let canonical = auth.canonical_request(get.method(), get.uri(), get.headers());
                assert!(canonical.verify(&secret, &algorithm.empty_digest(), auth.signature()));
            })
        });
    }
    group.finish();
}

#[cfg(not(feature = "blake3"))]
fn algorithms(_: &mut Criterion) {}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    targets = streaming, per_request, algorithms
}
criterion_main!(benches);
