//! The pre-shared secret.

use std::{fmt, sync::Arc};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use zeroize::Zeroizing;

use crate::crypto::{Active, Backend};

/// A pre-shared HMAC secret.
///
/// The keyed HMAC state (the hashed inner and outer pads) is computed once,
/// here, and reused for every request. The raw bytes are not kept: they are
/// wiped as soon as that state exists, and the state itself is wiped on drop
/// (best effort: temporaries the hash library keeps on the stack while
/// keying are beyond this crate's reach).
/// `Debug` never shows either.
///
/// ```
/// use tower_hmac::Secret;
///
/// let secret = Secret::from_base64("c2l4dGVlbi1ieXRlcy1sb25nLXNlY3JldA==").unwrap();
/// assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
/// assert!(Secret::new(b"short".to_vec()).is_err());
/// ```
#[derive(Clone)]
pub struct Secret(Arc<<Active as Backend>::Key>);

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
        Ok(Self(Arc::new(Active::key(&bytes))))
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
        Active::mac(&self.0, parts)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
