//! The key file and key list formats, as the README and the rustdoc of
//! `KeysFile` and `InMemoryKeys::from_env` describe them, and how to
//! compare a loaded key with the bytes it should hold.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_hmac::{BodyDigest, InMemoryKeys, KeyId, Nonce, Signer};

use crate::spec;

/// Whether `secret` (as loaded) is the key `bytes`: the signature of a
/// fixed request made with it is the HMAC of that request's
/// string-to-sign under `bytes`.
pub fn same_secret(key_id: &str, secret: &tower_hmac::Secret, bytes: &[u8]) -> bool {
    let signer = Signer::new(key_id.parse().expect("a loaded id"), secret.clone());
    let mut request = http::Request::get("http://h/").body(()).unwrap();
    let nonce = Nonce::new("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let auth = signer
        .sign_at(&mut request, &BodyDigest::EMPTY, 1, nonce)
        .expect("signs");
    let text = format!(
        "HMAC-SHA256\n{key_id}\n1\nAAAAAAAAAAAAAAAAAAAAAA\nGET\n/\n\nhost\nhost:h\n{}",
        spec::hex(&spec::sha256(b""))
    );
    *auth.signature() == spec::hmac_sha256(bytes, text.as_bytes())
}

/// A secret's text decoded as the docs say: standard padded base64 (the
/// crate also trims surrounding whitespace), at least 16 bytes.
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let bytes = spec::b64_decode(text.trim().as_bytes())?;
    (bytes.len() >= 16).then_some(bytes)
}

/// No error message may quote a secret. Only secrets long enough not to
/// appear in a message by chance (20+ base64 characters) are looked for.
pub fn assert_no_secret(message: &str, secrets: &[String], others: &[String]) {
    for secret in secrets {
        let secret = secret.trim();
        if secret.len() >= 20
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            && !others.iter().any(|o| o.contains(secret))
        {
            assert!(
                !message.contains(secret),
                "the error {message:?} quotes the secret {secret:?}"
            );
        }
    }
}

/// A strict `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, no fraction): its Unix
/// seconds, `Invalid` when a part is out of range (month 13, Feb 30, hour
/// 24), `Unknown` for any other text, years before 1970 and leap seconds
/// (which this oracle does not judge).
pub fn strict_rfc3339(text: &str) -> Bound {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return Bound::Unknown;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let s = &b[range];
        s.iter().all(u8::is_ascii_digit).then(|| {
            s.iter()
                .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'))
        })
    };
    let parts = (|| {
        Some([
            num(0..4)?,
            num(5..7)?,
            num(8..10)?,
            num(11..13)?,
            num(14..16)?,
            num(17..19)?,
        ])
    })();
    let Some([year, month, day, hour, minute, second]) = parts else {
        return Bound::Unknown;
    };
    if year < 1970 || second == 60 {
        return Bound::Unknown;
    }
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return Bound::Invalid;
    }
    let leap = |y: u64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day == 0 || day > month_days[(month - 1) as usize] {
        return Bound::Invalid;
    }
    // Days from the epoch, year by year and month by month: slow and plain.
    let mut days = 0;
    for y in 1970..year {
        days += if leap(y) { 366 } else { 365 };
    }
    days += month_days[..(month - 1) as usize].iter().sum::<u64>() + day - 1;
    Bound::At(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// A validity bound, as the oracle reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Loads, as this many Unix seconds.
    At(u64),
    /// Must be a load error.
    Invalid,
    /// Not judged.
    Unknown,
}

pub fn bound(value: &serde_json::Value) -> Bound {
    if let Some(n) = value.as_u64() {
        // SystemTime (an i64 of seconds here) holds up to i64::MAX.
        return if n <= i64::MAX as u64 {
            Bound::At(n)
        } else {
            Bound::Invalid
        };
    }
    match value {
        serde_json::Value::String(text) => strict_rfc3339(text),
        // Negative or fractional numbers, booleans, objects...
        serde_json::Value::Number(_)
        | serde_json::Value::Bool(_)
        | serde_json::Value::Array(_)
        | serde_json::Value::Object(_) => Bound::Invalid,
        serde_json::Value::Null => Bound::Unknown,
    }
}

/// Checks a key's window against its bounds at and around them.
pub fn assert_window(
    keys: &InMemoryKeys,
    id: &str,
    not_before: Option<u64>,
    not_after: Option<u64>,
) {
    let key = keys.get(&id.parse::<KeyId>().unwrap()).expect("loaded");
    let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
    let expected = |t: u64| not_before.is_none_or(|b| b <= t) && not_after.is_none_or(|a| t <= a);
    let mut probes = vec![0, 1_700_000_000];
    for bound in [not_before, not_after].into_iter().flatten() {
        probes.extend([bound.saturating_sub(1), bound, bound.saturating_add(1)]);
    }
    for t in probes {
        if t > i64::MAX as u64 {
            continue;
        }
        assert_eq!(
            key.is_valid_at(at(t)),
            expected(t),
            "key {id} at {t}: {not_before:?}..{not_after:?}"
        );
    }
    let _ = SystemTime::now();
}

/// Whether some object of the JSON text has a member twice (which
/// `serde_json::Value` would hide by keeping the last); `None` if the text
/// is not JSON.
pub fn has_duplicate_members(text: &str) -> Option<bool> {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Dup(bool);
    struct V;

    impl<'de> Visitor<'de> for V {
        type Value = Dup;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_str<E>(self, _: &str) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_unit<E>(self) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Dup, A::Error> {
            let mut dup = false;
            while let Some(Dup(d)) = seq.next_element()? {
                dup |= d;
            }
            Ok(Dup(dup))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dup, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut dup = false;
            while let Some(key) = map.next_key::<String>()? {
                dup |= !seen.insert(key);
                let Dup(d) = map.next_value()?;
                dup |= d;
            }
            Ok(Dup(dup))
        }
    }

    impl<'de> Deserialize<'de> for Dup {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(V)
        }
    }

    serde_json::from_str::<Dup>(text).ok().map(|Dup(d)| d)
}
