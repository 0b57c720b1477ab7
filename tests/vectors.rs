//! The machine-readable test vectors in `tests/vectors/vectors.json` and
//! `tests/vectors/chunked.json` (signed chunks, PROTOCOL §4.6), made by an
//! independent Python implementation of `docs/PROTOCOL.md`, checked in both
//! directions: our signer reproduces them, and our server accepts them.

mod support;
#[path = "support/vectors.rs"]
mod vector_checks;

use axum::body::Body;
use base64::{engine::general_purpose::STANDARD, Engine as _};
use http::{header, HeaderName, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_hmac::{schemes::hmac_sha256::Authorization, Algorithm, BodyDigest, Secret, Signer};
use vector_checks::{build, ChunkedVector, Vector};

fn vectors() -> Vec<Vector> {
    let text = include_str!("vectors/vectors.json");
    let vectors: Vec<Vector> = serde_json::from_str(text).unwrap();
    assert!(vectors.len() >= 8);
    vectors
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

fn server_for(vector: &Vector) -> axum::Router {
    server_with_key(&vector.key_id, &vector.secret_base64)
}

/// A server accepting the native scheme only.
fn server_with_key(key_id: &str, secret_base64: &str) -> axum::Router {
    vector_checks::server_with_key(key_id, secret_base64, |layer| layer)
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

fn chunked_vectors() -> Vec<ChunkedVector> {
    let vectors: Vec<ChunkedVector> =
        serde_json::from_str(include_str!("vectors/chunked.json")).unwrap();
    assert!(vectors.len() >= 3);
    vectors
}

#[tokio::test]
async fn our_signer_reproduces_every_chunked_vector() {
    vector_checks::signer_reproduces_chunked(&chunked_vectors(), Algorithm::HmacSha256).await;
}

#[tokio::test]
async fn our_server_accepts_every_chunked_vector_and_refuses_it_altered() {
    vector_checks::server_accepts_chunked(&chunked_vectors(), server_with_key).await;
}
