use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{
    layer::Config,
    verifier::{problem, Shared, Verdict},
    ResponseBody, SignedBody, Verifier,
};
use crate::{
    error::ErrorCode,
    protocol::{Authorization, CanonicalRequest},
    Secret, StoreError, StoreFuture,
};

pin_project! {
    /// Response future of [`SignatureService`](super::SignatureService): looks
    /// the key up, runs the handler, then applies the response guard.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<SignedBody<B>>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<SignedBody<B>>>,
    {
        Rejected {
            code: ErrorCode,
        },
        Lookup {
            lookup: StoreFuture<Result<Option<Secret>, StoreError>>,
            pending: Option<Pending<S, B>>,
        },
        Inner {
            #[pin]
            future: S::Future,
            shared: Arc<Shared>,
        },
    }
}

struct Pending<S, B> {
    service: S,
    request: Request<B>,
    auth: Authorization,
    canonical: CanonicalRequest,
    config: Arc<Config>,
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<SignedBody<B>>>,
{
    pub(crate) fn rejected(code: ErrorCode) -> Self {
        Self {
            state: State::Rejected { code },
        }
    }

    pub(crate) fn lookup(
        lookup: StoreFuture<Result<Option<Secret>, StoreError>>,
        service: S,
        request: Request<B>,
        auth: Authorization,
        canonical: CanonicalRequest,
        config: Arc<Config>,
    ) -> Self {
        Self {
            state: State::Lookup {
                lookup,
                pending: Some(Pending {
                    service,
                    request,
                    auth,
                    canonical,
                    config,
                }),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<SignedBody<B>>, Response = Response<ResBody>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Rejected { code } => return Poll::Ready(Ok(problem(*code))),
                StateProj::Lookup { lookup, pending } => {
                    let found = ready!(Pin::new(lookup).poll(cx));
                    let Pending {
                        mut service,
                        request,
                        auth,
                        canonical,
                        config,
                    } = pending.take().expect("polled after completion");
                    let secret = match found {
                        Ok(Some(secret)) => secret,
                        Ok(None) => {
                            tracing::debug!(key_id = %auth.key_id(), "tower-hmac: unknown key id");
                            state.set(State::Rejected {
                                code: ErrorCode::InvalidSignature,
                            });
                            continue;
                        }
                        Err(error) => {
                            tracing::error!(key_id = %auth.key_id(), %error, "tower-hmac: key store failed");
                            state.set(State::Rejected {
                                code: ErrorCode::KeyStoreUnavailable,
                            });
                            continue;
                        }
                    };
                    let deadline = auth
                        .time()
                        .saturating_add(config.max_skew)
                        .saturating_add(config.max_request_duration);
                    let shared =
                        Shared::new(auth, canonical, secret, config.nonces.clone(), deadline);
                    let (mut parts, body) = request.into_parts();
                    parts.extensions.insert(Verifier::new(shared.clone()));
                    let body = SignedBody::new(body, shared.clone());
                    let future = service.call(Request::from_parts(parts, body));
                    state.set(State::Inner { future, shared });
                }
                StateProj::Inner { future, shared } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(match shared.verdict() {
                        Verdict::Pass => response.map(ResponseBody::inner),
                        Verdict::Replace(code) => problem(code),
                    }));
                }
            }
        }
    }
}
