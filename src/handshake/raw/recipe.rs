//! What a raw recipe sends and computes: the challenge's length and
//! alphabet, and the HMAC's digest.

use std::{borrow::Cow, fmt};

use super::RawHandshakeError;
use crate::handshake::{AuthKey, MAX_HANDSHAKE_MESSAGE};

/// The hash of the answer's HMAC.
///
/// `Md5` exists only with the `handshake-legacy` feature, and a
/// [`RawHandshake`](super::RawHandshake) uses it only after
/// `allow_legacy(true)`.
///
/// ```
/// use tower_hmac::handshake::raw::Digest;
///
/// assert_eq!(Digest::Sha256.output_len(), 32);
/// assert_eq!(Digest::Sha256.to_string(), "HMAC-SHA256");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Digest {
    /// HMAC-SHA256: 32 bytes. Python's `digestmod=hashlib.sha256`.
    Sha256,
    /// HMAC-MD5: 16 bytes. The Go recipe's, and the Cookbook recipe's as
    /// printed (before Python 3.8 made `digestmod` mandatory, MD5 was implied).
    #[cfg(feature = "handshake-legacy")]
    Md5,
}

impl Digest {
    /// The length of the answer, in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            #[cfg(feature = "handshake-legacy")]
            Self::Md5 => 16,
        }
    }

    /// `"HMAC-SHA256"` or `"HMAC-MD5"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "HMAC-SHA256",
            #[cfg(feature = "handshake-legacy")]
            Self::Md5 => "HMAC-MD5",
        }
    }

    /// Whether this is the legacy MD5, which needs `allow_legacy(true)`.
    pub(crate) fn is_legacy(self) -> bool {
        match self {
            Self::Sha256 => false,
            #[cfg(feature = "handshake-legacy")]
            Self::Md5 => true,
        }
    }

    /// The answer to `challenge`: the raw `HMAC(key, challenge)`.
    pub(crate) fn mac(self, key: &AuthKey, challenge: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => crate::handshake::modern::hmac_sha256(key, challenge).to_vec(),
            #[cfg(feature = "handshake-legacy")]
            Self::Md5 => crate::handshake::legacy::hmac_md5(key, challenge).to_vec(),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The bytes a challenge is made of, each drawn uniformly from the
/// operating system's random source.
///
/// The connecting side refuses a challenge with a byte outside it
/// ([`RawHandshakeError::NotInAlphabet`](super::RawHandshakeError::NotInAlphabet)),
/// without answering.
///
/// ```
/// use tower_hmac::handshake::raw::Alphabet;
///
/// assert_eq!(Alphabet::ALPHANUMERIC.size(), 62);
/// assert!(Alphabet::ALPHANUMERIC.contains(b'z') && !Alphabet::ALPHANUMERIC.contains(b'-'));
/// assert_eq!(Alphabet::BYTES.size(), 256);
/// let hex = Alphabet::new(b"0123456789abcdef".to_vec()).unwrap();
/// assert_eq!(hex.size(), 16);
/// assert!(Alphabet::new(b"aa".to_vec()).is_err()); // a symbol twice
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Alphabet(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    /// Every byte value, as `os.urandom`.
    Bytes,
    /// 2 to 255 distinct bytes.
    Symbols(Cow<'static, [u8]>),
}

impl Alphabet {
    /// Any byte: the Cookbook recipe's `os.urandom(32)`.
    pub const BYTES: Self = Self(Repr::Bytes);
    /// `0-9A-Za-z`, 62 symbols: the Go recipe's.
    pub const ALPHANUMERIC: Self = Self(Repr::Symbols(Cow::Borrowed(ALPHANUMERIC)));

    /// An alphabet of the given symbols: 2 to 256 distinct bytes.
    pub fn new(symbols: impl Into<Vec<u8>>) -> Result<Self, InvalidRecipe> {
        let symbols = symbols.into();
        let mut seen = [false; 256];
        for &byte in &symbols {
            if std::mem::replace(&mut seen[usize::from(byte)], true) {
                return Err(InvalidRecipe::RepeatedSymbol(byte));
            }
        }
        match symbols.len() {
            0 | 1 => Err(InvalidRecipe::TooFewSymbols(symbols.len())),
            256 => Ok(Self::BYTES),
            _ => Ok(Self(Repr::Symbols(Cow::Owned(symbols)))),
        }
    }

    /// How many symbols it has.
    pub fn size(&self) -> usize {
        match &self.0 {
            Repr::Bytes => 256,
            Repr::Symbols(symbols) => symbols.len(),
        }
    }

    /// Whether `byte` is one of its symbols.
    pub fn contains(&self, byte: u8) -> bool {
        match &self.0 {
            Repr::Bytes => true,
            Repr::Symbols(symbols) => symbols.contains(&byte),
        }
    }

    /// Fills `out` with symbols drawn uniformly (rejection sampling, so that
    /// no symbol is likelier than another).
    fn fill_random(&self, out: &mut [u8]) -> Result<(), RawHandshakeError> {
        let symbols = match &self.0 {
            Repr::Bytes => {
                return getrandom::fill(out).map_err(|_| RawHandshakeError::RandomSource)
            }
            Repr::Symbols(symbols) => symbols,
        };
        // The largest multiple of the alphabet's size that fits in a byte:
        // bytes at or above it would favour the first symbols.
        let limit = 256 - 256 % symbols.len();
        let mut pool = [0u8; 64];
        let mut used = pool.len();
        let mut filled = 0;
        while filled < out.len() {
            if used == pool.len() {
                getrandom::fill(&mut pool).map_err(|_| RawHandshakeError::RandomSource)?;
                used = 0;
            }
            let byte = usize::from(pool[used]);
            used += 1;
            if byte < limit {
                out[filled] = symbols[byte % symbols.len()];
                filled += 1;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Alphabet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Bytes => f.write_str("Alphabet::BYTES"),
            Repr::Symbols(symbols) if symbols.as_ref() == ALPHANUMERIC => {
                f.write_str("Alphabet::ALPHANUMERIC")
            }
            Repr::Symbols(symbols) => {
                write!(f, "Alphabet({:?})", String::from_utf8_lossy(symbols))
            }
        }
    }
}

/// A raw recipe: how long its challenge is, what it is made of, and the
/// digest of the answer's HMAC.
///
/// `go()` (feature `handshake-legacy`) and [`cookbook`](Self::cookbook) are
/// the two recipes as deployed; [`new`](Self::new) makes any other (a Go recipe moved to
/// SHA-256, say). A challenge carries at least
/// [`MIN_CHALLENGE_BITS`](Self::MIN_CHALLENGE_BITS) bits of randomness and
/// at most [`MAX_CHALLENGE_LEN`](Self::MAX_CHALLENGE_LEN) bytes.
///
/// ```
/// use tower_hmac::handshake::raw::{Alphabet, Digest, Recipe};
///
/// let cookbook = Recipe::cookbook(Digest::Sha256);
/// assert_eq!((cookbook.challenge_len(), cookbook.answer_len()), (32, 32));
///
/// // The Go recipe's challenge, answered with HMAC-SHA256 instead of HMAC-MD5.
/// let go_sha256 = Recipe::new(16, Alphabet::ALPHANUMERIC, Digest::Sha256).unwrap();
/// assert_eq!(go_sha256.alphabet(), &Alphabet::ALPHANUMERIC);
///
/// // 8 random bytes are 64 bits: too guessable.
/// assert!(Recipe::new(8, Alphabet::BYTES, Digest::Sha256).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    challenge_len: usize,
    alphabet: Alphabet,
    digest: Digest,
}

impl Recipe {
    /// The longest challenge, in bytes: the existing handshake's message limit
    /// ([`MAX_HANDSHAKE_MESSAGE`]).
    pub const MAX_CHALLENGE_LEN: usize = MAX_HANDSHAKE_MESSAGE;
    /// The least randomness a challenge must carry: `challenge_len ×
    /// log2(alphabet size)` bits. The Go recipe's carries 95, the Cookbook's 256.
    pub const MIN_CHALLENGE_BITS: u32 = 80;

    /// The Go recipe: 16 characters of `0-9A-Za-z`, answered with the raw
    /// 16-byte HMAC-MD5.
    #[cfg(feature = "handshake-legacy")]
    pub fn go() -> Self {
        Self {
            challenge_len: 16,
            alphabet: Alphabet::ALPHANUMERIC,
            digest: Digest::Md5,
        }
    }

    /// The Python Cookbook recipe: 32 random bytes (`os.urandom(32)`),
    /// answered with `hmac.new(key, challenge, digestmod).digest()`.
    pub fn cookbook(digest: Digest) -> Self {
        Self {
            challenge_len: 32,
            alphabet: Alphabet::BYTES,
            digest,
        }
    }

    /// Any other recipe.
    pub fn new(
        challenge_len: usize,
        alphabet: Alphabet,
        digest: Digest,
    ) -> Result<Self, InvalidRecipe> {
        if challenge_len > Self::MAX_CHALLENGE_LEN {
            return Err(InvalidRecipe::ChallengeTooLong {
                len: challenge_len,
                max: Self::MAX_CHALLENGE_LEN,
            });
        }
        let bits = challenge_len as f64 * (alphabet.size() as f64).log2();
        if bits < f64::from(Self::MIN_CHALLENGE_BITS) {
            return Err(InvalidRecipe::TooGuessable {
                bits: bits as u32,
                min: Self::MIN_CHALLENGE_BITS,
            });
        }
        Ok(Self {
            challenge_len,
            alphabet,
            digest,
        })
    }

    /// The challenge's length, in bytes.
    pub fn challenge_len(&self) -> usize {
        self.challenge_len
    }

    /// What the challenge is made of.
    pub fn alphabet(&self) -> &Alphabet {
        &self.alphabet
    }

    /// The digest of the answer's HMAC.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The answer's length, in bytes: the digest's.
    pub fn answer_len(&self) -> usize {
        self.digest.output_len()
    }

    /// A fresh challenge, never one that another use of the key signs.
    pub(crate) fn new_challenge(&self) -> Result<Vec<u8>, RawHandshakeError> {
        let mut challenge = vec![0; self.challenge_len];
        loop {
            self.alphabet.fill_random(&mut challenge)?;
            // At most 2^-64 likely; redrawn so that it is never.
            if reserved_prefix(&challenge).is_none() {
                return Ok(challenge);
            }
        }
    }

    /// Checks a peer's challenge before it is answered.
    pub(crate) fn check_challenge(&self, challenge: &[u8]) -> Result<(), RawHandshakeError> {
        if let Some(at) = challenge.iter().position(|&b| !self.alphabet.contains(b)) {
            return Err(RawHandshakeError::NotInAlphabet { at });
        }
        if let Some(prefix) = reserved_prefix(challenge) {
            return Err(RawHandshakeError::ReservedChallenge { prefix });
        }
        Ok(())
    }
}

/// What the other uses of an [`AuthKey`] sign with HMAC-SHA256 start with:
/// the native HTTP scheme (its strings-to-sign `HMAC-SHA256\n…`, its chunk
/// signatures `HMAC-SHA256-CHUNK\n…`) and the `multiprocessing` handshake
/// (challenges `{sha256}…`). A raw side never answers, nor sends, a
/// challenge that starts with one of them.
pub(crate) const RESERVED_PREFIXES: [&str; 2] = [crate::schemes::hmac_sha256::SCHEME, "{sha256}"];

fn reserved_prefix(challenge: &[u8]) -> Option<&'static str> {
    RESERVED_PREFIXES
        .into_iter()
        .find(|prefix| challenge.starts_with(prefix.as_bytes()))
}

/// A [`Recipe`] or an [`Alphabet`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRecipe {
    /// The challenge is longer than [`Recipe::MAX_CHALLENGE_LEN`].
    ChallengeTooLong {
        /// The length asked for.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The challenge carries fewer than [`Recipe::MIN_CHALLENGE_BITS`] bits.
    TooGuessable {
        /// The bits it carries (rounded down).
        bits: u32,
        /// The least accepted.
        min: u32,
    },
    /// An alphabet needs at least two symbols; it has this many.
    TooFewSymbols(usize),
    /// An alphabet has this symbol more than once.
    RepeatedSymbol(u8),
}

impl fmt::Display for InvalidRecipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChallengeTooLong { len, max } => {
                write!(f, "a challenge of {len} bytes is over the limit of {max}")
            }
            Self::TooGuessable { bits, min } => write!(
                f,
                "a challenge of {bits} random bits is too guessable (at least {min})"
            ),
            Self::TooFewSymbols(n) => {
                write!(f, "an alphabet of {n} symbols (at least 2 are needed)")
            }
            Self::RepeatedSymbol(byte) => {
                write!(f, "the alphabet has the byte {byte:#04x} more than once")
            }
        }
    }
}

impl std::error::Error for InvalidRecipe {}
