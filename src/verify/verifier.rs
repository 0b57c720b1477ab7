use std::{
    fmt,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::response::{IntoResponse, Response};
use http::{Response as HttpResponse, StatusCode};

use super::body::Parked;

use crate::{
    error::ErrorCode,
    protocol::{Authorization, BodyDigest, CanonicalRequest},
    replay::{unix_now, NonceEntry, NonceStatus},
    KeyId, NonceStore, Secret,
};

/// What one request's body, verifier and response guard share.
pub(crate) struct Shared {
    auth: Authorization,
    canonical: CanonicalRequest,
    secret: Secret,
    /// False when the key id is unknown and `secret` is a decoy that matches nothing.
    known_key: bool,
    nonces: Option<Arc<dyn NonceStore>>,
    /// Unix seconds after which `verify()` answers `stale_request`; nonces are kept until then.
    deadline: u64,
    /// The most bytes of a body left unread by the handler that will be read to verify it.
    unread_limit: u64,
    /// For the nonce store: see `NonceEntry::valid_from` and `NonceEntry::request_id`.
    valid_from: u64,
    request_id: u64,
    state: Mutex<State>,
}

/// The per-request parts of [`Shared`] that come from the layer's configuration.
pub(crate) struct Limits {
    pub(crate) nonces: Option<Arc<dyn NonceStore>>,
    pub(crate) deadline: u64,
    pub(crate) unread_limit: u64,
    pub(crate) valid_from: u64,
}

struct State {
    body: BodyState,
    outcome: Outcome,
}

// Inline rather than boxed: a GET whose handler never reads the body parks
// it on every request. (With `ring`'s larger hasher clippy flags the size.)
#[allow(clippy::large_enum_variant)]
enum BodyState {
    /// The handler holds the body and has not read it to the end.
    Streaming,
    /// The handler dropped the body unread; its rest waits here.
    Parked(Parked),
    /// Someone is reading the parked rest.
    Draining,
    Complete(BodyDigest),
    /// Broken, short, or over the unread limit.
    Failed(ErrorCode),
}

#[derive(Clone, Copy)]
enum Outcome {
    NotCalled,
    InProgress,
    Verified,
    Failed(ErrorCode),
}

/// What the response guard does with the handler's response.
#[allow(clippy::large_enum_variant)] // See `BodyState`.
pub(crate) enum Verdict {
    /// `verify()` succeeded.
    Verified,
    /// A genuine request the handler refused with a 4xx before verifying.
    PassUnverified,
    Replace(ErrorCode),
    /// Read the parked rest of the body first, then decide.
    Drain(Parked),
}

impl Shared {
    pub(crate) fn new(
        auth: Authorization,
        canonical: CanonicalRequest,
        secret: Secret,
        known_key: bool,
        limits: Limits,
    ) -> Arc<Self> {
        Arc::new(Self {
            auth,
            canonical,
            secret,
            known_key,
            nonces: limits.nonces,
            deadline: limits.deadline,
            unread_limit: limits.unread_limit,
            valid_from: limits.valid_from,
            request_id: crate::replay::new_request_id(),
            state: Mutex::new(State {
                body: BodyState::Streaming,
                outcome: Outcome::NotCalled,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn key_id(&self) -> &KeyId {
        self.auth.key_id()
    }

    pub(crate) fn unread_limit(&self) -> u64 {
        self.unread_limit
    }

    /// The body ended (or failed) while the handler read it, or a parked rest was read.
    pub(crate) fn body_settled(&self, result: Result<BodyDigest, ErrorCode>) {
        self.lock().body = match result {
            Ok(digest) => BodyState::Complete(digest),
            Err(code) => BodyState::Failed(code),
        };
    }

    /// Data arrived after the body said it had ended: whatever was verified
    /// is not what the handler read, so the request fails, even if verified.
    pub(crate) fn body_overran(&self) {
        let mut state = self.lock();
        state.body = BodyState::Failed(ErrorCode::InvalidSignature);
        state.outcome = Outcome::Failed(ErrorCode::InvalidSignature);
    }

    pub(crate) fn park(&self, parked: Parked) {
        self.lock().body = BodyState::Parked(parked);
    }

    /// Marks the request as refused by an adapter (a body over its limit, say).
    pub(crate) fn reject(&self, code: ErrorCode) {
        let mut state = self.lock();
        if !matches!(state.outcome, Outcome::Failed(_)) {
            state.outcome = Outcome::Failed(code);
        }
    }

    fn signature_matches(&self, digest: &BodyDigest) -> bool {
        self.canonical
            .verify(&self.secret, digest, self.auth.signature())
    }

    async fn verify(&self) -> Result<Verified, VerifyError> {
        let parked = {
            let mut state = self.lock();
            match state.outcome {
                Outcome::Verified => return Ok(self.proof()),
                Outcome::Failed(code) => return Err(VerifyError::failed(code)),
                Outcome::InProgress => return Err(VerifyError::IN_PROGRESS),
                Outcome::NotCalled => {}
            }
            match std::mem::replace(&mut state.body, BodyState::Draining) {
                BodyState::Parked(parked) => Some(parked),
                other => {
                    state.body = other;
                    None
                }
            }
        };
        if let Some(parked) = parked {
            // If this future is dropped mid-read, the rest of the body is lost with it.
            let mut unsettled = Settle(Some((self, Err(ErrorCode::BodyIncomplete))));
            let result = parked.drain(self.unread_limit).await;
            unsettled.0 = None;
            self.body_settled(result);
        }

        let expires_at = {
            let mut state = self.lock();
            let digest = match state.body {
                // Not poisoned: the handler may read the rest and try again.
                BodyState::Streaming => return Err(VerifyError::BODY_NOT_CONSUMED),
                BodyState::Draining | BodyState::Parked(_) => return Err(VerifyError::IN_PROGRESS),
                BodyState::Failed(code) => {
                    state.outcome = Outcome::Failed(code);
                    return Err(VerifyError::failed(code));
                }
                BodyState::Complete(digest) => digest,
            };
            let outcome = if !self.signature_matches(&digest) {
                if !self.known_key {
                    tracing::debug!(key_id = %self.key_id(), "tower-hmac: unknown key id");
                }
                Outcome::Failed(ErrorCode::InvalidSignature)
            } else if unix_now() > self.deadline {
                Outcome::Failed(ErrorCode::StaleRequest)
            } else if self.nonces.is_some() {
                Outcome::InProgress
            } else {
                Outcome::Verified
            };
            state.outcome = outcome;
            match outcome {
                Outcome::Verified => return Ok(self.proof()),
                Outcome::Failed(code) => return Err(VerifyError::failed(code)),
                _ => self.deadline,
            }
        };

        // If this future is dropped while the store answers, a later call may try again.
        let mut unsettled = Reopen(Some(self));
        let nonces = self.nonces.as_ref().expect("checked above");
        let recorded = nonces
            .insert(NonceEntry {
                key_id: self.auth.key_id(),
                nonce: self.auth.nonce(),
                signed_at: self.auth.time(),
                expires_at,
                valid_from: self.valid_from,
                request_id: self.request_id,
            })
            .await;
        unsettled.0 = None;
        let outcome = match recorded {
            Ok(NonceStatus::Fresh) => Outcome::Verified,
            Ok(NonceStatus::Replayed) => Outcome::Failed(ErrorCode::ReplayedRequest),
            Err(error) => {
                tracing::error!(key_id = %self.key_id(), %error, "tower-hmac: nonce store failed");
                Outcome::Failed(ErrorCode::ReplayStoreUnavailable)
            }
        };
        self.lock().outcome = outcome;
        match outcome {
            Outcome::Failed(code) => Err(VerifyError::failed(code)),
            _ => Ok(self.proof()),
        }
    }

    fn proof(&self) -> Verified {
        Verified {
            key_id: self.auth.key_id().clone(),
        }
    }

    /// The response guard's decision, once the handler has answered with `status`.
    pub(crate) fn verdict(&self, status: StatusCode) -> Verdict {
        let mut state = self.lock();
        match state.outcome {
            Outcome::Verified => return Verdict::Verified,
            Outcome::Failed(code) => return Verdict::Replace(code),
            Outcome::NotCalled | Outcome::InProgress => {}
        }
        match std::mem::replace(&mut state.body, BodyState::Draining) {
            BodyState::Parked(parked) => return Verdict::Drain(parked),
            other => state.body = other,
        }
        match state.body {
            // The client's fault, not the handler's: never a 5xx.
            BodyState::Failed(code) => Verdict::Replace(code),
            // A read of the rest that was abandoned.
            BodyState::Draining => Verdict::Replace(ErrorCode::BodyIncomplete),
            // A forgery must not be able to provoke a 500 (or an error log)
            // from a handler that answered without verifying.
            BodyState::Complete(digest) if !self.signature_matches(&digest) => {
                Verdict::Replace(ErrorCode::InvalidSignature)
            }
            // A genuine, timely request refused before verify() (an
            // extractor's rejection, an unknown route): the refusal may stand.
            BodyState::Complete(_) if status.is_client_error() => {
                if unix_now() > self.deadline {
                    Verdict::Replace(ErrorCode::StaleRequest)
                } else {
                    tracing::debug!(key_id = %self.key_id(), %status, "tower-hmac: unverified client error passed through");
                    Verdict::PassUnverified
                }
            }
            _ => {
                tracing::error!(
                    key_id = %self.key_id(),
                    %status,
                    "tower-hmac: the handler answered without a successful verify(); \
                     the response was replaced by 500"
                );
                Verdict::Replace(ErrorCode::VerificationSkipped)
            }
        }
    }
}

/// Settles the body with its result unless disarmed: for a drain that is cancelled.
struct Settle<'a>(Option<(&'a Shared, Result<BodyDigest, ErrorCode>)>);

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        if let Some((shared, result)) = self.0.take() {
            shared.body_settled(result);
        }
    }
}

/// Puts an interrupted nonce check back to "not called" unless disarmed.
struct Reopen<'a>(Option<&'a Shared>);

impl Drop for Reopen<'_> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            let mut state = shared.lock();
            if matches!(state.outcome, Outcome::InProgress) {
                state.outcome = Outcome::NotCalled;
            }
        }
    }
}

/// The handle a handler uses to verify its request.
///
/// The [`SignatureLayer`](crate::SignatureLayer) puts one in the request
/// extensions; in axum, take it as an extractor. Read the body to the end,
/// then call [`verify`](Self::verify) before acting on what it said.
///
/// ```
/// use axum::body::Body;
/// use http_body_util::BodyExt;
/// use tower_hmac::{VerifiedResponse, Verifier, VerifyError};
///
/// async fn upload(verifier: Verifier, body: Body) -> Result<VerifiedResponse, VerifyError> {
///     let mut body = body;
///     let mut bytes = 0;
///     while let Some(frame) = body.frame().await {
///         // A broken body is noticed by verify() below.
///         let Ok(frame) = frame else { break };
///         bytes += frame.data_ref().map_or(0, |data| data.len());
///     }
///     let verified = verifier.verify().await?;
///     Ok(verified.respond(format!("{bytes} bytes")))
/// }
/// ```
#[derive(Clone)]
pub struct Verifier {
    shared: Arc<Shared>,
}

impl Verifier {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The key id the request claims. Not authenticated until `verify()` succeeds.
    pub fn claimed_key_id(&self) -> &KeyId {
        self.shared.key_id()
    }

    /// Checks the signature over the request and its body, then records the
    /// nonce so that a replay of this request fails.
    ///
    /// Call it after the body has been read to the end; before that it
    /// returns an error with code `verification_skipped` and may be called
    /// again later. Any other failure is final, and the response guard
    /// answers the request with that failure whatever the handler returns.
    /// After a success, further calls succeed at once.
    pub async fn verify(&self) -> Result<Verified, VerifyError> {
        self.shared.verify().await
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("claimed_key_id", self.claimed_key_id())
            .finish_non_exhaustive()
    }
}

/// Proof that `verify()` succeeded. Only this crate can make one.
#[derive(Debug, Clone)]
pub struct Verified {
    key_id: KeyId,
}

impl Verified {
    /// The authenticated key id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Wraps a response in a type that only a verified handler can return.
    ///
    /// A handler declared as returning [`VerifiedResponse`] cannot compile
    /// unless it obtained a `Verified`; the runtime guard stays either way.
    pub fn respond(&self, response: impl IntoResponse) -> VerifiedResponse {
        VerifiedResponse(response.into_response())
    }
}

/// A response from a handler that verified its request. See [`Verified::respond`].
#[derive(Debug)]
pub struct VerifiedResponse(Response);

impl IntoResponse for VerifiedResponse {
    fn into_response(self) -> Response {
        self.0
    }
}

/// Why `verify()` failed. As a response it is the matching problem+json answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyError {
    code: ErrorCode,
    reason: &'static str,
}

impl VerifyError {
    const BODY_NOT_CONSUMED: Self = Self {
        code: ErrorCode::VerificationSkipped,
        reason: "verify() was called before the request body was read to the end",
    };
    const IN_PROGRESS: Self = Self {
        code: ErrorCode::VerificationSkipped,
        reason: "verify() is already running for this request",
    };

    pub(crate) fn failed(code: ErrorCode) -> Self {
        Self {
            code,
            reason: code.detail(),
        }
    }

    /// The problem code the client gets.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Whether the body had not been read to the end yet; read it and call `verify()` again.
    pub fn is_body_not_consumed(&self) -> bool {
        *self == Self::BODY_NOT_CONSUMED
    }
}

impl fmt::Debug for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyError")
            .field("code", &self.code)
            .field("reason", &self.reason)
            .finish()
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

impl std::error::Error for VerifyError {}

impl IntoResponse for VerifyError {
    fn into_response(self) -> Response {
        self.code.into_response()
    }
}

pub(crate) fn problem<B>(code: ErrorCode) -> HttpResponse<super::ResponseBody<B>> {
    code.to_response().map(super::ResponseBody::problem)
}
