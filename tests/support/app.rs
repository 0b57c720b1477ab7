//! The application the integration tests run: each handler records what
//! it observed, so tests can assert on the handler's view, not just the status.

use std::sync::{Arc, Mutex};

use axum::{
    body::Body,
    extract::Request,
    http::{header, Uri},
    routing::{any, get, post},
    Extension, Router,
};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tower_hmac::{
    BufferedVerifyLayer, InMemoryKeys, Secret, SignatureLayer, Verified, VerifiedBytes,
    VerifiedJson, VerifiedResponse, Verifier, VerifyError,
};

use super::{KEY_ID, OTHER_KEY_ID, OTHER_SECRET_B64, SECRET_B64};

/// What a handler saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub route: &'static str,
    /// The body as read (upload: only its length is kept, in `len`).
    pub body: Bytes,
    pub len: u64,
    /// Whether reading the body failed.
    pub body_error: bool,
    /// `Ok(key id)` or `Err(problem code)` per verify() call, in order.
    pub verify: Vec<Result<String, String>>,
    pub chunked: bool,
}

#[derive(Clone, Default)]
pub struct Observed(Arc<Mutex<Vec<Observation>>>);

impl Observed {
    pub fn push(&self, observation: Observation) {
        self.0.lock().unwrap().push(observation);
    }

    pub fn take(&self) -> Vec<Observation> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Waits (bounded) until `n` observations exist, then takes them.
    pub async fn wait_for(&self, n: usize) -> Vec<Observation> {
        for _ in 0..200 {
            if self.0.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.take()
    }
}

pub fn keys() -> InMemoryKeys {
    InMemoryKeys::new()
        .with_key(
            KEY_ID.parse().unwrap(),
            Secret::from_base64(SECRET_B64).unwrap(),
        )
        .with_key(
            OTHER_KEY_ID.parse().unwrap(),
            Secret::from_base64(OTHER_SECRET_B64).unwrap(),
        )
}

/// Answers like `InMemoryKeys`, but only after yielding, as a key store
/// backed by a database would.
pub struct SlowKeyStore(pub InMemoryKeys);

impl tower_hmac::KeyStore for SlowKeyStore {
    fn lookup(
        &self,
        key_id: &tower_hmac::KeyId,
    ) -> tower_hmac::StoreFuture<Result<Option<Secret>, tower_hmac::StoreError>> {
        let found = self.0.lookup(key_id);
        tower_hmac::StoreFuture::new(async move {
            tokio::task::yield_now().await;
            found.await
        })
    }
}

pub fn app(observed: Observed) -> Router {
    app_with(SignatureLayer::new(keys()), observed)
}

pub fn app_with(layer: SignatureLayer, observed: Observed) -> Router {
    Router::new()
        .route("/hello", get(hello).post(hello))
        .route("/upload", post(upload))
        .route(
            "/echo",
            post(echo).layer(BufferedVerifyLayer::new().limit(64 * 1024)),
        )
        .route("/forget", post(forget))
        .route("/ignore-failure", post(ignore_failure))
        .route("/early", post(early))
        .route("/bytes", post(bytes))
        .route("/json", post(json))
        .route("/reject-unverified", post(reject_unverified))
        .route("/any/{*rest}", any(anything))
        .route("/needs-n", post(needs_n))
        .route_layer(layer)
        .layer(Extension(observed))
}

fn verdict(result: &Result<Verified, VerifyError>) -> Result<String, String> {
    match result {
        Ok(verified) => Ok(verified.key_id().to_string()),
        Err(error) => Err(error.code().to_string()),
    }
}

/// Reads the whole body frame by frame; returns the bytes (or just the
/// length when `keep` is false) and whether reading failed.
async fn drain(mut body: Body, keep: bool) -> (Bytes, u64, bool) {
    let mut kept = BytesMut::new();
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    len += data.len() as u64;
                    if keep {
                        kept.extend_from_slice(data);
                    }
                }
            }
            Err(_) => return (kept.freeze(), len, true),
        }
    }
    (kept.freeze(), len, false)
}

fn is_chunked(request: &Request) -> bool {
    request
        .headers()
        .get(header::TRANSFER_ENCODING)
        .is_some_and(|te| te == "chunked")
}

async fn hello(
    Extension(observed): Extension<Observed>,
    verifier: Verifier,
) -> Result<VerifiedResponse, VerifyError> {
    let result = verifier.verify().await;
    observed.push(Observation {
        route: "hello",
        body: Bytes::new(),
        len: 0,
        body_error: false,
        verify: vec![verdict(&result)],
        chunked: false,
    });
    let verified = result?;
    Ok(verified.respond(format!("hello, key {}", verified.key_id())))
}

async fn upload(
    Extension(observed): Extension<Observed>,
    verifier: Verifier,
    request: Request,
) -> Result<VerifiedResponse, VerifyError> {
    let chunked = is_chunked(&request);
    let (_, len, body_error) = drain(request.into_body(), false).await;
    let result = verifier.verify().await;
    observed.push(Observation {
        route: "upload",
        body: Bytes::new(),
        len,
        body_error,
        verify: vec![verdict(&result)],
        chunked,
    });
    Ok(result?.respond(axum::Json(serde_json::json!({ "bytes": len }))))
}

async fn echo(
    Extension(observed): Extension<Observed>,
    Extension(verified): Extension<Verified>,
    body: Bytes,
) -> Bytes {
    observed.push(Observation {
        route: "echo",
        body: body.clone(),
        len: body.len() as u64,
        body_error: false,
        verify: vec![Ok(verified.key_id().to_string())],
        chunked: false,
    });
    body
}

async fn forget(Extension(observed): Extension<Observed>, request: Request) -> &'static str {
    let (body, len, body_error) = drain(request.into_body(), true).await;
    observed.push(Observation {
        route: "forget",
        body,
        len,
        body_error,
        verify: vec![],
        chunked: false,
    });
    "forgot to verify"
}

async fn ignore_failure(
    Extension(observed): Extension<Observed>,
    verifier: Verifier,
    request: Request,
) -> &'static str {
    let (body, len, body_error) = drain(request.into_body(), true).await;
    let result = verifier.verify().await;
    observed.push(Observation {
        route: "ignore-failure",
        body,
        len,
        body_error,
        verify: vec![verdict(&result)],
        chunked: false,
    });
    "the handler's own response"
}

async fn early(
    Extension(observed): Extension<Observed>,
    verifier: Verifier,
    request: Request,
) -> Result<VerifiedResponse, VerifyError> {
    let first = verifier.verify().await;
    let (body, len, body_error) = drain(request.into_body(), true).await;
    let second = verifier.verify().await;
    observed.push(Observation {
        route: "early",
        body: body.clone(),
        len,
        body_error,
        verify: vec![verdict(&first), verdict(&second)],
        chunked: false,
    });
    Ok(second?.respond(body))
}

async fn bytes(
    Extension(observed): Extension<Observed>,
    VerifiedBytes(body, verified): VerifiedBytes,
) -> VerifiedResponse {
    observed.push(Observation {
        route: "bytes",
        body: body.clone(),
        len: body.len() as u64,
        body_error: false,
        verify: vec![Ok(verified.key_id().to_string())],
        chunked: false,
    });
    verified.respond(body)
}

async fn json(VerifiedJson(value, verified): VerifiedJson<serde_json::Value>) -> VerifiedResponse {
    verified.respond(axum::Json(serde_json::json!({ "got": value })))
}

/// Rejects without verifying, as a handler whose extractor failed would.
async fn reject_unverified(
    Extension(observed): Extension<Observed>,
    request: Request,
) -> (http::StatusCode, &'static str) {
    let (body, len, body_error) = drain(request.into_body(), true).await;
    observed.push(Observation {
        route: "reject-unverified",
        body,
        len,
        body_error,
        verify: vec![],
        chunked: false,
    });
    (
        http::StatusCode::UNPROCESSABLE_ENTITY,
        "rejected before verify",
    )
}

/// Echoes what the handler saw of the request target.
async fn anything(
    Extension(observed): Extension<Observed>,
    verifier: Verifier,
    uri: Uri,
    request: Request,
) -> Result<VerifiedResponse, VerifyError> {
    let method = request.method().clone();
    let (body, len, body_error) = drain(request.into_body(), true).await;
    let result = verifier.verify().await;
    observed.push(Observation {
        route: "any",
        body,
        len,
        body_error,
        verify: vec![verdict(&result)],
        chunked: false,
    });
    let seen = format!(
        "{method} {}",
        uri.path_and_query().map_or("", |pq| pq.as_str())
    );
    Ok(result?.respond(seen))
}

#[derive(serde::Deserialize)]
pub struct N {
    n: u32,
}

/// Refused by the `Query` extractor, before the handler runs, when `n` is not a number.
async fn needs_n(
    verifier: Verifier,
    axum::extract::Query(N { n }): axum::extract::Query<N>,
) -> Result<VerifiedResponse, VerifyError> {
    Ok(verifier.verify().await?.respond(format!("n={n}")))
}

/// Reads the whole body, then verifies it and answers with it: the plainest
/// handler there is.
pub async fn read_all_then_verify(
    verifier: Verifier,
    body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    Ok(verifier.verify().await?.respond(bytes))
}
