//! The client-side `SigningLayer` in front of hyper-util's client, against
//! the real guarded server.

mod support;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use support::{start, ScriptedBody};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_hmac::{
    sign::{SignError, SigningBody, SigningLayer},
    BodyDigest, BodyHasher,
};

type Body = BoxBody<Bytes, Infallible>;
type Inner = Client<HttpConnector, SigningBody<Body>>;

fn client(layer: SigningLayer) -> tower_hmac::sign::SigningService<Inner> {
    ServiceBuilder::new()
        .layer(layer)
        .service(Client::builder(TokioExecutor::new()).build_http())
}

fn full(bytes: &'static [u8]) -> Body {
    Full::new(Bytes::from_static(bytes)).boxed()
}

/// A body of `chunks` frames of `chunk`, with no declared length.
fn streamed(chunk: Bytes, chunks: usize) -> Body {
    let frames = std::iter::repeat_n(chunk, chunks).map(http_body::Frame::data);
    ScriptedBody::new(frames, None).boxed()
}

async fn text(response: http::Response<hyper::body::Incoming>) -> (StatusCode, String) {
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_signing_layer_signs_buffered_streamed_and_empty_requests() {
    let (addr, observed) = start().await;
    let mut client = client(SigningLayer::new(support::signer()));

    // An in-memory body: read, hashed, signed, sent.
    let request = Request::post(format!("http://{addr}/echo"))
        .body(full(b"signed by the layer"))
        .unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "signed by the layer".to_owned())
    );

    // No body.
    let request = Request::get(format!("http://{addr}/hello"))
        .body(full(b""))
        .unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(
        text(response).await,
        (StatusCode::OK, "hello, key 7".to_owned())
    );

    // A streamed body, hashed beforehand: signed with the digest, streamed untouched.
    let chunk = Bytes::from(vec![7u8; 64 * 1024]);
    let mut hasher = BodyHasher::new();
    for _ in 0..64 {
        hasher.update(&chunk);
    }
    let mut request = Request::post(format!("http://{addr}/upload"))
        .body(streamed(chunk.clone(), 64))
        .unwrap();
    request.extensions_mut().insert(hasher.finish());
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(
        text(response).await,
        (StatusCode::OK, format!(r#"{{"bytes":{}}}"#, 64 * 64 * 1024))
    );

    let seen = observed.take();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|o| o.verify == vec![Ok("7".to_owned())]),
        "{seen:?}"
    );

    // A digest that does not match the body is caught by the server: the
    // head is authenticated (it declares that digest), the body is not.
    let mut request = Request::post(format!("http://{addr}/upload"))
        .body(streamed(chunk, 2))
        .unwrap();
    request
        .extensions_mut()
        .insert(BodyDigest::of(b"something else"));
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    let (status, body) = text(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains(r#""code":"invalid_signature""#), "{body}");
}

#[tokio::test]
async fn a_body_over_the_buffering_limit_is_refused_before_sending() {
    let (addr, observed) = start().await;
    let mut client = client(SigningLayer::new(support::signer()).max_buffered_body(1024));
    let request = Request::post(format!("http://{addr}/echo"))
        .body(streamed(Bytes::from(vec![1u8; 600]), 2))
        .unwrap();
    let error = client
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    assert_eq!(
        error.downcast_ref::<SignError>(),
        Some(&SignError::BodyTooLarge { limit: 1024 })
    );
    assert!(error.to_string().contains("BodyDigest"), "{error}");
    assert!(observed.take().is_empty(), "nothing was sent");

    // A request with no host at all cannot be signed.
    let request = Request::post("/relative").body(full(b"x")).unwrap();
    let error = client
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    assert_eq!(error.downcast_ref::<SignError>(), Some(&SignError::NoHost));
}

#[tokio::test]
async fn the_signing_layer_streams_bodies_of_unknown_digest_in_signed_chunks() {
    let (addr, observed) = start().await;
    let mut client = client(SigningLayer::new(support::signer()).stream_in_chunks(true));
    // 64 MiB that is never held in memory, over the 8 MiB buffering limit.
    let chunk = Bytes::from(vec![3u8; 1024 * 1024]);
    let request = Request::post(format!("http://{addr}/upload"))
        .body(streamed(chunk, 64))
        .unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(
        text(response).await,
        (
            StatusCode::OK,
            format!(r#"{{"bytes":{}}}"#, 64 * 1024 * 1024)
        )
    );
    let seen = observed.take();
    assert_eq!(
        seen[0].len,
        64 * 1024 * 1024,
        "the handler read the decoded body"
    );
    assert_eq!(seen[0].verify, vec![Ok("7".to_owned())]);
}
