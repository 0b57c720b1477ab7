//! The SigV4 scheme's costs (feature `sigv4`), each beside its baseline in
//! the same run: `cargo bench --features sigv4 --bench sigv4`.
//!
//! Every request is signed by AWS's own `aws-sigv4` crate (header auth with
//! S3's rules; aws-chunked bodies chained by its `sign_chunk`), outside the
//! timed part.
//!
//! - `sigv4_streaming`: aws-chunked bodies through `SignatureLayer` +
//!   [`SigV4`] (an in-process axum router whose handler reads the decoded
//!   body, then calls `verify()`), the wire fed in 64 KiB frames, against
//!   plain SHA-256 (`sha2`) over the same decoded bytes in 64 KiB pieces:
//!   `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` in 64 KiB chunks (what most SDKs
//!   send over http), and `STREAMING-UNSIGNED-PAYLOAD-TRAILER` in 1 MiB
//!   chunks with a CRC32 trailer (what boto3 sends over https). Also, for
//!   reference: CRC32 alone (`crc-fast`) over the same bytes, and the native
//!   scheme's layer over the same bytes in 64 KiB frames.
//! - `sigv4_per_request`: a small signed GET. The scheme's own work
//!   (`SigV4::claim`, then `Claim::authenticate` with the signing key
//!   cached: parse, clock and scope, canonical request, string-to-sign,
//!   HMAC, compare) against the bare HMAC-SHA256 of the same string-to-sign
//!   with the keyed signing key precomputed, and against
//!   `scratchstack-aws-signature`'s verifier (`sigv4_validate_request`, its
//!   signing key served from memory) on the same request; the native
//!   scheme's parse + string-to-sign + verify of `benches/hashing.rs`'s GET;
//!   then the whole layer round trip for the SigV4 GET, the native GET and
//!   the same router unsigned, with replay protection off and on.
//!
//! `Head` cannot be built outside the crate, so the scheme's own work is
//! timed from inside the layer: a wrapper scheme ([`Probed`]), handed the
//! request's real `Head` by the layer, runs `SigV4::claim` (+ `authenticate`)
//! as many times as criterion asks (`iter_custom`) before it answers.
//!
//! The clock: wall time by default, as `benches/hashing.rs`. On a machine
//! shared with other jobs, a benchmark that is descheduled part of the
//! time reads slower than the one before it, which skews ratios between
//! benchmarks even within one run; `SIGV4_BENCH_CLOCK=thread-cpu` measures
//! the bench thread's CPU time instead (`CLOCK_THREAD_CPUTIME_ID`: every
//! round trip runs on that thread), in groups named `…_cpu`, and
//! `SIGV4_BENCH_CLOCK=both` runs each group with both clocks.

#[path = "support/mod.rs"]
mod support;

#[path = "../examples/support/aws_signing.rs"]
mod aws_signing;

use std::{
    convert::Infallible,
    fmt::Write as _,
    future::Future,
    ops::Range,
    pin::pin,
    sync::{Arc, Mutex, OnceLock},
    task::{Context, Poll, Waker},
    time::{Duration, Instant, SystemTime},
};

use aws_credential_types::Credentials;
use aws_signing::{REGION, SERVICE};
use aws_sigv4::{http_request::SignableBody, sign::v4};
use aws_smithy_runtime_api::client::identity::Identity;
use axum::{body::Body, routing::any, Router};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use crc_fast::{CrcAlgorithm, Digest as Crc};
use criterion::{
    black_box,
    measurement::{Measurement, ValueFormatter, WallTime},
    BatchSize, BenchmarkId, Criterion, Throughput,
};
use hmac::{Hmac, KeyInit, Mac};
use http::{header, HeaderValue, Request};
use http_body::{Frame, SizeHint};
use scratchstack_aws_signature::{
    service_for_signing_key_fn, sigv4_validate_request, GetSigningKeyRequest,
    GetSigningKeyResponse, KSecretKey, SignatureOptions, NO_ADDITIONAL_SIGNED_HEADERS,
};
use sha2::{Digest as _, Sha256};
use support::{drain, drain_and_verify, runtime, unix_now};
use tower::ServiceExt;
use tower_hmac::{
    schemes::{hmac_sha256::Authorization, sigv4::SigV4, Authentication, Claim, Head, Scheme},
    BodyDigest, ErrorCode, InMemoryKeys, InMemoryNonceStore, Nonce, Secret, SignatureLayer, Signer,
};

/// 30 bytes: its base64 text (the secret access key) is 40 characters, as
/// AWS's are (and as `scratchstack-aws-signature`'s `KSecretKey` wants).
const SECRET: [u8; 30] = [7; 30];
const KEY_ID: &str = "7";
const FRAME: usize = 64 * 1024;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The secret access key: the secret's standard base64 text.
fn secret_access_key() -> String {
    STANDARD.encode(SECRET)
}

fn secret() -> Secret {
    Secret::new(SECRET.to_vec()).unwrap()
}

fn keys(secret: &Secret) -> InMemoryKeys {
    InMemoryKeys::new().with_key(KEY_ID.parse().unwrap(), secret.clone())
}

fn sigv4() -> SigV4 {
    SigV4::new(SERVICE)
        .region(REGION)
        .allow_unsigned_payload(true)
}

fn native_signer() -> Signer {
    Signer::new(KEY_ID.parse().unwrap(), secret())
}

// ---------------------------------------------------------------- signing (aws-sigv4)

fn identity() -> Identity {
    Credentials::new(KEY_ID, secret_access_key(), None, None, "bench").into()
}

/// How an aws-chunked body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: every chunk signed.
    Signed,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER` with an `x-amz-checksum-crc32` trailer.
    UnsignedTrailer,
}

fn crc32_base64(data: &[u8]) -> String {
    let crc = crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, data) as u32;
    STANDARD.encode(crc.to_be_bytes())
}

/// An aws-chunked `PUT` of `data` in chunks of `chunk` bytes, as the SDKs
/// send it: the request's head, the whole body on the wire, and where in
/// it each chunk's data lies.
fn aws_chunked_put(
    data: &[u8],
    chunk: usize,
    how: Chunked,
) -> (Request<()>, Bytes, Vec<Range<usize>>) {
    let mut ranges = Vec::new();
    let time = SystemTime::now();
    let mut request = Request::put("http://bench.local/bucket/object")
        .header(header::HOST, "bench.local")
        .header(header::CONTENT_ENCODING, "aws-chunked")
        .header("x-amz-decoded-content-length", data.len())
        .body(())
        .unwrap();
    let mut wire = Vec::with_capacity(data.len() + (data.len() / chunk + 2) * 100);
    match how {
        Chunked::Signed => {
            let seed = aws_signing::aws_sign(
                &mut request,
                SignableBody::Precomputed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into()),
                time,
                &identity(),
            );
            let identity = identity();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(REGION)
                .name(SERVICE)
                .time(time)
                .settings(())
                .build()
                .unwrap();
            let mut previous = seed;
            for piece in data
                .chunks(chunk)
                .map(Bytes::copy_from_slice)
                .chain([Bytes::new()])
            {
                let (_, signature) = v4::sign_chunk(&piece, &previous, &params)
                    .unwrap()
                    .into_parts();
                let line = format!("{:x};chunk-signature={signature}\r\n", piece.len());
                wire.extend_from_slice(line.as_bytes());
                if !piece.is_empty() {
                    ranges.push(wire.len()..wire.len() + piece.len());
                    wire.extend_from_slice(&piece);
                    wire.extend_from_slice(b"\r\n");
                }
                previous = signature;
            }
            wire.extend_from_slice(b"\r\n");
        }
        Chunked::UnsignedTrailer => {
            let headers = request.headers_mut();
            headers.insert(
                "x-amz-trailer",
                HeaderValue::from_static("x-amz-checksum-crc32"),
            );
            headers.insert(
                "x-amz-sdk-checksum-algorithm",
                HeaderValue::from_static("CRC32"),
            );
            aws_signing::aws_sign(
                &mut request,
                SignableBody::StreamingUnsignedPayloadTrailer,
                time,
                &identity(),
            );
            for piece in data.chunks(chunk) {
                wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                ranges.push(wire.len()..wire.len() + piece.len());
                wire.extend_from_slice(piece);
                wire.extend_from_slice(b"\r\n");
            }
            let trailer = format!("0\r\nx-amz-checksum-crc32:{}\r\n\r\n", crc32_base64(data));
            wire.extend_from_slice(trailer.as_bytes());
        }
    }
    request
        .headers_mut()
        .insert(header::CONTENT_LENGTH, wire.len().into());
    (request, wire.into(), ranges)
}

/// `ranges` cut wherever a frame of `frame` bytes ends.
fn frame_pieces(ranges: &[Range<usize>], frame: usize) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    for range in ranges {
        let mut start = range.start;
        while start < range.end {
            let end = range.end.min((start / frame + 1) * frame);
            pieces.push(start..end);
            start = end;
        }
    }
    pieces
}

// ---------------------------------------------------------------- bodies and handlers

/// `bytes` in frames of at most `frame` bytes, each a slice of it (no copies).
struct Slices {
    bytes: Bytes,
    frame: usize,
}

impl http_body::Body for Slices {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.bytes.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.frame.min(self.bytes.len());
        let piece = self.bytes.split_to(n);
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.len() as u64)
    }
}

fn with_body<T>(template: &Request<T>, body: Body) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = template.method().clone();
    *request.uri_mut() = template.uri().clone();
    *request.headers_mut() = template.headers().clone();
    request
}

/// Polls a future that never waits (no I/O behind it) to its end.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited"),
    }
}

// ---------------------------------------------------------------- streaming

fn streaming<M: Measurement<Value = Duration>>(c: &mut Criterion<M>, suffix: &str) {
    let runtime = runtime();
    let secret = secret();
    let app = Router::new()
        .route("/bucket/object", any(drain_and_verify))
        .route_layer(
            SignatureLayer::new(keys(&secret))
                .scheme(sigv4())
                .without_replay_protection(),
        );
    let mut group = c.benchmark_group(format!("sigv4_streaming{suffix}"));
    for mib in [1usize, 16] {
        let data: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
        let label = format!("{mib}MiB");
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_with_input(BenchmarkId::new("sha256", &label), &data, |b, data| {
            b.iter(|| {
                let mut hasher = Sha256::new();
                for piece in data.chunks(FRAME) {
                    hasher.update(black_box(piece));
                }
                hasher.finalize()
            })
        });
        if mib == 16 {
            group.bench_with_input(BenchmarkId::new("crc32", &label), &data, |b, data| {
                b.iter(|| {
                    let mut crc = Crc::new(CrcAlgorithm::Crc32IsoHdlc);
                    for piece in data.chunks(FRAME) {
                        crc.update(black_box(piece));
                    }
                    crc.finalize()
                })
            });
            // The native scheme over the same bytes, its digest declared.
            let native = Router::new()
                .route("/bucket/object", any(drain_and_verify))
                .route_layer(SignatureLayer::new(keys(&secret)).without_replay_protection());
            let digest = BodyDigest::of(&data);
            let mut request = Request::put("http://bench.local/bucket/object")
                .body(())
                .unwrap();
            native_signer()
                .sign_with_digest(&mut request, &digest)
                .unwrap();
            let body = Bytes::from(data.clone());
            group.bench_function(BenchmarkId::new("native_layer", &label), |b| {
                b.iter(|| {
                    let request = with_body(
                        &request,
                        Body::new(Slices {
                            bytes: body.clone(),
                            frame: FRAME,
                        }),
                    );
                    let response = runtime.block_on(native.clone().oneshot(request)).unwrap();
                    assert_eq!(response.status(), 200);
                })
            });
        }
        for (name, chunk, how) in [
            ("signed_64KiB_chunks", 64 * 1024, Chunked::Signed),
            (
                "unsigned_trailer_crc32_1MiB_chunks",
                1 << 20,
                Chunked::UnsignedTrailer,
            ),
        ] {
            // Signed here, so that no measurement runs past the clock skew.
            let (request, wire, ranges) = aws_chunked_put(&data, chunk, how);
            if how == Chunked::Signed {
                // The same SHA-256 over the data where it lies in the wire
                // (after each size line, not 64-byte aligned), in the pieces
                // the layer hashes: each chunk's data cut at the 64 KiB frames.
                let pieces = frame_pieces(&ranges, FRAME);
                group.bench_function(BenchmarkId::new("sha256_in_wire", &label), |b| {
                    b.iter(|| {
                        let mut hasher = Sha256::new();
                        for piece in &pieces {
                            hasher.update(black_box(&wire[piece.clone()]));
                        }
                        hasher.finalize()
                    })
                });
            }
            let once = runtime
                .block_on(
                    app.clone()
                        .oneshot(with_body(&request, Body::from(wire.clone()))),
                )
                .unwrap();
            assert_eq!(once.status(), 200, "{name}: {:?}", once.headers());
            group.bench_function(BenchmarkId::new(name, &label), |b| {
                b.iter(|| {
                    let request = with_body(
                        &request,
                        Body::new(Slices {
                            bytes: wire.clone(),
                            frame: FRAME,
                        }),
                    );
                    let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
                    assert_eq!(response.status(), 200);
                })
            });
        }
    }
    group.finish();
}

// ---------------------------------------------------------------- per request

/// What [`Probed`] is asked to time, and what it measured.
struct Probe {
    /// The bench's clock.
    clock: fn() -> Duration,
    /// Runs of the scheme's work still to time (0: none asked).
    iters: u64,
    /// `authenticate` too, or `claim` alone.
    authenticate: bool,
    elapsed: Duration,
    /// The key's secret (the one the key store holds: its signing-key cache).
    secret: Secret,
}

/// [`SigV4`] as the layer sees it, but that first times `iters` runs of
/// its own work on the request's real `Head`.
struct Probed {
    inner: SigV4,
    probe: Arc<Mutex<Probe>>,
}

impl Scheme for Probed {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn claim(
        &self,
        authorization: &HeaderValue,
        head: &Head<'_>,
    ) -> Result<Box<dyn Claim>, ErrorCode> {
        let mut probe = self.probe.lock().unwrap();
        if probe.iters > 0 {
            let (iters, authenticate, clock) = (probe.iters, probe.authenticate, probe.clock);
            let secret = probe.secret.clone();
            let started = clock();
            for _ in 0..iters {
                let claim = self
                    .inner
                    .claim(black_box(authorization), black_box(head))
                    .expect("a valid claim");
                if authenticate {
                    match claim.authenticate(&secret, head.bodiless) {
                        Authentication::Authenticated(check) => drop(black_box(check)),
                        _ => panic!("refused"),
                    }
                } else {
                    drop(black_box(claim));
                }
            }
            probe.elapsed = clock() - started;
            probe.iters = 0;
        }
        drop(probe);
        self.inner.claim(authorization, head)
    }
}

/// The SigV4 GET: `benches/hashing.rs`'s request, signed by `aws-sigv4` for
/// S3 (signed: `accept;host;x-amz-content-sha256;x-amz-date`; `aws-sigv4`
/// leaves `user-agent` out). With `sequence`, also a signed `x-request-id`,
/// so that each request has its own signature (the replay token).
fn sigv4_get(sequence: Option<u64>) -> Request<()> {
    let mut request = Request::get("http://bench.local/items/42?fields=name,price")
        .header(header::HOST, "bench.local")
        .header(header::USER_AGENT, "bench/1.0")
        .header(header::ACCEPT, "application/json")
        .body(())
        .unwrap();
    if let Some(sequence) = sequence {
        request
            .headers_mut()
            .insert("x-request-id", sequence.into());
    }
    aws_signing::aws_sign(
        &mut request,
        SignableBody::Bytes(b""),
        SystemTime::now(),
        &identity(),
    );
    request
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The string-to-sign of [`sigv4_get`]`(None)` and the signing key, built
/// here by hand and checked against the signature `aws-sigv4` made.
fn sigv4_string_to_sign(request: &Request<()>) -> (String, [u8; 32]) {
    let amz_date = request.headers()["x-amz-date"].to_str().unwrap();
    let date = &amz_date[..8];
    let canonical = format!(
        "GET\n/items/42\nfields=name%2Cprice\naccept:application/json\nhost:bench.local\n\
         x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:{amz_date}\n\n\
         accept;host;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
    );
    let scope = format!("{date}/{REGION}/{SERVICE}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        to_hex(&Sha256::digest(canonical.as_bytes()))
    );
    let first = format!("AWS4{}", secret_access_key());
    let key = [REGION, SERVICE, "aws4_request"].iter().fold(
        hmac_sha256(first.as_bytes(), date.as_bytes()),
        |key, part| hmac_sha256(&key, part.as_bytes()),
    );
    let authorization = request.headers()[header::AUTHORIZATION].to_str().unwrap();
    let signature = to_hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    assert!(
        authorization.ends_with(&format!("Signature={signature}")),
        "the bench's string-to-sign is not the one aws-sigv4 signed: {authorization}"
    );
    (string_to_sign, key)
}

fn per_request<M: Measurement<Value = Duration>>(
    c: &mut Criterion<M>,
    suffix: &str,
    clock: fn() -> Duration,
) {
    let runtime = runtime();
    let secret = secret();
    let probe = Arc::new(Mutex::new(Probe {
        clock,
        iters: 0,
        authenticate: true,
        elapsed: Duration::ZERO,
        secret: secret.clone(),
    }));
    let layer = || SignatureLayer::new(keys(&secret));
    let route = |layer: SignatureLayer| {
        Router::new()
            .route("/items/{id}", any(drain_and_verify))
            .route_layer(layer)
    };
    let probed = route(
        layer()
            .scheme(Probed {
                inner: sigv4(),
                probe: probe.clone(),
            })
            .without_replay_protection(),
    );
    let sigv4_app = route(layer().scheme(sigv4()).without_replay_protection());
    // Room for every nonce (or signature) of the run: the stores fail closed when full.
    let sigv4_replay = route(
        layer()
            .scheme(sigv4())
            .nonce_store(InMemoryNonceStore::with_capacity(50_000_000)),
    );
    let native_app = route(layer().without_replay_protection());
    let native_replay = route(layer().nonce_store(InMemoryNonceStore::with_capacity(50_000_000)));
    let unsigned = Router::new().route("/items/{id}", any(drain));

    let request = sigv4_get(None);
    let (string_to_sign, signing_key) = sigv4_string_to_sign(&request);
    eprintln!(
        "sigv4_per_request: Authorization: {}",
        request.headers()[header::AUTHORIZATION].to_str().unwrap()
    );
    // The keyed state of the signing key (inner and outer pads hashed), made once.
    let keyed = Hmac::<Sha256>::new_from_slice(&signing_key).unwrap();

    // scratchstack-aws-signature: the signing key served from memory.
    let now = unix_now();
    let server_time = chrono::DateTime::<chrono::Utc>::from_timestamp(now as i64, 0).unwrap();
    let ksigning = secret_access_key()
        .parse::<KSecretKey>()
        .unwrap()
        .to_ksigning(server_time.date_naive(), REGION, SERVICE);
    // Made apart, so that the closure is `FnMut` (as a `Service` must be).
    let get_signing_key = move |_: GetSigningKeyRequest| async move {
        Ok(GetSigningKeyResponse::builder()
            .signing_key(ksigning)
            .build()?)
    };
    let mut key_service = service_for_signing_key_fn(get_signing_key);
    let scratchstack = |request: Request<()>, key_service: &mut _| {
        ready(sigv4_validate_request(
            request,
            REGION,
            SERVICE,
            key_service,
            server_time,
            &NO_ADDITIONAL_SIGNED_HEADERS,
            SignatureOptions::S3,
        ))
    };
    scratchstack(request.clone(), &mut key_service).expect("scratchstack accepts the request");

    // The native scheme's GET of benches/hashing.rs.
    let new_native_request = || {
        let mut request = Request::get("http://bench.local/items/42?fields=name,price")
            .header(header::HOST, "bench.local")
            .header(header::USER_AGENT, "bench/1.0")
            .header(header::ACCEPT, "application/json")
            .body(())
            .unwrap();
        native_signer()
            .sign_header(header::USER_AGENT)
            .sign_header(header::ACCEPT)
            .sign_at(
                &mut request,
                &BodyDigest::EMPTY,
                unix_now(),
                Nonce::random(),
            )
            .unwrap();
        request
    };
    let native_request = new_native_request();
    let native_secret = secret.clone();

    let mut group = c.benchmark_group(format!("sigv4_per_request{suffix}"));
    group.bench_function("bare_hmac", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(string_to_sign.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    let mut timed = |what: &str, authenticate: bool| {
        let probe = probe.clone();
        let probed = probed.clone();
        let request = request.clone();
        let runtime = &runtime;
        group.bench_function(what, move |b| {
            b.iter_custom(|iters| {
                {
                    let mut probe = probe.lock().unwrap();
                    probe.iters = iters;
                    probe.authenticate = authenticate;
                }
                let request = with_body(&request, Body::empty());
                let response = runtime.block_on(probed.clone().oneshot(request)).unwrap();
                assert_eq!(response.status(), 200);
                let probe = probe.lock().unwrap();
                assert_eq!(probe.iters, 0, "the probe did not run");
                probe.elapsed
            })
        });
    };
    timed("sigv4_claim_authenticate", true);
    timed("sigv4_step_claim", false);
    group.bench_function("scratchstack_validate", |b| {
        b.iter_batched(
            || request.clone(),
            |request| scratchstack(request, &mut key_service).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("native_parse_canonicalize_verify", |b| {
        b.iter(|| {
            let request = black_box(&native_request);
            let auth =
                Authorization::from_header(&request.headers()[header::AUTHORIZATION]).unwrap();
            let canonical =
                auth.canonical_request(request.method(), request.uri(), request.headers());
            assert!(canonical.verify(&native_secret, &BodyDigest::EMPTY, auth.signature()));
        })
    });
    let round_trip = |app: &Router, request: Request<Body>| {
        let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
        assert_eq!(response.status(), 200);
    };
    group.bench_function("unsigned_router_get", |b| {
        b.iter(|| round_trip(&unsigned, with_body(&request, Body::empty())))
    });
    group.bench_function("native_layer_get", |b| {
        b.iter(|| round_trip(&native_app, with_body(&native_request, Body::empty())))
    });
    group.bench_function("sigv4_layer_get", |b| {
        b.iter(|| round_trip(&sigv4_app, with_body(&request, Body::empty())))
    });
    // A fresh nonce (native) or signature (SigV4) per request, signed outside the timed part.
    group.bench_function("native_layer_get_replay_protected", |b| {
        b.iter_batched(
            || with_body(&new_native_request(), Body::empty()),
            |request| round_trip(&native_replay, request),
            BatchSize::SmallInput,
        )
    });
    let mut sequence = 0u64;
    group.bench_function("sigv4_layer_get_replay_protected", |b| {
        b.iter_batched(
            || {
                sequence += 1;
                with_body(&sigv4_get(Some(sequence)), Body::empty())
            },
            |request| round_trip(&sigv4_replay, request),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

// ---------------------------------------------------------------- clocks

/// Wall time since the first call.
fn wall_time() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// The CPU time the calling thread has run.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable `timespec`.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// criterion's measurement by the bench thread's CPU time, shown as wall time is.
struct ThreadCpu(WallTime);

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }

    fn end(&self, started: Duration) -> Duration {
        thread_cpu_time() - started
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn criterion<M: Measurement>(measurement: M) -> Criterion<M> {
    Criterion::default()
        .with_measurement(measurement)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args()
}

fn main() {
    let clock = std::env::var("SIGV4_BENCH_CLOCK").unwrap_or_else(|_| "wall".into());
    let (wall, cpu) = match clock.as_str() {
        "wall" => (true, false),
        "thread-cpu" => (false, true),
        "both" => (true, true),
        other => panic!("SIGV4_BENCH_CLOCK is wall, thread-cpu or both, not {other:?}"),
    };
    if wall {
        let mut c = criterion(WallTime);
        streaming(&mut c, "");
        per_request(&mut c, "", wall_time);
        c.final_summary();
    }
    if cpu {
        let mut c = criterion(ThreadCpu(WallTime));
        streaming(&mut c, "_cpu");
        per_request(&mut c, "_cpu", thread_cpu_time);
        c.final_summary();
    }
}
