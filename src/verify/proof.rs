//! What a successful `verify()` yields: the proof, and the response type
//! only a verified handler can build.

use crate::KeyId;

/// Proof that `verify()` succeeded. Only this crate can make one.
#[derive(Debug, Clone)]
pub struct Verified {
    key_id: KeyId,
    body_authenticated: bool,
}

impl Verified {
    pub(crate) fn new(key_id: KeyId, body_authenticated: bool) -> Self {
        Self {
            key_id,
            body_authenticated,
        }
    }

    /// The authenticated key id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Whether the signature covers the body, so that the body is the one
    /// the key holder sent. Always true for the native scheme. False only
    /// for a SigV4 request with an unsigned payload (`UNSIGNED-PAYLOAD`,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`), which a server accepts only
    /// after `SigV4::allow_unsigned_payload(true)`: the caller is
    /// authenticated, and the body at most matched its checksum, which
    /// anyone on the path could have recomputed. Over TLS that is what the
    /// AWS SDKs send by default.
    pub fn body_authenticated(&self) -> bool {
        self.body_authenticated
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
