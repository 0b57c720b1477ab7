//! One request's state, shared by its body, its `Verifier` and the
//! response guard.

use std::sync::{Arc, Mutex, MutexGuard};

use http::StatusCode;

use super::{
    progress::{Parked, Settled},
    Verified, VerifyError,
};
use crate::{
    clock::unix_now,
    replay::{NonceEntry, NonceStatus},
    schemes::Explanation,
    ErrorCode, KeyId, Nonce, NonceStore,
};

/// The nonce of an authenticated request, to be recorded.
#[derive(Clone)]
pub(crate) struct ReplayRecord {
    pub(crate) key_id: KeyId,
    /// `None` for a request reusable by design, which is not recorded.
    pub(crate) nonce: Option<Nonce>,
    pub(crate) signed_at: u64,
    /// Unix seconds after which `verify()` answers `stale_request`; the nonce is kept until then.
    pub(crate) deadline: u64,
    /// For the nonce store: see `NonceEntry::valid_from` and `NonceEntry::request_id`.
    pub(crate) valid_from: u64,
    pub(crate) request_id: u64,
}

impl ReplayRecord {
    /// What the nonce store records at `now`; `None` when nothing is.
    pub(crate) fn entry(&self, now: u64) -> Option<NonceEntry<'_>> {
        Some(NonceEntry {
            key_id: &self.key_id,
            nonce: self.nonce.as_ref()?,
            signed_at: self.signed_at,
            expires_at: self.deadline,
            valid_from: self.valid_from,
            request_id: self.request_id,
            now,
        })
    }

    /// Records the nonce; a failure or a replay is the code to answer.
    pub(crate) fn outcome(
        &self,
        recorded: Result<NonceStatus, crate::StoreError>,
    ) -> Result<(), ErrorCode> {
        match recorded {
            Ok(NonceStatus::Fresh) => Ok(()),
            Ok(NonceStatus::Replayed) => {
                tracing::debug!(key_id = %self.key_id, "tower-hmac: replayed nonce");
                Err(ErrorCode::ReplayedRequest)
            }
            Err(error) => {
                tracing::error!(key_id = %self.key_id, %error, "tower-hmac: nonce store failed");
                Err(ErrorCode::ReplayStoreUnavailable)
            }
        }
    }
}

/// How a request was authenticated before its handler ran.
pub(crate) enum Caller {
    /// Authenticated up front; its nonce is already recorded.
    Authenticated,
    /// Judged only at the end of its body; its nonce is recorded by `verify()`.
    Deferred(Option<Arc<dyn NonceStore>>),
}

/// What one request's body, verifier and response guard share.
pub(crate) struct Shared {
    record: ReplayRecord,
    caller: Caller,
    /// The most bytes of a body left unread by the handler that will be read to verify it.
    unread_limit: u64,
    /// Whether the body is covered by the signature (see `BodyCheck::authenticates_body`).
    body_authenticated: bool,
    state: Mutex<State>,
}

struct State {
    body: BodyState,
    outcome: Outcome,
    /// Part of the body was left unread on the connection.
    cut: bool,
    /// What explains the body's refusal, when the layer explains refusals.
    explanation: Option<Explanation>,
}

enum BodyState {
    /// The handler holds the body and has not read it to the end.
    Streaming,
    /// The handler dropped the body unread; its rest waits here.
    Parked(Parked),
    /// Someone is reading the parked rest.
    Reading,
    /// The body ended and the scheme's check passed.
    Complete,
    /// Broken, short, over the unread limit, or refused by the scheme's check.
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
pub(crate) enum Verdict {
    /// `verify()` succeeded.
    Verified,
    /// A genuine request the handler refused with a 4xx before verifying.
    PassUnverified,
    Replace(ErrorCode),
    /// Read and judge the parked rest of the body first, then decide.
    Read(Parked),
}

impl Shared {
    pub(crate) fn new(
        record: ReplayRecord,
        caller: Caller,
        has_body: bool,
        unread_limit: u64,
        body_authenticated: bool,
    ) -> Arc<Self> {
        // A bodiless request authenticated up front passes `verify()` at
        // once, but the handler must still call it: a forgotten `verify()`
        // stays a 500, and a refusal without it is not "accepted".
        let body = if has_body {
            BodyState::Streaming
        } else {
            BodyState::Complete
        };
        let outcome = Outcome::NotCalled;
        Arc::new(Self {
            record,
            caller,
            unread_limit,
            body_authenticated,
            state: Mutex::new(State {
                body,
                outcome,
                cut: false,
                explanation: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn key_id(&self) -> &KeyId {
        &self.record.key_id
    }

    pub(crate) fn unread_limit(&self) -> u64 {
        self.unread_limit
    }

    /// Whether the caller proved it holds the key before the handler ran.
    pub(crate) fn authenticated_early(&self) -> bool {
        matches!(self.caller, Caller::Authenticated)
    }

    /// Whether the caller has proved it holds the key, early or by now.
    pub(crate) fn is_authenticated(&self) -> bool {
        if self.authenticated_early() {
            return true;
        }
        let state = self.lock();
        matches!(state.body, BodyState::Complete) || matches!(state.outcome, Outcome::Verified)
    }

    /// The body ended (or failed) while the handler read it, or a parked rest was read.
    pub(crate) fn body_settled(&self, result: Result<(), ErrorCode>) {
        self.settle((result, None));
    }

    /// As [`body_settled`](Self::body_settled), with what explains a refusal.
    pub(crate) fn settle(&self, (result, explanation): Settled) {
        let mut state = self.lock();
        state.explanation = explanation;
        state.body = match result {
            Ok(()) => BodyState::Complete,
            Err(code) => {
                if code == ErrorCode::BodyTooLarge {
                    state.cut = true;
                }
                BodyState::Failed(code)
            }
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

    /// Once the guard has decided: whether the caller is authenticated,
    /// the unread rest of the body to discard, and whether body was left
    /// unread on the connection. One lock for the three.
    pub(crate) fn answered(&self) -> (bool, Option<Parked>, bool) {
        let mut state = self.lock();
        let authenticated = self.authenticated_early()
            || matches!(state.body, BodyState::Complete)
            || matches!(state.outcome, Outcome::Verified);
        let parked = match std::mem::replace(&mut state.body, BodyState::Reading) {
            BodyState::Parked(parked) => Some(parked),
            other => {
                state.body = other;
                None
            }
        };
        (authenticated, parked, state.cut)
    }

    /// Notes that part of the body is left unread on the connection.
    pub(crate) fn cut(&self) {
        self.lock().cut = true;
    }

    /// What explains the body's refusal, if the layer explains refusals.
    pub(crate) fn take_explanation(&self) -> Option<Explanation> {
        let mut explanation = self.lock().explanation.take()?;
        explanation.insert(0, ("key_id", self.record.key_id.to_string()));
        Some(explanation)
    }

    /// Marks the request as refused (a body over an adapter's limit, say).
    pub(crate) fn refuse(&self, code: ErrorCode) {
        let mut state = self.lock();
        if !matches!(state.outcome, Outcome::Failed(_)) {
            state.outcome = Outcome::Failed(code);
        }
    }

    pub(crate) async fn verify(&self) -> Result<Verified, VerifyError> {
        let parked = {
            let mut state = self.lock();
            match state.outcome {
                Outcome::Verified => return Ok(self.proof()),
                Outcome::Failed(code) => return Err(VerifyError::failed(code)),
                Outcome::InProgress => return Err(VerifyError::IN_PROGRESS),
                Outcome::NotCalled => {}
            }
            match std::mem::replace(&mut state.body, BodyState::Reading) {
                BodyState::Parked(parked) => Some(parked),
                other => {
                    state.body = other;
                    None
                }
            }
        };
        if let Some(parked) = parked {
            // If this future is dropped mid-read, the rest of the body is lost with it.
            let mut unsettled = Settle(Some(self));
            let settled = parked.read_to_end(self.unread_limit).await;
            unsettled.0 = None;
            self.settle(settled);
        }

        let now = unix_now();
        let nonces = {
            let mut state = self.lock();
            match state.body {
                // Not poisoned: the handler may read the rest and try again.
                BodyState::Streaming => return Err(VerifyError::BODY_NOT_CONSUMED),
                BodyState::Reading | BodyState::Parked(_) => return Err(VerifyError::IN_PROGRESS),
                BodyState::Failed(code) => {
                    if code == ErrorCode::InvalidSignature && !self.authenticated_early() {
                        tracing::debug!(key_id = %self.key_id(), "tower-hmac: signature does not match");
                    }
                    state.outcome = Outcome::Failed(code);
                    return Err(VerifyError::failed(code));
                }
                BodyState::Complete => {}
            }
            let nonces = match &self.caller {
                _ if now > self.record.deadline => {
                    state.outcome = Outcome::Failed(ErrorCode::StaleRequest);
                    return Err(VerifyError::failed(ErrorCode::StaleRequest));
                }
                Caller::Authenticated | Caller::Deferred(None) => {
                    state.outcome = Outcome::Verified;
                    return Ok(self.proof());
                }
                Caller::Deferred(Some(nonces)) => nonces.clone(),
            };
            state.outcome = Outcome::InProgress;
            nonces
        };

        // If this future is dropped while the store answers, a later call may try again.
        let mut unsettled = Reopen(Some(self));
        let recorded = match self.record.entry(now) {
            Some(entry) => nonces.insert(entry).await,
            // Reusable by design: there is nothing to record.
            None => Ok(NonceStatus::Fresh),
        };
        unsettled.0 = None;
        let outcome = match self.record.outcome(recorded) {
            Ok(()) => Outcome::Verified,
            Err(code) => Outcome::Failed(code),
        };
        self.lock().outcome = outcome;
        match outcome {
            Outcome::Failed(code) => Err(VerifyError::failed(code)),
            _ => Ok(self.proof()),
        }
    }

    fn proof(&self) -> Verified {
        Verified::new(self.record.key_id.clone(), self.body_authenticated)
    }

    /// The response guard's decision, once the handler has answered with `status`.
    pub(crate) fn verdict(&self, status: StatusCode) -> Verdict {
        let mut state = self.lock();
        match state.outcome {
            Outcome::Verified => return Verdict::Verified,
            Outcome::Failed(code) => return Verdict::Replace(code),
            Outcome::NotCalled | Outcome::InProgress => {}
        }
        let early = self.authenticated_early();
        // A deferred request's parked rest must be judged before anything is decided.
        if !early {
            match std::mem::replace(&mut state.body, BodyState::Reading) {
                BodyState::Parked(parked) => return Verdict::Read(parked),
                other => state.body = other,
            }
        }
        let genuine = match state.body {
            // The client's fault, not the handler's: never a 5xx.
            BodyState::Failed(code) => return Verdict::Replace(code),
            // A read of the rest that was abandoned.
            BodyState::Reading => return Verdict::Replace(ErrorCode::BodyIncomplete),
            BodyState::Complete | BodyState::Parked(_) => true,
            BodyState::Streaming => early,
        };
        if !genuine {
            // The handler answered while the body (returned in the response,
            // say) still streams: who sent it is unknown. A forger must not
            // be able to provoke a 5xx or an error log this way.
            tracing::debug!(key_id = %self.key_id(), "tower-hmac: the handler answered before the request could be authenticated");
            return Verdict::Replace(ErrorCode::UnverifiedRequest);
        }
        if status.is_client_error() {
            // A genuine, timely request refused before verify() (an
            // extractor's rejection, an unknown route): the refusal may stand.
            if unix_now() > self.record.deadline {
                return Verdict::Replace(ErrorCode::StaleRequest);
            }
            tracing::debug!(key_id = %self.key_id(), %status, "tower-hmac: unverified client error passed through");
            return Verdict::PassUnverified;
        }
        tracing::error!(
            key_id = %self.key_id(),
            %status,
            "tower-hmac: the handler answered without a successful verify(); \
             the response was replaced by 500"
        );
        Verdict::Replace(ErrorCode::VerificationSkipped)
    }
}

/// Fails the body as incomplete unless disarmed: for a read that is cancelled.
struct Settle<'a>(Option<&'a Shared>);

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.body_settled(Err(ErrorCode::BodyIncomplete));
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
