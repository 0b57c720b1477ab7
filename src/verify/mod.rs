//! The verifier core, shared by every scheme: [`SignatureLayer`], its
//! streaming [`SignedBody`], the [`Verifier`] handle, the fail-closed
//! response guard, and the drain that lets every refusal reach the client.
//!
//! What depends on a wire format is behind [`schemes`](crate::schemes).

mod body;
mod drain;
#[cfg(feature = "axum")]
mod extract;
mod future;
mod layer;
mod progress;
mod proof;
mod service;
mod state;
mod verifier;

pub use body::{ResponseBody, SignedBody};
#[cfg(feature = "axum")]
pub use extract::{MissingVerifier, VerifiedBytes, VerifiedJson, VerifiedJsonRejection};
pub use future::ResponseFuture;
pub use layer::SignatureLayer;
pub use proof::Verified;
#[cfg(feature = "axum")]
pub use proof::VerifiedResponse;
pub use service::SignatureService;
pub use verifier::{Verifier, VerifyError};
