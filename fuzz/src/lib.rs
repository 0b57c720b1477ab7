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
