//! Authenticate HTTP requests signed with a pre-shared key, without
//! buffering their bodies.
//!
//! A client signs each request with HMAC-SHA256 over its method, path,
//! query, chosen headers and a SHA-256 of its body, and sends the result in
//! an `Authorization: HMAC-SHA256 Key=…, Time=…, Nonce=…, SignedHeaders=…,
//! Signature=…` header (the protocol is in `docs/PROTOCOL.md`).
//!
//! On the server, [`SignatureLayer`]:
//! 1. checks everything it can before the handler runs (one well-formed
//!    header, fresh `Time`, known key, required headers signed) and, when the
//!    request has no body or declares its digest in `Content-Digest`, the
//!    signature and the nonce too: a request that fails is answered at once,
//!    after its unread body is drained so that the client hears it;
//! 2. hands the handler a [`SignedBody`] whose frames are the client's own
//!    `Bytes`, hashed as they pass;
//! 3. puts a [`Verifier`] in the request extensions. The handler reads the
//!    body, then calls [`Verifier::verify`] before acting on it;
//! 4. guards the response: it leaves only if `verify()` succeeded. A failed
//!    verify becomes `401`; a forgotten one becomes `500` and an error log.
//!
//! ```
//! use axum::{body::Body, routing::post, Router};
//! use http_body_util::BodyExt;
//! use tower_hmac::{InMemoryKeys, Secret, SignatureLayer, VerifiedResponse, Verifier, VerifyError};
//!
//! async fn upload(verifier: Verifier, body: Body) -> Result<VerifiedResponse, VerifyError> {
//!     let mut body = body;
//!     let mut bytes = 0;
//!     while let Some(Ok(frame)) = body.frame().await {
//!         bytes += frame.data_ref().map_or(0, |data| data.len());
//!     }
//!     let verified = verifier.verify().await?;
//!     Ok(verified.respond(format!("{bytes} bytes from key {}", verified.key_id())))
//! }
//!
//! let keys = InMemoryKeys::new().with_key("7".parse()?, Secret::from_base64("c2l4dGVlbi1ieXRlcy1sb25nLXNlY3JldA==")?);
//! let app: Router = Router::new()
//!     .route("/upload", post(upload))
//!     .route_layer(SignatureLayer::new(keys));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where things live
//! - [`verify`]: the verifier core, shared by every scheme: the layer, its
//!   body, the `Verifier`, the response guard and the drain.
//! - [`schemes`]: the seam a scheme plugs into ([`schemes::Scheme`]), and one
//!   folder per scheme: [`schemes::hmac_sha256`], the native one (written
//!   over an [`Algorithm`]); `schemes::blake3_keyed` (feature `blake3`), its
//!   keyed BLAKE3 variant `BLAKE3-KEYED`, for large uploads;
//!   `schemes::sigv4` (feature `sigv4`), AWS Signature Version 4, so that
//!   the AWS SDKs, the AWS CLI and `curl --aws-sigv4` are clients; and
//!   `schemes::schnellburger` (features `schnellburger`,
//!   `schnellburger-md5`), the legacy scheme of the Go middleware, for
//!   migrating its clients (weak: no timestamp, no nonce).
//! - [`buffered`]: [`BufferedVerifyLayer`], for handlers that want the whole body.
//! - [`sign`]: the client side: [`Signer`] and the tower [`SigningLayer`](sign::SigningLayer).
//! - [`keys`], [`replay`]: the key and nonce stores, both pluggable.
//! - [`error`]: the problem codes every refusal carries.
//! - [`observe`]: the per-request span, outcome hook and counters.
//! - `handshake` (feature `handshake`): the HMAC challenge-response handshake for raw connections, interoperable with Python's `multiprocessing.connection`.
//! - At the top: what every scheme shares: [`KeyId`], [`Nonce`],
//!   [`SignedHeaders`], [`BodyDigest`] (and `Content-Digest`), [`Secret`].
//!
//! Feature `axum` (on by default) adds the axum extractors and
//! `IntoResponse` impls; the layer itself needs no framework.
//!
//! Feature `ring` hashes request bodies with `ring`'s SHA-256 instead of
//! `sha2`'s: about 1.5× as fast on a CPU without SHA extensions, the same
//! with them. The HMAC and its keys are unchanged (still `hmac`, still wiped
//! on drop); the body hasher's buffer of up to 63 bytes of body is not
//! wiped on drop with `ring`, where `sha2`'s is.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// The verifier core, which knows no scheme.
pub mod verify;
// The seam, and the schemes that plug into it (one folder each).
pub mod schemes;
// What every scheme shares.
mod clock;
mod crypto;
mod digest;
pub mod error;
// All of it serves `sigv4`; `schnellburger` needs only `digit`.
#[cfg_attr(not(feature = "sigv4"), allow(dead_code))]
mod hex;
mod names;
mod secret;
mod store;
// Pluggable stores.
pub mod keys;
pub mod replay;
// Around the core.
pub mod buffered;
/// The HMAC challenge-response handshake for raw connections (feature `handshake`).
#[cfg(feature = "handshake")]
pub mod handshake;
pub mod observe;
pub mod sign;

pub use buffered::BufferedVerifyLayer;
pub use digest::{BodyDigest, BodyHasher, ContentDigestError};
pub use error::ErrorCode;
pub use keys::{InMemoryKeys, KeyStore, KeysFile};
pub use names::{InvalidKeyId, InvalidNonce, KeyId, Nonce, SignedHeaders};
pub use observe::Outcome;
pub use replay::{InMemoryNonceStore, NonceStatus, NonceStore};
pub use schemes::hmac_sha256::Algorithm;
pub use secret::{InvalidSecret, Secret};
pub use sign::{SignError, Signer};
pub use store::{StoreError, StoreFuture};
pub use verify::{SignatureLayer, SignedBody, Verified, Verifier, VerifyError};
#[cfg(feature = "axum")]
pub use verify::{VerifiedBytes, VerifiedJson, VerifiedResponse};

/// The error type of bodies and services that can fail in many ways.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
