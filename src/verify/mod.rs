//! The server side: [`SignatureLayer`], its streaming [`SignedBody`], the
//! [`Verifier`] handle and the fail-closed response guard.

mod body;
mod extract;
mod future;
mod layer;
mod service;
mod verifier;

pub use body::{ResponseBody, SignedBody};
pub use extract::{MissingVerifier, VerifiedBytes, VerifiedJson, VerifiedJsonRejection};
pub use future::ResponseFuture;
pub use layer::SignatureLayer;
pub use service::SignatureService;
pub(crate) use verifier::problem;
pub use verifier::{Verified, VerifiedResponse, Verifier, VerifyError};
