//! The end-to-end benchmark's server and client (`scripts/e2e.sh` drives it).
//!
//! ```text
//! bench_server serve --mode signed|signed-outer|signed-blake3|buffered|unsigned|layered [--listen ADDR] [--no-replay] [--threads N]
//! bench_server sign-requests --url URL --count N --out FILE   # for wrk's Lua script
//! bench_server upload --url URL --bytes N [--requests K] [--algorithm blake3]
//!                                                             # prints one JSON line
//! bench_server repeat --what bare|verify|unsigned_get|layered_get|signed_get|outer_get|outer_layered_get|presign|signed_get_presigned|replay_get|unsigned_upload|signed_upload|chunked_upload --count N
//!                                                             # for scripts/instructions.sh
//! ```
//!
//! Modes, all with the same routes (`GET /items/{id}`, `POST /upload`):
//! - `signed`: `SignatureLayer` on the routes (`route_layer`); the body streams
//!   through SHA-256 to the handler.
//! - `signed-outer`: the same layer around the whole router instead.
//! - `signed-blake3` (feature `blake3`): the same layer accepting `BLAKE3-KEYED`
//!   too; with `upload --algorithm blake3` the body streams through BLAKE3.
//! - `buffered`: the buffer-everything approach of most HMAC middlewares:
//!   read the whole body into memory, then check the HMAC over it.
//! - `unsigned`: the same app with no authentication.
//!
//! Every request is signed with the demo key (never use it for anything real).

mod support;

use std::{
    convert::Infallible,
    io::Write as _,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header::AUTHORIZATION, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use tower_hmac::{
    schemes::hmac_sha256::Authorization, BodyDigest, BodyHasher, InMemoryKeys, InMemoryNonceStore,
    KeyId, Nonce, Secret, SignatureLayer, Signer, VerifiedResponse, Verifier, VerifyError,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args.split_first().unwrap_or_else(|| usage());
    let opts = Opts::parse(rest);
    let threads: usize = opts.get("--threads").map_or(1, parse);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    }
    .enable_all()
    .build()
    .expect("a tokio runtime");
    match command.as_str() {
        "serve" => runtime.block_on(serve(&opts)),
        "sign-requests" => sign_requests(&opts),
        "upload" => runtime.block_on(upload(&opts)),
        "repeat" => repeat(&opts),
        _ => usage(),
    }
}

// ---------------------------------------------------------------- server

async fn serve(opts: &Opts) {
    let listen = opts.get("--listen").unwrap_or("127.0.0.1:3000");
    let mode = opts.get("--mode").unwrap_or_else(|| usage());
    let capacity = opts.get("--nonce-capacity").map_or(1_000_000, parse);
    let replay = (!opts.flag("--no-replay")).then(|| Replay {
        nonce_capacity: capacity,
        max_skew: opts.get("--max-skew").map(parse),
        max_request_duration: opts.get("--max-request-duration").map(parse),
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| fail(&format!("cannot listen on {listen}: {e}")));
    println!("{mode} on http://{}", listener.local_addr().unwrap());
    // No timeouts or limit: the benchmarks measure the middleware alone.
    if mode == "signed-outer" {
        // The layer around the whole router rather than on its routes.
        use axum::{serve::ListenerExt as _, ServiceExt};
        use tower::Layer as _;
        let app = signature_layer("signed", replay).layer(router_with("bare", None));
        // `axum::serve` takes axum's own response body.
        let app = tower::util::MapResponse::new(app, |response: http::Response<_>| {
            response.map(Body::new)
        });
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
            .await
            .expect("the server failed");
        return;
    }
    support::serve_unlimited(listener, router_with(mode, replay)).await;
}

/// The benchmark app in `mode` (`signed`, `buffered` or `unsigned`).
fn router(mode: &str, replay: bool) -> Router {
    router_with(
        mode,
        replay.then_some(Replay {
            nonce_capacity: 1_000_000,
            max_skew: None,
            max_request_duration: None,
        }),
    )
}

/// Replay protection for the signed app: the store's capacity, and the
/// window (in seconds) that sets how long each nonce is kept.
struct Replay {
    nonce_capacity: usize,
    max_skew: Option<u64>,
    max_request_duration: Option<u64>,
}

/// The app of `mode`, with its routes built once (`with_state`), as
/// `axum::serve` does for each connection: else every in-process request
/// would rebuild its route and layers.
fn router_with(mode: &str, replay: Option<Replay>) -> Router {
    unfinished_router(mode, replay).with_state(())
}

fn unfinished_router(mode: &str, replay: Option<Replay>) -> Router {
    let (key_id, secret) = support::demo_key();
    match mode {
        "signed" | "signed-blake3" => {
            unfinished_router("bare", None).route_layer(signature_layer(mode, replay))
        }
        // The signed app's routes and handlers, without the layer.
        "bare" => Router::new()
            .route("/items/{id}", get(signed_item))
            .route("/upload", post(signed_upload)),
        "buffered" => Router::new()
            .route("/items/{id}", get(buffered))
            .route("/upload", post(buffered))
            .with_state(Arc::new((key_id, secret))),
        "unsigned" => Router::new()
            .route("/items/{id}", get(unsigned_item))
            .route("/upload", post(unsigned_upload)),
        // Unsigned, behind a route layer of the layer's shape (it wraps the
        // request and the response body): what any route layer costs.
        "layered" => Router::new()
            .route("/items/{id}", get(unsigned_item))
            .route("/upload", post(unsigned_upload))
            .route_layer(tower_http::limit::RequestBodyLimitLayer::new(usize::MAX)),
        _ => usage(),
    }
}

/// The signed app's layer (`signed` or `signed-blake3`).
fn signature_layer(mode: &str, replay: Option<Replay>) -> SignatureLayer {
    let (key_id, secret) = support::demo_key();
    let keys = InMemoryKeys::new().with_key(key_id, secret);
    let mut layer = SignatureLayer::new(keys);
    if mode == "signed-blake3" {
        layer = with_blake3(layer);
    }
    match replay {
        Some(replay) => {
            if let Some(skew) = replay.max_skew {
                layer = layer.max_clock_skew(Duration::from_secs(skew));
            }
            if let Some(duration) = replay.max_request_duration {
                layer = layer.max_request_duration(Duration::from_secs(duration));
            }
            layer.nonce_store(InMemoryNonceStore::with_capacity(replay.nonce_capacity))
        }
        None => layer.without_replay_protection(),
    }
}

#[cfg(feature = "blake3")]
fn with_blake3(layer: SignatureLayer) -> SignatureLayer {
    layer.scheme(tower_hmac::schemes::blake3_keyed::Blake3Keyed::new())
}

#[cfg(not(feature = "blake3"))]
fn with_blake3(_: SignatureLayer) -> SignatureLayer {
    fail("signed-blake3 needs --features blake3")
}

/// The signer of `--algorithm` (`sha256`, the default, or `blake3`).
fn signer_for(opts: &Opts) -> Signer {
    let (key_id, secret) = support::demo_key();
    let signer = Signer::new(key_id, secret);
    match opts.get("--algorithm").unwrap_or("sha256") {
        "sha256" => signer,
        #[cfg(feature = "blake3")]
        "blake3" => signer.algorithm(tower_hmac::Algorithm::Blake3Keyed),
        other => fail(&format!(
            "unknown --algorithm {other} (blake3 needs --features blake3)"
        )),
    }
}

const ITEM: &str = "{\"id\":42,\"name\":\"widget\",\"price\":7}";

async fn signed_item(verifier: Verifier) -> Result<VerifiedResponse, VerifyError> {
    Ok(verifier.verify().await?.respond(ITEM))
}

async fn signed_upload(
    verifier: Verifier,
    mut body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    let mut bytes: u64 = 0;
    while let Some(Ok(frame)) = body.frame().await {
        bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
    let verified = verifier.verify().await?;
    Ok(verified.respond(Json(serde_json::json!({ "bytes": bytes }))))
}

async fn unsigned_item() -> &'static str {
    ITEM
}

async fn unsigned_upload(mut body: Body) -> Json<serde_json::Value> {
    let mut bytes: u64 = 0;
    while let Some(Ok(frame)) = body.frame().await {
        bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
    Json(serde_json::json!({ "bytes": bytes }))
}

/// Reads the whole body, then checks the HMAC over it (no replay check).
async fn buffered(State(key): State<Arc<(KeyId, Secret)>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(Ok(auth)) = parts
        .headers
        .get(AUTHORIZATION)
        .map(Authorization::from_header)
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let fresh = unix_now().abs_diff(auth.time()) <= 300;
    let canonical = auth.canonical_request(&parts.method, &parts.uri, &parts.headers);
    if !fresh
        || auth.key_id() != &key.0
        || !canonical.verify(&key.1, &BodyDigest::of(&body), auth.signature())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if parts.method == http::Method::GET {
        ITEM.into_response()
    } else {
        Json(serde_json::json!({ "bytes": body.len() })).into_response()
    }
}

// ---------------------------------------------------------------- instruction counts

/// Runs one per-request step `count` times, for an instruction counter
/// (`scripts/instructions.sh` runs it under callgrind, where the count does
/// not depend on what else the machine is doing). On the signed GET of
/// `benches/hashing.rs`: `bare` is the HMAC of its string-to-sign with the
/// keyed state precomputed, `verify` parses its header, builds the
/// string-to-sign and verifies it.
fn repeat(opts: &Opts) {
    use http::header::{ACCEPT, HOST, USER_AGENT};
    use std::hint::black_box;

    let what = opts.get("--what").unwrap_or_else(|| usage());
    let count: u64 = parse(opts.get("--count").unwrap_or_else(|| usage()));
    let (key_id, secret) = support::demo_key();
    let mut request = http::Request::get("http://bench.local/items/42?fields=name,price")
        .header(HOST, "bench.local")
        .header(USER_AGENT, "bench/1.0")
        .header(ACCEPT, "application/json")
        .body(())
        .expect("a valid request");
    Signer::new(key_id, secret.clone())
        .sign_header(USER_AGENT)
        .sign_header(ACCEPT)
        .sign_with_digest(&mut request, &BodyDigest::EMPTY)
        .expect("the request can be signed");
    let empty = BodyDigest::EMPTY;
    match what {
        "bare" => {
            use base64::Engine as _;
            use hmac::{KeyInit as _, Mac as _};
            let auth = Authorization::from_header(&request.headers()[AUTHORIZATION])
                .expect("a valid header");
            let string_to_sign = auth
                .canonical_request(request.method(), request.uri(), request.headers())
                .string_to_sign(&empty);
            let raw = base64::engine::general_purpose::STANDARD
                .decode(support::DEMO_SECRET_B64)
                .expect("base64");
            let keyed = hmac::Hmac::<sha2::Sha256>::new_from_slice(&raw).expect("any length");
            for _ in 0..count {
                let mut mac = keyed.clone();
                mac.update(black_box(&string_to_sign));
                black_box(mac.finalize().into_bytes());
            }
        }
        "verify" => {
            for _ in 0..count {
                let request = black_box(&request);
                let auth = Authorization::from_header(&request.headers()[AUTHORIZATION])
                    .expect("a valid header");
                let canonical =
                    auth.canonical_request(request.method(), request.uri(), request.headers());
                assert!(canonical.verify(&secret, &empty, auth.signature()));
            }
        }
        "unsigned_get" | "layered_get" | "signed_get" => {
            // The in-process round trip through the router, replay protection off.
            let app = router(what.trim_end_matches("_get"), false);
            let request = request.map(|()| Body::empty());
            round_trips(app, count, || clone_request(&request, Body::empty()));
        }
        "outer_get" | "outer_layered_get" => {
            // The same, with the layer around the whole router instead.
            use tower::Layer as _;
            let request = request.map(|()| Body::empty());
            let next = || clone_request(&request, Body::empty());
            if what == "outer_get" {
                let app = signature_layer("signed", None).layer(router_with("bare", None));
                round_trips(app, count, next);
            } else {
                let limit = tower_http::limit::RequestBodyLimitLayer::new(usize::MAX);
                round_trips(limit.layer(router_with("unsigned", None)), count, next);
            }
        }
        "presign" | "signed_get_presigned" | "replay_get" => {
            // Each request signed afresh (its own nonce) before any is sent:
            // `replay_get` minus `presign` is the round trip with the nonce
            // store, `signed_get_presigned` minus `presign` the same without.
            let signer = Signer::new(support::demo_key().0, secret.clone())
                .sign_header(USER_AGENT)
                .sign_header(ACCEPT);
            let requests: Vec<_> = (0..count)
                .map(|_| {
                    let mut fresh = clone_request(&request, Body::empty());
                    fresh.headers_mut().remove(AUTHORIZATION);
                    signer
                        .sign_with_digest(&mut fresh, &empty)
                        .expect("the request can be signed");
                    fresh
                })
                .collect();
            if what == "presign" {
                black_box(requests);
                return;
            }
            let replay = (what == "replay_get").then_some(Replay {
                // Room for every nonce: a full store fails closed.
                nonce_capacity: usize::try_from(count).expect("a count that fits") + 1,
                max_skew: None,
                max_request_duration: None,
            });
            let app = router_with("signed", replay);
            let mut requests = requests.into_iter();
            let started = Instant::now();
            round_trips(app, count, || requests.next().expect("one per round trip"));
            // Wall time of the round trips alone, for runs outside callgrind.
            eprintln!(
                "{what}: {:.1} ns per round trip",
                started.elapsed().as_nanos() as f64 / count as f64
            );
        }
        "unsigned_upload" | "signed_upload" => {
            // 1 MiB in 64 KiB frames, read by the handler (and verified).
            let chunk = Bytes::from(vec![0x42u8; 64 * 1024]);
            let mut hasher = BodyHasher::new();
            for _ in 0..16 {
                hasher.update(&chunk);
            }
            let mut upload = http::Request::post("http://bench.local/upload")
                .body(())
                .expect("a valid request");
            Signer::new(support::demo_key().0, secret.clone())
                .sign_with_digest(&mut upload, &hasher.finish())
                .expect("the request can be signed");
            let app = router(
                if what == "signed_upload" {
                    "signed"
                } else {
                    "unsigned"
                },
                false,
            );
            round_trips(app, count, || {
                let body = support::Repeat {
                    chunk: chunk.clone(),
                    remaining: 16 * chunk.len() as u64,
                    known_length: true,
                };
                clone_request(&upload, Body::new(body))
            });
        }
        "chunked_upload" => {
            // The same 1 MiB sent as 16 signed chunks of 64 KiB (PROTOCOL §4.6),
            // the wire bytes made once.
            let chunk = Bytes::from(vec![0x42u8; 64 * 1024]);
            let upload = http::Request::post("http://bench.local/upload")
                .body(support::Repeat {
                    chunk: chunk.clone(),
                    remaining: 16 * chunk.len() as u64,
                    known_length: false,
                })
                .expect("a valid request");
            let upload = Signer::new(support::demo_key().0, secret.clone())
                .sign_chunked(upload)
                .expect("the request can be signed");
            let (parts, body) = upload.into_parts();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            let wire = runtime
                .block_on(body.collect())
                .expect("infallible")
                .to_bytes();
            let upload = http::Request::from_parts(parts, ());
            round_trips(router("signed", false), count, || {
                clone_request(&upload, Body::from(wire.clone()))
            });
        }
        _ => usage(),
    }
}

fn clone_request<T>(template: &http::Request<T>, body: Body) -> http::Request<Body> {
    let mut request = http::Request::new(body);
    *request.method_mut() = template.method().clone();
    *request.uri_mut() = template.uri().clone();
    *request.headers_mut() = template.headers().clone();
    request
}

/// Sends `count` requests through `app`, in process, one after the other.
fn round_trips<S, B>(app: S, count: u64, mut request: impl FnMut() -> http::Request<Body>)
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>
        + Clone,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    use tower::ServiceExt as _;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        for _ in 0..count {
            let response = app.clone().oneshot(request()).await.expect("infallible");
            assert_eq!(response.status(), StatusCode::OK);
            let body = response.into_body().collect().await.expect("a body");
            std::hint::black_box(body);
        }
    });
}

// ---------------------------------------------------------------- client side

/// Writes `count` distinct signed `GET {url}` Authorization values, one a line.
fn sign_requests(opts: &Opts) {
    let url = opts.get("--url").unwrap_or_else(|| usage());
    let count: usize = parse(opts.get("--count").unwrap_or_else(|| usage()));
    let out = opts.get("--out").unwrap_or_else(|| usage());
    let (key_id, secret) = support::demo_key();
    let signer = Signer::new(key_id, secret);
    // Request k is dated `spread * k / count` seconds from now, so that a
    // load generator sending them at that pace sends each near its time.
    let spread: f64 = opts.get("--spread").map_or(0.0, parse);
    // ... starting `--start-in` seconds from now: the time to load them.
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
        + opts.get("--start-in").map_or(0.0, parse::<f64>);
    let empty = BodyDigest::of(b"");
    let file = std::fs::File::create(out).unwrap_or_else(|e| fail(&format!("{out}: {e}")));
    let mut file = std::io::BufWriter::new(file);
    for k in 0..count {
        let mut request = http::Request::get(url).body(()).unwrap();
        let time = (start + spread * k as f64 / count as f64) as u64;
        signer
            .sign_at(&mut request, &empty, time, Nonce::random())
            .unwrap();
        file.write_all(request.headers()[AUTHORIZATION].as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .unwrap_or_else(|e| fail(&format!("{out}: {e}")));
    }
    file.flush().unwrap();
}

type BenchClient = Client<HttpConnector, BoxBody<Bytes, Infallible>>;

/// Sends `requests` signed uploads of `bytes` each, one after another on one
/// connection, and prints `{"bytes":…,"requests":…,"seconds":…,"mib_per_s":…}`.
async fn upload(opts: &Opts) {
    let url = opts.get("--url").unwrap_or_else(|| usage());
    let bytes: u64 = parse(opts.get("--bytes").unwrap_or_else(|| usage()));
    let requests: u64 = opts.get("--requests").map_or(1, parse);
    let chunk = Bytes::from((0..64 * 1024).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let signer = signer_for(opts);
    let mut hasher = signer.body_hasher();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        hasher.update(&chunk[..n]);
        left -= n as u64;
    }
    let digest = hasher.finish();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: BenchClient = Client::builder(TokioExecutor::new()).build(connector);

    let started = Instant::now();
    for _ in 0..requests {
        let mut request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .body(
                support::Repeat {
                    chunk: chunk.clone(),
                    remaining: bytes,
                    known_length: true,
                }
                .boxed(),
            )
            .unwrap();
        signer.sign_with_digest(&mut request, &digest).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(600), client.request(request))
            .await
            .unwrap_or_else(|_| fail("timed out"))
            .unwrap_or_else(|e| fail(&format!("request failed: {e}")));
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        if status != StatusCode::OK {
            fail(&format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = (bytes * requests) as f64;
    println!(
        "{{\"bytes\":{bytes},\"requests\":{requests},\"seconds\":{seconds:.6},\"mib_per_s\":{:.3}}}",
        total / (1024.0 * 1024.0) / seconds
    );
}

// ---------------------------------------------------------------- helpers

struct Opts(Vec<String>);

impl Opts {
    fn parse(args: &[String]) -> Self {
        Self(args.to_vec())
    }

    fn get(&self, name: &str) -> Option<&str> {
        let at = self.0.iter().position(|a| a == name)?;
        Some(self.0.get(at + 1).unwrap_or_else(|| usage()).as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

fn parse<T: std::str::FromStr>(value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| fail(&format!("not a number: {value:?}")))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_server serve --mode signed|signed-outer|signed-blake3|buffered|unsigned|layered [--listen ADDR] [--no-replay]\n\
         \x20          [--nonce-capacity N] [--max-skew SECS] [--max-request-duration SECS] [--threads N]\n\
         \x20      bench_server sign-requests --url URL --count N --out FILE [--spread SECS] [--start-in SECS]\n\
         \x20      bench_server upload --url URL --bytes N [--requests K] [--algorithm sha256|blake3]\n\
         \x20      bench_server repeat --what bare|verify|unsigned_get|layered_get|signed_get|... --count N"
    );
    std::process::exit(2)
}
