//! What the criterion benches share: the handlers they route to, the
//! runtime they drive them on, and the clock they sign with.

use std::hint::black_box;

use axum::body::Body;
use http_body_util::BodyExt;
use tower_hmac::{VerifiedResponse, Verifier, VerifyError};

/// Reads the body to the end, then verifies: the signed handler.
pub async fn drain_and_verify(
    verifier: Verifier,
    mut body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    while let Some(frame) = body.frame().await {
        black_box(frame.ok());
    }
    Ok(verifier.verify().await?.respond(()))
}

/// Reads the body to the end: the unsigned handler.
pub async fn drain(mut body: Body) -> &'static str {
    while let Some(frame) = body.frame().await {
        black_box(frame.ok());
    }
    "ok"
}

/// A current-thread runtime, so that nothing but the bench runs on it.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
