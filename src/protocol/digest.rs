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
        let mut out = [0u8; 64];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
        }
        out
    }
}

/// Each byte's two lowercase hex digits: one lookup per byte instead of two.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [HEX[b >> 4], HEX[b & 0x0f]];
        b += 1;
    }
    table
};

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
