//! `InMemoryKeys::from_env` on an environment variable set to arbitrary
//! bytes: it never panics; it loads exactly the keys of the documented
//! list (`ID=BASE64SECRET` separated by commas or whitespace, every secret
//! 16+ bytes, ids unique, at least one), read independently here, with the
//! same secrets; no error message quotes a secret.
#![no_main]

use std::{collections::HashMap, ffi::OsStr, os::unix::ffi::OsStrExt as _};

use libfuzzer_sys::fuzz_target;
use tower_hmac::{InMemoryKeys, KeyId};
use tower_hmac_fuzz::{keys, spec};

const VAR: &str = "TOWER_HMAC_FUZZ_KEYS";

/// The list as the docs describe it; `None` if it must be refused.
fn oracle(text: &str) -> Option<HashMap<String, Vec<u8>>> {
    let mut keys = HashMap::new();
    for entry in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
    {
        let (id, secret) = entry.split_once('=')?;
        if !spec::is_key_id(id.as_bytes()) {
            return None;
        }
        let bytes = keys::decode_secret(secret)?;
        if keys.insert(id.to_owned(), bytes).is_some() {
            return None;
        }
    }
    (!keys.is_empty()).then_some(keys)
}

fuzz_target!(|data: &[u8]| {
    // An environment value cannot hold NUL.
    let value: Vec<u8> = data.iter().copied().filter(|&b| b != 0).collect();
    // One thread: libFuzzer runs the target on one.
    std::env::set_var(VAR, OsStr::from_bytes(&value));
    let loaded = InMemoryKeys::from_env(VAR);
    let expected = std::str::from_utf8(&value).ok().and_then(oracle);
    match (&loaded, &expected) {
        (Ok(keys), Some(expected)) => {
            assert_eq!(keys.len(), expected.len());
            for (id, bytes) in expected {
                let key = keys
                    .get(&id.parse::<KeyId>().unwrap())
                    .expect("every listed key");
                assert!(
                    keys::same_secret(id, key.secret(), bytes),
                    "key {id} holds another secret"
                );
                assert!(key.label_str().is_none());
            }
        }
        (Err(error), None) => {
            let secrets: Vec<String> = std::str::from_utf8(&value)
                .unwrap_or_default()
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter_map(|e| e.split_once('=').map(|(_, s)| s.to_owned()))
                .collect();
            let ids: Vec<String> = std::str::from_utf8(&value)
                .unwrap_or_default()
                .split(|c: char| c == ',' || c.is_whitespace())
                .map(|e| e.split_once('=').map_or(e, |(id, _)| id).to_owned())
                .collect();
            keys::assert_no_secret(&error.to_string(), &secrets, &ids);
        }
        (loaded, expected) => panic!(
            "{:?}: loaded {:?}, expected {:?}",
            String::from_utf8_lossy(&value),
            loaded.as_ref().map(InMemoryKeys::len),
            expected.as_ref().map(HashMap::len)
        ),
    }
});
