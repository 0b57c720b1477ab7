use std::fmt;

use crate::crypto::{Active, Backend};

/// The SHA-256 digest of a request body, the last line of the string-to-sign.
///
/// ```
/// use tower_hmac::protocol::BodyDigest;
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
    /// use tower_hmac::protocol::BodyDigest;
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
/// use tower_hmac::protocol::{BodyDigest, BodyHasher};
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
}
