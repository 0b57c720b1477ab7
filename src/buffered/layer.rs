use tower_layer::Layer;

use super::BufferedVerify;

/// Runs an unchanged inner service behind verification: the body is read
/// into memory (up to [`limit`](Self::limit), default 1 MiB; over it the
/// answer is 413 `body_too_large`) and verified, and only a verified request
/// reaches the inner service, as a [`BufferedBody`](super::BufferedBody)
/// with the [`Verified`](crate::Verified) proof in its extensions.
///
/// It must sit inside a [`SignatureLayer`](crate::SignatureLayer).
///
/// ```
/// use axum::{routing::post, Router};
/// use tower_hmac::{BufferedVerifyLayer, InMemoryKeys, SignatureLayer};
///
/// async fn echo(body: String) -> String { body }
///
/// let app: Router = Router::new()
///     .route("/echo", post(echo).layer(BufferedVerifyLayer::new().limit(64 * 1024)))
///     .route_layer(SignatureLayer::new(InMemoryKeys::new()));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BufferedVerifyLayer {
    limit: usize,
}

impl BufferedVerifyLayer {
    /// The default body limit: 1 MiB.
    pub const DEFAULT_LIMIT: usize = 1024 * 1024;

    /// An adapter with the default limit.
    pub fn new() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
        }
    }

    /// The largest body accepted, in bytes.
    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }
}

impl Default for BufferedVerifyLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for BufferedVerifyLayer {
    type Service = BufferedVerify<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BufferedVerify::new(inner, self.limit)
    }
}
