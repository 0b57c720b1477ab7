//! The handle a handler verifies its request with, and why that can fail.

use std::{fmt, sync::Arc};

use super::{state::Shared, Verified};
use crate::{ErrorCode, KeyId};

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
///     // Known before the body is read when the request declared its digest.
///     let quota = if verifier.authenticated_key_id().is_some() { 1 << 30 } else { 1 << 20 };
///     let mut body = body;
///     let mut bytes = 0;
///     while let Some(frame) = body.frame().await {
///         // A broken body is noticed by verify() below.
///         let Ok(frame) = frame else { break };
///         bytes += frame.data_ref().map_or(0, |data| data.len());
///         if bytes > quota {
///             return Err(verifier.refuse(tower_hmac::ErrorCode::BodyTooLarge));
///         }
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

    /// The key id the request claims. Not authenticated until `verify()`
    /// succeeds, unless [`authenticated_key_id`](Self::authenticated_key_id) says so.
    pub fn claimed_key_id(&self) -> &KeyId {
        self.shared.key_id()
    }

    /// The key id, if the caller has already proved it holds that key: a
    /// bodiless request, or one that declared its body's digest, is
    /// authenticated before the handler runs. Use it to pick a quota or a
    /// storage place before reading the body; `verify()` still has the
    /// final word on the body itself.
    pub fn authenticated_key_id(&self) -> Option<&KeyId> {
        self.shared.is_authenticated().then(|| self.shared.key_id())
    }

    /// Checks the request and its body, then (unless that was done before
    /// the handler ran) records the nonce so that a replay of this request fails.
    ///
    /// Call it after the body has been read to the end; before that it
    /// returns an error with code `verification_skipped` and may be called
    /// again later. Any other failure is final, and the response guard
    /// answers the request with that failure whatever the handler returns.
    /// After a success, further calls succeed at once.
    pub async fn verify(&self) -> Result<Verified, VerifyError> {
        self.shared.verify().await
    }

    /// Refuses the request with `code` (a body over your limit, say): the
    /// response guard answers with that problem whatever the handler returns.
    /// Returns the error to hand back.
    pub fn refuse(&self, code: ErrorCode) -> VerifyError {
        self.shared.refuse(code);
        VerifyError::failed(code)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("claimed_key_id", self.claimed_key_id())
            .field("authenticated", &self.shared.is_authenticated())
            .finish_non_exhaustive()
    }
}

/// Why `verify()` failed. As an axum response it is the matching problem+json answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyError {
    code: ErrorCode,
    reason: &'static str,
}

impl VerifyError {
    pub(crate) const BODY_NOT_CONSUMED: Self = Self {
        code: ErrorCode::VerificationSkipped,
        reason: "verify() was called before the request body was read to the end",
    };
    pub(crate) const IN_PROGRESS: Self = Self {
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

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for VerifyError {
    fn into_response(self) -> axum::response::Response {
        self.code.into_response()
    }
}
