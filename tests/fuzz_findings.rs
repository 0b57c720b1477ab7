//! Findings of the fuzz targets (`fuzz/`, `RELIABILITY.md`), reproduced.
//! Each test states the documented behaviour and is ignored until the
//! finding is fixed: `cargo test --test fuzz_findings -- --ignored` shows
//! them failing.

use std::sync::{Arc, Mutex};

use axum::{body::Body, routing::any, Router};
use http::{Request, StatusCode};
use tower::ServiceExt as _;
use tower_hmac::{
    schemes::hmac_sha256::{Authorization, MAX_AUTHORIZATION_LEN},
    InMemoryKeys, Outcome, Secret, SignatureLayer, Signer,
};

/// A valid header of `MAX_AUTHORIZATION_LEN` bytes or less, with `,` and no
/// space between its parameters.
fn long_compact_header() -> String {
    let signature = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    for pad in (0..60).rev() {
        for nonce_len in 16..=64 {
            let names: Vec<String> = (0..31)
                .map(|i| format!("a{i:02}{}", "x".repeat(pad)))
                .chain(["host".to_owned()])
                .collect();
            let header = format!(
                "HMAC-SHA256 Key=7,Time=0,Nonce={},SignedHeaders={},Signature={signature}",
                "n".repeat(nonce_len),
                names.join(";")
            );
            if (MAX_AUTHORIZATION_LEN - 3..=MAX_AUTHORIZATION_LEN).contains(&header.len()) {
                return header;
            }
        }
    }
    unreachable!("some padding gives a header of 2045 to 2048 bytes")
}

/// F1: `Authorization::parse` accepts a header whose canonical form
/// (`to_string`, `to_header_value`) is longer than the limit, so that
/// form does not parse back. (Nothing on the wire is affected: the signer
/// refuses to produce such a header, and the server never re-serialises.)
#[test]
#[ignore = "finding F1 (RELIABILITY.md): not fixed yet"]
fn a_parsed_header_round_trips_through_its_canonical_form() {
    let header = long_compact_header();
    let parsed = Authorization::parse(&header).expect("a valid header");
    let canonical = parsed.to_string();
    assert!(
        Authorization::parse(&canonical).is_ok(),
        "{} bytes in, {} bytes out: {:?}",
        header.len(),
        canonical.len(),
        Authorization::parse(&canonical).err()
    );
}

/// F2: a request without a body, authenticated up front, counts as
/// verified before the handler runs. A handler that refuses it with a 4xx
/// without calling `verify()` is reported `accepted` to the outcome hook
/// (`Outcome::Accepted` says "verify() succeeded"), and one that answers
/// 2xx without calling it is let through rather than turned into a 500.
#[tokio::test]
#[ignore = "finding F2 (RELIABILITY.md): docs or behaviour to be settled"]
async fn a_handler_refusal_without_verify_is_not_reported_accepted() {
    let secret = Secret::new(vec![7; 32]).unwrap();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let sink = outcomes.clone();
    let layer =
        SignatureLayer::new(InMemoryKeys::new().with_key("7".parse().unwrap(), secret.clone()))
            .on_outcome(move |_, outcome| sink.lock().unwrap().push(outcome));
    let app = Router::new()
        .route("/refuse", any(|| async { StatusCode::CONFLICT }))
        .route("/forget", any(|| async { "verify() forgotten" }))
        .route_layer(layer);
    let signer = Signer::new("7".parse().unwrap(), secret);
    let signed = |path: &str| {
        let mut request = Request::get(format!("http://api.example.com{path}"))
            .body(Body::empty())
            .unwrap();
        signer.sign(&mut request, b"").unwrap();
        request
    };
    let refused = app.clone().oneshot(signed("/refuse")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let forgot = app.oneshot(signed("/forget")).await.unwrap();
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(
        (outcomes.as_slice(), forgot.status()),
        (
            &[
                Outcome::UnverifiedClientError,
                Outcome::Rejected(tower_hmac::ErrorCode::VerificationSkipped)
            ][..],
            StatusCode::INTERNAL_SERVER_ERROR
        )
    );
}

/// The helper builds what F1 needs (this one runs).
#[test]
fn the_f1_header_is_valid_and_within_the_limit() {
    let header = long_compact_header();
    assert!(header.len() <= MAX_AUTHORIZATION_LEN);
    let parsed = Authorization::parse(&header).expect("a valid header");
    assert!(parsed.to_string().len() > MAX_AUTHORIZATION_LEN);
}
