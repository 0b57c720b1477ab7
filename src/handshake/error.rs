//! Why a handshake or a message failed.

use std::{fmt, io, time::Duration};

/// A message could not be read or written.
///
/// After any of these but [`Closed`](Self::Closed), the stream may be in
/// the middle of a message: the connection refuses further reads (or writes)
/// with [`Broken`](Self::Broken). Drop it.
#[derive(Debug)]
#[non_exhaustive]
pub enum FrameError {
    /// The transport failed.
    Io(io::Error),
    /// The peer closed the connection where a message should have started.
    /// [`Connection::recv_bytes`](super::Connection::recv_bytes) reports this
    /// as `Ok(None)`; the handshake reports it as an error.
    Closed,
    /// The peer closed the connection in the middle of a message.
    Truncated,
    /// The announced length is over the limit: 256 bytes during the
    /// handshake, [`Connection::max_message_len`](super::Connection::max_message_len)
    /// after it. Nothing of the payload is read.
    TooLarge {
        /// The length the peer announced.
        len: u64,
        /// The limit it is over.
        max: usize,
    },
    /// The length is negative and not `-1` (the marker of an 8-byte length).
    /// CPython reads such a message as empty; this crate refuses it.
    InvalidLength {
        /// The length as sent.
        len: i32,
    },
    /// An earlier error, or a send cancelled half-way, left the stream in
    /// the middle of a message.
    Broken,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Closed => f.write_str("the peer closed the connection"),
            Self::Truncated => {
                f.write_str("the peer closed the connection in the middle of a message")
            }
            Self::TooLarge { len, max } => {
                write!(f, "a message of {len} bytes is over the limit of {max}")
            }
            Self::InvalidLength { len } => write!(f, "invalid message length {len}"),
            Self::Broken => f.write_str(
                "an earlier error left the connection in the middle of a message; drop it",
            ),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Why a [handshake](super::Handshake) failed.
///
/// Either side ends up with one of these and the other side with its own;
/// for a wrong key, the side whose challenge was answered wrongly gets
/// [`WrongDigest`](Self::WrongDigest) and the side that answered it gets
/// [`Rejected`](Self::Rejected) (Python raises `AuthenticationError` in both
/// roles).
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A handshake message could not be read or written: I/O error, closed
    /// connection, a message over 256 bytes, a truncated one…
    Frame(FrameError),
    /// The handshake did not finish within the
    /// [configured time](super::Handshake::timeout).
    Timeout(Duration),
    /// The peer's first message is not a `#CHALLENGE#` (it may not speak this
    /// protocol, or sent its challenge out of turn).
    NotAChallenge,
    /// The challenge has fewer than 20 bytes after `#CHALLENGE#`.
    ChallengeTooShort {
        /// Its length after `#CHALLENGE#`.
        len: usize,
    },
    /// The challenge or the reply names a digest other than `{sha256}`, or
    /// names none and does not have the legacy form's length either.
    UnsupportedDigest,
    /// The peer uses the legacy HMAC-MD5 form (CPython 3.11 and earlier), and
    /// this side does not allow it (see `Handshake::allow_legacy`, feature
    /// `handshake-legacy`).
    LegacyPeer,
    /// The peer's answer to our challenge is wrong: it does not hold our key.
    /// It was told `#FAILURE#`.
    WrongDigest,
    /// The peer refused our answer to its challenge (`#FAILURE#`): we do not
    /// hold its key, or it does not accept our form.
    Rejected,
    /// The peer's verdict on our answer is neither `#WELCOME#` nor `#FAILURE#`.
    UnexpectedVerdict,
    /// The operating system's random source failed, so no challenge could be made.
    RandomSource,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame(e) => write!(f, "handshake: {e}"),
            Self::Timeout(after) => write!(f, "handshake: not finished after {after:?}"),
            Self::NotAChallenge => f.write_str("handshake: the peer's message is not a challenge"),
            Self::ChallengeTooShort { len } => write!(
                f,
                "handshake: the peer's challenge has {len} bytes, fewer than {}",
                super::frame::MIN_CHALLENGE_LEN
            ),
            Self::UnsupportedDigest => {
                f.write_str("handshake: unsupported digest, or a message without a digest prefix")
            }
            Self::LegacyPeer => f.write_str(
                "handshake: the peer uses the legacy HMAC-MD5 form, which is not allowed",
            ),
            Self::WrongDigest => {
                f.write_str("handshake: the peer's answer is wrong (it does not hold the key)")
            }
            Self::Rejected => {
                f.write_str("handshake: the peer rejected our answer (we do not hold its key)")
            }
            Self::UnexpectedVerdict => {
                f.write_str("handshake: the peer's verdict is neither #WELCOME# nor #FAILURE#")
            }
            Self::RandomSource => {
                f.write_str("handshake: the operating system's random source failed")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<FrameError> for HandshakeError {
    fn from(e: FrameError) -> Self {
        Self::Frame(e)
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        Self::Frame(FrameError::Io(e))
    }
}
