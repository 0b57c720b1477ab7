//! The shape of the shared test vectors (`tests/vectors/*.json`, made by
//! independent Python implementations) and the checks every algorithm's
//! vectors go through: `tests/vectors.rs` (HMAC-SHA256) and
//! `tests/blake3.rs` (BLAKE3-KEYED).
#![allow(dead_code)]

use axum::{body::Body, routing::any, Router};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use std::time::Duration;
use tower::ServiceExt;
use tower_hmac::{
    schemes::hmac_sha256::Authorization, Algorithm, InMemoryKeys, Secret, SignatureLayer, Signer,
};

use crate::support::{app::read_all_then_verify, ScriptedBody};

/// One request vector (PROTOCOL §8, and §9.5 for `BLAKE3-KEYED`).
#[derive(Deserialize, Clone)]
pub struct Vector {
    pub name: String,
    pub key_id: String,
    pub secret_base64: String,
    pub time: u64,
    pub nonce: String,
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body_base64: String,
    pub signed_headers: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
    pub content_digest: String,
    /// The body's BLAKE3 in hex, in `BLAKE3-KEYED` vectors only.
    #[serde(default)]
    pub body_blake3_hex: Option<String>,
}

/// One signed-chunk vector (PROTOCOL §4.6).
#[derive(Deserialize)]
pub struct ChunkedVector {
    pub name: String,
    pub key_id: String,
    pub secret_base64: String,
    pub time: u64,
    pub nonce: String,
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub chunks_base64: Vec<String>,
    pub string_to_sign: String,
    pub authorization: String,
    pub chunk_signatures: Vec<String>,
    pub wire_body_base64: String,
}

/// A request with the vector's method, target and header lines.
pub fn head_of(method: &str, uri: &str, headers: &[(String, String)]) -> http::request::Builder {
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
}

/// The vector's request, unsigned, and its body.
pub fn build(vector: &Vector) -> (Request<Bytes>, Bytes) {
    let body = Bytes::from(STANDARD.decode(&vector.body_base64).unwrap());
    let request = head_of(&vector.method, &vector.uri, &vector.headers)
        .body(body.clone())
        .unwrap();
    (request, body)
}

/// A server for one key that accepts `scheme` besides the native one (or
/// only the native one), with a century of skew for the vectors' fixed times.
pub fn server_with_key(
    key_id: &str,
    secret_base64: &str,
    scheme: impl FnOnce(SignatureLayer) -> SignatureLayer,
) -> Router {
    let keys = InMemoryKeys::new().with_key(
        key_id.parse().unwrap(),
        Secret::from_base64(secret_base64).unwrap(),
    );
    let layer =
        scheme(SignatureLayer::new(keys)).max_clock_skew(Duration::from_secs(100 * 365 * 86_400));
    Router::new()
        .route("/", any(read_all_then_verify))
        .route("/{*path}", any(read_all_then_verify))
        .route_layer(layer)
}

fn chunked_request(vector: &ChunkedVector) -> Request<()> {
    head_of(&vector.method, &vector.uri, &vector.headers)
        .body(())
        .unwrap()
}

/// Our signer, signing `algorithm`, frames every chunked vector exactly.
pub async fn signer_reproduces_chunked(vectors: &[ChunkedVector], algorithm: Algorithm) {
    for vector in vectors {
        let frames = vector
            .chunks_base64
            .iter()
            .map(|chunk| http_body::Frame::data(Bytes::from(STANDARD.decode(chunk).unwrap())));
        let request = chunked_request(vector).map(|()| ScriptedBody::new(frames, None));
        let signer = Signer::new(
            vector.key_id.parse().unwrap(),
            Secret::from_base64(&vector.secret_base64).unwrap(),
        )
        .algorithm(algorithm);
        let request = signer
            .sign_chunked_at(request, vector.time, vector.nonce.parse().unwrap())
            .unwrap();
        assert_eq!(
            request.headers()["authorization"],
            vector.authorization.as_str(),
            "{}",
            vector.name
        );
        assert_eq!(request.headers()["x-hmac-body"], "chunks");
        let auth =
            Authorization::from_header_as(algorithm, &request.headers()["authorization"]).unwrap();
        let canonical = auth.canonical_request(request.method(), request.uri(), request.headers());
        assert_eq!(
            String::from_utf8(canonical.chunked_string_to_sign()).unwrap(),
            vector.string_to_sign,
            "{}",
            vector.name
        );
        let wire = request.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            STANDARD.encode(&wire),
            vector.wire_body_base64,
            "{}",
            vector.name
        );
        let text = String::from_utf8_lossy(&wire);
        let signatures: Vec<&str> = text
            .match_indices(";sig=")
            .map(|(at, _)| &text[at + 5..at + 49])
            .collect();
        assert_eq!(signatures, vector.chunk_signatures, "{}", vector.name);
    }
}

/// A server made by `server(key_id, secret_base64)` accepts every chunked
/// vector's wire body, and refuses it with its signed end altered.
pub async fn server_accepts_chunked(vectors: &[ChunkedVector], server: fn(&str, &str) -> Router) {
    for vector in vectors {
        let wire = Bytes::from(STANDARD.decode(&vector.wire_body_base64).unwrap());
        let send = |wire: Bytes| {
            let mut request = chunked_request(vector).map(|()| Body::from(wire));
            let headers = request.headers_mut();
            headers.insert(header::AUTHORIZATION, vector.authorization.parse().unwrap());
            headers.insert("x-hmac-body", "chunks".parse().unwrap());
            server(&vector.key_id, &vector.secret_base64).oneshot(request)
        };
        let response = send(wire.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", vector.name);
        let decoded: Vec<u8> = vector
            .chunks_base64
            .iter()
            .flat_map(|chunk| STANDARD.decode(chunk).unwrap())
            .collect();
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            decoded
        );

        // The last chunk's signature changed: the signed end is not this one.
        let mut altered = wire.to_vec();
        let at = wire.windows(5).rposition(|w| w == b";sig=").unwrap() + 5;
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        let response = send(Bytes::from(altered)).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{}",
            vector.name
        );
    }
}
