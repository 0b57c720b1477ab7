//! The independent SigV4 implementation (`src/sigv4_spec.rs`) reproduces
//! every vector of `tests/vectors/sigv4.json`: canonical requests,
//! strings-to-sign, signing keys, signatures (and which `Authorization`
//! values are valid), presigned URLs, chunk and trailer signatures, the
//! aws-chunked wire bodies (encoded and decoded) and the checksums.

use std::path::Path;

use serde_json::Value;
use tower_hmac_fuzz::{
    sigv4_spec::{self as v4, Checksum, ChunkKey, Reading, Request, Rules, Stream, UriMode},
    spec,
};

fn vectors() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/sigv4.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(text: &str) -> Vec<u8> {
    v4::unhex(text.as_bytes(), text.len() / 2).unwrap()
}

/// A body of the vectors: `{"hex": …}`, or a rule.
fn body(body: &Value) -> Vec<u8> {
    if let Some(hex) = body["hex"].as_str() {
        return unhex(hex);
    }
    let n = |name: &str| body[name].as_u64().unwrap();
    match body["rule"].as_str().unwrap() {
        "repeat" => vec![n("byte") as u8; n("len") as usize],
        "affine" => (0..n("len"))
            .map(|i| ((n("mul") * i + n("add")) % 256) as u8)
            .collect(),
        rule => panic!("unknown rule {rule}"),
    }
}

/// The wire body of a streaming vector.
fn wire(vector: &Value, decoded: &[u8]) -> Vec<u8> {
    let b = &vector["request"]["body"];
    if let Some(hex) = b["hex"].as_str() {
        return unhex(hex);
    }
    let mut out = Vec::new();
    for segment in b["segments"].as_array().unwrap() {
        if let Some(ascii) = segment["ascii"].as_str() {
            out.extend_from_slice(ascii.as_bytes());
        } else {
            let range = segment["body"].as_array().unwrap();
            let (from, to) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
            out.extend_from_slice(&decoded[from as usize..to as usize]);
        }
    }
    out
}

#[test]
fn every_vector() {
    let mut checked = 0;
    for vector in vectors() {
        let name = vector["name"].as_str().unwrap();
        let kind = vector["kind"].as_str().unwrap();
        if kind == "checksum" {
            let data = body(&vector["body"]);
            for c in Checksum::ALL {
                let key = c.sdk_name().to_ascii_lowercase();
                assert_eq!(c.value(&data), vector["expected"][&key], "{name} {key}");
            }
            checked += 1;
            continue;
        }
        let request = &vector["request"];
        let headers: Vec<(Vec<u8>, Vec<u8>)> = request["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_ascii_lowercase().into_bytes(),
                    h[1].as_str().unwrap().as_bytes().to_vec(),
                )
            })
            .collect();
        let view = Request {
            method: request["method"].as_str().unwrap().as_bytes(),
            path: request["path"].as_str().unwrap().as_bytes(),
            query: request["query"].as_str().unwrap().as_bytes(),
            authority: None,
            headers: &headers,
        };
        let mode = match vector["uri_mode"].as_str().unwrap() {
            "s3" => UriMode::S3,
            _ => UriMode::Normalized,
        };
        let expected = &vector["expected"];
        let secret_text = vector["credentials"]["secret_access_key"].as_str().unwrap();
        let secret = spec::b64_decode(secret_text.as_bytes()).unwrap();
        assert_eq!(spec::b64_encode(&secret), secret_text, "{name}");
        let presigned = kind == "presigned";
        let (credentials, amz_date) = if presigned {
            assert!(v4::is_presigned(&view));
            let p = v4::parse_presigned(&view).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(p.expires, vector["expires"].as_u64().unwrap());
            (p.credentials, p.amz_date)
        } else {
            let auth = view.lines("authorization");
            let c = v4::parse_authorization(auth[0]).unwrap_or_else(|| panic!("{name}"));
            assert!(c.strict, "{name}");
            let date = String::from_utf8(view.lines("x-amz-date")[0].to_vec()).unwrap();
            (c, date)
        };
        assert_eq!(amz_date, vector["amz_date"], "{name}");
        assert_eq!(
            credentials.signed_headers, expected["signed_headers"],
            "{name}"
        );
        let signing = v4::Signing {
            secret: &secret,
            amz_date: &amz_date,
            date: &credentials.date,
            region: &credentials.region,
            service: &credentials.service,
            signed_headers: &credentials.signed_headers,
            mode,
            presigned,
        };
        assert_eq!(
            spec::hex(&signing.key()),
            expected["signing_key_hex"],
            "{name}"
        );
        let payload = expected["payload_hash"].as_str().unwrap();
        let canonical = v4::canonical_request(
            &view,
            &credentials.signed_headers,
            mode,
            Reading::AwsSigv4,
            presigned,
            payload.as_bytes(),
        );
        if vector["botocore_differs"]
            .as_str()
            .is_some_and(|d| d.contains("path verbatim"))
        {
            // The AWS docs encode a raw `$` or `@` of an S3 path once more;
            // every SDK signs the path as sent, and so does the crate (its
            // module docs: "the path exactly as sent ... never normalised"):
            // this oracle follows the crate's docs, not this vector.
            let line = canonical.split(|&b| b == b'\n').nth(1).unwrap();
            assert_eq!(line, view.path, "{name}");
            assert!(!signing.signs(&view, payload.as_bytes(), &credentials.signature));
            checked += 1;
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&canonical),
            expected["canonical_request"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            String::from_utf8_lossy(&v4::string_to_sign(&amz_date, &signing.scope(), &canonical)),
            expected["string_to_sign"].as_str().unwrap(),
            "{name}"
        );
        let signature = signing.signature(&view, Reading::AwsSigv4, payload.as_bytes());
        assert_eq!(spec::hex(&signature), expected["signature"], "{name}");
        assert_eq!(
            signing.signs(&view, payload.as_bytes(), &credentials.signature),
            vector["authorization_valid"].as_bool().unwrap(),
            "{name}"
        );
        if kind == "streaming" {
            let s = &vector["streaming"];
            let stream = match s["x_amz_content_sha256"].as_str().unwrap() {
                v4::STREAMING_SIGNED => Stream::Signed,
                v4::STREAMING_SIGNED_TRAILER => Stream::SignedTrailer,
                _ => Stream::UnsignedTrailer,
            };
            let decoded = body(&s["decoded_body"]);
            let key = ChunkKey {
                key: signing.key(),
                amz_date: amz_date.clone(),
                scope: signing.scope(),
                seed: signature,
            };
            // The chain of chunk signatures (the wire below carries them too).
            let mut previous = signature;
            let mut at = 0;
            for chunk in expected["chunks"].as_array().unwrap() {
                let size = chunk["size"].as_u64().unwrap() as usize;
                let data = &decoded[at..at + size];
                at += size;
                assert_eq!(
                    spec::hex(&spec::sha256(data)),
                    chunk["data_sha256"],
                    "{name}"
                );
                if let Some(sig) = chunk["signature"].as_str() {
                    previous = key.chunk(&previous, data);
                    assert_eq!(spec::hex(&previous), sig, "{name}");
                }
            }
            let trailer_line = expected["trailer"]["lines"][0].as_str();
            let trailer = trailer_line.map(|l| l.split_once(':').unwrap());
            let size = s["chunk_size"].as_u64().unwrap() as usize;
            let chunks: Vec<&[u8]> = decoded.chunks(size.max(1)).collect();
            let body = wire(&vector, &decoded);
            let uppercase = s["size_hex_case"] == "upper";
            assert_eq!(
                String::from_utf8_lossy(&v4::encode(stream, &key, &chunks, trailer, uppercase)),
                String::from_utf8_lossy(&body),
                "{name}: the encoding"
            );
            if stream == Stream::SignedTrailer {
                let canonical = expected["trailer"]["canonical_trailers"].as_str().unwrap();
                assert_eq!(
                    spec::hex(&key.trailer(&previous, canonical.as_bytes())),
                    expected["trailer"]["signature"],
                    "{name}"
                );
            }
            let rules = Rules {
                trailer: view
                    .lines("x-amz-trailer")
                    .first()
                    .map(|t| Checksum::of_header(t).unwrap()),
                header_checksum: None,
                decoded_length: Some(s["decoded_length"].as_u64().unwrap()),
            };
            let signed = stream.signed().then_some(&key);
            let out = v4::decode(stream, signed, &rules, &body);
            assert_eq!(out.verdict, v4::Verdict::Complete, "{name}");
            assert!(out.data == decoded, "{name}: the decoded data");
        }
        checked += 1;
    }
    assert!(checked >= 39, "{checked}");
}
