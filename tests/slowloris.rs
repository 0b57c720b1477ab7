//! The example server's serving code (`examples/support/mod.rs`, with its
//! production settings shortened to a second or two) against clients that
//! are slow on purpose: a head or a body at a byte a second, connections
//! that say nothing or go idle, many at once. Each is cut off within its
//! timeout while valid signed requests are served meanwhile.

#[path = "../examples/support/mod.rs"]
mod example;
mod support;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{request, send, signed, Framing, Proto};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

const HEAD: Duration = Duration::from_millis(1000);
const IDLE: Duration = Duration::from_millis(1000);
const BODY: Duration = Duration::from_millis(1500);
const REQUEST: Duration = Duration::from_millis(2500);
/// Slack for a loaded machine: a cut may come this much after its timeout.
const SLACK: Duration = Duration::from_millis(1500);

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = example::ServeConfig {
        header_read_timeout: HEAD,
        idle_timeout: IDLE,
        body_timeout: BODY,
        request_timeout: REQUEST,
        max_concurrent_requests: 64,
    };
    let app = example::router(support::app::keys());
    tokio::spawn(example::serve_with(listener, app, config));
    addr
}

/// A request as HTTP/1.1 bytes: the head, then the body.
fn wire(request: &http::Request<Bytes>) -> (Vec<u8>, Bytes) {
    let mut head = format!(
        "{} {} HTTP/1.1\r\n",
        request.method(),
        request.uri().path_and_query().unwrap()
    )
    .into_bytes();
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !request.body().is_empty() {
        head.extend_from_slice(format!("content-length: {}\r\n", request.body().len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    (head, request.body().clone())
}

/// How a slow client's connection ended.
#[derive(Debug)]
struct Cut {
    /// From the first byte sent (or the connection, if none) to the server's answer or close.
    after: Duration,
    /// What the server sent, if anything.
    answer: String,
}

impl Cut {
    fn status(&self) -> Option<u16> {
        self.answer.get(9..12)?.parse().ok()
    }

    #[track_caller]
    fn assert_within(&self, limit: Duration, what: &str) {
        assert!(
            self.after <= limit + SLACK,
            "{what}: held {:?} (limit {limit:?})",
            self.after
        );
    }
}

/// Sends `fast` at once, then `slow` a byte a second; returns when the server
/// answers or closes the connection (or, failing that, after 10 s).
async fn trickle(addr: SocketAddr, fast: Vec<u8>, slow: Vec<u8>) -> Cut {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        if write.write_all(&fast).await.is_err() {
            return;
        }
        for byte in slow {
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Then nothing, with the connection open.
        std::future::pending::<()>().await;
    });
    let mut answer = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    // An answer counts as the cut: a complete head is enough.
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        return;
                    }
                }
            }
        }
    })
    .await;
    let after = started.elapsed();
    writer.abort();
    assert!(ended.is_ok(), "the server held a slow client for 10 s");
    Cut {
        after,
        answer: String::from_utf8_lossy(&answer).into_owned(),
    }
}

fn slow_head(addr: SocketAddr) -> impl std::future::Future<Output = Cut> {
    let (head, _) = wire(&signed(request(Proto::H1, addr, Method::GET, "/hello", "")));
    trickle(addr, Vec::new(), head)
}

/// A signed upload whose head arrives at once and whose body trickles in.
fn slow_body(addr: SocketAddr) -> impl std::future::Future<Output = Cut> {
    let body = Bytes::from(vec![b'x'; 100]);
    let (head, body) = wire(&signed(request(
        Proto::H1,
        addr,
        Method::POST,
        "/upload",
        body,
    )));
    trickle(addr, head, body.to_vec())
}

/// A signed upload that sends its head and one byte of body, then stalls.
fn stalled_body(addr: SocketAddr) -> impl std::future::Future<Output = Cut> {
    let body = Bytes::from(vec![b'x'; 100]);
    let (mut head, body) = wire(&signed(request(
        Proto::H1,
        addr,
        Method::POST,
        "/upload",
        body,
    )));
    head.push(body[0]);
    trickle(addr, head, Vec::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_while_valid_ones_are_served() {
    let addr = start().await;
    let mut heads = Vec::new();
    let mut silent = Vec::new();
    let mut bodies = Vec::new();
    let mut stalled = Vec::new();
    for _ in 0..120 {
        heads.push(tokio::spawn(slow_head(addr)));
    }
    for _ in 0..60 {
        silent.push(tokio::spawn(trickle(addr, Vec::new(), Vec::new())));
    }
    for _ in 0..10 {
        bodies.push(tokio::spawn(slow_body(addr)));
        stalled.push(tokio::spawn(stalled_body(addr)));
    }

    // Meanwhile, valid clients are served, promptly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    for i in 0..10 {
        let proto = if i % 2 == 0 { Proto::H1 } else { Proto::H2 };
        let body = Bytes::from(format!("upload {i}"));
        let req = signed(request(proto, addr, Method::POST, "/upload", body.clone()));
        let reply = send(addr, proto, Framing::Length, req).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.text(), format!(r#"{{"bytes":{}}}"#, body.len()));
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "valid requests took {took:?}"
    );

    for head in heads {
        let cut = head.await.unwrap();
        cut.assert_within(HEAD, "a head at a byte a second");
        assert!(matches!(cut.status(), None | Some(408)), "{cut:?}");
    }
    for client in silent {
        let cut = client.await.unwrap();
        cut.assert_within(HEAD, "a connection that sends nothing");
        assert!(cut.answer.is_empty(), "{cut:?}");
    }
    for body in bodies {
        let cut = body.await.unwrap();
        cut.assert_within(REQUEST, "a body at a byte a second");
        assert_eq!(cut.status(), Some(408), "{cut:?}");
    }
    for body in stalled {
        let cut = body.await.unwrap();
        cut.assert_within(BODY, "a body that stalls");
        assert_eq!(cut.status(), Some(400), "{cut:?}");
        assert!(cut.answer.contains("body_incomplete"), "{cut:?}");
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let addr = start().await;

    // HTTP/1.1: a request is answered, then the idle connection is closed.
    let (head, _) = wire(&signed(request(Proto::H1, addr, Method::GET, "/hello", "")));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&head).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert_ne!(n, 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let idle = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    assert!(closed.is_ok(), "an idle HTTP/1.1 connection was kept 10 s");
    assert!(
        idle.elapsed() <= HEAD.max(IDLE) + SLACK,
        "{:?}",
        idle.elapsed()
    );

    // HTTP/2: likewise (GOAWAY, then close).
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let req = signed(request(Proto::H2, addr, Method::GET, "/hello", ""));
    let response = sender
        .send_request(req.map(http_body_util::Full::new))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    let idle = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection was kept 10 s");
    assert!(idle.elapsed() <= IDLE + SLACK, "{:?}", idle.elapsed());
}
