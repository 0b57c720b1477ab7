//!
//! Wire-compatible with Python's `multiprocessing.connection`
//! `Listener`/`Client(authkey=…)`, over any tokio `AsyncRead + AsyncWrite`
//! (TCP, Unix sockets, TLS streams, pipes). Each side proves that it holds
//! the pre-shared [`AuthKey`](crate::handshake::AuthKey) without sending it:
//!
//! 1. the accepting side sends `#CHALLENGE#{sha256}` and 40 random bytes;
//! 2. the connecting side answers `{sha256}` and the HMAC-SHA256 of
//!    everything after `#CHALLENGE#`;
//! 3. the accepting side compares in constant time and answers `#WELCOME#`
//!    or `#FAILURE#`;
//! 4. the roles swap, so that each side has authenticated the other.
//!
//! Every message is a 4-byte big-endian signed length and the payload (a
//! length of `-1` announces an 8-byte one, for payloads over 2 GiB); during
//! the handshake, a message over 256 bytes is refused. After it, a
//! [`Connection`](crate::handshake::Connection) sends and receives byte messages with the same framing,
//! so the peer can be Python's `Listener`/`Client(authkey=…)` using
//! `conn.send_bytes()`/`conn.recv_bytes()` (not `send()`/`recv()`, which
//! carry pickles).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tokio::net::{TcpListener, TcpStream};
//! use tower_hmac::handshake::{AuthKey, Handshake};
//!
//! let handshake = Handshake::new(AuthKey::from_base64("c2l4dGVlbi1ieXRlcy1sb25nLXNlY3JldA==")?);
//!
//! // An echo server, as Python's Listener(address, authkey=key) would serve it.
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let address = listener.local_addr()?;
//! let server = handshake.clone();
//! tokio::spawn(async move {
//!     let (stream, _) = listener.accept().await?;
//!     let mut conn = server.accept(stream).await?; // refuses a peer without the key
//!     while let Some(message) = conn.recv_bytes().await? {
//!         conn.send_bytes(&message).await?;
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! // A client, as Python's Client(address, authkey=key) would connect.
//! let mut conn = handshake.connect(TcpStream::connect(address).await?).await?;
//! conn.send_bytes(b"hello").await?;
//! assert_eq!(conn.recv_bytes().await?.as_deref(), Some(&b"hello"[..]));
//! # Ok(())
//! # }
//! ```
//!
//! # Python versions
//!
//! CPython 3.12 and later use the modern form above, and so does this
//! crate. CPython 3.11 and earlier use a legacy form: a 20-byte challenge
//! without a prefix, answered with a raw 16-byte HMAC-MD5. With the
//! `handshake-legacy` feature and `Handshake::allow_legacy`, this crate
//! answers such a challenge and accepts such an answer (to its own modern
//! challenge, as CPython 3.12 does), so it can talk to CPython 3.11. Without
//! them, a legacy peer is refused with [`HandshakeError::LegacyPeer`](crate::handshake::HandshakeError::LegacyPeer).
//!
//! # Sharing a key with HTTP request signing
//!
//! The same secret may be both an [`AuthKey`](crate::handshake::AuthKey)
//! here and a [`Secret`](crate::Secret) that signs HTTP requests: both are
//! HMAC-SHA256 keys. That is safe because of one invariant, which tests pin:
//! neither use ever computes, for a peer, an HMAC-SHA256 over a message the
//! other would accept.
//!
//! - The handshake answers a peer's challenge only if, after
//!   `#CHALLENGE#`, it starts with `{sha256}` (the legacy 20-byte form is
//!   answered with HMAC-MD5, a different function, and only when allowed);
//!   anything else, such as a challenge starting with `HMAC-SHA256\n`, is
//!   refused with [`HandshakeError::UnsupportedDigest`](crate::handshake::HandshakeError::UnsupportedDigest)
//!   without an answer. So a peer cannot use the handshake to have a
//!   string-to-sign signed.
//! - Every string-to-sign starts with `HMAC-SHA256\n` (never with `{` or
//!   `#`) and is longer than 20 bytes, so no HTTP signature is a valid answer
//!   to a handshake challenge.
//!
//! A future change to either format must keep this true, or the two must
//! stop sharing keys. Separate keys per use do not depend on it.
//!
//! # The raw recipes
//!
//! [`raw`](crate::handshake::raw) speaks two older, unframed challenge-response recipes (the Go
//! recipe and the Python Cookbook's), one-way and without a verdict, for
//! deployments migrating from them. They protect much less than this
//! handshake: read [what they do not protect](crate::handshake::raw#what-the-recipes-do-not-protect).
//!
//! # What it does not do
//!
//! The handshake proves, once, that the peer held the key when the
//! connection started. It does not encrypt or sign the messages that follow:
//! anyone on the path can read them, and a machine in the middle can relay
//! the handshake and then alter or inject messages. On an untrusted network,
//! run it inside TLS (pass a `tokio_rustls` stream): TLS gives
//! confidentiality and integrity, the handshake proves the peer holds the
//! pre-shared key.

mod connection;
mod error;
mod exchange;
mod frame;
mod key;
#[cfg(feature = "handshake-legacy")]
mod legacy;
mod modern;
pub mod raw;

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

pub use connection::{Connection, Form};
pub use error::{FrameError, HandshakeError};
pub use frame::MAX_HANDSHAKE_MESSAGE;
pub use key::AuthKey;

use exchange::Exchange;

/// Runs the handshake on a stream, as either side.
///
/// [`accept`](Self::accept) is the side of Python's `Listener.accept()`: it
/// delivers its challenge first, then answers the peer's.
/// [`connect`](Self::connect) is the side of Python's `Client()`: it answers
/// first, then delivers its own. Either way the result is a [`Connection`]
/// to a peer that holds the same key, or a [`HandshakeError`] saying why not.
///
/// Cheap to clone; the key is shared, never printed.
///
/// ```
/// use std::time::Duration;
/// use tower_hmac::handshake::{AuthKey, Handshake};
///
/// let handshake = Handshake::new(AuthKey::new(vec![42; 32]).unwrap())
///     .timeout(Duration::from_secs(5));
/// assert_eq!(handshake.timeout_duration(), Duration::from_secs(5));
/// assert!(format!("{handshake:?}").contains("AuthKey(<redacted>)"));
/// ```
#[derive(Debug, Clone)]
pub struct Handshake {
    key: AuthKey,
    timeout: Duration,
    legacy: bool,
}

impl Handshake {
    /// How long a handshake may take by default: 10 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A handshake with `key`, the default timeout, the modern form only.
    pub fn new(key: AuthKey) -> Self {
        Self {
            key,
            timeout: Self::DEFAULT_TIMEOUT,
            legacy: false,
        }
    }

    /// Sets how long the whole handshake may take, from the first byte sent
    /// or awaited to the last verdict. A peer that stalls, or trickles its
    /// bytes, is dropped with [`HandshakeError::Timeout`] after that.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long the whole handshake may take.
    pub fn timeout_duration(&self) -> Duration {
        self.timeout
    }

    /// Also talks to CPython 3.11 and earlier: answers their 20-byte
    /// challenge with HMAC-MD5, and accepts their HMAC-MD5 answer to our
    /// challenge. Off by default, even with the feature on, so that
    /// another crate enabling the feature weakens nobody else's handshakes.
    /// A modern peer still gets, and gives, HMAC-SHA256.
    ///
    /// ```
    /// # use tower_hmac::handshake::{AuthKey, Handshake};
    /// let handshake = Handshake::new(AuthKey::new(vec![42; 32]).unwrap()).allow_legacy(true);
    /// ```
    #[cfg(feature = "handshake-legacy")]
    pub fn allow_legacy(mut self, allow: bool) -> Self {
        self.legacy = allow;
        self
    }

    /// Runs the accepting side, as Python's `Listener.accept()`: delivers a
    /// challenge, then answers the peer's.
    ///
    /// On failure the stream is dropped (closing it), after telling the peer
    /// `#FAILURE#` where the protocol has a place for it.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime with the time driver enabled (`#[tokio::main]`
    /// and `Runtime::new()` enable it), as `tokio::time::timeout` does.
    pub async fn accept<S>(&self, stream: S) -> Result<Connection<S>, HandshakeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.run(stream, true).await
    }

    /// Runs the connecting side, as Python's `Client()`: answers the peer's
    /// challenge, then delivers one. It does not open the connection: pass a
    /// connected stream.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime with the time driver enabled, as
    /// [`accept`](Self::accept).
    pub async fn connect<S>(&self, stream: S) -> Result<Connection<S>, HandshakeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.run(stream, false).await
    }

    async fn run<S>(&self, stream: S, accepting: bool) -> Result<Connection<S>, HandshakeError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut conn = Connection::new(stream);
        let exchange = Exchange {
            key: &self.key,
            legacy: self.legacy,
        };
        let both = async {
            let (first, second) = if accepting {
                let first = exchange.deliver(&mut conn).await?;
                (first, exchange.answer(&mut conn).await?)
            } else {
                let first = exchange.answer(&mut conn).await?;
                (first, exchange.deliver(&mut conn).await?)
            };
            Ok::<_, HandshakeError>(if first == Form::Legacy || second == Form::Legacy {
                Form::Legacy
            } else {
                Form::Modern
            })
        };
        let form = tokio::time::timeout(self.timeout, both)
            .await
            .map_err(|_| HandshakeError::Timeout(self.timeout))??;
        conn.set_form(form);
        Ok(conn)
    }
}

#[cfg(test)]
mod tests;
