//! aws-sdk-s3 against an S3-compatible endpoint, for `tests/s3_clients.rs`.
//!
//! `s3-sdk-client ENDPOINT REGION BUCKET`, with the access key id in
//! `S3_KEY_ID` and the secret access key in `S3_SECRET`. The client is
//! configured as an application would be, with nothing but the endpoint,
//! static credentials, the region and path-style addressing; over HTTPS it
//! trusts what its default HTTPS client trusts: the platform's roots, or
//! `SSL_CERT_FILE`.
//!
//! It runs a fixed list of steps and prints one JSON line per step (`step`,
//! `ok`, `status`, `code`, `problem`, `error`, `facts`, `seconds`), then a
//! `done` line. It only reports what it sent and got: the expectations are
//! the test's. With `S3_CLIENT_LOG=debug` (or `trace`) the SDK logs what it
//! signs and sends to stderr.

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use aws_sdk_s3::{
    config::{http::HttpResponse, BehaviorVersion, Credentials, Region},
    error::{ProvideErrorMetadata, SdkError},
    presigning::PresigningConfig,
    primitives::{ByteStream, SdkBody},
    Client,
};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const SMALL_KEY: &str = "small.txt";
const SMALL: &[u8] = b"hello from aws-sdk-rust\n";
const BIG_KEY: &str = "dir/stream 20mib+.bin";
const BIG: u64 = 20 * 1024 * 1024;
/// The frames the streamed body yields (the SDK re-chunks them).
const FRAME: usize = 100_000;

/// A body of `BIG` pseudo-random bytes, made as it is read: a stream of
/// known length (its size hint is exact), never in memory as a whole.
struct Generated {
    left: u64,
    state: u64,
}

impl Generated {
    fn new() -> Self {
        Self {
            left: BIG,
            state: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let len = self.left.min(FRAME as u64) as usize;
        let mut data = Vec::with_capacity(len + 8);
        while data.len() < len {
            // xorshift64
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            data.extend_from_slice(&self.state.to_le_bytes());
        }
        data.truncate(len);
        self.left -= len as u64;
        Some(Bytes::from(data))
    }
}

impl http_body::Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().next_frame().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of what `Generated` yields.
fn generated_sha256() -> String {
    let mut body = Generated::new();
    let mut hash = Sha256::new();
    while let Some(frame) = body.next_frame() {
        hash.update(&frame);
    }
    hex(&hash.finalize())
}

/// One step's report.
struct Step {
    name: &'static str,
    started: Instant,
}

impl Step {
    fn start(name: &'static str) -> Self {
        Self {
            name,
            started: Instant::now(),
        }
    }

    fn ok(self, facts: Value) {
        self.print(json!({ "ok": true, "status": null, "facts": facts }));
    }

    /// An SDK error: its HTTP status, S3 error code, and the layer's
    /// problem code (the `code` of a problem+json body), if any, with the
    /// body itself.
    fn failed<E>(self, error: &SdkError<E, HttpResponse>)
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let raw = error.raw_response();
        let body = raw
            .and_then(|r| r.body().bytes())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let problem = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned));
        let code = error
            .as_service_error()
            .and_then(|e| e.code())
            .map(str::to_owned);
        self.print(json!({
            "ok": false,
            "status": raw.map(|r| r.status().as_u16()),
            "code": code,
            "problem": problem,
            "error": format!("{}", aws_sdk_s3::error::DisplayErrorContext(error)),
            "body": body.chars().take(2000).collect::<String>(),
            "facts": {},
        }));
    }

    fn print(self, mut line: Value) {
        line["kind"] = json!("result");
        line["step"] = json!(self.name);
        line["seconds"] = json!(self.started.elapsed().as_secs_f64());
        println!("{line}");
    }
}

fn client(endpoint: &str, region: &str, key_id: &str, secret: &str) -> Client {
    // What `default-https-client` would build, with ring for aws-lc.
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client)
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(key_id, secret, None, None, "static"))
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

async fn read_all(body: ByteStream) -> Result<(String, u64), String> {
    let mut body = body;
    let (mut hash, mut len) = (Sha256::new(), 0u64);
    while let Some(chunk) = body.try_next().await.map_err(|e| e.to_string())? {
        hash.update(&chunk);
        len += chunk.len() as u64;
    }
    Ok((hex(&hash.finalize()), len))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(level) = std::env::var("S3_CLIENT_LOG") {
        let level = level.parse().unwrap_or(tracing::Level::DEBUG);
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, region, bucket] = &args[..] else {
        eprintln!("usage: s3-sdk-client ENDPOINT REGION BUCKET (S3_KEY_ID, S3_SECRET)");
        std::process::exit(2);
    };
    let key_id = std::env::var("S3_KEY_ID").expect("S3_KEY_ID");
    let secret = std::env::var("S3_SECRET").expect("S3_SECRET");
    println!(
        "{}",
        json!({
            "kind": "env",
            "versions": format!("aws-sdk-s3 {}", aws_sdk_s3::meta::PKG_VERSION),
        })
    );
    let s3 = client(endpoint, region, &key_id, &secret);
    let small_sha256 = hex(&Sha256::digest(SMALL));
    let big_sha256 = generated_sha256();
    let mut results = 0;
    let mut count = || results += 1;

    let step = Step::start("create-bucket");
    match s3.create_bucket().bucket(bucket).send().await {
        Ok(out) => step.ok(json!({ "location": out.location() })),
        Err(e) => step.failed(&e),
    }
    count();

    let step = Step::start("put-small");
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(SMALL_KEY)
        .content_type("text/plain")
        .metadata("color", "blue")
        .body(ByteStream::from_static(SMALL))
        .send()
        .await;
    match put {
        Ok(out) => step.ok(json!({
            "etag": out.e_tag(),
            "sha256": small_sha256,
            "len": SMALL.len(),
            "checksum_crc32": out.checksum_crc32(),
        })),
        Err(e) => step.failed(&e),
    }
    count();

    // A stream of known length: the SDK sends it aws-chunked.
    let step = Step::start("put-stream-20mib");
    let body = SdkBody::retryable(|| SdkBody::from_body_1_x(Generated::new()));
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(BIG_KEY)
        .body(ByteStream::new(body))
        .send()
        .await;
    match put {
        Ok(out) => step.ok(json!({
            "etag": out.e_tag(),
            "sha256": big_sha256,
            "len": BIG,
            "checksum_crc32": out.checksum_crc32(),
        })),
        Err(e) => step.failed(&e),
    }
    count();

    for (name, key) in [("get-small", SMALL_KEY), ("get-stream-20mib", BIG_KEY)] {
        let step = Step::start(name);
        match s3.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => {
                let (etag, content_type, metadata) = (
                    out.e_tag().map(str::to_owned),
                    out.content_type().map(str::to_owned),
                    out.metadata().cloned(),
                );
                match read_all(out.body).await {
                    Ok((sha256, len)) => step.ok(json!({
                        "etag": etag,
                        "sha256": sha256,
                        "len": len,
                        "content_type": content_type,
                        "metadata": metadata,
                    })),
                    Err(e) => step.print(json!({ "ok": false, "error": e })),
                }
            }
            Err(e) => step.failed(&e),
        }
        count();
    }

    let step = Step::start("head-stream-20mib");
    match s3.head_object().bucket(bucket).key(BIG_KEY).send().await {
        Ok(out) => step.ok(json!({
            "etag": out.e_tag(),
            "len": out.content_length(),
            "last_modified": out.last_modified().map(|t| t.to_string()),
        })),
        Err(e) => step.failed(&e),
    }
    count();

    let list = |name: &'static str| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            let step = Step::start(name);
            match s3.list_objects_v2().bucket(&bucket).send().await {
                Ok(out) => {
                    let objects = out.contents();
                    step.ok(json!({
                        "keys": objects.iter().map(|o| o.key()).collect::<Vec<_>>(),
                        "sizes": objects.iter().map(|o| o.size()).collect::<Vec<_>>(),
                        "etags": objects.iter().map(|o| o.e_tag()).collect::<Vec<_>>(),
                    }))
                }
                Err(e) => step.failed(&e),
            }
        }
    };
    list("list").await;
    count();

    // The test fetches it (curl), more than once, after the program ends.
    let step = Step::start("presign-get-20mib");
    let presigned = s3
        .get_object()
        .bucket(bucket)
        .key(BIG_KEY)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(900)).unwrap())
        .await;
    match presigned {
        Ok(request) => step.ok(json!({
            "url": request.uri(),
            "method": request.method(),
            "headers": request.headers().map(|(n, v)| format!("{n}: {v}")).collect::<Vec<_>>(),
        })),
        Err(e) => step.failed(&e),
    }
    count();

    let step = Step::start("delete-small");
    match s3
        .delete_object()
        .bucket(bucket)
        .key(SMALL_KEY)
        .send()
        .await
    {
        Ok(_) => step.ok(json!({})),
        Err(e) => step.failed(&e),
    }
    count();

    let step = Step::start("get-deleted");
    match s3.get_object().bucket(bucket).key(SMALL_KEY).send().await {
        Ok(_) => step.ok(json!({})),
        Err(e) => step.failed(&e),
    }
    count();

    list("list-after").await;
    count();

    // Refused by the layer.
    let step = Step::start("wrong-secret");
    let wrong = client(
        endpoint,
        region,
        &key_id,
        "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=",
    );
    match wrong.list_objects_v2().bucket(bucket).send().await {
        Ok(_) => step.ok(json!({})),
        Err(e) => step.failed(&e),
    }
    count();

    println!("{}", json!({ "kind": "done", "results": results }));
}
