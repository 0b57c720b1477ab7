use std::sync::Arc;

use tower_layer::Layer;

use super::{Signer, SigningService};

/// Signs every request that goes through a tower client.
///
/// A request whose extensions hold a [`BodyDigest`](crate::BodyDigest)
/// is signed with it and its body streamed as is: hash a file first, then
/// send it. Any other request's body is read into memory (at most
/// [`max_buffered_body`](Self::max_buffered_body), default 8 MiB), hashed,
/// signed and sent, or, with [`stream_in_chunks`](Self::stream_in_chunks),
/// streamed in signed chunks. Either way the digest is declared, so the
/// server authenticates every request before its handler runs.
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
    chunks: bool,
}

impl SigningLayer {
    /// The default for [`max_buffered_body`](Self::max_buffered_body): 8 MiB.
    pub const DEFAULT_MAX_BUFFERED_BODY: usize = 8 * 1024 * 1024;

    /// Signs with `signer`.
    pub fn new(signer: Signer) -> Self {
        Self {
            signer: Arc::new(signer),
            max_buffered: Self::DEFAULT_MAX_BUFFERED_BODY,
            chunks: false,
        }
    }

    /// The largest body read into memory to be hashed; a larger one fails
    /// with [`SignError::BodyTooLarge`](super::SignError::BodyTooLarge)
    /// before anything is sent.
    pub fn max_buffered_body(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }

    /// Streams every body of unknown digest in signed chunks (PROTOCOL
    /// §4.6) instead of reading it into memory to hash it: nothing is
    /// buffered and there is no size limit, and the server still
    /// authenticates the request before its handler runs. Off by default,
    /// because a server must know §4.6 (tower-hmac 0.1 with this release on).
    pub fn stream_in_chunks(mut self, chunks: bool) -> Self {
        self.chunks = chunks;
        self
    }
}

impl<S> Layer<S> for SigningLayer {
    type Service = SigningService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigningService::new(inner, self.signer.clone(), self.max_buffered, self.chunks)
    }
}
