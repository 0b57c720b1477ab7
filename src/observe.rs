//! Observability: what happened to each request, for logs and metrics.
//!
//! Every request gets a `tracing` span named `tower_hmac` with the fields
//! `key_id` (as claimed; absent when the header did not parse),
//! `authenticated` (whether the caller proved it holds that key) and `outcome`
//! (`accepted`, `unverified_client_error`, or the problem code). Secrets and
//! signatures are never recorded.
//!
//! For metrics, [`SignatureLayer::on_outcome`](crate::SignatureLayer::on_outcome)
//! calls your function once per request; [`OutcomeCounters`] is a ready one
//! that counts by outcome, to export with whatever metrics library you use.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{ErrorCode, KeyId};

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// `verify()` succeeded and the handler's response was sent.
    Accepted,
    /// Refused with this code; its problem response was sent.
    Rejected(ErrorCode),
    /// A genuine request that the handler refused with a 4xx without
    /// verifying it; the handler's response was sent.
    UnverifiedClientError,
}

impl Outcome {
    /// `accepted`, `unverified_client_error`, or the problem code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected(code) => code.as_str(),
            Self::UnverifiedClientError => "unverified_client_error",
        }
    }
}

/// Who sent a request, as far as the layer could tell.
///
/// Label metrics by key id only for [`Caller::Authenticated`]: a claimed key
/// id is whatever the client wrote, so counting by it lets anyone create
/// new labels without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caller<'a> {
    /// The request had no credentials the layer could parse.
    Anonymous,
    /// The request names this key id, but never proved it holds the key
    /// (an unknown key, a forgery, or a request refused before the check).
    Claimed(&'a KeyId),
    /// The caller proved it holds this key.
    Authenticated(&'a KeyId),
}

impl<'a> Caller<'a> {
    /// The key id, only if the caller proved it holds the key.
    pub fn authenticated(self) -> Option<&'a KeyId> {
        match self {
            Self::Authenticated(key_id) => Some(key_id),
            _ => None,
        }
    }
}

/// A function told of every outcome, with who sent the request.
pub(crate) type OutcomeHook = std::sync::Arc<dyn Fn(Caller<'_>, Outcome) + Send + Sync>;

/// Lock-free counts of outcomes, to feed a metrics exporter.
///
/// ```
/// use std::sync::Arc;
/// use tower_hmac::{observe::OutcomeCounters, ErrorCode, InMemoryKeys, SignatureLayer};
///
/// let counters = Arc::new(OutcomeCounters::default());
/// let recorder = counters.clone();
/// let layer = SignatureLayer::new(InMemoryKeys::new())
///     .on_outcome(move |_caller, outcome| recorder.record(outcome));
/// // ... later, in a /metrics handler:
/// for (outcome, count) in counters.snapshot() {
///     println!("hmac_requests_total{{outcome=\"{outcome}\"}} {count}");
/// }
/// assert_eq!(counters.rejected(ErrorCode::InvalidSignature), 0);
/// ```
#[derive(Debug, Default)]
pub struct OutcomeCounters {
    accepted: AtomicU64,
    unverified_client_error: AtomicU64,
    rejected: [AtomicU64; ErrorCode::ALL.len()],
}

impl OutcomeCounters {
    /// Counts one outcome.
    pub fn record(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Accepted => &self.accepted,
            Outcome::UnverifiedClientError => &self.unverified_client_error,
            Outcome::Rejected(code) => &self.rejected[index(code)],
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests accepted.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Requests refused with `code`.
    pub fn rejected(&self, code: ErrorCode) -> u64 {
        self.rejected[index(code)].load(Ordering::Relaxed)
    }

    /// Every outcome with its count, zeros included, in a stable order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let mut counts = vec![
            (Outcome::Accepted.as_str(), self.accepted()),
            (
                Outcome::UnverifiedClientError.as_str(),
                self.unverified_client_error.load(Ordering::Relaxed),
            ),
        ];
        counts.extend(
            ErrorCode::ALL
                .iter()
                .map(|&code| (code.as_str(), self.rejected(code))),
        );
        counts
    }
}

fn index(code: ErrorCode) -> usize {
    ErrorCode::ALL
        .iter()
        .position(|&c| c == code)
        .expect("ALL lists every code")
}

/// One request's span and outcome report.
pub(crate) struct Report {
    span: tracing::Span,
    hook: Option<OutcomeHook>,
    key_id: Option<KeyId>,
    authenticated: bool,
}

impl Report {
    pub(crate) fn new(hook: Option<OutcomeHook>) -> Self {
        Self {
            span: tracing::info_span!(
                "tower_hmac",
                key_id = tracing::field::Empty,
                authenticated = tracing::field::Empty,
                outcome = tracing::field::Empty
            ),
            hook,
            key_id: None,
            authenticated: false,
        }
    }

    /// The span to enter, unless nothing listens for it: a disabled span
    /// is neither cloned nor entered, so that it costs nothing per poll.
    pub(crate) fn active_span(&self) -> Option<tracing::Span> {
        (!self.span.is_disabled()).then(|| self.span.clone())
    }

    /// Notes the key id the request claims.
    pub(crate) fn claimed(&mut self, key_id: &KeyId) {
        if !self.span.is_disabled() {
            self.span.record("key_id", key_id.as_str());
        }
        if self.hook.is_some() {
            self.key_id = Some(key_id.clone());
        }
    }

    /// Notes that the caller proved it holds the claimed key.
    pub(crate) fn authenticated(&mut self) {
        self.authenticated = true;
    }

    pub(crate) fn finish(&self, outcome: Outcome) {
        // Accepted means verified, whenever that happened.
        let authenticated = self.authenticated || outcome == Outcome::Accepted;
        if !self.span.is_disabled() {
            self.span.record("authenticated", authenticated);
            self.span.record("outcome", outcome.as_str());
        }
        if let Some(hook) = &self.hook {
            let caller = match &self.key_id {
                None => Caller::Anonymous,
                Some(key_id) if authenticated => Caller::Authenticated(key_id),
                Some(key_id) => Caller::Claimed(key_id),
            };
            hook(caller, outcome);
        }
    }
}
