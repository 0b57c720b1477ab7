use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock, Weak},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

use super::{InMemoryKeys, Key, KeyLoadError, KeyStore};
use crate::{BodyDigest, KeyId, Secret, StoreError, StoreFuture};

/// Keys read from a JSON file, reloaded when the file changes.
///
/// ```json
/// {
///   "keys": [
///     { "id": "7", "secret": "<base64, 16+ bytes>", "not_after": "2026-12-31T00:00:00Z", "label": "old" },
///     { "id": "8", "secret": "<base64, 16+ bytes>", "not_before": 1798675200, "label": "new" }
///   ]
/// }
/// ```
///
/// `not_before` and `not_after` are optional: RFC 3339 UTC strings or Unix
/// seconds. Unknown fields, repeated ids, bad base64 and secrets shorter
/// than 16 bytes are load errors that name the key (never the secret).
///
/// [`watch`](Self::watch) polls the file; a changed file that loads cleanly
/// replaces the key set atomically. Requests already past key lookup keep
/// the secret they looked up, so none in flight is dropped. A changed file
/// that does not load is logged and ignored: the previous keys stay.
///
/// ```no_run
/// use std::time::Duration;
/// use tower_hmac::{KeysFile, SignatureLayer};
///
/// let keys = KeysFile::load("/etc/my-service/keys.json")?.watch(Duration::from_secs(5));
/// let layer = SignatureLayer::new(keys);
/// # Ok::<(), tower_hmac::keys::KeyLoadError>(())
/// ```
#[derive(Clone)]
pub struct KeysFile {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    keys: RwLock<Arc<InMemoryKeys>>,
    // The digest of the text last loaded; the text itself holds secrets.
    loaded: Mutex<BodyDigest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    keys: Vec<FileKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    id: String,
    secret: SecretText,
    #[serde(default)]
    not_before: Option<Timestamp>,
    #[serde(default)]
    not_after: Option<Timestamp>,
    #[serde(default)]
    label: Option<String>,
}

/// Base64 secret text, wiped on drop.
#[derive(Deserialize)]
#[serde(transparent)]
struct SecretText(String);

impl Drop for SecretText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Timestamp {
    Unix(u64),
    Rfc3339(String),
}

impl Timestamp {
    fn to_system_time(&self) -> Result<SystemTime, String> {
        match self {
            Self::Unix(secs) => Ok(UNIX_EPOCH + Duration::from_secs(*secs)),
            Self::Rfc3339(text) => humantime::parse_rfc3339(text).map_err(|e| {
                format!("{text:?} is not an RFC 3339 UTC time like 2026-12-31T00:00:00Z ({e})")
            }),
        }
    }
}

impl KeysFile {
    /// Loads the file; it must exist and hold at least one valid key.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeyLoadError> {
        let path = path.as_ref().to_path_buf();
        let (keys, digest) = read(&path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                keys: RwLock::new(Arc::new(keys)),
                loaded: Mutex::new(digest),
            }),
        })
    }

    /// Checks the file for changes every `interval`, on a background thread
    /// that ends when the last clone of this store is dropped.
    pub fn watch(self, interval: Duration) -> Self {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("tower-hmac-keys".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                let Some(inner) = weak.upgrade() else { return };
                if let Err(error) = inner.reload() {
                    tracing::error!(%error, "tower-hmac: keys file not reloaded; the previous keys stay in use");
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "tower-hmac: cannot start the keys file watcher");
        }
        self
    }

    /// Reloads the file now if its content changed. Returns whether the keys
    /// were replaced. On error the previous keys stay.
    pub fn reload(&self) -> Result<bool, KeyLoadError> {
        self.inner.reload()
    }

    /// The keys as currently loaded.
    pub fn snapshot(&self) -> Arc<InMemoryKeys> {
        self.inner.current()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl Inner {
    fn current(&self) -> Arc<InMemoryKeys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn reload(&self) -> Result<bool, KeyLoadError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let text = read_text(&self.path)?;
        let digest = BodyDigest::of(text.as_bytes());
        if digest == *loaded {
            return Ok(false);
        }
        let keys = parse(&text, &self.path)?;
        tracing::info!(path = %self.path.display(), keys = keys.len(), "tower-hmac: keys file reloaded");
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        *loaded = digest;
        Ok(true)
    }
}

impl std::fmt::Debug for KeysFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeysFile")
            .field("path", &self.inner.path)
            .field("keys", &self.inner.current().len())
            .finish_non_exhaustive()
    }
}

impl KeyStore for KeysFile {
    fn lookup(&self, key_id: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
        StoreFuture::ready(Ok(self
            .inner
            .current()
            .valid_at(key_id, SystemTime::now())
            .cloned()))
    }
}

fn read_text(path: &Path) -> Result<Zeroizing<String>, KeyLoadError> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| KeyLoadError::new(format!("keys file {}", path.display()), e.to_string()))
}

fn read(path: &Path) -> Result<(InMemoryKeys, BodyDigest), KeyLoadError> {
    let text = read_text(path)?;
    Ok((parse(&text, path)?, BodyDigest::of(text.as_bytes())))
}

fn parse(text: &str, path: &Path) -> Result<InMemoryKeys, KeyLoadError> {
    let source = format!("keys file {}", path.display());
    // Only the kind and position of a JSON error: its message may quote a value, which may be a secret.
    let file: FileFormat = serde_json::from_str(text).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not valid JSON",
            serde_json::error::Category::Data => {
                "not in the expected shape ({\"keys\": [{\"id\", \"secret\", \"not_before\"?, \"not_after\"?, \"label\"?}]})"
            }
        };
        KeyLoadError::new(&source, format!("{kind} at line {} column {}", e.line(), e.column()))
    })?;
    let mut keys = InMemoryKeys::new();
    let mut seen = HashSet::new();
    for (index, entry) in file.keys.iter().enumerate() {
        let id: KeyId = entry
            .id
            .parse()
            .map_err(|e| KeyLoadError::new(&source, format!("key #{}: {e}", index + 1)))?;
        let at =
            |what: &str, e: String| KeyLoadError::new(&source, format!("key {id}: {what}: {e}"));
        let secret =
            Secret::from_base64(&entry.secret.0).map_err(|e| at("secret", e.to_string()))?;
        let mut key = Key::new(secret);
        if let Some(time) = &entry.not_before {
            key = key.not_before(time.to_system_time().map_err(|e| at("not_before", e))?);
        }
        if let Some(time) = &entry.not_after {
            key = key.not_after(time.to_system_time().map_err(|e| at("not_after", e))?);
        }
        if let (Some(start), Some(end)) = (key.not_before, key.not_after) {
            if end < start {
                return Err(at("validity", "not_after is before not_before".into()));
            }
        }
        if let Some(label) = &entry.label {
            key = key.label(label.as_str());
        }
        if !seen.insert(id.clone()) {
            return Err(KeyLoadError::new(
                &source,
                format!("key {id} appears twice"),
            ));
        }
        keys.insert(id, key);
    }
    if keys.is_empty() {
        return Err(KeyLoadError::new(&source, "holds no keys"));
    }
    Ok(keys)
}
