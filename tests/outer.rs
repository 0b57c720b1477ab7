//! `SignatureLayer` around a whole router, served by `axum::serve` as the
//! layer's docs show: every request must be signed, unknown paths included,
//! and the handlers work as they do behind `route_layer`.

mod support;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use axum::{
    body::Body,
    extract::{Extension, Request},
    http::Response,
    routing::{get, post},
    Router, ServiceExt,
};
use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use support::{app::keys, request, signed, signed_v1, Client, MATRIX};
use tower::ServiceBuilder;
use tower_hmac::{SignatureLayer, VerifiedResponse, Verifier, VerifyError};

/// How often a handler ran, and the body bytes it read.
#[derive(Clone, Default)]
struct Work {
    calls: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

async fn hello(
    Extension(work): Extension<Work>,
    verifier: Verifier,
) -> Result<VerifiedResponse, VerifyError> {
    work.calls.fetch_add(1, Ordering::SeqCst);
    Ok(verifier.verify().await?.respond("hello"))
}

async fn upload(
    Extension(work): Extension<Work>,
    verifier: Verifier,
    mut body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    work.calls.fetch_add(1, Ordering::SeqCst);
    // A body that fails is `verify()`'s to report.
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            work.bytes.fetch_add(data.len() as u64, Ordering::SeqCst);
        }
    }
    Ok(verifier.verify().await?.respond("stored"))
}

/// The docs' recipe: the layer around the router, the response mapped back
/// to axum's body for `axum::serve`.
async fn start() -> (SocketAddr, Work) {
    let work = Work::default();
    let router = Router::new()
        .route("/hello", get(hello))
        .route("/upload", post(upload))
        .layer(Extension(work.clone()));
    let app = ServiceBuilder::new()
        .map_response(|response: Response<_>| response.map(Body::new))
        .layer(SignatureLayer::new(keys()))
        .service(router);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
            .await
            .unwrap();
    });
    (addr, work)
}

#[tokio::test]
async fn signed_requests_reach_their_handlers() {
    let (addr, work) = start().await;
    let body = Bytes::from(vec![b'x'; 300_000]);
    for (proto, framing) in MATRIX {
        let before = work.calls.load(Ordering::SeqCst);
        let mut client = Client::connect(addr, proto).await;
        let reply = client
            .send(
                framing,
                signed(request(proto, addr, Method::GET, "/hello", "")),
            )
            .await;
        assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
        assert_eq!(reply.text(), "hello");
        // With a declared digest, and as a v1 client (judged at the body's end).
        for sign in [signed, signed_v1] {
            let bytes_before = work.bytes.load(Ordering::SeqCst);
            let upload = sign(request(proto, addr, Method::POST, "/upload", body.clone()));
            let reply = client.send(framing, upload).await;
            assert_eq!(reply.status, 200, "{proto:?} {framing:?}: {}", reply.text());
            assert_eq!(reply.text(), "stored");
            assert_eq!(
                work.bytes.load(Ordering::SeqCst) - bytes_before,
                body.len() as u64
            );
        }
        assert_eq!(work.calls.load(Ordering::SeqCst) - before, 3);
    }
}

#[tokio::test]
async fn unsigned_and_forged_requests_never_reach_a_handler() {
    let (addr, work) = start().await;
    for (proto, framing) in MATRIX {
        let mut client = Client::connect(addr, proto).await;
        let unsigned = request(proto, addr, Method::GET, "/hello", "");
        client
            .send(framing, unsigned)
            .await
            .assert_problem(401, "missing_authorization");
        // An unknown path needs a signature too: no 404 tells a stranger what exists.
        let unknown = request(proto, addr, Method::GET, "/nowhere", "");
        client
            .send(framing, unknown)
            .await
            .assert_problem(401, "missing_authorization");
        // Signed for another path, bodiless or with a declared digest: the
        // changed head is refused before any handler or any body byte is used.
        for (method, target, body) in [
            (Method::GET, "/hello", ""),
            (Method::POST, "/upload", "data"),
        ] {
            let mut forged = signed(request(proto, addr, method.clone(), "/other", body));
            *forged.uri_mut() = request(proto, addr, method, target, "").uri().clone();
            client
                .send(framing, forged)
                .await
                .assert_problem(401, "invalid_signature");
        }
        // The connection still serves the next, genuine request.
        let reply = client
            .send(
                framing,
                signed(request(proto, addr, Method::GET, "/nowhere", "")),
            )
            .await;
        assert_eq!(reply.status, 404, "{proto:?} {framing:?}: {}", reply.text());
    }
    assert_eq!(work.calls.load(Ordering::SeqCst), 0);
    assert_eq!(work.bytes.load(Ordering::SeqCst), 0);
}
