use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::BufferedBody;
use crate::{verify::ResponseBody, ErrorCode};

type Prepare = Pin<Box<dyn Future<Output = Result<Request<BufferedBody>, ErrorCode>> + Send>>;

pin_project! {
    /// Response future of [`BufferedVerify`](super::BufferedVerify).
    pub struct ResponseFuture<S>
    where
        S: Service<Request<BufferedBody>>,
    {
        #[pin]
        state: State<S>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S>
    where
        S: Service<Request<BufferedBody>>,
    {
        Rejected { code: ErrorCode },
        Preparing { prepare: Prepare, service: Option<S> },
        Ready { request: Option<Request<BufferedBody>>, service: S },
        Inner { #[pin] future: S::Future },
    }
}

impl<S> ResponseFuture<S>
where
    S: Service<Request<BufferedBody>>,
{
    pub(crate) fn rejected(code: ErrorCode) -> Self {
        Self {
            state: State::Rejected { code },
        }
    }

    pub(crate) fn preparing(prepare: Prepare, service: S) -> Self {
        Self {
            state: State::Preparing {
                prepare,
                service: Some(service),
            },
        }
    }
}

impl<S, ResBody> Future for ResponseFuture<S>
where
    S: Service<Request<BufferedBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Rejected { code } => {
                    // Inside `SignatureLayer`, whose guard answers with its own problem.
                    return Poll::Ready(Ok(code.to_response().map(ResponseBody::problem)));
                }
                StateProj::Preparing { prepare, service } => {
                    let next = match ready!(prepare.as_mut().poll(cx)) {
                        Ok(request) => State::Ready {
                            request: Some(request),
                            service: service.take().expect("polled after completion"),
                        },
                        Err(code) => State::Rejected { code },
                    };
                    state.set(next);
                }
                StateProj::Ready { request, service } => {
                    ready!(service.poll_ready(cx))?;
                    let request = request.take().expect("polled after completion");
                    let future = service.call(request);
                    state.set(State::Inner { future });
                }
                StateProj::Inner { future } => {
                    return Poll::Ready(Ok(ready!(future.poll(cx))?.map(ResponseBody::inner)));
                }
            }
        }
    }
}
