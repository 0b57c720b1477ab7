//! The raw, unframed challenge-response recipes that some deployments
//! copied before tower-hmac: the **Go recipe** and the **Python Cookbook
//! recipe**. For migrating them only: both are weak (see
//! [below](#what-the-recipes-do-not-protect)); new links should use
//! [`Handshake`], inside TLS.
//!
//! Both recipes are one exchange in one direction, with no framing and no
//! verdict:
//!
//! 1. the accepting side (the recipe's server) writes a random challenge;
//! 2. the connecting side (its client) writes the raw `HMAC(key, challenge)`;
//! 3. the accepting side compares, in constant time, and goes on or closes.
//!
//! | recipe | challenge | answer | [`Recipe`] |
//! |---|---|---|---|
//! | Go | 16 characters of `0-9A-Za-z` | HMAC-MD5, 16 bytes | `Recipe::go()` (feature `handshake-legacy`) |
//! | Python Cookbook | `os.urandom(32)` | `hmac.new(key, challenge, digestmod).digest()` | [`Recipe::cookbook(Digest::Sha256)`](Recipe::cookbook), or `Digest::Md5` |
//!
//! [`RawHandshake::accept`] and [`RawHandshake::connect`] run either side
//! and hand the stream back untouched: an [`Authenticated`] stream (the peer
//! holds the key) or an [`Answered`] one (we have answered; the recipes say
//! nothing back, so whether the peer accepted is not known here). What
//! follows is the caller's: the Cookbook's server echoes, the Go recipe's
//! closes.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
//! use tower_hmac::handshake::{
//!     raw::{Digest, RawHandshake, Recipe},
//!     AuthKey,
//! };
//!
//! let raw = RawHandshake::new(AuthKey::new(vec![42; 32])?, Recipe::cookbook(Digest::Sha256));
//! let (server, client) = tokio::io::duplex(4096);
//! let (server, client) = tokio::join!(raw.accept(server), raw.connect(client));
//! let mut server = server?.into_inner(); // the peer proved it holds the key
//! let mut client = client?.into_inner(); // answered; no verdict comes back
//!
//! client.write_all(b"hello").await?; // plain bytes from here on
//! let mut echo = [0; 5];
//! server.read_exact(&mut echo).await?;
//! assert_eq!(&echo, b"hello");
//! # Ok(())
//! # }
//! ```
//!
//! # MD5
//!
//! The Go recipe answers with HMAC-MD5, and so does the Cookbook recipe as
//! printed (it predates Python 3.8, which made `digestmod` mandatory; MD5 was
//! the default). `Digest::Md5` exists only with the `handshake-legacy`
//! feature, and a [`RawHandshake`] uses it only after
//! `RawHandshake::allow_legacy(true)`; otherwise both sides
//! fail with [`RawHandshakeError::LegacyNotAllowed`] before sending or
//! reading anything.
//!
//! # Reading the answer, and short reads
//!
//! The Go recipe's server takes whatever its one `Read` (of up to 4096
//! bytes) returns as the whole answer; the Cookbook's server takes what one
//! `recv(len(digest))` returns. TCP keeps no message boundaries, so both
//! refuse a genuine answer that happens to arrive in two pieces (a tiny
//! write is rarely split, but TLS records, proxies and small MTUs can).
//!
//! This side reads until it has exactly the digest's length (16 or 32
//! bytes), however many reads that takes, within the timeout. Every answer
//! the recipes accept is accepted, and a split one too. It reads nothing
//! past the answer: whatever follows stays on the stream for the caller
//! (the Cookbook's client may send its first message in the same segment,
//! and its server echoes it; so does this side's caller). Unlike the Go
//! recipe's server, then, this side does not refuse a right answer followed
//! at once by more bytes; the caller of a Go-recipe server closes the
//! stream, unread. A short answer is refused when the peer closes
//! ([`RawHandshakeError::Truncated`]) or at the timeout.
//!
//! The connecting side reads exactly the recipe's challenge length, never
//! more: a server that sends more has the rest handed back unread, and is
//! answered once. (The Go recipe's client takes every read as a new
//! challenge, so its server must never write after the challenge; this
//! side's accepting half writes nothing but the challenge, in a single
//! write, so that a one-read client gets it whole.)
//!
//! Like [`Handshake`], the whole exchange is bounded by a
//! [timeout](RawHandshake::timeout), 10 seconds by default, and challenges
//! by [`Recipe::MAX_CHALLENGE_LEN`] (256 bytes, the existing handshake's
//! message limit). The recipes' own servers wait for ever for a silent client.
//!
//! # Sharing a key with HTTP signing
//!
//! The raw recipes sign a random challenge; every HTTP string-to-sign of the
//! native scheme starts with a fixed algorithm line (`HMAC-SHA256\n`, and
//! `HMAC-SHA256-CHUNK\n` for chunk signatures), and every challenge of the
//! `multiprocessing` handshake with `{sha256}`. So, and tests pin it:
//!
//! - the accepting side never sends a challenge that starts with
//!   `HMAC-SHA256` or `{sha256}` (an alphanumeric one cannot; a random one is
//!   drawn again in the 2⁻⁶⁴ case that it does), so no HTTP signature and no
//!   `multiprocessing` answer is ever a valid answer to it;
//! - the connecting side, which signs whatever the peer sends, refuses
//!   without answering a challenge that starts with either
//!   ([`RawHandshakeError::ReservedChallenge`]), or that has a byte outside
//!   the recipe's alphabet ([`RawHandshakeError::NotInAlphabet`]: an
//!   alphanumeric challenge has no `\n`, `-` or `{`). A hostile server can
//!   make it sign only challenge-shaped bytes.
//!
//! One [`AuthKey`] may therefore serve the raw recipes,
//! the native HTTP scheme and the modern `multiprocessing` handshake. It
//! must **not** also serve a scheme that signs attacker-chosen bytes with the
//! raw key and no fixed prefix (the schnellburger scheme signs
//! `GET/path?query` as is: a hostile Cookbook server could get such a
//! request signed by our client), nor, with an MD5 recipe, the handshake's
//! legacy HMAC-MD5 form (20 random bytes, no prefix). When in doubt, give
//! the recipes their own key.
//!
//! # What the recipes do not protect
//!
//! - **Only the client is authenticated.** The client never learns whether
//!   the server holds the key: anyone can play the server and collect
//!   answers (each useless against a fresh challenge, but the client goes on
//!   talking to an impostor).
//! - **No verdict.** The client cannot tell a refusal from a server that
//!   simply closes (the Go recipe's always does) or that says nothing yet.
//! - **Nothing after it is protected.** The messages are neither signed nor
//!   encrypted, and the handshake is not bound to them: a machine in the
//!   middle relays the challenge and the answer, then reads, changes or
//!   injects whatever it likes. Run the link inside TLS.
//! - **MD5**, in the Go recipe and the Cookbook as printed: HMAC-MD5 is not
//!   known to be forgeable, but it is the weaker construction.
//! - **No timeout and no size bound** in the recipes' own servers (this side
//!   has both), and no negotiation: both ends must agree on the recipe out of
//!   band.
//!
//! A recorded answer does not replay: each challenge is fresh (95 random
//! bits for the Go recipe, 256 for the Cookbook's).

mod error;
mod recipe;
#[cfg(test)]
mod tests;

use std::time::Duration;

use subtle::ConstantTimeEq as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

pub use error::RawHandshakeError;
pub use recipe::{Alphabet, Digest, InvalidRecipe, Recipe};

use super::{AuthKey, Handshake};

/// Runs a raw recipe's exchange on a stream, as either side.
///
/// [`accept`](Self::accept) is the recipe's server: it writes the
/// challenge and checks the answer. [`connect`](Self::connect) is its
/// client: it reads the challenge and answers it. Which side opened the
/// connection does not matter. Cheap to clone; the key is shared, never
/// printed.
///
/// ```
/// use std::time::Duration;
/// use tower_hmac::handshake::{
///     raw::{Digest, RawHandshake, Recipe},
///     AuthKey,
/// };
///
/// let raw = RawHandshake::new(AuthKey::new(vec![42; 32]).unwrap(), Recipe::cookbook(Digest::Sha256))
///     .timeout(Duration::from_secs(5));
/// assert_eq!(raw.timeout_duration(), Duration::from_secs(5));
/// assert_eq!(raw.recipe().challenge_len(), 32);
/// assert!(format!("{raw:?}").contains("AuthKey(<redacted>)"));
/// ```
#[derive(Debug, Clone)]
pub struct RawHandshake {
    key: AuthKey,
    recipe: Recipe,
    timeout: Duration,
    legacy: bool,
}

impl RawHandshake {
    /// How long the exchange may take by default: 10 seconds, as
    /// [`Handshake::DEFAULT_TIMEOUT`].
    pub const DEFAULT_TIMEOUT: Duration = Handshake::DEFAULT_TIMEOUT;

    /// A raw handshake with `key` and `recipe`, the default timeout, and
    /// HMAC-MD5 not allowed.
    pub fn new(key: AuthKey, recipe: Recipe) -> Self {
        Self {
            key,
            recipe,
            timeout: Self::DEFAULT_TIMEOUT,
            legacy: false,
        }
    }

    /// Sets how long the whole exchange may take, from the first byte sent
    /// or awaited to the last. A peer that stalls, or sends less than the
    /// recipe needs and waits, is dropped with [`RawHandshakeError::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the whole exchange may take.
    pub fn timeout_duration(&self) -> Duration {
        self.timeout
    }

    /// The recipe.
    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }

    /// Allows a recipe with [`Digest::Md5`] (the Go recipe, the Cookbook as
    /// printed). Off by default, even with the feature on, so that another
    /// crate enabling the feature weakens nobody else's handshakes.
    ///
    /// ```
    /// use tower_hmac::handshake::{
    ///     raw::{RawHandshake, Recipe},
    ///     AuthKey,
    /// };
    ///
    /// let go = RawHandshake::new(AuthKey::new(vec![42; 32]).unwrap(), Recipe::go()).allow_legacy(true);
    /// ```
    #[cfg(feature = "handshake-legacy")]
    pub fn allow_legacy(mut self, allow: bool) -> Self {
        self.legacy = allow;
        self
    }

    /// Runs the recipe's server side: writes a fresh challenge, in one
    /// write, then reads exactly the digest's length and compares it, in
    /// constant time, with the HMAC of the challenge. Writes nothing else.
    ///
    /// On success the stream is handed back with nothing read past the
    /// answer. On failure it is dropped, which closes it: the recipes'
    /// only way of refusing.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime with the time driver enabled, as
    /// `tokio::time::timeout` does.
    pub async fn accept<S>(&self, mut stream: S) -> Result<Authenticated<S>, RawHandshakeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let digest = self.digest()?;
        let challenge = self.recipe.new_challenge()?;
        let expected = digest.mac(&self.key, &challenge);
        let mut answer = vec![0; expected.len()];
        self.bounded(async {
            stream.write_all(&challenge).await?;
            stream.flush().await?;
            read_full(&mut stream, &mut answer).await
        })
        .await?;
        if bool::from(expected.ct_eq(&answer)) {
            Ok(Authenticated { stream, digest })
        } else {
            Err(RawHandshakeError::WrongDigest)
        }
    }

    /// Runs the recipe's client side: reads exactly the recipe's challenge
    /// length, checks it (alphabet, [reserved prefixes](self#sharing-a-key-with-http-signing)),
    /// and writes the raw HMAC of it, in one write. It does not open the
    /// connection: pass a connected stream.
    ///
    /// Success means the answer was sent, not that it was accepted: the
    /// recipes send no verdict. A Cookbook server that refused closes the
    /// connection; a Go-recipe server closes it either way. A refused
    /// challenge is not answered, and the stream is dropped.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime with the time driver enabled, as
    /// [`accept`](Self::accept).
    pub async fn connect<S>(&self, mut stream: S) -> Result<Answered<S>, RawHandshakeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let digest = self.digest()?;
        let mut challenge = vec![0; self.recipe.challenge_len()];
        self.bounded(async {
            read_full(&mut stream, &mut challenge).await?;
            self.recipe.check_challenge(&challenge)?;
            stream.write_all(&digest.mac(&self.key, &challenge)).await?;
            stream.flush().await?;
            Ok(())
        })
        .await?;
        Ok(Answered { stream, digest })
    }

    /// The recipe's digest, if this side may use it.
    fn digest(&self) -> Result<Digest, RawHandshakeError> {
        let digest = self.recipe.digest();
        if digest.is_legacy() && !self.legacy {
            return Err(RawHandshakeError::LegacyNotAllowed);
        }
        Ok(digest)
    }

    async fn bounded(
        &self,
        exchange: impl std::future::Future<Output = Result<(), RawHandshakeError>>,
    ) -> Result<(), RawHandshakeError> {
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| RawHandshakeError::Timeout(self.timeout))?
    }
}

/// Fills `buf`, however many reads it takes.
async fn read_full<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
) -> Result<(), RawHandshakeError> {
    let mut received = 0;
    while received < buf.len() {
        let n = stream.read(&mut buf[received..]).await?;
        if n == 0 {
            return Err(RawHandshakeError::Truncated {
                received,
                expected: buf.len(),
            });
        }
        received += n;
    }
    Ok(())
}

/// A stream whose peer answered our challenge right: it holds the key.
/// [`into_inner`](Self::into_inner) hands it back; nothing past the answer
/// has been read.
#[derive(Debug)]
pub struct Authenticated<S> {
    stream: S,
    digest: Digest,
}

/// A stream on which we answered the peer's challenge. The recipes send
/// no verdict, so this does **not** say that the peer accepted the answer:
/// a Cookbook server that refused closes the connection; a Go-recipe
/// server closes it either way. [`into_inner`](Self::into_inner) hands the
/// stream back; nothing past the challenge has been read.
#[derive(Debug)]
pub struct Answered<S> {
    stream: S,
    digest: Digest,
}

macro_rules! stream_accessors {
    ($name:ident) => {
        impl<S> $name<S> {
            /// The digest of the HMAC that was checked or sent.
            pub fn digest(&self) -> Digest {
                self.digest
            }

            /// The stream.
            pub fn get_ref(&self) -> &S {
                &self.stream
            }

            /// The stream, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.stream
            }

            /// The stream, for the caller's own protocol (the recipes frame nothing).
            pub fn into_inner(self) -> S {
                self.stream
            }
        }
    };
}

stream_accessors!(Authenticated);
stream_accessors!(Answered);
