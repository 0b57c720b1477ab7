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
use crate::protocol::BodyHasher;

pin_project! {
    /// The request body as the handler sees it: the client's frames, passed
    /// through untouched (the very same `Bytes`), hashed on the way.
    ///
    /// When the body ends the digest is handed to the request's
    /// [`Verifier`](crate::Verifier). Trailers pass through and are not signed.
    pub struct SignedBody<B> {
        #[pin]
        inner: B,
        hasher: Option<BodyHasher>,
        shared: Arc<Shared>,
    }
}

impl<B: Body> SignedBody<B> {
    pub(crate) fn new(inner: B, shared: Arc<Shared>) -> Self {
        let mut body = Self {
            inner,
            hasher: Some(BodyHasher::new()),
            shared,
        };
        // An empty body can be verified before anyone reads it.
        if body.inner.is_end_stream() || body.inner.size_hint().exact() == Some(0) {
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

impl<B> Body for SignedBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(hasher)) = (frame.data_ref(), this.hasher.as_mut()) {
                    hasher.update(data);
                }
                // Some readers stop at `is_end_stream` without polling for the end.
                if this.inner.is_end_stream() {
                    if let Some(hasher) = this.hasher.take() {
                        this.shared.body_complete(hasher.finish());
                    }
                }
            }
            Some(Err(_)) => {
                if this.hasher.take().is_some() {
                    this.shared.body_failed();
                }
            }
            None => {
                if let Some(hasher) = this.hasher.take() {
                    this.shared.body_complete(hasher.finish());
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> fmt::Debug for SignedBody<B> {
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
