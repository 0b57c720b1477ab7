use std::{sync::Arc, time::Duration};

use http::{header::HOST, HeaderName, HeaderValue};
use tower_layer::Layer;

use super::{drain::DrainLimits, SignatureService};
use crate::{
    observe::{Caller, OutcomeHook},
    schemes::{self, Policy, Scheme},
    InMemoryNonceStore, KeyStore, NonceStore, Secret,
};

/// Accepts only requests signed with a known key; see the [crate docs](crate).
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::post, Router};
/// use tower_hmac::{InMemoryKeys, Secret, SignatureLayer};
///
/// let keys = InMemoryKeys::new().with_key("7".parse().unwrap(), Secret::new(vec![7; 32]).unwrap());
/// let app: Router = Router::new()
///     .route("/upload", post(|| async { "a handler that forgot verify() answers 500" }))
///     .route_layer(
///         SignatureLayer::new(keys)
///             .max_clock_skew(Duration::from_secs(60))
///             .require_signed_header(http::header::CONTENT_TYPE)
///             .require_early_authentication(true),
///     );
/// ```
///
/// # On the routes, or around the router
///
/// `route_layer` signs the routes that exist: a request for any other path
/// gets the router's 404 without a signature. Around the whole router,
/// every request must be signed, unknown paths included, and it costs a
/// little less: axum boxes a route layer's future and bodies per request
/// (1,100 of the signed round trip's 36,000 instructions in BENCHMARKS.md).
/// `axum::serve` takes axum's own response body, so map the response back
/// to it:
///
/// ```
/// use axum::{body::Body, extract::Request, http::Response, routing::get, Router, ServiceExt};
/// use tower::ServiceBuilder;
/// use tower_hmac::{InMemoryKeys, Secret, SignatureLayer, Verifier, VerifiedResponse, VerifyError};
///
/// async fn hello(verifier: Verifier) -> Result<VerifiedResponse, VerifyError> {
///     Ok(verifier.verify().await?.respond("hello"))
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let keys = InMemoryKeys::new().with_key("7".parse().unwrap(), Secret::new(vec![7; 32]).unwrap());
/// let app = ServiceBuilder::new()
///     .map_response(|response: Response<_>| response.map(Body::new))
///     .layer(SignatureLayer::new(keys))
///     .service(Router::new().route("/hello", get(hello)));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// // The layer takes any request body, so name the one `axum::serve` sends.
/// axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await
/// # }
/// ```
#[derive(Clone)]
pub struct SignatureLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) keys: Arc<dyn KeyStore>,
    pub(crate) schemes: Vec<Arc<dyn Scheme>>,
    /// `WWW-Authenticate` for a 401 that no scheme claimed: every scheme's name.
    pub(crate) challenge: HeaderValue,
    pub(crate) nonces: Option<Arc<dyn NonceStore>>,
    pub(crate) policy: Policy,
    pub(crate) max_request_duration: u64,
    pub(crate) on_outcome: Option<OutcomeHook>,
    pub(crate) max_unread_body: u64,
    pub(crate) drain: DrainLimits,
    pub(crate) require_early: bool,
    pub(crate) explain: bool,
    /// Stands in for the secret of an unknown key id.
    pub(crate) decoy: Secret,
}

impl Config {
    /// The first scheme that claims `authorization` (by default, the one whose name opens it).
    pub(crate) fn scheme_for(&self, authorization: &HeaderValue) -> Option<&Arc<dyn Scheme>> {
        self.schemes
            .iter()
            .find(|scheme| scheme.claims(authorization))
    }
}

impl SignatureLayer {
    /// The default allowed difference between the client's clock and ours.
    pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
    /// The default time a request may take, beyond the skew, to reach `verify()`.
    pub const DEFAULT_MAX_REQUEST_DURATION: Duration = Duration::from_secs(300);
    /// The default for [`max_unread_body`](Self::max_unread_body): 1 MiB.
    pub const DEFAULT_MAX_UNREAD_BODY: u64 = 1024 * 1024;
    /// The default for [`drain`](Self::drain): 8 MiB.
    pub const DEFAULT_DRAIN_BYTES: u64 = 8 * 1024 * 1024;
    /// The default for [`drain`](Self::drain): 5 s.
    pub const DEFAULT_DRAIN_TIME: Duration = Duration::from_secs(5);

    /// A layer for the native `HMAC-SHA256` scheme that looks keys up in
    /// `keys`, requires `host` to be signed, allows 300 s of clock skew, and
    /// remembers nonces in memory.
    pub fn new(keys: impl KeyStore) -> Self {
        let schemes = schemes::default_schemes();
        Self {
            config: Arc::new(Config {
                keys: Arc::new(keys),
                challenge: challenge(&schemes),
                schemes,
                nonces: Some(Arc::new(InMemoryNonceStore::new())),
                policy: Policy {
                    max_clock_skew: Self::DEFAULT_MAX_CLOCK_SKEW.as_secs(),
                    required_headers: vec![HOST],
                },
                max_request_duration: Self::DEFAULT_MAX_REQUEST_DURATION.as_secs(),
                on_outcome: None,
                max_unread_body: Self::DEFAULT_MAX_UNREAD_BODY,
                drain: DrainLimits {
                    bytes: Self::DEFAULT_DRAIN_BYTES,
                    time: Self::DEFAULT_DRAIN_TIME,
                },
                require_early: false,
                explain: false,
                decoy: Secret::random(),
            }),
        }
    }

    /// Also accepts requests signed with `scheme`, chosen by the first word
    /// of their `Authorization` value, or as the scheme
    /// [claims](Scheme::claims) them (replacing a scheme of the same name):
    /// one layer can serve clients of several schemes while they migrate.
    pub fn scheme(mut self, scheme: impl Scheme) -> Self {
        let config = self.config();
        config
            .schemes
            .retain(|known| !known.name().eq_ignore_ascii_case(scheme.name()));
        config.schemes.push(Arc::new(scheme));
        config.challenge = challenge(&config.schemes);
        self
    }

    /// Explains every `invalid_signature` in its problem body (off by
    /// default): an `explanation` member with the key id the request
    /// claimed, the string-to-sign the server built, and for a declared
    /// digest the declared and the received body digests, so that a client
    /// can diff it against what it signed. Nothing secret is revealed: never
    /// the secret, never the expected signature, and not whether the key id
    /// is known. See the README's "Why is my request refused?".
    pub fn explain_refusals(mut self, explain: bool) -> Self {
        self.config().explain = explain;
        self
    }

    /// Refuses, before the handler runs, every request that cannot be
    /// authenticated before its body is read (off by default, so that
    /// clients of protocol v1 that do not declare `Content-Digest` keep
    /// working): they get 401 `early_authentication_required`. With it on,
    /// nobody without the key can make a handler run or stream a body into it.
    pub fn require_early_authentication(mut self, required: bool) -> Self {
        self.config().require_early = required;
        self
    }

    /// When the layer answers before the body has been read (a refusal), it
    /// first reads and throws away up to `bytes` of what is left, for at
    /// most `time` (defaults 8 MiB and 5 s), so that a client still sending
    /// its body receives the answer. Past either bound, the answer goes out
    /// with `Connection: close` (HTTP/1.1) and the rest is not read. A client
    /// that sent `Expect: 100-continue` is answered without being asked for
    /// the body at all.
    pub fn drain(mut self, bytes: u64, time: Duration) -> Self {
        self.config().drain = DrainLimits { bytes, time };
        self
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// How far the request's `Time` may be from our clock, either way
    /// (default 300 s; whole seconds, a fraction counts as a second).
    /// Smaller narrows the replay window, larger tolerates worse clocks.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.config().policy.max_clock_skew = whole_seconds(skew);
        self
    }

    /// How long after the skew window a request may still pass `verify()`
    /// (default 300 s). A slow upload needs this long to arrive; nonces are
    /// remembered for `Time + max_clock_skew + max_request_duration`.
    pub fn max_request_duration(mut self, duration: Duration) -> Self {
        self.config().max_request_duration = whole_seconds(duration);
        self
    }

    /// The most bytes of body that will be read on the handler's behalf when
    /// it leaves the body unread (default 1 MiB): by `verify()`, or by the
    /// response guard to tell a forgery from a genuine request when the
    /// request could not be authenticated up front. Past it the request
    /// fails as `body_too_large`. A handler that expects big bodies
    /// reads them itself. Bound the time a body may take with a timeout
    /// outside this layer (tower-http's `RequestBodyTimeoutLayer`, say).
    pub fn max_unread_body(mut self, bytes: u64) -> Self {
        self.config().max_unread_body = bytes;
        self
    }

    /// Also require `name` to be in `SignedHeaders` (`host` always is).
    pub fn require_signed_header(mut self, name: HeaderName) -> Self {
        let required = &mut self.config().policy.required_headers;
        if !required.contains(&name) {
            required.push(name);
        }
        self
    }

    /// Remembers nonces in `store` instead of the default in-memory store.
    pub fn nonce_store(mut self, store: impl NonceStore) -> Self {
        self.config().nonces = Some(Arc::new(store));
        self
    }

    /// Calls `hook` once per request with who sent it and how it ended: for
    /// metrics. See [`OutcomeCounters`](crate::observe::OutcomeCounters);
    /// label by key id only when [`Caller::Authenticated`].
    pub fn on_outcome(
        mut self,
        hook: impl Fn(Caller<'_>, crate::Outcome) + Send + Sync + 'static,
    ) -> Self {
        self.config().on_outcome = Some(Arc::new(hook));
        self
    }

    /// Turns replay protection off: a captured request can then be sent
    /// again, unchanged, until its `Time` leaves the window. Rarely right.
    pub fn without_replay_protection(mut self) -> Self {
        self.config().nonces = None;
        self
    }
}

impl std::fmt::Debug for SignatureLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureLayer")
            .field("schemes", &self.config.challenge)
            .field("max_clock_skew", &self.config.policy.max_clock_skew)
            .field("max_request_duration", &self.config.max_request_duration)
            .field("required_headers", &self.config.policy.required_headers)
            .field("require_early_authentication", &self.config.require_early)
            .field("drain", &self.config.drain)
            .field("explain_refusals", &self.config.explain)
            .field("replay_protection", &self.config.nonces.is_some())
            .field("max_unread_body", &self.config.max_unread_body)
            .finish_non_exhaustive()
    }
}

fn challenge(schemes: &[Arc<dyn Scheme>]) -> HeaderValue {
    let names: Vec<&str> = schemes
        .iter()
        .filter_map(|scheme| scheme.challenge())
        .collect();
    HeaderValue::try_from(names.join(", ")).expect("a scheme's name is an HTTP token")
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

impl<S> Layer<S> for SignatureLayer {
    type Service = SignatureService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SignatureService::new(inner, self.config.clone())
    }
}
