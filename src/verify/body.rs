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
use crate::{
    error::ErrorCode,
    protocol::{BodyDigest, BodyHasher},
};

/// The request body as the layer keeps it: type-erased by axum's `Body`,
/// which takes an axum `Body` as it is instead of boxing it again.
type InnerBody = axum::body::Body;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body as the handler sees it: the client's frames, passed
/// through untouched (the very same `Bytes`), hashed on the way.
///
/// When the body ends the digest is handed to the request's
/// [`Verifier`](crate::Verifier). Trailers pass through and are not signed.
/// A body dropped before its end (a handler that never reads it) is kept
/// aside, so that `verify()` or the response guard can read the rest.
/// A body shorter than its declared length fails as `body_incomplete`; data
/// after the body said it had ended fails the request as `invalid_signature`.
pub struct SignedBody {
    // `None` only once dropped.
    inner: Option<InnerBody>,
    progress: Option<Progress>,
    shared: Arc<Shared>,
}

/// How far the hashing has got; `None` in `SignedBody` once the body ended.
pub(crate) struct Progress {
    hasher: BodyHasher,
    received: u64,
    declared: Option<u64>,
}

impl Progress {
    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.received += data.len() as u64;
    }

    /// The digest, unless fewer bytes came than were declared (an HTTP/2
    /// stream reset with NO_ERROR ends a body early without an error).
    fn finish(self) -> Result<BodyDigest, ErrorCode> {
        match self.declared {
            Some(declared) if declared != self.received => Err(ErrorCode::BodyIncomplete),
            // Most requests have no body: skip hashing nothing.
            _ if self.received == 0 => Ok(BodyDigest::EMPTY),
            _ => Ok(self.hasher.finish()),
        }
    }
}

/// The unread rest of a request body and the hash of what was read.
pub(crate) struct Parked {
    body: InnerBody,
    progress: Progress,
}

impl Parked {
    /// Reads and hashes the rest of the body, at most `limit` more bytes.
    pub(crate) async fn drain(mut self, limit: u64) -> Result<BodyDigest, ErrorCode> {
        use http_body_util::BodyExt as _;
        let mut drained: u64 = 0;
        while let Some(frame) = self.body.frame().await {
            let frame = frame.map_err(|_| ErrorCode::BodyIncomplete)?;
            if let Some(data) = frame.data_ref() {
                drained += data.len() as u64;
                if drained > limit {
                    return Err(ErrorCode::BodyTooLarge);
                }
                self.progress.update(data);
            }
        }
        self.progress.finish()
    }
}

impl SignedBody {
    pub(crate) fn new<B>(inner: B, shared: Arc<Shared>) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let declared = inner.size_hint().exact();
        // An empty body can be verified before anyone reads it.
        let empty = inner.is_end_stream() || declared == Some(0);
        let mut body = Self {
            inner: Some(InnerBody::new(inner)),
            progress: Some(Progress {
                hasher: BodyHasher::new(),
                received: 0,
                declared,
            }),
            shared,
        };
        if empty {
            body.finish();
        }
        body
    }

    fn finish(&mut self) {
        if let Some(progress) = self.progress.take() {
            self.shared.body_settled(progress.finish());
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
        // `into_inner`: the handler sees the transport's own error, not axum's wrapper.
        let frame = ready!(Pin::new(&mut *inner).poll_frame(cx))
            .map(|frame| frame.map_err(axum::Error::into_inner));
        match &frame {
            Some(Ok(frame)) => {
                match (frame.data_ref(), this.progress.as_mut()) {
                    (Some(data), Some(progress)) => progress.update(data),
                    // The body said it had ended, then sent more: what was
                    // verified is not what the handler reads.
                    (Some(data), None) if !data.is_empty() => this.shared.body_overran(),
                    _ => {}
                }
                // Some readers stop at `is_end_stream` without polling for the end.
                if inner.is_end_stream() {
                    this.finish();
                }
            }
            Some(Err(_)) => {
                if this.progress.take().is_some() {
                    this.shared.body_settled(Err(ErrorCode::BodyIncomplete));
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
        if let (Some(progress), Some(body)) = (self.progress.take(), self.inner.take()) {
            self.shared.park(Parked { body, progress });
        }
    }
}

impl fmt::Debug for SignedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedBody")
            .field("finished", &self.progress.is_none())
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
