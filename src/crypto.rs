//! The one place that knows which SHA-256 / HMAC-SHA256 implementation runs.
//!
//! Everything else goes through [`Backend`], so another implementation can be
//! swapped in here without touching the rest. Two exist:
//! - [`RustCrypto`] (the default): `sha2` and `hmac`, pure Rust. `sha2` uses
//!   SHA-NI where the CPU has it and portable code where it does not.
//! - `Ring` (feature `ring`): the body's SHA-256 by `ring`, whose assembly
//!   has SSSE3/AVX paths for CPUs without SHA extensions (~1.5× `sha2`'s
//!   portable code there; equal with SHA-NI). The HMAC of the string-to-sign
//!   stays with `hmac`: for a few blocks it is the faster of the two, and its
//!   keyed state is wiped on drop, which `ring`'s is not. (Nor is `ring`'s
//!   hasher's buffer of the last partial block of body, where `sha2`'s is.)

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

/// RustCrypto's `sha2` and `hmac` (SHA-NI where the CPU has it).
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

/// The `ring` backend, all of it behind the feature.
#[cfg(feature = "ring")]
mod with_ring {
    use super::{Backend, RustCrypto};

    /// `ring`'s SHA-256 for bodies; RustCrypto's HMAC for the string-to-sign.
    pub(crate) struct Ring;

    /// A running `ring` SHA-256.
    #[derive(Clone)]
    pub(crate) struct RingSha256(ring::digest::Context);

    impl Default for RingSha256 {
        fn default() -> Self {
            Self(ring::digest::Context::new(&ring::digest::SHA256))
        }
    }

    impl Backend for Ring {
        type Hasher = RingSha256;
        type Key = <RustCrypto as Backend>::Key;

        fn update(hasher: &mut RingSha256, data: &[u8]) {
            hasher.0.update(data);
        }

        fn finish(hasher: RingSha256) -> [u8; 32] {
            hasher
                .0
                .finish()
                .as_ref()
                .try_into()
                .expect("SHA-256 is 32 bytes")
        }

        fn key(secret: &[u8]) -> Self::Key {
            RustCrypto::key(secret)
        }

        fn mac(key: &Self::Key, parts: &[&[u8]]) -> [u8; 32] {
            RustCrypto::mac(key, parts)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use sha2::{Digest as _, Sha256};

        /// Both backends' digests of `data` fed in pieces of the given lengths.
        fn both(data: &[u8], pieces: impl Iterator<Item = usize>) -> ([u8; 32], [u8; 32]) {
            let (mut ours, mut theirs) = (Sha256::default(), RingSha256::default());
            let mut rest = data;
            for len in pieces {
                if rest.is_empty() {
                    break;
                }
                let (piece, tail) = rest.split_at(len.min(rest.len()));
                RustCrypto::update(&mut ours, piece);
                Ring::update(&mut theirs, piece);
                rest = tail;
            }
            RustCrypto::update(&mut ours, rest);
            Ring::update(&mut theirs, rest);
            (RustCrypto::finish(ours), Ring::finish(theirs))
        }

        #[test]
        fn ring_hashes_bodies_as_sha2_does() {
            let data: Vec<u8> = (0..300_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect();
            // Every length around the block and buffer edges, in one piece.
            for len in (0..=200).chain([4095, 4096, 4097, 65_535, 65_536, 65_537, 300_000]) {
                let (a, b) = both(&data[..len], std::iter::empty());
                assert_eq!(a, b, "{len}");
            }
            // Odd piece sizes, so that pieces straddle the 64-byte blocks.
            for step in [1, 7, 63, 64, 65, 1000, 65_536] {
                let (a, b) = both(&data, std::iter::repeat(step));
                assert_eq!(a, b, "{step}");
            }
            // A clone carries on from where it was taken.
            let mut hasher = RingSha256::default();
            Ring::update(&mut hasher, b"hello ");
            let mut copy = hasher.clone();
            Ring::update(&mut copy, b"world");
            assert_eq!(
                Ring::finish(copy),
                RustCrypto::finish(Sha256::new_with_prefix(b"hello world"))
            );
        }
    }
}

/// The backend in use.
#[cfg(not(feature = "ring"))]
pub(crate) type Active = RustCrypto;
/// The backend in use.
#[cfg(feature = "ring")]
pub(crate) type Active = with_ring::Ring;
