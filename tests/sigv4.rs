//! The SigV4 scheme (feature `sigv4`) against a real server, every request
//! signed by AWS's own `aws-sigv4` crate as the independent client: header
//! auth in each payload mode, aws-chunked bodies built from its
//! `sign_chunk`/`sign_trailer`, presigned URLs, both canonical-URI rules,
//! and the refusals, over HTTP/1.1 and HTTP/2 with content-length and
//! chunked framing.

mod support;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime},
};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{
        sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
        SignatureLocation, SigningSettings, UriPathNormalizationMode,
    },
    sign::v4,
};
use aws_smithy_runtime_api::{client::identity::Identity, http::Headers};
use axum::{
    body::Body,
    extract::State,
    response::{IntoResponse, Response},
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request};
use http_body_util::BodyExt;
use sha2::{Digest as _, Sha256};
use support::{Client, Framing, Proto, Reply, KEY_ID, MATRIX, OTHER_SECRET_B64, SECRET_B64};
use tower_hmac::{schemes::sigv4::SigV4, InMemoryKeys, Secret, SignatureLayer, Verifier};

// ---------------------------------------------------------------------------
// The server under test: a catch-all handler that records what it saw.

/// What the handler observed of one request.
#[derive(Debug, Clone)]
struct Seen {
    /// `authenticated_key_id()` was set before the body was read.
    early: bool,
    body: Vec<u8>,
    /// A body read failed.
    body_error: bool,
    /// `verify()`: `Ok(body_authenticated)` or `Err(code)`.
    verify: Result<bool, String>,
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

struct Server {
    addr: SocketAddr,
    log: Log,
}

impl Server {
    /// A layer of the test key ("7", whose secret access key is `SECRET_B64`).
    fn layer() -> SignatureLayer {
        SignatureLayer::new(InMemoryKeys::new().with_key(
            KEY_ID.parse().unwrap(),
            Secret::from_base64(SECRET_B64).unwrap(),
        ))
    }

    async fn start(scheme: SigV4) -> Self {
        Self::with_layer(Self::layer().scheme(scheme)).await
    }

    async fn with_layer(layer: SignatureLayer) -> Self {
        let log = Log::default();
        let app = Router::new()
            .fallback(handler)
            .with_state(log.clone())
            .layer(layer);
        Self {
            addr: support::serve(app).await,
            log,
        }
    }

    /// S3, with the defaults (no unsigned payloads, no presigned URLs).
    async fn s3() -> Self {
        Self::start(SigV4::new("s3")).await
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.log.0.lock().unwrap())
    }

    /// The one request the handler saw.
    #[track_caller]
    fn one(&self) -> Seen {
        let mut seen = self.take();
        assert_eq!(seen.len(), 1, "handler runs: {seen:?}");
        seen.pop().unwrap()
    }

    #[track_caller]
    fn never_ran(&self) {
        let seen = self.take();
        assert!(seen.is_empty(), "the handler ran: {seen:?}");
    }

    async fn send(&self, proto: Proto, framing: Framing, request: Request<Bytes>) -> Reply {
        support::send(self.addr, proto, framing, request).await
    }

    fn request(&self, proto: Proto, method: Method, target: &str, body: &[u8]) -> Request<Bytes> {
        support::request(
            proto,
            self.addr,
            method,
            target,
            Bytes::copy_from_slice(body),
        )
    }

    /// `request` (a bodiless GET), addressed as `proto` expects, with its headers.
    fn readdressed(&self, proto: Proto, request: &Request<Bytes>) -> Request<Bytes> {
        let mut readdressed = self.request(proto, Method::GET, request.uri().path(), b"");
        for (name, value) in request.headers() {
            if name != header::HOST {
                readdressed.headers_mut().append(name, value.clone());
            }
        }
        readdressed
    }
}

async fn handler(State(log): State<Log>, verifier: Verifier, mut body: Body) -> Response {
    let early = verifier.authenticated_key_id().is_some();
    let (mut data, mut body_error) = (Vec::new(), false);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => data.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d)),
            Err(_) => {
                body_error = true;
                break;
            }
        }
    }
    let verified = verifier.verify().await;
    let seen = Seen {
        early,
        body_error,
        verify: match &verified {
            Ok(verified) => Ok(verified.body_authenticated()),
            Err(error) => Err(error.code().to_string()),
        },
        body: data,
    };
    log.0.lock().unwrap().push(seen.clone());
    match verified {
        Ok(verified) => verified
            .respond(Json(serde_json::json!({
                "early": seen.early,
                "len": seen.body.len(),
                "sha256": hex(&Sha256::digest(&seen.body)),
                "body_error": seen.body_error,
                "body_authenticated": verified.body_authenticated(),
            })))
            .into_response(),
        Err(error) => error.into_response(),
    }
}

// ---------------------------------------------------------------------------
// Assertions.

/// The status of each problem code, as the crate documents it.
fn status_of(code: &str) -> u16 {
    match code {
        "malformed_authorization"
        | "missing_authorization"
        | "invalid_signature"
        | "stale_request"
        | "replayed_request"
        | "unsigned_header"
        | "invalid_credential_scope"
        | "unsigned_payload_not_allowed"
        | "presigned_url_not_allowed"
        | "unsupported_signature_version" => 401,
        "checksum_mismatch"
        | "decoded_length_mismatch"
        | "body_incomplete"
        | "malformed_chunked_body"
        | "unsupported_checksum" => 400,
        other => panic!("no status known for {other}"),
    }
}

#[track_caller]
fn assert_refused(reply: &Reply, code: &str) {
    let context = format!("status {} body {}", reply.status, reply.text());
    assert_eq!(reply.status.as_u16(), status_of(code), "{context}");
    assert_eq!(reply.code().as_deref(), Some(code), "{context}");
    if status_of(code) == 401 {
        assert_eq!(
            reply.headers[header::WWW_AUTHENTICATE],
            "AWS4-HMAC-SHA256",
            "{context}"
        );
    }
}

/// The reply is the handler's 200, and the handler read exactly `body`.
#[track_caller]
fn assert_accepted(reply: &Reply, seen: &Seen, body: &[u8], body_authenticated: bool) {
    assert_eq!(reply.status, 200, "body: {}", reply.text());
    assert_eq!(seen.verify, Ok(body_authenticated), "{seen:?}");
    assert!(!seen.body_error);
    assert_eq!(seen.body.len(), body.len());
    assert!(seen.body == body, "the handler read other bytes");
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(json["sha256"], hex(&Sha256::digest(body)));
    assert_eq!(json["body_authenticated"], body_authenticated);
}

// ---------------------------------------------------------------------------
// The client: `aws-sigv4`.

/// How the payload is signed (what `x-amz-content-sha256` says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// The body's SHA-256 in hex, in `x-amz-content-sha256`.
    Hex,
    /// No header: the body's hash only in the canonical request.
    NoHeader,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`.
    Streaming,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
    SignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    UnsignedTrailer,
}

impl Payload {
    fn chunked(self) -> bool {
        matches!(
            self,
            Self::Streaming | Self::SignedTrailer | Self::UnsignedTrailer
        )
    }

    fn trailer(self) -> bool {
        matches!(self, Self::SignedTrailer | Self::UnsignedTrailer)
    }

    fn chunks_signed(self) -> bool {
        matches!(self, Self::Streaming | Self::SignedTrailer)
    }
}

/// One client's settings for `aws-sigv4`.
#[derive(Clone)]
struct Signer {
    key_id: String,
    secret: String,
    region: String,
    service: String,
    time: SystemTime,
    /// S3's settings (path as sent: `Single`, no normalisation), or every
    /// other service's (`Double`, normalised).
    s3: bool,
    /// Presigned, valid this long.
    presign: Option<Duration>,
    /// A session token (`x-amz-security-token`, signed).
    token: Option<String>,
    /// Headers left out of the signature.
    unsigned: &'static [&'static str],
}

/// Makes each request unique, so that two signed in the same second are
/// not each other's replay.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl Signer {
    fn s3() -> Self {
        Self {
            key_id: KEY_ID.into(),
            secret: SECRET_B64.into(),
            region: "us-east-1".into(),
            service: "s3".into(),
            time: SystemTime::now(),
            s3: true,
            presign: None,
            token: None,
            unsigned: &[],
        }
    }

    /// A service other than S3: double encoding and normalisation, as aws-sigv4 defaults.
    fn service(name: &str) -> Self {
        Self {
            service: name.into(),
            s3: false,
            ..Self::s3()
        }
    }

    fn identity(&self) -> Identity {
        Credentials::new(
            &self.key_id,
            &self.secret,
            self.token.clone(),
            None,
            "tests",
        )
        .into()
    }

    /// Signs `request` in place (headers, or the query when presigning);
    /// returns the signature (the seed of an aws-chunked body).
    fn sign(&self, request: &mut Request<Bytes>, payload: Payload) -> String {
        if self.presign.is_none() {
            let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
            request
                .headers_mut()
                .insert("x-sequence", sequence.to_string().parse().unwrap());
        }
        let identity = self.identity();
        let mut settings = SigningSettings::default();
        if self.s3 {
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        settings.payload_checksum_kind = match payload {
            Payload::NoHeader => PayloadChecksumKind::NoHeader,
            _ => PayloadChecksumKind::XAmzSha256,
        };
        let excluded = settings.excluded_headers.get_or_insert_with(Vec::new);
        excluded.extend(self.unsigned.iter().map(|name| (*name).into()));
        if let Some(expires) = self.presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(expires);
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let uri = match request.uri().authority() {
            Some(_) => request.uri().to_string(),
            None => format!(
                "http://{}{}",
                request.headers()[header::HOST].to_str().unwrap(),
                request.uri().path_and_query().unwrap()
            ),
        };
        let method = request.method().to_string();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter(|(name, _)| *name != header::HOST)
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = request.body().clone();
        let signable_body = match payload {
            Payload::Hex | Payload::NoHeader => SignableBody::Bytes(&body),
            Payload::Unsigned => SignableBody::UnsignedPayload,
            Payload::Streaming => {
                SignableBody::Precomputed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into())
            }
            Payload::SignedTrailer => SignableBody::StreamingSignedPayloadTrailer,
            Payload::UnsignedTrailer => SignableBody::StreamingUnsignedPayloadTrailer,
        };
        let signable = SignableRequest::new(
            &method,
            uri,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            signable_body,
        )
        .unwrap();
        let (instructions, signature) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(request);
        signature
    }

    /// The aws-chunked body of `data` in chunks of `chunk` bytes, chained
    /// from `seed` by `sign_chunk` and `sign_trailer`.
    fn stream(&self, seed: &str, data: &[u8], chunk: usize, payload: Payload) -> Stream {
        let identity = self.identity();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(self.time)
            .settings(())
            .build()
            .unwrap();
        let mut previous = seed.to_owned();
        let mut chunks = Vec::new();
        for piece in data
            .chunks(chunk)
            .map(Bytes::copy_from_slice)
            .chain([Bytes::new()])
        {
            let signature = payload.chunks_signed().then(|| {
                let (_, signature) = v4::sign_chunk(&piece, &previous, &params)
                    .unwrap()
                    .into_parts();
                previous.clone_from(&signature);
                signature
            });
            chunks.push(Chunk {
                data: piece,
                signature,
            });
        }
        let checksum = payload.trailer().then(|| crc32_base64(data));
        let trailer_signature = (payload == Payload::SignedTrailer).then(|| {
            let mut trailer = Headers::new();
            trailer.insert("x-amz-checksum-crc32", checksum.clone().unwrap());
            let (_, signature) = v4::sign_trailer(&trailer, &previous, &params)
                .unwrap()
                .into_parts();
            signature
        });
        Stream {
            chunks,
            checksum,
            trailer_signature,
            uppercase: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Chunk {
    data: Bytes,
    /// `None` in the unsigned form.
    signature: Option<String>,
}

/// An aws-chunked body, kept in parts so that tests can tamper with them.
#[derive(Debug, Clone)]
struct Stream {
    /// The last is the final, empty chunk.
    chunks: Vec<Chunk>,
    /// The trailer's `x-amz-checksum-crc32` value.
    checksum: Option<String>,
    trailer_signature: Option<String>,
    /// Chunk sizes in uppercase hex, as aws-sdk-rust writes them.
    uppercase: bool,
}

impl Stream {
    fn wire(&self) -> Bytes {
        let mut out = Vec::new();
        for chunk in &self.chunks {
            let size = chunk.data.len();
            let size_hex = if self.uppercase {
                format!("{size:X}")
            } else {
                format!("{size:x}")
            };
            let line = match &chunk.signature {
                Some(signature) => format!("{size_hex};chunk-signature={signature}\r\n"),
                None => format!("{size_hex}\r\n"),
            };
            out.extend_from_slice(line.as_bytes());
            if size > 0 {
                out.extend_from_slice(&chunk.data);
                out.extend_from_slice(b"\r\n");
            }
        }
        if let Some(checksum) = &self.checksum {
            out.extend_from_slice(format!("x-amz-checksum-crc32:{checksum}\r\n").as_bytes());
            if let Some(signature) = &self.trailer_signature {
                out.extend_from_slice(
                    format!("x-amz-trailer-signature:{signature}\r\n").as_bytes(),
                );
            }
        }
        out.extend_from_slice(b"\r\n");
        out.into()
    }

    /// Where chunk `index`'s data starts in the decoded body.
    fn offset(&self, index: usize) -> usize {
        self.chunks[..index].iter().map(|c| c.data.len()).sum()
    }
}

/// A signed aws-chunked `PUT` of `data`: the request (its body the wire
/// form) and the stream, for tampering. `decoded_length` is what
/// `x-amz-decoded-content-length` says (signed), if sent.
fn streaming_put(
    server: &Server,
    signer: &Signer,
    proto: Proto,
    payload: Payload,
    data: &[u8],
    chunk: usize,
    decoded_length: Option<u64>,
) -> (Request<Bytes>, Stream) {
    assert!(payload.chunked());
    let mut request = server.request(proto, Method::PUT, "/bucket/stream", b"");
    let headers = request.headers_mut();
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("aws-chunked"),
    );
    if let Some(length) = decoded_length {
        headers.insert("x-amz-decoded-content-length", length.into());
    }
    if payload.trailer() {
        headers.insert(
            "x-amz-trailer",
            HeaderValue::from_static("x-amz-checksum-crc32"),
        );
    }
    let seed = signer.sign(&mut request, payload);
    let stream = signer.stream(&seed, data, chunk, payload);
    *request.body_mut() = stream.wire();
    (request, stream)
}

/// A header-auth request over `body` (a `PUT` if it has one, else a `GET`).
fn signed(
    server: &Server,
    signer: &Signer,
    proto: Proto,
    target: &str,
    body: &[u8],
    payload: Payload,
) -> Request<Bytes> {
    let method = if body.is_empty() {
        Method::GET
    } else {
        Method::PUT
    };
    let mut request = server.request(proto, method, target, body);
    signer.sign(&mut request, payload);
    request
}

// ---------------------------------------------------------------------------
// Small helpers.

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// CRC-32 (ISO-HDLC, zlib's), bit by bit.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn crc32_base64(data: &[u8]) -> String {
    STANDARD.encode(crc32(data).to_be_bytes())
}

/// `len` bytes that are not all alike.
fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + i / 251) as u8).collect()
}

/// Another signature of the same shape (64 lowercase hex digits).
fn other_signature(signature: &str) -> String {
    let mut bytes = signature.as_bytes().to_vec();
    bytes[63] = if bytes[63] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

const PROTOS: [Proto; 2] = [Proto::H1, Proto::H2];

// ---------------------------------------------------------------------------
// 1. Valid requests.

#[test]
fn crc32_is_zlibs() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32_base64(b""), "AAAAAA==");
}

#[tokio::test]
async fn bodiless_get_is_authenticated_before_the_handler() {
    let server = Server::s3().await;
    for proto in PROTOS {
        for payload in [Payload::Hex, Payload::NoHeader, Payload::Unsigned] {
            let request = signed(&server, &Signer::s3(), proto, "/bucket/key", b"", payload);
            let reply = server.send(proto, Framing::Length, request).await;
            let seen = server.one();
            // A bodiless UNSIGNED-PAYLOAD leaves no body out.
            assert_accepted(&reply, &seen, b"", true);
            assert!(seen.early, "{proto:?} {payload:?}");
        }
    }
}

#[tokio::test]
async fn put_with_a_hex_payload_hash() {
    let server = Server::s3().await;
    let body = data(100_000);
    for (proto, framing) in MATRIX {
        let request = signed(
            &server,
            &Signer::s3(),
            proto,
            "/bucket/key",
            &body,
            Payload::Hex,
        );
        let reply = server.send(proto, framing, request).await;
        let seen = server.one();
        assert_accepted(&reply, &seen, &body, true);
        assert!(seen.early, "{proto:?} {framing:?}");
    }
}

#[tokio::test]
async fn put_without_a_payload_header_is_judged_at_the_end() {
    let server = Server::s3().await;
    let body = data(30_000);
    for (proto, framing) in MATRIX {
        let request = signed(
            &server,
            &Signer::s3(),
            proto,
            "/bucket/key",
            &body,
            Payload::NoHeader,
        );
        let reply = server.send(proto, framing, request).await;
        let seen = server.one();
        assert_accepted(&reply, &seen, &body, true);
        assert!(
            !seen.early,
            "{proto:?} {framing:?}: authenticated before its body"
        );
    }
}

#[tokio::test]
async fn unsigned_payload_is_refused_by_default() {
    let server = Server::s3().await;
    for (proto, framing) in MATRIX {
        let request = signed(
            &server,
            &Signer::s3(),
            proto,
            "/bucket/key",
            &data(5000),
            Payload::Unsigned,
        );
        let reply = server.send(proto, framing, request).await;
        assert_refused(&reply, "unsigned_payload_not_allowed");
        server.never_ran();
    }
}

#[tokio::test]
async fn unsigned_payload_is_accepted_with_the_opt_in_but_not_body_authenticated() {
    let server = Server::start(SigV4::new("s3").allow_unsigned_payload(true)).await;
    let body = data(5000);
    for (proto, framing) in MATRIX {
        let request = signed(
            &server,
            &Signer::s3(),
            proto,
            "/bucket/key",
            &body,
            Payload::Unsigned,
        );
        let reply = server.send(proto, framing, request).await;
        let seen = server.one();
        assert_accepted(&reply, &seen, &body, false);
        assert!(seen.early);
    }
}

/// (body length, chunk size): an empty body, one byte, exact multiples of
/// the chunk size, a short last chunk, the SDKs' 64 KiB.
const SIZES: [(usize, usize); 6] = [
    (0, 8192),
    (1, 8192),
    (3 * 1024, 1024),
    (8192, 8192),
    (10_000, 4096),
    (70_000, 65_536),
];

#[tokio::test]
async fn signed_aws_chunked_bodies() {
    let server = Server::s3().await;
    for (proto, framing) in MATRIX {
        for (len, chunk) in SIZES {
            let body = data(len);
            let (request, _) = streaming_put(
                &server,
                &Signer::s3(),
                proto,
                Payload::Streaming,
                &body,
                chunk,
                Some(len as u64),
            );
            let reply = server.send(proto, framing, request).await;
            let seen = server.one();
            assert_accepted(&reply, &seen, &body, true);
            assert!(seen.early, "{proto:?} {framing:?} {len}/{chunk}");
        }
    }
}

#[tokio::test]
async fn signed_aws_chunked_bodies_without_a_decoded_length() {
    let server = Server::s3().await;
    let body = data(10_000);
    for (proto, framing) in MATRIX {
        let (request, _) = streaming_put(
            &server,
            &Signer::s3(),
            proto,
            Payload::Streaming,
            &body,
            3000,
            None,
        );
        let reply = server.send(proto, framing, request).await;
        assert_accepted(&reply, &server.one(), &body, true);
    }
}

#[tokio::test]
async fn signed_aws_chunked_bodies_with_a_signed_trailer() {
    let server = Server::s3().await;
    for (proto, framing) in MATRIX {
        for (len, chunk) in SIZES {
            let body = data(len);
            let (request, _) = streaming_put(
                &server,
                &Signer::s3(),
                proto,
                Payload::SignedTrailer,
                &body,
                chunk,
                Some(len as u64),
            );
            let reply = server.send(proto, framing, request).await;
            let seen = server.one();
            assert_accepted(&reply, &seen, &body, true);
            assert!(seen.early);
        }
    }
}

#[tokio::test]
async fn unsigned_aws_chunked_with_a_trailer_needs_the_opt_in() {
    let refusing = Server::s3().await;
    let accepting = Server::start(SigV4::new("s3").allow_unsigned_payload(true)).await;
    for (proto, framing) in MATRIX {
        for (len, chunk) in SIZES {
            let body = data(len);
            let (request, _) = streaming_put(
                &refusing,
                &Signer::s3(),
                proto,
                Payload::UnsignedTrailer,
                &body,
                chunk,
                Some(len as u64),
            );
            let reply = refusing.send(proto, framing, request).await;
            assert_refused(&reply, "unsigned_payload_not_allowed");
            refusing.never_ran();

            let (request, _) = streaming_put(
                &accepting,
                &Signer::s3(),
                proto,
                Payload::UnsignedTrailer,
                &body,
                chunk,
                Some(len as u64),
            );
            let reply = accepting.send(proto, framing, request).await;
            let seen = accepting.one();
            assert_accepted(&reply, &seen, &body, false);
            assert!(seen.early);
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Canonical URIs, 3. canonical queries.

#[tokio::test]
async fn other_services_paths_are_normalised_and_double_encoded() {
    let server = Server::start(SigV4::new("myservice")).await;
    let targets = [
        "/",
        "/my%20dir/file%20name.txt",
        "/a%2Fb/c",
        "/a/./b/../c",
        "/a//b///c",
        "/a/b/../../c/",
        "/x/y/",
        "/%E2%82%AC/~tilde/!bang/%21/a:b@c",
        "/my%20dir/./x/..//y%2F%2E%2E/z",
    ];
    let body = data(2000);
    for proto in PROTOS {
        for target in targets {
            for (body, payload) in [
                (&b""[..], Payload::NoHeader),
                (&body[..], Payload::NoHeader),
            ] {
                let signer = Signer::service("myservice");
                let request = signed(&server, &signer, proto, target, body, payload);
                let reply = server.send(proto, Framing::Length, request).await;
                let seen = server.one();
                assert_accepted(&reply, &seen, body, true);
            }
        }
    }
}

#[tokio::test]
async fn s3_object_keys_are_signed_as_sent() {
    let server = Server::s3().await;
    let targets = [
        "/bucket/my%20key%20with%20spaces",
        "/bucket/a~b~c",
        "/bucket/%C3%A9t%C3%A9/%E6%97%A5%E6%9C%AC",
        "/bucket/a%2Fb",
        "/bucket/a/../b",
        "/bucket/a//b",
        "/bucket/./c",
        "/bucket/trailing/",
        "/bucket/%2E%2E/x",
    ];
    let body = data(2000);
    for (proto, framing) in MATRIX {
        for target in targets {
            for body in [&b""[..], &body[..]] {
                let request = signed(&server, &Signer::s3(), proto, target, body, Payload::Hex);
                let reply = server.send(proto, framing, request).await;
                assert_accepted(&reply, &server.one(), body, true);
            }
        }
    }
}

#[tokio::test]
async fn query_parameters_in_any_order_repeated_empty_and_encoded() {
    let queries = [
        "z=1&a=2&a=1&m=",
        "flag&empty=&b=2",
        "sp=a%20b&enc=%2F%3D%26&lower=%2f%3d&tilde=~x&uni=%C3%A9%E2%82%AC",
        "eq=a=b&B=upper&b=lower&_=u&-=d",
        "list-type=2&prefix=photos%2F2026%2F&delimiter=%2F&max-keys=100",
        "x=%7E&x=~&x=%41",
    ];
    for (scheme, signer) in [
        (SigV4::new("s3"), Signer::s3()),
        (SigV4::new("myservice"), Signer::service("myservice")),
    ] {
        let server = Server::start(scheme).await;
        for proto in PROTOS {
            for query in queries {
                let target = format!("/bucket/key?{query}");
                let request = signed(&server, &signer, proto, &target, b"", Payload::Hex);
                let reply = server.send(proto, Framing::Length, request).await;
                assert_accepted(&reply, &server.one(), b"", true);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 4. Tampering.

/// Flips a byte of the body's data (of its second chunk, for aws-chunked).
#[tokio::test]
async fn a_flipped_body_byte_is_refused_in_every_payload_mode() {
    let server = Server::start(SigV4::new("s3").allow_unsigned_payload(true)).await;
    let body = data(10_000);
    for (proto, framing) in MATRIX {
        for payload in [Payload::Hex, Payload::NoHeader] {
            let mut request = signed(&server, &Signer::s3(), proto, "/bucket/k", &body, payload);
            let mut changed = body.clone();
            changed[5000] ^= 1;
            *request.body_mut() = changed.into();
            let reply = server.send(proto, framing, request).await;
            assert_refused(&reply, "invalid_signature");
            let seen = server.one();
            assert_eq!(seen.verify, Err("invalid_signature".into()), "{payload:?}");
        }
        for (payload, code) in [
            (Payload::Streaming, "invalid_signature"),
            (Payload::SignedTrailer, "invalid_signature"),
            (Payload::UnsignedTrailer, "checksum_mismatch"),
        ] {
            let (mut request, mut stream) = streaming_put(
                &server,
                &Signer::s3(),
                proto,
                payload,
                &body,
                4096,
                Some(body.len() as u64),
            );
            let mut chunk = stream.chunks[1].data.to_vec();
            chunk[100] ^= 0x80;
            stream.chunks[1].data = chunk.into();
            *request.body_mut() = stream.wire();
            let mut changed = body.clone();
            changed[stream.offset(1) + 100] ^= 0x80;
            let reply = server.send(proto, framing, request).await;
            assert_refused(&reply, code);
            let seen = server.one();
            assert_eq!(
                seen.verify,
                Err(code.into()),
                "{proto:?} {framing:?} {payload:?}"
            );
            assert!(
                seen.body_error,
                "{payload:?}: the handler's read did not fail"
            );
            if payload.chunks_signed() {
                // Nothing past the forged chunk, and not all of it.
                assert!(seen.body.len() < stream.offset(2), "{payload:?}");
                assert!(seen.body == changed[..seen.body.len()]);
            }
        }
    }
}

/// Each chunk signature (the final chunk's too) changed in turn: a
/// decoder that parses them without checking each is caught.
#[tokio::test]
async fn every_chunk_signature_is_checked() {
    let server = Server::s3().await;
    let body = data(4 * 1024 + 100);
    for (proto, framing) in MATRIX {
        for payload in [Payload::Streaming, Payload::SignedTrailer] {
            for index in 0..6 {
                // Signed afresh each time: an authenticated head spends its
                // signature even when its body then fails.
                let (mut request, stream) = streaming_put(
                    &server,
                    &Signer::s3(),
                    proto,
                    payload,
                    &body,
                    1024,
                    Some(body.len() as u64),
                );
                assert_eq!(stream.chunks.len(), 6);
                let mut forged = stream.clone();
                let signature = forged.chunks[index].signature.as_mut().unwrap();
                *signature = other_signature(signature);
                *request.body_mut() = forged.wire();
                let reply = server.send(proto, framing, request).await;
                assert_refused(&reply, "invalid_signature");
                let seen = server.one();
                let context = format!("{proto:?} {framing:?} {payload:?} chunk {index}");
                assert_eq!(seen.verify, Err("invalid_signature".into()), "{context}");
                assert!(seen.body_error, "{context}");
                assert!(seen.body == body[..seen.body.len()], "{context}");
                let limit = stream.offset(index) + stream.chunks[index].data.len();
                assert!(
                    seen.body.len() <= limit,
                    "{context}: {} bytes",
                    seen.body.len()
                );
                if !stream.chunks[index].data.is_empty() {
                    assert!(
                        seen.body.len() < limit,
                        "{context}: got the whole forged chunk"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_trailer_is_checked() {
    let server = Server::start(SigV4::new("s3").allow_unsigned_payload(true)).await;
    let body = data(5000);
    let other_checksum = crc32_base64(b"other");
    for (proto, framing) in MATRIX {
        let put = |payload| {
            streaming_put(
                &server,
                &Signer::s3(),
                proto,
                payload,
                &body,
                2048,
                Some(body.len() as u64),
            )
        };
        // The trailer signature changed.
        let (mut request, mut stream) = put(Payload::SignedTrailer);
        let signature = stream.trailer_signature.as_mut().unwrap();
        *signature = other_signature(signature);
        *request.body_mut() = stream.wire();
        let reply = server.send(proto, framing, request).await;
        assert_refused(&reply, "invalid_signature");
        let seen = server.one();
        assert_eq!(seen.verify, Err("invalid_signature".into()));
        assert!(seen.body_error);

        // The checksum changed under its signature.
        let (mut request, mut stream) = put(Payload::SignedTrailer);
        stream.checksum = Some(other_checksum.clone());
        *request.body_mut() = stream.wire();
        let reply = server.send(proto, framing, request).await;
        assert_refused(&reply, "invalid_signature");
        assert_eq!(server.one().verify, Err("invalid_signature".into()));

        // The checksum of an unsigned body changed.
        let (mut request, mut stream) = put(Payload::UnsignedTrailer);
        stream.checksum = Some(other_checksum.clone());
        *request.body_mut() = stream.wire();
        let reply = server.send(proto, framing, request).await;
        assert_refused(&reply, "checksum_mismatch");
        assert_eq!(server.one().verify, Err("checksum_mismatch".into()));
    }
}

#[tokio::test]
async fn chunks_dropped_reordered_or_truncated_are_refused() {
    let server = Server::s3().await;
    let body = data(4 * 1024);
    for (proto, framing) in MATRIX {
        for payload in [Payload::Streaming, Payload::SignedTrailer] {
            // Each variant signed afresh: an authenticated head spends its
            // signature even when its body then fails.
            let send = |change: &dyn Fn(&Stream) -> Bytes| {
                let (mut request, stream) = streaming_put(
                    &server,
                    &Signer::s3(),
                    proto,
                    payload,
                    &body,
                    1024,
                    Some(body.len() as u64),
                );
                *request.body_mut() = change(&stream);
                server.send(proto, framing, request)
            };
            let context = format!("{proto:?} {framing:?} {payload:?}");

            let dropped = |stream: &Stream| {
                let mut stream = stream.clone();
                stream.chunks.remove(1);
                stream.wire()
            };
            assert_refused(&send(&dropped).await, "invalid_signature");
            assert_eq!(
                server.one().verify,
                Err("invalid_signature".into()),
                "{context}"
            );

            let reordered = |stream: &Stream| {
                let mut stream = stream.clone();
                stream.chunks.swap(1, 2);
                stream.wire()
            };
            assert_refused(&send(&reordered).await, "invalid_signature");
            assert_eq!(
                server.one().verify,
                Err("invalid_signature".into()),
                "{context}"
            );

            // The final chunk and the trailer never come.
            let unfinished = |stream: &Stream| {
                let mut stream = stream.clone();
                stream.chunks.pop();
                stream.checksum = None;
                let wire = stream.wire();
                wire.slice(..wire.len() - 2) // the end's `\r\n` too
            };
            assert_refused(&send(&unfinished).await, "body_incomplete");
            assert_eq!(
                server.one().verify,
                Err("body_incomplete".into()),
                "{context}"
            );

            // Cut in the middle of a chunk's data, and at the end's last bytes.
            for only_the_last_byte in [false, true] {
                let cut = |stream: &Stream| {
                    let wire = stream.wire();
                    let keep = if only_the_last_byte {
                        wire.len() - 1
                    } else {
                        wire.len() / 2
                    };
                    wire.slice(..keep)
                };
                let reply = send(&cut).await;
                assert_refused(&reply, "body_incomplete");
                let seen = server.one();
                assert_eq!(
                    seen.verify,
                    Err("body_incomplete".into()),
                    "{context} {only_the_last_byte}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_decoded_length_must_match() {
    let server = Server::start(SigV4::new("s3").allow_unsigned_payload(true)).await;
    let body = data(5000);
    for (proto, framing) in MATRIX {
        for payload in [
            Payload::Streaming,
            Payload::SignedTrailer,
            Payload::UnsignedTrailer,
        ] {
            for declared in [body.len() - 1, body.len() + 1, 0, 1 << 40] {
                let (request, _) = streaming_put(
                    &server,
                    &Signer::s3(),
                    proto,
                    payload,
                    &body,
                    2000,
                    Some(declared as u64),
                );
                let reply = server.send(proto, framing, request).await;
                assert_refused(&reply, "decoded_length_mismatch");
                let seen = server.one();
                assert_eq!(
                    seen.verify,
                    Err("decoded_length_mismatch".into()),
                    "{proto:?} {framing:?} {payload:?} {declared}"
                );
                assert!(
                    seen.body.len() <= declared,
                    "more than declared reached the handler"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_x_amz_header_added_after_signing_is_refused_up_front() {
    let server = Server::s3().await;
    for (proto, framing) in MATRIX {
        for body in [&b""[..], &data(3000)[..]] {
            let mut request = signed(
                &server,
                &Signer::s3(),
                proto,
                "/bucket/k",
                body,
                Payload::Hex,
            );
            request
                .headers_mut()
                .insert("x-amz-meta-x", HeaderValue::from_static("added"));
            let reply = server.send(proto, framing, request).await;
            assert_refused(&reply, "unsigned_header");
            server.never_ran();
        }
        // In a streaming upload too.
        let (mut request, _) = streaming_put(
            &server,
            &Signer::s3(),
            proto,
            Payload::Streaming,
            &data(3000),
            1000,
            Some(3000),
        );
        request
            .headers_mut()
            .insert("x-amz-meta-x", HeaderValue::from_static("added"));
        assert_refused(
            &server.send(proto, framing, request).await,
            "unsigned_header",
        );
        server.never_ran();
    }
}

#[tokio::test]
async fn the_credential_scope_must_match() {
    let server = Server::s3().await;
    for proto in PROTOS {
        // The scope's date is not X-Amz-Date's.
        let mut request = signed(
            &server,
            &Signer::s3(),
            proto,
            "/bucket/k",
            b"",
            Payload::Hex,
        );
        let authorization = request.headers()[header::AUTHORIZATION].to_str().unwrap();
        let at = authorization.find("Credential=7/").unwrap() + "Credential=7/".len();
        let date = &authorization[at..at + 8];
        let other = if date == "20000101" {
            "20000102"
        } else {
            "20000101"
        };
        let forged = authorization.replacen(date, other, 1);
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, forged.parse().unwrap());
        assert_refused(
            &server.send(proto, Framing::Length, request).await,
            "invalid_credential_scope",
        );
        server.never_ran();

        // Another region, another service, both signed as such.
        for signer in [
            Signer {
                region: "eu-west-1".into(),
                ..Signer::s3()
            },
            Signer {
                service: "ec2".into(),
                ..Signer::s3()
            },
        ] {
            for body in [&b""[..], &data(100)[..]] {
                let request = signed(&server, &signer, proto, "/bucket/k", body, Payload::Hex);
                let reply = server.send(proto, Framing::Length, request).await;
                assert_refused(&reply, "invalid_credential_scope");
                server.never_ran();
            }
        }
    }
}

#[tokio::test]
async fn x_amz_date_sixteen_minutes_off_is_stale() {
    let server = Server::s3().await;
    let now = SystemTime::now();
    for proto in PROTOS {
        for time in [
            now - Duration::from_secs(16 * 60),
            now + Duration::from_secs(16 * 60),
        ] {
            for body in [&b""[..], &data(100)[..]] {
                let signer = Signer {
                    time,
                    ..Signer::s3()
                };
                let request = signed(&server, &signer, proto, "/bucket/k", body, Payload::Hex);
                let reply = server.send(proto, Framing::Length, request).await;
                assert_refused(&reply, "stale_request");
                server.never_ran();
            }
        }
        // 14 minutes off is within the window.
        let signer = Signer {
            time: now - Duration::from_secs(14 * 60),
            ..Signer::s3()
        };
        let request = signed(&server, &signer, proto, "/bucket/k", b"", Payload::Hex);
        let reply = server.send(proto, Framing::Length, request).await;
        assert_accepted(&reply, &server.one(), b"", true);
    }
}

fn presigned(server: &Server, signer: &Signer, proto: Proto, target: &str) -> Request<Bytes> {
    let mut request = server.request(proto, Method::GET, target, b"");
    signer.sign(&mut request, Payload::Unsigned);
    assert!(request.uri().query().unwrap().contains("X-Amz-Signature="));
    assert!(request.headers().get(header::AUTHORIZATION).is_none());
    request
}

#[tokio::test]
async fn presigned_urls_are_refused_by_default() {
    let server = Server::s3().await;
    let signer = Signer {
        presign: Some(Duration::from_secs(300)),
        ..Signer::s3()
    };
    for proto in PROTOS {
        let request = presigned(&server, &signer, proto, "/bucket/k");
        assert_refused(
            &server.send(proto, Framing::Length, request).await,
            "presigned_url_not_allowed",
        );
        server.never_ran();
    }
}

#[tokio::test]
async fn presigned_urls_with_the_opt_in() {
    let server = Server::start(SigV4::new("s3").allow_presigned_urls(true)).await;
    let signer = Signer {
        presign: Some(Duration::from_secs(300)),
        ..Signer::s3()
    };
    for proto in PROTOS {
        // Valid, and valid again: reusable by design.
        let request = presigned(&server, &signer, proto, "/bucket/my%20key?versionId=3&a=1");
        for _ in 0..2 {
            let reply = server.send(proto, Framing::Length, request.clone()).await;
            let seen = server.one();
            assert_accepted(&reply, &seen, b"", true);
            assert!(seen.early);
        }

        // Expired: signed an hour ago for a minute.
        let expired = Signer {
            time: SystemTime::now() - Duration::from_secs(3600),
            presign: Some(Duration::from_secs(60)),
            ..Signer::s3()
        };
        let request = presigned(&server, &expired, proto, "/bucket/k");
        assert_refused(
            &server.send(proto, Framing::Length, request).await,
            "stale_request",
        );
        server.never_ran();

        // A query parameter changed.
        let mut request = presigned(&server, &signer, proto, "/bucket/k?versionId=3");
        let uri = request
            .uri()
            .to_string()
            .replace("versionId=3", "versionId=4");
        *request.uri_mut() = uri.parse().unwrap();
        assert_refused(
            &server.send(proto, Framing::Length, request).await,
            "invalid_signature",
        );
        server.never_ran();

        // Presigned by another secret.
        let forged = Signer {
            secret: OTHER_SECRET_B64.into(),
            ..signer.clone()
        };
        let request = presigned(&server, &forged, proto, "/bucket/k");
        assert_refused(
            &server.send(proto, Framing::Length, request).await,
            "invalid_signature",
        );
        server.never_ran();
    }
}

#[tokio::test]
async fn a_replayed_header_auth_request_is_refused() {
    let server = Server::s3().await;
    let body = data(3000);
    for (proto, framing) in MATRIX {
        for body in [&b""[..], &body[..]] {
            let request = signed(
                &server,
                &Signer::s3(),
                proto,
                "/bucket/k",
                body,
                Payload::Hex,
            );
            let reply = server.send(proto, framing, request.clone()).await;
            assert_accepted(&reply, &server.one(), body, true);
            // The same request again, on another connection.
            let reply = server.send(proto, framing, request.clone()).await;
            assert_refused(&reply, "replayed_request");
            server.never_ran();
            // And on the same connection as a third request.
            let mut client = Client::connect(server.addr, proto).await;
            assert_refused(&client.send(framing, request).await, "replayed_request");
            server.never_ran();
        }
    }
    // A streaming upload, too.
    let (request, _) = streaming_put(
        &server,
        &Signer::s3(),
        Proto::H1,
        Payload::Streaming,
        &body,
        1000,
        Some(body.len() as u64),
    );
    let reply = server
        .send(Proto::H1, Framing::Length, request.clone())
        .await;
    assert_accepted(&reply, &server.one(), &body, true);
    let reply = server.send(Proto::H1, Framing::Length, request).await;
    assert_refused(&reply, "replayed_request");
    server.never_ran();
}

#[tokio::test]
async fn a_wrong_secret_and_an_unknown_key_are_indistinguishable() {
    let server = Server::s3().await;
    let wrong_secret = Signer {
        secret: OTHER_SECRET_B64.into(),
        ..Signer::s3()
    };
    let unknown_key = Signer {
        key_id: "99".into(),
        ..Signer::s3()
    };
    for proto in PROTOS {
        for body in [&b""[..], &data(1000)[..]] {
            let mut replies = Vec::new();
            for signer in [&wrong_secret, &unknown_key] {
                let request = signed(&server, signer, proto, "/bucket/k", body, Payload::Hex);
                let reply = server.send(proto, Framing::Length, request).await;
                assert_refused(&reply, "invalid_signature");
                server.never_ran();
                replies.push(reply);
            }
            assert_eq!(replies[0].body, replies[1].body);
            assert_eq!(replies[0].status, replies[1].status);
        }
        // Signed chunks under a wrong secret never start either.
        let (request, _) = streaming_put(
            &server,
            &wrong_secret,
            proto,
            Payload::Streaming,
            &data(3000),
            1000,
            Some(3000),
        );
        let reply = server.send(proto, Framing::Length, request).await;
        assert_refused(&reply, "invalid_signature");
        server.never_ran();
    }
}

// ---------------------------------------------------------------------------
// 5. Malformed Authorization values.

#[tokio::test]
async fn malformed_authorization_values_are_refused_up_front() {
    let server = Server::s3().await;
    let signer = Signer::s3();
    // A well-formed value to mangle, with the X-Amz-Date it was signed at.
    let mut good = server.request(Proto::H1, Method::GET, "/bucket/k", b"");
    signer.sign(&mut good, Payload::Hex);
    let value = good.headers()[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_owned();
    let signature = value.rsplit_once("Signature=").unwrap().1.to_owned();
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").unwrap().to_owned();
    let credential = rest.split(", ").next().unwrap().to_owned();

    let mut cases: Vec<Vec<u8>> = [
        "AWS4-HMAC-SHA256".to_owned(),
        "AWS4-HMAC-SHA256 ".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace(&format!("{credential}, "), "")
        ),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace("SignedHeaders=", "Signed=")
        ),
        format!("AWS4-HMAC-SHA256 {}", rest.replace(", Signature=", ", X=")),
        format!("AWS4-HMAC-SHA256 {rest}, Signature={signature}"),
        format!("AWS4-HMAC-SHA256 {rest}, Extra=1"),
        format!("AWS4-HMAC-SHA256 {rest}, NoEquals"),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace(&signature, &signature[..63])
        ),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace(&signature, &format!("{signature}0"))
        ),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace(
                &signature,
                &signature.replace(|c: char| c.is_ascii_digit(), "z")
            )
        ),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace("/aws4_request", "/aws5_request")
        ),
        format!("AWS4-HMAC-SHA256 {}", rest.replace("/s3/", "/s3/extra/")),
        format!("AWS4-HMAC-SHA256 {}", rest.replace("/us-east-1/", "/")),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace("/us-east-1/", "/US-EAST-1/")
        ),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace("Credential=7/", "Credential=/")
        ),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace("Credential=7/", "Credential=bad key/")
        ),
        format!("AWS4-HMAC-SHA256 {}", rest.replacen("/20", "/2", 1)),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace("SignedHeaders=host", "SignedHeaders=Host")
        ),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace("SignedHeaders=host;", "SignedHeaders=;")
        ),
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replace("SignedHeaders=host;", "SignedHeaders=;;")
        ),
        format!("AWS4-HMAC-SHA1 {rest}"),
        format!("AWS4-HMAC-SHA256{rest}"),
        // Too long (9,000 spaces inside, which hyper does not trim as it
        // trims them at the end).
        format!(
            "AWS4-HMAC-SHA256 {}",
            rest.replacen(", ", &format!(",{}", " ".repeat(9000)), 1)
        ),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    let mut non_ascii = value.clone().into_bytes();
    non_ascii.extend_from_slice(b"\xff\xfe");
    cases.push(non_ascii);
    assert!(cases.len() >= 14);

    for proto in PROTOS {
        for case in &cases {
            let mut request = server.readdressed(proto, &good);
            request.headers_mut().insert(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(case).unwrap(),
            );
            let reply = server.send(proto, Framing::Length, request).await;
            let shown = String::from_utf8_lossy(&case[..case.len().min(200)]).into_owned();
            assert_eq!(reply.status, 401, "{shown}: {}", reply.text());
            assert_eq!(
                reply.code().as_deref(),
                Some("malformed_authorization"),
                "{shown}"
            );
            let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
            assert!(
                challenge.split(", ").any(|c| c == "AWS4-HMAC-SHA256"),
                "{shown}: {challenge}"
            );
            server.never_ran();
        }

        // Around a well-formed value: no X-Amz-Date, a malformed one, two
        // Authorization headers, a malformed x-amz-content-sha256.
        let mut no_date = good.clone();
        no_date.headers_mut().remove("x-amz-date");
        let mut bad_date = good.clone();
        bad_date.headers_mut().insert(
            "x-amz-date",
            HeaderValue::from_static("2026-01-01T00:00:00Z"),
        );
        let mut twice = good.clone();
        twice
            .headers_mut()
            .append(header::AUTHORIZATION, value.parse().unwrap());
        let mut bad_payload = server.request(proto, Method::GET, "/bucket/k", b"");
        bad_payload
            .headers_mut()
            .insert("x-amz-content-sha256", HeaderValue::from_static("nope"));
        signer.sign(&mut bad_payload, Payload::NoHeader);
        for request in [no_date, bad_date, twice, bad_payload] {
            let request = server.readdressed(proto, &request);
            let reply = server.send(proto, Framing::Length, request).await;
            assert_eq!(reply.status, 401, "{}", reply.text());
            assert_eq!(reply.code().as_deref(), Some("malformed_authorization"));
            server.never_ran();
        }
    }
}

// ---------------------------------------------------------------------------
// More of the documented behaviour.

#[tokio::test]
async fn header_values_are_trimmed_and_repeated_headers_joined() {
    let server = Server::s3().await;
    for (proto, framing) in MATRIX {
        let body = data(1000);
        let mut request = server.request(proto, Method::PUT, "/bucket/k", &body);
        let headers = request.headers_mut();
        headers.append("x-amz-meta-multi", HeaderValue::from_static("one"));
        headers.append("x-amz-meta-multi", HeaderValue::from_static("two,  three"));
        headers.insert("x-amz-meta-spaced", HeaderValue::from_static("a   b  c"));
        headers.insert("x-custom", HeaderValue::from_static("signed too"));
        Signer::s3().sign(&mut request, Payload::Hex);
        let reply = server.send(proto, framing, request).await;
        assert_accepted(&reply, &server.one(), &body, true);
    }
}

#[tokio::test]
async fn uppercase_chunk_sizes_as_aws_sdk_rust_writes_them() {
    let server = Server::start(SigV4::new("s3").allow_unsigned_payload(true)).await;
    let body = data(3 * 0xABC + 7);
    for (proto, framing) in MATRIX {
        for payload in [
            Payload::Streaming,
            Payload::SignedTrailer,
            Payload::UnsignedTrailer,
        ] {
            let (mut request, mut stream) = streaming_put(
                &server,
                &Signer::s3(),
                proto,
                payload,
                &body,
                0xABC,
                Some(body.len() as u64),
            );
            stream.uppercase = true;
            *request.body_mut() = stream.wire();
            assert!(request.body().starts_with(b"ABC"));
            let reply = server.send(proto, framing, request).await;
            assert_accepted(&reply, &server.one(), &body, payload.chunks_signed());
        }
    }
}

#[tokio::test]
async fn a_session_token_is_signed_like_any_header_or_parameter() {
    let server = Server::start(SigV4::new("s3").allow_presigned_urls(true)).await;
    let signer = Signer {
        token: Some("FwoGZXIvYXdzEBYaDH+session/token==".into()),
        ..Signer::s3()
    };
    for proto in PROTOS {
        let body = data(500);
        let request = signed(&server, &signer, proto, "/bucket/k", &body, Payload::Hex);
        assert!(request.headers().contains_key("x-amz-security-token"));
        let reply = server.send(proto, Framing::Length, request).await;
        assert_accepted(&reply, &server.one(), &body, true);

        let presigner = Signer {
            presign: Some(Duration::from_secs(60)),
            ..signer.clone()
        };
        let request = presigned(&server, &presigner, proto, "/bucket/k");
        assert!(request
            .uri()
            .query()
            .unwrap()
            .contains("X-Amz-Security-Token="));
        let reply = server.send(proto, Framing::Length, request).await;
        assert_accepted(&reply, &server.one(), b"", true);
    }
}

#[tokio::test]
async fn a_checksum_header_is_checked_against_the_body() {
    let server = Server::s3().await;
    let body = data(9000);
    for (proto, framing) in MATRIX {
        for (value, code) in [
            (crc32_base64(&body), None),
            (crc32_base64(b"other"), Some("checksum_mismatch")),
        ] {
            // With a hex payload hash.
            let mut request = server.request(proto, Method::PUT, "/bucket/k", &body);
            request
                .headers_mut()
                .insert("x-amz-checksum-crc32", value.parse().unwrap());
            Signer::s3().sign(&mut request, Payload::Hex);
            let reply = server.send(proto, framing, request).await;
            let seen = server.one();
            match code {
                None => assert_accepted(&reply, &seen, &body, true),
                Some(code) => {
                    assert_refused(&reply, code);
                    assert_eq!(seen.verify, Err(code.into()));
                }
            }

            // With signed chunks.
            let mut request = server.request(proto, Method::PUT, "/bucket/k", b"");
            let headers = request.headers_mut();
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static("aws-chunked"),
            );
            headers.insert("x-amz-decoded-content-length", body.len().into());
            headers.insert("x-amz-checksum-crc32", value.parse().unwrap());
            let signer = Signer::s3();
            let seed = signer.sign(&mut request, Payload::Streaming);
            *request.body_mut() = signer.stream(&seed, &body, 4000, Payload::Streaming).wire();
            let reply = server.send(proto, framing, request).await;
            let seen = server.one();
            match code {
                None => assert_accepted(&reply, &seen, &body, true),
                Some(code) => {
                    assert_refused(&reply, code);
                    assert_eq!(seen.verify, Err(code.into()));
                }
            }
        }
    }
}

#[tokio::test]
async fn no_payload_header_is_refused_up_front_under_early_authentication() {
    let layer = Server::layer()
        .scheme(SigV4::new("s3"))
        .require_early_authentication(true);
    let server = Server::with_layer(layer).await;
    let body = data(1000);
    for (proto, framing) in MATRIX {
        let request = signed(
            &server,
            &Signer::s3(),
            proto,
            "/k",
            &body,
            Payload::NoHeader,
        );
        let reply = server.send(proto, framing, request).await;
        assert_eq!(reply.status, 401, "{}", reply.text());
        assert_eq!(
            reply.code().as_deref(),
            Some("early_authentication_required")
        );
        server.never_ran();
        // A declared hash, and signed chunks, are authenticated up front.
        let request = signed(&server, &Signer::s3(), proto, "/k", &body, Payload::Hex);
        let reply = server.send(proto, framing, request).await;
        assert_accepted(&reply, &server.one(), &body, true);
        let (request, _) = streaming_put(
            &server,
            &Signer::s3(),
            proto,
            Payload::Streaming,
            &body,
            300,
            Some(1000),
        );
        let reply = server.send(proto, framing, request).await;
        assert_accepted(&reply, &server.one(), &body, true);
    }
}

#[tokio::test]
async fn the_regions_named_replace_the_default() {
    let server = Server::start(SigV4::new("s3").region("eu-west-1").region("us-west-2")).await;
    for proto in PROTOS {
        for region in ["eu-west-1", "us-west-2"] {
            let signer = Signer {
                region: region.into(),
                ..Signer::s3()
            };
            let request = signed(&server, &signer, proto, "/k", b"", Payload::Hex);
            let reply = server.send(proto, Framing::Length, request).await;
            assert_accepted(&reply, &server.one(), b"", true);
        }
        let request = signed(&server, &Signer::s3(), proto, "/k", b"", Payload::Hex);
        let reply = server.send(proto, Framing::Length, request).await;
        assert_refused(&reply, "invalid_credential_scope");
        server.never_ran();
    }
}

#[tokio::test]
async fn host_and_x_amz_headers_must_be_signed() {
    let server = Server::s3().await;
    for proto in PROTOS {
        for unsigned in [&["host"][..], &["x-amz-date"], &["x-amz-content-sha256"]] {
            let signer = Signer {
                unsigned,
                ..Signer::s3()
            };
            let request = signed(&server, &signer, proto, "/k", &data(10), Payload::Hex);
            let authorization = request.headers()[header::AUTHORIZATION].to_str().unwrap();
            assert!(!authorization.contains(&format!("{};", unsigned[0])));
            let reply = server.send(proto, Framing::Length, request).await;
            assert_refused(&reply, "unsigned_header");
            server.never_ran();
        }
    }
}

#[tokio::test]
async fn a_presigned_url_dated_beyond_the_skew_is_stale() {
    let server = Server::start(SigV4::new("s3").allow_presigned_urls(true)).await;
    for proto in PROTOS {
        let signer = Signer {
            time: SystemTime::now() + Duration::from_secs(20 * 60),
            presign: Some(Duration::from_secs(3600)),
            ..Signer::s3()
        };
        let request = presigned(&server, &signer, proto, "/bucket/k");
        assert_refused(
            &server.send(proto, Framing::Length, request).await,
            "stale_request",
        );
        server.never_ran();
    }
}

#[tokio::test]
async fn a_presigned_upload_is_an_unsigned_payload() {
    let presigner = Signer {
        presign: Some(Duration::from_secs(300)),
        ..Signer::s3()
    };
    let body = data(3000);
    let presigned_put = |server: &Server, proto| {
        let mut request = server.request(proto, Method::PUT, "/bucket/upload", &body);
        presigner.sign(&mut request, Payload::Unsigned);
        request
    };
    let only_urls = Server::start(SigV4::new("s3").allow_presigned_urls(true)).await;
    let both = Server::start(
        SigV4::new("s3")
            .allow_presigned_urls(true)
            .allow_unsigned_payload(true),
    )
    .await;
    for (proto, framing) in MATRIX {
        let reply = only_urls
            .send(proto, framing, presigned_put(&only_urls, proto))
            .await;
        assert_refused(&reply, "unsigned_payload_not_allowed");
        only_urls.never_ran();

        let reply = both.send(proto, framing, presigned_put(&both, proto)).await;
        let seen = both.one();
        assert_accepted(&reply, &seen, &body, false);
        assert!(seen.early);
    }
}

#[tokio::test]
async fn a_presigned_url_with_an_unsigned_x_amz_header_is_refused() {
    let server = Server::start(SigV4::new("s3").allow_presigned_urls(true)).await;
    let signer = Signer {
        presign: Some(Duration::from_secs(300)),
        ..Signer::s3()
    };
    for proto in PROTOS {
        let mut request = presigned(&server, &signer, proto, "/bucket/k");
        request
            .headers_mut()
            .insert("x-amz-meta-x", HeaderValue::from_static("added"));
        assert_refused(
            &server.send(proto, Framing::Length, request).await,
            "unsigned_header",
        );
        server.never_ran();
    }
}

#[tokio::test]
async fn a_streaming_request_without_its_body_is_incomplete() {
    let server = Server::s3().await;
    for (proto, framing) in MATRIX {
        for payload in [Payload::Streaming, Payload::SignedTrailer] {
            let (mut request, _) =
                streaming_put(&server, &Signer::s3(), proto, payload, b"", 100, Some(0));
            *request.body_mut() = Bytes::new();
            let reply = server.send(proto, framing, request).await;
            assert_refused(&reply, "body_incomplete");
            // A body known to be empty is refused up front; one that is
            // only found empty at its end, there.
            let seen = server.take();
            if framing == Framing::Length {
                assert!(seen.is_empty(), "{seen:?}");
            } else {
                assert!(seen
                    .iter()
                    .all(|s| s.verify == Err("body_incomplete".into())));
            }
        }
    }
}

/// Sends `request` with its body in `piece`-byte frames, so that size
/// lines, signatures and the trailer are split across reads.
async fn send_in_pieces(
    server: &Server,
    proto: Proto,
    request: Request<Bytes>,
    piece: usize,
) -> Reply {
    let (parts, body) = request.into_parts();
    let (sender, test_body) = support::TestBody::channel();
    tokio::spawn(async move {
        for at in (0..body.len()).step_by(piece) {
            let end = (at + piece).min(body.len());
            if sender.send(body.slice(at..end)).await.is_err() {
                break;
            }
        }
    });
    let mut client = Client::connect(server.addr, proto).await;
    client
        .send_body(Request::from_parts(parts, test_body))
        .await
}

#[tokio::test]
async fn aws_chunked_bodies_split_into_small_frames() {
    let server = Server::start(SigV4::new("s3").allow_unsigned_payload(true)).await;
    let body = data(2000);
    for proto in PROTOS {
        for payload in [
            Payload::Streaming,
            Payload::SignedTrailer,
            Payload::UnsignedTrailer,
        ] {
            for piece in [1, 7, 64] {
                let (request, _) = streaming_put(
                    &server,
                    &Signer::s3(),
                    proto,
                    payload,
                    &body,
                    300,
                    Some(body.len() as u64),
                );
                let reply = send_in_pieces(&server, proto, request, piece).await;
                assert_accepted(&reply, &server.one(), &body, payload.chunks_signed());
            }
            // And a forged last chunk, found however the bytes arrive.
            let (mut request, mut stream) = streaming_put(
                &server,
                &Signer::s3(),
                proto,
                payload,
                &body,
                300,
                Some(body.len() as u64),
            );
            let last = stream.chunks.len() - 2;
            let mut chunk = stream.chunks[last].data.to_vec();
            chunk[0] ^= 1;
            stream.chunks[last].data = chunk.into();
            *request.body_mut() = stream.wire();
            let reply = send_in_pieces(&server, proto, request, 5).await;
            let code = if payload.chunks_signed() {
                "invalid_signature"
            } else {
                "checksum_mismatch"
            };
            assert_refused(&reply, code);
            assert_eq!(server.one().verify, Err(code.into()));
        }
    }
}

#[tokio::test]
async fn a_presigned_url_may_live_seven_days_at_most() {
    let server = Server::start(SigV4::new("s3").allow_presigned_urls(true)).await;
    for (expires, accepted) in [(604_800, true), (604_801, false)] {
        let signer = Signer {
            presign: Some(Duration::from_secs(expires)),
            ..Signer::s3()
        };
        let request = presigned(&server, &signer, Proto::H1, "/bucket/k");
        let reply = server.send(Proto::H1, Framing::Length, request).await;
        if accepted {
            assert_accepted(&reply, &server.one(), b"", true);
        } else {
            assert_refused(&reply, "malformed_authorization");
            server.never_ran();
        }
    }
}

/// More scopes than the signing keys kept per secret, in turn: each
/// request is still judged with its own scope's key.
#[tokio::test]
async fn many_scopes_of_one_key_in_turn() {
    let regions = [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-south-1",
        "sa-east-1",
    ];
    let scheme = regions
        .iter()
        .fold(SigV4::new("s3"), |scheme, region| scheme.region(region));
    let server = Server::start(scheme).await;
    let body = data(100);
    for _ in 0..3 {
        for region in regions {
            for (secret, accepted) in [(SECRET_B64, true), (OTHER_SECRET_B64, false)] {
                let signer = Signer {
                    region: region.into(),
                    secret: secret.into(),
                    ..Signer::s3()
                };
                let request = signed(&server, &signer, Proto::H1, "/k", &body, Payload::Hex);
                let reply = server.send(Proto::H1, Framing::Length, request).await;
                if accepted {
                    assert_accepted(&reply, &server.one(), &body, true);
                } else {
                    assert_refused(&reply, "invalid_signature");
                    server.never_ran();
                }
            }
        }
    }
}

/// The native scheme still works next to SigV4, with the same key.
#[tokio::test]
async fn the_native_scheme_works_alongside() {
    let server = Server::s3().await;
    for (proto, framing) in MATRIX {
        let body = data(700);
        let native = support::signed(server.request(proto, Method::PUT, "/n", &body));
        let reply = server.send(proto, framing, native).await;
        assert_accepted(&reply, &server.one(), &body, true);

        let sigv4 = signed(&server, &Signer::s3(), proto, "/n", &body, Payload::Hex);
        let reply = server.send(proto, framing, sigv4).await;
        assert_accepted(&reply, &server.one(), &body, true);
    }
    // No credentials at all: both challenges.
    let reply = server
        .send(
            Proto::H1,
            Framing::Length,
            server.request(Proto::H1, Method::GET, "/n", b""),
        )
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.code().as_deref(), Some("missing_authorization"));
    assert_eq!(
        reply.headers[header::WWW_AUTHENTICATE],
        "HMAC-SHA256, AWS4-HMAC-SHA256"
    );
    server.never_ran();
}

/// What `aws-sigv4` signs where the SDKs and the documents could be read
/// two ways: a path ending in a dot segment keeps its slash (RFC 3986), a
/// `+` in the query is a space, a tab inside a header value is kept, and
/// UTF-8 in a header value is signed as the bytes sent.
#[tokio::test]
async fn the_corners_where_readings_differ_follow_aws_sigv4() {
    let server = Server::start(SigV4::new("myservice")).await;
    for proto in PROTOS {
        for target in ["/a/b/.", "/a/b/..", "/a/.", "/q?a=b+c", "/q?a+b=c&d=%2B"] {
            let signer = Signer::service("myservice");
            let request = signed(&server, &signer, proto, target, b"", Payload::NoHeader);
            let reply = server.send(proto, Framing::Length, request).await;
            assert_accepted(&reply, &server.one(), b"", true);
        }
        let mut request = server.request(proto, Method::GET, "/h", b"");
        let headers = request.headers_mut();
        headers.insert("x-amz-meta-tab", HeaderValue::from_static("a\tb"));
        headers.insert(
            "x-amz-meta-utf8",
            HeaderValue::from_bytes("café".as_bytes()).unwrap(),
        );
        Signer::service("myservice").sign(&mut request, Payload::NoHeader);
        let reply = server.send(proto, Framing::Length, request).await;
        assert_accepted(&reply, &server.one(), b"", true);
    }
}

/// One value each: a repeated `x-amz-content-sha256`, `x-amz-trailer` or
/// `x-amz-decoded-content-length` is refused before the handler, even
/// when every copy is signed.
#[tokio::test]
async fn repeated_body_headers_are_refused() {
    let server = Server::start(SigV4::new("s3").allow_unsigned_payload(true)).await;
    let body = data(100);
    for (name, values, code) in [
        (
            "x-amz-content-sha256",
            ["UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD"],
            "malformed_authorization",
        ),
        (
            "x-amz-decoded-content-length",
            ["100", "100"],
            "malformed_chunked_body",
        ),
    ] {
        let mut request = server.request(Proto::H1, Method::PUT, "/bucket/k", &body);
        let headers = request.headers_mut();
        if name != "x-amz-content-sha256" {
            headers.insert(
                "x-amz-content-sha256",
                HeaderValue::from_static("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            );
            headers.insert(
                "x-amz-trailer",
                HeaderValue::from_static("x-amz-checksum-crc32"),
            );
        }
        for value in values {
            headers.append(name, HeaderValue::from_static(value));
        }
        Signer::s3().sign(&mut request, Payload::NoHeader);
        let reply = server.send(Proto::H1, Framing::Length, request).await;
        assert_refused(&reply, code);
        server.never_ran();
    }
}

/// `allow_repeated_reads`: a bodiless GET may come again within its
/// window; an upload is still accepted once.
#[tokio::test]
async fn repeated_reads_only_with_the_opt_in() {
    let strict = Server::s3().await;
    let lenient = Server::start(SigV4::new("s3").allow_repeated_reads(true)).await;
    let body = data(500);
    // A GET sent with a chunked (empty) body has a body as far as the head
    // says: only truly bodiless reads are repeatable.
    for (proto, framing) in [(Proto::H1, Framing::Length), (Proto::H2, Framing::Length)] {
        let get = signed(&strict, &Signer::s3(), proto, "/b/k", b"", Payload::Hex);
        assert_accepted(
            &strict.send(proto, framing, get.clone()).await,
            &strict.one(),
            b"",
            true,
        );
        assert_refused(&strict.send(proto, framing, get).await, "replayed_request");
        strict.never_ran();

        let get = signed(&lenient, &Signer::s3(), proto, "/b/k", b"", Payload::Hex);
        for _ in 0..3 {
            let reply = lenient.send(proto, framing, get.clone()).await;
            assert_accepted(&reply, &lenient.one(), b"", true);
        }
        let put = signed(&lenient, &Signer::s3(), proto, "/b/k", &body, Payload::Hex);
        let reply = lenient.send(proto, framing, put.clone()).await;
        assert_accepted(&reply, &lenient.one(), &body, true);
        assert_refused(&lenient.send(proto, framing, put).await, "replayed_request");
        lenient.never_ran();
    }
}

/// Signature Version 2, in a header or a presigned query, is refused with
/// a code that says to sign with SigV4; the handler never runs.
#[tokio::test]
async fn signature_version_2_is_refused_with_what_to_do() {
    let server = Server::start(SigV4::new("s3").allow_presigned_urls(true)).await;
    for proto in PROTOS {
        let mut request = server.request(proto, Method::GET, "/b/k", b"");
        request.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("AWS 7:frJIUN8DYpKDtOLCwo//yllqDzg="),
        );
        let reply = server.send(proto, Framing::Length, request).await;
        assert_refused(&reply, "unsupported_signature_version");
        server.never_ran();
        let request = server.request(
            proto,
            Method::GET,
            "/b/k?AWSAccessKeyId=7&Signature=frJIUN8DYpKDtOLCwo%2F%2FyllqDzg%3D&Expires=1796138696",
            b"",
        );
        let reply = server.send(proto, Framing::Length, request).await;
        assert_refused(&reply, "unsupported_signature_version");
        server.never_ran();
    }
}

/// F3 (RELIABILITY.md): a second `X-Amz-Signature` under an encoded name
/// (`X-Amz-Signatur%65`), which the canonical query would leave out as the
/// signature, is a repeated parameter: refused, the handler never runs.
#[tokio::test]
async fn a_presigned_url_with_an_encoded_second_signature_is_refused() {
    let server = Server::start(SigV4::new("s3").allow_presigned_urls(true)).await;
    let signer = Signer {
        presign: Some(Duration::from_secs(300)),
        ..Signer::s3()
    };
    for proto in PROTOS {
        let request = presigned(&server, &signer, proto, "/bucket/k");
        for extra in [
            "X-Amz-Signatur%65=0",
            "X%2DAmz-Signature=0",
            "X-Amz-%53ignature=x",
        ] {
            let mut tampered = request.clone();
            let uri = format!("{}&{extra}", tampered.uri());
            *tampered.uri_mut() = uri.parse().unwrap();
            let reply = server.send(proto, Framing::Length, tampered).await;
            assert_refused(&reply, "malformed_authorization");
            server.never_ran();
        }
        // The URL as signed still works.
        let reply = server.send(proto, Framing::Length, request).await;
        assert_accepted(&reply, &server.one(), b"", true);
    }
}
