//! `KeysFile::load` on a temporary file holding the input. It never
//! panics; a file it loads is in the documented format and gives exactly
//! its keys (ids, secrets checked by signing with them and with ring's
//! HMAC, validity windows, labels); for JSON without repeated members
//! (which `serde_json::Value` would hide), the oracle's judgement of the
//! documented format decides: a valid file loads and an invalid one does
//! not; no error message quotes a secret.
#![no_main]

use std::{collections::HashSet, path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower_hmac::{KeyId, KeysFile};
use tower_hmac_fuzz::keys::{self, Bound};

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    // Memory-backed where there is one: a write and a read on a disk cost
    // a millisecond here, on tmpfs 40 µs.
    PATH.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("tower-hmac-fuzz-keys-{}.json", std::process::id()))
    })
}

/// What the oracle expects of a file (JSON without repeated members):
/// `Some(true)` loads, `Some(false)` is refused, `None` not judged.
fn expected(file: &Value) -> Option<bool> {
    let Some(top) = file.as_object() else {
        return Some(false);
    };
    if top.len() != 1 || !top.contains_key("keys") {
        return Some(false);
    }
    let Some(entries) = top["keys"].as_array() else {
        return Some(false);
    };
    if entries.is_empty() {
        return Some(false);
    }
    let mut ids = HashSet::new();
    let mut judged = true;
    for entry in entries {
        let Some(entry) = entry.as_object() else {
            return Some(false);
        };
        if entry
            .keys()
            .any(|k| !["id", "secret", "not_before", "not_after", "label"].contains(&k.as_str()))
        {
            return Some(false);
        }
        let Some(id) = entry.get("id").and_then(Value::as_str) else {
            return Some(false);
        };
        if !tower_hmac_fuzz::spec::is_key_id(id.as_bytes()) || !ids.insert(id.to_owned()) {
            return Some(false);
        }
        let Some(secret) = entry.get("secret").and_then(Value::as_str) else {
            return Some(false);
        };
        if keys::decode_secret(secret).is_none() {
            return Some(false);
        }
        if entry
            .get("label")
            .is_some_and(|l| !l.is_string() && !l.is_null())
        {
            return Some(false);
        }
        let mut bounds = [None, None];
        for (slot, name) in bounds.iter_mut().zip(["not_before", "not_after"]) {
            match entry.get(name) {
                None | Some(Value::Null) => {}
                Some(value) => match keys::bound(value) {
                    Bound::At(t) => *slot = Some(t),
                    Bound::Invalid => return Some(false),
                    Bound::Unknown => judged = false,
                },
            }
        }
        if let [Some(start), Some(end)] = bounds {
            if end < start {
                return Some(false);
            }
        }
    }
    judged.then_some(true)
}

fuzz_target!(|data: &[u8]| {
    // A file that is not UTF-8 is an error too; the oracle reads text.
    let text_of_file = String::from_utf8_lossy(data).into_owned();
    let built: Option<Value> = match keys::has_duplicate_members(&text_of_file) {
        Some(false) => serde_json::from_str(&text_of_file).ok(),
        _ => None,
    };
    let built = built.filter(|_| std::str::from_utf8(data).is_ok());
    std::fs::write(path(), data).expect("the temporary directory is writable");
    let loaded = KeysFile::load(path());

    // What the file says, read with serde_json::Value (duplicate members
    // keep the last one: only judged for files built without any).
    let value: Option<Value> = serde_json::from_str(&text_of_file).ok();
    let secrets: Vec<String> = value
        .as_ref()
        .and_then(|v| v.get("keys")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.get("secret")?.as_str().map(str::to_owned))
        .collect();

    match &loaded {
        Err(error) => {
            let message = error.to_string();
            let mut others: Vec<String> = vec![path().display().to_string()];
            if let Some(v) = &value {
                for e in v
                    .get("keys")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for field in ["id", "label", "not_before", "not_after"] {
                        if let Some(s) = e.get(field).and_then(Value::as_str) {
                            others.push(s.to_owned());
                        }
                    }
                }
            }
            keys::assert_no_secret(&message, &secrets, &others);
            if let Some(built) = &built {
                assert_ne!(
                    expected(built),
                    Some(true),
                    "a valid file was refused: {message}\n{text_of_file}"
                );
            }
        }
        Ok(file) => {
            if let Some(built) = &built {
                assert_ne!(
                    expected(built),
                    Some(false),
                    "an invalid file loaded:\n{text_of_file}"
                );
            }
            let value = value.expect("a loaded file is JSON");
            let top = value.as_object().expect("an object");
            assert!(top.keys().all(|k| k == "keys"), "{text_of_file}");
            let entries = top["keys"].as_array().expect("an array");
            let snapshot = file.snapshot();
            assert!(!snapshot.is_empty());
            // Last occurrence wins in `Value`; ids are unique in a loaded file.
            assert!(entries.len() >= snapshot.len(), "{text_of_file}");
            for entry in entries {
                let id = entry["id"].as_str().expect("a string id");
                let key = snapshot
                    .get(&id.parse::<KeyId>().expect("a valid id"))
                    .expect("every entry is a key");
                let secret = entry["secret"].as_str().expect("a string secret");
                let bytes = keys::decode_secret(secret).expect("a valid secret");
                assert!(
                    keys::same_secret(id, key.secret(), &bytes),
                    "key {id} holds another secret"
                );
                assert_eq!(
                    key.label_str(),
                    entry.get("label").and_then(Value::as_str),
                    "label of {id}"
                );
                let bound = |name: &str| match entry.get(name) {
                    None | Some(Value::Null) => Some(None),
                    Some(v) => match keys::bound(v) {
                        Bound::At(t) => Some(Some(t)),
                        Bound::Invalid => {
                            panic!("{name} of {id} is invalid, yet loaded:\n{text_of_file}")
                        }
                        Bound::Unknown => None,
                    },
                };
                if let (Some(nb), Some(na)) = (bound("not_before"), bound("not_after")) {
                    keys::assert_window(&snapshot, id, nb, na);
                }
            }
        }
    }
});
