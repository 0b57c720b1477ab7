//! The one-pass fast path for the canonical `Authorization` form against
//! the general parser, on headers built field by field (so that most of
//! them are in the canonical form, or one edit away from it): every layout
//! of the same fields parses to the same result, which is what PROTOCOL §3
//! (in `spec`) says, and round-trips through `Display`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tower_hmac_fuzz::{auth, spec};

/// A field's value: a valid one picked from a few, or any text.
#[derive(Arbitrary, Debug)]
enum Field {
    Usual(u8),
    Text(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    key: Field,
    time: Field,
    nonce: Field,
    names: Vec<Field>,
    signature: Field,
    /// Mangle the bytes of the canonical form here and there (insert,
    /// replace, remove).
    edits: Vec<(u16, u8, u8)>,
}

fn pick(field: &Field, usual: &[&str]) -> String {
    match field {
        Field::Usual(i) => usual[usize::from(*i) % usual.len()].to_owned(),
        Field::Text(text) => text.clone(),
    }
}

fuzz_target!(|input: Input| {
    let key = pick(
        &input.key,
        &[
            "7",
            "client-1",
            "key.2024-01_x~y",
            &"k".repeat(64),
            &"k".repeat(65),
            "",
        ],
    );
    let time = pick(
        &input.time,
        &[
            "1700000000",
            "0",
            "18446744073709551615",
            "18446744073709551616",
            "01",
        ],
    );
    let nonce = pick(
        &input.nonce,
        &[
            "EBESExQVFhcYGRobHB0eHw",
            "AbCdEfGhIjKlMnOp",
            &"n".repeat(64),
            "AbCdEfGhIjKlMnO",
            &"n".repeat(65),
        ],
    );
    let mut names: Vec<String> = input
        .names
        .iter()
        .take(40)
        .map(|n| {
            pick(
                n,
                &[
                    "host",
                    "content-type",
                    "x-a",
                    "accept",
                    "date",
                    "Host",
                    "x-tag",
                ],
            )
        })
        .collect();
    if names.is_empty() {
        names.push("host".to_owned());
    }
    let signature = pick(
        &input.signature,
        &[
            "aiAZdynPQDU5JeNgNxlpviv7+asj2ewosxUUwUXqKmY=",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
            "aiAZdynPQDU5JeNgNxlpviv7+asj2ewosxUUwUXqKmY",
            "aiAZdynPQDU5JeNgNxlpviv7-asj2ewosxUUwUXqKmY=",
        ],
    );
    let canonical = format!(
        "HMAC-SHA256 Key={key}, Time={time}, Nonce={nonce}, SignedHeaders={}, Signature={signature}",
        names.join(";")
    );
    let mut bytes = canonical.into_bytes();
    for &(at, op, byte) in input.edits.iter().take(4) {
        if bytes.is_empty() {
            break;
        }
        let at = usize::from(at) % bytes.len();
        match op % 3 {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            _ => {
                bytes.remove(at);
            }
        }
    }
    // Every property of the raw target, on this value...
    auth::check(&bytes);
    // ...and the layouts the general parser alone takes, all the same.
    let Some(parsed) = auth::parse(&bytes) else {
        return;
    };
    if let Ok(fields) = &parsed {
        let layouts = [
            format!(
                "hmac-sha256 key={}, time={}, nonce={}, signedheaders={}, signature={}",
                fields.key_id,
                fields.time,
                fields.nonce,
                fields.signed_headers.join(";"),
                spec::b64_encode(&fields.signature)
            ),
            format!(
                "HMAC-SHA256 Signature={}\t,Nonce={} ,  SignedHeaders={},Time={},Key={}",
                spec::b64_encode(&fields.signature),
                fields.nonce,
                fields.signed_headers.join(";"),
                fields.time,
                fields.key_id
            ),
        ];
        for layout in layouts {
            if layout.len() <= tower_hmac::schemes::hmac_sha256::MAX_AUTHORIZATION_LEN {
                let other = auth::parse(layout.as_bytes()).expect("ASCII");
                assert_eq!(other.as_ref().ok(), Some(fields), "{layout:?}");
            }
        }
    }
});
