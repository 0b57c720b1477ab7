//! Observability: what happened to each request, for logs and metrics.
//!
//! Every request gets a `tracing` span named `tower_hmac` with the fields
//! `key_id` (as claimed; absent when the header did not parse) and `outcome`
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

/// A function told of every outcome, with the key id the request claimed.
pub(crate) type OutcomeHook = std::sync::Arc<dyn Fn(Option<&KeyId>, Outcome) + Send + Sync>;

/// Lock-free counts of outcomes, to feed a metrics exporter.
///
/// ```
/// use std::sync::Arc;
/// use tower_hmac::{observe::OutcomeCounters, ErrorCode, InMemoryKeys, SignatureLayer};
///
/// let counters = Arc::new(OutcomeCounters::default());
/// let recorder = counters.clone();
/// let layer = SignatureLayer::new(InMemoryKeys::new())
///     .on_outcome(move |_key_id, outcome| recorder.record(outcome));
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
}

impl Report {
    pub(crate) fn new(hook: Option<OutcomeHook>) -> Self {
        Self {
            span: tracing::info_span!(
                "tower_hmac",
                key_id = tracing::field::Empty,
                outcome = tracing::field::Empty
            ),
            hook,
            key_id: None,
        }
    }

    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Notes the key id the request claims.
    pub(crate) fn claimed(&mut self, key_id: &KeyId) {
        self.span.record("key_id", key_id.as_str());
        if self.hook.is_some() {
            self.key_id = Some(key_id.clone());
        }
    }

    pub(crate) fn finish(&self, outcome: Outcome) {
        self.span.record("outcome", outcome.as_str());
        if let Some(hook) = &self.hook {
            hook(self.key_id.as_ref(), outcome);
        }
    }
}
