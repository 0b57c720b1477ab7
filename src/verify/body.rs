use std::{
    collections::VecDeque,
    fmt,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

use super::{
    progress::{erase, poll_frame, InnerBody, Parked, Progress},
    state::Shared,
};
use crate::{BoxError, ErrorCode};

/// The request body as the handler sees it: the client's frames, passed
/// through untouched (the very same `Bytes`), judged on the way by the
/// request's scheme (for `HMAC-SHA256`, hashed with SHA-256).
///
/// When the body ends the scheme's verdict is handed to the request's
/// [`Verifier`](crate::Verifier). Trailers pass through and are not signed.
/// A body dropped before its end (a handler that never reads it) is kept
/// aside, so that `verify()` or the response guard can read the rest.
/// A body shorter than its declared length fails as `body_incomplete`; data
/// after the body said it had ended fails the request as `invalid_signature`.
pub struct SignedBody {
    // `None` only once dropped.
    inner: Option<InnerBody>,
    // `None` once the body ended.
    progress: Option<Progress>,
    shared: Arc<Shared>,
    // Decoded bytes not yet handed on, for a scheme that frames its body.
    decoded: VecDeque<Bytes>,
    // A scheme refused the body mid-stream; the error has been handed on.
    failed: bool,
}

impl SignedBody {
    /// `progress` is `None` for a bodiless request, settled already.
    pub(crate) fn new<B>(inner: B, progress: Option<Progress>, shared: Arc<Shared>) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self {
            inner: Some(erase(inner)),
            progress,
            shared,
            decoded: VecDeque::new(),
            failed: false,
        }
    }

    fn finish(&mut self) {
        if let Some(progress) = self.progress.take() {
            self.shared.settle(progress.finish());
        }
    }

    fn decodes(&self) -> bool {
        self.progress.as_ref().is_some_and(Progress::decodes)
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
        loop {
            if let Some(data) = this.decoded.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            if this.failed {
                return Poll::Ready(None);
            }
            let inner = this.inner.as_mut().expect("only taken on drop");
            let frame = match ready!(poll_frame(inner, cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => {
                    if this.progress.take().is_some() {
                        this.shared.body_settled(Err(ErrorCode::BodyIncomplete));
                    }
                    return Poll::Ready(Some(Err(error)));
                }
                None => {
                    this.finish();
                    return Poll::Ready(None);
                }
            };
            let ended = inner.is_end_stream();
            match this.progress.as_mut() {
                // A framed body: the handler reads what the frames carry.
                Some(progress) if progress.decodes() && frame.is_data() => {
                    let data = frame.into_data().unwrap_or_default();
                    if let Err(code) = progress.decode(data, &mut this.decoded) {
                        // Nothing from a refused body reaches the handler after its error.
                        this.decoded.clear();
                        this.progress = None;
                        this.failed = true;
                        this.shared.body_settled(Err(code));
                        if !ended {
                            // The rest stays on the connection: say so in the answer.
                            this.shared.cut();
                        }
                        return Poll::Ready(Some(Err(code.detail().into())));
                    }
                    if ended {
                        this.finish();
                    }
                    continue;
                }
                Some(progress) => {
                    if let Some(data) = frame.data_ref() {
                        progress.update(data);
                    }
                }
                // The body said it had ended, then sent more: what was
                // verified is not what the handler reads.
                None if frame.data_ref().is_some_and(|data| !data.is_empty()) => {
                    this.shared.body_overran();
                }
                None => {}
            }
            // Some readers stop at `is_end_stream` without polling for the end.
            if ended {
                this.finish();
            }
            return Poll::Ready(Some(Ok(frame)));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoded.is_empty()
            && (self.failed
                || self
                    .inner
                    .as_ref()
                    .is_none_or(|inner| inner.is_end_stream()))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            None => SizeHint::with_exact(0),
            // The wire length is not the decoded length.
            Some(_) if self.decodes() => SizeHint::default(),
            Some(inner) => inner.size_hint(),
        }
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
        Problem { #[pin] body: Full<Bytes> },
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
            kind: Kind::Problem {
                body: Full::new(body),
            },
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
            KindProj::Problem { body } => body.poll_frame(cx).map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Problem { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Problem { body } => body.size_hint(),
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
