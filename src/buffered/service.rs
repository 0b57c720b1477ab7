use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_service::Service;

use super::{BufferedBody, ResponseFuture};
use crate::{verify::ResponseBody, BoxError, ErrorCode, Verifier};

/// The service made by [`BufferedVerifyLayer`](super::BufferedVerifyLayer).
#[derive(Debug, Clone)]
pub struct BufferedVerify<S> {
    inner: S,
    limit: usize,
}

impl<S> BufferedVerify<S> {
    pub(crate) fn new(inner: S, limit: usize) -> Self {
        Self { inner, limit }
    }
}

impl<S, B, ResBody> Service<Request<B>> for BufferedVerify<S>
where
    S: Service<Request<BufferedBody>, Response = Response<ResBody>> + Clone,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S>;

    // Always ready: each request drives its own clone of the inner service to
    // readiness, after its body is in. Reserving capacity here would hold it
    // for a request that has not arrived.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let Some(verifier) = parts.extensions.get::<Verifier>().cloned() else {
            tracing::error!("tower-hmac: BufferedVerifyLayer must sit inside SignatureLayer");
            return ResponseFuture::rejected(ErrorCode::VerificationSkipped);
        };
        let limit = self.limit;
        // A declared length over the limit is refused without reading a byte.
        if body.size_hint().lower() > limit as u64 {
            verifier.refuse(ErrorCode::BodyTooLarge);
            return ResponseFuture::rejected(ErrorCode::BodyTooLarge);
        }
        let prepare = async move {
            let bytes = match Limited::new(body, limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(error) => {
                    let code = if error.is::<LengthLimitError>() {
                        ErrorCode::BodyTooLarge
                    } else {
                        ErrorCode::BodyIncomplete
                    };
                    verifier.refuse(code);
                    return Err(code);
                }
            };
            let verified = verifier.verify().await.map_err(|error| error.code())?;
            parts.extensions.insert(verified);
            Ok(Request::from_parts(parts, BufferedBody::new(bytes)))
        };
        let clone = self.inner.clone();

        // Readiness is taken only once the body is in: a slow upload must not
        // hold a concurrency permit or a buffer slot of the inner service.
        ResponseFuture::preparing(Box::pin(prepare), clone)
    }
}
