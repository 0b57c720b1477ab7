use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context as TaskContext, Poll},
};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, Version};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{
    drain::{close_if_cut, expects_continue, Drain, DrainLimits},
    layer::Config,
    progress::{erase, Progress, Settled},
    service::is_bodiless,
    state::{Caller, ReplayRecord, Shared, Verdict},
    ResponseBody, SignedBody, Verifier,
};
use crate::{
    clock::unix_now,
    observe::{Outcome, Report},
    replay::{new_request_id, NonceStatus},
    schemes::{Authentication, BodyCheck, Claim, Explanation, Refusal, Scheme},
    BoxError, ErrorCode, Secret, StoreError, StoreFuture,
};

type Lookup = StoreFuture<Result<Option<Secret>, StoreError>>;
type Insert = StoreFuture<Result<NonceStatus, StoreError>>;
type Read = Pin<Box<dyn Future<Output = Settled> + Send>>;

pin_project! {
    /// Response future of [`SignatureService`](super::SignatureService):
    /// looks the key up, authenticates what it can, runs the handler, then
    /// applies the response guard. A refusal drains the body before it is sent.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<SignedBody>>,
    {
        #[pin]
        state: State<S, B>,
        report: Report,
        // How a refusal goes out: the challenge on a 401, the scheme's shape.
        refuser: Refuser,
        version: Version,
        context: Context,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<SignedBody>>,
    {
        // Only while the future is being built.
        Empty,
        // Reading and throwing away the unread body, then answering.
        Draining {
            #[pin]
            drain: Drain,
            answer: Option<Answer<S::Response>>,
            cut: bool,
        },
        Lookup {
            lookup: Lookup,
            waiting: Option<Box<Waiting<S, B>>>,
        },
        // Authenticated: recording the nonce before the handler runs.
        Recording {
            insert: Insert,
            recorded: Option<Box<Recorded<S, B>>>,
        },
        Inner {
            #[pin]
            future: S::Future,
            shared: Arc<Shared>,
        },
        // The handler answered without verifying a request that can only be
        // judged at its end, and left part of the body unread: read it.
        Reading {
            read: Read,
            response: Option<S::Response>,
            shared: Arc<Shared>,
        },
    }
}

/// What goes out once the body is drained.
enum Answer<R> {
    Inner(R, Outcome),
    Problem(ErrorCode, Option<Explanation>),
}

/// A request that passed the checks that need no key, before its key is known.
pub(crate) struct Pending<B> {
    pub(crate) request: Request<B>,
    pub(crate) claim: Box<dyn Claim>,
    /// The Unix second the request was claimed at.
    pub(crate) now: u64,
}

/// A pending request whose key store answers later, with what it needs then.
pub(crate) struct Waiting<S, B> {
    pub(crate) service: S,
    pub(crate) pending: Pending<B>,
    pub(crate) config: Arc<Config>,
}

/// An authenticated request waiting for the nonce store, with the ready
/// service it will be handed to.
struct Recorded<S, B> {
    service: S,
    ready: Ready<B>,
}

/// The inner service a decided request goes to. A request decided within
/// `call` borrows the service `poll_ready` readied, and takes it only when
/// it must wait for the nonce store or is refused; one decided later owns
/// its own.
pub(crate) enum ServiceFor<'a, S> {
    /// The layer's ready service, and how to take it, leaving a clone (a
    /// function, so that the future needs no `S: Clone` bound).
    Borrowed(&'a mut S, fn(&mut S) -> S),
    Owned(S),
}

impl<S> ServiceFor<'_, S> {
    fn call<R>(self, request: R) -> S::Future
    where
        S: Service<R>,
    {
        match self {
            Self::Borrowed(service, _) => service.call(request),
            Self::Owned(mut service) => service.call(request),
        }
    }

    fn keep(self) -> S {
        match self {
            Self::Borrowed(service, take) => take(service),
            Self::Owned(service) => service,
        }
    }
}

/// A request cleared to reach the handler.
struct Ready<B> {
    request: Request<B>,
    record: ReplayRecord,
    caller: Caller,
    check: Box<dyn BodyCheck>,
    bodiless: bool,
    unread_limit: u64,
    explain: bool,
}

/// What comes of a request once its key is known. Short-lived, on the stack.
#[allow(clippy::large_enum_variant)]
enum Next<B> {
    Refuse(ErrorCode, B, Option<Explanation>),
    Record(Insert, Ready<B>),
    Call(Ready<B>),
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<SignedBody>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn new(request: &Request<B>, drain: DrainLimits, refuser: Refuser, report: Report) -> Self {
        let context = Context {
            // Only a request with a body can be asked for it.
            expect_continue: !is_bodiless(request) && expects_continue(request.headers()),
            drain,
        };
        Self {
            state: State::Empty,
            report,
            refuser,
            version: request.version(),
            context,
        }
    }

    /// Refused before the handler: drain the body, then answer `code`.
    pub(crate) fn refused(
        code: ErrorCode,
        request: Request<B>,
        config: &Config,
        refuser: Refuser,
        report: Report,
    ) -> Self {
        let mut future = Self::new(&request, config.drain, refuser, report);
        future.state = future.context.refusal(code, request.into_body(), None);
        future
    }

    /// Waits for the key store, then goes on.
    pub(crate) fn lookup(
        lookup: Lookup,
        waiting: Waiting<S, B>,
        refuser: Refuser,
        report: Report,
    ) -> Self {
        let mut future = Self::new(
            &waiting.pending.request,
            waiting.config.drain,
            refuser,
            report,
        );
        future.state = State::Lookup {
            lookup,
            // Boxed: only slow key stores get here, and the future stays small.
            waiting: Some(Box::new(waiting)),
        };
        future
    }

    /// Goes on at once, with the key the store had at hand: the common
    /// case, decided without cloning the service.
    pub(crate) fn found(
        found: Result<Option<Secret>, StoreError>,
        pending: Pending<B>,
        config: &Config,
        service: ServiceFor<'_, S>,
        refuser: Refuser,
        report: Report,
    ) -> Self {
        let mut future = Self::new(&pending.request, config.drain, refuser, report);
        future.state = future
            .context
            .next(pending.authenticate(config, found), service);
        future
    }
}

/// What every state of one request needs to know of it.
#[derive(Clone, Copy)]
struct Context {
    /// The client waits for `100 Continue` before it sends the body.
    expect_continue: bool,
    drain: DrainLimits,
}

impl Context {
    fn refusal<S, B>(
        &self,
        code: ErrorCode,
        body: B,
        explanation: Option<Explanation>,
    ) -> State<S, B>
    where
        S: Service<Request<SignedBody>>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // Not asked for, the body is not sent: never ask for a refused one.
        let drain = if self.expect_continue {
            Drain::skipped()
        } else {
            Drain::new(erase(body), self.drain)
        };
        State::Draining {
            drain,
            answer: Some(Answer::Problem(code, explanation)),
            cut: false,
        }
    }

    fn next<S, B>(&self, next: Next<B>, service: ServiceFor<'_, S>) -> State<S, B>
    where
        S: Service<Request<SignedBody>>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match next {
            Next::Refuse(code, body, explanation) => {
                // Let go of the readied service, and whatever its readiness
                // holds (a concurrency permit, say), rather than keep it idle.
                drop(service.keep());
                self.refusal(code, body, explanation)
            }
            Next::Record(insert, ready) => State::Recording {
                insert,
                recorded: Some(Box::new(Recorded {
                    service: service.keep(),
                    ready,
                })),
            },
            Next::Call(ready) => ready.call(service),
        }
    }

    /// The response guard: what becomes of the handler's response.
    fn guard<S, B, ResBody>(
        &self,
        response: Response<ResBody>,
        shared: Arc<Shared>,
        report: &mut Report,
    ) -> State<S, B>
    where
        S: Service<Request<SignedBody>, Response = Response<ResBody>>,
    {
        let answer = match shared.verdict(response.status()) {
            Verdict::Read(parked) => {
                let limit = shared.unread_limit();
                return State::Reading {
                    read: Box::pin(parked.read_to_end(limit)),
                    response: Some(response),
                    shared,
                };
            }
            Verdict::Verified => Answer::Inner(response, Outcome::Accepted),
            Verdict::PassUnverified => Answer::Inner(response, Outcome::UnverifiedClientError),
            Verdict::Replace(code) => Answer::Problem(code, shared.take_explanation()),
        };
        let (authenticated, parked, cut) = shared.answered();
        if authenticated {
            report.authenticated();
        }
        let drain = match parked {
            None => Drain::finished(),
            // Never asked for: the client is not sending it.
            Some(parked) if self.expect_continue && parked.progress.received() == 0 => {
                Drain::skipped()
            }
            Some(parked) => Drain::new(parked.body, self.drain),
        };
        State::Draining {
            drain,
            answer: Some(answer),
            cut,
        }
    }
}

impl<B> Pending<B>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// With the key store's answer: authenticate as far as the head allows.
    fn authenticate(self, config: &Config, found: Result<Option<Secret>, StoreError>) -> Next<B> {
        let Self {
            request,
            claim,
            now,
        } = self;
        let key_id = claim.key_id().clone();
        let (secret, known_key) = match found {
            Ok(Some(secret)) => (secret, true),
            // Carry on with a decoy that matches nothing: an unknown key
            // must behave exactly like a wrong signature, or key ids could
            // be probed by timing.
            Ok(None) => (config.decoy.clone(), false),
            Err(error) => {
                tracing::error!(%key_id, %error, "tower-hmac: key store failed");
                return Next::Refuse(ErrorCode::KeyStoreUnavailable, request.into_body(), None);
            }
        };
        let replay = claim.replay();
        let record = ReplayRecord {
            key_id,
            nonce: replay.nonce.cloned(),
            signed_at: replay.signed_at,
            deadline: replay
                .valid_until
                .saturating_add(config.max_request_duration),
            valid_from: replay.valid_from,
            // Only a nonce store reads it.
            request_id: if config.nonces.is_some() {
                new_request_id()
            } else {
                0
            },
        };
        // A request reusable by design (a presigned URL) records nothing.
        let nonces = config.nonces.as_ref().filter(|_| record.nonce.is_some());
        let bodiless = is_bodiless(&request);
        // Only what a refusal for a wrong signature may say.
        let explanation = config.explain.then(|| {
            let mut explanation = claim.explain(bodiless);
            explanation.insert(0, ("key_id", record.key_id.to_string()));
            explanation
        });
        let (caller, check) = match claim.authenticate(&secret, bodiless) {
            Authentication::Refused(code) => {
                let explanation = explanation.filter(|_| code == ErrorCode::InvalidSignature);
                if !known_key {
                    tracing::debug!(key_id = %record.key_id, "tower-hmac: unknown key id");
                }
                tracing::debug!(key_id = %record.key_id, %code, "tower-hmac: refused before the handler");
                return Next::Refuse(code, request.into_body(), explanation);
            }
            // A decoy cannot match; this only guards against a scheme that ignores its key.
            Authentication::Authenticated(_) if !known_key => {
                return Next::Refuse(
                    ErrorCode::InvalidSignature,
                    request.into_body(),
                    explanation,
                );
            }
            Authentication::Authenticated(check) => (Caller::Authenticated, check),
            Authentication::Deferred(_) if config.require_early => {
                tracing::debug!(key_id = %record.key_id, "tower-hmac: early authentication required");
                return Next::Refuse(
                    ErrorCode::EarlyAuthenticationRequired,
                    request.into_body(),
                    None,
                );
            }
            Authentication::Deferred(check) => (Caller::Deferred(nonces.cloned()), check),
        };
        let authenticated = matches!(caller, Caller::Authenticated);
        let ready = Ready {
            request,
            record,
            caller,
            check,
            bodiless,
            unread_limit: config.max_unread_body,
            explain: config.explain,
        };
        if !authenticated {
            return Next::Call(ready);
        }
        // Recorded as soon as the caller is known: a replay never reaches the handler.
        let Some(nonces) = nonces else {
            return Next::Call(ready);
        };
        let Some(entry) = ready.record.entry(now) else {
            return Next::Call(ready);
        };
        match nonces.insert(entry).into_ready() {
            Ok(recorded) => match ready.record.outcome(recorded) {
                Ok(()) => Next::Call(ready),
                Err(code) => Next::Refuse(code, ready.request.into_body(), None),
            },
            Err(insert) => Next::Record(insert, ready),
        }
    }
}

impl<B> Ready<B>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Hands the request to the handler.
    fn call<S>(self, service: ServiceFor<'_, S>) -> State<S, B>
    where
        S: Service<Request<SignedBody>>,
    {
        let Ready {
            request,
            record,
            caller,
            check,
            bodiless,
            unread_limit,
            explain,
        } = self;
        let body_signed = check.authenticates_body();
        let shared = Shared::new(record, caller, !bodiless, unread_limit, body_signed);
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(Verifier::new(shared.clone()));
        let progress = (!bodiless).then(|| Progress::new(check, body.size_hint().exact(), explain));
        let body = SignedBody::new(body, progress, shared.clone());
        let future = service.call(Request::from_parts(parts, body));
        State::Inner { future, shared }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<SignedBody>, Response = Response<ResBody>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let context = *this.context;
        let span = this.report.active_span();
        let _entered = span.as_ref().map(tracing::Span::enter);
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Draining { drain, answer, cut } => {
                    let finished = ready!(drain.poll(cx));
                    let answer = answer.take().expect("polled after completion");
                    let (outcome, mut response) = match answer {
                        Answer::Inner(response, outcome) => {
                            (outcome, response.map(ResponseBody::inner))
                        }
                        Answer::Problem(code, explanation) => (
                            Outcome::Rejected(code),
                            problem(code, this.refuser, explanation.as_deref()),
                        ),
                    };
                    close_if_cut(&mut response, *this.version, *cut || !finished);
                    this.report.finish(outcome);
                    return Poll::Ready(Ok(response));
                }
                StateProj::Lookup { lookup, waiting } => {
                    let found = ready!(Pin::new(lookup).poll(cx));
                    let Waiting {
                        service,
                        mut pending,
                        config,
                    } = *waiting.take().expect("polled after completion");
                    // The lookup took time: the nonce store gets the clock as it is now.
                    pending.now = unix_now();
                    let next = pending.authenticate(&config, found);
                    context.next(next, ServiceFor::Owned(service))
                }
                StateProj::Recording { insert, recorded } => {
                    let outcome = ready!(Pin::new(insert).poll(cx));
                    let Recorded { service, ready } =
                        *recorded.take().expect("polled after completion");
                    match ready.record.outcome(outcome) {
                        Ok(()) => ready.call(ServiceFor::Owned(service)),
                        Err(code) => context.refusal(code, ready.request.into_body(), None),
                    }
                }
                StateProj::Inner { future, shared } => {
                    let response = ready!(future.poll(cx))?;
                    context.guard(response, shared.clone(), this.report)
                }
                StateProj::Reading {
                    read,
                    response,
                    shared,
                } => {
                    shared.settle(ready!(read.as_mut().poll(cx)));
                    let response = response.take().expect("polled after completion");
                    context.guard(response, shared.clone(), this.report)
                }
                StateProj::Empty => unreachable!("a ResponseFuture always has a state"),
            };
            this.state.set(next);
        }
    }
}

/// How one request's refusals go out.
pub(crate) struct Refuser {
    /// `WWW-Authenticate` on a 401.
    pub(crate) challenge: HeaderValue,
    /// The scheme that judged the request, which shapes its refusals; `None` when none did.
    pub(crate) scheme: Option<Arc<dyn Scheme>>,
    /// The request's `Authorization` value, for the scheme's shaping.
    pub(crate) authorization: Option<HeaderValue>,
}

/// The problem response for `code`, as the scheme that judged the request
/// shapes it, with the challenge on a 401.
pub(crate) fn problem<B>(
    code: ErrorCode,
    refuser: &Refuser,
    explanation: Option<&[(&'static str, String)]>,
) -> Response<ResponseBody<B>> {
    let mut refusal = Refusal::of(code);
    if let Some(scheme) = &refuser.scheme {
        scheme.refusal(code, refuser.authorization.as_ref(), &mut refusal);
    }
    let default = code.status();
    // A client's fault stays a 4xx, the server's a 5xx.
    let status = if refusal.status.is_client_error() == default.is_client_error()
        && refusal.status.is_server_error() == default.is_server_error()
    {
        refusal.status
    } else {
        tracing::warn!(%code, status = %refusal.status, "tower-hmac: a scheme's refusal status changes its class; ignored");
        default
    };
    let mut response = code
        .problem(status, explanation.unwrap_or_default())
        .map(ResponseBody::problem);
    let headers = response.headers_mut();
    for name in refusal.headers.keys() {
        if name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH {
            continue;
        }
        headers.remove(name);
        for value in refusal.headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    if status == http::StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, refuser.challenge.clone());
    }
    response
}
