//! The SigV4 memory benchmark's server and client (`scripts/sigv4_rss.sh`
//! drives it; feature `sigv4`).
//!
//! ```text
//! sigv4_bench_server serve [--listen ADDR]
//! sigv4_bench_server client --url URL --bytes N [--payload signed|unsigned-trailer] [--chunk BYTES]
//! ```
//!
//! - `serve`: `SignatureLayer` + `SigV4` (service `s3`, `us-east-1`,
//!   unsigned payloads allowed, in-memory nonce store) on one thread, no
//!   timeouts or limits. `PUT`/`POST` any path: the handler reads the
//!   decoded body, calls `verify()`, and answers
//!   `{"bytes":…,"body_authenticated":…,"peak_rss_kib":…}`.
//! - `client`: one aws-chunked upload of N bytes, generated as it is sent
//!   (one chunk's buffer, reused) and signed as it is sent with `aws-sigv4`
//!   (`sign_chunk` per chunk): never held in memory. `signed` is
//!   `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` in 64 KiB chunks (what most SDKs
//!   send over http); `unsigned-trailer` is `STREAMING-UNSIGNED-PAYLOAD-TRAILER`
//!   in 1 MiB chunks with a CRC32 trailer (what boto3 sends over https).
//!   Prints one JSON line, with the server's answer in it.
//!
//! Every request is signed with the demo key (never use it for anything real):
//! access key id `7`, its base64 text the secret access key.

mod support;

#[path = "support/aws_signing.rs"]
mod aws_signing;

use std::{
    collections::VecDeque,
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime},
};

use aws_credential_types::Credentials;
use aws_signing::{REGION, SERVICE};
use aws_sigv4::{http_request::SignableBody, sign::v4};
use aws_smithy_runtime_api::client::identity::Identity;
use axum::{body::Body, routing::put, Json, Router};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use tower_hmac::{
    schemes::sigv4::SigV4, InMemoryKeys, InMemoryNonceStore, SignatureLayer, VerifiedResponse,
    Verifier, VerifyError,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args.split_first().unwrap_or_else(|| usage());
    let opts = Opts(rest.to_vec());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match command.as_str() {
        "serve" => runtime.block_on(serve(&opts)),
        "client" => runtime.block_on(client(&opts)),
        _ => usage(),
    }
}

// ---------------------------------------------------------------- server

async fn serve(opts: &Opts) {
    let listen = opts.get("--listen").unwrap_or("127.0.0.1:3000");
    let (key_id, secret) = support::demo_key();
    let layer = SignatureLayer::new(InMemoryKeys::new().with_key(key_id, secret))
        .scheme(
            SigV4::new(SERVICE)
                .region(REGION)
                .allow_unsigned_payload(true),
        )
        .nonce_store(InMemoryNonceStore::with_capacity(1_000_000));
    let app = Router::new()
        .route("/{*key}", put(upload).post(upload))
        .route_layer(layer);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| fail(&format!("cannot listen on {listen}: {e}")));
    println!("sigv4 on http://{}", listener.local_addr().unwrap());
    // No timeouts or limit: the benchmark measures the middleware alone.
    support::serve_unlimited(listener, app).await;
}

async fn upload(verifier: Verifier, mut body: Body) -> Result<VerifiedResponse, VerifyError> {
    let mut bytes: u64 = 0;
    while let Some(Ok(frame)) = body.frame().await {
        bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
    let verified = verifier.verify().await?;
    let body_authenticated = verified.body_authenticated();
    Ok(verified.respond(Json(serde_json::json!({
        "bytes": bytes,
        "body_authenticated": body_authenticated,
        "peak_rss_kib": support::peak_rss().map(|bytes| bytes / 1024),
    }))))
}

// ---------------------------------------------------------------- client

/// How the body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: every chunk signed.
    Signed,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER` with an `x-amz-checksum-crc32` trailer.
    UnsignedTrailer,
}

impl Payload {
    fn name(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::UnsignedTrailer => "unsigned-trailer",
        }
    }
}

/// The CRC32 trailer line's length, `\r\n` included (8 base64 characters).
const CRC32_TRAILER_LINE: u64 = "x-amz-checksum-crc32:".len() as u64 + 8 + 2;

/// A signed chunk's size line but for its hex digits: `;chunk-signature=`, 64 hex, `\r\n`.
const SIGNATURE_EXTENSION: u64 = ";chunk-signature=".len() as u64 + 64 + 2;

fn hex_digits(n: u64) -> u64 {
    u64::from((64 - n.leading_zeros()).div_ceil(4).max(1))
}

/// The length on the wire of `bytes` in chunks of `chunk`.
fn wire_len(bytes: u64, chunk: u64, payload: Payload) -> u64 {
    let per_chunk = |n: u64| match payload {
        Payload::Signed => hex_digits(n) + SIGNATURE_EXTENSION + n + 2,
        Payload::UnsignedTrailer => hex_digits(n) + 2 + n + 2,
    };
    let (full, rest) = (bytes / chunk, bytes % chunk);
    let data = full * per_chunk(chunk) + if rest > 0 { per_chunk(rest) } else { 0 };
    let end = match payload {
        // `0;chunk-signature=…\r\n` and `\r\n`.
        Payload::Signed => 1 + SIGNATURE_EXTENSION + 2,
        // `0\r\n`, the trailer line and `\r\n`.
        Payload::UnsignedTrailer => 3 + CRC32_TRAILER_LINE + 2,
    };
    data + end
}

fn identity() -> Identity {
    Credentials::new(
        support::DEMO_KEY_ID,
        support::DEMO_SECRET_B64,
        None,
        None,
        "sigv4_bench_server",
    )
    .into()
}

/// An aws-chunked body made as it is sent: one chunk's buffer, reused.
struct AwsChunked {
    /// One chunk of data (the last may be shorter: a slice of it).
    chunk: Bytes,
    /// Data bytes still to send.
    left: u64,
    /// Wire bytes still to send (the size hint).
    wire_left: u64,
    /// Frames made, not sent yet.
    pending: VecDeque<Bytes>,
    /// Signed: the identity, the signing time and the previous signature.
    signing: Option<(Identity, SystemTime, String)>,
    /// Unsigned with a trailer: the running CRC32.
    crc: Option<crc_fast::Digest>,
    done: bool,
}

impl AwsChunked {
    /// A chunk of `piece`, and with the last the end of the body.
    fn make(&mut self) {
        let n = self.left.min(self.chunk.len() as u64) as usize;
        let piece = self.chunk.slice(..n);
        self.left -= n as u64;
        if n > 0 {
            self.size_line(&piece);
            self.pending.push_back(piece);
            self.pending.push_back(Bytes::from_static(b"\r\n"));
        }
        if self.left == 0 {
            self.size_line(&Bytes::new());
            match self.crc.take() {
                Some(crc) => {
                    let value = STANDARD.encode((crc.finalize() as u32).to_be_bytes());
                    self.pending
                        .push_back(Bytes::from(format!("x-amz-checksum-crc32:{value}\r\n\r\n")));
                }
                None => self.pending.push_back(Bytes::from_static(b"\r\n")),
            }
            self.done = true;
        }
    }

    /// The size line of `piece` (signed: its signature chained from the last).
    fn size_line(&mut self, piece: &Bytes) {
        let line = match &mut self.signing {
            Some((identity, time, previous)) => {
                let params = v4::SigningParams::builder()
                    .identity(identity)
                    .region(REGION)
                    .name(SERVICE)
                    .time(*time)
                    .settings(())
                    .build()
                    .expect("signing parameters");
                let (_, signature) = v4::sign_chunk(piece, previous, &params)
                    .expect("a chunk signature")
                    .into_parts();
                let line = format!("{:x};chunk-signature={signature}\r\n", piece.len());
                *previous = signature;
                line
            }
            None => {
                if let Some(crc) = &mut self.crc {
                    crc.update(piece);
                }
                format!("{:x}\r\n", piece.len())
            }
        };
        self.pending.push_back(Bytes::from(line));
    }
}

impl http_body::Body for AwsChunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.pending.is_empty() && !self.done {
            self.make();
        }
        match self.pending.pop_front() {
            Some(frame) => {
                self.wire_left = self
                    .wire_left
                    .checked_sub(frame.len() as u64)
                    .expect("the wire length was computed short");
                Poll::Ready(Some(Ok(Frame::data(frame))))
            }
            None => {
                assert_eq!(self.wire_left, 0, "the wire length was computed long");
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.wire_left)
    }
}

type BenchClient = Client<HttpConnector, BoxBody<Bytes, Infallible>>;

async fn client(opts: &Opts) {
    let url = opts.get("--url").unwrap_or_else(|| usage());
    let bytes: u64 = parse(opts.get("--bytes").unwrap_or_else(|| usage()));
    let payload = match opts.get("--payload").unwrap_or("signed") {
        "signed" => Payload::Signed,
        "unsigned-trailer" => Payload::UnsignedTrailer,
        _ => usage(),
    };
    let default_chunk = match payload {
        Payload::Signed => 64 * 1024,
        Payload::UnsignedTrailer => 1024 * 1024,
    };
    let chunk: usize = opts.get("--chunk").map_or(default_chunk, parse);
    if chunk == 0 {
        fail("--chunk must be at least 1");
    }
    let wire = wire_len(bytes, chunk as u64, payload);
    let uri: http::Uri = url.parse().unwrap_or_else(|_| fail("--url is not a URL"));
    let authority = uri
        .authority()
        .unwrap_or_else(|| fail("--url has no authority"))
        .to_string();
    let mut request = http::Request::put(uri)
        .header(header::HOST, &authority)
        .header(header::CONTENT_ENCODING, "aws-chunked")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("x-amz-decoded-content-length", bytes)
        .body(())
        .expect("a valid request");
    let time = SystemTime::now();
    let signing = match payload {
        Payload::Signed => {
            let seed = aws_signing::aws_sign(
                &mut request,
                SignableBody::Precomputed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into()),
                time,
                &identity(),
            );
            Some((identity(), time, seed))
        }
        Payload::UnsignedTrailer => {
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
            None
        }
    };
    request
        .headers_mut()
        .insert(header::CONTENT_LENGTH, wire.into());
    let body = AwsChunked {
        chunk: Bytes::from((0..chunk).map(|i| (i % 251) as u8).collect::<Vec<u8>>()),
        left: bytes,
        wire_left: wire,
        pending: VecDeque::new(),
        crc: (payload == Payload::UnsignedTrailer)
            .then(|| crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc)),
        signing,
        done: false,
    };
    let request = request.map(|()| body.boxed());

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: BenchClient = Client::builder(TokioExecutor::new()).build(connector);
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(600), client.request(request))
        .await
        .unwrap_or_else(|_| fail("timed out"))
        .unwrap_or_else(|e| fail(&format!("request failed: {e}")));
    let status = response.status();
    let answer = response.into_body().collect().await.unwrap().to_bytes();
    let seconds = started.elapsed().as_secs_f64();
    if status != StatusCode::OK {
        fail(&format!("{status}: {}", String::from_utf8_lossy(&answer)));
    }
    let server: serde_json::Value =
        serde_json::from_slice(&answer).unwrap_or_else(|_| fail("the answer is not JSON"));
    if server["bytes"] != bytes {
        fail(&format!("the server read other bytes: {server}"));
    }
    println!(
        "{}",
        serde_json::json!({
            "payload": payload.name(),
            "chunk": chunk,
            "bytes": bytes,
            "wire_bytes": wire,
            "seconds": seconds,
            "mib_per_s": bytes as f64 / (1024.0 * 1024.0) / seconds,
            "server": server,
        })
    );
}

// ---------------------------------------------------------------- helpers

struct Opts(Vec<String>);

impl Opts {
    fn get(&self, name: &str) -> Option<&str> {
        let at = self.0.iter().position(|a| a == name)?;
        Some(self.0.get(at + 1).unwrap_or_else(|| usage()).as_str())
    }
}

fn parse<T: std::str::FromStr>(value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| fail(&format!("not a number: {value:?}")))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}

fn usage() -> ! {
    eprintln!(
        "usage: sigv4_bench_server serve [--listen ADDR]\n\
         \x20      sigv4_bench_server client --url URL --bytes N [--payload signed|unsigned-trailer] [--chunk BYTES]"
    );
    std::process::exit(2)
}
