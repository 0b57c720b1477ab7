//! What differs between the schemes that share the native canonical form:
//! the scheme word, the MAC, the body digest and the names derived from
//! them. Everything else (the `Authorization` grammar, the string-to-sign,
//! signed chunks, `Content-Digest`) is written once, over an [`Algorithm`].

use crate::{BodyDigest, Secret};

/// The MAC and body digest a request in the native canonical form is
/// signed with (PROTOCOL §4, and §9 for `BLAKE3-KEYED`).
///
/// Each algorithm is its own scheme word: the `Authorization` value, the
/// first line of the string-to-sign, the `Content-Digest` member and the
/// signed-chunk labels all name it, so a signature made under one can never
/// be taken for one made under another. Nothing is negotiated: a server
/// accepts the algorithms whose schemes it is configured with.
///
/// ```
/// use tower_hmac::Algorithm;
///
/// assert_eq!(Algorithm::default(), Algorithm::HmacSha256);
/// assert_eq!(Algorithm::HmacSha256.scheme_word(), "HMAC-SHA256");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Algorithm {
    /// `HMAC-SHA256`: HMAC-SHA256 over the string-to-sign, the body's
    /// SHA-256 as its last line. The native scheme, accepted by default.
    #[default]
    HmacSha256,
    /// `BLAKE3-KEYED` (feature `blake3`): keyed BLAKE3 over the
    /// string-to-sign, with a key derived from the secret by BLAKE3's
    /// `derive_key`, and the body's (unkeyed) BLAKE3 as its last line.
    /// Accepted only by a layer given
    /// [`Blake3Keyed`](crate::schemes::blake3_keyed::Blake3Keyed).
    #[cfg(feature = "blake3")]
    Blake3Keyed,
}

impl Algorithm {
    /// Every algorithm this build knows.
    pub(crate) const ALL: &'static [Self] = &[
        Self::HmacSha256,
        #[cfg(feature = "blake3")]
        Self::Blake3Keyed,
    ];

    /// The scheme word: what opens the `Authorization` value and the
    /// string-to-sign.
    pub const fn scheme_word(self) -> &'static str {
        match self {
            Self::HmacSha256 => super::SCHEME,
            #[cfg(feature = "blake3")]
            Self::Blake3Keyed => crate::schemes::blake3_keyed::SCHEME,
        }
    }

    /// The last line of the string-to-sign of a body sent in signed chunks
    /// (PROTOCOL §4.6): `STREAMING-<scheme word>-CHUNKS`.
    pub const fn chunked_body(self) -> &'static str {
        match self {
            Self::HmacSha256 => super::CHUNKED_BODY,
            #[cfg(feature = "blake3")]
            Self::Blake3Keyed => "STREAMING-BLAKE3-KEYED-CHUNKS",
        }
    }

    /// The first line of a chunk's string-to-sign: `<scheme word>-CHUNK\n`.
    pub(crate) const fn chunk_label(self) -> &'static [u8] {
        match self {
            Self::HmacSha256 => b"HMAC-SHA256-CHUNK\n",
            #[cfg(feature = "blake3")]
            Self::Blake3Keyed => b"BLAKE3-KEYED-CHUNK\n",
        }
    }

    /// The `Content-Digest` member (RFC 9530) that declares a body's digest.
    pub(crate) const fn content_digest_member(self) -> &'static str {
        match self {
            Self::HmacSha256 => "sha-256",
            #[cfg(feature = "blake3")]
            Self::Blake3Keyed => "blake3",
        }
    }

    /// The digest of an empty body.
    pub fn empty_digest(self) -> BodyDigest {
        match self {
            Self::HmacSha256 => BodyDigest::EMPTY,
            #[cfg(feature = "blake3")]
            Self::Blake3Keyed => crate::schemes::blake3_keyed::EMPTY,
        }
    }

    /// The MAC with `secret` over the concatenation of `parts`.
    pub(crate) fn mac(self, secret: &Secret, parts: &[&[u8]]) -> [u8; 32] {
        match self {
            Self::HmacSha256 => secret.mac(parts),
            #[cfg(feature = "blake3")]
            Self::Blake3Keyed => crate::schemes::blake3_keyed::mac(secret, parts),
        }
    }

    /// The algorithm whose scheme word opens `value` (followed by a space),
    /// ASCII case-insensitively.
    pub(crate) fn of_authorization(value: &[u8]) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|algorithm| crate::schemes::opens_with_word(value, algorithm.scheme_word()))
    }
}
