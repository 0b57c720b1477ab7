use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{
    header::{AUTHORIZATION, HOST},
    HeaderValue, Request, Response,
};
use tower_service::Service;

use super::{future::Pending, layer::Config, ResponseBody, ResponseFuture, SignedBody};
use crate::{
    clock::unix_now,
    observe::Report,
    schemes::{host_of, Claim, Head},
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
        let span = report.span().clone();
        let _entered = span.enter();
        let (claim, challenge) = match claim(&self.config, &request) {
            Ok(claimed) => claimed,
            Err((code, challenge)) => {
                return ResponseFuture::refused(code, request, &self.config, challenge, report)
            }
        };
        report.claimed(claim.key_id());
        if request.extensions().get::<Verifier>().is_some() {
            tracing::error!(
                "tower-hmac: SignatureLayer is applied twice to this route; apply it once"
            );
            let code = ErrorCode::VerificationSkipped;
            return ResponseFuture::refused(code, request, &self.config, challenge, report);
        }
        let lookup = self.config.keys.lookup(claim.key_id());
        // The ready service goes to this request; the clone waits for the next.
        let clone = self.inner.clone();
        let pending = Pending {
            service: std::mem::replace(&mut self.inner, clone),
            request,
            claim,
            config: self.config.clone(),
        };
        // An in-memory key store answers at once: no need to wait for it.
        match lookup.into_ready() {
            Ok(found) => ResponseFuture::found(found, pending, challenge, report),
            Err(lookup) => ResponseFuture::lookup(lookup, pending, challenge, report),
        }
    }
}

type Claimed = (Box<dyn Claim>, HeaderValue);

/// Exactly one `Authorization` header, of a scheme this layer accepts, whose
/// claim passes every check that needs no key. On failure, the code and the
/// challenge to answer with.
fn claim<B: http_body::Body>(
    config: &Config,
    request: &Request<B>,
) -> Result<Claimed, (ErrorCode, HeaderValue)> {
    let refuse = |code| Err((code, config.challenge.clone()));
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
        now: unix_now(),
        policy: &config.policy,
        bodiless: is_bodiless(request.body()),
    };
    let (scheme, claimed) = match authorization {
        Some(value) => {
            let Some(scheme) = config.scheme_for(value.as_bytes()) else {
                tracing::debug!("tower-hmac: Authorization names no scheme this layer accepts");
                return refuse(ErrorCode::MalformedAuthorization);
            };
            (scheme, None)
        }
        // Credentials elsewhere than `Authorization` (a presigned URL's query, say).
        None => match config
            .schemes
            .iter()
            .find_map(|scheme| Some((scheme, scheme.claim_elsewhere(&head)?)))
        {
            Some((scheme, claimed)) => (scheme, Some(claimed)),
            None => return refuse(ErrorCode::MissingAuthorization),
        },
    };
    let challenge = HeaderValue::from_static(scheme.name());
    // `host` signs the Host header; a proxy may route by the authority instead.
    if let (Some(authority), Some(host)) = (uri.authority(), request.headers().get(HOST)) {
        if !host
            .as_bytes()
            .eq_ignore_ascii_case(host_of(authority).as_bytes())
        {
            tracing::debug!("tower-hmac: Host and authority disagree");
            return Err((ErrorCode::HostMismatch, challenge));
        }
    }
    let claimed = match (claimed, authorization) {
        (Some(claimed), _) => claimed,
        (None, Some(value)) => scheme.claim(value, &head),
        (None, None) => unreachable!("a scheme was found for the request's credentials"),
    };
    match claimed {
        Ok(claim) => Ok((claim, challenge)),
        Err(code) => Err((code, challenge)),
    }
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

/// Whether the request has no body at all.
pub(crate) fn is_bodiless<B: http_body::Body>(body: &B) -> bool {
    body.is_end_stream() || body.size_hint().exact() == Some(0)
}
