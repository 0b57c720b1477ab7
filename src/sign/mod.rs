//! The client side: [`Signer`] signs requests; [`SigningLayer`] signs every
//! request a tower client (hyper-util's, say) sends.

mod body;
mod chunked;
mod future;
mod layer;
/// Signing for reqwest clients (feature `reqwest`).
#[cfg(feature = "reqwest")]
pub mod reqwest;
mod service;
mod signer;

pub use body::SigningBody;
pub use chunked::ChunkedBody;
pub use future::ResponseFuture;
pub use layer::SigningLayer;
pub use service::SigningService;
pub use signer::{SignError, Signer};
