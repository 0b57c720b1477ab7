//! The pre-shared secret.

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use zeroize::Zeroizing;

use crate::crypto::{Active, Backend};

/// A pre-shared HMAC secret.
///
/// The keyed HMAC state (the hashed inner and outer pads) is computed once,
/// here, and reused for every request. The raw bytes are kept beside it for
/// schemes that derive their keys from them (SigV4's signing key, for
/// which the secret access key is the secret's base64 text); both are
/// wiped on drop (best effort: temporaries the hash library keeps on the
/// stack while keying are beyond this crate's reach). `Debug` never shows
/// either.
///
/// ```
/// use tower_hmac::Secret;
///
/// let secret = Secret::from_base64("c2l4dGVlbi1ieXRlcy1sb25nLXNlY3JldA==").unwrap();
/// assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
/// assert!(Secret::new(b"short".to_vec()).is_err());
/// ```
#[derive(Clone)]
pub struct Secret(Arc<Inner>);

struct Inner {
    key: <Active as Backend>::Key,
    bytes: Zeroizing<Vec<u8>>,
    /// Keys derived from this one, by label, newest last.
    derived: Mutex<Vec<(Box<[u8]>, Secret)>>,
}

/// Why bytes were refused as a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidSecret {
    /// Fewer than [`Secret::MIN_LEN`] bytes.
    TooShort {
        /// How many bytes were given.
        len: usize,
    },
    /// Not standard base64.
    NotBase64,
}

impl fmt::Display for InvalidSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(
                f,
                "a secret must be at least {} bytes, this one is {len}",
                Secret::MIN_LEN
            ),
            Self::NotBase64 => f.write_str("a secret must be given as standard base64"),
        }
    }
}

impl std::error::Error for InvalidSecret {}

impl Secret {
    /// The shortest secret accepted, in bytes. Use 32 random bytes.
    pub const MIN_LEN: usize = 16;

    /// Takes ownership of the secret bytes; they are wiped once the keyed state is computed.
    pub fn new(bytes: Vec<u8>) -> Result<Self, InvalidSecret> {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() < Self::MIN_LEN {
            return Err(InvalidSecret::TooShort { len: bytes.len() });
        }
        Ok(Self::keyed(bytes))
    }

    fn keyed(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(Arc::new(Inner {
            key: Active::key(&bytes),
            bytes,
            derived: Mutex::new(Vec::new()),
        }))
    }

    /// Decodes a secret from standard base64 (with padding).
    pub fn from_base64(encoded: &str) -> Result<Self, InvalidSecret> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| InvalidSecret::NotBase64)?;
        Self::new(bytes)
    }

    /// 32 fresh random bytes, never seen by anyone.
    pub(crate) fn random() -> Self {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        Self::new(bytes).expect("32 bytes is long enough")
    }

    /// `HMAC-SHA256` over the concatenation of `parts`.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        Active::mac(&self.0.key, parts)
    }

    /// The raw secret, for a scheme that derives its own keys from it.
    #[allow(dead_code)] // Only some schemes' features use it.
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0.bytes
    }

    /// The key that `derive` makes from this secret for `label`, made once
    /// and kept with the secret (the few most recent labels), so that it
    /// goes when the secret is rotated out.
    #[allow(dead_code)] // Only some schemes' features use it.
    pub(crate) fn derived(&self, label: &[u8], derive: impl FnOnce(&Self) -> [u8; 32]) -> Secret {
        const KEPT: usize = 4;
        let cached = {
            let derived = self.0.derived.lock().unwrap_or_else(|e| e.into_inner());
            derived
                .iter()
                .rev()
                .find(|(known, _)| **known == *label)
                .map(|(_, key)| key.clone())
        };
        if let Some(key) = cached {
            return key;
        }
        let key = Self::keyed(Zeroizing::new(derive(self).to_vec()));
        let mut derived = self.0.derived.lock().unwrap_or_else(|e| e.into_inner());
        if derived.len() == KEPT {
            derived.remove(0);
        }
        derived.push((label.into(), key.clone()));
        key
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
