//! Signed chunks (PROTOCOL §4.6): a body whose digest is not known before
//! it is sent, authenticated chunk by chunk, each signature chained from
//! the one before, starting from the request's own signature.
//!
//! On the wire each chunk is `<size in hex>;sig=<base64 signature>\r\n`,
//! the data, and `\r\n`; the last is `0;sig=<signature>\r\n\r\n`.

use std::collections::VecDeque;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;

use super::canonical::signatures_equal;
use super::Algorithm;
use crate::{schemes::BodyCheck, BodyDigest, BodyHasher, ErrorCode, Secret};

/// The last line of the string-to-sign of a body sent in signed chunks.
pub const CHUNKED_BODY: &str = "STREAMING-HMAC-SHA256-CHUNKS";

/// The header that says the body is sent in signed chunks, and its value.
pub const CHUNKED_HEADER: (&str, &str) = ("x-hmac-body", "chunks");

/// [`CHUNKED_HEADER`]'s name, looked up without parsing it on every request.
pub(crate) const X_HMAC_BODY: http::HeaderName = http::HeaderName::from_static(CHUNKED_HEADER.0);

/// The longest chunk header line, `\r\n` included: 16 hex digits, `;sig=`, 44 characters.
const MAX_HEADER_LINE: usize = 16 + 5 + 44 + 2;

/// The signature of one chunk, given the one before it (the request's own
/// signature for the first): `HMAC-SHA256(secret, "HMAC-SHA256-CHUNK\n" +
/// base64(previous) + "\n" + hex(SHA-256(data)))`. Signer and verifier both
/// call this, and nothing else computes it.
///
/// The algorithm is the digest's: for a BLAKE3 digest it is keyed BLAKE3
/// over `"BLAKE3-KEYED-CHUNK\n" + base64(previous) + "\n" + hex(BLAKE3(data))`
/// (PROTOCOL §9).
pub fn chunk_signature(secret: &Secret, previous: &[u8; 32], data: &BodyDigest) -> [u8; 32] {
    let mut previous_b64 = [0u8; 44];
    STANDARD
        .encode_slice(previous, &mut previous_b64)
        .expect("32 bytes are 44 in base64");
    let algorithm = data.algorithm();
    algorithm.mac(
        secret,
        &[
            algorithm.chunk_label(),
            &previous_b64,
            b"\n",
            &data.hex_bytes(),
        ],
    )
}

/// The header line that opens a chunk of `len` bytes signed with `signature`.
pub fn chunk_header(len: u64, signature: &[u8; 32]) -> Bytes {
    let mut line = Vec::with_capacity(MAX_HEADER_LINE);
    line.extend_from_slice(format!("{len:x};sig=").as_bytes());
    line.extend_from_slice(STANDARD.encode(signature).as_bytes());
    line.extend_from_slice(b"\r\n");
    Bytes::from(line)
}

/// Decodes and checks a chunked body as it streams: the handler sees each
/// chunk's data, as slices of the received frames, and a chunk's signature
/// is checked when its last byte has passed. At most one chunk that has not
/// been checked yet is ever in the handler's hands.
pub(crate) struct ChunkedCheck {
    algorithm: Algorithm,
    secret: Secret,
    previous: [u8; 32],
    state: State,
}

enum State {
    /// Reading a header line; what came of it so far.
    Header {
        line: [u8; MAX_HEADER_LINE],
        len: usize,
    },
    /// Passing on a chunk's data.
    Data {
        left: u64,
        hasher: BodyHasher,
        expected: [u8; 32],
    },
    /// The `\r\n` after a chunk's data (or after the last, empty one).
    Crlf { seen: usize, last: bool },
    /// The last chunk has been checked: nothing may follow.
    Done,
}

impl ChunkedCheck {
    pub(crate) fn new(algorithm: Algorithm, secret: Secret, seed: [u8; 32]) -> Self {
        Self {
            algorithm,
            secret,
            previous: seed,
            state: State::Header {
                line: [0; MAX_HEADER_LINE],
                len: 0,
            },
        }
    }

    /// Parses `<hex>;sig=<base64>` (without its `\r\n`).
    fn header(line: &[u8]) -> Result<(u64, [u8; 32]), ErrorCode> {
        const MALFORMED: ErrorCode = ErrorCode::MalformedChunkedBody;
        let text = std::str::from_utf8(line).map_err(|_| MALFORMED)?;
        let (size, signature) = text.split_once(";sig=").ok_or(MALFORMED)?;
        let canonical_hex = !size.is_empty()
            && size.len() <= 16
            && size
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && (size == "0" || !size.starts_with('0'));
        if !canonical_hex || signature.len() != 44 {
            return Err(MALFORMED);
        }
        let size = u64::from_str_radix(size, 16).map_err(|_| MALFORMED)?;
        let mut raw = [0u8; 32];
        match STANDARD.decode_slice(signature, &mut raw) {
            Ok(32) => Ok((size, raw)),
            _ => Err(MALFORMED),
        }
    }

    /// Checks a finished chunk's signature and moves the chain on.
    fn check(&mut self, data: &BodyDigest, expected: &[u8; 32]) -> Result<(), ErrorCode> {
        let signature = chunk_signature(&self.secret, &self.previous, data);
        if !signatures_equal(&signature, expected) {
            return Err(ErrorCode::InvalidSignature);
        }
        self.previous = signature;
        Ok(())
    }
}

impl BodyCheck for ChunkedCheck {
    fn update(&mut self, data: &[u8]) {
        // Only reached through `decode`, which hands on slices; see `decodes`.
        let _ = self.decode(Bytes::copy_from_slice(data), &mut VecDeque::new());
    }

    fn finish(self: Box<Self>) -> Result<(), ErrorCode> {
        match self.state {
            State::Done => Ok(()),
            // Cut short: the last chunk, which signs the end, never came.
            _ => Err(ErrorCode::BodyIncomplete),
        }
    }

    fn decodes(&self) -> bool {
        true
    }

    fn decode(&mut self, data: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), ErrorCode> {
        let mut at = 0;
        while at < data.len() {
            match &mut self.state {
                State::Header { line, len } => {
                    let byte = data[at];
                    at += 1;
                    if *len == MAX_HEADER_LINE {
                        return Err(ErrorCode::MalformedChunkedBody);
                    }
                    line[*len] = byte;
                    *len += 1;
                    if !line[..*len].ends_with(b"\r\n") {
                        continue;
                    }
                    let (size, expected) = Self::header(&line[..*len - 2])?;
                    self.state = if size == 0 {
                        // The last chunk signs the end of the body.
                        self.check(&self.algorithm.empty_digest(), &expected)?;
                        State::Crlf {
                            seen: 0,
                            last: true,
                        }
                    } else {
                        State::Data {
                            left: size,
                            hasher: BodyHasher::for_algorithm(self.algorithm),
                            expected,
                        }
                    };
                }
                State::Data {
                    left,
                    hasher,
                    expected,
                } => {
                    let take = (data.len() - at).min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let piece = data.slice(at..at + take);
                    hasher.update(&piece);
                    out.push_back(piece);
                    at += take;
                    *left -= take as u64;
                    if *left == 0 {
                        let digest = std::mem::take(hasher).finish();
                        let expected = *expected;
                        self.check(&digest, &expected)?;
                        self.state = State::Crlf {
                            seen: 0,
                            last: false,
                        };
                    }
                }
                State::Crlf { seen, last } => {
                    if data[at] != b"\r\n"[*seen] {
                        return Err(ErrorCode::MalformedChunkedBody);
                    }
                    at += 1;
                    *seen += 1;
                    if *seen == 2 {
                        self.state = if *last {
                            State::Done
                        } else {
                            State::Header {
                                line: [0; MAX_HEADER_LINE],
                                len: 0,
                            }
                        };
                    }
                }
                // Bytes after the signed end.
                State::Done => return Err(ErrorCode::MalformedChunkedBody),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new(vec![7; 32]).unwrap()
    }

    /// Encodes `chunks` as a signer does, from `seed`.
    fn encode(seed: [u8; 32], chunks: &[&[u8]]) -> Vec<u8> {
        let secret = secret();
        let mut previous = seed;
        let mut out = Vec::new();
        for chunk in chunks.iter().copied().chain([&b""[..]]) {
            previous = chunk_signature(&secret, &previous, &BodyDigest::of(chunk));
            out.extend_from_slice(&chunk_header(chunk.len() as u64, &previous));
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn decode_in_pieces(wire: &[u8], piece: usize) -> Result<Vec<u8>, ErrorCode> {
        let mut check = Box::new(ChunkedCheck::new(Algorithm::HmacSha256, secret(), [1; 32]));
        let mut out = VecDeque::new();
        for part in wire.chunks(piece) {
            check.decode(Bytes::copy_from_slice(part), &mut out)?;
        }
        check.finish()?;
        Ok(out.into_iter().flat_map(|b| b.to_vec()).collect())
    }

    #[test]
    fn decodes_whatever_the_frame_boundaries() {
        let wire = encode([1; 32], &[b"hello ", b"chunked ", &[9u8; 300], b"world"]);
        let mut expected = b"hello chunked ".to_vec();
        expected.extend_from_slice(&[9u8; 300]);
        expected.extend_from_slice(b"world");
        for piece in [1, 2, 3, 7, 64, 65, 1000, wire.len()] {
            assert_eq!(
                decode_in_pieces(&wire, piece),
                Ok(expected.clone()),
                "{piece}"
            );
        }
        // An empty body is just the last chunk.
        assert_eq!(decode_in_pieces(&encode([1; 32], &[]), 5), Ok(Vec::new()));
    }

    #[test]
    fn every_chunk_signature_is_checked() {
        let chunks: [&[u8]; 3] = [b"one", b"two", b"three"];
        let wire = encode([1; 32], &chunks);
        let text = String::from_utf8(wire.clone()).unwrap();
        let signatures: Vec<usize> = text.match_indices(";sig=").map(|(i, _)| i + 5).collect();
        assert_eq!(signatures.len(), 4);
        for at in signatures {
            let mut changed = wire.clone();
            // Flip a bit in the signature's first character, keeping it base64.
            changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
            assert_eq!(
                decode_in_pieces(&changed, 4),
                Err(ErrorCode::InvalidSignature),
                "{at}"
            );
        }
        // Another seed (another request's signature) fails at the first chunk.
        let other = encode([2; 32], &chunks);
        assert_eq!(
            decode_in_pieces(&other, 9),
            Err(ErrorCode::InvalidSignature)
        );
    }

    #[test]
    fn dropped_reordered_truncated_and_trailing_chunks_fail() {
        let secret = secret();
        let sign = |previous: &[u8; 32], data: &[u8]| {
            chunk_signature(&secret, previous, &BodyDigest::of(data))
        };
        let one = sign(&[1; 32], b"one");
        let two = sign(&one, b"two");
        let end = sign(&two, b"");
        let chunk = |data: &[u8], sig: &[u8; 32]| {
            let mut out = chunk_header(data.len() as u64, sig).to_vec();
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
            out
        };
        let good = [chunk(b"one", &one), chunk(b"two", &two), chunk(b"", &end)].concat();
        assert_eq!(decode_in_pieces(&good, 3), Ok(b"onetwo".to_vec()));
        let dropped = [chunk(b"two", &two), chunk(b"", &end)].concat();
        assert_eq!(
            decode_in_pieces(&dropped, 3),
            Err(ErrorCode::InvalidSignature)
        );
        let reordered = [chunk(b"two", &two), chunk(b"one", &one), chunk(b"", &end)].concat();
        assert_eq!(
            decode_in_pieces(&reordered, 3),
            Err(ErrorCode::InvalidSignature)
        );
        let no_end = [chunk(b"one", &one), chunk(b"two", &two)].concat();
        assert_eq!(decode_in_pieces(&no_end, 3), Err(ErrorCode::BodyIncomplete));
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"x");
        assert_eq!(
            decode_in_pieces(&trailing, 3),
            Err(ErrorCode::MalformedChunkedBody)
        );
        let mut flipped = good.clone();
        let at = flipped.windows(3).position(|w| w == b"one").unwrap();
        flipped[at] = b'O';
        assert_eq!(
            decode_in_pieces(&flipped, 3),
            Err(ErrorCode::InvalidSignature)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let sig = STANDARD.encode([0u8; 32]);
        for line in [
            format!("05;sig={sig}\r\n"),
            format!("A;sig={sig}\r\n"),
            format!("x;sig={sig}\r\n"),
            format!(";sig={sig}\r\n"),
            format!("5;sig={}\r\n", &sig[..43]),
            format!("5;signature={sig}\r\n"),
            format!("11111111111111111;sig={sig}\r\n"),
            format!("5 ;sig={sig}\r\n"),
            "5;sig=".to_owned() + &"A".repeat(200),
        ] {
            assert_eq!(
                decode_in_pieces(line.as_bytes(), 7),
                Err(ErrorCode::MalformedChunkedBody),
                "{line:?}"
            );
        }
    }
}
