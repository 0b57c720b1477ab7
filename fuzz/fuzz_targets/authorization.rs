//! `Authorization::parse` / `from_header` on arbitrary bytes: agreement
//! with PROTOCOL §3 (written independently in `spec`), the round trip
//! through the canonical form, and the fast path against the general parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_hmac_fuzz::auth;

fuzz_target!(|data: &[u8]| {
    auth::check(data);
});
