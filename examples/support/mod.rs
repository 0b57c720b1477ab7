//! What the examples share: the demo key, the guarded application, and the
//! serving code with its production settings (timeouts, a concurrency limit).
#![allow(dead_code)]

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    routing::{get, post},
    Json, Router,
};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::{limit::ConcurrencyLimitLayer, ServiceBuilder};
use tower_hmac::{
    BufferedVerifyLayer, InMemoryKeys, KeyId, Secret, SignatureLayer, VerifiedResponse, Verifier,
    VerifyError,
};
use tower_http::timeout::TimeoutLayer;

mod body_timeout;
pub use body_timeout::with_body_timeout;

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
    router_with(SignatureLayer::new(keys))
}

/// [`router`] behind a layer configured by the caller.
pub fn router_with(layer: SignatureLayer) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/upload", post(upload))
        .route(
            "/echo",
            post(echo).layer(BufferedVerifyLayer::new().limit(1024 * 1024)),
        )
        .route_layer(layer)
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

/// How [`serve`] treats slow, idle and numerous clients: the settings a
/// server facing the internet needs, so that a client sending its request
/// at a byte a second (slowloris), or holding connections open doing
/// nothing, cannot keep them, or the server, forever.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The longest a client may take to send a request's head (HTTP/1.1),
    /// and, before its first request, to start one at all (either
    /// protocol). hyper also applies it between keep-alive requests on
    /// HTTP/1.1. Over it, HTTP/1.1 gets `408` and the connection closes.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed
    /// gracefully (HTTP/2 gets `GOAWAY`): idle keep-alive connections do
    /// not pile up.
    pub idle_timeout: Duration,
    /// The longest wait for the next piece of a request body; over it the
    /// body fails and the request is refused (`400 body_incomplete`).
    pub body_timeout: Duration,
    /// The longest a request may take from its head to its response, its
    /// body included: this is what cuts a body trickling in at a byte a
    /// second. Over it the client gets `408` (and nothing from the handler:
    /// it is dropped before it can act).
    pub request_timeout: Duration,
    /// The most requests handled at once; more wait for a free slot (each
    /// slot is freed within `request_timeout`).
    pub max_concurrent_requests: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_concurrent_requests: 512,
        }
    }
}

/// Serves `app` on `listener` over HTTP/1.1 and HTTP/2 until the process
/// ends, with the production settings of [`ServeConfig::default`].
pub async fn serve(listener: TcpListener, app: Router) {
    serve_with(listener, app, ServeConfig::default()).await;
}

/// Serves `app` on `listener` over HTTP/1.1 and HTTP/2 with `config`'s
/// timeouts and limit.
pub async fn serve_with(listener: TcpListener, app: Router, config: ServeConfig) {
    let service = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(config.max_concurrent_requests))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        // Not tower-http's `RequestBodyTimeoutLayer`: its body hides the
        // length hints the signature layer reads (see `body_timeout`).
        .map_request(with_body_timeout(config.body_timeout))
        .service(app);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        // Pings find peers that vanished without closing.
        .keep_alive_interval(config.idle_timeout / 2)
        .keep_alive_timeout(config.header_read_timeout);
    let builder = Arc::new(builder);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, say: wait rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (builder, service, config) = (builder.clone(), service.clone(), config.clone());
        tokio::spawn(async move {
            let activity = Arc::new(Activity::new());
            let service = TowerToHyperService::new(Tracked {
                inner: service,
                activity: activity.clone(),
            });
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            loop {
                let (allowed, idle) = (activity.idle_allowance(&config), activity.idle_for());
                if idle >= allowed {
                    break;
                }
                tokio::select! {
                    _ = connection.as_mut() => return,
                    _ = tokio::time::sleep(allowed.saturating_sub(idle)) => {}
                }
            }
            // Idle: let what is in flight finish, then close, in bounded time.
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(config.request_timeout, connection).await;
        });
    }
}

/// Serves `app` with none of [`ServeConfig`]'s timeouts or limit: for the
/// benchmarks, which measure the middleware alone. Not for a real server.
pub async fn serve_unlimited(listener: TcpListener, app: Router) {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.expect("the server failed");
}

/// When one connection last had a request in flight.
struct Activity {
    in_flight: AtomicUsize,
    served: AtomicBool,
    since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            since: Mutex::new(Instant::now()),
        }
    }

    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        self.since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// How long this connection may be idle: before its first request, only
    /// as long as a request's head may take.
    fn idle_allowance(&self, config: &ServeConfig) -> Duration {
        if self.served.load(Ordering::SeqCst) {
            config.idle_timeout
        } else {
            config.header_read_timeout.min(config.idle_timeout)
        }
    }

    fn started(&self) {
        self.served.store(true, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    fn finished(&self) {
        let mut since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        *since = Instant::now();
    }
}

/// Counts one connection's requests in flight, for its idle timeout.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

/// Marks a request finished when dropped: answered, failed or cancelled.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

impl<S, B> tower::Service<http::Request<B>> for Tracked<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.activity.started();
        let in_flight = InFlight(self.activity.clone());
        let future = self.inner.call(request);
        Box::pin(async move {
            let _in_flight = in_flight;
            future.await
        })
    }
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
