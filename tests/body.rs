//! The hashing body: zero-copy frames, trailers, size hints.

mod support;

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use axum::{body::Body, extract::Request, routing::post, Router};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use support::{send_signed, ScriptedBody, MATRIX};
use tower::{util::MapRequestLayer, ServiceExt};
use tower_hmac::{BodyDigest, SignatureLayer, VerifiedResponse, Verifier, VerifyError};

type Pointers = Arc<Mutex<Vec<(usize, usize)>>>;

/// Records where each data frame's bytes live, then passes it on.
struct Recorder {
    inner: Body,
    pointers: Pointers,
}

impl http_body::Body for Recorder {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame {
            if let Some(data) = frame.data_ref() {
                self.pointers
                    .lock()
                    .unwrap()
                    .push((data.as_ptr() as usize, data.len()));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[tokio::test]
async fn the_handler_gets_the_very_bytes_hyper_read() {
    let arrived: Pointers = Pointers::default();
    let handled: Pointers = Pointers::default();
    let handled_in_handler = handled.clone();
    let handler = move |verifier: Verifier, body: Body| {
        let handled = handled_in_handler.clone();
        async move {
            let mut body = body;
            let mut total = 0;
            while let Some(frame) = body.frame().await {
                if let Some(data) = frame.unwrap().data_ref() {
                    handled
                        .lock()
                        .unwrap()
                        .push((data.as_ptr() as usize, data.len()));
                    total += data.len();
                }
            }
            Ok::<_, VerifyError>(verifier.verify().await?.respond(total.to_string()))
        }
    };
    let arrived_outside = arrived.clone();
    let app = Router::new()
        .route("/upload", post(handler))
        .route_layer(SignatureLayer::new(support::app::keys()))
        // Outside the signature layer: sees the frames as hyper produced them.
        .layer(MapRequestLayer::new(move |request: Request| {
            let pointers = arrived_outside.clone();
            request.map(|inner| Body::new(Recorder { inner, pointers }))
        }));
    let addr = support::serve(app).await;
    for (proto, framing) in MATRIX {
        let body: Bytes = (0..300_000u32).map(|i| i as u8).collect();
        let reply = send_signed(addr, proto, framing, Method::POST, "/upload", body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.text(), "300000");
        let arrived = std::mem::take(&mut *arrived.lock().unwrap());
        let handled = std::mem::take(&mut *handled.lock().unwrap());
        assert!(!arrived.is_empty());
        assert_eq!(
            arrived, handled,
            "{proto:?} {framing:?}: frames were copied or re-cut"
        );
    }
}

/// What the handler saw: exact size hint, lower bound, at end before reading, trailers, bytes.
type Seen = (Option<u64>, u64, bool, Option<HeaderMap>, Bytes);

#[tokio::test]
async fn trailers_pass_through_and_size_hints_are_forwarded() {
    let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
    let seen_in_handler = seen.clone();
    let handler = move |verifier: Verifier, body: Body| {
        let seen = seen_in_handler.clone();
        async move {
            let hint = body.size_hint();
            let end_at_start = body.is_end_stream();
            let collected = body.collect().await.unwrap();
            let trailers = collected.trailers().cloned();
            *seen.lock().unwrap() = Some((
                hint.exact(),
                hint.lower(),
                end_at_start,
                trailers,
                collected.to_bytes(),
            ));
            Ok::<VerifiedResponse, VerifyError>(verifier.verify().await?.respond(()))
        }
    };
    let app = Router::new()
        .route("/t", post(handler))
        .route_layer(SignatureLayer::new(support::app::keys()));

    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    let mut request = http::Request::post("http://example.com/t")
        .body(())
        .unwrap();
    support::signer()
        .sign_with_digest(&mut request, &BodyDigest::of(b"hello world"))
        .unwrap();
    let body = ScriptedBody::new(
        [
            Frame::data(Bytes::from_static(b"hello ")),
            Frame::data(Bytes::from_static(b"world")),
            Frame::trailers(trailers.clone()),
        ],
        Some(11),
    );
    let response = app
        .clone()
        .oneshot(request.map(|()| Body::new(body)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (exact, lower, end_at_start, got_trailers, bytes) = seen.lock().unwrap().take().unwrap();
    assert_eq!((exact, lower, end_at_start), (Some(11), 11, false));
    assert_eq!(got_trailers, Some(trailers), "trailers reach the handler");
    assert_eq!(bytes, "hello world");

    // An empty body is at its end from the start, and can be verified at once.
    let mut request = http::Request::post("http://example.com/t")
        .body(())
        .unwrap();
    support::signer().sign(&mut request, b"").unwrap();
    let response = app.oneshot(request.map(|()| Body::empty())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (exact, _, end_at_start, _, _) = seen.lock().unwrap().take().unwrap();
    assert_eq!((exact, end_at_start), (Some(0), true));
}
