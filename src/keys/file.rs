use std::{
    collections::HashSet,
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock, Weak},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::{InMemoryKeys, Key, KeyLoadError, KeyStore};
use crate::{KeyId, Secret, StoreError, StoreFuture};

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
/// seconds. Unknown fields, repeated ids, bad base64, secrets shorter
/// than 16 bytes and times this system cannot represent (Unix seconds of
/// 2^63 or more, say) are load errors that name the key and the field
/// (never the secret).
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
    // The SHA-256 of the text last loaded; the text itself holds secrets.
    loaded: Mutex<[u8; 32]>,
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
            Self::Unix(secs) => UNIX_EPOCH
                .checked_add(Duration::from_secs(*secs))
                .ok_or_else(|| format!("{secs} is out of range for a Unix time in seconds")),
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

    /// The shortest interval [`watch`](Self::watch) polls at: 100 ms.
    pub const MIN_WATCH_INTERVAL: Duration = Duration::from_millis(100);

    /// Checks the file for changes every `interval`, on a background thread
    /// that ends when the last clone of this store is dropped.
    ///
    /// An `interval` under [`MIN_WATCH_INTERVAL`](Self::MIN_WATCH_INTERVAL)
    /// (`Duration::ZERO`, say) is raised to it, so the thread never spins.
    /// Whatever goes wrong in a reload (an unreadable or invalid file, even
    /// a panic) is logged at `error` and the previous keys stay in use; the
    /// thread keeps watching.
    pub fn watch(self, interval: Duration) -> Self {
        spawn_watcher(Arc::downgrade(&self.inner), interval, Inner::reload);
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
        let digest = sha256(&text);
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

/// Starts the thread behind [`KeysFile::watch`], which calls `reload` every
/// `interval` (at least [`KeysFile::MIN_WATCH_INTERVAL`]) until the store is
/// dropped. A reload that fails or panics is logged; the thread carries on.
fn spawn_watcher(
    weak: Weak<Inner>,
    interval: Duration,
    reload: fn(&Inner) -> Result<bool, KeyLoadError>,
) {
    let interval = interval.max(KeysFile::MIN_WATCH_INTERVAL);
    let spawned = std::thread::Builder::new()
        .name("tower-hmac-keys".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            let Some(inner) = weak.upgrade() else { return };
            // The locks in `Inner` recover from poisoning, and the key set is
            // replaced only once a new one is complete: after a panic the
            // previous keys are intact.
            match catch_unwind(AssertUnwindSafe(|| reload(&inner))) {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::error!(
                    %error,
                    "tower-hmac: keys file not reloaded; the previous keys stay in use"
                ),
                // The panic's message is not logged: it could quote the file.
                Err(_) => tracing::error!(
                    path = %inner.path.display(),
                    "tower-hmac: reloading the keys file panicked; the previous keys stay in use"
                ),
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "tower-hmac: cannot start the keys file watcher");
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

fn read(path: &Path) -> Result<(InMemoryKeys, [u8; 32]), KeyLoadError> {
    let text = read_text(path)?;
    Ok((parse(&text, path)?, sha256(&text)))
}

/// Tells one version of the file from another without keeping its text.
fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const A: &str = "dG93ZXItaG1hYy10ZXN0LXNlY3JldC0zMi1ieXRlcyE=";

    fn file(name: &str, json: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tower-hmac-unit-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.json");
        std::fs::write(&path, json).unwrap();
        path
    }

    fn one_key(id: &str) -> String {
        format!(r#"{{"keys": [{{"id": "{id}", "secret": "{A}"}}]}}"#)
    }

    fn wait_until(mut done: impl FnMut() -> bool) -> bool {
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn unix_times_out_of_range_are_load_errors_naming_key_and_field() {
        for (field, secs) in [
            ("not_before", 1u64 << 63),
            ("not_after", 1u64 << 63),
            ("not_before", u64::MAX),
            ("not_after", u64::MAX),
        ] {
            let json =
                format!(r#"{{"keys": [{{"id": "k9", "secret": "{A}", "{field}": {secs}}}]}}"#);
            let error = parse(&json, Path::new("keys.json"))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("key k9: {field}: {secs} is out of range")),
                "{error}"
            );
            assert!(!error.contains(A), "{error}");
        }
        // The largest representable ones still load.
        let json = format!(
            r#"{{"keys": [{{"id": "7", "secret": "{A}", "not_after": {}}}]}}"#,
            i64::MAX
        );
        assert_eq!(parse(&json, Path::new("keys.json")).unwrap().len(), 1);
    }

    static PANICKY_CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Panics on its first call, then reloads as usual.
    fn panics_once(inner: &Inner) -> Result<bool, KeyLoadError> {
        if PANICKY_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("a reload panicked (on purpose, in a test)");
        }
        inner.reload()
    }

    #[test]
    fn the_watcher_survives_a_panicking_reload_and_keeps_the_previous_keys() {
        let path = file("panic", &one_key("7"));
        let keys = KeysFile::load(&path).unwrap();
        spawn_watcher(Arc::downgrade(&keys.inner), Duration::ZERO, panics_once);
        assert!(wait_until(|| PANICKY_CALLS.load(Ordering::SeqCst) >= 2));
        assert!(keys.snapshot().get(&"7".parse().unwrap()).is_some());
        std::fs::write(&path, one_key("8")).unwrap();
        assert!(
            wait_until(|| keys.snapshot().get(&"8".parse().unwrap()).is_some()),
            "the watcher stopped after the panic"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    static COUNTED_CALLS: AtomicUsize = AtomicUsize::new(0);

    fn counted(_: &Inner) -> Result<bool, KeyLoadError> {
        COUNTED_CALLS.fetch_add(1, Ordering::SeqCst);
        Ok(false)
    }

    #[test]
    fn a_zero_watch_interval_is_raised_to_the_minimum() {
        let path = file("zero", &one_key("7"));
        let keys = KeysFile::load(&path).unwrap();
        spawn_watcher(Arc::downgrade(&keys.inner), Duration::ZERO, counted);
        std::thread::sleep(Duration::from_millis(550));
        let calls = COUNTED_CALLS.load(Ordering::SeqCst);
        // 100 ms apart: about 5, never thousands.
        assert!((1..=6).contains(&calls), "{calls} reloads in 550 ms");
        drop(keys);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
