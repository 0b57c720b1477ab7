//! Shared test harness: a real server on 127.0.0.1:0 and a real hyper
//! client over TCP, for HTTP/1.1 and HTTP/2, with content-length or
//! chunked (length-less) request bodies.
#![allow(dead_code)]

pub mod app;

use std::{
    collections::VecDeque,
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::Router;
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tower_hmac::{Secret, Signer};

pub const KEY_ID: &str = "7";
pub const SECRET_B64: &str = "dG93ZXItaG1hYy10ZXN0LXNlY3JldC0zMi1ieXRlcyE=";
pub const OTHER_KEY_ID: &str = "8";
pub const OTHER_SECRET_B64: &str = "YW5vdGhlci10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE=";

pub fn secret() -> Secret {
    Secret::from_base64(SECRET_B64).unwrap()
}

pub fn signer() -> Signer {
    Signer::new(KEY_ID.parse().unwrap(), secret())
}

/// Serves `app` on a fresh loopback port with HTTP/1.1 and HTTP/2 (prior knowledge).
pub async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            stream.set_nodelay(true).unwrap();
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The body's exact length is known: `content-length` on HTTP/1.1.
    Length,
    /// Unknown length, sent in several frames: `transfer-encoding: chunked` on HTTP/1.1.
    Chunked,
}

pub const MATRIX: [(Proto, Framing); 4] = [
    (Proto::H1, Framing::Length),
    (Proto::H1, Framing::Chunked),
    (Proto::H2, Framing::Length),
    (Proto::H2, Framing::Chunked),
];

/// A request body made of fixed chunks, with or without a known length,
/// or fed chunk by chunk from a channel (for slow uploads).
pub struct TestBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
    exact: bool,
    feed: Option<tokio::sync::mpsc::Receiver<Bytes>>,
}

impl TestBody {
    pub fn new(body: Bytes, framing: Framing) -> Self {
        let chunks: VecDeque<Bytes> = match framing {
            Framing::Length => std::iter::once(body.clone())
                .filter(|b| !b.is_empty())
                .collect(),
            // Up to four uneven pieces, so the server sees several frames.
            Framing::Chunked => {
                let mut chunks = VecDeque::new();
                let mut rest = body.clone();
                let piece = (rest.len() / 4).max(1);
                while !rest.is_empty() {
                    let n = piece.min(rest.len());
                    chunks.push_back(rest.split_to(n));
                }
                chunks
            }
        };
        Self {
            chunks,
            remaining: body.len() as u64,
            exact: framing == Framing::Length,
            feed: None,
        }
    }

    /// A length-less body whose chunks arrive through the returned sender;
    /// dropping the sender ends the body.
    pub fn channel() -> (tokio::sync::mpsc::Sender<Bytes>, Self) {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let body = Self {
            chunks: VecDeque::new(),
            remaining: 0,
            exact: false,
            feed: Some(receiver),
        };
        (sender, body)
    }
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(feed) = &mut this.feed {
            return feed
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(Frame::data(c))));
        }
        let chunk = this.chunks.pop_front();
        if let Some(chunk) = &chunk {
            this.remaining -= chunk.len() as u64;
        }
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.exact && self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.remaining)
        } else {
            SizeHint::default()
        }
    }
}

/// An in-process body that yields given frames (trailers too) and reports
/// the size it is told to, truthfully or not.
pub struct ScriptedBody {
    frames: VecDeque<Frame<Bytes>>,
    declared: Option<u64>,
    claims_end_after: Option<usize>,
    polled: usize,
}

impl ScriptedBody {
    pub fn new(frames: impl IntoIterator<Item = Frame<Bytes>>, declared: Option<u64>) -> Self {
        Self {
            frames: frames.into_iter().collect(),
            declared,
            claims_end_after: None,
            polled: 0,
        }
    }

    /// Claims to be at its end after `polls` frames, whatever is left.
    pub fn claiming_end_after(mut self, polls: usize) -> Self {
        self.claims_end_after = Some(polls);
        self
    }
}

impl Body for ScriptedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.polled += 1;
        Poll::Ready(self.frames.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.claims_end_after
            .map_or(self.frames.is_empty(), |polls| self.polled >= polls)
    }

    fn size_hint(&self) -> SizeHint {
        self.declared
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// A request addressed the way each protocol expects: origin-form plus
/// `Host` on HTTP/1.1, absolute-form (`:authority`, no `Host`) on HTTP/2.
pub fn request(
    proto: Proto,
    addr: SocketAddr,
    method: Method,
    target: &str,
    body: impl Into<Bytes>,
) -> Request<Bytes> {
    let builder = match proto {
        Proto::H1 => Request::builder()
            .uri(target)
            .header(header::HOST, addr.to_string()),
        Proto::H2 => Request::builder().uri(format!("http://{addr}{target}")),
    };
    builder.method(method).body(body.into()).unwrap()
}

/// Signs `request` over its own body with the test key (declaring its digest).
pub fn signed(mut request: Request<Bytes>) -> Request<Bytes> {
    let body = request.body().clone();
    signer().sign(&mut request, &body).unwrap();
    request
}

/// Signs `request` as a protocol v1 client does: no `Content-Digest`, so a
/// request with a body can only be judged once the body has arrived.
pub fn signed_v1(mut request: Request<Bytes>) -> Request<Bytes> {
    let body = request.body().clone();
    signer()
        .declare_digest(false)
        .sign(&mut request, &body)
        .unwrap();
    request
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The problem+json `code`, if the body is a problem.
    pub fn code(&self) -> Option<String> {
        let ty = self.headers.get(header::CONTENT_TYPE)?;
        if ty != "application/problem+json" {
            return None;
        }
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        value["code"].as_str().map(str::to_owned)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.code().as_deref(), Some(code), "body: {}", self.text());
        if status == 401 {
            assert_eq!(self.headers[header::WWW_AUTHENTICATE], "HMAC-SHA256");
        }
    }
}

/// Serves the test application; returns its address and what its handlers observe.
pub async fn start() -> (SocketAddr, app::Observed) {
    let observed = app::Observed::default();
    (serve(app::app(observed.clone())).await, observed)
}

/// Signs a request with the test key and sends it on a fresh connection.
pub async fn send_signed(
    addr: SocketAddr,
    proto: Proto,
    framing: Framing,
    method: Method,
    target: &str,
    body: impl Into<Bytes>,
) -> Reply {
    send(
        addr,
        proto,
        framing,
        signed(request(proto, addr, method, target, body)),
    )
    .await
}

/// Sends one request on a fresh connection.
pub async fn send(
    addr: SocketAddr,
    proto: Proto,
    framing: Framing,
    request: Request<Bytes>,
) -> Reply {
    let mut client = Client::connect(addr, proto).await;
    client.send(framing, request).await
}

/// One connection, reusable for many requests.
pub enum Client {
    H1(hyper::client::conn::http1::SendRequest<TestBody>),
    H2(hyper::client::conn::http2::SendRequest<TestBody>),
}

impl Client {
    pub async fn connect(addr: SocketAddr, proto: Proto) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let io = TokioIo::new(stream);
        match proto {
            Proto::H1 => {
                let (sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
                tokio::spawn(conn);
                Self::H1(sender)
            }
            Proto::H2 => {
                let (sender, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .unwrap();
                tokio::spawn(conn);
                Self::H2(sender)
            }
        }
    }

    pub async fn send(&mut self, framing: Framing, request: Request<Bytes>) -> Reply {
        self.send_body(request.map(|body| TestBody::new(body, framing)))
            .await
    }

    pub async fn send_body(&mut self, request: Request<TestBody>) -> Reply {
        let response = tokio::time::timeout(Duration::from_secs(30), async {
            match self {
                Self::H1(sender) => {
                    sender.ready().await.unwrap();
                    sender.send_request(request).await
                }
                Self::H2(sender) => {
                    sender.ready().await.unwrap();
                    sender.send_request(request).await
                }
            }
        })
        .await
        .expect("no response within 30 s")
        .expect("request failed");
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }
}

/// Unix time now, in seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
