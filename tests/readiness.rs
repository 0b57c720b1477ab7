//! The tower `Service` contract: `SignatureService` calls its inner service
//! only when `poll_ready` readied it, and lets go of that readiness when it
//! refuses a request, whether the stores answer at once or later.
//!
//! The inner service is a router behind `ConcurrencyLimit` of 1: calling it
//! unreadied panics, and a readiness kept idle holds the only permit, so a
//! second service never becomes ready.

mod support;

use std::{sync::Arc, time::Duration};

use axum::{body::Body, routing::get, Router};
use http::{Request, StatusCode};
use support::{
    app::{keys, SlowKeyStore},
    signer,
};
use tower::{limit::ConcurrencyLimit, Layer as _, Service, ServiceExt};
use tower_hmac::{
    replay::NonceEntry, verify::SignatureService, InMemoryNonceStore, NonceStatus, NonceStore,
    SignatureLayer, StoreError, StoreFuture, VerifiedResponse, Verifier, VerifyError,
};

async fn hello(verifier: Verifier) -> Result<VerifiedResponse, VerifyError> {
    Ok(verifier.verify().await?.respond("hello"))
}

/// A nonce store that answers on a later poll.
struct LateNonces(Arc<InMemoryNonceStore>);

impl NonceStore for LateNonces {
    fn insert(&self, entry: NonceEntry<'_>) -> StoreFuture<Result<NonceStatus, StoreError>> {
        let recorded = self.0.insert(entry);
        StoreFuture::new(async move {
            tokio::task::yield_now().await;
            recorded.await
        })
    }
}

fn signed() -> Request<Body> {
    let mut request = Request::get("http://ready.test/hello").body(()).unwrap();
    signer().sign(&mut request, b"").unwrap();
    request.map(|()| Body::empty())
}

fn forged() -> Request<Body> {
    let mut request = signed();
    *request.uri_mut() = "http://ready.test/hello?extra=1".parse().unwrap();
    request
}

type Inner = ConcurrencyLimit<Router>;

/// Each way the layer can be set up: stores that answer at once, a key
/// store that answers later, a nonce store that answers later.
fn services() -> Vec<(&'static str, SignatureService<Inner>)> {
    let inner = || ConcurrencyLimit::new(Router::new().route("/hello", get(hello)), 1);
    let late_nonces = || LateNonces(Arc::new(InMemoryNonceStore::new()));
    vec![
        ("stores at hand", SignatureLayer::new(keys()).layer(inner())),
        (
            "a late key store",
            SignatureLayer::new(SlowKeyStore(keys())).layer(inner()),
        ),
        (
            "a late nonce store",
            SignatureLayer::new(keys())
                .nonce_store(late_nonces())
                .layer(inner()),
        ),
    ]
}

/// Readies `service` (one second at most) and sends `request` through it.
async fn send(service: &mut SignatureService<Inner>, request: Request<Body>) -> StatusCode {
    let ready = tokio::time::timeout(
        Duration::from_secs(1),
        ServiceExt::<Request<Body>>::ready(service),
    )
    .await
    .expect("the service becomes ready: no idle readiness holds the permit")
    .unwrap();
    ready.call(request).await.unwrap().status()
}

#[tokio::test]
async fn the_inner_service_is_called_only_when_readied() {
    for (setup, mut service) in services() {
        for _ in 0..3 {
            assert_eq!(
                send(&mut service, signed()).await,
                StatusCode::OK,
                "{setup}"
            );
        }
        // Another instance of the same service shares the permit.
        let mut other = service.clone();
        assert_eq!(send(&mut other, signed()).await, StatusCode::OK, "{setup}");
    }
}

#[tokio::test]
async fn a_refused_request_lets_go_of_the_readiness() {
    for (setup, mut service) in services() {
        let mut other = service.clone();
        for refused in [
            forged(),
            Request::get("http://ready.test/hello")
                .body(Body::empty())
                .unwrap(),
        ] {
            assert_eq!(
                send(&mut service, refused).await,
                StatusCode::UNAUTHORIZED,
                "{setup}"
            );
            // The refused request's readiness was let go: the other instance gets the permit.
            assert_eq!(send(&mut other, signed()).await, StatusCode::OK, "{setup}");
        }
        // ...and so does the first, again.
        assert_eq!(
            send(&mut service, signed()).await,
            StatusCode::OK,
            "{setup}"
        );
    }
}
