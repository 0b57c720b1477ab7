//! What the fuzz targets share: a second implementation of the protocol,
//! written from `docs/PROTOCOL.md` ([`spec`]), and an in-process server
//! with a recording handler ([`server`]).
//!
//! Each target in `fuzz_targets/` checks properties, not only the absence
//! of panics; `RELIABILITY.md` lists them.

pub mod auth;
pub mod aws_chunked;
pub mod keys;
pub mod script;
pub mod server;
pub mod sigv4_server;
pub mod sigv4_spec;
pub mod spec;

/// The crate's native algorithms, each with the oracle's (PROTOCOL §9.2).
pub const ALGORITHMS: [(tower_hmac::Algorithm, spec::Alg); 2] = [
    (tower_hmac::Algorithm::HmacSha256, spec::Alg::HmacSha256),
    (tower_hmac::Algorithm::Blake3Keyed, spec::Alg::Blake3Keyed),
];

/// A runtime per thread (libFuzzer runs one), with the clock paused: a
/// request that would hang runs into its timeout at once, and a drain's
/// 5-second bound costs no time.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}
