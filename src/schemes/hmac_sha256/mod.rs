//! The native `HMAC-SHA256` scheme: the `Authorization` header, the
//! string-to-sign, and how the server judges a request with them.
//!
//! This module is the single source of truth for what gets signed. The
//! [`Signer`](crate::Signer) and the server's [`HmacSha256`] scheme both
//! build the string-to-sign through [`CanonicalRequest`], so they cannot
//! disagree. The format is specified in `docs/PROTOCOL.md`.
//!
//! A request is authenticated before its handler runs when it has no body,
//! when it declares its body's digest in `Content-Digest` (PROTOCOL §4.4),
//! or when it sends its body in signed chunks (§4.6); otherwise its
//! signature can only be checked once the body has streamed through.
//!
//! The code here is written over an [`Algorithm`]: the `BLAKE3-KEYED`
//! scheme (feature `blake3`) is this canonical form with other primitives.

mod algorithm;
mod authorization;
mod canonical;
mod chunked;
mod scheme;

pub use algorithm::Algorithm;
pub use authorization::{Authorization, ParseError, MAX_AUTHORIZATION_LEN, MAX_SIGNED_HEADERS};
pub use canonical::CanonicalRequest;
pub use chunked::{chunk_header, chunk_signature, CHUNKED_BODY, CHUNKED_HEADER};
#[cfg(feature = "blake3")]
pub(crate) use scheme::claim;
pub use scheme::HmacSha256;

/// The scheme name that opens the `Authorization` header and the string-to-sign.
pub const SCHEME: &str = "HMAC-SHA256";
