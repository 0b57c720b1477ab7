//! The keyed BLAKE3 scheme (`BLAKE3-KEYED`, feature `blake3`, PROTOCOL §9):
//! the vectors of `tests/vectors/blake3.json`, made by an independent
//! Python implementation on PyPI's `blake3` (tests/vectors/blake3_vectors.py),
//! checked both ways; then a real server on loopback, over HTTP/1.1 and
//! HTTP/2, with content-length and chunked bodies, that accepts the scheme
//! only when configured with it.

mod support;
#[path = "support/vectors.rs"]
mod vector_checks;

use std::sync::{Arc, Mutex};

use axum::{body::Body, routing::any, Extension, Router};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use support::{
    app::{app, app_with, keys, Observed},
    request, send, serve, Proto, KEY_ID, MATRIX, OTHER_SECRET_B64,
};
use tower::ServiceExt;
use tower_hmac::{
    schemes::{blake3_keyed::Blake3Keyed, hmac_sha256::Authorization},
    Algorithm, BodyDigest, BodyHasher, Secret, SignError, SignatureLayer, Signer, VerifiedResponse,
    Verifier, VerifyError,
};
use vector_checks::{build, ChunkedVector, Vector};

const B3: Algorithm = Algorithm::Blake3Keyed;

#[derive(Deserialize)]
struct Vectors {
    key_context: String,
    empty_body_blake3_hex: String,
    requests: Vec<Vector>,
    chunked: Vec<ChunkedVector>,
}

fn vectors() -> Vectors {
    let vectors: Vectors = serde_json::from_str(include_str!("vectors/blake3.json")).unwrap();
    assert!(vectors.requests.len() >= 4 && vectors.chunked.len() >= 2);
    vectors
}

fn blake3_signer(key_id: &str, secret_base64: &str) -> Signer {
    Signer::new(
        key_id.parse().unwrap(),
        Secret::from_base64(secret_base64).unwrap(),
    )
    .algorithm(B3)
}

/// A server that accepts `BLAKE3-KEYED` (and the native scheme) for one key.
fn vector_server(key_id: &str, secret_base64: &str) -> Router {
    vector_checks::server_with_key(key_id, secret_base64, |layer| {
        layer.scheme(Blake3Keyed::new())
    })
}

#[test]
fn the_vectors_use_the_documented_constants() {
    let vectors = vectors();
    assert_eq!(
        vectors.key_context,
        tower_hmac::schemes::blake3_keyed::KEY_CONTEXT
    );
    assert_eq!(B3.empty_digest().to_hex(), vectors.empty_body_blake3_hex);
    assert_eq!(
        BodyDigest::for_algorithm(B3, b"").to_hex(),
        vectors.empty_body_blake3_hex
    );
    assert_eq!(B3.scheme_word(), "BLAKE3-KEYED");
    assert_eq!(B3.chunked_body(), "STREAMING-BLAKE3-KEYED-CHUNKS");
}

#[test]
fn our_signer_reproduces_every_vector() {
    for vector in vectors().requests {
        let (mut request, body) = build(&vector);
        let mut signer = blake3_signer(&vector.key_id, &vector.secret_base64);
        for name in vector.signed_headers.split(';') {
            if name != "host" && name != "content-type" {
                signer = signer.sign_header(HeaderName::from_bytes(name.as_bytes()).unwrap());
            }
        }
        // In pieces, as a file would be hashed.
        let mut hasher = signer.body_hasher();
        for piece in body.chunks(700) {
            hasher.update(piece);
        }
        let digest = hasher.finish();
        assert_eq!(digest, BodyDigest::for_algorithm(B3, &body));
        assert_eq!(
            Some(digest.to_hex()),
            vector.body_blake3_hex,
            "{}",
            vector.name
        );
        let auth = signer
            .sign_at(
                &mut request,
                &digest,
                vector.time,
                vector.nonce.parse().unwrap(),
            )
            .unwrap();
        assert_eq!(auth.algorithm(), B3);
        assert_eq!(auth.to_string(), vector.authorization, "{}", vector.name);
        assert_eq!(STANDARD.encode(auth.signature()), vector.signature);
        assert_eq!(
            request.headers()["content-digest"],
            vector.content_digest.as_str(),
            "{}",
            vector.name
        );
        assert_eq!(
            Signer::string_to_sign(&request, &digest).as_deref(),
            Some(vector.string_to_sign.as_str()),
            "{}",
            vector.name
        );
        // The header parses back under its own algorithm only.
        let parsed = Authorization::parse_as(B3, &vector.authorization).unwrap();
        assert_eq!(parsed.to_string(), vector.authorization);
        assert!(Authorization::parse(&vector.authorization).is_err());
        // And the crate's verifier agrees with the vector's signature.
        let canonical =
            parsed.canonical_request(request.method(), request.uri(), request.headers());
        let secret = Secret::from_base64(&vector.secret_base64).unwrap();
        assert!(canonical.verify(&secret, &digest, parsed.signature()));
        // A SHA-256 digest of the same body is not this request's.
        assert!(!canonical.verify(&secret, &BodyDigest::of(&body), parsed.signature()));
    }
}

#[tokio::test]
async fn our_server_accepts_every_vector_and_refuses_it_altered() {
    for vector in vectors().requests {
        for declare in [true, false] {
            let send = |body: Bytes| {
                let (request, _) = build(&vector);
                let mut request = request.map(|_| Body::from(body));
                let headers = request.headers_mut();
                headers.insert(header::AUTHORIZATION, vector.authorization.parse().unwrap());
                if declare {
                    headers.insert("content-digest", vector.content_digest.parse().unwrap());
                }
                vector_server(&vector.key_id, &vector.secret_base64).oneshot(request)
            };
            let (_, body) = build(&vector);
            let response = send(body.clone()).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{}", vector.name);
            assert_eq!(
                response.into_body().collect().await.unwrap().to_bytes(),
                body
            );
            let mut altered = body.to_vec();
            altered.push(b'!');
            let response = send(Bytes::from(altered)).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{} declare={declare}",
                vector.name
            );
        }
    }
}

#[tokio::test]
async fn our_signer_reproduces_every_chunked_vector() {
    vector_checks::signer_reproduces_chunked(&vectors().chunked, B3).await;
}

#[tokio::test]
async fn our_server_accepts_every_chunked_vector_and_refuses_it_altered() {
    vector_checks::server_accepts_chunked(&vectors().chunked, vector_server).await;
}

// ------------------------------------------------------------ a real server

fn body_of(len: usize) -> Bytes {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn b3_signer() -> Signer {
    support::signer().algorithm(B3)
}

fn b3_signed(mut request: Request<Bytes>) -> Request<Bytes> {
    let body = request.body().clone();
    b3_signer().sign(&mut request, &body).unwrap();
    request
}

/// What the `/work` handler saw of one request.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// `authenticated_key_id()` before a byte of the body was read.
    before_body: Option<String>,
    body: Vec<u8>,
    body_error: bool,
    verify: Result<String, String>,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            before_body: None,
            body: Vec::new(),
            body_error: false,
            verify: Err("not verified".to_owned()),
        }
    }
}

#[derive(Clone, Default)]
struct Work(Arc<Mutex<Vec<Seen>>>);

impl Work {
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn work(
    Extension(work): Extension<Work>,
    verifier: Verifier,
    mut body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    let mut seen = Seen {
        before_body: verifier.authenticated_key_id().map(|id| id.to_string()),
        ..Seen::default()
    };
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => seen
                .body
                .extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..])),
            Err(_) => {
                seen.body_error = true;
                break;
            }
        }
    }
    let verified = verifier.verify().await;
    seen.verify = match &verified {
        Ok(verified) => Ok(verified.key_id().to_string()),
        Err(error) => Err(error.code().to_string()),
    };
    let len = seen.body.len();
    work.0.lock().unwrap().push(seen);
    Ok(verified?.respond(format!("{len}")))
}

/// A server whose one route `/work` records what its handler saw, behind
/// `layer` with `BLAKE3-KEYED` added.
async fn serve_work(layer: SignatureLayer) -> (std::net::SocketAddr, Work) {
    let work_done = Work::default();
    let app = Router::new()
        .route("/work", any(work))
        .route_layer(layer.scheme(Blake3Keyed::new()))
        .layer(Extension(work_done.clone()));
    (serve(app).await, work_done)
}

/// A refusal with `status` and problem `code`.
#[track_caller]
fn assert_refused(reply: &support::Reply, status: u16, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "body: {}", reply.text());
    assert_eq!(
        reply.code().as_deref(),
        Some(code),
        "body: {}",
        reply.text()
    );
}

/// The test app with `BLAKE3-KEYED` accepted beside the native scheme.
async fn start_b3(layer: SignatureLayer) -> (std::net::SocketAddr, Observed) {
    let observed = Observed::default();
    let addr = serve(app_with(layer.scheme(Blake3Keyed::new()), observed.clone())).await;
    (addr, observed)
}

#[tokio::test]
async fn blake3_requests_pass_on_h1_and_h2_with_length_and_chunked_bodies() {
    let (addr, observed) = start_b3(SignatureLayer::new(keys())).await;
    for (proto, framing) in MATRIX {
        let body = body_of(300_000);
        for declare in [true, false] {
            let mut req = request(proto, addr, Method::POST, "/upload", body.clone());
            b3_signer()
                .declare_digest(declare)
                .sign(&mut req, &body)
                .unwrap();
            let reply = send(addr, proto, framing, req).await;
            assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
            assert_eq!(reply.text(), r#"{"bytes":300000}"#);
            let seen = observed.take();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].len, 300_000);
            assert_eq!(seen[0].verify, vec![Ok(KEY_ID.to_owned())]);
        }

        let req = b3_signed(request(proto, addr, Method::POST, "/echo", "echo \x00 me"));
        let reply = send(addr, proto, framing, req).await;
        assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
        assert_eq!(reply.body, "echo \x00 me");
        assert_eq!(observed.take()[0].body, "echo \x00 me");

        // The native scheme still passes on the same layer.
        let reply = support::send_signed(addr, proto, framing, Method::GET, "/hello", "").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(observed.take()[0].verify, vec![Ok(KEY_ID.to_owned())]);
    }
}

fn other_key_b3_signer() -> Signer {
    Signer::new(
        KEY_ID.parse().unwrap(),
        Secret::from_base64(OTHER_SECRET_B64).unwrap(),
    )
    .algorithm(B3)
}

#[tokio::test]
async fn with_early_authentication_required_blake3_is_judged_before_the_handler() {
    let layer = SignatureLayer::new(keys()).require_early_authentication(true);
    let (addr, work) = serve_work(layer).await;
    let genuine = |proto, body: &Bytes| {
        let method = if body.is_empty() {
            Method::GET
        } else {
            Method::POST
        };
        b3_signed(request(proto, addr, method, "/work", body.clone()))
    };
    for (proto, framing) in MATRIX {
        for body in [Bytes::new(), body_of(70_000)] {
            // Bodiless, or its BLAKE3 declared: authenticated before a byte is read.
            let reply = send(addr, proto, framing, genuine(proto, &body)).await;
            assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
            assert_eq!(
                work.take(),
                vec![Seen {
                    before_body: Some(KEY_ID.to_owned()),
                    body: body.to_vec(),
                    body_error: false,
                    verify: Ok(KEY_ID.to_owned()),
                }]
            );

            // Signed with another secret under the same key id: refused, the handler never runs.
            let method = if body.is_empty() {
                Method::GET
            } else {
                Method::POST
            };
            let mut forged = request(proto, addr, method, "/work", body.clone());
            other_key_b3_signer().sign(&mut forged, &body).unwrap();
            let reply = send(addr, proto, framing, forged).await;
            assert_refused(&reply, 401, "invalid_signature");
            assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "BLAKE3-KEYED");
            assert!(work.take().is_empty(), "a handler ran for a forgery");
        }

        // A body declared under SHA-256 only: BLAKE3-KEYED reads the blake3
        // member, so this body could only be judged at its end.
        let body = body_of(1000);
        let mut req = request(proto, addr, Method::POST, "/work", body.clone());
        b3_signer()
            .declare_digest(false)
            .sign(&mut req, &body)
            .unwrap();
        req.headers_mut()
            .insert("content-digest", BodyDigest::of(&body).to_content_digest());
        let reply = send(addr, proto, framing, req).await;
        assert_refused(&reply, 401, "early_authentication_required");
        assert!(work.take().is_empty());
    }
}

/// `pieces` signed in chunks with `signer`, as the wire carries them.
async fn chunked(
    signer: &Signer,
    proto: Proto,
    addr: std::net::SocketAddr,
    pieces: &[Bytes],
) -> Request<Bytes> {
    let frames: Vec<_> = pieces.iter().cloned().map(http_body::Frame::data).collect();
    let req = request(proto, addr, Method::POST, "/work", "")
        .map(|_| support::ScriptedBody::new(frames, None));
    let (parts, body) = signer.sign_chunked(req).unwrap().into_parts();
    assert!(parts.headers["authorization"]
        .to_str()
        .unwrap()
        .starts_with("BLAKE3-KEYED "));
    Request::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn blake3_signed_chunks_stream_through_a_real_server() {
    let layer = SignatureLayer::new(keys()).require_early_authentication(true);
    let (addr, work) = serve_work(layer).await;
    let pieces: Vec<Bytes> = (0..5u8).map(|i| Bytes::from(vec![i; 10_000])).collect();
    let expected: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
    for (proto, framing) in MATRIX {
        let genuine = chunked(&b3_signer(), proto, addr, &pieces).await;
        let reply = send(addr, proto, framing, genuine).await;
        assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
        // Authenticated before the first byte, every chunk checked by the end.
        assert_eq!(
            work.take(),
            vec![Seen {
                before_body: Some(KEY_ID.to_owned()),
                body: expected.clone(),
                body_error: false,
                verify: Ok(KEY_ID.to_owned()),
            }]
        );

        // One byte of the third chunk's data changed: its signature fails,
        // and so does the handler's body read.
        let mut forged = chunked(&b3_signer(), proto, addr, &pieces).await;
        let mut wire = forged.body().to_vec();
        let at = wire.windows(3).position(|w| w == [2, 2, 2]).unwrap() + 5;
        wire[at] = 9;
        *forged.body_mut() = Bytes::from(wire);
        let reply = send(addr, proto, framing, forged).await;
        assert_refused(&reply, 401, "invalid_signature");
        let seen = work.take();
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0].body_error,
            "the handler read a forged chunk to its end"
        );
        assert!(seen[0].body.len() < 30_000, "{}", seen[0].body.len());
        assert_eq!(seen[0].verify, Err("invalid_signature".to_owned()));

        // Signed with another secret: refused before the handler.
        let forged = chunked(&other_key_b3_signer(), proto, addr, &pieces).await;
        let reply = send(addr, proto, framing, forged).await;
        assert_refused(&reply, 401, "invalid_signature");
        assert!(work.take().is_empty());
    }
}

/// One change made to a signed request after signing.
type Tamper = fn(&mut Request<Bytes>);

#[tokio::test]
async fn tampered_blake3_requests_are_refused() {
    let (addr, observed) = start_b3(SignatureLayer::new(keys())).await;
    for (proto, framing) in MATRIX {
        let original = || {
            let mut req = request(proto, addr, Method::POST, "/any/a?x=1", "payload");
            req.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            b3_signed(req)
        };
        let reply = send(addr, proto, framing, original()).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        observed.take();
        let tamperings: [(&str, Tamper); 6] = [
            ("query", |req| {
                *req.uri_mut() = req.uri().to_string().replace("x=1", "x=2").parse().unwrap()
            }),
            // Same length, so only the digest can tell.
            ("body", |req| {
                *req.body_mut() = Bytes::from_static(b"paylaod")
            }),
            ("signed header", |req| {
                req.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            }),
            ("declared digest", |req| {
                let digest = BodyDigest::for_algorithm(Algorithm::Blake3Keyed, b"paylaod");
                *req.body_mut() = Bytes::from_static(b"paylaod");
                req.headers_mut()
                    .insert("content-digest", digest.to_content_digest());
            }),
            // The HMAC-SHA256 scheme word on a BLAKE3 signature.
            ("scheme word", |req| {
                let value = req.headers()[header::AUTHORIZATION].to_str().unwrap();
                let value = value.replacen("BLAKE3-KEYED", "HMAC-SHA256", 1);
                req.headers_mut()
                    .insert(header::AUTHORIZATION, value.parse().unwrap());
            }),
            ("signature", |req| {
                let value = req.headers()[header::AUTHORIZATION].to_str().unwrap();
                let at = value.find("Signature=").unwrap() + 10;
                let mut value = value.to_owned();
                let c = if &value[at..=at] == "A" { "B" } else { "A" };
                value.replace_range(at..=at, c);
                req.headers_mut()
                    .insert(header::AUTHORIZATION, value.parse().unwrap());
            }),
        ];
        for (what, tamper) in tamperings {
            let mut req = original();
            tamper(&mut req);
            let reply = send(addr, proto, framing, req).await;
            assert_refused(&reply, 401, "invalid_signature");
            // A body tampered under a declared digest reaches the handler,
            // whose verify() then fails; a forged head is refused before it.
            // The scheme that judged the request names itself.
            let judge = if what == "scheme word" {
                "HMAC-SHA256"
            } else {
                "BLAKE3-KEYED"
            };
            assert_eq!(reply.headers[header::WWW_AUTHENTICATE], judge, "{what}");
            let seen = observed.take();
            // HMAC-SHA256 finds no sha-256 member declared: it can only judge at the end.
            if what == "body" || what == "scheme word" {
                assert_eq!(seen.len(), 1, "{what}");
                assert_eq!(
                    seen[0].verify,
                    vec![Err("invalid_signature".to_owned())],
                    "{what}"
                );
            } else {
                assert!(seen.is_empty(), "{what}: the handler ran");
            }
        }
    }
}

#[tokio::test]
async fn blake3_is_refused_where_it_is_not_configured() {
    let observed = Observed::default();
    let addr = serve(app(observed.clone())).await;
    for (proto, framing) in MATRIX {
        for (method, target, body) in [
            (Method::GET, "/hello", Bytes::new()),
            (Method::POST, "/upload", body_of(1000)),
        ] {
            let req = b3_signed(request(proto, addr, method, target, body));
            let reply = send(addr, proto, framing, req).await;
            reply.assert_problem(401, "malformed_authorization");
            assert!(observed.take().is_empty(), "a handler ran");
        }
        // The native scheme still passes there.
        let reply = support::send_signed(addr, proto, framing, Method::GET, "/hello", "").await;
        assert_eq!(reply.status, 200);
        observed.take();
    }
}

#[test]
fn a_digest_of_another_algorithm_is_refused_by_the_signer() {
    let mut req = Request::put("http://127.0.0.1:1/f").body(()).unwrap();
    let error = b3_signer()
        .sign_with_digest(&mut req, &BodyDigest::of(b"x"))
        .unwrap_err();
    assert_eq!(
        error,
        SignError::DigestAlgorithm {
            expected: B3,
            found: Algorithm::HmacSha256
        }
    );
    assert!(!req.headers().contains_key(header::AUTHORIZATION));
    let error = support::signer()
        .sign_with_digest(&mut req, &BodyDigest::for_algorithm(B3, b"x"))
        .unwrap_err();
    assert!(matches!(error, SignError::DigestAlgorithm { .. }));
    // A hasher from the signer is always the right one.
    let mut hasher: BodyHasher = b3_signer().body_hasher();
    hasher.update(b"x");
    b3_signer()
        .sign_with_digest(&mut req, &hasher.finish())
        .unwrap();
    assert!(req.headers()["content-digest"]
        .to_str()
        .unwrap()
        .starts_with("blake3=:"));
}
