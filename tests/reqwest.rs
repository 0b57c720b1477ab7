//! `sign::reqwest::SigningMiddleware` against the real guarded server, over
//! HTTP/1.1 and HTTP/2, with in-memory, digest-declared and chunked bodies,
//! and through a retry middleware.

mod support;

use std::sync::{Arc, Mutex};

use axum::{
    body::Body,
    extract::Extension,
    http::{header, StatusCode},
    routing::post,
    Router,
};
use bytes::Bytes;
use http_body_util::BodyExt;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::{policies::ExponentialBackoff, RetryTransientMiddleware};
use support::app::keys;
use tower_hmac::{
    sign::reqwest::SigningMiddleware, SignatureLayer, VerifiedResponse, Verifier, VerifyError,
};

fn client(h2: bool, signing: SigningMiddleware) -> ClientWithMiddleware {
    let builder = reqwest::Client::builder();
    let inner = if h2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    ClientBuilder::new(inner.build().unwrap())
        .with(signing)
        .build()
}

#[tokio::test]
async fn in_memory_declared_and_chunked_bodies_are_signed_and_authenticated_first() {
    let (addr, observed) = support::start().await;
    for h2 in [false, true] {
        let plain = client(h2, SigningMiddleware::new(support::signer()));
        let reply = plain
            .post(format!("http://{addr}/echo"))
            .body("from reqwest")
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        assert!(reply.headers().get("content-type").is_some());
        assert_eq!(reply.text().await.unwrap(), "from reqwest");

        // A stream with its digest computed beforehand.
        let chunk = Bytes::from(vec![5u8; 256 * 1024]);
        let pieces = || -> Vec<Result<Bytes, std::io::Error>> {
            (0..16).map(|_| Ok(chunk.clone())).collect()
        };
        let mut hasher = tower_hmac::BodyHasher::new();
        for _ in 0..16 {
            hasher.update(&chunk);
        }
        let reply = plain
            .post(format!("http://{addr}/upload"))
            .body(reqwest::Body::wrap_stream(futures_stream(pieces())))
            .with_extension(hasher.finish())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());

        // A stream of unknown digest: refused before sending, or sent in chunks.
        let error = plain
            .post(format!("http://{addr}/upload"))
            .body(reqwest::Body::wrap_stream(futures_stream(pieces())))
            .send()
            .await
            .unwrap_err();
        assert!(
            format!("{error:?}").contains("needs its BodyDigest"),
            "{error:?}"
        );
        let chunked = client(
            h2,
            SigningMiddleware::new(support::signer()).stream_in_chunks(true),
        );
        let reply = chunked
            .post(format!("http://{addr}/upload"))
            .body(reqwest::Body::wrap_stream(futures_stream(pieces())))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.text().await.unwrap(), r#"{"bytes":4194304}"#);

        let seen = observed.take();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            seen.iter().all(|o| o.verify == vec![Ok("7".to_owned())]),
            "{seen:?}"
        );
        assert_eq!(seen[1].len, 4 * 1024 * 1024);
        assert_eq!(seen[2].len, 4 * 1024 * 1024);
    }
}

/// Answers 503 to the first attempt of every request id (after verifying
/// it), 200 to the next; records each attempt's nonce.
async fn flaky(
    Extension(nonces): Extension<Arc<Mutex<Vec<String>>>>,
    verifier: Verifier,
    request: axum::extract::Request,
) -> Result<(StatusCode, VerifiedResponse), VerifyError> {
    let auth = request.headers()[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_owned();
    let nonce = auth
        .split("Nonce=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let body: Body = request.into_body();
    let _ = body.collect().await;
    let verified = verifier.verify().await?;
    let mut nonces = nonces.lock().unwrap();
    nonces.push(nonce);
    let status = if nonces.len() % 2 == 1 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((status, verified.respond("ok")))
}

#[tokio::test]
async fn every_retry_is_signed_afresh() {
    let nonces: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/flaky", post(flaky))
        .route_layer(SignatureLayer::new(keys()))
        .layer(Extension(nonces.clone()));
    let addr = support::serve(app).await;
    for h2 in [false, true] {
        let builder = reqwest::Client::builder();
        let inner = if h2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        };
        let policy = ExponentialBackoff::builder()
            .retry_bounds(
                std::time::Duration::from_millis(1),
                std::time::Duration::from_millis(5),
            )
            .build_with_max_retries(2);
        let client = ClientBuilder::new(inner.build().unwrap())
            .with(RetryTransientMiddleware::new_with_policy(policy))
            .with(SigningMiddleware::new(support::signer()))
            .build();
        let reply = client
            .post(format!("http://{addr}/flaky"))
            .body("retried")
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "the retry was not accepted");
    }
    let nonces = nonces.lock().unwrap();
    assert_eq!(nonces.len(), 4, "two attempts per protocol");
    let distinct: std::collections::HashSet<_> = nonces.iter().collect();
    assert_eq!(distinct.len(), 4, "a retry reused a nonce: {nonces:?}");
}

/// An iterator as a `futures` stream, without a futures dependency.
fn futures_stream<T: Unpin + Send + 'static>(items: Vec<T>) -> impl futures_core::Stream<Item = T> {
    IterStream(items.into_iter())
}

struct IterStream<I>(I);

impl<I: Iterator + Unpin> futures_core::Stream for IterStream<I> {
    type Item = I::Item;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.get_mut().0.next())
    }
}
