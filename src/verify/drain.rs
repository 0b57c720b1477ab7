//! Drain, then answer: the unread rest of a refused request's body is read
//! and thrown away (within bounds) before the answer goes out, so that the
//! client, still sending, is there to receive it.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::{header, HeaderMap, HeaderValue, Response, Version};
use http_body::Body as _;

use super::progress::{poll_frame, InnerBody};

/// How much of an unread body is read and thrown away before an answer, and for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainLimits {
    pub(crate) bytes: u64,
    pub(crate) time: Duration,
}

/// Reads a body to its end and throws it away; `true` if the end was reached
/// within the limits, `false` if the rest is left on the connection.
pub(crate) struct Drain {
    body: Option<InnerBody>,
    /// Without a body: whether there was nothing left to read.
    finished: bool,
    left: u64,
    time: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Drain {
    pub(crate) fn new(body: InnerBody, limits: DrainLimits) -> Self {
        Self {
            body: Some(body),
            finished: false,
            left: limits.bytes,
            time: limits.time,
            timer: None,
        }
    }

    /// Nothing to read: the client was told to wait (`Expect: 100-continue`)
    /// and will not send the body unless asked.
    pub(crate) fn skipped() -> Self {
        Self {
            body: None,
            finished: false,
            left: 0,
            time: Duration::ZERO,
            timer: None,
        }
    }

    /// Nothing left to read.
    pub(crate) fn finished() -> Self {
        Self {
            finished: true,
            ..Self::skipped()
        }
    }
}

impl Future for Drain {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(this.finished);
        };
        if body.is_end_stream() {
            return Poll::Ready(true);
        }
        loop {
            match poll_frame(body, cx) {
                Poll::Ready(None) => return Poll::Ready(true),
                Poll::Ready(Some(Err(_))) => return Poll::Ready(false),
                Poll::Ready(Some(Ok(frame))) => {
                    let len = frame.data_ref().map_or(0, |data| data.len() as u64);
                    match this.left.checked_sub(len) {
                        Some(left) => this.left = left,
                        None => return Poll::Ready(false),
                    }
                    if body.is_end_stream() {
                        return Poll::Ready(true);
                    }
                }
                Poll::Pending => {
                    let time = this.time;
                    let timer = this
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(time)));
                    return match timer.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(false),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

/// Whether the client waits for `100 Continue` before sending its body.
pub(crate) fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Says `Connection: close` on HTTP/1 when body was left unread: the
/// connection cannot be reused, and the client must not be surprised.
pub(crate) fn close_if_cut<B>(response: &mut Response<B>, version: Version, cut: bool) {
    if cut && version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}
