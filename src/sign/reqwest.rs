//! Signing for reqwest (feature `reqwest`): a `reqwest-middleware`
//! middleware that signs every request a reqwest client sends.

use std::sync::Arc;

use http::{Extensions, Request};

use super::{SignError, Signer};
use crate::BodyDigest;

/// Signs every request of a [`reqwest_middleware::ClientWithMiddleware`],
/// the way [`SigningLayer`](super::SigningLayer) does for tower clients.
///
/// - A body in memory (`.body(bytes)`, `.json(…)`) is hashed and declared in
///   `Content-Digest`, so the server authenticates the request before its
///   handler runs.
/// - A streamed body is signed with the [`BodyDigest`] you put in the
///   request's extensions (`.with_extension(digest)`), or, with
///   [`stream_in_chunks`](Self::stream_in_chunks), sent in signed chunks.
///   A streamed body with neither fails with [`SignError::UnknownDigest`].
///
/// Every pass through the middleware signs afresh, with a new time and
/// nonce: put it after a retry middleware (`.with(retry).with(signing)`),
/// so that each retry is a new signed request rather than a replay.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use tower_hmac::{sign::reqwest::SigningMiddleware, Secret, Signer};
///
/// let signer = Signer::new("7".parse()?, Secret::from_base64(&std::env::var("KEY_7")?)?);
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(SigningMiddleware::new(signer))
///     .build();
/// let response = client.post("http://127.0.0.1:3000/echo").body("hello").send().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SigningMiddleware {
    signer: Arc<Signer>,
    chunks: bool,
}

impl SigningMiddleware {
    /// Signs with `signer`.
    pub fn new(signer: Signer) -> Self {
        Self {
            signer: Arc::new(signer),
            chunks: false,
        }
    }

    /// Sends streamed bodies without a [`BodyDigest`] extension in signed
    /// chunks (PROTOCOL §4.6) instead of failing.
    pub fn stream_in_chunks(mut self, chunks: bool) -> Self {
        self.chunks = chunks;
        self
    }

    fn sign(
        &self,
        request: &mut reqwest::Request,
        extensions: &Extensions,
    ) -> Result<(), SignError> {
        let mut head = Request::new(());
        *head.method_mut() = request.method().clone();
        *head.uri_mut() = request
            .url()
            .as_str()
            .parse()
            .map_err(|_| SignError::NoHost)?;
        *head.headers_mut() = std::mem::take(request.headers_mut());
        let body = request.body_mut().take();
        let in_memory = match &body {
            None => Some(self.signer.digest_of(b"")),
            Some(body) => body.as_bytes().map(|body| self.signer.digest_of(body)),
        };
        let digest = in_memory.or_else(|| extensions.get::<BodyDigest>().copied());
        let result = match (digest, body) {
            (Some(digest), body) => {
                let signed = self.signer.sign_with_digest(&mut head, &digest);
                *request.body_mut() = body;
                signed
            }
            (None, Some(body)) if self.chunks => {
                match self.signer.sign_chunked(head.map(|()| body)) {
                    Ok(chunked) => {
                        let (parts, body) = chunked.into_parts();
                        *request.body_mut() = Some(reqwest::Body::wrap(body));
                        head = Request::from_parts(parts, ());
                        Ok(())
                    }
                    Err(error) => return Err(error),
                }
            }
            (None, body) => {
                *request.body_mut() = body;
                Err(SignError::UnknownDigest)
            }
        };
        *request.headers_mut() = std::mem::take(head.headers_mut());
        result
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for SigningMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        self.sign(&mut request, extensions)
            .map_err(reqwest_middleware::Error::middleware)?;
        next.run(request, extensions).await
    }
}
