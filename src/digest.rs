//! The digest of a request body (SHA-256, shared by every scheme, or
//! BLAKE3 for `BLAKE3-KEYED`), and RFC 9530's `Content-Digest` header that
//! declares it up front.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use http::{HeaderMap, HeaderValue};

use crate::{
    crypto::{Active, Backend},
    Algorithm,
};

/// The digest of a request body, the last line of the string-to-sign: its
/// SHA-256, or its BLAKE3 for a request signed with
/// [`Algorithm::Blake3Keyed`]. A digest knows its algorithm, and two
/// digests of different algorithms are never equal.
///
/// ```
/// use tower_hmac::BodyDigest;
///
/// assert_eq!(
///     BodyDigest::of(b"").to_hex(),
///     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
/// );
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BodyDigest {
    bytes: [u8; 32],
    // Zero-sized without feature `blake3`.
    algorithm: Algorithm,
}

impl BodyDigest {
    /// The digest of an empty body, the body of most `GET`s.
    ///
    /// ```
    /// use tower_hmac::BodyDigest;
    ///
    /// assert_eq!(BodyDigest::EMPTY, BodyDigest::of(b""));
    /// ```
    pub const EMPTY: Self = Self::from_algorithm_bytes(
        Algorithm::HmacSha256,
        [
            0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
            0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
            0x78, 0x52, 0xb8, 0x55,
        ],
    );

    /// The SHA-256 digest of a body held in memory.
    pub fn of(body: &[u8]) -> Self {
        Self::for_algorithm(Algorithm::HmacSha256, body)
    }

    /// The digest of a body held in memory under `algorithm` (what a
    /// [`Signer`](crate::Signer) of that algorithm signs).
    ///
    /// ```
    /// use tower_hmac::{Algorithm, BodyDigest};
    ///
    /// let digest = BodyDigest::for_algorithm(Algorithm::HmacSha256, b"2");
    /// assert_eq!(digest, BodyDigest::of(b"2"));
    /// assert_eq!(digest.algorithm(), Algorithm::HmacSha256);
    /// ```
    pub fn for_algorithm(algorithm: Algorithm, body: &[u8]) -> Self {
        let mut hasher = BodyHasher::for_algorithm(algorithm);
        hasher.update(body);
        hasher.finish()
    }

    /// Wraps a SHA-256 digest computed elsewhere.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self::from_algorithm_bytes(Algorithm::HmacSha256, bytes)
    }

    /// Wraps a digest computed elsewhere under `algorithm`: a SHA-256 for
    /// [`Algorithm::HmacSha256`], a BLAKE3 for `Algorithm::Blake3Keyed`.
    pub const fn from_algorithm_bytes(algorithm: Algorithm, bytes: [u8; 32]) -> Self {
        Self { bytes, algorithm }
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The algorithm whose body digest this is.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The digest as lowercase hex, as it appears in the string-to-sign.
    pub fn to_hex(&self) -> String {
        String::from_utf8(self.hex_bytes().to_vec()).expect("hex is ASCII")
    }

    pub(crate) fn hex_bytes(&self) -> [u8; 64] {
        // Most signed requests are bodiless GETs: their line is a constant.
        if *self == Self::EMPTY {
            return *b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        }
        let mut out = [0u8; 64];
        for (eight, four) in out.chunks_exact_mut(8).zip(self.bytes.chunks_exact(4)) {
            let word = u32::from_be_bytes(four.try_into().expect("4 bytes"));
            eight.copy_from_slice(&hex8(word).to_be_bytes());
        }
        out
    }
}

/// The eight lowercase hex digits of `word`, computed in one `u64` (each
/// nibble spread to its own byte, then mapped to its digit) instead of
/// four table lookups.
fn hex8(word: u32) -> u64 {
    const LOW_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    let x = u64::from(word);
    let x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    let x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    let nibbles = (x | x << 4) & LOW_NIBBLES;
    // 0x01 in each byte whose nibble is 10 or more, where the digit is a letter.
    let letters = ((nibbles + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    nibbles + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)
}

impl fmt::Debug for BodyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.algorithm {
            Algorithm::HmacSha256 => write!(f, "BodyDigest({})", self.to_hex()),
            #[cfg(feature = "blake3")]
            Algorithm::Blake3Keyed => write!(f, "BodyDigest(blake3:{})", self.to_hex()),
        }
    }
}

/// Computes a [`BodyDigest`] incrementally, for a body that is signed
/// before it is sent (a file hashed in chunks, say): SHA-256 by default,
/// BLAKE3 for [`Algorithm::Blake3Keyed`] ([`for_algorithm`](Self::for_algorithm)).
///
/// ```
/// use tower_hmac::{BodyDigest, BodyHasher};
///
/// let mut hasher = BodyHasher::new();
/// hasher.update(b"hello ");
/// hasher.update(b"world");
/// assert_eq!(hasher.finish(), BodyDigest::of(b"hello world"));
/// ```
#[derive(Clone)]
pub struct BodyHasher(Hashing);

// The SHA-256 state (224 bytes with `ring`) is the common case and stays
// inline: boxing it would allocate per request; BLAKE3's is the boxed one.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Hashing {
    Sha256(<Active as Backend>::Hasher),
    // Boxed: its stack of chaining values is ~1.9 KB, which the SHA-256
    // path need not carry around.
    #[cfg(feature = "blake3")]
    Blake3(Box<blake3::Hasher>),
}

impl Default for BodyHasher {
    fn default() -> Self {
        Self(Hashing::Sha256(Default::default()))
    }
}

impl BodyHasher {
    /// A SHA-256 hasher that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hasher of `algorithm`'s body digest that has seen no bytes.
    ///
    /// ```
    /// use tower_hmac::{Algorithm, BodyDigest, BodyHasher};
    ///
    /// let mut hasher = BodyHasher::for_algorithm(Algorithm::HmacSha256);
    /// hasher.update(b"2");
    /// assert_eq!(hasher.finish(), BodyDigest::of(b"2"));
    /// ```
    pub fn for_algorithm(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::HmacSha256 => Self::new(),
            #[cfg(feature = "blake3")]
            Algorithm::Blake3Keyed => Self(Hashing::Blake3(Box::new(blake3::Hasher::new()))),
        }
    }

    /// Feeds the next bytes of the body.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Hashing::Sha256(hasher) => Active::update(hasher, bytes),
            #[cfg(feature = "blake3")]
            Hashing::Blake3(hasher) => {
                hasher.update(bytes);
            }
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> BodyDigest {
        match self.0 {
            Hashing::Sha256(hasher) => BodyDigest::from_bytes(Active::finish(hasher)),
            #[cfg(feature = "blake3")]
            Hashing::Blake3(hasher) => BodyDigest::from_algorithm_bytes(
                Algorithm::Blake3Keyed,
                *hasher.finalize().as_bytes(),
            ),
        }
    }
}

impl fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyHasher")
    }
}

/// Why a `Content-Digest` header was refused (answered `malformed_content_digest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentDigestError {
    /// The header is not a dictionary of `name=:base64:` members, or not ASCII.
    Syntax,
    /// The `sha-256` member appears more than once.
    Repeated,
    /// The `sha-256` member is not the standard base64 of 32 bytes.
    WrongLength,
}

impl fmt::Display for ContentDigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "Content-Digest is not a dictionary of name=:base64: members",
            Self::Repeated => "Content-Digest has more than one sha-256 member",
            Self::WrongLength => "the sha-256 member of Content-Digest is not 32 bytes in base64",
        })
    }
}

impl std::error::Error for ContentDigestError {}

impl BodyDigest {
    /// The `sha-256` member that a request's `Content-Digest` headers
    /// ([RFC 9530](https://www.rfc-editor.org/rfc/rfc9530)) declare, if any
    /// ([`declared_for`](Self::declared_for) reads another algorithm's).
    ///
    /// Every field line is read (a list may be split across lines); members
    /// other than `sha-256` are ignored, so `sha-512=:…:, sha-256=:…:` works.
    /// `Ok(None)` when no line has a `sha-256` member.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tower_hmac::BodyDigest;
    ///
    /// let digest = BodyDigest::of(b"hello");
    /// let mut headers = HeaderMap::new();
    /// headers.insert("content-digest", digest.to_content_digest());
    /// assert_eq!(BodyDigest::declared(&headers), Ok(Some(digest)));
    /// assert_eq!(BodyDigest::declared(&HeaderMap::new()), Ok(None));
    /// ```
    pub fn declared(headers: &HeaderMap) -> Result<Option<Self>, ContentDigestError> {
        Self::declared_for(headers, Algorithm::HmacSha256)
    }

    /// The member of `algorithm` that a request's `Content-Digest` headers
    /// declare, if any: `sha-256` for [`Algorithm::HmacSha256`], `blake3`
    /// for `Algorithm::Blake3Keyed` (a name of this protocol's, not in
    /// RFC 9530's registry). Read as [`declared`](Self::declared) reads
    /// `sha-256`; the errors name `sha-256` whatever the member.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tower_hmac::{Algorithm, BodyDigest};
    ///
    /// let digest = BodyDigest::for_algorithm(Algorithm::HmacSha256, b"hello");
    /// let mut headers = HeaderMap::new();
    /// headers.insert("content-digest", digest.to_content_digest());
    /// assert_eq!(BodyDigest::declared_for(&headers, Algorithm::HmacSha256), Ok(Some(digest)));
    /// ```
    pub fn declared_for(
        headers: &HeaderMap,
        algorithm: Algorithm,
    ) -> Result<Option<Self>, ContentDigestError> {
        let wanted = algorithm.content_digest_member();
        let mut found = None;
        const CONTENT_DIGEST: http::HeaderName = http::HeaderName::from_static("content-digest");
        for line in headers.get_all(CONTENT_DIGEST) {
            let line = line.to_str().map_err(|_| ContentDigestError::Syntax)?;
            for member in line.split(',') {
                let member = member.trim_matches([' ', '\t']);
                if member.is_empty() {
                    return Err(ContentDigestError::Syntax);
                }
                let (name, value) = member.split_once('=').ok_or(ContentDigestError::Syntax)?;
                // A dictionary value may carry parameters (`;a=b`); a digest has none.
                let value = value.split(';').next().unwrap_or_default();
                let bytes = value
                    .strip_prefix(':')
                    .and_then(|v| v.strip_suffix(':'))
                    .ok_or(ContentDigestError::Syntax)?;
                if name != wanted {
                    continue;
                }
                if found.is_some() {
                    return Err(ContentDigestError::Repeated);
                }
                let mut digest = [0u8; 32];
                match STANDARD.decode_slice(bytes, &mut digest) {
                    Ok(32) => found = Some(Self::from_algorithm_bytes(algorithm, digest)),
                    _ => return Err(ContentDigestError::WrongLength),
                }
            }
        }
        Ok(found)
    }

    /// This digest as a `Content-Digest` value: `sha-256=:<base64>:`
    /// (`blake3=:<base64>:` for a BLAKE3 digest).
    pub fn to_content_digest(&self) -> HeaderValue {
        let mut text = String::with_capacity(54);
        text.push_str(self.algorithm.content_digest_member());
        text.push_str("=:");
        STANDARD.encode_string(self.bytes, &mut text);
        text.push(':');
        HeaderValue::try_from(text).expect("base64 is visible ASCII")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_matches_the_formatter_for_every_byte_at_every_position() {
        for b in 0..=255u8 {
            for position in 0..32 {
                let mut bytes = [0x5a; 32];
                bytes[position] = b;
                let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(super::BodyDigest::from_bytes(bytes).to_hex(), expected);
            }
        }
        let empty = super::BodyDigest::EMPTY;
        let expected: String = empty.bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(empty.to_hex(), expected);
    }

    #[test]
    fn content_digest_members() {
        use super::{BodyDigest, ContentDigestError as E};
        use http::HeaderMap;
        let digest = BodyDigest::of(b"hello");
        let b64 = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";
        let parse = |lines: &[&str]| {
            let mut headers = HeaderMap::new();
            for line in lines {
                headers.append("content-digest", line.parse().unwrap());
            }
            BodyDigest::declared(&headers)
        };
        assert_eq!(parse(&[&format!("sha-256=:{b64}:")]), Ok(Some(digest)));
        assert_eq!(
            parse(&[&format!("sha-512=:AAAA:, sha-256=:{b64}:")]),
            Ok(Some(digest))
        );
        assert_eq!(
            parse(&["sha-512=:AAAA:", &format!("sha-256=:{b64}:")]),
            Ok(Some(digest))
        );
        assert_eq!(parse(&["sha-512=:AAAA:"]), Ok(None));
        assert_eq!(
            parse(&[&format!("sha-256=:{b64}:, sha-256=:{b64}:")]),
            Err(E::Repeated)
        );
        assert_eq!(parse(&["sha-256=:AAAA:"]), Err(E::WrongLength));
        assert_eq!(parse(&[&format!("sha-256={b64}")]), Err(E::Syntax));
        assert_eq!(parse(&["sha-256"]), Err(E::Syntax));
        assert_eq!(parse(&[&format!("sha-256=:{b64}:,")]), Err(E::Syntax));
        assert_eq!(
            digest.to_content_digest(),
            format!("sha-256=:{b64}:").as_str()
        );
    }
}
