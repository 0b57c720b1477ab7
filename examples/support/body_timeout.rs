//! A request body that fails when its next piece is too long in coming,
//! and, unlike tower-http's `TimeoutBody` (0.7), passes on what the body
//! knows of its length and end: without that, a layer behind it cannot
//! tell that an HTTP/2 `GET` has no body.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Duration,
};

use http::Request;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{sleep, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// `inner`, failing once `timeout` passes without its next frame.
    pub struct TimedBody<B> {
        #[pin]
        inner: B,
        #[pin]
        waiting: Option<Sleep>,
        timeout: Duration,
    }
}

impl<B> TimedBody<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            waiting: None,
            timeout,
        }
    }
}

/// Wraps every request body in a [`TimedBody`] of `timeout`.
pub fn with_body_timeout<B>(
    timeout: Duration,
) -> impl Fn(Request<B>) -> Request<TimedBody<B>> + Clone {
    move |request: Request<B>| request.map(|body| TimedBody::new(body, timeout))
}

impl<B> Body for TimedBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            this.waiting.set(None);
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if this.waiting.is_none() {
            this.waiting.set(Some(sleep(*this.timeout)));
        }
        let waiting = this.waiting.as_pin_mut().expect("set just above");
        ready!(waiting.poll(cx));
        Poll::Ready(Some(Err("the request body timed out".into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
