//! The keyed BLAKE3 scheme, `BLAKE3-KEYED` (feature `blake3`, PROTOCOL §9):
//! the native scheme's wire format and canonical form, with keyed BLAKE3 in
//! place of HMAC-SHA256 and the body's BLAKE3 in place of its SHA-256.
//!
//! Keyed BLAKE3 is a MAC by itself (BLAKE3's keyed mode, a PRF under a
//! 32-byte key), so no HMAC is wrapped around it. Its key is derived from
//! the shared secret with BLAKE3's `derive_key` and the context string
//! [`KEY_CONTEXT`], so a secret of any length serves, and the key is
//! separated from the secret's other uses (HMAC-SHA256, the handshake,
//! SigV4). It is derived once per secret and kept with it.
//!
//! Nothing else is new: the `Authorization` header, the string-to-sign,
//! `Content-Digest` (member `blake3`) and signed chunks are the native
//! scheme's, written once over an [`Algorithm`]; only the scheme word and
//! the two primitives differ. A layer accepts the scheme only when given
//! it, beside the native one or alone:
//!
//! ```
//! use tower_hmac::{schemes::blake3_keyed::Blake3Keyed, InMemoryKeys, SignatureLayer};
//!
//! let layer = SignatureLayer::new(InMemoryKeys::new()).scheme(Blake3Keyed::new());
//! # drop(layer);
//! ```
//!
//! and a [`Signer`](crate::Signer) signs with it only when told (the
//! README's example, compiled):
//!
//! ```
//! use tower_hmac::{
//!     schemes::blake3_keyed::Blake3Keyed, Algorithm, InMemoryKeys, Secret, SignatureLayer, Signer,
//! };
//!
//! # let keys = InMemoryKeys::new();
//! // The server accepts it next to HMAC-SHA256, with the same keys...
//! let layer = SignatureLayer::new(keys).scheme(Blake3Keyed::new());
//! // ...and a client signs with it when told to.
//! let signer = Signer::new("7".parse().unwrap(), Secret::new(vec![7; 32]).unwrap())
//!     .algorithm(Algorithm::Blake3Keyed);
//! // Hash a streamed body with the signer's own hasher (BLAKE3 here).
//! let mut hasher = signer.body_hasher();
//! hasher.update(b"a large file, hashed in pieces");
//! let mut request = http::Request::put("http://127.0.0.1:3000/upload").body(()).unwrap();
//! signer.sign_with_digest(&mut request, &hasher.finish()).unwrap();
//! assert!(request.headers()["content-digest"].to_str().unwrap().starts_with("blake3=:"));
//! assert!(request.headers()["authorization"].to_str().unwrap().starts_with("BLAKE3-KEYED Key=7,"));
//! # drop(layer);
//! ```

use http::HeaderValue;
use zeroize::Zeroize as _;

use crate::{
    schemes::{hmac_sha256, Claim, Head, Scheme},
    Algorithm, BodyDigest, ErrorCode, Secret,
};

/// The scheme word that opens the `Authorization` value and the string-to-sign.
pub const SCHEME: &str = "BLAKE3-KEYED";

/// The context string of BLAKE3's `derive_key` that turns the shared secret
/// into the 32-byte BLAKE3 key: `derive_key(KEY_CONTEXT, secret)`.
pub const KEY_CONTEXT: &str = "tower-hmac 2026-12-01 BLAKE3-KEYED request signing key";

/// The label the derived key is kept under with its [`Secret`]: no other
/// scheme's label has this shape (SigV4's hold NUL bytes).
const KEY_LABEL: &[u8] = b"BLAKE3-KEYED";

/// The BLAKE3 of an empty body.
pub(crate) const EMPTY: BodyDigest = BodyDigest::from_algorithm_bytes(
    Algorithm::Blake3Keyed,
    [
        0xaf, 0x13, 0x49, 0xb9, 0xf5, 0xf9, 0xa1, 0xa6, 0xa0, 0x40, 0x4d, 0xea, 0x36, 0xdc, 0xc9,
        0x49, 0x9b, 0xcb, 0x25, 0xc9, 0xad, 0xc1, 0x12, 0xb7, 0xcc, 0x9a, 0x93, 0xca, 0xe4, 0x1f,
        0x32, 0x62,
    ],
);

/// The keyed BLAKE3 scheme, `BLAKE3-KEYED` (PROTOCOL §9). See the [module docs](self).
///
/// Before the handler runs it checks what [`HmacSha256`](hmac_sha256::HmacSha256)
/// checks, in the same way: the header's form, the clock skew, the
/// required signed headers, and with the key the signature itself when the
/// request has no body, declares its BLAKE3 in `Content-Digest`
/// (`blake3=:…:`), or sends it in signed chunks.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Blake3Keyed;

impl Blake3Keyed {
    /// The scheme, to give to [`SignatureLayer::scheme`](crate::SignatureLayer::scheme).
    pub const fn new() -> Self {
        Self
    }
}

impl Scheme for Blake3Keyed {
    fn name(&self) -> &'static str {
        SCHEME
    }

    fn claim(
        &self,
        authorization: &HeaderValue,
        head: &Head<'_>,
    ) -> Result<Box<dyn Claim>, ErrorCode> {
        hmac_sha256::claim(Algorithm::Blake3Keyed, authorization, head)
    }
}

/// Keyed BLAKE3 with `secret`'s derived key over the concatenation of `parts`.
pub(crate) fn mac(secret: &Secret, parts: &[&[u8]]) -> [u8; 32] {
    let key = secret.derived(KEY_LABEL, |secret| {
        blake3::derive_key(KEY_CONTEXT, secret.expose())
    });
    let key: &[u8; 32] = key.expose().try_into().expect("a derived key is 32 bytes");
    let mut hasher = blake3::Hasher::new_keyed(key);
    for part in parts {
        hasher.update(part);
    }
    let mac = *hasher.finalize().as_bytes();
    // The keyed state holds the key.
    hasher.zeroize();
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_digest_is_blake3_of_nothing() {
        assert_eq!(EMPTY.as_bytes(), blake3::hash(b"").as_bytes());
        assert_eq!(
            EMPTY,
            BodyDigest::for_algorithm(Algorithm::Blake3Keyed, b"")
        );
    }

    #[test]
    fn the_mac_is_keyed_blake3_under_the_derived_key() {
        let secret = Secret::new(b"sixteen-byte-key and some more".to_vec()).unwrap();
        let key = blake3::derive_key(KEY_CONTEXT, b"sixteen-byte-key and some more");
        let expected = blake3::keyed_hash(&key, b"ab");
        assert_eq!(&mac(&secret, &[b"a", b"b"]), expected.as_bytes());
        // Kept, and the same the second time.
        assert_eq!(&mac(&secret, &[b"ab"]), expected.as_bytes());
        // Not HMAC-SHA256's.
        assert_ne!(mac(&secret, &[b"ab"]), secret.mac(&[b"ab"]));
    }
}
