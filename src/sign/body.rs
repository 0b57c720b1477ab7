use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::ChunkedBody;
use crate::BoxError;

pin_project! {
    /// The body a [`SigningService`](super::SigningService) sends: the
    /// caller's own, streamed (as it is, or in signed chunks), or the bytes
    /// it read to hash them.
    pub struct SigningBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Streaming { #[pin] body: B },
        Chunked { #[pin] body: ChunkedBody<B> },
        Buffered { bytes: Option<Bytes> },
    }
}

impl<B> SigningBody<B> {
    pub(crate) fn streaming(body: B) -> Self {
        Self {
            kind: Kind::Streaming { body },
        }
    }

    pub(crate) fn chunked(body: ChunkedBody<B>) -> Self {
        Self {
            kind: Kind::Chunked { body },
        }
    }

    pub(crate) fn buffered(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Buffered {
                bytes: (!bytes.is_empty()).then_some(bytes),
            },
        }
    }
}

impl<B> Body for SigningBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Streaming { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Chunked { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Buffered { bytes } => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Streaming { body } => body.is_end_stream(),
            Kind::Chunked { body } => body.is_end_stream(),
            Kind::Buffered { bytes } => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Streaming { body } => body.size_hint(),
            Kind::Chunked { body } => body.size_hint(),
            Kind::Buffered { bytes } => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

impl<B> std::fmt::Debug for SigningBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Streaming { .. } => "Streaming",
            Kind::Chunked { .. } => "Chunked",
            Kind::Buffered { .. } => "Buffered",
        };
        f.debug_tuple("SigningBody").field(&kind).finish()
    }
}
