//! The whole server in process: an axum `Router` behind `SignatureLayer`,
//! whose handler reads the body (as the input says), calls `verify()` and
//! records what it read; requests are sent with `tower::ServiceExt::oneshot`
//! and bodies are scripted frame by frame.
//!
//! [`check`] judges every exchange with [`crate::spec`], never with the
//! crate's own verifier.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use arbitrary::Arbitrary;
use axum::{body::Body, extract::Request, response::IntoResponse, Router};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri, Version};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use tower_hmac::{
    keys::Key, observe::Caller, InMemoryKeys, Outcome, Secret, SignatureLayer, Verifier,
};

use crate::spec;

// ---------------------------------------------------------------- keys

/// The keys valid now: those of the test vectors (`client-1`, `7`, and the
/// 64-character id), and `8`. Never valid: `old` (expired in 1970) and
/// `new` (valid from 2100 on). Any other id is unknown.
pub const CLIENT_1: &str = "client-1";
pub const SECRET_CLIENT_1: &[u8; 32] = &[
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];
pub const SECRET_7: &[u8] = b"sixteen-bytes-long-secret";
pub const LONG_ID: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567._~-";
pub const SECRET_LONG: &[u8] = &[
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
];
pub const SECRET_8: &[u8; 32] = b"fuzz-secret-of-key-8-32-bytes-ok";
pub const SECRET_OLD: &[u8; 32] = b"fuzz-secret-of-key-old-32-bytes!";
pub const SECRET_NEW: &[u8; 32] = b"fuzz-secret-of-key-new-32-bytes!";

/// The secret of a key id that the server must accept now, if any.
pub fn valid_secret(key_id: &str) -> Option<&'static [u8]> {
    match key_id {
        CLIENT_1 => Some(SECRET_CLIENT_1),
        "7" => Some(SECRET_7),
        "8" => Some(SECRET_8),
        LONG_ID => Some(SECRET_LONG),
        _ => None,
    }
}

pub fn secret(bytes: &[u8]) -> Secret {
    Secret::new(bytes.to_vec()).expect("16 bytes or more")
}

pub fn key_store() -> InMemoryKeys {
    let year_2100 = UNIX_EPOCH + Duration::from_secs(4_102_444_800);
    InMemoryKeys::new()
        .with_key(CLIENT_1.parse().unwrap(), secret(SECRET_CLIENT_1))
        .with_key("7".parse().unwrap(), secret(SECRET_7))
        .with_key("8".parse().unwrap(), secret(SECRET_8))
        .with_key(LONG_ID.parse().unwrap(), secret(SECRET_LONG))
        .with(
            "old".parse().unwrap(),
            Key::new(secret(SECRET_OLD)).not_after(UNIX_EPOCH + Duration::from_secs(1_000)),
        )
        .with(
            "new".parse().unwrap(),
            Key::new(secret(SECRET_NEW))
                .not_before(year_2100 + Duration::from_secs(86_400 * 365 * 100)),
        )
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

// ---------------------------------------------------------------- scripted bodies

/// One step of a request body.
#[derive(Debug, Clone)]
pub enum Step {
    Data(Bytes),
    Trailers(HeaderMap),
    /// The body fails (a reset stream, say).
    Error,
    /// `Pending` once (the waker is woken at once).
    Yield,
}

/// What the body says of its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Hint {
    /// Nothing (HTTP/1.1 chunked, HTTP/2 without `content-length`).
    Unknown,
    /// The true length, as hyper reports a `content-length` body.
    Exact,
    /// A wrong exact length: no real server body does this, a buggy one might.
    Lie(u8),
}

/// A body that plays its steps in order.
pub struct ScriptBody {
    steps: VecDeque<Step>,
    hint: SizeHint,
    /// Says it has ended before it has (a body that lies).
    ends_early: bool,
}

impl ScriptBody {
    pub fn new(steps: Vec<Step>, hint: Hint, ends_early: bool) -> Self {
        let total: u64 = steps
            .iter()
            .map(|s| match s {
                Step::Data(d) => d.len() as u64,
                _ => 0,
            })
            .sum();
        let hint = match hint {
            Hint::Unknown => SizeHint::default(),
            Hint::Exact => SizeHint::with_exact(total),
            Hint::Lie(n) => SizeHint::with_exact(u64::from(n)),
        };
        Self {
            steps: steps.into(),
            hint,
            ends_early,
        }
    }
}

impl http_body::Body for ScriptBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.steps.pop_front() {
            None => Poll::Ready(None),
            Some(Step::Data(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Step::Trailers(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Some(Step::Error) => Poll::Ready(Some(Err(std::io::Error::other("scripted failure")))),
            Some(Step::Yield) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ends_early || self.steps.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        self.hint.clone()
    }
}

// ---------------------------------------------------------------- the handler

/// What the handler does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Handler {
    /// Reads the body to its end, verifies, answers 200 (or the error).
    ReadAllVerify,
    /// Reads at most this many frames, drops the body, verifies.
    ReadSomeVerify(u8),
    /// Drops the body unread, verifies.
    DropVerify,
    /// Reads everything, verifies, and answers 200 whatever verify() said:
    /// the response guard must replace the answer of a failed verify.
    ReadAllIgnoreFailure,
    /// Reads at most this many frames, then refuses with a 4xx without verifying.
    ReadSomeRefuse(u8, u8),
    /// Refuses with a 4xx without touching the body.
    RefuseUntouched(u8),
    /// Answers a 4xx whose body is the request body, without verifying.
    ReturnBody4xx(u8),
}

impl Handler {
    /// Whether every answer it gives comes after a successful `verify()`
    /// or is the error of a failed one.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            Self::ReadAllVerify | Self::ReadSomeVerify(_) | Self::DropVerify
        )
    }
}

fn client_error(pick: u8) -> StatusCode {
    [400, 403, 404, 409, 422, 429, 451, 499].map(|s| StatusCode::from_u16(s).unwrap())
        [usize::from(pick % 8)]
}

/// What the handler saw.
#[derive(Debug, Default, Clone)]
pub struct Record {
    pub called: bool,
    /// The data it read, in order.
    pub read: Vec<u8>,
    /// It read until the body said it had ended (`None`).
    pub reached_end: bool,
    /// A read failed.
    pub read_error: bool,
    /// What `verify()` said: the key id, or the problem code.
    pub verified: Option<Result<String, String>>,
    /// `authenticated_key_id()` before it read anything.
    pub authenticated_before: Option<String>,
}

#[derive(Clone)]
struct Ctx {
    handler: Handler,
    record: Arc<Mutex<Record>>,
}

const HANDLER_MARK: &str = "x-fuzz-handler";

fn mark(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(HANDLER_MARK, HeaderValue::from_static("1"));
    response
}

/// Reads at most `frames` frames (all if `None`), noting what it read.
async fn read_body(body: &mut Body, frames: Option<usize>, record: &Mutex<Record>) {
    let mut count = 0;
    loop {
        if frames.is_some_and(|max| count >= max) {
            return;
        }
        count += 1;
        match body.frame().await {
            None => {
                record.lock().unwrap().reached_end = true;
                return;
            }
            Some(Err(_)) => {
                record.lock().unwrap().read_error = true;
                return;
            }
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    record.lock().unwrap().read.extend_from_slice(data);
                }
            }
        }
    }
}

async fn verify_recorded(
    verifier: Verifier,
    record: &Mutex<Record>,
) -> Result<tower_hmac::Verified, tower_hmac::VerifyError> {
    let result = verifier.verify().await;
    record.lock().unwrap().verified = Some(match &result {
        Ok(verified) => Ok(verified.key_id().to_string()),
        Err(error) => Err(error.code().as_str().to_owned()),
    });
    result
}

async fn handler(request: Request) -> Response<Body> {
    let ctx = request
        .extensions()
        .get::<Ctx>()
        .cloned()
        .expect("the harness always sets the context");
    let verifier = request
        .extensions()
        .get::<Verifier>()
        .cloned()
        .expect("behind SignatureLayer a Verifier is always there");
    {
        let mut record = ctx.record.lock().unwrap();
        record.called = true;
        record.authenticated_before = verifier.authenticated_key_id().map(|k| k.to_string());
    }
    let mut body = request.into_body();
    let read = |body, frames| read_body(body, frames, &ctx.record);
    let verify = |verifier| verify_recorded(verifier, &ctx.record);
    match ctx.handler {
        Handler::ReadAllVerify | Handler::ReadSomeVerify(_) | Handler::DropVerify => {
            match ctx.handler {
                Handler::ReadAllVerify => read(&mut body, None).await,
                Handler::ReadSomeVerify(n) => read(&mut body, Some(usize::from(n % 8))).await,
                _ => {}
            }
            drop(body);
            match verify(verifier).await {
                Ok(verified) => mark(verified.respond("verified").into_response()),
                Err(error) => mark(error.into_response()),
            }
        }
        Handler::ReadAllIgnoreFailure => {
            read(&mut body, None).await;
            drop(body);
            let _ = verify(verifier).await;
            mark("answered whatever verify() said".into_response())
        }
        Handler::ReadSomeRefuse(n, status) => {
            read(&mut body, Some(usize::from(n % 8))).await;
            drop(body);
            mark((client_error(status), "refused").into_response())
        }
        Handler::RefuseUntouched(status) => {
            drop(body);
            mark((client_error(status), "refused").into_response())
        }
        Handler::ReturnBody4xx(status) => {
            let mut response = Response::new(body);
            *response.status_mut() = client_error(status);
            mark(response)
        }
    }
}

// ---------------------------------------------------------------- the layer

/// How the layer is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    /// `max_clock_skew` and `max_request_duration` of 200 years, so that
    /// the test vectors' fixed times pass.
    pub lenient_clock: bool,
    pub require_early: bool,
    pub require_content_type: bool,
    /// `max_unread_body` of this many bytes instead of 1 MiB.
    pub small_unread_limit: Option<u8>,
    /// Drain at most this many bytes instead of 8 MiB.
    pub small_drain: Option<u8>,
    pub no_replay_protection: bool,
    /// The layer accepts `BLAKE3-KEYED` (PROTOCOL §9) too.
    pub blake3: bool,
}

/// The lenient clock's skew: 200 years.
pub const LENIENT_SKEW: u64 = 200 * 365 * 86_400;

impl Config {
    pub fn skew(&self) -> u64 {
        if self.lenient_clock {
            LENIENT_SKEW
        } else {
            300
        }
    }
}

/// One outcome hook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hooked {
    pub caller: HookCaller,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookCaller {
    Anonymous,
    Claimed(String),
    Authenticated(String),
}

/// The app under test, and what its outcome hook is told.
pub struct App {
    router: Router,
    pub hooked: Arc<Mutex<Vec<Hooked>>>,
    pub config: Config,
}

impl App {
    pub fn new(config: Config) -> Self {
        Self::with(config, key_store(), |layer| layer)
    }

    /// The app with `keys`, and the layer changed by `extra` (another
    /// scheme, say) after the input's configuration.
    pub fn with(
        config: Config,
        keys: InMemoryKeys,
        extra: impl FnOnce(SignatureLayer) -> SignatureLayer,
    ) -> Self {
        let hooked = Arc::new(Mutex::new(Vec::new()));
        let sink = hooked.clone();
        let mut layer = SignatureLayer::new(keys).on_outcome(move |caller: Caller<'_>, outcome| {
            let caller = match caller {
                Caller::Anonymous => HookCaller::Anonymous,
                Caller::Claimed(id) => HookCaller::Claimed(id.to_string()),
                Caller::Authenticated(id) => HookCaller::Authenticated(id.to_string()),
                _ => panic!("a Caller this harness does not know"),
            };
            sink.lock().unwrap().push(Hooked { caller, outcome });
        });
        if config.lenient_clock {
            layer = layer
                .max_clock_skew(Duration::from_secs(LENIENT_SKEW))
                .max_request_duration(Duration::from_secs(LENIENT_SKEW));
        }
        if config.require_early {
            layer = layer.require_early_authentication(true);
        }
        if config.require_content_type {
            layer = layer.require_signed_header(http::header::CONTENT_TYPE);
        }
        if let Some(limit) = config.small_unread_limit {
            layer = layer.max_unread_body(u64::from(limit));
        }
        if let Some(bytes) = config.small_drain {
            layer = layer.drain(u64::from(bytes), Duration::from_secs(5));
        }
        if config.no_replay_protection {
            layer = layer.without_replay_protection();
        }
        if config.blake3 {
            layer = layer.scheme(tower_hmac::schemes::blake3_keyed::Blake3Keyed::new());
        }
        let layer = extra(layer);
        // Every path reaches the layer, the fallback included.
        let router = Router::new().fallback(handler).layer(layer);
        Self {
            router,
            hooked,
            config,
        }
    }
}

// ---------------------------------------------------------------- one exchange

/// A request as it goes on the wire.
#[derive(Debug, Clone)]
pub struct Wire {
    pub method: Method,
    pub uri: Uri,
    /// The HTTP version the request says it came in (HTTP/1.1 unless the
    /// input says otherwise): it decides, with the head, whether a body of
    /// unknown length is a body at all.
    pub version: Version,
    pub headers: HeaderMap,
    pub steps: Vec<Step>,
    pub hint: Hint,
    pub ends_early: bool,
}

impl Wire {
    /// The data of the body, all of it.
    pub fn data(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for step in &self.steps {
            if let Step::Data(d) = step {
                out.extend_from_slice(d);
            }
        }
        out
    }

    pub fn fails(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Error))
    }

    /// Says, before any frame, that there is no body: the body says so
    /// (it has ended, or its exact length is 0), or, when it cannot tell
    /// (a length it does not know: lower bound 0, no upper bound), the head
    /// does: `Content-Length: 0` (its first line, exactly), or an HTTP/1.x
    /// request with neither `Content-Length` nor `Transfer-Encoding`, which
    /// has no body by definition (RFC 9112 §6.3). The crate's `is_bodiless`
    /// (`src/verify/service.rs`), as documented there; such a request is
    /// judged as empty, and data it carries all the same fails it.
    pub fn looks_bodiless(&self) -> bool {
        let data = self.data().len() as u64;
        let exact = match self.hint {
            Hint::Unknown => None,
            Hint::Exact => Some(data),
            Hint::Lie(n) => Some(u64::from(n)),
        };
        if self.ends_early || self.steps.is_empty() || exact == Some(0) {
            return true;
        }
        if exact.is_some() {
            return false;
        }
        let length = self.headers.get(http::header::CONTENT_LENGTH);
        if length.is_some_and(|length| length.as_bytes() == b"0") {
            return true;
        }
        self.version <= Version::HTTP_11
            && length.is_none()
            && !self.headers.contains_key(http::header::TRANSFER_ENCODING)
    }

    /// Tells the truth about its length and end.
    pub fn honest(&self) -> bool {
        !self.ends_early
            && !matches!(self.hint, Hint::Lie(n) if u64::from(n) != self.data().len() as u64)
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The response body failed while it was read.
    pub body_error: bool,
    pub from_handler: bool,
    pub record: Record,
    pub hooked: Vec<Hooked>,
    /// The server's clock around the exchange.
    pub before: u64,
    pub after: u64,
}

impl Exchange {
    /// The problem code, for a problem response.
    pub fn code(&self) -> Option<String> {
        if self.from_handler {
            return None;
        }
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        Some(value.get("code")?.as_str()?.to_owned())
    }
}

pub fn send(app: &App, wire: &Wire, handler: Handler) -> Exchange {
    let record = Arc::new(Mutex::new(Record::default()));
    let mut request = http::Request::builder()
        .method(wire.method.clone())
        .uri(wire.uri.clone())
        .version(wire.version)
        .body(Body::new(ScriptBody::new(
            wire.steps.clone(),
            wire.hint,
            wire.ends_early,
        )))
        .expect("method and URI are valid");
    *request.headers_mut() = wire.headers.clone();
    request.extensions_mut().insert(Ctx {
        handler,
        record: record.clone(),
    });
    let hooked_before = app.hooked.lock().unwrap().len();
    let before = unix_now();
    let router = app.router.clone();
    let (response, body, body_error) = crate::block_on(async move {
        let response = tokio::time::timeout(Duration::from_secs(3600), router.oneshot(request))
            .await
            .expect("the server hangs on a request")
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let collected = tokio::time::timeout(Duration::from_secs(3600), body.collect())
            .await
            .expect("the response body hangs");
        let (bytes, failed) = match collected {
            Ok(c) => (c.to_bytes().to_vec(), false),
            Err(_) => (Vec::new(), true),
        };
        (parts, bytes, failed)
    });
    let after = unix_now();
    let hooked: Vec<Hooked> = app.hooked.lock().unwrap().drain(hooked_before..).collect();
    let record = record.lock().unwrap().clone();
    Exchange {
        status: response.status,
        from_handler: response.headers.contains_key(HANDLER_MARK),
        headers: response.headers,
        body,
        body_error,
        record,
        hooked,
        before,
        after,
    }
}

// ---------------------------------------------------------------- the judge

/// The request as the oracle reads it.
pub struct View {
    pub method: Vec<u8>,
    pub target: Vec<u8>,
    pub authority: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl View {
    pub fn of(wire: &Wire) -> Self {
        // The raw pieces of the target as `http` split them, and the
        // field lines as they were set.
        let mut target = Vec::new();
        match (wire.uri.scheme_str(), wire.uri.authority()) {
            (Some(scheme), Some(authority)) => {
                target.extend_from_slice(format!("{scheme}://{}", authority.as_str()).as_bytes())
            }
            // Authority form (`host:port`): no scheme, no path.
            (None, Some(authority)) => target.extend_from_slice(authority.as_str().as_bytes()),
            _ => {}
        }
        target.extend_from_slice(
            wire.uri
                .path_and_query()
                .map_or("", |pq| pq.as_str())
                .as_bytes(),
        );
        Self {
            method: wire.method.as_str().as_bytes().to_vec(),
            target,
            authority: wire.uri.authority().map(|a| a.as_str().as_bytes().to_vec()),
            headers: wire
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    fn head(&self) -> spec::Head<'_> {
        spec::Head {
            method: &self.method,
            target: &self.target,
            headers: &self.headers,
        }
    }

    pub fn lines(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// What the oracle makes of a request's head.
#[derive(Debug, Clone)]
pub struct Head {
    pub auth: spec::Auth,
    /// The algorithm its scheme word names.
    pub alg: spec::Alg,
    pub secret: &'static [u8],
    /// Within the skew for every instant of the exchange / for some instant.
    pub timely_strict: bool,
    pub timely_loose: bool,
    /// `host` signed, `Host` and authority agree, the target's form is the
    /// method's, required headers signed.
    pub well_formed: bool,
}

/// The head, if it is one the server may accept: one `Authorization` line
/// that parses under a scheme the layer accepts, a key valid now.
pub fn judge_head(view: &View, config: &Config, before: u64, after: u64) -> Option<Head> {
    let lines = view.lines("authorization");
    let [line] = lines.as_slice() else {
        return None;
    };
    let auth = spec::parse_authorization(line).or_else(|| {
        config
            .blake3
            .then(|| spec::parse_authorization_as(spec::Alg::Blake3Keyed.word(), line))?
    })?;
    let alg = spec::Alg::of_word(auth.scheme);
    let secret = valid_secret(&auth.key_id)?;
    let skew = config.skew();
    let timely_loose =
        auth.time.saturating_add(skew) >= before && auth.time <= after.saturating_add(skew);
    let timely_strict =
        auth.time.saturating_add(skew - 5) >= after && auth.time <= before.saturating_add(skew - 5);
    let signed = |name: &str| auth.signed_headers.iter().any(|n| n == name);
    let host_agrees = match (&view.authority, view.lines("host").first()) {
        (Some(authority), Some(host)) => spec::authority_host(authority).eq_ignore_ascii_case(host),
        _ => true,
    };
    // §6.1 step 3: authority form (`GET host:port`) is CONNECT's alone.
    let target_form_ok = !spec::is_authority_form(&view.target) || view.method == b"CONNECT";
    let well_formed = signed("host")
        && host_agrees
        && target_form_ok
        && (!config.require_content_type || signed("content-type"));
    Some(Head {
        auth,
        alg,
        secret,
        timely_strict,
        timely_loose,
        well_formed,
    })
}

impl Head {
    fn signs_digest(&self, view: &View, digest: &[u8; 32]) -> bool {
        let text = spec::string_to_sign(&self.auth, &view.head(), spec::hex(digest).as_bytes());
        self.alg.mac(self.secret, &text) == self.auth.signature
    }

    fn signs_body(&self, view: &View, body: &[u8]) -> bool {
        self.signs_digest(view, &self.alg.digest(body))
    }

    /// The seed of its chunk chain (§4.6).
    fn chunked_seed(&self, view: &View) -> [u8; 32] {
        let text = spec::string_to_sign(&self.auth, &view.head(), self.alg.chunked_last_line());
        self.alg.mac(self.secret, &text)
    }

    fn signs_chunked(&self, view: &View) -> bool {
        self.chunked_seed(view) == self.auth.signature
    }

    /// What the request's `Content-Digest` declares for its algorithm.
    fn declaration(&self, view: &View) -> spec::Declared {
        spec::declared_digest_as(self.alg, &view.lines("content-digest"))
    }

    /// A digest that the server would take as declared.
    fn declared(&self, view: &View) -> Option<[u8; 32]> {
        match self.declaration(view) {
            spec::Declared::Digest(d) => Some(d),
            _ => None,
        }
    }
}

/// Every property of one exchange. `accepted` holds the (key, nonce) pairs
/// accepted so far; a pair is added when this one is accepted.
pub fn check(
    app: &App,
    wire: &Wire,
    handler: Handler,
    exchange: &Exchange,
    fresh_nonce: bool,
    accepted: &mut Vec<(String, String)>,
) {
    let config = &app.config;
    let view = View::of(wire);
    let status = exchange.status;
    let what = || {
        format!(
            "{status} {:?} for {wire:?} with {handler:?}: {exchange:?}",
            exchange.code()
        )
    };

    // The outcome hook: once per request, and it says what happened.
    let [hooked] = exchange.hooked.as_slice() else {
        panic!(
            "the outcome hook was called {} times: {}",
            exchange.hooked.len(),
            what()
        );
    };

    // No 5xx: the stores are in memory, and the handler never skips verify().
    assert!(!status.is_server_error(), "a 5xx: {}", what());

    if exchange.from_handler {
        assert!(exchange.record.called, "{}", what());
    } else {
        check_problem(exchange, &what);
    }

    let head = judge_head(&view, config, exchange.before, exchange.after);
    let data = wire.data();
    let record = &exchange.record;
    // The bodies the signature may cover, judged by the oracle.
    let chunk_decoded = head
        .as_ref()
        .filter(|h| h.signs_chunked(&view))
        .map(|h| spec::decode_chunks(h.alg, h.secret, &h.chunked_seed(&view), &data));

    match hooked.outcome {
        Outcome::Accepted => {
            assert!(exchange.from_handler, "{}", what());
            // Finding F2 (RELIABILITY.md): a request without a body that is
            // authenticated up front counts as verified before the handler
            // runs, so a handler's 4xx to it is reported `accepted`.
            assert!(
                status.is_success()
                    || (wire.looks_bodiless() && record.authenticated_before.is_some()),
                "Accepted for a {status}: {}",
                what()
            );
        }
        Outcome::UnverifiedClientError => {
            assert!(
                exchange.from_handler && status.is_client_error(),
                "{}",
                what()
            );
        }
        Outcome::Rejected(code) => {
            assert!(!exchange.from_handler, "{}", what());
            assert_eq!(
                exchange.code().as_deref(),
                Some(code.as_str()),
                "{}",
                what()
            );
        }
        _ => panic!("an Outcome this harness does not know: {}", what()),
    }

    // Who the hook says sent it.
    match &hooked.caller {
        HookCaller::Anonymous => {}
        HookCaller::Claimed(_) => {
            assert_ne!(hooked.outcome, Outcome::Accepted, "{}", what());
        }
        HookCaller::Authenticated(id) => {
            // Only a holder of a valid key is ever called authenticated.
            let head = head.as_ref().unwrap_or_else(|| {
                panic!(
                    "Authenticated({id}) for a head the oracle refuses: {}",
                    what()
                )
            });
            assert_eq!(&head.auth.key_id, id, "{}", what());
            let genuine = head.signs_body(&view, &data)
                || head.signs_body(&view, &record.read)
                || head.signs_body(&view, b"")
                || head.signs_chunked(&view)
                || head
                    .declared(&view)
                    .is_some_and(|d| head.signs_digest(&view, &d));
            assert!(genuine, "Authenticated({id}) but not signed: {}", what());
        }
    }
    if let Some(before) = &record.authenticated_before {
        assert!(
            matches!(&hooked.caller, HookCaller::Authenticated(id) if id == before),
            "authenticated_key_id() said {before}, the hook {:?}: {}",
            hooked.caller,
            what()
        );
    }

    let handler_success = exchange.from_handler && status.is_success();
    if handler_success {
        let head = head
            .as_ref()
            .unwrap_or_else(|| panic!("accepted, but the oracle refuses the head: {}", what()));
        assert!(head.timely_loose, "accepted outside the skew: {}", what());
        assert!(head.well_formed, "accepted a badly formed head: {}", what());
        // A body that failed was not received whole; but a bodiless one
        // (judged empty) that fails after saying so carries nothing.
        assert!(
            !wire.fails() || (wire.looks_bodiless() && record.read.is_empty()),
            "accepted a body that failed: {}",
            what()
        );
        assert_eq!(
            record.verified.as_ref().map(|r| r.as_ref().ok().cloned()),
            Some(Some(head.auth.key_id.clone())),
            "accepted without a verify() that succeeded: {}",
            what()
        );
        // Over exactly the bytes the handler read: all of them when it
        // read to the end; otherwise they begin what was signed.
        let v1 = if record.reached_end {
            head.signs_body(&view, &record.read)
        } else {
            data.starts_with(&record.read)
                && (head.signs_body(&view, &data) || head.signs_body(&view, &record.read))
        };
        let chunked = chunk_decoded.as_ref().is_some_and(|decoded| {
            decoded.verdict == spec::ChunkVerdict::Complete
                && if record.reached_end {
                    decoded.verified == record.read
                } else {
                    decoded.verified.starts_with(&record.read)
                }
        });
        assert!(
            v1 || chunked,
            "accepted, but not signed over what the handler read: {}",
            what()
        );
        if v1 && !chunked && !wire.looks_bodiless() {
            // A declared digest that is not the body's never passes (but
            // a request without a body is judged as empty, whatever it declares).
            if let Some(d) = head.declared(&view) {
                assert!(
                    record.reached_end && d == head.alg.digest(&record.read)
                        || d == head.alg.digest(&data),
                    "accepted with a Content-Digest that is not the body's: {}",
                    what()
                );
            }
        }
        if config.require_early {
            assert!(
                chunked || head.declared(&view).is_some() || wire.looks_bodiless(),
                "accepted late with early authentication required: {}",
                what()
            );
        }
        if !config.no_replay_protection {
            let pair = (head.auth.key_id.clone(), head.auth.nonce.clone());
            assert!(
                !accepted.contains(&pair),
                "a replay was accepted: {}",
                what()
            );
            accepted.push(pair);
        }
    }

    if exchange.from_handler && status.is_client_error() && !handler.verifies() {
        // A handler's own 4xx stands only for a genuine, timely request.
        if hooked.outcome == Outcome::UnverifiedClientError {
            let head = head.as_ref().unwrap_or_else(|| {
                panic!(
                    "let a 4xx through for a head the oracle refuses: {}",
                    what()
                )
            });
            assert!(head.timely_loose && head.well_formed, "{}", what());
            let genuine = head.signs_body(&view, &data)
                || head.signs_body(&view, &record.read)
                || head.signs_body(&view, b"")
                || head.signs_chunked(&view)
                || head
                    .declared(&view)
                    .is_some_and(|d| head.signs_digest(&view, &d));
            assert!(genuine, "let a forgery's 4xx through: {}", what());
        }
    }

    // What a genuine request gets: accepted, with exactly its data.
    if handler.verifies() && wire.honest() && !wire.fails() && fresh_nonce {
        if let Some(head) = head.as_ref().filter(|h| h.timely_strict && h.well_formed) {
            let x_hmac_body = view.lines("x-hmac-body");
            let declaration = head.declaration(&view);
            let bodiless = wire.looks_bodiless();
            let unread_ok =
                config.small_unread_limit.is_none() || handler == Handler::ReadAllVerify;
            let (valid, expected) = match x_hmac_body.as_slice() {
                [] => (
                    // A malformed declaration is refused even without a
                    // body (§6.1 step 6); a well-formed one is ignored then.
                    // A request without a body is judged as empty: data it
                    // carries all the same fails it.
                    head.signs_body(&view, &data)
                        && (!bodiless || data.is_empty())
                        && (matches!(declaration, spec::Declared::None)
                            || declaration == spec::Declared::Digest(head.alg.digest(&data))
                            || (bodiless && matches!(declaration, spec::Declared::Digest(_)))),
                    data.clone(),
                ),
                [value] if value.eq_ignore_ascii_case(b"chunks") => {
                    let decoded = chunk_decoded.as_ref();
                    (
                        !bodiless
                            && matches!(
                                declaration,
                                spec::Declared::None | spec::Declared::Digest(_)
                            )
                            && decoded.is_some_and(|d| d.verdict == spec::ChunkVerdict::Complete),
                        decoded.map(|d| d.verified.clone()).unwrap_or_default(),
                    )
                }
                _ => (false, Vec::new()),
            };
            let early_ok = !config.require_early
                || bodiless
                || !x_hmac_body.is_empty()
                || matches!(declaration, spec::Declared::Digest(_));
            if valid && unread_ok && early_ok {
                assert!(handler_success, "a genuine request was refused: {}", what());
                if handler == Handler::ReadAllVerify {
                    assert_eq!(record.read, expected, "{}", what());
                }
            }
        }
    }
}

/// A problem response is what PROTOCOL §6.2 says.
pub fn check_problem(exchange: &Exchange, what: &dyn Fn() -> String) {
    check_problem_of(exchange, what, &[], false);
}

/// The same, where `more` adds the codes (and their statuses) of other
/// schemes, and with `explained` the problem may carry an `explanation`
/// object (`SignatureLayer::explain_refusals`: every `invalid_signature`,
/// and a refusal of the body, of any code, when it is judged).
pub fn check_problem_of(
    exchange: &Exchange,
    what: &dyn Fn() -> String,
    more: &[(&str, u16)],
    explained: bool,
) {
    let headers = &exchange.headers;
    assert_eq!(
        headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/problem+json"[..]),
        "{}",
        what()
    );
    assert_eq!(
        headers
            .get(http::header::CACHE_CONTROL)
            .map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "{}",
        what()
    );
    let value: serde_json::Value = serde_json::from_slice(&exchange.body)
        .unwrap_or_else(|e| panic!("a problem body that is not JSON ({e}): {}", what()));
    let object = value.as_object().expect("a JSON object");
    let mut members: Vec<&str> = object.keys().map(String::as_str).collect();
    members.sort_unstable();
    if explained && object.contains_key("explanation") {
        assert!(object["explanation"].is_object(), "{}", what());
        members.retain(|m| *m != "explanation");
    }
    assert_eq!(
        members,
        ["code", "detail", "status", "title", "type"],
        "{}",
        what()
    );
    assert_eq!(object["type"], "about:blank", "{}", what());
    assert_eq!(
        object["status"].as_u64(),
        Some(u64::from(exchange.status.as_u16())),
        "{}",
        what()
    );
    assert_eq!(
        object["title"].as_str(),
        exchange.status.canonical_reason(),
        "{}",
        what()
    );
    assert!(object["detail"].is_string(), "{}", what());
    let code = object["code"].as_str().expect("a code");
    let expected = match code {
        "missing_authorization"
        | "malformed_authorization"
        | "invalid_signature"
        | "stale_request"
        | "replayed_request"
        | "unsigned_header"
        | "early_authentication_required"
        | "unverified_request" => 401,
        "host_mismatch"
        | "malformed_target"
        | "malformed_content_digest"
        | "malformed_chunked_body"
        | "body_incomplete" => 400,
        "body_too_large" => 413,
        "verification_skipped" => 500,
        "key_store_unavailable" | "replay_store_unavailable" => 503,
        other => match more.iter().find(|(code, _)| *code == other) {
            Some(&(_, status)) => status,
            None => panic!("an unknown code {other}: {}", what()),
        },
    };
    assert_eq!(exchange.status.as_u16(), expected, "{}", what());
    if expected == 401 {
        assert!(
            headers.contains_key(http::header::WWW_AUTHENTICATE),
            "a 401 without WWW-Authenticate: {}",
            what()
        );
    }
}

// ---------------------------------------------------------------- building requests

/// A header name from a fuzz byte and text: one of those that matter, or any token.
pub fn header_name(pick: u8, text: &str) -> Option<HeaderName> {
    const NAMES: [&str; 12] = [
        "host",
        "authorization",
        "content-digest",
        "x-hmac-body",
        "content-type",
        "content-length",
        "expect",
        "x-tag",
        "accept",
        "transfer-encoding",
        "user-agent",
        "date",
    ];
    match NAMES.get(usize::from(pick % 16)) {
        Some(name) => Some(HeaderName::from_static(name)),
        None => HeaderName::from_bytes(text.as_bytes()).ok(),
    }
}
