use std::{
    sync::Arc,
    task::{Context, Poll},
};

use axum::extract::OriginalUri;
use http::{
    header::{AUTHORIZATION, HOST},
    HeaderMap, Request, Response, Uri,
};
use tower_service::Service;

use super::{future::Pending, layer::Config, ResponseBody, ResponseFuture, SignedBody};
use crate::{
    error::ErrorCode,
    observe::Report,
    protocol::{host_of, Authorization},
    replay::unix_now,
    Verifier,
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
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
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
        let auth = match parse(&request) {
            Ok(auth) => auth,
            Err(code) => return ResponseFuture::rejected(code, report),
        };
        report.claimed(auth.key_id());
        // Behind axum's `nest`, the router has stripped the prefix; sign what was sent.
        let uri = request
            .extensions()
            .get::<OriginalUri>()
            .map_or(request.uri(), |original| &original.0);
        if let Err(code) = check(&self.config, &auth, uri, request.headers()) {
            return ResponseFuture::rejected(code, report);
        }
        if request.extensions().get::<Verifier>().is_some() {
            tracing::error!(
                "tower-hmac: SignatureLayer is applied twice to this route; apply it once"
            );
            return ResponseFuture::rejected(ErrorCode::VerificationSkipped, report);
        }
        let canonical = auth.canonical_request(request.method(), uri, request.headers());
        let lookup = self.config.keys.lookup(auth.key_id());
        // The ready service goes to this request; the clone waits for the next.
        let clone = self.inner.clone();
        let pending = Pending {
            service: std::mem::replace(&mut self.inner, clone),
            request,
            auth,
            canonical,
            config: self.config.clone(),
        };
        // An in-memory key store answers at once: no need to wait for it.
        match lookup.into_ready() {
            Ok(found) => ResponseFuture::found(found, pending, report),
            Err(lookup) => ResponseFuture::lookup(lookup, pending, report),
        }
    }
}

/// Exactly one well-formed `Authorization` header.
fn parse<B>(request: &Request<B>) -> Result<Authorization, ErrorCode> {
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(ErrorCode::MissingAuthorization)?;
    if values.next().is_some() {
        tracing::debug!("tower-hmac: more than one Authorization header");
        return Err(ErrorCode::MalformedAuthorization);
    }
    Authorization::from_header(value).map_err(|error| {
        tracing::debug!(%error, "tower-hmac: malformed Authorization header");
        ErrorCode::MalformedAuthorization
    })
}

/// Everything else that can be checked before the key is known.
fn check(
    config: &Config,
    auth: &Authorization,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), ErrorCode> {
    // `host` signs the Host header; a proxy may route by the authority instead.
    if let (Some(authority), Some(host)) = (uri.authority(), headers.get(HOST)) {
        if !host
            .as_bytes()
            .eq_ignore_ascii_case(host_of(authority).as_bytes())
        {
            tracing::debug!(key_id = %auth.key_id(), "tower-hmac: Host and authority disagree");
            return Err(ErrorCode::HostMismatch);
        }
    }
    if unix_now().abs_diff(auth.time()) > config.max_skew {
        tracing::debug!(key_id = %auth.key_id(), time = auth.time(), "tower-hmac: request time outside the allowed skew");
        return Err(ErrorCode::StaleRequest);
    }
    if let Some(missing) = config
        .required_headers
        .iter()
        .find(|name| !auth.signed_headers().contains(name))
    {
        tracing::debug!(key_id = %auth.key_id(), header = %missing, "tower-hmac: required header is not signed");
        return Err(ErrorCode::UnsignedHeader);
    }
    Ok(())
}
