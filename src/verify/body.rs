use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::verifier::Shared;
use crate::protocol::{BodyDigest, BodyHasher};

/// A type-erased request body, as the layer keeps it.
pub(crate) type BoxBody = Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send + 'static>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body as the handler sees it: the client's frames, passed
/// through untouched (the very same `Bytes`), hashed on the way.
///
/// When the body ends the digest is handed to the request's
/// [`Verifier`](crate::Verifier). Trailers pass through and are not signed.
/// A body dropped before its end (a handler that never reads it) is kept
/// aside, so that `verify()` can still read the rest.
pub struct SignedBody {
    // `None` only once dropped.
    inner: Option<BoxBody>,
    hasher: Option<BodyHasher>,
    shared: Arc<Shared>,
}

/// The unread rest of a request body and the hash of what was read.
pub(crate) struct Parked {
    body: BoxBody,
    hasher: BodyHasher,
}

impl Parked {
    /// Reads the rest of the body, hashing it.
    pub(crate) async fn drain(mut self) -> Option<BodyDigest> {
        use http_body_util::BodyExt as _;
        while let Some(frame) = self.body.frame().await {
            if let Some(data) = frame.ok()?.data_ref() {
                self.hasher.update(data);
            }
        }
        Some(self.hasher.finish())
    }
}

impl SignedBody {
    pub(crate) fn new<B>(inner: B, shared: Arc<Shared>) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        use http_body_util::BodyExt as _;
        // An empty body can be verified before anyone reads it.
        let empty = inner.is_end_stream() || inner.size_hint().exact() == Some(0);
        let mut body = Self {
            inner: Some(Box::pin(inner.map_err(Into::into))),
            hasher: Some(BodyHasher::new()),
            shared,
        };
        if empty {
            body.finish();
        }
        body
    }

    fn finish(&mut self) {
        if let Some(hasher) = self.hasher.take() {
            self.shared.body_complete(hasher.finish());
        }
    }
}

impl Body for SignedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let inner = this.inner.as_mut().expect("only taken on drop");
        let frame = ready!(inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(hasher)) = (frame.data_ref(), this.hasher.as_mut()) {
                    hasher.update(data);
                }
                // Some readers stop at `is_end_stream` without polling for the end.
                if inner.is_end_stream() {
                    this.finish();
                }
            }
            Some(Err(_)) => {
                if this.hasher.take().is_some() {
                    this.shared.body_failed();
                }
            }
            None => this.finish(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |inner| inner.size_hint())
    }
}

impl Drop for SignedBody {
    fn drop(&mut self) {
        if let (Some(hasher), Some(body)) = (self.hasher.take(), self.inner.take()) {
            self.shared.park(Parked { body, hasher });
        }
    }
}

impl fmt::Debug for SignedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedBody")
            .field("finished", &self.hasher.is_none())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The response body: the handler's own, or a problem+json answer that replaced it.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Problem { body: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn problem(body: Bytes) -> Self {
        Self {
            kind: Kind::Problem { body: Some(body) },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Problem { body } => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Problem { body } => body.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Problem { body } => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Problem { .. } => "Problem",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}
