//! The `aws_chunked` target: aws-chunked bodies (SigV4's `STREAMING-*` payloads) through the server:
//! the app of `src/sigv4_server.rs` (SigV4 for `s3`, a clock skew of 200
//! years so that heads dated 2024 stay valid, no replay protection, so that
//! one app serves every input), a handler that reads everything and
//! verifies. The input is `[head] [flags] [encoding] [n] [n cuts, u16 LE]
//! [payload]`:
//! - head: bits 0-1, the mode (0 signed, 1 signed with a trailer, 2
//!   unsigned with a trailer, 3 the signed-trailer mode without
//!   `x-amz-trailer`); bit 2, the head of a test vector
//!   (`stream-signed-8k-chunks`, `stream-signed-trailer-crc32`,
//!   `stream-unsigned-trailer-crc64nvme`, exactly as recorded: their wire
//!   bodies are seeds) instead of one the harness signs (key `7`, dated
//!   2024-05-01T12:00:00Z); bits 3-5, the checksum algorithm; bit 6,
//!   chunk sizes in upper case; bit 7, HTTP/2 (else HTTP/1.1, with
//!   `Transfer-Encoding: chunked` for a body of unknown length);
//! - flags (a harness head): bit 0, an exact length; bit 1, a pending poll
//!   before each frame; bit 2, no `x-amz-decoded-content-length`; bit 3,
//!   one off it (bit 4: one more); bit 5, an `x-amz-checksum-*` header too
//!   (bit 6: a wrong one); bit 7, a wrong trailer checksum;
//! - encoding: 0, the payload is the wire body as it is; 1, the payload is
//!   chunks separated by `|`, encoded by the independent encoder of
//!   `src/sigv4_spec.rs` (signatures, trailer and all); 2, the same, with
//!   one edit (`[op] [at, u16 LE] [byte]` first: flip, insert, delete,
//!   truncate).
//!
//! Properties, besides every check of `sigv4_server::check`:
//! - the verdict (status, code, data) is the same whatever the frame
//!   boundaries (one frame, the input's cuts, small pieces);
//! - it is the independent decoder's (`sigv4_spec::decode`): a valid body is
//!   accepted and the handler reads exactly its decoded data; otherwise the
//!   code of the first thing wrong in it (`malformed_chunked_body`,
//!   `invalid_signature`, `body_incomplete`, `decoded_length_mismatch`,
//!   `checksum_mismatch`, `unsupported_checksum`);
//! - the handler never holds more than one chunk of unverified data: what
//!   it read is a prefix of the verified chunks and the one in progress.

use std::sync::OnceLock;

use crate::{
    server::{self, App, Config, Handler, Hint, Step, Wire},
    sigv4_server::{self, Opts, PayloadChoice, Sign},
    sigv4_spec::{self as v4, Checksum, ChunkKey, Stream},
    spec,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, Version};

/// 2024-05-01T12:00:00Z, the vectors' date.
const NOW: u64 = 1_714_564_800;

/// A head: the request without its body, the key of its chunks, its rules.
struct Head {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    stream: Stream,
    key: ChunkKey,
    rules: v4::Rules,
}

/// The three test vectors' heads, as recorded (without `Content-Length`).
fn vector_heads() -> &'static [(Head, Vec<u8>)] {
    static HEADS: OnceLock<Vec<(Head, Vec<u8>)>> = OnceLock::new();
    HEADS.get_or_init(|| {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/sigv4.json")).unwrap();
        [
            "stream-signed-8k-chunks",
            "stream-signed-trailer-crc32",
            "stream-unsigned-trailer-crc64nvme",
        ]
        .iter()
        .map(|name| {
            let v = vectors
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == *name)
                .unwrap();
            let r = &v["request"];
            let mut headers = HeaderMap::new();
            for h in r["headers"].as_array().unwrap() {
                let (n, x) = (h[0].as_str().unwrap(), h[1].as_str().unwrap());
                if !n.eq_ignore_ascii_case("content-length") {
                    headers.append(
                        http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                        HeaderValue::from_str(x).unwrap(),
                    );
                }
            }
            let stream = match headers["x-amz-content-sha256"].as_bytes() {
                b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Stream::Signed,
                b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Stream::SignedTrailer,
                _ => Stream::UnsignedTrailer,
            };
            let secret = spec::b64_decode(
                v["credentials"]["secret_access_key"]
                    .as_str()
                    .unwrap()
                    .as_bytes(),
            )
            .unwrap();
            let e = &v["expected"];
            let key = ChunkKey {
                key: v4::signing_key(&secret, "20240501", "us-east-1", "s3"),
                amz_date: v["amz_date"].as_str().unwrap().into(),
                scope: v4::scope("20240501", "us-east-1", "s3"),
                seed: v4::unhex(e["seed_signature"].as_str().unwrap().as_bytes(), 32)
                    .unwrap()
                    .try_into()
                    .unwrap(),
            };
            let rules = v4::Rules {
                trailer: headers
                    .get("x-amz-trailer")
                    .and_then(|t| Checksum::of_header(t.as_bytes())),
                header_checksum: None,
                decoded_length: Some(
                    e["chunks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .fold(0, |n, c| n + c["size"].as_u64().unwrap()),
                ),
            };
            // The decoded body, for the encodings.
            let decoded = match v["streaming"]["decoded_body"]["hex"].as_str() {
                Some(hex) => v4::unhex(hex.as_bytes(), hex.len() / 2).unwrap(),
                None => {
                    let b = &v["streaming"]["decoded_body"];
                    let n = |k: &str| b[k].as_u64().unwrap();
                    (0..n("len"))
                        .map(|i| ((n("mul") * i + n("add")) % 256) as u8)
                        .collect()
                }
            };
            (
                Head {
                    method: Method::from_bytes(r["method"].as_str().unwrap().as_bytes()).unwrap(),
                    uri: Uri::try_from(r["path"].as_str().unwrap()).unwrap(),
                    headers,
                    stream,
                    key,
                    rules,
                },
                decoded,
            )
        })
        .collect()
    })
}

/// A head the harness signs, at [`NOW`], with key `7`.
fn harness_head(stream: Stream, trailer: bool, checksum: Checksum, flags: u8, data: &[u8]) -> Head {
    let mut sign = Sign::of(b"key=7");
    sign.payload = PayloadChoice::Streaming(stream);
    sign.trailer = trailer.then_some(checksum);
    sign.length = if flags & 4 != 0 {
        None
    } else if flags & 8 != 0 {
        let n = data.len() as u64;
        Some(Some(if flags & 16 != 0 {
            n + 1
        } else {
            n.saturating_sub(1)
        }))
    } else {
        Some(None)
    };
    let request = http::Request::put("/b/stream")
        .header("host", "127.0.0.1:9000")
        .header("content-encoding", "aws-chunked")
        .body(())
        .unwrap();
    let (mut parts, ()) = request.into_parts();
    let header_checksum = (flags & 32 != 0).then(|| {
        let mut over = data.to_vec();
        if flags & 64 != 0 {
            over.push(b'!');
        }
        (checksum, checksum.value(&over))
    });
    if let Some((c, value)) = &header_checksum {
        parts
            .headers
            .insert(c.header(), HeaderValue::from_str(value).unwrap());
    }
    let key = sigv4_server::sign_request(&mut parts, data, &sign, NOW).expect("a header");
    let decoded_length = parts
        .headers
        .get("x-amz-decoded-content-length")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    Head {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        stream,
        key,
        rules: v4::Rules {
            trailer: sign.trailer.filter(|_| stream != Stream::Signed),
            header_checksum: header_checksum.map(|(c, v)| (c, v.into_bytes())),
            decoded_length,
        },
    }
}

fn settings() -> &'static (Opts, Config) {
    static OPTS: OnceLock<(Opts, Config)> = OnceLock::new();
    OPTS.get_or_init(|| {
        let config = Config {
            lenient_clock: true,
            no_replay_protection: true,
            ..Config::default()
        };
        (Opts::of(b"lenient", &config), config)
    })
}

/// Runs one input, checking every property; the verdict (status and
/// code), unless the input is too short to say anything.
pub fn run(data: &[u8]) -> Option<(http::StatusCode, Option<String>)> {
    let [head_byte, flags, encoding, n, rest @ ..] = data else {
        return None;
    };
    let n = usize::from(*n % 17);
    if rest.len() < 2 * n {
        return None;
    }
    let (cut_bytes, payload) = rest.split_at(2 * n);
    let cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
        .collect();
    let (mode, vector) = (head_byte & 3, head_byte & 4 != 0);
    let checksum = Checksum::ALL[usize::from(head_byte >> 3 & 7) % 5];
    let uppercase = head_byte & 64 != 0;
    let version = if head_byte & 128 != 0 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let encoding = encoding % 3;
    let (edit, payload) = match (encoding, payload) {
        (2, [op, a, b, byte, rest @ ..]) => (
            Some((*op, usize::from(u16::from_le_bytes([*a, *b])), *byte)),
            rest,
        ),
        (2, _) => return None,
        _ => (None, payload),
    };
    let chunks: Vec<&[u8]> = payload.split(|&b| b == b'|').collect();
    let intended: Vec<u8> = chunks.concat();

    let stream = match mode {
        0 => Stream::Signed,
        2 => Stream::UnsignedTrailer,
        _ => Stream::SignedTrailer,
    };
    let head = if vector {
        let index = match stream {
            Stream::Signed => 0,
            Stream::SignedTrailer => 1,
            Stream::UnsignedTrailer => 2,
        };
        let (head, _) = &vector_heads()[index];
        Head {
            method: head.method.clone(),
            uri: head.uri.clone(),
            headers: head.headers.clone(),
            stream: head.stream,
            key: head.key.clone(),
            rules: head.rules.clone(),
        }
    } else {
        // The raw wire's data is what the decoder finds in it.
        let data = if encoding == 0 {
            v4::decode(stream, None, &v4::Rules::default(), payload).data
        } else {
            intended.clone()
        };
        harness_head(stream, mode != 3, checksum, *flags, &data)
    };

    let wire: Vec<u8> = if encoding == 0 {
        payload.to_vec()
    } else {
        let trailer_value = {
            let mut over = intended.clone();
            if !vector && flags & 128 != 0 {
                over.push(b'!');
            }
            head.rules.trailer.map(|t| (t.header(), t.value(&over)))
        };
        let mut wire = v4::encode(
            head.stream,
            &head.key,
            &chunks,
            trailer_value.as_ref().map(|(n, v)| (*n, v.as_str())),
            uppercase,
        );
        if let Some((op, at, byte)) = edit {
            let at = at % (wire.len() + 1);
            match op % 4 {
                0 if at < wire.len() => wire[at] ^= byte | 1,
                1 => wire.insert(at, byte),
                2 if at < wire.len() => {
                    wire.remove(at);
                }
                _ => wire.truncate(at),
            }
        }
        wire
    };

    // The independent decoder's verdict.
    let key = head.stream.signed().then_some(&head.key);
    let decoded = v4::decode(head.stream, key, &head.rules, &wire);
    let expected = decoded.verdict.code();

    let (opts, _) = settings();
    thread_local! {
        static APP: App = {
            let (opts, config) = settings();
            opts.app(*config)
        };
    }
    let pieces_of = |cuts: &[usize]| {
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(wire.len())).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for c in cuts {
            pieces.push(wire[from..c].to_vec());
            from = c;
        }
        pieces.push(wire[from..].to_vec());
        pieces
    };
    let splits = [
        vec![wire.clone()],
        pieces_of(&cuts),
        wire.chunks(1 + wire.len() / 32)
            .map(<[u8]>::to_vec)
            .collect(),
    ];
    let exact = !vector && flags & 1 != 0;
    let mut verdicts = Vec::new();
    for pieces in splits {
        let mut steps = Vec::new();
        for piece in pieces {
            if flags & 2 != 0 {
                steps.push(Step::Yield);
            }
            steps.push(Step::Data(Bytes::from(piece)));
        }
        let hint = if exact { Hint::Exact } else { Hint::Unknown };
        let mut headers = head.headers.clone();
        if hint == Hint::Unknown && version == Version::HTTP_11 {
            headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        }
        let request = Wire {
            method: head.method.clone(),
            uri: head.uri.clone(),
            version,
            headers,
            steps,
            hint,
            ends_early: false,
        };
        let exchange = APP.with(|app| {
            let exchange = server::send(app, &request, Handler::ReadAllVerify);
            sigv4_server::check(
                app,
                opts,
                &request,
                Handler::ReadAllVerify,
                &exchange,
                true,
                &mut Vec::new(),
            );
            exchange
        });
        let mut limit = decoded.data.clone();
        limit.extend_from_slice(&decoded.pending);
        assert!(
            limit.starts_with(&exchange.record.read),
            "the handler read {:?}, more than {:?}",
            String::from_utf8_lossy(&exchange.record.read),
            String::from_utf8_lossy(&limit)
        );
        let code = exchange.code();
        assert_eq!(
            code.as_deref(),
            expected,
            "wire {:?}, decoded {decoded:?}: {exchange:?}",
            String::from_utf8_lossy(&wire)
        );
        if expected.is_none() {
            assert!(exchange.status.is_success(), "{exchange:?}");
            assert!(exchange.record.read == decoded.data, "the decoded data");
        }
        verdicts.push((
            exchange.status,
            code,
            expected.is_none().then_some(exchange.record.read),
        ));
    }
    assert!(
        verdicts.windows(2).all(|w| w[0] == w[1]),
        "the verdict depends on the frame boundaries: {verdicts:?}"
    );
    verdicts.pop().map(|(status, code, _)| (status, code))
}
