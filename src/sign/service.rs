use std::{
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::Request;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_service::Service;

use super::{ResponseFuture, SignError, Signer, SigningBody};
use crate::{BodyDigest, BoxError};

/// The service made by [`SigningLayer`](super::SigningLayer).
#[derive(Clone, Debug)]
pub struct SigningService<S> {
    inner: S,
    signer: Arc<Signer>,
    max_buffered: usize,
    chunks: bool,
}

impl<S> SigningService<S> {
    pub(crate) fn new(inner: S, signer: Arc<Signer>, max_buffered: usize, chunks: bool) -> Self {
        Self {
            inner,
            signer,
            max_buffered,
            chunks,
        }
    }
}

impl<S, B> Service<Request<B>> for SigningService<S>
where
    S: Service<Request<SigningBody<B>>> + Clone,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let digest = request.extensions().get::<BodyDigest>().copied();
        if let Some(digest) = digest.or_else(|| {
            request
                .body()
                .is_end_stream()
                .then(|| self.signer.digest_of(b""))
        }) {
            return match self.signer.sign_with_digest(&mut request, &digest) {
                Ok(()) => ResponseFuture::called(ready.call(request.map(SigningBody::streaming))),
                Err(error) => ResponseFuture::failed(error.into()),
            };
        }
        if self.chunks {
            return match self.signer.sign_chunked(request) {
                Ok(request) => {
                    ResponseFuture::called(ready.call(request.map(SigningBody::chunked)))
                }
                Err(error) => ResponseFuture::failed(error.into()),
            };
        }
        let (parts, body) = request.into_parts();
        let signer = self.signer.clone();
        let limit = self.max_buffered;
        let prepare = async move {
            let bytes = match Limited::new(body, limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) if error.is::<LengthLimitError>() => {
                    return Err(SignError::BodyTooLarge { limit }.into())
                }
                Err(error) => return Err(error),
            };
            let mut request = Request::from_parts(parts, ());
            signer.sign(&mut request, &bytes)?;
            Ok(request.map(|()| SigningBody::buffered(bytes)))
        };
        ResponseFuture::buffering(Box::pin(prepare), ready)
    }
}
