//! The wire protocol: the `Authorization` header and the string-to-sign.
//!
//! This module is the single source of truth for what gets signed. The
//! [`Signer`](crate::Signer) and the server's [`SignatureLayer`](crate::SignatureLayer)
//! both build the string-to-sign through [`CanonicalRequest`], so they cannot
//! disagree. The format itself is specified in `docs/PROTOCOL.md`.

mod authorization;
mod canonical;
mod charset;
mod digest;
mod names;

pub use authorization::{Authorization, ParseError, MAX_AUTHORIZATION_LEN, MAX_SIGNED_HEADERS};
pub(crate) use canonical::host_of;
pub use canonical::CanonicalRequest;
pub use digest::{BodyDigest, BodyHasher};
pub use names::{InvalidKeyId, InvalidNonce, KeyId, Nonce, SignedHeaders};

/// The scheme name that opens the `Authorization` header and the string-to-sign.
pub const SCHEME: &str = "HMAC-SHA256";
