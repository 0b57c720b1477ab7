use std::{collections::HashMap, time::SystemTime};

use zeroize::Zeroizing;

use super::{Key, KeyLoadError, KeyStore};
use crate::{KeyId, Secret, StoreError, StoreFuture};

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
    keys: HashMap<KeyId, Key>,
}

impl InMemoryKeys {
    /// An empty key set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads keys from the environment variable `name`, whose value is a list
    /// of `ID=BASE64SECRET` separated by commas or whitespace, e.g.
    /// `TOWER_HMAC_KEYS="7=c2l4dGVlbi1i... 8=b3RoZXIta2V5..."`.
    ///
    /// Every secret must decode to at least 16 bytes; a malformed entry, a
    /// short secret or a repeated id is an error that names the key id (the
    /// secret is never echoed). An unset or empty variable is an error too.
    pub fn from_env(name: &str) -> Result<Self, KeyLoadError> {
        let source = format!("environment variable {name}");
        let value = Zeroizing::new(
            std::env::var(name).map_err(|_| KeyLoadError::new(&source, "not set or not UTF-8"))?,
        );
        Self::parse_list(&value, &source)
    }

    pub(crate) fn parse_list(list: &str, source: &str) -> Result<Self, KeyLoadError> {
        let mut keys = Self::new();
        for (index, entry) in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .enumerate()
        {
            let (id, secret) = entry.split_once('=').ok_or_else(|| {
                KeyLoadError::new(
                    source,
                    format!("entry {} is not ID=BASE64SECRET", index + 1),
                )
            })?;
            let id: KeyId = id
                .parse()
                .map_err(|e| KeyLoadError::new(source, format!("entry {}: {e}", index + 1)))?;
            let secret = Secret::from_base64(secret)
                .map_err(|e| KeyLoadError::new(source, format!("key {id}: {e}")))?;
            if keys.insert(id.clone(), Key::new(secret)).is_some() {
                return Err(KeyLoadError::new(source, format!("key {id} appears twice")));
            }
        }
        if keys.is_empty() {
            return Err(KeyLoadError::new(source, "holds no keys"));
        }
        Ok(keys)
    }

    /// Adds a key valid at all times, replacing any key with the same id.
    pub fn with_key(mut self, key_id: KeyId, secret: Secret) -> Self {
        self.insert(key_id, Key::new(secret));
        self
    }

    /// Adds a key with its validity window and label.
    pub fn with(mut self, key_id: KeyId, key: Key) -> Self {
        self.insert(key_id, key);
        self
    }

    /// Adds a key, returning the one it replaced.
    pub fn insert(&mut self, key_id: KeyId, key: impl Into<Key>) -> Option<Key> {
        self.keys.insert(key_id, key.into())
    }

    /// The key for `key_id`, whatever its validity window.
    pub fn get(&self, key_id: &KeyId) -> Option<&Key> {
        self.keys.get(key_id)
    }

    /// The secret for `key_id` if that key is valid at `time`.
    pub fn valid_at(&self, key_id: &KeyId, time: SystemTime) -> Option<&Secret> {
        self.keys
            .get(key_id)
            .filter(|key| key.is_valid_at(time))
            .map(Key::secret)
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
            keys: iter
                .into_iter()
                .map(|(id, secret)| (id, Key::new(secret)))
                .collect(),
        }
    }
}

impl KeyStore for InMemoryKeys {
    fn lookup(&self, key_id: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
        let found = self.keys.get(key_id).filter(|key| key.is_valid_now());
        StoreFuture::ready(Ok(found.map(Key::secret).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "dG93ZXItaG1hYy10ZXN0LXNlY3JldC0zMi1ieXRlcyE=";

    #[test]
    fn a_list_parses_and_bad_entries_name_the_key_but_not_the_secret() {
        let keys = InMemoryKeys::parse_list(&format!("7={A}, 8={A}\n9={A}"), "test").unwrap();
        assert_eq!(keys.len(), 3);
        let short = InMemoryKeys::parse_list("7=c2hvcnQ=", "test")
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("key 7") && short.contains("at least 16 bytes"),
            "{short}"
        );
        assert!(!short.contains("c2hvcnQ="));
        assert!(InMemoryKeys::parse_list(&format!("7={A} 7={A}"), "test").is_err());
        assert!(InMemoryKeys::parse_list("7", "test").is_err());
        assert!(InMemoryKeys::parse_list("bad id=x", "test").is_err());
        assert!(InMemoryKeys::parse_list(" ", "test").is_err());
    }

    #[test]
    fn odd_lists_are_errors_not_panics() {
        let long_id = "k".repeat(10_000);
        let odd = [
            "=".to_owned(),
            "==".to_owned(),
            "7=".to_owned(),
            "=c2l4dGVlbi1ieXRlcy1sb25nLXNlY3JldA==".to_owned(),
            "7==".to_owned(),
            format!("7=={A}"),
            format!("7={A}="),
            format!("7={A}={A}"),
            "\u{0}".to_owned(),
            format!("\u{0}={A}"),
            format!("é={A}"),
            format!("7=é{A}"),
            format!("7\u{3000}={A}"),
            format!("{long_id}={A}"),
            format!("7={}", "A".repeat(100_001)),
            "7=====".to_owned(),
            ",,, \t\n".to_owned(),
        ];
        for list in &odd {
            let result = std::panic::catch_unwind(|| InMemoryKeys::parse_list(list, "test"));
            let Ok(result) = result else {
                panic!("{:?} panicked", list.get(..40).unwrap_or(list));
            };
            assert!(
                result.is_err(),
                "{:?} parsed",
                list.get(..40).unwrap_or(list)
            );
        }
        // Separators that are Unicode whitespace split entries too.
        assert_eq!(
            InMemoryKeys::parse_list(&format!("7={A}\u{3000}8={A}"), "test")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn odd_variable_names_are_errors_not_panics() {
        for name in ["", "A=B", "A\u{0}B", "=", "\u{0}"] {
            let result = std::panic::catch_unwind(|| InMemoryKeys::from_env(name));
            assert!(matches!(result, Ok(Err(_))), "{name:?}");
        }
    }
}
