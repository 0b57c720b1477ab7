//! aws-chunked bodies (`Content-Encoding: aws-chunked`), decoded and
//! checked as they stream.
//!
//! `x-amz-content-sha256` names the mode:
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: chunks
//!   `<size hex>;chunk-signature=<64 hex>\r\n<data>\r\n`, ending with the
//!   empty chunk `0;chunk-signature=<64 hex>\r\n` and `\r\n`;
//! - `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: the same chunks, but
//!   the final `0;chunk-signature=<64 hex>\r\n` is followed by the trailer,
//!   `x-amz-checksum-<algorithm>:<base64>\r\n`,
//!   `x-amz-trailer-signature:<64 hex>\r\n`, and `\r\n`;
//! - `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: chunks `<size hex>\r\n<data>\r\n`,
//!   then `0\r\n`, the trailer `x-amz-checksum-<algorithm>:<base64>\r\n`,
//!   and `\r\n`.
//!
//! Each chunk's signature chains from the one before, the first from the
//! request's own (the seed): see [`chunk_signature`] and
//! [`trailer_signature`], the one place either is computed.
//!
//! # What a handler sees before it is verified
//! The handler reads the chunks' data as it arrives, as slices of the
//! received frames (no copies). A chunk's signature is checked when its
//! last byte has arrived, before that last piece is handed on, so at most
//! **one chunk** that is not verified yet (less its last piece) is ever in
//! the handler's hands: 64 KiB for most SDKs, but as large as the client
//! chose. When a signature fails, [`decode`](BodyCheck::decode) fails: the
//! handler's next body read is an error, and the request is refused
//! (`invalid_signature`). Whatever the handler did with the unverified
//! chunk so far it must be ready to undo, as with any streamed body that
//! is only judged at its end. An unsigned body
//! (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`) is never authenticated
//! ([`authenticates_body`](BodyCheck::authenticates_body) is false): its
//! checksum only catches accidents.
//!
//! Every check that needs the whole body (the final chunk's signature,
//! `x-amz-decoded-content-length`, the checksums, the trailer signature)
//! is made when the bytes that end the body arrive, so the handler's last
//! read fails rather than ending cleanly. A body that stops before its
//! final chunk and trailer is [`ErrorCode::BodyIncomplete`] at
//! [`finish`](BodyCheck::finish).
//!
//! # What is accepted
//! Strict, as the SDKs write it, with two allowances:
//! - chunk sizes in hex of **either case**: aws-sdk-rust writes them in
//!   uppercase (`{:X}`), botocore and the others in lowercase. At most 16
//!   digits, and **no leading zeros** (none of the clients writes them; `0`
//!   alone is the final chunk);
//! - trailer names in any case (they are HTTP field names), and optional
//!   spaces or tabs around a trailer value, which are not part of it (the
//!   canonical trailer that is signed uses the trimmed value).
//!
//! Refused: chunk extensions other than `chunk-signature` (and any in the
//! unsigned form), signatures not in 64 lowercase hex digits, bare `\n`
//! line ends, anything after the end of the body. A trailer may carry only
//! the checksum `x-amz-trailer` announced, once, and, for a signed body
//! with a trailer, `x-amz-trailer-signature` once, after it, as its last
//! line; both are then required. Any other line is
//! [`ErrorCode::MalformedChunkedBody`], except an `x-amz-checksum-*` of an
//! algorithm this server does not know ([`ErrorCode::UnsupportedChecksum`],
//! as is a checksum value that is not well-formed base64 of its length).
//! A signed body without a trailer must end `\r\n\r\n` straight after its
//! final chunk. The 8 KiB minimum chunk size S3 enforces is not.
//!
//! # Memory
//! Bounded whatever the chunk sizes: one line buffer of
//! [`MAX_TRAILER_LINE`] bytes (a size line is at most [`MAX_SIZE_LINE`]),
//! the running hashes, and no chunk data (each piece is handed on as it
//! arrives): about 1.2 KiB per request. A trailer has at most two lines
//! besides the empty one that ends it, since each of the two names it may
//! carry may come only once, so no count of lines is needed.

use std::collections::VecDeque;

use bytes::Bytes;
use subtle::ConstantTimeEq as _;

use super::{
    canonical::hex_array,
    checksum::{Checksum, ChecksumAlgorithm, MAX_BASE64_LEN},
};
use crate::{
    schemes::{BodyCheck, Explanation},
    BodyDigest, BodyHasher, ErrorCode, Secret,
};

const MALFORMED: ErrorCode = ErrorCode::MalformedChunkedBody;

/// The first line of a chunk's string-to-sign.
const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";

/// The first line of a trailer's string-to-sign.
const TRAILER_ALGORITHM: &str = "AWS4-HMAC-SHA256-TRAILER";

/// The extension of a signed chunk's size line.
const CHUNK_SIGNATURE: &[u8] = b";chunk-signature=";

/// The trailer line that signs the trailer.
const TRAILER_SIGNATURE: &[u8] = b"x-amz-trailer-signature";

/// What every checksum's trailer name starts with.
const CHECKSUM_PREFIX: &[u8] = b"x-amz-checksum-";

/// The most hex digits of a chunk size: a `u64`'s.
const MAX_SIZE_DIGITS: usize = 16;

/// The longest size line of a signed chunk, `\r\n` included.
pub(crate) const MAX_SIZE_LINE: usize = MAX_SIZE_DIGITS + CHUNK_SIGNATURE.len() + 64 + 2;

/// The longest size line of an unsigned chunk, `\r\n` included.
const MAX_UNSIGNED_SIZE_LINE: usize = MAX_SIZE_DIGITS + 2;

/// The longest trailer line, `\r\n` included. Every line that can be
/// accepted is at most 92 bytes (`x-amz-trailer-signature:` and 64 hex
/// digits; `x-amz-checksum-crc64nvme:` and 12 base64 characters; SHA-256's
/// 44): the rest leaves room for whitespace around the value. A longer line
/// could only be refused.
pub(crate) const MAX_TRAILER_LINE: usize = 256;

const _: () = assert!(MAX_SIZE_LINE <= MAX_TRAILER_LINE);

/// A chunk's signature, given the one before it (the request's seed
/// signature for the first), with `key` the SigV4 signing key:
///
/// ```text
/// HMAC-SHA256(key, "AWS4-HMAC-SHA256-PAYLOAD\n" + amz_date + "\n" + scope + "\n"
///     + hex(previous) + "\n" + hex(SHA-256("")) + "\n" + hex(data_sha256))
/// ```
///
/// The final, empty chunk is signed alike, over the SHA-256 of nothing.
/// Signer and verifier both call this, and nothing else computes it.
pub(crate) fn chunk_signature(
    key: &Secret,
    amz_date: &str,
    scope: &str,
    previous: &[u8; 32],
    data_sha256: &[u8; 32],
) -> [u8; 32] {
    key.mac(&[
        CHUNK_ALGORITHM.as_bytes(),
        b"\n",
        amz_date.as_bytes(),
        b"\n",
        scope.as_bytes(),
        b"\n",
        &hex_array(previous),
        b"\n",
        &BodyDigest::EMPTY.hex_bytes(),
        b"\n",
        &hex_array(data_sha256),
    ])
}

/// The trailer's signature, given the final chunk's (`previous`):
///
/// ```text
/// HMAC-SHA256(key, "AWS4-HMAC-SHA256-TRAILER\n" + amz_date + "\n" + scope + "\n"
///     + hex(previous) + "\n" + hex(SHA-256(canonical_trailer)))
/// ```
///
/// where the canonical trailer is each trailer field but
/// `x-amz-trailer-signature` as `name:value\n` (lowercase name, trimmed
/// value; the verifier accepts one field, the announced checksum).
pub(crate) fn trailer_signature(
    key: &Secret,
    amz_date: &str,
    scope: &str,
    previous: &[u8; 32],
    canonical_trailer: &[u8],
) -> [u8; 32] {
    key.mac(&[
        TRAILER_ALGORITHM.as_bytes(),
        b"\n",
        amz_date.as_bytes(),
        b"\n",
        scope.as_bytes(),
        b"\n",
        &hex_array(previous),
        b"\n",
        &BodyDigest::of(canonical_trailer).hex_bytes(),
    ])
}

/// Decodes a signature as the chunks carry it: exactly 64 lowercase hex digits.
pub(crate) fn parse_signature(hex: &[u8]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    crate::hex::decode(hex, &mut out, crate::hex::Letters::Lower).then_some(out)
}

/// Two MACs compared in constant time.
fn signatures_equal(ours: &[u8; 32], theirs: &[u8; 32]) -> bool {
    ours.ct_eq(theirs).into()
}

/// How an aws-chunked body's chunks are signed.
pub(crate) enum ChunkSigning {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: with the SigV4
    /// signing key, the request's `X-Amz-Date` and credential scope, and
    /// its signature (the seed of the chain).
    Signed {
        key: Secret,
        amz_date: Box<str>,
        scope: Box<str>,
        seed: [u8; 32],
    },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: no signatures at all.
    Unsigned,
}

/// The chain of a signed body's signatures.
struct Chain {
    key: Secret,
    amz_date: Box<str>,
    scope: Box<str>,
    /// The last signature verified (the seed, before the first chunk).
    previous: [u8; 32],
    /// The SHA-256 of the current chunk's data so far.
    hasher: BodyHasher,
}

impl Chain {
    /// Checks a chunk's signature and moves the chain on.
    fn check(&mut self, data_sha256: &[u8; 32], expected: &[u8; 32]) -> Result<(), ErrorCode> {
        let signature = chunk_signature(
            &self.key,
            &self.amz_date,
            &self.scope,
            &self.previous,
            data_sha256,
        );
        if !signatures_equal(&signature, expected) {
            return Err(ErrorCode::InvalidSignature);
        }
        self.previous = signature;
        Ok(())
    }
}

/// Where the decoder is.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading a chunk's size line.
    SizeLine,
    /// Passing on a chunk's data: `left` bytes to come, then its signature
    /// (`expected`; zeros for an unsigned body) is checked.
    Data { left: u64, expected: [u8; 32] },
    /// The `\r\n` after a chunk's data, `seen` bytes of it so far.
    DataEnd { seen: usize },
    /// Reading the trailer's lines, after the final chunk.
    Trailer,
    /// The body has ended, checked: nothing may follow.
    Done,
    /// Refused with this code: so is everything after.
    Failed(ErrorCode),
}

/// Decodes an aws-chunked body and checks it as it streams (see the
/// [module docs](self)): the handler reads the chunks' data, as slices of
/// the received frames.
pub(crate) struct AwsChunked {
    /// `None` for an unsigned body.
    chain: Option<Chain>,
    /// The checksum `x-amz-trailer` announced.
    trailer_algorithm: Option<ChecksumAlgorithm>,
    /// Its running value, until the trailer is checked.
    trailer_checksum: Option<Checksum>,
    /// Its value in the trailer (base64, trimmed), once that line came.
    trailer_value: Option<([u8; MAX_BASE64_LEN], usize)>,
    /// Whether `x-amz-trailer-signature` came and was verified.
    trailer_signed: bool,
    /// An `x-amz-checksum-*` header's running checksum and value, until the final chunk.
    header_checksum: Option<(Checksum, Box<[u8]>)>,
    /// `x-amz-decoded-content-length`.
    decoded_length: Option<u64>,
    /// The data the size lines so far announced, in bytes.
    decoded: u64,
    /// The line being read (a size line or a trailer line), and its length so far.
    line: [u8; MAX_TRAILER_LINE],
    line_len: usize,
    state: State,
}

impl AwsChunked {
    /// The check of an aws-chunked body.
    ///
    /// - `signing`: how the chunks are signed.
    /// - `trailer`: the checksum `x-amz-trailer` announced. It must then
    ///   arrive in the trailer, and is checked against the decoded data;
    ///   with [`ChunkSigning::Signed`], the trailer signature is required
    ///   and checked too. With `Signed` and no trailer, no trailer section
    ///   may follow the final chunk.
    /// - `header_checksum`: an `x-amz-checksum-*` header's algorithm and
    ///   value as sent, checked against the decoded data at the final chunk.
    /// - `decoded_length`: `x-amz-decoded-content-length`, if sent: the
    ///   decoded data must be exactly that long. Too much fails at the size
    ///   line that announces it, before its data is handed on; too little
    ///   at the final chunk ([`ErrorCode::DecodedLengthMismatch`]).
    pub(crate) fn new(
        signing: ChunkSigning,
        trailer: Option<ChecksumAlgorithm>,
        header_checksum: Option<(ChecksumAlgorithm, Box<[u8]>)>,
        decoded_length: Option<u64>,
    ) -> Self {
        let chain = match signing {
            ChunkSigning::Signed {
                key,
                amz_date,
                scope,
                seed,
            } => Some(Chain {
                key,
                amz_date,
                scope,
                previous: seed,
                hasher: BodyHasher::new(),
            }),
            ChunkSigning::Unsigned => None,
        };
        Self {
            chain,
            trailer_algorithm: trailer,
            trailer_checksum: trailer.map(ChecksumAlgorithm::hasher),
            trailer_value: None,
            trailer_signed: false,
            header_checksum: header_checksum.map(|(algorithm, value)| (algorithm.hasher(), value)),
            decoded_length,
            decoded: 0,
            line: [0; MAX_TRAILER_LINE],
            line_len: 0,
            state: State::SizeLine,
        }
    }

    /// Takes the bytes of the line being read from `data[*at..]`, at most
    /// `limit` in all (its `\r\n` included). The line's length, without its
    /// `\r\n`, once it is complete (it is then `self.line[..len]`).
    fn read_line(
        &mut self,
        data: &[u8],
        at: &mut usize,
        limit: usize,
    ) -> Result<Option<usize>, ErrorCode> {
        let rest = &data[*at..];
        let room = limit.saturating_sub(self.line_len);
        let window = &rest[..rest.len().min(room)];
        let Some(end) = window.iter().position(|&b| b == b'\n') else {
            if rest.len() >= room {
                // No line end within the limit.
                return Err(MALFORMED);
            }
            self.line[self.line_len..self.line_len + rest.len()].copy_from_slice(rest);
            self.line_len += rest.len();
            *at = data.len();
            return Ok(None);
        };
        let taken = &window[..=end];
        self.line[self.line_len..self.line_len + taken.len()].copy_from_slice(taken);
        *at += taken.len();
        let len = std::mem::take(&mut self.line_len) + taken.len();
        // A bare `\n` does not end a line.
        if len < 2 || self.line[len - 2] != b'\r' {
            return Err(MALFORMED);
        }
        Ok(Some(len - 2))
    }

    /// A chunk's size line has been read: `size` bytes signed with `expected`.
    fn start_chunk(&mut self, size: u64, expected: [u8; 32]) -> Result<(), ErrorCode> {
        if size == 0 {
            return self.end_data(&expected);
        }
        if let Some(declared) = self.decoded_length {
            // `decoded` never passes `declared`.
            if size > declared - self.decoded {
                return Err(ErrorCode::DecodedLengthMismatch);
            }
        }
        self.decoded = self.decoded.checked_add(size).ok_or(MALFORMED)?;
        self.state = State::Data {
            left: size,
            expected,
        };
        Ok(())
    }

    /// Feeds chunk data to the running hashes.
    fn absorb(&mut self, data: &[u8]) {
        if let Some(chain) = &mut self.chain {
            chain.hasher.update(data);
        }
        if let Some(checksum) = &mut self.trailer_checksum {
            checksum.update(data);
        }
        if let Some((checksum, _)) = &mut self.header_checksum {
            checksum.update(data);
        }
    }

    /// A chunk's last byte has arrived: checks its signature.
    fn end_chunk(&mut self, expected: &[u8; 32]) -> Result<(), ErrorCode> {
        match &mut self.chain {
            Some(chain) => {
                let digest = std::mem::take(&mut chain.hasher).finish();
                chain.check(digest.as_bytes(), expected)
            }
            None => Ok(()),
        }
    }

    /// The final, empty chunk: the data has ended.
    fn end_data(&mut self, expected: &[u8; 32]) -> Result<(), ErrorCode> {
        if let Some(chain) = &mut self.chain {
            chain.check(BodyDigest::EMPTY.as_bytes(), expected)?;
        }
        if self
            .decoded_length
            .is_some_and(|declared| declared != self.decoded)
        {
            return Err(ErrorCode::DecodedLengthMismatch);
        }
        if let Some((checksum, value)) = self.header_checksum.take() {
            checksum.check(&value)?;
        }
        self.state = State::Trailer;
        Ok(())
    }

    /// A trailer line has been read, `self.line[..len]`.
    fn trailer_line(&mut self, len: usize) -> Result<(), ErrorCode> {
        let line = self.line;
        let line = &line[..len];
        if line.is_empty() {
            return self.end_trailer();
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(MALFORMED)?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(TRAILER_SIGNATURE) {
            return self.trailer_signature_line(value);
        }
        if self.trailer_signed {
            // The signature is the last line.
            return Err(MALFORMED);
        }
        match ChecksumAlgorithm::from_header_name(name) {
            Some(algorithm)
                if Some(algorithm) == self.trailer_algorithm && self.trailer_value.is_none() =>
            {
                algorithm.validate(value)?;
                let mut text = [0u8; MAX_BASE64_LEN];
                text[..value.len()].copy_from_slice(value);
                self.trailer_value = Some((text, value.len()));
                Ok(())
            }
            // Not announced, or a second time.
            Some(_) => Err(MALFORMED),
            None if is_checksum_name(name) => Err(ErrorCode::UnsupportedChecksum),
            None => Err(MALFORMED),
        }
    }

    /// `x-amz-trailer-signature`, whose (trimmed) value is `value`.
    fn trailer_signature_line(&mut self, value: &[u8]) -> Result<(), ErrorCode> {
        // Only a signed body with a trailer has one, once, after its checksum.
        let (Some(chain), Some(algorithm), Some((text, text_len)), false) = (
            &self.chain,
            self.trailer_algorithm,
            &self.trailer_value,
            self.trailer_signed,
        ) else {
            return Err(MALFORMED);
        };
        let expected = parse_signature(value).ok_or(MALFORMED)?;
        let canonical = [
            algorithm.header_name().as_bytes(),
            b":",
            &text[..*text_len],
            b"\n",
        ]
        .concat();
        let signature = trailer_signature(
            &chain.key,
            &chain.amz_date,
            &chain.scope,
            &chain.previous,
            &canonical,
        );
        if !signatures_equal(&signature, &expected) {
            return Err(ErrorCode::InvalidSignature);
        }
        self.trailer_signed = true;
        Ok(())
    }

    /// The empty line that ends the trailer, and the body.
    fn end_trailer(&mut self) -> Result<(), ErrorCode> {
        if let Some(checksum) = self.trailer_checksum.take() {
            // Announced: it must have come, signed if the body is.
            let Some((text, len)) = self.trailer_value else {
                return Err(MALFORMED);
            };
            if self.chain.is_some() && !self.trailer_signed {
                return Err(MALFORMED);
            }
            checksum.check(&text[..len])?;
        }
        self.state = State::Done;
        Ok(())
    }

    /// Decodes `data`, pushing the chunk data it carries onto `out`.
    fn run(&mut self, data: &Bytes, out: &mut VecDeque<Bytes>) -> Result<(), ErrorCode> {
        let mut at = 0;
        while at < data.len() {
            match self.state {
                State::SizeLine => {
                    let limit = if self.chain.is_some() {
                        MAX_SIZE_LINE
                    } else {
                        MAX_UNSIGNED_SIZE_LINE
                    };
                    if let Some(len) = self.read_line(data, &mut at, limit)? {
                        let (size, expected) =
                            parse_size_line(&self.line[..len], self.chain.is_some())?;
                        self.start_chunk(size, expected)?;
                    }
                }
                State::Data { left, expected } => {
                    let take = (data.len() - at).min(usize::try_from(left).unwrap_or(usize::MAX));
                    let piece = data.slice(at..at + take);
                    at += take;
                    self.absorb(&piece);
                    let left = left - take as u64;
                    if left == 0 {
                        // Checked before its last piece is handed on.
                        self.end_chunk(&expected)?;
                        self.state = State::DataEnd { seen: 0 };
                    } else {
                        self.state = State::Data { left, expected };
                    }
                    out.push_back(piece);
                }
                State::DataEnd { seen } => {
                    if data[at] != b"\r\n"[seen] {
                        return Err(MALFORMED);
                    }
                    at += 1;
                    self.state = if seen == 0 {
                        State::DataEnd { seen: 1 }
                    } else {
                        State::SizeLine
                    };
                }
                State::Trailer => {
                    if let Some(len) = self.read_line(data, &mut at, MAX_TRAILER_LINE)? {
                        self.trailer_line(len)?;
                    }
                }
                // Bytes after the end of the body.
                State::Done => return Err(MALFORMED),
                State::Failed(code) => return Err(code),
            }
        }
        Ok(())
    }
}

/// Parses a size line (without its `\r\n`): `<hex>;chunk-signature=<64
/// hex>` for a signed body, `<hex>` for an unsigned one (whose signature
/// is then zeros).
fn parse_size_line(line: &[u8], signed: bool) -> Result<(u64, [u8; 32]), ErrorCode> {
    let (size, signature) = if signed {
        let semicolon = line.iter().position(|&b| b == b';').ok_or(MALFORMED)?;
        let (size, extension) = line.split_at(semicolon);
        let signature = extension
            .strip_prefix(CHUNK_SIGNATURE)
            .and_then(parse_signature)
            .ok_or(MALFORMED)?;
        (size, signature)
    } else {
        (line, [0; 32])
    };
    let well_formed = !size.is_empty()
        && size.len() <= MAX_SIZE_DIGITS
        && size.iter().all(u8::is_ascii_hexdigit)
        && (size == b"0" || size[0] != b'0');
    if !well_formed {
        return Err(MALFORMED);
    }
    let size = size.iter().fold(0u64, |n, &digit| {
        // Hex digits, 16 at most: no overflow.
        n << 4 | u64::from(char::from(digit).to_digit(16).unwrap_or_default())
    });
    Ok((size, signature))
}

/// Whether `name` is `x-amz-checksum-` and an algorithm's name (known or not).
fn is_checksum_name(name: &[u8]) -> bool {
    name.len() > CHECKSUM_PREFIX.len()
        && name[..CHECKSUM_PREFIX.len()].eq_ignore_ascii_case(CHECKSUM_PREFIX)
        && name[CHECKSUM_PREFIX.len()..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
}

/// `value` without the spaces and tabs around it.
fn trim(value: &[u8]) -> &[u8] {
    let space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !space(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

impl BodyCheck for AwsChunked {
    fn update(&mut self, data: &[u8]) {
        // Only reached through `decode`, which hands on slices; see `decodes`.
        // An error is kept in the state, for `finish`.
        let _ = self.decode(Bytes::copy_from_slice(data), &mut VecDeque::new());
    }

    fn finish(self: Box<Self>) -> Result<(), ErrorCode> {
        match self.state {
            State::Done => Ok(()),
            State::Failed(code) => Err(code),
            // Cut short: the final chunk or the trailer never came.
            _ => Err(ErrorCode::BodyIncomplete),
        }
    }

    fn explain(&self) -> Explanation {
        let at = match self.state {
            State::SizeLine => "size_line",
            State::Data { .. } | State::DataEnd { .. } => "chunk_data",
            State::Trailer => "trailer",
            State::Done => "end",
            State::Failed(_) => "refused",
        };
        vec![
            ("aws_chunked_decoded_bytes", self.decoded.to_string()),
            ("aws_chunked_stopped_in", at.to_owned()),
        ]
    }

    fn decodes(&self) -> bool {
        true
    }

    fn authenticates_body(&self) -> bool {
        self.chain.is_some()
    }

    fn decode(&mut self, data: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), ErrorCode> {
        self.run(&data, out).inspect_err(|&code| {
            self.state = State::Failed(code);
        })
    }
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;

    use super::*;

    const DATE: &str = "20130524T000000Z";
    const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
    const SEED: [u8; 32] = [1; 32];

    fn key() -> Secret {
        Secret::new(vec![7; 32]).unwrap()
    }

    fn to_hex(bytes: &[u8; 32]) -> String {
        String::from_utf8(hex_array(bytes).to_vec()).unwrap()
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Mode {
        Signed,
        Unsigned,
    }

    /// How a test body is framed.
    #[derive(Debug, Clone, Copy)]
    struct Encoding {
        mode: Mode,
        trailer: Option<ChecksumAlgorithm>,
        seed: [u8; 32],
        uppercase: bool,
    }

    impl Encoding {
        fn signed() -> Self {
            Self {
                mode: Mode::Signed,
                trailer: None,
                seed: SEED,
                uppercase: false,
            }
        }

        fn signed_trailer(algorithm: ChecksumAlgorithm) -> Self {
            Self {
                trailer: Some(algorithm),
                ..Self::signed()
            }
        }

        fn unsigned_trailer(algorithm: ChecksumAlgorithm) -> Self {
            Self {
                mode: Mode::Unsigned,
                ..Self::signed_trailer(algorithm)
            }
        }

        /// The three modes (with a CRC32 trailer where there is one).
        fn all() -> [Self; 3] {
            [
                Self::signed(),
                Self::signed_trailer(ChecksumAlgorithm::Crc32),
                Self::unsigned_trailer(ChecksumAlgorithm::Crc32),
            ]
        }

        /// The check a server would build for it.
        fn check(self, decoded_length: Option<u64>) -> AwsChunked {
            let signing = match self.mode {
                Mode::Signed => ChunkSigning::Signed {
                    key: key(),
                    amz_date: DATE.into(),
                    scope: SCOPE.into(),
                    seed: SEED,
                },
                Mode::Unsigned => ChunkSigning::Unsigned,
            };
            AwsChunked::new(signing, self.trailer, None, decoded_length)
        }

        fn size(self, len: usize) -> String {
            if self.uppercase {
                format!("{len:X}")
            } else {
                format!("{len:x}")
            }
        }

        /// One chunk as the wire carries it (the final one if `data` is
        /// empty, without the trailer), and its signature.
        fn chunk(self, previous: &[u8; 32], data: &[u8]) -> (Vec<u8>, [u8; 32]) {
            let mut out = self.size(data.len()).into_bytes();
            let mut signature = [0; 32];
            if self.mode == Mode::Signed {
                let digest = BodyDigest::of(data);
                signature = chunk_signature(&key(), DATE, SCOPE, previous, digest.as_bytes());
                out.extend_from_slice(
                    format!(";chunk-signature={}", to_hex(&signature)).as_bytes(),
                );
            }
            out.extend_from_slice(b"\r\n");
            if !data.is_empty() {
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            (out, signature)
        }

        /// The trailer lines after the final chunk (the ending empty line
        /// included), with `value` as the checksum's value.
        fn trailer_with(self, last: &[u8; 32], value: &str) -> Vec<u8> {
            let mut out = Vec::new();
            if let Some(algorithm) = self.trailer {
                let line = format!("{}:{value}", algorithm.header_name());
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(b"\r\n");
                if self.mode == Mode::Signed {
                    let canonical = format!("{line}\n");
                    let signature =
                        trailer_signature(&key(), DATE, SCOPE, last, canonical.as_bytes());
                    let line = format!("x-amz-trailer-signature:{}\r\n", to_hex(&signature));
                    out.extend_from_slice(line.as_bytes());
                }
            }
            out.extend_from_slice(b"\r\n");
            out
        }

        /// `chunks` as a client sends them.
        fn encode(self, chunks: &[&[u8]]) -> Vec<u8> {
            self.encode_with(chunks, None)
        }

        /// `chunks` as a client sends them, with `value` (if given) as the
        /// trailer checksum's value, signed as the client would.
        fn encode_with(self, chunks: &[&[u8]], value: Option<&str>) -> Vec<u8> {
            let mut previous = self.seed;
            let mut out = Vec::new();
            let mut data = Vec::new();
            for chunk in chunks.iter().copied().chain([&b""[..]]) {
                let (wire, signature) = self.chunk(&previous, chunk);
                out.extend_from_slice(&wire);
                data.extend_from_slice(chunk);
                previous = signature;
            }
            let computed = self.trailer.map(|algorithm| checksum_of(algorithm, &data));
            let value = value.or(computed.as_deref()).unwrap_or("");
            out.extend_from_slice(&self.trailer_with(&previous, value));
            out
        }
    }

    fn joined(out: &VecDeque<Bytes>) -> Vec<u8> {
        out.iter().flat_map(|b| b.to_vec()).collect()
    }

    fn checksum_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut checksum = algorithm.hasher();
        checksum.update(data);
        checksum.finish_base64()
    }

    /// Decodes `wire` handed over in pieces of `piece` bytes.
    fn decode_with(mut check: AwsChunked, wire: &[u8], piece: usize) -> Result<Vec<u8>, ErrorCode> {
        let mut out = VecDeque::new();
        for part in wire.chunks(piece) {
            check.decode(Bytes::copy_from_slice(part), &mut out)?;
        }
        Box::new(check).finish()?;
        Ok(joined(&out))
    }

    fn decode_in_pieces(
        encoding: Encoding,
        wire: &[u8],
        piece: usize,
    ) -> Result<Vec<u8>, ErrorCode> {
        decode_with(encoding.check(None), wire, piece)
    }

    fn sample() -> (Vec<&'static [u8]>, Vec<u8>) {
        let chunks: Vec<&[u8]> = vec![b"hello ", b"aws-chunked ", &[9u8; 300], b"world"];
        let data = chunks.concat();
        (chunks, data)
    }

    #[test]
    fn decodes_whatever_the_frame_boundaries() {
        let (chunks, data) = sample();
        for encoding in Encoding::all() {
            for uppercase in [false, true] {
                let encoding = Encoding {
                    uppercase,
                    ..encoding
                };
                let wire = encoding.encode(&chunks);
                for piece in (1..=80).chain([97, 128, 255, 256, 257, 333, wire.len()]) {
                    assert_eq!(
                        decode_in_pieces(encoding, &wire, piece),
                        Ok(data.clone()),
                        "{encoding:?} {piece}"
                    );
                }
                let declared = Some(data.len() as u64);
                assert_eq!(
                    decode_with(encoding.check(declared), &wire, 7),
                    Ok(data.clone())
                );
            }
            // An empty body is just the final chunk (and the trailer).
            assert_eq!(
                decode_in_pieces(encoding, &encoding.encode(&[]), 5),
                Ok(Vec::new()),
                "{encoding:?}"
            );
            assert_eq!(
                decode_with(encoding.check(Some(0)), &encoding.encode(&[]), 1),
                Ok(Vec::new())
            );
        }
    }

    #[test]
    fn hands_on_slices_of_the_received_frames() {
        let (chunks, data) = sample();
        for encoding in Encoding::all() {
            let wire = Bytes::from(encoding.encode(&chunks));
            let mut check = encoding.check(None);
            let mut out = VecDeque::new();
            check.decode(wire.clone(), &mut out).unwrap();
            assert!(Box::new(check).finish().is_ok());
            // One slice per chunk, each pointing into `wire`.
            assert_eq!(out.len(), chunks.len());
            let range = wire.as_ptr_range();
            for piece in &out {
                assert!(range.contains(&piece.as_ptr()), "{encoding:?}");
            }
            assert_eq!(joined(&out), data);
        }
    }

    #[test]
    fn flags() {
        let signed = Encoding::signed().check(None);
        assert!(signed.decodes() && signed.authenticates_body());
        let unsigned = Encoding::unsigned_trailer(ChecksumAlgorithm::Crc32).check(None);
        assert!(unsigned.decodes() && !unsigned.authenticates_body());
    }

    /// The example of "Signature Calculations for the Authorization Header:
    /// Transferring Payload in Multiple Chunks" in the S3 API reference.
    #[test]
    fn the_aws_documentation_example() {
        type HmacSha256 = Hmac<Sha256>;
        let hmac = |key: &[u8], data: &[u8]| -> Vec<u8> {
            let mut mac = HmacSha256::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        };
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let key = hmac(format!("AWS4{secret}").as_bytes(), b"20130524");
        let key = hmac(&key, b"us-east-1");
        let key = hmac(&key, b"s3");
        let key = hmac(&key, b"aws4_request");
        let key = Secret::new(key).unwrap();
        let decode = |hex: &str| parse_signature(hex.as_bytes()).unwrap();
        let seed = decode("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
        let documented = [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ];
        let data = vec![b'a'; 66560];
        let chunks = [&data[..65536], &data[65536..], &[]];

        // The signer's side: the same chain.
        let mut previous = seed;
        for (chunk, documented) in chunks.iter().zip(documented) {
            let digest = BodyDigest::of(chunk);
            previous = chunk_signature(&key, DATE, SCOPE, &previous, digest.as_bytes());
            assert_eq!(to_hex(&previous), documented);
        }

        // The body as the documentation shows it.
        let mut wire = Vec::new();
        for (chunk, signature) in chunks.iter().zip(documented) {
            wire.extend_from_slice(
                format!("{:x};chunk-signature={signature}\r\n", chunk.len()).as_bytes(),
            );
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        assert!(wire.starts_with(b"10000;chunk-signature=ad80c730"));
        let check = || {
            let signing = ChunkSigning::Signed {
                key: key.clone(),
                amz_date: DATE.into(),
                scope: SCOPE.into(),
                seed,
            };
            AwsChunked::new(signing, None, None, Some(66560))
        };
        for piece in [1, 1000, 65536, 65537, wire.len()] {
            assert_eq!(
                decode_with(check(), &wire, piece),
                Ok(data.clone()),
                "{piece}"
            );
        }
        // One byte changed in the data, first or last of a chunk: its signature fails.
        let second = 88 + 65536 + 2 + 86;
        for at in [88, 88 + 65535, second, second + 1023] {
            let mut changed = wire.clone();
            assert_eq!(changed[at], b'a');
            changed[at] = b'b';
            assert_eq!(
                decode_with(check(), &changed, 4096),
                Err(ErrorCode::InvalidSignature)
            );
        }
    }

    /// The offsets at which `wire` carries a signature's hex digits.
    fn signature_offsets(wire: &[u8]) -> Vec<usize> {
        let mut offsets = Vec::new();
        for marker in [&b";chunk-signature="[..], b"x-amz-trailer-signature:"] {
            offsets.extend(
                wire.windows(marker.len())
                    .enumerate()
                    .filter(|(_, w)| *w == marker)
                    .map(|(i, _)| i + marker.len()),
            );
        }
        offsets
    }

    #[test]
    fn every_signature_is_checked() {
        let chunks: [&[u8]; 3] = [b"one", b"two", b"three"];
        for encoding in [
            Encoding::signed(),
            Encoding::signed_trailer(ChecksumAlgorithm::Crc32c),
        ] {
            let wire = encoding.encode(&chunks);
            let offsets = signature_offsets(&wire);
            // Three chunks, the final one, and the trailer's.
            assert_eq!(offsets.len(), 4 + usize::from(encoding.trailer.is_some()));
            for at in offsets {
                for digit in [0, 63] {
                    let mut changed = wire.clone();
                    let at = at + digit;
                    // Another hex digit: still well-formed.
                    changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
                    for piece in [1, 4, wire.len()] {
                        assert_eq!(
                            decode_in_pieces(encoding, &changed, piece),
                            Err(ErrorCode::InvalidSignature),
                            "{encoding:?} {at} {piece}"
                        );
                    }
                }
            }
            // Another seed (another request's signature) fails at the first chunk.
            let other = Encoding {
                seed: [2; 32],
                ..encoding
            };
            assert_eq!(
                decode_in_pieces(encoding, &other.encode(&chunks), 9),
                Err(ErrorCode::InvalidSignature)
            );
        }
    }

    #[test]
    fn at_most_one_unverified_chunk_reaches_the_handler() {
        let encoding = Encoding::signed();
        let first = [b'1'; 100];
        let second = [b'2'; 100];
        let mut wire = encoding.encode(&[&first, &second]);
        let at = signature_offsets(&wire)[1];
        wire[at] = if wire[at] == b'0' { b'1' } else { b'0' };
        for piece in [1, 10, 50, wire.len()] {
            let mut check = encoding.check(None);
            let mut out = VecDeque::new();
            let mut result = Ok(());
            for part in wire.chunks(piece) {
                result = check.decode(Bytes::copy_from_slice(part), &mut out);
                if result.is_err() {
                    break;
                }
            }
            assert_eq!(result, Err(ErrorCode::InvalidSignature));
            let seen = joined(&out);
            // The first chunk, and of the second at most all but its last piece.
            assert!(seen.starts_with(&first), "{piece}");
            assert!(seen.len() < first.len() + second.len(), "{piece}");
            assert!(seen[first.len()..].iter().all(|&b| b == b'2'));
            // The failure sticks.
            assert_eq!(
                check.decode(Bytes::from_static(b"0"), &mut out),
                Err(ErrorCode::InvalidSignature)
            );
            assert_eq!(Box::new(check).finish(), Err(ErrorCode::InvalidSignature));
        }
    }

    #[test]
    fn dropped_reordered_truncated_and_trailing_chunks_fail() {
        for encoding in Encoding::all() {
            let (one, s1) = encoding.chunk(&SEED, b"one");
            let (two, s2) = encoding.chunk(&s1, b"two");
            let (end, s3) = encoding.chunk(&s2, b"");
            let value = encoding
                .trailer
                .map_or(String::new(), |algorithm| checksum_of(algorithm, b"onetwo"));
            let trailer = encoding.trailer_with(&s3, &value);
            let good = [&one[..], &two, &end, &trailer].concat();
            assert_eq!(decode_in_pieces(encoding, &good, 3), Ok(b"onetwo".to_vec()));
            let expect_broken = |wire: &[u8], signed: ErrorCode, unsigned: ErrorCode| {
                let code = if encoding.mode == Mode::Signed {
                    signed
                } else {
                    unsigned
                };
                for piece in [1, 3, wire.len()] {
                    assert_eq!(
                        decode_in_pieces(encoding, wire, piece),
                        Err(code),
                        "{encoding:?} {:?}",
                        String::from_utf8_lossy(wire)
                    );
                }
            };
            let checksum = ErrorCode::ChecksumMismatch;
            let signature = ErrorCode::InvalidSignature;
            // Dropped: the chain breaks (unsigned: the checksum does).
            let dropped = [&two[..], &end, &trailer].concat();
            expect_broken(&dropped, signature, checksum);
            let reordered = [&two[..], &one, &end, &trailer].concat();
            expect_broken(&reordered, signature, checksum);
            let twice = [&one[..], &one, &two, &end, &trailer].concat();
            expect_broken(&twice, signature, checksum);
            // A flipped data byte.
            let mut flipped = good.clone();
            let at = flipped.windows(3).position(|w| w == b"one").unwrap();
            flipped[at] = b'O';
            expect_broken(&flipped, signature, checksum);
            // Trailing garbage, even a line end.
            for garbage in [&b"x"[..], b"\r\n", b"0\r\n\r\n"] {
                let trailing = [&good[..], garbage].concat();
                expect_broken(
                    &trailing,
                    ErrorCode::MalformedChunkedBody,
                    ErrorCode::MalformedChunkedBody,
                );
            }
            // Truncated anywhere: incomplete, never accepted.
            for len in 0..good.len() {
                for piece in [1, 5, good.len()] {
                    assert_eq!(
                        decode_in_pieces(encoding, &good[..len], piece),
                        Err(ErrorCode::BodyIncomplete),
                        "{encoding:?} {len}"
                    );
                }
            }
            // No final chunk.
            let no_end = [&one[..], &two].concat();
            assert_eq!(
                decode_in_pieces(encoding, &no_end, 3),
                Err(ErrorCode::BodyIncomplete)
            );
        }
    }

    #[test]
    fn decoded_length_must_match() {
        let (chunks, data) = sample();
        let len = data.len() as u64;
        for encoding in Encoding::all() {
            let wire = encoding.encode(&chunks);
            assert_eq!(
                decode_with(encoding.check(Some(len)), &wire, 11),
                Ok(data.clone())
            );
            // Declared longer: found at the final chunk.
            assert_eq!(
                decode_with(encoding.check(Some(len + 1)), &wire, 11),
                Err(ErrorCode::DecodedLengthMismatch)
            );
            // Declared shorter: found at the size line that passes it,
            // before any of its data is handed on.
            let mut check = encoding.check(Some(len - 1));
            let mut out = VecDeque::new();
            let result = wire
                .chunks(1)
                .try_for_each(|part| check.decode(Bytes::copy_from_slice(part), &mut out));
            assert_eq!(result, Err(ErrorCode::DecodedLengthMismatch));
            let last = chunks.last().unwrap();
            assert_eq!(joined(&out), &data[..data.len() - last.len()]);
            assert_eq!(
                decode_with(encoding.check(Some(0)), &wire, 100),
                Err(ErrorCode::DecodedLengthMismatch)
            );
        }
    }

    #[test]
    fn malformed_size_lines_are_refused() {
        let sig = "0".repeat(64);
        let signed = [
            format!("05;chunk-signature={sig}\r\n"),
            format!("00;chunk-signature={sig}\r\n"),
            format!("x;chunk-signature={sig}\r\n"),
            format!(";chunk-signature={sig}\r\n"),
            format!("-5;chunk-signature={sig}\r\n"),
            format!("+5;chunk-signature={sig}\r\n"),
            format!("5 ;chunk-signature={sig}\r\n"),
            format!(" 5;chunk-signature={sig}\r\n"),
            format!("0x5;chunk-signature={sig}\r\n"),
            format!("5;chunk-signature={}\r\n", &sig[..63]),
            format!("5;chunk-signature={sig}0\r\n"),
            format!("5;chunk-signature={}\r\n", "A".repeat(64)),
            format!("5;chunk-signature={}g\r\n", &sig[..63]),
            format!("5;chunk-signature= {}\r\n", &sig[..63]),
            format!("5;chunk-signature={sig};x=y\r\n"),
            format!("5;chunk-signature={sig} \r\n"),
            format!("5;signature={sig}\r\n"),
            format!("5;Chunk-Signature={sig}\r\n"),
            format!("5;chunk-signature:{sig}\r\n"),
            "5\r\n".to_owned(),
            format!("5;chunk-signature={sig}\n"),
            format!("5;chunk-signature={sig}\r\r\n"),
            format!("11111111111111111;chunk-signature={sig}\r\n"),
            format!("5;chunk-signature={sig}") + &"0".repeat(200),
            "1".repeat(10_000),
            "\r\n".to_owned(),
            "\n".to_owned(),
        ];
        for line in &signed {
            assert_eq!(
                decode_in_pieces(Encoding::signed(), line.as_bytes(), 7),
                Err(ErrorCode::MalformedChunkedBody),
                "{line:?}"
            );
        }
        let unsigned = Encoding::unsigned_trailer(ChecksumAlgorithm::Crc32);
        for line in [
            "05\r\n",
            "00\r\n",
            "x\r\n",
            "\r\n",
            "5 \r\n",
            " 5\r\n",
            "5;chunk-signature=\r\n",
            &format!("5;chunk-signature={sig}\r\n"),
            "5;ext\r\n",
            "0x5\r\n",
            "5\n",
            "11111111111111111\r\n",
            &"1".repeat(10_000),
        ] {
            assert_eq!(
                decode_in_pieces(unsigned, line.as_bytes(), 3),
                Err(ErrorCode::MalformedChunkedBody),
                "{line:?}"
            );
        }
        // The largest size is well-formed: it only runs out of body.
        assert_eq!(
            decode_in_pieces(unsigned, b"ffffffffFFFFFFFF\r\nabc", 3),
            Err(ErrorCode::BodyIncomplete)
        );
        // And a line that runs past its bound fails there, not at its end.
        let mut check = unsigned.check(None);
        let mut out = VecDeque::new();
        let long = Bytes::from("1".repeat(MAX_UNSIGNED_SIZE_LINE));
        assert_eq!(
            check.decode(long, &mut out),
            Err(ErrorCode::MalformedChunkedBody)
        );
    }

    #[test]
    fn data_must_end_with_a_line_end() {
        for encoding in Encoding::all() {
            let wire = encoding.encode(&[b"abc"]);
            let at = wire.windows(3).position(|w| w == b"abc").unwrap() + 3;
            for (offset, byte) in [(0, b'\n'), (1, b'\r'), (0, b'x'), (1, b'x')] {
                let mut changed = wire.clone();
                changed[at + offset] = byte;
                assert_eq!(
                    decode_in_pieces(encoding, &changed, 2),
                    Err(ErrorCode::MalformedChunkedBody),
                    "{encoding:?} {offset}"
                );
            }
            // A chunk longer than its size says.
            let mut longer = wire.clone();
            longer.insert(at, b'd');
            assert_eq!(
                decode_in_pieces(encoding, &longer, 2),
                Err(ErrorCode::MalformedChunkedBody)
            );
        }
    }

    /// The wire of a one-chunk body `abc`, its trailer lines replaced by `lines`.
    fn with_trailer(encoding: Encoding, lines: &[&str]) -> Vec<u8> {
        let (chunk, s1) = encoding.chunk(&SEED, b"abc");
        let (end, _) = encoding.chunk(&s1, b"");
        let mut wire = [chunk, end].concat();
        for line in lines {
            wire.extend_from_slice(line.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        wire
    }

    /// The trailer of `abc` as `encoding` signs it: its checksum line and
    /// signature line, with `value` as the checksum value.
    fn signed_trailer_lines(encoding: Encoding, value: &str) -> (String, String) {
        let (_, s1) = encoding.chunk(&encoding.seed, b"abc");
        let (_, last) = encoding.chunk(&s1, b"");
        let lines = encoding.trailer_with(&last, value);
        let text = String::from_utf8(lines).unwrap();
        let mut lines = text.split("\r\n").map(str::to_owned);
        (lines.next().unwrap(), lines.next().unwrap())
    }

    #[test]
    fn trailer_checksums_are_checked() {
        let crc = ChecksumAlgorithm::Crc32;
        let abc = checksum_of(crc, b"abc");
        let other = "AAAAAA==";
        let unsigned = Encoding::unsigned_trailer(crc);
        let ok = |encoding: Encoding, lines: &[&str]| {
            decode_in_pieces(encoding, &with_trailer(encoding, lines), 4)
        };
        let line = format!("x-amz-checksum-crc32:{abc}");
        assert_eq!(ok(unsigned, &[&line]), Ok(b"abc".to_vec()));
        // Names in any case, whitespace around the value.
        assert_eq!(
            ok(unsigned, &[&format!("X-Amz-Checksum-CRC32: \t{abc} ")]),
            Ok(b"abc".to_vec())
        );
        let cases: [(&str, ErrorCode); 12] = [
            (
                &format!("x-amz-checksum-crc32:{other}"),
                ErrorCode::ChecksumMismatch,
            ),
            ("x-amz-checksum-crc32:AAAA", ErrorCode::UnsupportedChecksum),
            ("x-amz-checksum-crc32:", ErrorCode::UnsupportedChecksum),
            (
                "x-amz-checksum-md5:1B2M2Y8AsgTpgAmY7PhCfg==",
                ErrorCode::UnsupportedChecksum,
            ),
            (
                &format!("x-amz-checksum-crc32c:{abc}"),
                ErrorCode::MalformedChunkedBody,
            ),
            (
                &format!("x-amz-checksum-crc32 :{abc}"),
                ErrorCode::MalformedChunkedBody,
            ),
            (
                &format!(" x-amz-checksum-crc32:{abc}"),
                ErrorCode::MalformedChunkedBody,
            ),
            (
                &format!("x-amz-checksum-crc32{abc}"),
                ErrorCode::MalformedChunkedBody,
            ),
            ("x-amz-meta-color:blue", ErrorCode::MalformedChunkedBody),
            (
                &format!("x-amz-trailer-signature:{}", "0".repeat(64)),
                ErrorCode::MalformedChunkedBody,
            ),
            (
                &format!("x-amz-checksum-crc32:{}", "A".repeat(300)),
                ErrorCode::MalformedChunkedBody,
            ),
            ("x-amz-checksum-", ErrorCode::MalformedChunkedBody),
        ];
        for (line, code) in cases {
            assert_eq!(ok(unsigned, &[line]), Err(code), "{line:?}");
        }
        // Missing, twice, or followed by another.
        assert_eq!(ok(unsigned, &[]), Err(ErrorCode::MalformedChunkedBody));
        assert_eq!(
            ok(unsigned, &[&line, &line]),
            Err(ErrorCode::MalformedChunkedBody)
        );
        assert_eq!(
            ok(unsigned, &[&line, "x-amz-meta-a:b"]),
            Err(ErrorCode::MalformedChunkedBody)
        );
        // No trailer announced: none may come.
        let bare = Encoding {
            trailer: None,
            ..unsigned
        };
        assert_eq!(ok(bare, &[]), Ok(b"abc".to_vec()));
        assert_eq!(ok(bare, &[&line]), Err(ErrorCode::MalformedChunkedBody));
        assert_eq!(
            ok(Encoding::signed(), &[&line]),
            Err(ErrorCode::MalformedChunkedBody)
        );
    }

    #[test]
    fn signed_trailers_are_checked() {
        let crc = ChecksumAlgorithm::Crc32;
        let encoding = Encoding::signed_trailer(crc);
        let abc = checksum_of(crc, b"abc");
        let decode = |lines: &[&str]| decode_in_pieces(encoding, &with_trailer(encoding, lines), 5);
        let (checksum, signature) = signed_trailer_lines(encoding, &abc);
        assert_eq!(decode(&[&checksum, &signature]), Ok(b"abc".to_vec()));
        // Whitespace around the value is not signed.
        let spaced = checksum.replace(':', ":  ") + " ";
        assert_eq!(decode(&[&spaced, &signature]), Ok(b"abc".to_vec()));
        // Another checksum value: the signature (over it) fails first.
        let (changed, _) = signed_trailer_lines(encoding, "AAAAAA==");
        assert_eq!(
            decode(&[&changed, &signature]),
            Err(ErrorCode::InvalidSignature)
        );
        // A wrong value, correctly signed (a client's bug): the checksum fails.
        let (wrong, wrong_signature) = signed_trailer_lines(encoding, "AAAAAA==");
        assert_eq!(
            decode(&[&wrong, &wrong_signature]),
            Err(ErrorCode::ChecksumMismatch)
        );
        // Missing, misplaced, repeated or malformed signature.
        let malformed = ErrorCode::MalformedChunkedBody;
        assert_eq!(decode(&[&checksum]), Err(malformed));
        assert_eq!(decode(&[&signature]), Err(malformed));
        assert_eq!(decode(&[&signature, &checksum]), Err(malformed));
        assert_eq!(decode(&[&checksum, &signature, &signature]), Err(malformed));
        assert_eq!(decode(&[&checksum, &signature, &checksum]), Err(malformed));
        assert_eq!(
            decode(&[&checksum, &signature, "x-amz-meta-a:b"]),
            Err(malformed)
        );
        assert_eq!(
            decode(&[&checksum, &signature.to_uppercase()]),
            Err(malformed)
        );
        assert_eq!(
            decode(&[&checksum, &signature[..signature.len() - 1]]),
            Err(malformed)
        );
        assert_eq!(decode(&[]), Err(malformed));
        // The final chunk straight into the end, as without a trailer.
        assert_eq!(
            decode_in_pieces(encoding, &Encoding::signed().encode(&[b"abc"]), 5),
            Err(malformed)
        );
        // A trailer signature from another chain.
        let other = Encoding {
            seed: [2; 32],
            ..encoding
        };
        let (_, other_signature) = signed_trailer_lines(other, &abc);
        assert_eq!(
            decode(&[&checksum, &other_signature]),
            Err(ErrorCode::InvalidSignature)
        );
    }

    #[test]
    fn every_algorithm_through_the_trailer_and_the_header() {
        let (chunks, data) = sample();
        for algorithm in ChecksumAlgorithm::ALL {
            for encoding in [
                Encoding::signed_trailer(algorithm),
                Encoding::unsigned_trailer(algorithm),
            ] {
                let wire = encoding.encode(&chunks);
                assert_eq!(
                    decode_in_pieces(encoding, &wire, 13),
                    Ok(data.clone()),
                    "{encoding:?}"
                );
                // The wrong value, signed as the client would.
                let wrong = checksum_of(algorithm, b"other");
                assert_ne!(wrong, checksum_of(algorithm, &data));
                let changed = encoding.encode_with(&chunks, Some(&wrong));
                assert_eq!(
                    decode_in_pieces(encoding, &changed, 13),
                    Err(ErrorCode::ChecksumMismatch),
                    "{encoding:?}"
                );
            }
            // As an `x-amz-checksum-*` header, on a signed body without a trailer.
            let encoding = Encoding::signed();
            let wire = encoding.encode(&chunks);
            let header = |value: &[u8]| {
                let signing = ChunkSigning::Signed {
                    key: key(),
                    amz_date: DATE.into(),
                    scope: SCOPE.into(),
                    seed: SEED,
                };
                AwsChunked::new(signing, None, Some((algorithm, value.into())), None)
            };
            let right = checksum_of(algorithm, &data);
            assert_eq!(
                decode_with(header(right.as_bytes()), &wire, 17),
                Ok(data.clone())
            );
            let wrong = checksum_of(algorithm, b"other");
            assert_eq!(
                decode_with(header(wrong.as_bytes()), &wire, 17),
                Err(ErrorCode::ChecksumMismatch)
            );
            assert_eq!(
                decode_with(header(b"nope"), &wire, 17),
                Err(ErrorCode::UnsupportedChecksum)
            );
        }
    }

    /// Every streaming case of `tests/vectors/sigv4.json`: the chain as a
    /// signer computes it, and the body as the client sent it, decoded.
    #[test]
    fn the_sigv4_json_streaming_vectors() {
        use crate::schemes::sigv4::checksum::tests::{from_hex, vector_body, VECTORS};
        let cases: Vec<serde_json::Value> = serde_json::from_str(VECTORS).unwrap();
        let text = |value: &serde_json::Value| value.as_str().unwrap().to_owned();
        let mut seen = 0;
        for case in cases.iter().filter(|case| case["kind"] == "streaming") {
            let name = text(&case["name"]);
            let streaming = &case["streaming"];
            let expected = &case["expected"];
            let data = vector_body(&streaming["decoded_body"]);
            let wire_body = &case["request"]["body"];
            let mut wire = Vec::new();
            for segment in wire_body["segments"].as_array().unwrap() {
                if let Some(ascii) = segment["ascii"].as_str() {
                    wire.extend_from_slice(ascii.as_bytes());
                } else {
                    let range = segment["body"].as_array().unwrap();
                    let at = |i: usize| range[i].as_u64().unwrap() as usize;
                    wire.extend_from_slice(&data[at(0)..at(1)]);
                }
            }
            assert_eq!(
                wire.len() as u64,
                wire_body["len"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(
                BodyDigest::of(&wire).to_hex(),
                text(&wire_body["sha256"]),
                "{name}"
            );

            let key = Secret::new(from_hex(&text(&expected["signing_key_hex"]))).unwrap();
            let amz_date = text(&case["amz_date"]);
            let string_to_sign = text(&expected["string_to_sign"]);
            let scope = string_to_sign.lines().nth(2).unwrap().to_owned();
            let seed = parse_signature(text(&expected["seed_signature"]).as_bytes()).unwrap();
            let mode = text(&streaming["x_amz_content_sha256"]);
            let signed = mode.starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
            let header = |wanted: &str| {
                let headers = case["request"]["headers"].as_array().unwrap();
                headers.iter().find_map(|pair| {
                    let name = pair[0].as_str().unwrap();
                    name.eq_ignore_ascii_case(wanted).then(|| text(&pair[1]))
                })
            };
            let trailer = header("x-amz-trailer")
                .map(|name| ChecksumAlgorithm::from_header_name(name.as_bytes()).unwrap());
            let decoded_length = streaming["decoded_length"].as_u64();
            assert_eq!(decoded_length, Some(data.len() as u64), "{name}");

            // The chain, as a signer computes it, over the chunks' data.
            let mut previous = seed;
            let mut offset = 0;
            for chunk in expected["chunks"].as_array().unwrap() {
                let size = chunk["size"].as_u64().unwrap() as usize;
                let digest = BodyDigest::of(&data[offset..offset + size]);
                offset += size;
                assert_eq!(digest.to_hex(), text(&chunk["data_sha256"]), "{name}");
                if signed {
                    previous =
                        chunk_signature(&key, &amz_date, &scope, &previous, digest.as_bytes());
                    assert_eq!(to_hex(&previous), text(&chunk["signature"]), "{name}");
                }
            }
            assert_eq!(offset, data.len(), "{name}");
            if let (true, Some(_)) = (signed, trailer) {
                let canonical = text(&expected["trailer"]["canonical_trailers"]);
                let signature =
                    trailer_signature(&key, &amz_date, &scope, &previous, canonical.as_bytes());
                assert_eq!(
                    to_hex(&signature),
                    text(&expected["trailer"]["signature"]),
                    "{name}"
                );
            }

            // The body as the client sent it.
            let check = || {
                let signing = if signed {
                    ChunkSigning::Signed {
                        key: key.clone(),
                        amz_date: amz_date.as_str().into(),
                        scope: scope.as_str().into(),
                        seed,
                    }
                } else {
                    ChunkSigning::Unsigned
                };
                AwsChunked::new(signing, trailer, None, decoded_length)
            };
            let pieces: &[usize] = if wire.len() < 100_000 {
                &[1, 2, 3, 7, 1000, 8192]
            } else {
                &[4093, 65536]
            };
            for &piece in pieces.iter().chain([&wire.len()]) {
                assert_eq!(
                    decode_with(check(), &wire, piece),
                    Ok(data.clone()),
                    "{name} {piece}"
                );
            }
            // Its last data byte changed.
            if let Some(&last) = data.last() {
                let at = wire
                    .windows(data.len().min(64))
                    .rposition(|w| w == &data[data.len() - data.len().min(64)..])
                    .unwrap()
                    + data.len().min(64)
                    - 1;
                assert_eq!(wire[at], last);
                let mut changed = wire.clone();
                changed[at] ^= 1;
                let code = if signed {
                    ErrorCode::InvalidSignature
                } else {
                    ErrorCode::ChecksumMismatch
                };
                assert_eq!(decode_with(check(), &changed, 4096), Err(code), "{name}");
            }
            seen += 1;
        }
        assert!(seen >= 9, "{seen}");
    }

    #[test]
    fn memory_is_bounded() {
        // No buffer grows with the body: the check is a fixed size (about
        // 1.2 KiB: the line buffer, and two checksums, a CRC's state
        // carrying its ~300-byte parameter table).
        assert!(std::mem::size_of::<AwsChunked>() < 2048);
        // A chunk far larger than any frame passes through piece by piece.
        let encoding = Encoding::unsigned_trailer(ChecksumAlgorithm::Crc64Nvme);
        let big = vec![b'z'; 1 << 20];
        let wire = encoding.encode(&[&big]);
        assert_eq!(decode_in_pieces(encoding, &wire, 4096), Ok(big));
    }

    #[test]
    fn never_panics_on_mangled_bodies() {
        let (chunks, _) = sample();
        for encoding in Encoding::all() {
            let wire = encoding.encode(&chunks);
            for at in 0..wire.len() {
                for byte in [0, b'\r', b'\n', b'0', b'f', b':', b';', 0xff] {
                    let mut changed = wire.clone();
                    changed[at] = byte;
                    let _ = decode_in_pieces(encoding, &changed, 7);
                    let _ = decode_with(encoding.check(Some(10)), &changed, 3);
                }
                let mut cut = wire.clone();
                cut.remove(at);
                assert!(
                    decode_in_pieces(encoding, &cut, 5).is_err(),
                    "{encoding:?} {at}"
                );
            }
        }
    }
}
