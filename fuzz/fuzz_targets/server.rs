//! The whole server in process: an axum `Router` behind `SignatureLayer`
//! (configured by the input), a handler that reads the body as the input
//! says, calls `verify()` and records what it read, and up to three
//! requests per input sent with `oneshot`. The input is a small text
//! format (`src/script.rs`): requests as written, or signed by `Signer`
//! (plain, with `Content-Digest`, or in signed chunks; under `HMAC-SHA256`
//! or, where the input's layer accepts it, `BLAKE3-KEYED`) and then changed,
//! with bodies played frame by frame (data, trailers, failures, pending
//! polls, lies about the length).
//!
//! `server::check` holds every exchange to PROTOCOL.md, judged with the
//! independent `spec` (ring's HMAC, the blake3 crate's primitives): a 2xx,
//! or a handler's 4xx let through, only for a request signed with a valid key over exactly the
//! bytes the handler read, within the skew, never twice; no 5xx; problem
//! bodies as §6.2 says; the outcome hook called exactly once, saying what
//! happened; and a request that PROTOCOL says is valid is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_hmac_fuzz::script;

fuzz_target!(|data: &[u8]| {
    script::run(data);
});
