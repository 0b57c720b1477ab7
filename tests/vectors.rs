//! The machine-readable test vectors in `tests/vectors/vectors.json` and
//! `tests/vectors/chunked.json` (signed chunks, PROTOCOL §4.6), made by an
//! independent Python implementation of `docs/PROTOCOL.md`, checked in both
//! directions: our signer reproduces them, and our server accepts them.

mod support;

use std::time::Duration;

use axum::{body::Body, routing::any, Router};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use http::{header, HeaderName, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use support::app::read_all_then_verify;
use tower::ServiceExt;
use tower_hmac::{
    schemes::hmac_sha256::Authorization, BodyDigest, InMemoryKeys, Secret, SignatureLayer, Signer,
};

#[derive(Deserialize, Clone)]
struct Vector {
    name: String,
    key_id: String,
    secret_base64: String,
    time: u64,
    nonce: String,
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body_base64: String,
    signed_headers: String,
    string_to_sign: String,
    signature: String,
    authorization: String,
    content_digest: String,
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("vectors/vectors.json");
    let vectors: Vec<Vector> = serde_json::from_str(text).unwrap();
    assert!(vectors.len() >= 8);
    vectors
}

fn build(vector: &Vector) -> (Request<Bytes>, Bytes) {
    let body = Bytes::from(STANDARD.decode(&vector.body_base64).unwrap());
    let mut builder = Request::builder()
        .method(Method::from_bytes(vector.method.as_bytes()).unwrap())
        .uri(&vector.uri);
    for (name, value) in &vector.headers {
        builder = builder.header(name, value);
    }
    (builder.body(body.clone()).unwrap(), body)
}

#[test]
fn our_signer_reproduces_every_vector() {
    for vector in vectors() {
        let (mut request, body) = build(&vector);
        let mut signer = Signer::new(
            vector.key_id.parse().unwrap(),
            Secret::from_base64(&vector.secret_base64).unwrap(),
        );
        for name in vector.signed_headers.split(';') {
            if name != "host" && name != "content-type" {
                signer = signer.sign_header(HeaderName::from_bytes(name.as_bytes()).unwrap());
            }
        }
        let auth = signer
            .sign_at(
                &mut request,
                &BodyDigest::of(&body),
                vector.time,
                vector.nonce.parse().unwrap(),
            )
            .unwrap();
        assert_eq!(auth.to_string(), vector.authorization, "{}", vector.name);
        assert_eq!(
            request.headers()["content-digest"],
            vector.content_digest.as_str(),
            "{}",
            vector.name
        );
        assert_eq!(
            auth.signed_headers().as_str(),
            vector.signed_headers,
            "{}",
            vector.name
        );

        let canonical = auth.canonical_request(request.method(), request.uri(), request.headers());
        let text = canonical.string_to_sign(&BodyDigest::of(&body));
        assert_eq!(
            String::from_utf8(text).unwrap(),
            vector.string_to_sign,
            "{}",
            vector.name
        );
        assert_eq!(
            STANDARD.encode(auth.signature()),
            vector.signature,
            "{}",
            vector.name
        );
    }
}

#[test]
fn every_vector_parses_and_prints_back_unchanged() {
    for vector in vectors() {
        let auth = Authorization::parse(&vector.authorization).unwrap();
        assert_eq!(auth.to_string(), vector.authorization, "{}", vector.name);
        assert_eq!(auth.key_id().as_str(), vector.key_id);
        assert_eq!(auth.time(), vector.time);
    }
}

fn server_for(vector: &Vector) -> Router {
    server_with_key(&vector.key_id, &vector.secret_base64)
}

fn server_with_key(key_id: &str, secret_base64: &str) -> Router {
    let keys = InMemoryKeys::new().with_key(
        key_id.parse().unwrap(),
        Secret::from_base64(secret_base64).unwrap(),
    );
    // The vectors are dated; a century of skew lets their fixed times through.
    let layer = SignatureLayer::new(keys).max_clock_skew(Duration::from_secs(100 * 365 * 86_400));
    Router::new()
        .route("/", any(read_all_then_verify))
        .route("/{*path}", any(read_all_then_verify))
        .route_layer(layer)
}

#[tokio::test]
async fn our_server_accepts_every_vector_and_refuses_it_altered() {
    for (vector, declare) in vectors()
        .into_iter()
        .flat_map(|v| [(v.clone(), true), (v, false)])
    {
        let (request, body) = build(&vector);
        let mut request = request.map(Body::from);
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, vector.authorization.parse().unwrap());
        if declare {
            request
                .headers_mut()
                .insert("content-digest", vector.content_digest.parse().unwrap());
        }
        let response = server_for(&vector).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", vector.name);
        assert_eq!(
            response.into_body().collect().await.unwrap().to_bytes(),
            body
        );

        let (request, _) = build(&vector);
        let mut request = request.map(|body| {
            let mut altered = body.to_vec();
            altered.push(b'!');
            Body::from(altered)
        });
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, vector.authorization.parse().unwrap());
        if declare {
            request
                .headers_mut()
                .insert("content-digest", vector.content_digest.parse().unwrap());
        }
        let response = server_for(&vector).oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{}",
            vector.name
        );
    }
}

#[test]
fn the_boundary_shift_vectors_differ() {
    let vectors = vectors();
    let shift: Vec<&Vector> = vectors
        .iter()
        .filter(|v| v.name.starts_with("go-boundary-shift"))
        .collect();
    assert_eq!(shift.len(), 2);
    assert_ne!(shift[0].signature, shift[1].signature);
}

#[derive(Deserialize)]
struct ChunkedVector {
    name: String,
    key_id: String,
    secret_base64: String,
    time: u64,
    nonce: String,
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    chunks_base64: Vec<String>,
    string_to_sign: String,
    authorization: String,
    chunk_signatures: Vec<String>,
    wire_body_base64: String,
}

fn chunked_vectors() -> Vec<ChunkedVector> {
    let vectors: Vec<ChunkedVector> =
        serde_json::from_str(include_str!("vectors/chunked.json")).unwrap();
    assert!(vectors.len() >= 3);
    vectors
}

fn chunked_request(vector: &ChunkedVector) -> Request<()> {
    let mut builder = Request::builder()
        .method(Method::from_bytes(vector.method.as_bytes()).unwrap())
        .uri(&vector.uri);
    for (name, value) in &vector.headers {
        builder = builder.header(name, value);
    }
    builder.body(()).unwrap()
}

#[tokio::test]
async fn our_signer_reproduces_every_chunked_vector() {
    for vector in chunked_vectors() {
        let frames = vector
            .chunks_base64
            .iter()
            .map(|chunk| http_body::Frame::data(Bytes::from(STANDARD.decode(chunk).unwrap())));
        let request = chunked_request(&vector).map(|()| support::ScriptedBody::new(frames, None));
        let signer = Signer::new(
            vector.key_id.parse().unwrap(),
            Secret::from_base64(&vector.secret_base64).unwrap(),
        );
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
        let auth = Authorization::from_header(&request.headers()["authorization"]).unwrap();
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

#[tokio::test]
async fn our_server_accepts_every_chunked_vector_and_refuses_it_altered() {
    for vector in chunked_vectors() {
        let wire = Bytes::from(STANDARD.decode(&vector.wire_body_base64).unwrap());
        let send = |wire: Bytes| {
            let mut request = chunked_request(&vector).map(|()| Body::from(wire));
            let headers = request.headers_mut();
            headers.insert(header::AUTHORIZATION, vector.authorization.parse().unwrap());
            headers.insert("x-hmac-body", "chunks".parse().unwrap());
            server_with_key(&vector.key_id, &vector.secret_base64).oneshot(request)
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
