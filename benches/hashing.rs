//! Streaming and per-request costs of the layer, each beside its baseline
//! in the same run: `cargo bench --bench hashing`.

use std::{convert::Infallible, time::Duration};

use axum::{body::Body, routing::any, Router};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use http::{header, Request};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use sha2::Sha256;
use tower::ServiceExt;
use tower_hmac::{
    protocol::{BodyDigest, BodyHasher},
    InMemoryKeys, Nonce, Secret, SignatureLayer, Signer, VerifiedResponse, Verifier, VerifyError,
};

const SECRET: [u8; 32] = [7; 32];
const FRAME: usize = 64 * 1024;

fn keys() -> InMemoryKeys {
    InMemoryKeys::new().with_key("7".parse().unwrap(), Secret::new(SECRET.to_vec()).unwrap())
}

fn signer() -> Signer {
    Signer::new("7".parse().unwrap(), Secret::new(SECRET.to_vec()).unwrap())
}

/// `frames` copies of one 64 KiB buffer.
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

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.left * self.chunk.len()) as u64)
    }
}

async fn drain_and_verify(
    verifier: Verifier,
    mut body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    while let Some(frame) = body.frame().await {
        std::hint::black_box(frame.ok());
    }
    Ok(verifier.verify().await?.respond(()))
}

fn streaming(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/upload", any(drain_and_verify))
        .route_layer(SignatureLayer::new(keys()).without_replay_protection());
    let chunk = Bytes::from(vec![0xA5u8; FRAME]);
    let mut group = c.benchmark_group("streaming");
    for frames in [16usize, 256] {
        let bytes = (frames * FRAME) as u64;
        group.throughput(Throughput::Bytes(bytes));
        group.bench_with_input(
            BenchmarkId::new("sha256_baseline", bytes),
            &frames,
            |b, &frames| {
                b.iter(|| {
                    let mut hasher = BodyHasher::new();
                    for _ in 0..frames {
                        hasher.update(&chunk);
                    }
                    hasher.finish()
                })
            },
        );
        let mut hasher = BodyHasher::new();
        for _ in 0..frames {
            hasher.update(&chunk);
        }
        let digest = hasher.finish();
        group.bench_with_input(
            BenchmarkId::new("signature_layer", bytes),
            &frames,
            |b, &frames| {
                b.iter(|| {
                    let mut request = Request::post("http://bench.local/upload")
                        .body(Body::new(Frames {
                            chunk: chunk.clone(),
                            left: frames,
                        }))
                        .unwrap();
                    signer().sign_with_digest(&mut request, &digest).unwrap();
                    let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
                    assert_eq!(response.status(), 200);
                })
            },
        );
    }
    group.finish();
}

fn per_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/items/{id}", any(drain_and_verify))
        .route_layer(SignatureLayer::new(keys()).without_replay_protection());
    let mut request = Request::get("http://bench.local/items/42?fields=name,price")
        .header(header::USER_AGENT, "bench")
        .body(())
        .unwrap();
    let auth = signer()
        .sign_at(
            &mut request,
            &BodyDigest::of(b""),
            tower_hmac_now(),
            Nonce::random(),
        )
        .unwrap();
    let string_to_sign = auth
        .canonical_request(request.method(), request.uri(), request.headers())
        .string_to_sign(&BodyDigest::of(b""));

    let mut group = c.benchmark_group("per_request");
    group.bench_function("bare_hmac_of_string_to_sign", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&SECRET).unwrap();
            mac.update(&string_to_sign);
            mac.finalize()
        })
    });
    group.bench_function("parse_and_canonicalize", |b| {
        b.iter(|| {
            let auth = tower_hmac::protocol::Authorization::from_header(
                &request.headers()[header::AUTHORIZATION],
            )
            .unwrap();
            auth.canonical_request(request.method(), request.uri(), request.headers())
        })
    });
    group.bench_function("signature_layer_get", |b| {
        b.iter(|| {
            let request = request.clone().map(|()| Body::empty());
            let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
            assert_eq!(response.status(), 200);
        })
    });
    group.finish();
}

fn tower_hmac_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = streaming, per_request
}
criterion_main!(benches);
