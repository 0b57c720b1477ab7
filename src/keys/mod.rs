//! Key lookup: from a key id to its [`Secret`].
//!
//! - [`InMemoryKeys`]: keys built in code or read from an environment variable;
//! - [`KeysFile`]: a JSON keys file, reloaded when it changes;
//! - your own store (a database, a secrets manager) through [`KeyStore`],
//!   best wrapped in a [`NegativeCache`] so that unknown key ids, which
//!   clients choose, do not each cost a query.
//!
//! A [`Key`] may carry a validity window (`not_before`, `not_after`), which
//! is what makes zero-downtime rotation work: see the README's "Deploying".

mod cache;
mod file;
mod memory;

use std::{
    fmt,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

pub use cache::NegativeCache;
pub use file::KeysFile;
pub use memory::InMemoryKeys;

use crate::{KeyId, Secret, StoreError, StoreFuture};

/// Finds the secret for a key id.
///
/// Asynchronous so that a database or a secrets manager can stand behind it.
/// Return `Ok(None)` for an unknown key, or one outside its validity window
/// (the client gets `invalid_signature`, the same answer as a wrong
/// signature, so key ids cannot be probed), and `Err` when the store cannot
/// answer (the client gets 503 `key_store_unavailable`; an error is never
/// taken as "no such key").
///
/// ```
/// use tower_hmac::{KeyId, KeyStore, Secret, StoreError, StoreFuture};
///
/// struct FromDatabase { /* a pool, say */ }
///
/// impl KeyStore for FromDatabase {
///     fn lookup(&self, key_id: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
///         let key_id = key_id.clone();
///         StoreFuture::new(async move {
///             // let row = pool.query(...).await.map_err(StoreError::new)?;
///             let _ = key_id;
///             Ok(None)
///         })
///     }
/// }
/// ```
pub trait KeyStore: Send + Sync + 'static {
    /// Looks up `key_id`.
    fn lookup(&self, key_id: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>>;
}

impl<K: KeyStore + ?Sized> KeyStore for Arc<K> {
    fn lookup(&self, key_id: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
        (**self).lookup(key_id)
    }
}

/// A secret with an optional validity window and label.
///
/// The window is judged by the server's clock when a request arrives:
/// outside it, the key is treated as unknown.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_hmac::{keys::Key, Secret};
///
/// let now = SystemTime::now();
/// let key = Key::new(Secret::new(vec![7; 32]).unwrap())
///     .not_after(now + Duration::from_secs(3600))
///     .label("billing, 2026-Q4");
/// assert!(key.is_valid_at(now));
/// assert!(!key.is_valid_at(now + Duration::from_secs(7200)));
/// ```
#[derive(Clone)]
pub struct Key {
    secret: Secret,
    not_before: Option<SystemTime>,
    not_after: Option<SystemTime>,
    label: Option<Arc<str>>,
}

impl Key {
    /// A key valid at all times.
    pub fn new(secret: Secret) -> Self {
        Self {
            secret,
            not_before: None,
            not_after: None,
            label: None,
        }
    }

    /// Not valid before `time`.
    pub fn not_before(mut self, time: SystemTime) -> Self {
        self.not_before = Some(time);
        self
    }

    /// Not valid after `time`.
    pub fn not_after(mut self, time: SystemTime) -> Self {
        self.not_after = Some(time);
        self
    }

    /// A human-readable label, for operators.
    pub fn label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The label, if any.
    pub fn label_str(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Whether `time` is inside the validity window (both ends included).
    pub fn is_valid_at(&self, time: SystemTime) -> bool {
        self.not_before.is_none_or(|start| start <= time)
            && self.not_after.is_none_or(|end| time <= end)
    }

    /// Whether the key is valid now; the clock is read only for a key with
    /// a validity window.
    pub(crate) fn is_valid_now(&self) -> bool {
        (self.not_before.is_none() && self.not_after.is_none())
            || self.is_valid_at(SystemTime::now())
    }
}

impl From<Secret> for Key {
    fn from(secret: Secret) -> Self {
        Self::new(secret)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unix = |time: Option<SystemTime>| {
            time.map(|t| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
        };
        f.debug_struct("Key")
            .field("secret", &self.secret)
            .field("not_before", &unix(self.not_before))
            .field("not_after", &unix(self.not_after))
            .field("label", &self.label)
            .finish()
    }
}

/// Why keys could not be loaded. The message names the source and the key
/// id, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLoadError {
    source: String,
    reason: String,
}

impl KeyLoadError {
    pub(crate) fn new(source: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for KeyLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.reason)
    }
}

impl std::error::Error for KeyLoadError {}
