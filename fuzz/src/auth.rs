//! The `Authorization` properties shared by the two header targets.

use http::HeaderValue;
use tower_hmac::{
    schemes::hmac_sha256::{Authorization, ParseError, MAX_AUTHORIZATION_LEN},
    Algorithm,
};

use crate::spec;

/// What a parse gives, comparable: the fields, or the error.
pub type Parsed = Result<spec::Auth, ParseError>;

pub fn fields(auth: &Authorization) -> spec::Auth {
    spec::Auth {
        // Compared with the oracle's own word wherever both parse.
        scheme: auth.algorithm().scheme_word(),
        key_id: auth.key_id().as_str().to_owned(),
        time: auth.time(),
        nonce: auth.nonce().as_str().to_owned(),
        signed_headers: auth.signed_headers().iter().map(str::to_owned).collect(),
        signature: *auth.signature(),
    }
}

/// Both public entry points, which must agree wherever both apply.
pub fn parse(bytes: &[u8]) -> Option<Parsed> {
    parse_as(Algorithm::HmacSha256, bytes)
}

/// [`parse`] as a header of `algorithm`'s scheme.
pub fn parse_as(algorithm: Algorithm, bytes: &[u8]) -> Option<Parsed> {
    let by_str = std::str::from_utf8(bytes)
        .ok()
        .map(|text| Authorization::parse_as(algorithm, text).map(|a| fields(&a)));
    let by_header = HeaderValue::from_bytes(bytes)
        .ok()
        .map(|value| Authorization::from_header_as(algorithm, &value).map(|a| fields(&a)));
    if let (Some(a), Some(b)) = (&by_str, &by_header) {
        assert_eq!(a, b, "parse and from_header disagree on {:?}", show(bytes));
    }
    by_header.or(by_str)
}

pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every property of one header value, read as a header of each scheme of
/// the native grammar (at most one of them takes it).
pub fn check(bytes: &[u8]) {
    for (algorithm, alg) in crate::ALGORITHMS {
        check_as(algorithm, alg.word(), bytes);
    }
}

fn check_as(algorithm: Algorithm, word: &'static str, bytes: &[u8]) {
    let Some(parsed) = parse_as(algorithm, bytes) else {
        // Neither a &str nor a header value: the oracle must refuse it too.
        assert!(
            spec::parse_authorization_as(word, bytes).is_none(),
            "{:?}",
            show(bytes)
        );
        return;
    };
    // Agreement with the implementation written from PROTOCOL §3 (and §9).
    let oracle = spec::parse_authorization_as(word, bytes);
    assert_eq!(
        parsed.as_ref().ok(),
        oracle.as_ref(),
        "the crate and PROTOCOL §3 disagree on {:?} as {word} (crate: {parsed:?})",
        show(bytes)
    );
    if let Ok(auth) = &parsed {
        round_trip(algorithm, bytes, auth);
    }
    agree_with_general_path(algorithm, bytes, &parsed);
}

/// `Display` gives the canonical form, which parses back to the same fields.
pub fn round_trip(algorithm: Algorithm, bytes: &[u8], auth: &spec::Auth) {
    let text = std::str::from_utf8(bytes).expect("accepted, so ASCII");
    let parsed = Authorization::parse_as(algorithm, text).expect("parsed before");
    let canonical = parsed.to_string();
    assert_eq!(
        canonical,
        auth.canonical(),
        "Display is not the canonical form"
    );
    assert_eq!(parsed.to_header_value().as_bytes(), canonical.as_bytes());
    // The Debug form shows no whole signature.
    let debug = format!("{parsed:?}");
    assert!(
        !debug.contains(&spec::b64_encode(&auth.signature)),
        "Debug shows the whole signature: {debug}"
    );
    if canonical.len() > MAX_AUTHORIZATION_LEN {
        // Finding F1 (RELIABILITY.md): a header within the limit whose
        // canonical form is not. Nothing sends it; parse refuses it.
        assert_eq!(
            Authorization::parse_as(algorithm, &canonical).map(|a| fields(&a)),
            Err(ParseError::TooLong)
        );
        return;
    }
    let again = Authorization::parse_as(algorithm, &canonical)
        .unwrap_or_else(|e| panic!("the canonical form {canonical:?} does not parse: {e}"));
    assert_eq!(&fields(&again), auth, "round trip of {canonical:?}");
    assert_eq!(again.to_string(), canonical);
}

/// The fast path for the canonical form against the general parser: the
/// same value with a change that only the general parser takes must parse
/// the same (exactly, or the same fields when the change reorders).
pub fn agree_with_general_path(algorithm: Algorithm, bytes: &[u8], parsed: &Parsed) {
    let Some(space) = bytes.iter().position(|&b| b == b' ') else {
        return;
    };
    if bytes.len() < MAX_AUTHORIZATION_LEN {
        // A second space after the scheme: never the fast path.
        let mut spaced = bytes[..=space].to_vec();
        spaced.push(b' ');
        spaced.extend_from_slice(&bytes[space + 1..]);
        if let Some(other) = parse_as(algorithm, &spaced) {
            assert_eq!(
                &other,
                parsed,
                "{:?} and {:?} parse differently",
                show(bytes),
                show(&spaced)
            );
        }
    }
    // The scheme and the parameter names in lower case.
    let lowered = lower_names(bytes, space);
    if let Some(other) = parse_as(algorithm, &lowered) {
        assert_eq!(
            &other,
            parsed,
            "{:?} and {:?} parse differently",
            show(bytes),
            show(&lowered)
        );
    }
    // The parameters in another order: the same fields, or both refused.
    // (Not for a value over the limit: the reordering trims its items, and
    // what is refused as too long may then fit.)
    let (scheme, params) = bytes.split_at(space + 1);
    let items: Vec<&[u8]> = params.split(|&b| b == b',').collect();
    if items.len() > 1 && bytes.len() <= MAX_AUTHORIZATION_LEN {
        let mut rotated = scheme.to_vec();
        let mut order: Vec<&[u8]> = items[1..].to_vec();
        order.push(items[0]);
        for (i, item) in order.iter().enumerate() {
            if i > 0 {
                rotated.extend_from_slice(b", ");
            }
            rotated.extend_from_slice(spec::trim_sp_htab(item));
        }
        if rotated.len() <= MAX_AUTHORIZATION_LEN {
            if let Some(other) = parse_as(algorithm, &rotated) {
                assert_eq!(
                    other.as_ref().ok(),
                    parsed.as_ref().ok(),
                    "{:?} and {:?} (reordered) parse differently",
                    show(bytes),
                    show(&rotated)
                );
            }
        }
    }
}

/// The scheme word and every parameter name lowered (values untouched).
fn lower_names(bytes: &[u8], space: usize) -> Vec<u8> {
    let mut out = bytes[..space].to_ascii_lowercase();
    let mut in_name = true;
    for &b in &bytes[space..] {
        match b {
            b',' => in_name = true,
            b'=' => in_name = false,
            _ => {}
        }
        out.push(if in_name { b.to_ascii_lowercase() } else { b });
    }
    out
}
