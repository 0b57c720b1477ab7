use std::{
    collections::VecDeque,
    pin::Pin,
    task::{ready, Context, Poll},
};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::{
    schemes::hmac_sha256::{chunk_header, chunk_signature},
    Algorithm, BodyDigest, Secret,
};

pin_project! {
    /// A body sent in signed chunks (PROTOCOL §4.6), made by
    /// [`Signer::sign_chunked`](super::Signer::sign_chunked): each data
    /// frame of the inner body becomes one chunk, its data the very same
    /// `Bytes`, between a signed header line and `\r\n`; the end is signed too.
    pub struct ChunkedBody<B> {
        #[pin]
        inner: B,
        algorithm: Algorithm,
        secret: Secret,
        previous: [u8; 32],
        queue: VecDeque<Bytes>,
        trailers: Option<HeaderMap>,
        ended: bool,
    }
}

impl<B> ChunkedBody<B> {
    pub(crate) fn new(inner: B, algorithm: Algorithm, secret: Secret, seed: [u8; 32]) -> Self {
        Self {
            inner,
            algorithm,
            secret,
            previous: seed,
            queue: VecDeque::with_capacity(3),
            trailers: None,
            ended: false,
        }
    }
}

impl<B: Body<Data = Bytes>> Body for ChunkedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        loop {
            if let Some(data) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            if *this.ended {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            let data = match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => data,
                    Err(frame) => {
                        // Trailers end the body: after the last chunk.
                        *this.trailers = frame.into_trailers().ok();
                        Bytes::new()
                    }
                },
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => Bytes::new(),
            };
            let last = data.is_empty();
            let digest = BodyDigest::for_algorithm(*this.algorithm, &data);
            *this.previous = chunk_signature(this.secret, this.previous, &digest);
            this.queue
                .push_back(chunk_header(data.len() as u64, this.previous));
            if !last {
                this.queue.push_back(data);
            }
            this.queue.push_back(Bytes::from_static(b"\r\n"));
            *this.ended = last;
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.queue.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl<B> std::fmt::Debug for ChunkedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedBody")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
