//! The one place that knows which SHA-256 / HMAC-SHA256 implementation runs.
//!
//! Everything else goes through [`Backend`], so another implementation
//! (an assembly one, say) can be swapped in here without touching the rest.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest as _, Sha256};

/// SHA-256 for bodies and HMAC-SHA256 with a precomputed key.
pub(crate) trait Backend {
    /// A running SHA-256.
    type Hasher: Clone + Default + Send + Sync + 'static;
    /// A keyed HMAC state with the inner and outer pads already hashed;
    /// wiped on drop.
    type Key: Clone + Send + Sync + 'static;

    fn update(hasher: &mut Self::Hasher, data: &[u8]);
    fn finish(hasher: Self::Hasher) -> [u8; 32];
    fn key(secret: &[u8]) -> Self::Key;
    /// `HMAC-SHA256` over the concatenation of `parts`.
    fn mac(key: &Self::Key, parts: &[&[u8]]) -> [u8; 32];
}

/// RustCrypto's `sha2` and `hmac` (SHA-NI or AVX2 where the CPU has them).
pub(crate) struct RustCrypto;

impl Backend for RustCrypto {
    type Hasher = Sha256;
    type Key = Hmac<Sha256>;

    fn update(hasher: &mut Sha256, data: &[u8]) {
        hasher.update(data);
    }

    fn finish(hasher: Sha256) -> [u8; 32] {
        hasher.finalize().into()
    }

    fn key(secret: &[u8]) -> Self::Key {
        Hmac::new_from_slice(secret).expect("HMAC takes keys of any length")
    }

    fn mac(key: &Self::Key, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = key.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// The backend in use.
pub(crate) type Active = RustCrypto;
