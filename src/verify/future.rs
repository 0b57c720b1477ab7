use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{
    layer::Config,
    verifier::{problem, Limits, Shared, Verdict},
    ResponseBody, SignedBody, Verifier,
};
use crate::{
    error::ErrorCode,
    observe::{Outcome, Report},
    protocol::{Authorization, BodyDigest, CanonicalRequest},
    Secret, StoreError, StoreFuture,
};

pin_project! {
    /// Response future of [`SignatureService`](super::SignatureService): looks
    /// the key up, runs the handler, then applies the response guard.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<SignedBody>>,
    {
        #[pin]
        state: State<S, B>,
        report: Report,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<SignedBody>>,
    {
        Rejected {
            code: ErrorCode,
        },
        Lookup {
            lookup: StoreFuture<Result<Option<Secret>, StoreError>>,
            pending: Option<Box<Pending<S, B>>>,
        },
        Inner {
            #[pin]
            future: S::Future,
            shared: Arc<Shared>,
        },
        // The handler answered without verifying and left part of the body
        // unread: read it, so the guard can tell a forgery from a bug.
        Draining {
            drain: Pin<Box<dyn Future<Output = Result<BodyDigest, ErrorCode>> + Send>>,
            response: Option<S::Response>,
            shared: Arc<Shared>,
        },
    }
}

/// A request that passed the checks, waiting for its key.
pub(crate) struct Pending<S, B> {
    pub(crate) service: S,
    pub(crate) request: Request<B>,
    pub(crate) auth: Authorization,
    pub(crate) canonical: CanonicalRequest,
    pub(crate) config: Arc<Config>,
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<SignedBody>>,
{
    pub(crate) fn rejected(code: ErrorCode, report: Report) -> Self {
        Self {
            state: State::Rejected { code },
            report,
        }
    }

    /// Waits for the key store, then runs the handler.
    pub(crate) fn lookup(
        lookup: StoreFuture<Result<Option<Secret>, StoreError>>,
        pending: Pending<S, B>,
        report: Report,
    ) -> Self {
        Self {
            report,
            state: State::Lookup {
                lookup,
                // Boxed: only slow key stores get here, and the future stays small.
                pending: Some(Box::new(pending)),
            },
        }
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<SignedBody>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Runs the handler at once, with the key the store had at hand.
    pub(crate) fn found(
        found: Result<Option<Secret>, StoreError>,
        pending: Pending<S, B>,
        report: Report,
    ) -> Self {
        Self {
            state: pending.start(found),
            report,
        }
    }
}

impl<S, B> Pending<S, B>
where
    S: Service<Request<SignedBody>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// With the key store's answer: hand the request to the handler.
    fn start(self, found: Result<Option<Secret>, StoreError>) -> State<S, B> {
        let Self {
            mut service,
            request,
            auth,
            canonical,
            config,
        } = self;
        let (secret, known_key) = match found {
            Ok(Some(secret)) => (secret, true),
            // Carry on with a decoy that matches nothing: an unknown
            // key must behave exactly like a wrong signature, or key
            // ids could be probed by timing or by `100 Continue`.
            Ok(None) => (config.decoy.clone(), false),
            Err(error) => {
                tracing::error!(key_id = %auth.key_id(), %error, "tower-hmac: key store failed");
                return State::Rejected {
                    code: ErrorCode::KeyStoreUnavailable,
                };
            }
        };
        let limits = Limits {
            nonces: config.nonces.clone(),
            deadline: auth
                .time()
                .saturating_add(config.max_skew)
                .saturating_add(config.max_request_duration),
            unread_limit: config.max_unread_body,
            valid_from: auth.time().saturating_sub(config.max_skew),
        };
        let shared = Shared::new(auth, canonical, secret, known_key, limits);
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(Verifier::new(shared.clone()));
        let body = SignedBody::new(body, shared.clone());
        let future = service.call(Request::from_parts(parts, body));
        State::Inner { future, shared }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<SignedBody>, Response = Response<ResBody>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut state = this.state;
        let report = &*this.report;
        let _entered = report.span().enter();
        loop {
            match state.as_mut().project() {
                StateProj::Rejected { code } => {
                    report.finish(Outcome::Rejected(*code));
                    return Poll::Ready(Ok(problem(*code)));
                }
                StateProj::Lookup { lookup, pending } => {
                    let found = ready!(Pin::new(lookup).poll(cx));
                    let pending = pending.take().expect("polled after completion");
                    state.set(pending.start(found));
                }
                StateProj::Inner { future, shared } => {
                    let response = ready!(future.poll(cx))?;
                    match shared.verdict(response.status()) {
                        Verdict::Drain(parked) => {
                            let shared = shared.clone();
                            state.set(State::Draining {
                                drain: Box::pin(parked.drain(shared.unread_limit())),
                                response: Some(response),
                                shared,
                            });
                        }
                        verdict => return Poll::Ready(Ok(conclude(verdict, response, report))),
                    }
                }
                StateProj::Draining {
                    drain,
                    response,
                    shared,
                } => {
                    shared.body_settled(ready!(drain.as_mut().poll(cx)));
                    let response = response.take().expect("polled after completion");
                    let verdict = shared.verdict(response.status());
                    return Poll::Ready(Ok(conclude(verdict, response, report)));
                }
            }
        }
    }
}

/// Applies the guard's verdict to the handler's response, and reports it.
fn conclude<ResBody>(
    verdict: Verdict,
    response: Response<ResBody>,
    report: &Report,
) -> Response<ResponseBody<ResBody>> {
    let (outcome, response) = match verdict {
        Verdict::Verified => (Outcome::Accepted, response.map(ResponseBody::inner)),
        Verdict::PassUnverified => (
            Outcome::UnverifiedClientError,
            response.map(ResponseBody::inner),
        ),
        Verdict::Replace(code) => (Outcome::Rejected(code), problem(code)),
        // Only after a drain, when nothing is parked any more.
        Verdict::Drain(_) => {
            let code = ErrorCode::VerificationSkipped;
            (Outcome::Rejected(code), problem(code))
        }
    };
    report.finish(outcome);
    response
}
