//! Hostile and broken inputs: lying bodies, bodies left unread, cancelled
//! verification, disagreeing hosts, misconfiguration.

mod support;

use std::time::Duration;

use axum::{body::Body, routing::post, Router};
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use support::{
    app::{app_with, keys, read_all_then_verify, Observed},
    request, send, signed, signed_v1, signer, Client, Framing, Proto, ScriptedBody, TestBody,
    MATRIX,
};
use tower::ServiceExt;
use tower_hmac::{BodyDigest, Nonce, SignatureLayer, VerifiedResponse, Verifier, VerifyError};

fn liar_app() -> Router {
    Router::new()
        .route("/", post(read_all_then_verify))
        .route_layer(SignatureLayer::new(keys()))
}

fn signed_for(body: &[u8]) -> http::Request<()> {
    let mut request = http::Request::post("http://liar.test/").body(()).unwrap();
    signer().sign(&mut request, body).unwrap();
    request
}

#[tokio::test]
async fn data_after_a_body_claims_its_end_fails_the_request() {
    // Signed over "hello"; the body says it ended after "hello", then sends more.
    let liar = ScriptedBody::new(
        [
            Frame::data(Bytes::from_static(b"hello")),
            Frame::data(Bytes::from_static(b" world")),
        ],
        None,
    )
    .claiming_end_after(1);
    let response = liar_app()
        .oneshot(signed_for(b"hello").map(|()| Body::new(liar)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        !body.starts_with(b"hello"),
        "the unverified bytes leaked: {body:?}"
    );
}

#[tokio::test]
async fn a_body_shorter_than_declared_is_incomplete() {
    // Declares 11 bytes, delivers 5 and ends cleanly (as an HTTP/2 stream reset with NO_ERROR does).
    let short = ScriptedBody::new([Frame::data(Bytes::from_static(b"hello"))], Some(11));
    let response = liar_app()
        .oneshot(signed_for(b"hello").map(|()| Body::new(short)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("body_incomplete"),
        "{body:?}"
    );
}

#[tokio::test]
async fn an_unread_body_is_read_for_the_handler_only_up_to_a_limit() {
    let observed = Observed::default();
    let layer = SignatureLayer::new(keys()).max_unread_body(64 * 1024);
    let addr = support::serve(app_with(layer, observed.clone())).await;
    let big: Bytes = vec![b'x'; 256 * 1024].into();
    for (proto, framing) in MATRIX {
        // /hello never reads its body; verify() would have to read 256 KiB.
        let req = signed(request(proto, addr, Method::POST, "/hello", big.clone()));
        send(addr, proto, framing, req)
            .await
            .assert_problem(413, "body_too_large");
        // An extractor refused before the handler ran; the guard would have to read 256 KiB
        // to tell a (v1, digest undeclared) forgery from a genuine request, and will not.
        let mut forged = signed_v1(request(
            proto,
            addr,
            Method::POST,
            "/needs-n?n=x",
            big.clone(),
        ));
        *forged.body_mut() = vec![b'y'; 256 * 1024].into();
        send(addr, proto, framing, forged)
            .await
            .assert_problem(413, "body_too_large");
        // Under the limit, both work as before.
        let req = signed(request(
            proto,
            addr,
            Method::POST,
            "/hello",
            big.slice(..1000),
        ));
        assert_eq!(send(addr, proto, framing, req).await.status, 200);
    }
    observed.take();
}

#[tokio::test]
async fn a_cancelled_verify_is_not_a_500() {
    async fn impatient(verifier: Verifier) -> &'static str {
        // The body was dropped unread (no body extractor); verify() must read
        // it, and is given 50 ms to do so.
        let _ = tokio::time::timeout(Duration::from_millis(50), verifier.verify()).await;
        "answered without verifying"
    }
    let app = Router::new()
        .route("/", post(impatient))
        .route_layer(SignatureLayer::new(keys()));
    let addr = support::serve(app).await;
    let body = Bytes::from_static(b"arrives slowly");
    let req = signed(request(Proto::H1, addr, Method::POST, "/", body.clone()));
    let (feed, slow) = TestBody::channel();
    let mut client = Client::connect(addr, Proto::H1).await;
    let reply = tokio::spawn(async move { client.send_body(req.map(|_| slow)).await });
    feed.send(body.slice(..4)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    feed.send(body.slice(4..)).await.ok();
    drop(feed);
    let reply = reply.await.unwrap();
    // Not the handler's answer, and not a 500 a client could provoke at will.
    reply.assert_problem(400, "body_incomplete");
}

#[tokio::test]
async fn a_host_header_that_disagrees_with_the_authority_is_refused() {
    let observed = Observed::default();
    let addr = support::serve(app_with(SignatureLayer::new(keys()), observed.clone())).await;
    // HTTP/1.1 absolute-form: the authority names another host than the signed Host header.
    let mut req = http::Request::get("http://elsewhere.example/hello")
        .header(header::HOST, addr.to_string())
        .body(Bytes::new())
        .unwrap();
    signer().sign(&mut req, b"").unwrap();
    send(addr, Proto::H1, Framing::Length, req)
        .await
        .assert_problem(400, "host_mismatch");
    // HTTP/2: `:authority` against an explicit Host header.
    let mut req = request(Proto::H2, addr, Method::GET, "/hello", "");
    req.headers_mut()
        .insert(header::HOST, HeaderValue::from_static("elsewhere.example"));
    signer().sign(&mut req, b"").unwrap();
    send(addr, Proto::H2, Framing::Length, req)
        .await
        .assert_problem(400, "host_mismatch");
    assert!(observed.take().is_empty());
}

#[tokio::test]
async fn a_genuine_refusal_is_stale_once_the_deadline_passed() {
    async fn slow_refusal(body: Bytes) -> (StatusCode, Bytes) {
        tokio::time::sleep(Duration::from_millis(2100)).await;
        (StatusCode::CONFLICT, body)
    }
    let layer = SignatureLayer::new(keys())
        .max_clock_skew(Duration::from_secs(1))
        .max_request_duration(Duration::ZERO);
    let app = Router::new()
        .route("/", post(slow_refusal))
        .route_layer(layer);
    let addr = support::serve(app).await;
    let mut req = request(Proto::H1, addr, Method::POST, "/", "late");
    signer()
        .sign_at(
            &mut req,
            &BodyDigest::of(b"late"),
            support::now(),
            Nonce::random(),
        )
        .unwrap();
    send(addr, Proto::H1, Framing::Length, req)
        .await
        .assert_problem(401, "stale_request");
}

#[tokio::test]
async fn applying_the_layer_twice_is_reported_not_silently_broken() {
    async fn ok(verifier: Verifier) -> Result<VerifiedResponse, VerifyError> {
        Ok(verifier.verify().await?.respond("ok"))
    }
    let app = Router::new()
        .route("/", post(ok))
        .route_layer(SignatureLayer::new(keys()))
        .layer(SignatureLayer::new(keys()));
    let addr = support::serve(app).await;
    let req = signed(request(Proto::H1, addr, Method::POST, "/", ""));
    send(addr, Proto::H1, Framing::Length, req)
        .await
        .assert_problem(500, "verification_skipped");
}

#[tokio::test]
async fn sub_second_durations_round_up() {
    let layer = SignatureLayer::new(keys()).max_clock_skew(Duration::from_millis(500));
    assert!(
        format!("{layer:?}").contains("max_clock_skew: 1,"),
        "{layer:?}"
    );
}

/// HTTP/1.1 authority form (`GET host:port`, RFC 9112 §3.2.3, meant for
/// CONNECT) reaches a hyper server, and a router takes its empty path for
/// no route at all. It signs as `/` (PROTOCOL §4.1), so the signature of
/// `GET /` would reach another handler: the layer refuses it, signed or not
/// and with or without a `Host` line, before any handler (PROTOCOL §6.1
/// step 3). Found through the `server` fuzz target (RELIABILITY.md, O9).
#[tokio::test]
async fn a_target_in_authority_form_is_refused() {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fallbacks = Arc::new(AtomicUsize::new(0));
    let reached = fallbacks.clone();
    let app = Router::new()
        .route(
            "/",
            axum::routing::any(|verifier: Verifier| async move {
                Ok::<_, VerifyError>(verifier.verify().await?.respond("root"))
            }),
        )
        .fallback(move || {
            reached.fetch_add(1, Ordering::Relaxed);
            async { "fallback" }
        })
        .layer(SignatureLayer::new(keys()));
    let addr = support::serve(app).await;
    // `METHOD /` signed as a client signs it, sent with the request target
    // `target`, with or without its Host line.
    let raw = |method: &str, target: &str, with_host: bool| {
        let mut req = http::Request::builder()
            .method(method)
            .uri("/")
            .header(header::HOST, addr.to_string())
            .body(())
            .unwrap();
        signer().sign(&mut req, b"").unwrap();
        let mut text = format!("{method} {target} HTTP/1.1\r\nconnection: close\r\n");
        for (name, value) in req.headers() {
            if name != header::HOST || with_host {
                text.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
            }
        }
        text + "\r\n"
    };
    let exchange = |text: String| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(text.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        reply
    };
    let here = addr.to_string();
    for (method, with_host) in [
        ("GET", true),
        ("GET", false),
        ("POST", false),
        ("DELETE", true),
    ] {
        let reply = exchange(raw(method, &here, with_host)).await;
        assert!(
            reply.starts_with("HTTP/1.1 400 "),
            "{method} {with_host}: {reply}"
        );
        assert!(reply.contains("\"code\":\"malformed_target\""), "{reply}");
    }
    // The same signature on the target it was made for: accepted, at `/`.
    let reply = exchange(raw("GET", "/", true)).await;
    assert!(
        reply.starts_with("HTTP/1.1 200 ") && reply.ends_with("root"),
        "{reply}"
    );
    assert_eq!(fallbacks.load(Ordering::Relaxed), 0, "the fallback ran");
}
