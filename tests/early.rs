//! Authenticate first: which requests never reach a handler, and how every
//! refusal reaches the client (drain, `Expect: 100-continue`, `Connection: close`).

mod support;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{body::Body, extract::Extension, routing::any, Router};
use bytes::Bytes;
use http::{header, HeaderValue, Method};
use http_body_util::BodyExt;
use support::{app::keys, now, request, send, signed, signed_v1, Framing, Proto, MATRIX};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tower_hmac::{
    BodyDigest, Nonce, SignError, SignatureLayer, VerifiedResponse, Verifier, VerifyError,
};

/// What the handler did: how often it ran, and how many body bytes it read.
#[derive(Clone, Default)]
struct Work {
    calls: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    authenticated_before_body: Arc<AtomicU64>,
}

impl Work {
    fn take(&self) -> (u64, u64) {
        (
            self.calls.swap(0, Ordering::SeqCst),
            self.bytes.swap(0, Ordering::SeqCst),
        )
    }
}

async fn counting(
    Extension(work): Extension<Work>,
    verifier: Verifier,
    body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    work.calls.fetch_add(1, Ordering::SeqCst);
    if verifier.authenticated_key_id().is_some() {
        work.authenticated_before_body
            .fetch_add(1, Ordering::SeqCst);
    }
    let mut body = body;
    while let Some(Ok(frame)) = body.frame().await {
        let len = frame.data_ref().map_or(0, |data| data.len() as u64);
        work.bytes.fetch_add(len, Ordering::SeqCst);
    }
    let verified = verifier.verify().await?;
    Ok(verified.respond("done"))
}

async fn serve(layer: SignatureLayer) -> (std::net::SocketAddr, Work) {
    let work = Work::default();
    let app = Router::new()
        .route("/work", any(counting))
        .route_layer(layer)
        .layer(Extension(work.clone()));
    (support::serve(app).await, work)
}

/// Every way of getting it wrong, for a request that can be judged up front.
fn forgeries(
    proto: Proto,
    addr: std::net::SocketAddr,
    body: &'static str,
) -> Vec<(&'static str, http::Request<Bytes>, &'static str)> {
    let method = if body.is_empty() {
        Method::GET
    } else {
        Method::POST
    };
    let genuine = || signed(request(proto, addr, method.clone(), "/work", body));
    let with_auth = |edit: &dyn Fn(&str) -> String| {
        let mut req = genuine();
        let value = edit(req.headers()[header::AUTHORIZATION].to_str().unwrap());
        req.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
        req
    };
    let stale = {
        let mut req = request(proto, addr, method.clone(), "/work", body);
        support::signer()
            .sign_at(
                &mut req,
                &BodyDigest::of(body.as_bytes()),
                now() - 400,
                Nonce::random(),
            )
            .unwrap();
        req
    };
    let unknown = {
        let mut req = request(proto, addr, method.clone(), "/work", body);
        tower_hmac::Signer::new("nobody".parse().unwrap(), support::secret())
            .sign(&mut req, body.as_bytes())
            .unwrap();
        req
    };
    let wrong_key = {
        let mut req = request(proto, addr, method.clone(), "/work", body);
        tower_hmac::Signer::new(support::OTHER_KEY_ID.parse().unwrap(), support::secret())
            .sign(&mut req, body.as_bytes())
            .unwrap();
        req
    };
    vec![
        (
            "missing",
            request(proto, addr, method.clone(), "/work", body),
            "missing_authorization",
        ),
        (
            "malformed",
            with_auth(&|v| v.replace("Time=", "Time=x")),
            "malformed_authorization",
        ),
        (
            "forged signature",
            with_auth(&|v| {
                let (head, _) = v.split_once("Signature=").unwrap();
                format!("{head}Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            }),
            "invalid_signature",
        ),
        (
            "unsigned host",
            with_auth(&|v| v.replace("SignedHeaders=host", "SignedHeaders=x-host")),
            "unsigned_header",
        ),
        ("stale", stale, "stale_request"),
        ("unknown key", unknown, "invalid_signature"),
        ("wrong secret", wrong_key, "invalid_signature"),
    ]
}

#[tokio::test]
async fn forged_stale_replayed_and_unknown_key_requests_never_reach_the_handler() {
    let (addr, work) = serve(SignatureLayer::new(keys())).await;
    for (proto, framing) in MATRIX {
        for body in ["", "a declared body"] {
            for (what, req, code) in forgeries(proto, addr, body) {
                send(addr, proto, framing, req)
                    .await
                    .assert_problem(401, code);
                assert_eq!(
                    work.take(),
                    (0, 0),
                    "{proto:?} {framing:?} {body:?}: {what} ran the handler"
                );
            }
            // A replay of a genuine request: the first runs, the copy does not.
            let req = signed(request(proto, addr, Method::POST, "/work", body));
            assert_eq!(send(addr, proto, framing, req.clone()).await.status, 200);
            assert_eq!(work.take(), (1, body.len() as u64));
            send(addr, proto, framing, req)
                .await
                .assert_problem(401, "replayed_request");
            assert_eq!(
                work.take(),
                (0, 0),
                "{proto:?} {framing:?}: a replay ran the handler"
            );
        }
    }
    // Every genuine request was authenticated before its body was read.
    assert_eq!(work.authenticated_before_body.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn a_body_that_does_not_match_its_declared_digest_fails() {
    let (addr, work) = serve(SignatureLayer::new(keys())).await;
    for (proto, framing) in MATRIX {
        let mut req = signed(request(proto, addr, Method::POST, "/work", "as signed"));
        *req.body_mut() = Bytes::from_static(b"not signed");
        send(addr, proto, framing, req)
            .await
            .assert_problem(401, "invalid_signature");
        // The head was genuine, so the handler ran; verify() refused the body.
        assert_eq!(work.take(), (1, 10));
        // A digest header that is not 32 bytes of base64 is refused up front.
        let mut req = signed(request(proto, addr, Method::POST, "/work", "x"));
        req.headers_mut()
            .insert("content-digest", HeaderValue::from_static("sha-256=:AAAA:"));
        send(addr, proto, framing, req)
            .await
            .assert_problem(400, "malformed_content_digest");
        assert_eq!(work.take(), (0, 0));
    }
}

#[tokio::test]
async fn v1_clients_still_pass_and_still_fail_at_verify() {
    let (addr, work) = serve(SignatureLayer::new(keys())).await;
    for (proto, framing) in MATRIX {
        let req = signed_v1(request(proto, addr, Method::POST, "/work", "v1 body"));
        assert!(!req.headers().contains_key("content-digest"));
        assert_eq!(send(addr, proto, framing, req).await.status, 200);
        assert_eq!(work.take(), (1, 7));
        let mut req = signed_v1(request(proto, addr, Method::POST, "/work", "v1 body"));
        *req.body_mut() = Bytes::from_static(b"v1 BODY");
        send(addr, proto, framing, req)
            .await
            .assert_problem(401, "invalid_signature");
        assert_eq!(work.take(), (1, 7), "a v1 forgery is judged at its end");
    }
}

#[tokio::test]
async fn early_authentication_can_be_required() {
    let layer = SignatureLayer::new(keys()).require_early_authentication(true);
    let (addr, work) = serve(layer).await;
    for (proto, framing) in MATRIX {
        let req = signed_v1(request(proto, addr, Method::POST, "/work", "v1 body"));
        send(addr, proto, framing, req)
            .await
            .assert_problem(401, "early_authentication_required");
        assert_eq!(work.take(), (0, 0));
        let req = signed(request(proto, addr, Method::POST, "/work", "declared"));
        assert_eq!(send(addr, proto, framing, req).await.status, 200);
        // Without any body, v1 is authenticated up front too (an empty
        // chunked body, by contrast, is a body to wait for).
        let req = signed_v1(request(proto, addr, Method::GET, "/work", ""));
        assert_eq!(send(addr, proto, Framing::Length, req).await.status, 200);
        assert_eq!(work.take(), (2, 8), "{proto:?} {framing:?}");
    }
}

#[test]
fn the_signer_refuses_to_sign_authorization() {
    let mut req = http::Request::post("http://127.0.0.1/x").body(()).unwrap();
    let error = support::signer()
        .sign_header(header::AUTHORIZATION)
        .sign(&mut req, b"x")
        .unwrap_err();
    assert_eq!(error, SignError::SignsAuthorization);
    assert!(!req.headers().contains_key(header::AUTHORIZATION));
}

/// Writes a raw HTTP/1.1 request head, then (optionally) `body_len` bytes of
/// body, and reads one response head and body.
async fn raw_exchange(
    stream: &mut TcpStream,
    head: &str,
    body_len: usize,
) -> (u16, String, String) {
    stream.write_all(head.as_bytes()).await.unwrap();
    let writer = async {
        let chunk = vec![b'z'; 64 * 1024];
        let mut left = body_len;
        while left > 0 {
            let n = left.min(chunk.len());
            if stream.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            left -= n;
        }
    };
    // Write the whole body (a real client does), unless the server stops reading.
    let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    read_response(stream).await
}

async fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("no response within 10 s")
            .unwrap();
        assert!(n > 0, "connection closed without a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
    (status, head, body)
}

fn raw_head(addr: std::net::SocketAddr, auth: &str, len: usize, extra: &str) -> String {
    format!(
        "POST /work HTTP/1.1\r\nhost: {addr}\r\nauthorization: {auth}\r\ncontent-length: {len}\r\n{extra}\r\n"
    )
}

fn genuine_raw(addr: std::net::SocketAddr) -> String {
    let req = signed(request(Proto::H1, addr, Method::GET, "/work", ""));
    format!(
        "GET /work HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\n\r\n",
        req.headers()[header::AUTHORIZATION].to_str().unwrap()
    )
}

#[tokio::test]
async fn a_refusal_is_answered_after_the_body_is_drained_and_the_connection_stays_usable() {
    let (addr, work) = serve(SignatureLayer::new(keys())).await;
    for len in [0, 1_500_000, 8 * 1024 * 1024] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = raw_head(addr, "HMAC-SHA256 nonsense", len, "");
        let (status, head, body) = raw_exchange(&mut stream, &head, len).await;
        assert_eq!(status, 401, "{len}: {head}");
        assert!(body.contains("malformed_authorization"), "{body}");
        assert!(!head.contains("connection: close"), "{len}: {head}");
        // The next request on the same connection is served.
        let (status, head, body) = raw_exchange(&mut stream, &genuine_raw(addr), 0).await;
        assert_eq!((status, body.as_str()), (200, "done"), "{len}: {head}");
    }
    assert_eq!(work.take(), (3, 0));
}

#[tokio::test]
async fn past_the_drain_bound_the_answer_says_connection_close() {
    let layer = SignatureLayer::new(keys()).drain(64 * 1024, Duration::from_secs(5));
    let (addr, work) = serve(layer).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = raw_head(addr, "HMAC-SHA256 nonsense", 1_000_000, "");
    let (status, head, body) = raw_exchange(&mut stream, &head, 1_000_000).await;
    assert_eq!(status, 401, "{head}");
    assert!(body.contains("malformed_authorization"), "{body}");
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(work.take(), (0, 0));
}

#[tokio::test]
async fn a_client_that_expects_100_continue_is_refused_without_sending_its_body() {
    let (addr, work) = serve(SignatureLayer::new(keys())).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = raw_head(
        addr,
        "HMAC-SHA256 nonsense",
        50_000_000,
        "expect: 100-continue\r\n",
    );
    // Only the head: a client that waits for 100 Continue sends nothing more.
    let (status, head, body) = raw_exchange(&mut stream, &head, 0).await;
    assert_eq!(status, 401, "{head}");
    assert!(body.contains("malformed_authorization"), "{body}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(!head.contains("100 continue"), "{head}");
    assert_eq!(work.take(), (0, 0));
}

#[tokio::test]
async fn a_slow_refused_body_is_drained_only_for_a_bounded_time() {
    let layer = SignatureLayer::new(keys()).drain(8 * 1024 * 1024, Duration::from_millis(300));
    let (addr, _) = serve(layer).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(raw_head(addr, "HMAC-SHA256 nonsense", 1000, "").as_bytes())
        .await
        .unwrap();
    stream.write_all(b"only a little").await.unwrap();
    let started = std::time::Instant::now();
    let (status, head, _) = read_response(&mut stream).await;
    assert_eq!(status, 401);
    assert!(head.contains("connection: close"), "{head}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_handler_knows_who_called_before_reading_the_body() {
    let (addr, work) = serve(SignatureLayer::new(keys())).await;
    let req = signed(request(Proto::H1, addr, Method::POST, "/work", "declared"));
    assert_eq!(
        send(addr, Proto::H1, Framing::Chunked, req).await.status,
        200
    );
    let req = signed_v1(request(
        Proto::H1,
        addr,
        Method::POST,
        "/work",
        "undeclared",
    ));
    assert_eq!(
        send(addr, Proto::H1, Framing::Chunked, req).await.status,
        200
    );
    assert_eq!(work.authenticated_before_body.load(Ordering::SeqCst), 1);
    assert_eq!(work.take(), (2, 18));
}

/// A body sent in signed chunks, as the wire carries it: `pieces` as chunks.
async fn chunked(
    proto: Proto,
    addr: std::net::SocketAddr,
    pieces: &[&'static [u8]],
) -> http::Request<Bytes> {
    let frames: Vec<_> = pieces
        .iter()
        .map(|piece| http_body::Frame::data(Bytes::from_static(piece)))
        .collect();
    let req = request(proto, addr, Method::POST, "/work", "")
        .map(|_| support::ScriptedBody::new(frames, None));
    let (parts, body) = support::signer().sign_chunked(req).unwrap().into_parts();
    let wire = body.collect().await.unwrap().to_bytes();
    http::Request::from_parts(parts, wire)
}

/// Replaces the `index`-th occurrence of `from` in the body by `to`.
fn edit(mut req: http::Request<Bytes>, from: &str, to: &str, index: usize) -> http::Request<Bytes> {
    let text = String::from_utf8(req.body().to_vec()).unwrap();
    let (at, _) = text.match_indices(from).nth(index).unwrap();
    let edited = format!("{}{to}{}", &text[..at], &text[at + from.len()..]);
    *req.body_mut() = Bytes::from(edited);
    req
}

const PIECES: [&[u8]; 3] = [&[b'a'; 1000], &[b'b'; 1000], &[b'c'; 1000]];

#[tokio::test]
async fn a_body_in_signed_chunks_is_authenticated_first_and_checked_chunk_by_chunk() {
    let (addr, work) = serve(SignatureLayer::new(keys())).await;
    for (proto, framing) in MATRIX {
        let genuine = chunked(proto, addr, &PIECES).await;
        assert_eq!(genuine.headers()["x-hmac-body"], "chunks");
        assert_eq!(
            send(addr, proto, framing, genuine.clone()).await.status,
            200
        );
        // The handler read the decoded body, authenticated before its first byte.
        assert_eq!(work.take(), (1, 3000), "{proto:?} {framing:?}");
        // A replay never runs the handler.
        send(addr, proto, framing, genuine)
            .await
            .assert_problem(401, "replayed_request");
        assert_eq!(work.take(), (0, 0));

        // A forged head: refused before the handler.
        let mut forged = chunked(proto, addr, &PIECES).await;
        let value = forged.headers()[header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .to_owned();
        let (head, _) = value.split_once("Signature=").unwrap();
        let value = format!("{head}Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        forged
            .headers_mut()
            .insert(header::AUTHORIZATION, value.parse().unwrap());
        send(addr, proto, framing, forged)
            .await
            .assert_problem(401, "invalid_signature");
        assert_eq!(work.take(), (0, 0));

        // A changed byte in the second chunk: the handler sees at most that
        // chunk unchecked, then its read fails, and so does the request.
        let tampered = edit(
            chunked(proto, addr, &PIECES).await,
            "bbbbbbbbbb",
            "bbbbBbbbbb",
            50,
        );
        send(addr, proto, framing, tampered)
            .await
            .assert_problem(401, "invalid_signature");
        let (calls, bytes) = work.take();
        assert_eq!(calls, 1);
        assert!(bytes <= 2000, "the handler read {bytes} bytes");

        // Every chunk signature is checked, the last one's too.
        for index in 0..4 {
            let mut req = chunked(proto, addr, &PIECES).await;
            let text = String::from_utf8(req.body().to_vec()).unwrap();
            let sig = text.match_indices(";sig=").nth(index).unwrap().0 + 5;
            let mut body = req.body().to_vec();
            body[sig] = if body[sig] == b'A' { b'B' } else { b'A' };
            *req.body_mut() = Bytes::from(body);
            send(addr, proto, framing, req)
                .await
                .assert_problem(401, "invalid_signature");
            assert_eq!(work.take().0, 1, "chunk {index}");
        }

        // Cut before the last chunk, which signs the end.
        let mut cut = chunked(proto, addr, &PIECES).await;
        let len = cut.body().len();
        let end = String::from_utf8(cut.body().to_vec())
            .unwrap()
            .rfind("0;sig=")
            .unwrap();
        *cut.body_mut() = cut.body().slice(..end.min(len));
        send(addr, proto, framing, cut)
            .await
            .assert_problem(400, "body_incomplete");
        assert_eq!(work.take().1, 3000);

        // Broken framing.
        let broken = edit(chunked(proto, addr, &PIECES).await, "3e8;", "3E8;", 0);
        send(addr, proto, framing, broken)
            .await
            .assert_problem(400, "malformed_chunked_body");
        assert_eq!(work.take(), (1, 0));
    }
}

#[tokio::test]
async fn a_chunked_head_without_a_body_is_refused_before_the_handler() {
    let (addr, work) = serve(SignatureLayer::new(keys())).await;
    for proto in [Proto::H1, Proto::H2] {
        let mut req = chunked(proto, addr, &PIECES).await;
        *req.body_mut() = Bytes::new();
        send(addr, proto, Framing::Length, req)
            .await
            .assert_problem(400, "body_incomplete");
        assert_eq!(work.take(), (0, 0));
    }
}

#[tokio::test]
async fn a_chunk_refused_mid_body_says_connection_close() {
    let (addr, work) = serve(SignatureLayer::new(keys())).await;
    const MIB: &[u8] = &[b'm'; 1 << 20];
    let req = chunked(Proto::H1, addr, &[MIB, MIB, MIB]).await;
    // Change a byte of the second chunk's data.
    let mut wire = req.body().to_vec();
    let second = (1 << 20) + 200;
    let at = wire.iter().skip(second).position(|&b| b == b'm').unwrap() + second;
    wire[at] = b'M';
    let mut head = format!("POST /work HTTP/1.1\r\ncontent-length: {}\r\n", wire.len());
    for (name, value) in req.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let writer = async {
        let _ = stream.write_all(&wire).await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    let (status, head, body) = read_response(&mut stream).await;
    assert_eq!(status, 401, "{head}");
    assert!(body.contains("invalid_signature"), "{body}");
    assert!(
        head.contains("connection: close"),
        "the rest was left unread: {head}"
    );
    let (calls, bytes) = work.take();
    assert_eq!(calls, 1);
    assert!(bytes <= 2 << 20, "the handler read {bytes} bytes");
}
