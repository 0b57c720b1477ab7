//! Why a raw handshake failed.

use std::{fmt, io, time::Duration};

/// Why a [raw handshake](super::RawHandshake) failed.
///
/// The recipes send no verdict, so a wrong key is seen only by the
/// accepting side ([`WrongDigest`](Self::WrongDigest)): the connecting side
/// has answered, and learns nothing more than that the peer then closes
/// (or does not).
#[derive(Debug)]
#[non_exhaustive]
pub enum RawHandshakeError {
    /// The transport failed (a reset, a broken pipe…).
    Io(io::Error),
    /// The peer closed the connection after `received` of the `expected`
    /// bytes of the challenge (when connecting) or of the answer (when
    /// accepting): a short answer, or no answer at all.
    Truncated {
        /// How many bytes arrived.
        received: usize,
        /// How many the recipe needs.
        expected: usize,
    },
    /// The handshake did not finish within the
    /// [configured time](super::RawHandshake::timeout): a silent peer, or
    /// one whose challenge or answer is shorter than the recipe's and which
    /// then waits.
    Timeout(Duration),
    /// The peer's answer is wrong: it does not hold the key, or uses another
    /// digest.
    WrongDigest,
    /// The peer's challenge has a byte outside the recipe's alphabet, at
    /// this offset. It was not answered.
    NotInAlphabet {
        /// The offset of the first such byte.
        at: usize,
    },
    /// The peer's challenge starts with what another use of the key signs
    /// (an HTTP string-to-sign, a `multiprocessing` challenge): it may be
    /// trying to have one signed. It was not answered.
    ReservedChallenge {
        /// The prefix: `"HMAC-SHA256"` or `"{sha256}"`.
        prefix: &'static str,
    },
    /// The recipe uses HMAC-MD5 and this side has not
    /// allowed it (`RawHandshake::allow_legacy`). Nothing was sent or read.
    LegacyNotAllowed,
    /// The operating system's random source failed, so no challenge could be made.
    RandomSource,
}

impl fmt::Display for RawHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "raw handshake: I/O error: {e}"),
            Self::Truncated { received, expected } => write!(
                f,
                "raw handshake: the peer closed the connection after {received} of {expected} bytes"
            ),
            Self::Timeout(after) => write!(f, "raw handshake: not finished after {after:?}"),
            Self::WrongDigest => {
                f.write_str("raw handshake: the peer's answer is wrong (it does not hold the key)")
            }
            Self::NotInAlphabet { at } => write!(
                f,
                "raw handshake: the peer's challenge has a byte outside the alphabet at offset {at}"
            ),
            Self::ReservedChallenge { prefix } => write!(
                f,
                "raw handshake: the peer's challenge starts with {prefix:?}, which another use of the key signs; not answered"
            ),
            Self::LegacyNotAllowed => f.write_str(
                "raw handshake: the recipe uses HMAC-MD5, which is not allowed (allow_legacy)",
            ),
            Self::RandomSource => {
                f.write_str("raw handshake: the operating system's random source failed")
            }
        }
    }
}

impl std::error::Error for RawHandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RawHandshakeError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}
