use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    response::{IntoResponse, Response},
    Json,
};
use bytes::Bytes;
use http::{request::Parts, StatusCode};
use serde::de::DeserializeOwned;

use super::{Verified, Verifier, VerifyError};
use crate::error::ErrorCode;

/// The rejection when a handler asks for a [`Verifier`] on a route that the
/// [`SignatureLayer`](crate::SignatureLayer) does not cover: a server
/// configuration error, answered with 500.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct MissingVerifier;

impl std::fmt::Display for MissingVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "no Verifier in the request extensions: is SignatureLayer installed on this route?",
        )
    }
}

impl std::error::Error for MissingVerifier {}

impl IntoResponse for MissingVerifier {
    fn into_response(self) -> Response {
        tracing::error!("tower-hmac: {self}");
        ErrorCode::VerificationSkipped.into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verifier {
    type Rejection = MissingVerifier;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Verifier>()
            .cloned()
            .ok_or(MissingVerifier)
    }
}

/// Extractor that reads the whole body, verifies it, and yields the bytes
/// with the proof. A forged request is refused before your handler runs.
///
/// The body size limit is axum's (`DefaultBodyLimit`, 2 MB unless changed);
/// over it the answer is 413 `body_too_large`.
///
/// ```
/// use tower_hmac::{VerifiedBytes, VerifiedResponse};
///
/// async fn echo(VerifiedBytes(body, verified): VerifiedBytes) -> VerifiedResponse {
///     verified.respond(body)
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::post(echo);
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedBytes(pub Bytes, pub Verified);

impl<S: Send + Sync> FromRequest<S> for VerifiedBytes {
    type Rejection = VerifyError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Some(verifier) = request.extensions().get::<Verifier>().cloned() else {
            return Err(MissingVerifier.into());
        };
        let bytes = match Bytes::from_request(request, state).await {
            Ok(bytes) => bytes,
            Err(rejection) => {
                let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorCode::BodyTooLarge
                } else {
                    ErrorCode::BodyIncomplete
                };
                return Err(verifier.refuse(code));
            }
        };
        let verified = verifier.verify().await?;
        Ok(Self(bytes, verified))
    }
}

/// Extractor that reads and verifies the body, then parses it as JSON.
///
/// Verification comes first, so a forged request gets 401 however broken
/// its JSON; a verified request with bad JSON gets axum's JSON rejection.
/// The `Content-Type` is not checked.
///
/// ```
/// use serde::Deserialize;
/// use tower_hmac::{VerifiedJson, VerifiedResponse};
///
/// #[derive(Deserialize)]
/// struct Order { item: String }
///
/// async fn order(VerifiedJson(order, verified): VerifiedJson<Order>) -> VerifiedResponse {
///     verified.respond(format!("ordered {}", order.item))
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::post(order);
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedJson<T>(pub T, pub Verified);

/// Why [`VerifiedJson`] refused a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum VerifiedJsonRejection {
    /// Reading or verifying the body failed.
    Verify(VerifyError),
    /// The verified body is not the expected JSON.
    Json(axum::extract::rejection::JsonRejection),
}

impl IntoResponse for VerifiedJsonRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Verify(error) => error.into_response(),
            Self::Json(rejection) => rejection.into_response(),
        }
    }
}

impl<T, S> FromRequest<S> for VerifiedJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = VerifiedJsonRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let VerifiedBytes(bytes, verified) = VerifiedBytes::from_request(request, state)
            .await
            .map_err(VerifiedJsonRejection::Verify)?;
        let Json(value) = Json::from_bytes(&bytes).map_err(VerifiedJsonRejection::Json)?;
        Ok(Self(value, verified))
    }
}

impl From<MissingVerifier> for VerifyError {
    fn from(_: MissingVerifier) -> Self {
        tracing::error!("tower-hmac: {MissingVerifier}");
        VerifyError::failed(ErrorCode::VerificationSkipped)
    }
}
