//! An authenticated connection: length-prefixed byte messages.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

use super::{
    frame::{write_frame, FrameReader},
    FrameError,
};

/// Which form of the handshake a connection used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Form {
    /// HMAC-SHA256 both ways (CPython 3.12 and later, and this crate).
    Modern,
    /// HMAC-MD5 in at least one direction (CPython 3.11 and earlier); only
    /// with the `handshake-legacy` feature and
    /// `Handshake::allow_legacy`.
    Legacy,
}

/// A connection whose peer has passed the [handshake](super::Handshake),
/// carrying byte messages framed as Python's `Connection.send_bytes()` and
/// `recv_bytes()` frame them.
///
/// The handshake authenticates the peer once, at the start. The messages
/// after it are neither signed nor encrypted: run the connection over TLS
/// (any `AsyncRead + AsyncWrite` will do) when the network is not trusted.
///
/// [`recv_bytes`](Self::recv_bytes) is cancel safe (use it in `select!` or
/// under a timeout); [`send_bytes`](Self::send_bytes) is not: once a send is
/// cancelled half-way, every later send fails with [`FrameError::Broken`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_hmac::handshake::{AuthKey, Handshake};
///
/// let handshake = Handshake::new(AuthKey::new(vec![42; 32])?);
/// let (server, client) = tokio::io::duplex(4096);
/// let (server, client) = tokio::join!(handshake.accept(server), handshake.connect(client));
/// let (mut server, mut client) = (server?, client?);
///
/// client.send_bytes(b"ping").await?;
/// assert_eq!(server.recv_bytes().await?.as_deref(), Some(&b"ping"[..]));
/// drop(client);
/// assert_eq!(server.recv_bytes().await?, None); // closed between messages
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    reader: FrameReader,
    max_message_len: usize,
    write_broken: bool,
    form: Form,
}

impl<S> Connection<S> {
    /// The largest message [`recv_bytes`](Self::recv_bytes) accepts by default: 16 MiB.
    pub const DEFAULT_MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

    pub(crate) fn new(stream: S) -> Self {
        Self {
            stream,
            reader: FrameReader::default(),
            max_message_len: Self::DEFAULT_MAX_MESSAGE_LEN,
            write_broken: false,
            form: Form::Modern,
        }
    }

    /// Which form of the handshake was used.
    pub fn form(&self) -> Form {
        self.form
    }

    pub(crate) fn set_form(&mut self, form: Form) {
        self.form = form;
    }

    /// The largest message [`recv_bytes`](Self::recv_bytes) accepts.
    pub fn max_message_len(&self) -> usize {
        self.max_message_len
    }

    /// Sets the largest message [`recv_bytes`](Self::recv_bytes) accepts
    /// ([`DEFAULT_MAX_MESSAGE_LEN`](Self::DEFAULT_MAX_MESSAGE_LEN) unless set).
    /// A longer one is refused with [`FrameError::TooLarge`] before any of it
    /// is read or allocated. Python's side has no limit.
    pub fn set_max_message_len(&mut self, max: usize) {
        self.max_message_len = max;
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably. Reading or writing it directly
    /// breaks the framing.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The underlying stream. Part of a message whose reading was cancelled
    /// is lost.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Sends one message, as Python's `conn.send_bytes(message)` does, and flushes.
    pub async fn send_bytes(&mut self, message: &[u8]) -> Result<(), FrameError> {
        if self.write_broken {
            return Err(FrameError::Broken);
        }
        // Stays set if this future is dropped half-way or the write fails.
        self.write_broken = true;
        write_frame(&mut self.stream, message).await?;
        self.write_broken = false;
        Ok(())
    }

    /// Receives one message, as Python's `conn.recv_bytes()` does. `None`
    /// when the peer has closed the connection between messages.
    pub async fn recv_bytes(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        self.reader
            .read(&mut self.stream, self.max_message_len)
            .await
    }

    /// Receives one message of at most `max` bytes, as the handshake does.
    pub(crate) async fn recv_limited(&mut self, max: usize) -> Result<Vec<u8>, FrameError> {
        self.reader
            .read(&mut self.stream, max)
            .await?
            .ok_or(FrameError::Closed)
    }

    /// Shuts down the writing half: the peer's `recv_bytes()` then raises
    /// `EOFError` (Python) or returns `None` (this crate).
    pub async fn shutdown(&mut self) -> Result<(), FrameError> {
        self.stream.shutdown().await.map_err(FrameError::Io)
    }
}
