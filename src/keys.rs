//! Key lookup: from a key id to its [`Secret`].

use std::{collections::HashMap, sync::Arc};

use crate::{KeyId, Secret, StoreError, StoreFuture};

/// Finds the secret for a key id.
///
/// Asynchronous so that a database or a secrets manager can stand behind it.
/// Return `Ok(None)` for an unknown key (the client gets `invalid_signature`,
/// the same answer as a wrong signature, so key ids cannot be probed) and
/// `Err` when the store cannot answer (the client gets 503).
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

/// Keys held in memory.
///
/// ```
/// use tower_hmac::{InMemoryKeys, Secret};
///
/// let keys = InMemoryKeys::new()
///     .with_key("7".parse().unwrap(), Secret::new(vec![42; 32]).unwrap());
/// assert_eq!(keys.len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct InMemoryKeys {
    keys: HashMap<KeyId, Secret>,
}

impl InMemoryKeys {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key, replacing any key with the same id.
    pub fn with_key(mut self, key_id: KeyId, secret: Secret) -> Self {
        self.insert(key_id, secret);
        self
    }

    /// Adds a key, returning the one it replaced.
    pub fn insert(&mut self, key_id: KeyId, secret: Secret) -> Option<Secret> {
        self.keys.insert(key_id, secret)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl FromIterator<(KeyId, Secret)> for InMemoryKeys {
    fn from_iter<I: IntoIterator<Item = (KeyId, Secret)>>(iter: I) -> Self {
        Self {
            keys: iter.into_iter().collect(),
        }
    }
}

impl KeyStore for InMemoryKeys {
    fn lookup(&self, key_id: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
        StoreFuture::ready(Ok(self.keys.get(key_id).cloned()))
    }
}
