//! `BodyDigest::declared_for` on arbitrary `Content-Digest` field lines
//! (one per line of input), for each algorithm (`sha-256`, and `blake3`
//! under PROTOCOL §9.3): it never panics; it agrees with RFC 9530 as
//! PROTOCOL §4.4 restricts it (written independently in `spec`); a digest
//! it returns re-encodes with `to_content_digest` and parses back equal;
//! other members are ignored, and splitting a line at its commas changes
//! nothing. `BodyDigest::declared` is `HMAC-SHA256`'s.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_hmac::{Algorithm, BodyDigest, ContentDigestError};
use tower_hmac_fuzz::{
    spec::{self, Alg, Declared},
    ALGORITHMS,
};

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
        (Ok(Some(d)), Declared::Digest(s)) => d.as_bytes() == s,
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
    assert_eq!(
        BodyDigest::declared(&map),
        BodyDigest::declared_for(&map, Algorithm::HmacSha256)
    );
    for (algorithm, alg) in ALGORITHMS {
        check(&lines, &map, algorithm, alg);
    }
});

fn check(lines: &[Vec<u8>], map: &HeaderMap, algorithm: Algorithm, alg: Alg) {
    let declared = BodyDigest::declared_for(map, algorithm);
    let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let oracle = spec::declared_digest_as(alg, &refs);
    assert!(
        same_class(&declared, &oracle),
        "{alg:?} {:?}: crate {declared:?}, PROTOCOL {oracle:?}",
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
    );

    if let Ok(Some(digest)) = declared {
        assert_eq!(digest.algorithm(), algorithm);
        // Re-encodes and parses back equal.
        let value = digest.to_content_digest();
        assert_eq!(
            value.as_bytes(),
            [
                alg.digest_member(),
                b"=:",
                spec::b64_encode(digest.as_bytes()).as_bytes(),
                b":"
            ]
            .concat()
        );
        let mut again = HeaderMap::new();
        again.insert("content-digest", value);
        assert_eq!(
            BodyDigest::declared_for(&again, algorithm),
            Ok(Some(digest))
        );
        if algorithm == Algorithm::HmacSha256 {
            assert_eq!(BodyDigest::from_bytes(*digest.as_bytes()), digest);
        }
    }

    // Another member on a line of its own changes nothing.
    let mut more = lines.to_vec();
    more.push(b"sha-512=:AAAA:".to_vec());
    if let Some(map) = headers(&more) {
        assert_eq!(
            BodyDigest::declared_for(&map, algorithm),
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
            let again = BodyDigest::declared_for(&map, algorithm);
            // An empty member becomes an empty line: both are refused.
            assert_eq!(again.is_ok(), declared.is_ok(), "{again:?} vs {declared:?}");
            if let (Ok(a), Ok(b)) = (again, declared) {
                assert_eq!(a, b);
            }
        }
    }
}
