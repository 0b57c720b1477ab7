use std::sync::Arc;

use tower_layer::Layer;

use super::{Signer, SigningService};

/// Signs every request that goes through a tower client.
///
/// A request whose extensions hold a [`BodyDigest`](crate::BodyDigest)
/// is signed with it and its body streamed as is: hash a file first, then
/// send it. Any other request's body is read into memory (at most
/// [`max_buffered_body`](Self::max_buffered_body), default 8 MiB), hashed,
/// signed and sent.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper_util::{client::legacy::Client, rt::TokioExecutor};
/// use tower::{Service, ServiceBuilder, ServiceExt};
/// use tower_hmac::{sign::SigningLayer, Secret, Signer};
///
/// let signer = Signer::new("7".parse()?, Secret::from_base64("c2l4dGVlbi1ieXRlcy1sb25nLXNlY3JldA==")?);
/// let mut client = ServiceBuilder::new()
///     .layer(SigningLayer::new(signer))
///     .service(Client::builder(TokioExecutor::new()).build_http());
/// let request = http::Request::post("http://127.0.0.1:3000/echo").body(Full::new(Bytes::from("hi")))?;
/// let response = client.ready().await?.call(request).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SigningLayer {
    signer: Arc<Signer>,
    max_buffered: usize,
}

impl SigningLayer {
    /// The default for [`max_buffered_body`](Self::max_buffered_body): 8 MiB.
    pub const DEFAULT_MAX_BUFFERED_BODY: usize = 8 * 1024 * 1024;

    /// Signs with `signer`.
    pub fn new(signer: Signer) -> Self {
        Self {
            signer: Arc::new(signer),
            max_buffered: Self::DEFAULT_MAX_BUFFERED_BODY,
        }
    }

    /// The largest body read into memory to be hashed; a larger one fails
    /// with [`SignError::BodyTooLarge`](super::SignError::BodyTooLarge)
    /// before anything is sent.
    pub fn max_buffered_body(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }
}

impl<S> Layer<S> for SigningLayer {
    type Service = SigningService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigningService::new(inner, self.signer.clone(), self.max_buffered)
    }
}
