//! What a successful `verify()` yields: the proof, and the response type
//! only a verified handler can build.

use crate::KeyId;

/// Proof that `verify()` succeeded. Only this crate can make one.
#[derive(Debug, Clone)]
pub struct Verified {
    key_id: KeyId,
}

impl Verified {
    pub(crate) fn new(key_id: KeyId) -> Self {
        Self { key_id }
    }

    /// The authenticated key id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Wraps a response in a type that only a verified handler can return.
    ///
    /// A handler declared as returning [`VerifiedResponse`] cannot compile
    /// unless it obtained a `Verified`; the runtime guard stays either way.
    #[cfg(feature = "axum")]
    pub fn respond(&self, response: impl axum::response::IntoResponse) -> VerifiedResponse {
        VerifiedResponse(response.into_response())
    }
}

/// A response from a handler that verified its request. See [`Verified::respond`].
#[cfg(feature = "axum")]
#[derive(Debug)]
pub struct VerifiedResponse(axum::response::Response);

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for VerifiedResponse {
    fn into_response(self) -> axum::response::Response {
        self.0
    }
}
