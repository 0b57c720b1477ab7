//! The framing shared by the handshake and the messages after it, as in
//! CPython's `multiprocessing.connection.Connection`: a 4-byte big-endian
//! signed length, then the payload. A payload over `0x7fffffff` bytes gets
//! the length `-1` and then its real length as an 8-byte big-endian unsigned.

use bytes::Buf;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::FrameError;

/// The largest handshake message accepted, as CPython's `recv_bytes(256)`.
pub const MAX_HANDSHAKE_MESSAGE: usize = 256;
/// The shortest challenge answered (after `#CHALLENGE#`), as CPython 3.12's `_MD5ONLY_MESSAGE_LENGTH`.
pub const MIN_CHALLENGE_LEN: usize = 20;

/// The largest length sent in the 4-byte form; longer payloads use `-1` and 8 bytes.
const MAX_SHORT_LEN: usize = 0x7fff_ffff;
/// The marker of an 8-byte length.
const LONG_MARKER: i32 = -1;
/// Payloads up to this size are sent in one write with their header (as
/// CPython does, to stay clear of Nagle's algorithm).
const COALESCE_MAX: usize = 16 * 1024;
/// How much buffer a read reserves at most at a time, so that an announced
/// length is never allocated before the bytes arrive.
const READ_CHUNK: usize = 64 * 1024;

/// The header for a payload of `len` bytes, and how many of its bytes to send.
pub(crate) fn encode_header(len: usize) -> ([u8; 12], usize) {
    let mut header = [0; 12];
    if len > MAX_SHORT_LEN {
        header[..4].copy_from_slice(&LONG_MARKER.to_be_bytes());
        header[4..].copy_from_slice(&(len as u64).to_be_bytes());
        (header, 12)
    } else {
        header[..4].copy_from_slice(&(len as i32).to_be_bytes());
        (header, 4)
    }
}

/// Writes one message and flushes. Not cancel safe: the caller marks the
/// stream broken until it completes.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    payload: &[u8],
) -> std::io::Result<()> {
    let (header, used) = encode_header(payload.len());
    if payload.len() <= COALESCE_MAX {
        let mut message = Vec::with_capacity(used + payload.len());
        message.extend_from_slice(&header[..used]);
        message.extend_from_slice(payload);
        writer.write_all(&message).await?;
    } else {
        // Vectored where the transport supports it; no copy of the payload.
        let mut message = Buf::chain(&header[..used], payload);
        writer.write_all_buf(&mut message).await?;
    }
    writer.flush().await
}

/// Reads messages, keeping its progress in `self`, so that a read cancelled
/// between two awaits (by a timeout or `select!`) loses nothing.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    header: [u8; 12],
    /// How many header bytes have arrived.
    header_read: usize,
    /// The payload's length, once the header is complete.
    len: Option<usize>,
    payload: Vec<u8>,
    broken: bool,
}

impl FrameReader {
    /// The next message, or `None` if the peer closed the connection where
    /// one should have started.
    pub(crate) async fn read<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        max: usize,
    ) -> Result<Option<Vec<u8>>, FrameError> {
        if self.broken {
            return Err(FrameError::Broken);
        }
        let result = self.read_inner(reader, max).await;
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    async fn read_inner<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        max: usize,
    ) -> Result<Option<Vec<u8>>, FrameError> {
        let len = loop {
            if let Some(len) = self.len {
                break len;
            }
            let want = if self.header_read >= 4 && self.short_len() == LONG_MARKER {
                12
            } else {
                4
            };
            if self.header_read == want {
                self.len = Some(self.parse_len(max)?);
                continue;
            }
            let n = reader
                .read(&mut self.header[self.header_read..want])
                .await?;
            if n == 0 {
                return if self.header_read == 0 {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
            self.header_read += n;
        };
        while self.payload.len() < len {
            let remaining = len - self.payload.len();
            self.payload.reserve(remaining.min(READ_CHUNK));
            let n = (&mut *reader)
                .take(remaining as u64)
                .read_buf(&mut self.payload)
                .await?;
            if n == 0 {
                return Err(FrameError::Truncated);
            }
        }
        self.header_read = 0;
        self.len = None;
        Ok(Some(std::mem::take(&mut self.payload)))
    }

    fn short_len(&self) -> i32 {
        i32::from_be_bytes(self.header[..4].try_into().expect("four bytes"))
    }

    fn parse_len(&self, max: usize) -> Result<usize, FrameError> {
        let len = match self.short_len() {
            LONG_MARKER => u64::from_be_bytes(self.header[4..].try_into().expect("eight bytes")),
            len if len < 0 => return Err(FrameError::InvalidLength { len }),
            len => len as u64,
        };
        match usize::try_from(len) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(FrameError::TooLarge { len, max }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_cpython() {
        // struct.pack("!i", n), and "!i" -1 then "!Q" n past 0x7fffffff.
        assert_eq!(encode_header(0), ([0; 12], 4));
        assert_eq!(&encode_header(256).0[..4], &[0, 0, 1, 0]);
        assert_eq!(
            &encode_header(0x7fff_ffff).0[..4],
            &[0x7f, 0xff, 0xff, 0xff]
        );
        assert_eq!(encode_header(0x7fff_ffff).1, 4);
        let (long, used) = encode_header(0x8000_0000);
        assert_eq!(used, 12);
        assert_eq!(long, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]);
    }

    async fn read_all(wire: &[u8], max: usize) -> Vec<Result<Option<Vec<u8>>, String>> {
        let (mut tx, mut rx) = tokio::io::duplex(1024);
        tx.write_all(wire).await.unwrap();
        drop(tx);
        let mut reader = FrameReader::default();
        let mut out = Vec::new();
        loop {
            let r = reader
                .read(&mut rx, max)
                .await
                .map_err(|e| format!("{e:?}"));
            let done = !matches!(r, Ok(Some(_)));
            out.push(r);
            if done {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn reads_short_long_empty_and_refuses_the_rest() {
        let mut wire = vec![0, 0, 0, 2, b'h', b'i', 0, 0, 0, 0];
        wire.extend([
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c',
        ]);
        assert_eq!(
            read_all(&wire, 256).await,
            [
                Ok(Some(b"hi".to_vec())),
                Ok(Some(vec![])),
                Ok(Some(b"abc".to_vec())),
                Ok(None)
            ]
        );
        assert_eq!(
            read_all(&[0, 0, 1, 1], 256).await,
            [Err("TooLarge { len: 257, max: 256 }".into())]
        );
        assert_eq!(
            read_all(&[0xff; 12], 256).await,
            [Err(format!("TooLarge {{ len: {}, max: 256 }}", u64::MAX))]
        );
        assert_eq!(
            read_all(&[0xff, 0xff, 0xff, 0xfe], 256).await,
            [Err("InvalidLength { len: -2 }".into())]
        );
        assert_eq!(read_all(&[0, 0], 256).await, [Err("Truncated".into())]);
        assert_eq!(read_all(&[0xff; 6], 256).await, [Err("Truncated".into())]);
        assert_eq!(
            read_all(&[0, 0, 0, 5, 1, 2], 256).await,
            [Err("Truncated".into())]
        );
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_nothing_and_errors_are_sticky() {
        let (mut tx, mut rx) = tokio::io::duplex(1024);
        let mut reader = FrameReader::default();
        tx.write_all(&[0, 0, 0, 5, b'h', b'e']).await.unwrap();
        let pending = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            reader.read(&mut rx, 256),
        )
        .await;
        assert!(pending.is_err(), "half a message must not complete");
        tx.write_all(b"llo").await.unwrap();
        assert_eq!(reader.read(&mut rx, 256).await.unwrap().unwrap(), b"hello");

        tx.write_all(&[0, 0, 2, 0]).await.unwrap();
        assert!(matches!(
            reader.read(&mut rx, 256).await,
            Err(FrameError::TooLarge { len: 512, max: 256 })
        ));
        assert!(matches!(
            reader.read(&mut rx, 256).await,
            Err(FrameError::Broken)
        ));
    }

    #[tokio::test]
    async fn writes_what_cpython_reads() {
        let (mut tx, mut rx) = tokio::io::duplex(1 << 20);
        write_frame(&mut tx, b"hello").await.unwrap();
        let big = vec![7u8; COALESCE_MAX + 1];
        write_frame(&mut tx, &big).await.unwrap();
        drop(tx);
        let mut wire = Vec::new();
        rx.read_to_end(&mut wire).await.unwrap();
        assert_eq!(&wire[..9], b"\0\0\0\x05hello");
        assert_eq!(&wire[9..13], &((COALESCE_MAX + 1) as u32).to_be_bytes());
        assert_eq!(&wire[13..], &big[..]);
    }
}
