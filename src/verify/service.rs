use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{
    header::{AUTHORIZATION, HOST},
    HeaderValue, Method, Request, Response,
};
use tower_service::Service;

use super::{
    future::{Pending, Refuser, ServiceFor, Waiting},
    layer::Config,
    ResponseBody, ResponseFuture, SignedBody,
};
use crate::{
    clock::unix_now,
    observe::Report,
    schemes::{host_of, Claim, Head, Scheme},
    BoxError, ErrorCode, Verifier,
};

/// The service made by [`SignatureLayer`](crate::SignatureLayer).
#[derive(Clone)]
pub struct SignatureService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> SignatureService<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for SignatureService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for SignatureService<S>
where
    S: Service<Request<SignedBody>, Response = Response<ResBody>> + Clone,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut report = Report::new(self.config.on_outcome.clone());
        let span = report.active_span();
        let _entered = span.as_ref().map(tracing::Span::enter);
        // Read once: the claim's time checks and the nonce store share it.
        let now = unix_now();
        let (claim, refuser) = match claim(&self.config, &request, now) {
            Ok(claimed) => claimed,
            Err((code, refuser)) => {
                drop(take_ready(&mut self.inner));
                return ResponseFuture::refused(code, request, &self.config, refuser, report);
            }
        };
        report.claimed(claim.key_id());
        if request.extensions().get::<Verifier>().is_some() {
            tracing::error!(
                "tower-hmac: SignatureLayer is applied twice to this route; apply it once"
            );
            let code = ErrorCode::VerificationSkipped;
            drop(take_ready(&mut self.inner));
            return ResponseFuture::refused(code, request, &self.config, refuser, report);
        }
        let lookup = self.config.keys.lookup(claim.key_id());
        let pending = Pending {
            request,
            claim,
            now,
        };
        // An in-memory key store answers at once: no need to wait for it.
        match lookup.into_ready() {
            Ok(found) => {
                let service = ServiceFor::Borrowed(&mut self.inner, take_ready::<S>);
                ResponseFuture::found(found, pending, &self.config, service, refuser, report)
            }
            Err(lookup) => {
                let waiting = Waiting {
                    service: take_ready(&mut self.inner),
                    pending,
                    config: self.config.clone(),
                };
                ResponseFuture::lookup(lookup, waiting, refuser, report)
            }
        }
    }
}

/// The ready service, for a request that calls it later, or to drop for
/// one refused before it (with whatever its readiness holds, a concurrency
/// permit, say); a clone waits for the next request.
fn take_ready<S: Clone>(service: &mut S) -> S {
    let clone = service.clone();
    std::mem::replace(service, clone)
}

type Claimed = (Box<dyn Claim>, Refuser);

/// Exactly one `Authorization` header, of a scheme this layer accepts, whose
/// claim passes every check that needs no key. On failure, the code and how
/// to answer it.
fn claim<B: http_body::Body>(
    config: &Config,
    request: &Request<B>,
    now: u64,
) -> Result<Claimed, (ErrorCode, Refuser)> {
    let refuse = |code| {
        let refuser = Refuser {
            challenge: config.challenge.clone(),
            scheme: None,
            authorization: None,
        };
        Err((code, refuser))
    };
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    let authorization = values.next();
    if values.next().is_some() {
        tracing::debug!("tower-hmac: more than one Authorization header");
        return refuse(ErrorCode::MalformedAuthorization);
    }
    let uri = original_uri(request);
    let head = Head {
        method: request.method(),
        uri,
        headers: request.headers(),
        now,
        policy: &config.policy,
        bodiless: is_bodiless(request),
    };
    let (scheme, claimed) = match authorization {
        Some(value) => {
            let Some(scheme) = config.scheme_for(value) else {
                tracing::debug!("tower-hmac: Authorization names no scheme this layer accepts");
                return refuse(ErrorCode::MalformedAuthorization);
            };
            (scheme, None)
        }
        // Credentials elsewhere than `Authorization` (a presigned URL's query, say).
        None => match claim_elsewhere(config, &head) {
            Some((scheme, claimed)) => (scheme, Some(claimed)),
            None => return refuse(ErrorCode::MissingAuthorization),
        },
    };
    let refuser = Refuser {
        challenge: scheme
            .challenge()
            .map_or_else(|| config.challenge.clone(), HeaderValue::from_static),
        scheme: Some(scheme.clone()),
        authorization: authorization.cloned(),
    };
    // Authority form (`GET host:port`) is CONNECT's: its empty path signs
    // as `/`, which a router would not take it for.
    if uri.scheme().is_none() && uri.authority().is_some() && request.method() != Method::CONNECT {
        tracing::debug!("tower-hmac: a request target in authority form");
        return Err((ErrorCode::MalformedTarget, refuser));
    }
    // `host` signs the Host header; a proxy may route by the authority instead.
    if let (Some(authority), Some(host)) = (uri.authority(), request.headers().get(HOST)) {
        if !host
            .as_bytes()
            .eq_ignore_ascii_case(host_of(authority).as_bytes())
        {
            tracing::debug!("tower-hmac: Host and authority disagree");
            return Err((ErrorCode::HostMismatch, refuser));
        }
    }
    let claimed = match (claimed, authorization) {
        (Some(claimed), _) => claimed,
        (None, Some(value)) => scheme.claim(value, &head),
        (None, None) => unreachable!("a scheme was found for the request's credentials"),
    };
    match claimed {
        Ok(claim) => Ok((claim, refuser)),
        Err(code) => Err((code, refuser)),
    }
}

/// A scheme and what it made of a request's credentials.
type Judged<'c> = (&'c Arc<dyn Scheme>, Result<Box<dyn Claim>, ErrorCode>);

/// The first scheme to find its credentials elsewhere than `Authorization`;
/// one that only judges a request without any (`MissingAuthorization`)
/// gives way to any other.
fn claim_elsewhere<'c>(config: &'c Config, head: &Head<'_>) -> Option<Judged<'c>> {
    let mut fallback = None;
    for scheme in &config.schemes {
        match scheme.claim_elsewhere(head) {
            None => {}
            Some(Err(ErrorCode::MissingAuthorization)) => {
                fallback = fallback.or(Some(scheme));
            }
            Some(claimed) => return Some((scheme, claimed)),
        }
    }
    fallback.map(|scheme| (scheme, Err(ErrorCode::MissingAuthorization)))
}

/// The target as the client sent it: behind axum's `nest`, the router has
/// stripped the prefix, and the signature covers what was sent.
fn original_uri<B>(request: &Request<B>) -> &http::Uri {
    #[cfg(feature = "axum")]
    if let Some(original) = request.extensions().get::<axum::extract::OriginalUri>() {
        return &original.0;
    }
    request.uri()
}

/// Whether the request has no body at all: its body says so, or, when the
/// body cannot tell (a wrapper such as tower-http's `TimeoutBody` hides
/// hyper's hints), its head does: `Content-Length: 0`, or an HTTP/1.x
/// request with neither `Content-Length` nor `Transfer-Encoding`, which has
/// no body by definition (RFC 9112 §6.3). Should such a body carry data
/// all the same, the request fails verification.
pub(crate) fn is_bodiless<B: http_body::Body>(request: &Request<B>) -> bool {
    let body = request.body();
    if body.is_end_stream() || body.size_hint().exact() == Some(0) {
        return true;
    }
    let hint = body.size_hint();
    if hint.lower() != 0 || hint.upper().is_some() {
        return false;
    }
    let headers = request.headers();
    let length = headers.get(http::header::CONTENT_LENGTH);
    if length.is_some_and(|length| length.as_bytes() == b"0") {
        return true;
    }
    request.version() <= http::Version::HTTP_11
        && length.is_none()
        && !headers.contains_key(http::header::TRANSFER_ENCODING)
}
