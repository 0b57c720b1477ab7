//! `BodyDigest::declared` on arbitrary `Content-Digest` field lines (one
//! per line of input): it
//! never panics; it agrees with RFC 9530 as PROTOCOL §4.4 restricts it
//! (written independently in `spec`); a digest it returns re-encodes with
//! `to_content_digest` and parses back equal; other members are ignored,
//! and splitting a line at its commas changes nothing.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_hmac::{BodyDigest, ContentDigestError};
use tower_hmac_fuzz::spec::{self, Declared};

fn headers(lines: &[Vec<u8>]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    map.insert("content-type", HeaderValue::from_static("text/plain"));
    for line in lines {
        map.append("content-digest", HeaderValue::from_bytes(line).ok()?);
    }
    Some(map)
}

fn same_class(ours: &Result<Option<BodyDigest>, ContentDigestError>, spec: &Declared) -> bool {
    match (ours, spec) {
        (Ok(None), Declared::None) => true,
        (Ok(Some(d)), Declared::Sha256(s)) => d.as_bytes() == s,
        (Err(ContentDigestError::Syntax), Declared::Syntax) => true,
        (Err(ContentDigestError::Repeated), Declared::Repeated) => true,
        (Err(ContentDigestError::WrongLength), Declared::WrongLength) => true,
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    // One field line per line of input.
    let lines: Vec<Vec<u8>> = data
        .split(|&b| b == b'\n')
        .take(8)
        .map(<[u8]>::to_vec)
        .collect();
    let Some(map) = headers(&lines) else { return };
    let declared = BodyDigest::declared(&map);
    let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let oracle = spec::declared_digest(&refs);
    assert!(
        same_class(&declared, &oracle),
        "{:?}: crate {declared:?}, PROTOCOL {oracle:?}",
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
    );

    if let Ok(Some(digest)) = declared {
        // Re-encodes and parses back equal.
        let value = digest.to_content_digest();
        assert_eq!(
            value.as_bytes(),
            format!("sha-256=:{}:", spec::b64_encode(digest.as_bytes())).as_bytes()
        );
        let mut again = HeaderMap::new();
        again.insert("content-digest", value);
        assert_eq!(BodyDigest::declared(&again), Ok(Some(digest)));
        assert_eq!(BodyDigest::from_bytes(*digest.as_bytes()), digest);
    }

    // Another member on a line of its own changes nothing.
    let mut more = lines.clone();
    more.push(b"sha-512=:AAAA:".to_vec());
    if let Some(map) = headers(&more) {
        assert_eq!(
            BodyDigest::declared(&map),
            declared,
            "an ignored member changed the result"
        );
    }
    // Nor does splitting every line at its commas into field lines of their own.
    let split: Vec<Vec<u8>> = lines
        .iter()
        .flat_map(|line| {
            line.split(|&b| b == b',')
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    if split.len() != lines.len() {
        if let Some(map) = headers(&split) {
            let again = BodyDigest::declared(&map);
            // An empty member becomes an empty line: both are refused.
            assert_eq!(again.is_ok(), declared.is_ok(), "{again:?} vs {declared:?}");
            if let (Ok(a), Ok(b)) = (again, declared) {
                assert_eq!(a, b);
            }
        }
    }
});
