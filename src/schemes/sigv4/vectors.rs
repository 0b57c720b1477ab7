//! The scheme against `tests/vectors/sigv4.json`: vectors from an
//! independent Python implementation, cross-checked against botocore, the
//! AWS documentation's examples and AWS's SigV4 test suite. Each case runs
//! through the scheme as the layer drives it (claim, authenticate, the body
//! check), at the vector's own time.

use std::collections::VecDeque;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde_json::Value;

use super::SigV4;
use crate::{
    schemes::{Authentication, BodyCheck, Head, Policy, Scheme},
    ErrorCode, Secret,
};

const VECTORS: &str = include_str!("../../../tests/vectors/sigv4.json");

fn cases() -> Vec<Value> {
    serde_json::from_str(VECTORS).expect("sigv4.json is JSON")
}

/// A body from its description: hex, a generation rule, or wire segments
/// that refer to ranges of the decoded body.
fn body(spec: &Value, decoded: Option<&[u8]>) -> Vec<u8> {
    if let Some(hex) = spec.get("hex") {
        let hex = hex.as_str().unwrap();
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
    }
    if let Some(segments) = spec.get("segments") {
        let mut out = Vec::new();
        for segment in segments.as_array().unwrap() {
            if let Some(ascii) = segment.get("ascii") {
                out.extend_from_slice(ascii.as_str().unwrap().as_bytes());
            } else if let Some(range) = segment.get("body") {
                let (start, end) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
                out.extend_from_slice(&decoded.unwrap()[start as usize..end as usize]);
            } else {
                out.extend(body(segment, decoded));
            }
        }
        return out;
    }
    let len = spec["len"].as_u64().unwrap() as usize;
    match spec["rule"].as_str().unwrap() {
        "repeat" => vec![spec["byte"].as_u64().unwrap() as u8; len],
        "affine" => {
            let (mul, add) = (spec["mul"].as_u64().unwrap(), spec["add"].as_u64().unwrap());
            (0..len as u64)
                .map(|i| ((mul * i + add) % 256) as u8)
                .collect()
        }
        rule => panic!("unknown body rule {rule}"),
    }
}

struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    wire: Vec<u8>,
    decoded: Vec<u8>,
}

fn request(case: &Value) -> Request {
    let request = &case["request"];
    let decoded = case
        .get("streaming")
        .map(|streaming| body(&streaming["decoded_body"], None));
    let wire = body(&request["body"], decoded.as_deref());
    let path = request["path"].as_str().unwrap();
    let target = match request["query"].as_str().filter(|query| !query.is_empty()) {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut headers = HeaderMap::new();
    for pair in request["headers"].as_array().unwrap() {
        headers.append(
            HeaderName::from_bytes(pair[0].as_str().unwrap().as_bytes()).unwrap(),
            HeaderValue::from_str(pair[1].as_str().unwrap()).unwrap(),
        );
    }
    Request {
        method: request["method"].as_str().unwrap().parse().unwrap(),
        uri: target.parse().unwrap(),
        headers,
        decoded: decoded.unwrap_or_else(|| wire.clone()),
        wire,
    }
}

/// Runs one case through the scheme; the decoded body, or the refusal.
fn run(case: &Value) -> Result<Vec<u8>, ErrorCode> {
    let request = request(case);
    let scheme = SigV4::new(case["service"].as_str().unwrap())
        .region(case["region"].as_str().unwrap())
        .allow_unsigned_payload(true)
        .allow_presigned_urls(true);
    let now = super::authorization::parse_amz_date(case["amz_date"].as_str().unwrap()).unwrap();
    let policy = Policy {
        max_clock_skew: 300,
        required_headers: vec![http::header::HOST],
    };
    let bodiless = request.wire.is_empty();
    let head = Head {
        method: &request.method,
        uri: &request.uri,
        headers: &request.headers,
        now,
        policy: &policy,
        bodiless,
    };
    let claim = match request.headers.get(http::header::AUTHORIZATION) {
        Some(authorization) => scheme.claim(authorization, &head),
        None => scheme.claim_elsewhere(&head).expect("a presigned URL"),
    }?;
    let explanation = claim.explain(bodiless);
    if let Some((_, canonical)) = explanation
        .iter()
        .find(|(name, _)| *name == "canonical_request")
    {
        let expected = case["expected"]["canonical_request"].as_str().unwrap();
        if case["authorization_valid"].as_bool() == Some(true) {
            assert_eq!(canonical, expected, "{}", case["name"]);
        }
    }
    let secret =
        Secret::from_base64(case["credentials"]["secret_access_key"].as_str().unwrap()).unwrap();
    let mut check: Box<dyn BodyCheck> = match claim.authenticate(&secret, bodiless) {
        Authentication::Authenticated(check) | Authentication::Deferred(check) => check,
        Authentication::Refused(code) => return Err(code),
    };
    let mut out = VecDeque::new();
    // Odd pieces, so that no frame boundary lines up with the framing.
    for piece in request.wire.chunks(4093) {
        if check.decodes() {
            check.decode(Bytes::copy_from_slice(piece), &mut out)?;
        } else {
            check.update(piece);
            out.push_back(Bytes::copy_from_slice(piece));
        }
    }
    check.finish()?;
    let decoded: Vec<u8> = out.into_iter().flatten().collect();
    assert_eq!(decoded, request.decoded, "{}", case["name"]);
    Ok(decoded)
}

#[test]
fn every_request_vector_verifies_as_specified() {
    let mut ran = 0;
    for case in cases() {
        if case["kind"] == "checksum" || case.get("botocore_differs").is_some() {
            // The S3 path is signed verbatim, as every SDK and curl sign it
            // (see the module docs); those cases follow the AWS docs instead.
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let valid = case["authorization_valid"].as_bool().unwrap();
        match run(&case) {
            Ok(_) => assert!(
                valid,
                "{name}: accepted, but the vector says it is not valid"
            ),
            Err(code) => assert!(
                !valid && code == ErrorCode::InvalidSignature,
                "{name}: refused with {code}"
            ),
        }
        ran += 1;
    }
    assert!(ran >= 30, "only {ran} vectors ran");
}

#[test]
fn checksum_vectors() {
    use super::checksum::ChecksumAlgorithm;
    for case in cases()
        .into_iter()
        .filter(|case| case["kind"] == "checksum")
    {
        let data = body(&case["body"], None);
        for algorithm in ChecksumAlgorithm::ALL {
            let name = algorithm.sdk_name().to_ascii_lowercase();
            let expected = case["expected"][name.as_str()].as_str().unwrap();
            let mut checksum = algorithm.hasher();
            checksum.update(&data);
            assert_eq!(
                checksum.finish_base64(),
                expected,
                "{} {name}",
                case["name"]
            );
        }
    }
}
