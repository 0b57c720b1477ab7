//! SigV4 through the whole server in process: an axum `Router` behind
//! `SignatureLayer::new(keys).scheme(SigV4::new("s3").allow_presigned_urls(true)
//! .allow_unsigned_payload(true))` (the input may name another service,
//! regions, refuse unsigned payloads or presigned URLs, explain refusals,
//! and set the layer's own options), and up to three requests per input:
//! arbitrary `Authorization` values, `X-Amz-Date`s and presigned queries
//! as written, or signed at run time by the independent signer of
//! `src/sigv4_spec.rs` (header auth or presigned, every payload mode,
//! checksums, aws-chunked) and then changed. The input is the text format
//! of `src/sigv4_server.rs`.
//!
//! `sigv4_server::check` holds every exchange to the module docs and
//! AWS's rules, judged with `sigv4_spec` (ring's HMAC), never with the
//! crate's verifier: a 2xx only for a request validly signed by a known key
//! at the server's time (over exactly what the handler read, the declared
//! digest, chunk chain and checksum honest), never twice for header auth,
//! and a presigned one only with the one `X-Amz-Signature` it covers; a
//! handler's 4xx let through only for a genuine head; no 5xx; problem
//! bodies as PROTOCOL §6.2 says, an explained one never showing the secret,
//! the signing key or the expected signature; the outcome hook called
//! exactly once, saying what happened; and a genuine request in AWS's
//! layout accepted, its handler reading exactly its data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_hmac_fuzz::sigv4_server;

fuzz_target!(|data: &[u8]| {
    sigv4_server::run(data);
});
