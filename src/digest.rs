//! The SHA-256 of a request body, shared by every scheme, and RFC 9530's
//! `Content-Digest` header that declares it up front.

use std::fmt;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use http::{HeaderMap, HeaderValue};

use crate::crypto::{Active, Backend};

/// The SHA-256 digest of a request body, the last line of the string-to-sign.
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
pub struct BodyDigest([u8; 32]);

impl BodyDigest {
    /// The digest of an empty body, the body of most `GET`s.
    ///
    /// ```
    /// use tower_hmac::BodyDigest;
    ///
    /// assert_eq!(BodyDigest::EMPTY, BodyDigest::of(b""));
    /// ```
    pub const EMPTY: Self = Self([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// The digest of a body held in memory.
    pub fn of(body: &[u8]) -> Self {
        let mut hasher = BodyHasher::new();
        hasher.update(body);
        hasher.finish()
    }

    /// Wraps a SHA-256 digest computed elsewhere.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
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
        for (eight, four) in out.chunks_exact_mut(8).zip(self.0.chunks_exact(4)) {
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
        write!(f, "BodyDigest({})", self.to_hex())
    }
}

/// Computes a [`BodyDigest`] incrementally, for a body that is signed
/// before it is sent (a file hashed in chunks, say).
///
/// ```
/// use tower_hmac::{BodyDigest, BodyHasher};
///
/// let mut hasher = BodyHasher::new();
/// hasher.update(b"hello ");
/// hasher.update(b"world");
/// assert_eq!(hasher.finish(), BodyDigest::of(b"hello world"));
/// ```
#[derive(Clone, Default)]
pub struct BodyHasher(<Active as Backend>::Hasher);

impl BodyHasher {
    /// A hasher that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the body.
    pub fn update(&mut self, bytes: &[u8]) {
        Active::update(&mut self.0, bytes);
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> BodyDigest {
        BodyDigest(Active::finish(self.0))
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
    /// ([RFC 9530](https://www.rfc-editor.org/rfc/rfc9530)) declare, if any.
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
                if name != "sha-256" {
                    continue;
                }
                if found.is_some() {
                    return Err(ContentDigestError::Repeated);
                }
                let mut digest = [0u8; 32];
                match STANDARD.decode_slice(bytes, &mut digest) {
                    Ok(32) => found = Some(Self(digest)),
                    _ => return Err(ContentDigestError::WrongLength),
                }
            }
        }
        Ok(found)
    }

    /// This digest as a `Content-Digest` value: `sha-256=:<base64>:`.
    pub fn to_content_digest(&self) -> HeaderValue {
        let mut text = String::with_capacity(54);
        text.push_str("sha-256=:");
        STANDARD.encode_string(self.0, &mut text);
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
                assert_eq!(super::BodyDigest(bytes).to_hex(), expected);
            }
        }
        let empty = super::BodyDigest::EMPTY;
        let expected: String = empty.0.iter().map(|b| format!("{b:02x}")).collect();
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
