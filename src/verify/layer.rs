use std::{sync::Arc, time::Duration};

use http::{header::HOST, HeaderName};
use tower_layer::Layer;

use super::SignatureService;
use crate::{observe::OutcomeHook, InMemoryNonceStore, KeyStore, NonceStore, Secret};

/// Accepts only requests signed with a known key; see the [crate docs](crate).
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::post, Router};
/// use tower_hmac::{InMemoryKeys, Secret, SignatureLayer};
///
/// let keys = InMemoryKeys::new().with_key("7".parse().unwrap(), Secret::new(vec![7; 32]).unwrap());
/// let app: Router = Router::new()
///     .route("/upload", post(|| async { "unreachable without verify()" }))
///     .route_layer(
///         SignatureLayer::new(keys)
///             .max_clock_skew(Duration::from_secs(60))
///             .require_signed_header(http::header::CONTENT_TYPE),
///     );
/// ```
#[derive(Clone)]
pub struct SignatureLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) keys: Arc<dyn KeyStore>,
    pub(crate) nonces: Option<Arc<dyn NonceStore>>,
    pub(crate) max_skew: u64,
    pub(crate) max_request_duration: u64,
    pub(crate) required_headers: Vec<HeaderName>,
    pub(crate) on_outcome: Option<OutcomeHook>,
    pub(crate) max_unread_body: u64,
    /// Stands in for the secret of an unknown key id.
    pub(crate) decoy: Secret,
}

impl SignatureLayer {
    /// The default allowed difference between the client's clock and ours.
    pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
    /// The default time a request may take, beyond the skew, to reach `verify()`.
    pub const DEFAULT_MAX_REQUEST_DURATION: Duration = Duration::from_secs(300);
    /// The default for [`max_unread_body`](Self::max_unread_body): 1 MiB.
    pub const DEFAULT_MAX_UNREAD_BODY: u64 = 1024 * 1024;

    /// A layer that looks keys up in `keys`, requires `host` to be signed,
    /// allows 300 s of clock skew, and remembers nonces in memory.
    pub fn new(keys: impl KeyStore) -> Self {
        Self {
            config: Arc::new(Config {
                keys: Arc::new(keys),
                nonces: Some(Arc::new(InMemoryNonceStore::new())),
                max_skew: Self::DEFAULT_MAX_CLOCK_SKEW.as_secs(),
                max_request_duration: Self::DEFAULT_MAX_REQUEST_DURATION.as_secs(),
                required_headers: vec![HOST],
                on_outcome: None,
                max_unread_body: Self::DEFAULT_MAX_UNREAD_BODY,
                decoy: Secret::random(),
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// How far the request's `Time` may be from our clock, either way
    /// (default 300 s; whole seconds, a fraction counts as a second).
    /// Smaller narrows the replay window, larger tolerates worse clocks.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.config().max_skew = whole_seconds(skew);
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
    /// response guard to tell a forgery from a genuine request. Past it the
    /// request fails as `body_too_large`. A handler that expects big bodies
    /// reads them itself. Bound the time a body may take with a timeout
    /// outside this layer (tower-http's `RequestBodyTimeoutLayer`, say).
    pub fn max_unread_body(mut self, bytes: u64) -> Self {
        self.config().max_unread_body = bytes;
        self
    }

    /// Also require `name` to be in `SignedHeaders` (`host` always is).
    pub fn require_signed_header(mut self, name: HeaderName) -> Self {
        let required = &mut self.config().required_headers;
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

    /// Calls `hook` once per request with the key id it claimed (if its
    /// header parsed) and how it ended: for metrics. See [`OutcomeCounters`](crate::observe::OutcomeCounters).
    pub fn on_outcome(
        mut self,
        hook: impl Fn(Option<&crate::KeyId>, crate::Outcome) + Send + Sync + 'static,
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
            .field("max_clock_skew", &self.config.max_skew)
            .field("max_request_duration", &self.config.max_request_duration)
            .field("required_headers", &self.config.required_headers)
            .field("replay_protection", &self.config.nonces.is_some())
            .field("max_unread_body", &self.config.max_unread_body)
            .finish_non_exhaustive()
    }
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
