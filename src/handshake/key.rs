//! The handshake's key.

use std::{fmt, sync::Arc};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use zeroize::Zeroizing;

use crate::{InvalidSecret, Secret};

/// The pre-shared key of the [handshake](super::Handshake): Python's `authkey`.
///
/// Unlike [`Secret`], which keeps only a precomputed HMAC-SHA256 state, this
/// keeps the raw bytes, because the legacy form needs them for HMAC-MD5 too.
/// They are wiped on drop (the last clone's) and never shown by `Debug`.
///
/// The same base64 text configures both, so one pre-shared key can protect
/// HTTP requests and raw connections alike (why that is safe: the
/// [module docs](crate::handshake#sharing-a-key-with-http-request-signing)).
/// The bytes are what Python's `authkey` must hold: `base64.b64decode(text)`.
///
/// ```
/// use tower_hmac::handshake::AuthKey;
///
/// let key = AuthKey::from_base64("c2l4dGVlbi1ieXRlcy1sb25nLXNlY3JldA==").unwrap();
/// assert_eq!(format!("{key:?}"), "AuthKey(<redacted>)");
/// assert!(AuthKey::new(b"peekaboo".to_vec()).is_err()); // shorter than 16 bytes
/// ```
#[derive(Clone)]
pub struct AuthKey(Arc<Zeroizing<Vec<u8>>>);

impl AuthKey {
    /// The shortest key accepted, in bytes, as for [`Secret`]. Use 32 random bytes
    /// (Python's own default `authkey` is `os.urandom(32)`).
    pub const MIN_LEN: usize = Secret::MIN_LEN;

    /// Takes ownership of the key bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, InvalidSecret> {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() < Self::MIN_LEN {
            return Err(InvalidSecret::TooShort { len: bytes.len() });
        }
        Ok(Self(Arc::new(bytes)))
    }

    /// Decodes a key from standard base64 (with padding), as [`Secret::from_base64`] does.
    pub fn from_base64(encoded: &str) -> Result<Self, InvalidSecret> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| InvalidSecret::NotBase64)?;
        Self::new(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthKey(<redacted>)")
    }
}
