//! aws-chunked bodies (SigV4's `STREAMING-*` payloads) through the server:
//! the app of `src/sigv4_server.rs` (SigV4 for `s3`, a clock skew of 200
//! years so that heads dated 2024 stay valid, no replay protection, so that
//! one app serves every input), a handler that reads everything and
//! verifies. The input is `[head] [flags] [encoding] [n] [n cuts, u16 LE]
//! [payload]`:
//! - head: bits 0-1, the mode (0 signed, 1 signed with a trailer, 2
//!   unsigned with a trailer, 3 the signed-trailer mode without
//!   `x-amz-trailer`); bit 2, the head of a test vector
//!   (`stream-signed-8k-chunks`, `stream-signed-trailer-crc32`,
//!   `stream-unsigned-trailer-crc64nvme`, exactly as recorded: their wire
//!   bodies are seeds) instead of one the harness signs (key `7`, dated
//!   2024-05-01T12:00:00Z); bits 3-5, the checksum algorithm; bit 6,
//!   chunk sizes in upper case; bit 7, HTTP/2 (else HTTP/1.1, with
//!   `Transfer-Encoding: chunked` for a body of unknown length);
//! - flags (a harness head): bit 0, an exact length; bit 1, a pending poll
//!   before each frame; bit 2, no `x-amz-decoded-content-length`; bit 3,
//!   one off it (bit 4: one more); bit 5, an `x-amz-checksum-*` header too
//!   (bit 6: a wrong one); bit 7, a wrong trailer checksum;
//! - encoding: 0, the payload is the wire body as it is; 1, the payload is
//!   chunks separated by `|`, encoded by the independent encoder of
//!   `src/sigv4_spec.rs` (signatures, trailer and all); 2, the same, with
//!   one edit (`[op] [at, u16 LE] [byte]` first: flip, insert, delete,
//!   truncate).
//!
//! Properties, besides every check of `sigv4_server::check`:
//! - the verdict (status, code, data) is the same whatever the frame
//!   boundaries (one frame, the input's cuts, small pieces);
//! - it is the independent decoder's (`sigv4_spec::decode`): a valid body is
//!   accepted and the handler reads exactly its decoded data; otherwise the
//!   code of the first thing wrong in it (`malformed_chunked_body`,
//!   `invalid_signature`, `body_incomplete`, `decoded_length_mismatch`,
//!   `checksum_mismatch`, `unsupported_checksum`);
//! - the handler never holds more than one chunk of unverified data: what
//!   it read is a prefix of the verified chunks and the one in progress.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tower_hmac_fuzz::aws_chunked::run(data);
});
