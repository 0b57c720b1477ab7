//! What the examples share: the demo key and the guarded application.
#![allow(dead_code)]

use axum::{
    body::Body,
    routing::{get, post},
    Json, Router,
};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tower_hmac::{
    BufferedVerifyLayer, InMemoryKeys, KeyId, Secret, SignatureLayer, VerifiedResponse, Verifier,
    VerifyError,
};

/// The built-in demo key. Never use it for anything real.
pub const DEMO_KEY_ID: &str = "7";
pub const DEMO_SECRET_B64: &str = "ZGVtby1vbmx5LXNlY3JldC1kby1ub3QtdXNlLTMyYnk=";

/// Parses `ID=BASE64SECRET`.
pub fn parse_key(arg: &str) -> Result<(KeyId, Secret), String> {
    let (id, secret) = arg
        .split_once('=')
        .ok_or_else(|| format!("--key takes ID=BASE64SECRET, got {arg:?}"))?;
    let id = id.parse().map_err(|e| format!("key id {id:?}: {e}"))?;
    let secret = Secret::from_base64(secret).map_err(|e| format!("secret for {id}: {e}"))?;
    Ok((id, secret))
}

pub fn demo_key() -> (KeyId, Secret) {
    parse_key(&format!("{DEMO_KEY_ID}={DEMO_SECRET_B64}")).expect("the demo key is valid")
}

/// The guarded application: `GET /hello`, streaming `POST /upload`, buffered `POST /echo`.
pub fn router(keys: InMemoryKeys) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/upload", post(upload))
        .route(
            "/echo",
            post(echo).layer(BufferedVerifyLayer::new().limit(1024 * 1024)),
        )
        .route_layer(SignatureLayer::new(keys))
}

async fn hello(verifier: Verifier) -> Result<VerifiedResponse, VerifyError> {
    let verified = verifier.verify().await?;
    Ok(verified.respond(format!("hello, key {}\n", verified.key_id())))
}

/// Counts the body's bytes as they stream past; nothing is buffered.
async fn upload(verifier: Verifier, mut body: Body) -> Result<VerifiedResponse, VerifyError> {
    let mut bytes: u64 = 0;
    while let Some(frame) = body.frame().await {
        // A broken body is reported by verify() below.
        let Ok(frame) = frame else { break };
        bytes += frame.data_ref().map_or(0, |data| data.len() as u64);
    }
    let verified = verifier.verify().await?;
    Ok(verified.respond(Json(serde_json::json!({ "bytes": bytes }))))
}

/// An unchanged handler: the adapter has verified the body before it runs.
async fn echo(body: Bytes) -> Bytes {
    body
}

/// Serves `app` on `listener` over HTTP/1.1 and HTTP/2 until the process ends.
pub async fn serve(listener: TcpListener, app: Router) {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.expect("the server failed");
}

/// The process's peak resident memory so far, in bytes (Linux only).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `remaining` bytes as frames of one buffer, with or without a declared
/// length: a large upload with no allocation per frame.
pub struct Repeat {
    pub chunk: Bytes,
    pub remaining: u64,
    pub known_length: bool,
}

impl http_body::Body for Repeat {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.remaining == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.remaining.min(self.chunk.len() as u64) as usize;
        self.remaining -= n as u64;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(self.chunk.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.known_length && self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        if self.known_length {
            http_body::SizeHint::with_exact(self.remaining)
        } else {
            http_body::SizeHint::default()
        }
    }
}
