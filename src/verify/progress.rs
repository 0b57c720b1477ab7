//! How far a request body has been read and judged; shared by the body the
//! handler holds and the per-request state that keeps its unread rest.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame};

use crate::{
    schemes::{BodyCheck, Explanation},
    BoxError, ErrorCode,
};

/// The request body as the layer keeps it, type-erased. With `axum`, an axum
/// `Body` is taken as it is instead of being boxed again.
#[cfg(feature = "axum")]
pub(crate) type InnerBody = axum::body::Body;
/// The request body as the layer keeps it, type-erased.
#[cfg(not(feature = "axum"))]
pub(crate) type InnerBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

pub(crate) fn erase<B>(body: B) -> InnerBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    #[cfg(feature = "axum")]
    return axum::body::Body::new(body);
    #[cfg(not(feature = "axum"))]
    {
        use http_body_util::BodyExt as _;
        body.map_err(Into::into).boxed_unsync()
    }
}

/// The next frame, with the transport's own error (not axum's wrapper).
pub(crate) fn poll_frame(
    body: &mut InnerBody,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    #[cfg(feature = "axum")]
    return Pin::new(body)
        .poll_frame(cx)
        .map_err(axum::Error::into_inner);
    #[cfg(not(feature = "axum"))]
    Pin::new(body).poll_frame(cx)
}

/// The body's judge and its length so far.
pub(crate) struct Progress {
    check: Box<dyn BodyCheck>,
    received: u64,
    declared: Option<u64>,
    explain: bool,
}

/// How a body ended: the verdict, and what explains a refusal (when asked for).
pub(crate) type Settled = (Result<(), ErrorCode>, Option<Explanation>);

impl Progress {
    pub(crate) fn new(check: Box<dyn BodyCheck>, declared: Option<u64>, explain: bool) -> Self {
        Self {
            check,
            received: 0,
            declared,
            explain,
        }
    }

    /// How many bytes of body have been judged.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.check.update(data);
        self.received += data.len() as u64;
    }

    /// Whether the handler reads [`decode`](Self::decode)'s output rather than the wire bytes.
    pub(crate) fn decodes(&self) -> bool {
        self.check.decodes()
    }

    pub(crate) fn decode(
        &mut self,
        data: Bytes,
        out: &mut VecDeque<Bytes>,
    ) -> Result<(), ErrorCode> {
        self.received += data.len() as u64;
        self.check.decode(data, out)
    }

    /// Takes a frame's data nobody will read: judged all the same.
    fn discard(&mut self, data: Bytes, scratch: &mut VecDeque<Bytes>) -> Result<(), ErrorCode> {
        if !self.decodes() {
            self.update(&data);
            return Ok(());
        }
        let result = self.decode(data, scratch);
        scratch.clear();
        result
    }

    /// The scheme's verdict, unless fewer bytes came than were declared (an
    /// HTTP/2 stream reset with NO_ERROR ends a body early without an error).
    pub(crate) fn finish(self) -> Settled {
        match self.declared {
            Some(declared) if declared != self.received => (Err(ErrorCode::BodyIncomplete), None),
            _ => {
                let explanation = self.explain.then(|| self.check.explain());
                let result = self.check.finish();
                (result, explanation.filter(|_| result.is_err()))
            }
        }
    }
}

/// The unread rest of a request body, and how far it was judged.
pub(crate) struct Parked {
    pub(crate) body: InnerBody,
    pub(crate) progress: Progress,
}

impl Parked {
    /// Reads and judges the rest of the body, at most `limit` more bytes.
    pub(crate) async fn read_to_end(self, limit: u64) -> Settled {
        let mut this = self;
        match this.read(limit).await {
            Ok(()) => this.progress.finish(),
            Err(code) => (Err(code), None),
        }
    }

    async fn read(&mut self, limit: u64) -> Result<(), ErrorCode> {
        use http_body_util::BodyExt as _;
        let mut read: u64 = 0;
        let mut scratch = VecDeque::new();
        while let Some(frame) = self.body.frame().await {
            let frame = frame.map_err(|_| ErrorCode::BodyIncomplete)?;
            if let Ok(data) = frame.into_data() {
                read += data.len() as u64;
                if read > limit {
                    return Err(ErrorCode::BodyTooLarge);
                }
                self.progress.discard(data, &mut scratch)?;
            }
        }
        Ok(())
    }
}
