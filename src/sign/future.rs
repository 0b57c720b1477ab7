use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use http::Request;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::SigningBody;

use crate::BoxError;
type Prepare<B> = Pin<Box<dyn Future<Output = Result<Request<SigningBody<B>>, BoxError>> + Send>>;

pin_project! {
    /// Response future of [`SigningService`](super::SigningService).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<SigningBody<B>>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<SigningBody<B>>>,
    {
        Failed { error: Option<BoxError> },
        Buffering { prepare: Prepare<B>, service: Option<S> },
        Called { #[pin] future: S::Future },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<SigningBody<B>>>,
{
    pub(crate) fn failed(error: BoxError) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }

    pub(crate) fn called(future: S::Future) -> Self {
        Self {
            state: State::Called { future },
        }
    }

    pub(crate) fn buffering(prepare: Prepare<B>, service: S) -> Self {
        Self {
            state: State::Buffering {
                prepare,
                service: Some(service),
            },
        }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<Request<SigningBody<B>>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Failed { error } => {
                    return Poll::Ready(Err(error.take().expect("polled after completion")));
                }
                StateProj::Buffering { prepare, service } => {
                    let next = match ready!(prepare.as_mut().poll(cx)) {
                        Ok(request) => {
                            let mut service = service.take().expect("polled after completion");
                            State::Called {
                                future: service.call(request),
                            }
                        }
                        Err(error) => State::Failed { error: Some(error) },
                    };
                    state.set(next);
                }
                StateProj::Called { future } => {
                    return future.poll(cx).map_err(Into::into);
                }
            }
        }
    }
}
