//! Signed chunks (PROTOCOL §4.6) through the server. The head is the test
//! vector `chunked-three`'s (`tests/vectors/chunked.json`), signed by
//! `Signer::sign_chunked_at`; the input is
//! `[mode] [flags] [n] [n cuts, u16 LE] [payload]`:
//! - mode 0: the payload is the body's wire bytes, as they are;
//! - mode 1: the payload is chunks separated by `|`, framed with the
//!   crate's public `chunk_signature` and `chunk_header`;
//! - mode 2: the same chunks as frames of a body that `Signer::sign_chunked`
//!   frames itself;
//! - flags: bit 0, an exact length; bit 1, a pending poll before each
//!   frame; bit 2, HTTP/2 (else HTTP/1.1, whose body of unknown length
//!   comes with `Transfer-Encoding: chunked`, as hyper hands it on);
//!   bit 3, signed with `BLAKE3-KEYED` (PROTOCOL §9), which the layer
//!   accepts beside `HMAC-SHA256`.
//!
//! Properties:
//! - both encoders give exactly the bytes of PROTOCOL §4.6 (`spec`);
//! - the verdict is the same whatever the frame boundaries: one frame, the
//!   input's cuts, small pieces (a byte each for up to 32 bytes);
//! - it is the verdict of the independent decoder: a valid encoding is
//!   accepted and decodes to exactly its data; a bad signature is
//!   `invalid_signature`, broken framing `malformed_chunked_body`, a body
//!   cut short `body_incomplete`;
//! - the handler never holds more than one chunk of unchecked data.
#![no_main]

use bytes::Bytes;
use http_body_util::BodyExt as _;
use libfuzzer_sys::fuzz_target;
use tower_hmac::{
    schemes::hmac_sha256::{chunk_header, chunk_signature},
    BodyDigest, Nonce, Signer,
};
use tower_hmac_fuzz::{
    server::{self, App, Config, Handler, Hint, ScriptBody, Step, Wire},
    spec,
};

const TIME: u64 = 1_700_000_120;
const NONCE: &str = "ICEiIyQlJicoKSorLC0uLw";

fn head(signer: &Signer) -> (http::request::Parts, [u8; 32]) {
    let request = http::Request::put("/v1/objects/log.txt")
        .header("host", "api.example.com")
        .header("content-type", "text/plain")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let signed = signer
        .sign_chunked_at(request, TIME, Nonce::new(NONCE).unwrap())
        .unwrap();
    let (parts, _) = signed.into_parts();
    let seed = spec::parse_authorization_any(parts.headers["authorization"].as_bytes())
        .expect("the signer's header")
        .signature;
    (parts, seed)
}

fuzz_target!(|data: &[u8]| {
    let [mode, flags, n, rest @ ..] = data else {
        return;
    };
    let n = usize::from(*n % 17);
    if rest.len() < 2 * n {
        return;
    }
    let (cut_bytes, payload) = rest.split_at(2 * n);
    let cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
        .collect();

    let (algorithm, alg) = tower_hmac_fuzz::ALGORITHMS[usize::from(flags & 8 != 0)];
    let secret = server::secret(server::SECRET_CLIENT_1);
    let signer =
        Signer::new(server::CLIENT_1.parse().unwrap(), secret.clone()).algorithm(algorithm);
    let (parts, seed) = head(&signer);
    let chunks: Vec<&[u8]> = payload
        .split(|&b| b == b'|')
        .filter(|c| !c.is_empty())
        .collect();

    let wire: Vec<u8> = match mode % 3 {
        0 => payload.to_vec(),
        1 => {
            let mut previous = seed;
            let mut wire = Vec::new();
            for chunk in chunks.iter().copied().chain([&b""[..]]) {
                previous = chunk_signature(
                    &secret,
                    &previous,
                    &BodyDigest::for_algorithm(algorithm, chunk),
                );
                wire.extend_from_slice(&chunk_header(chunk.len() as u64, &previous));
                wire.extend_from_slice(chunk);
                wire.extend_from_slice(b"\r\n");
            }
            assert_eq!(
                wire,
                spec::encode_chunks(alg, server::SECRET_CLIENT_1, &seed, &chunks),
                "chunk_header/chunk_signature"
            );
            wire
        }
        _ => {
            let frames: Vec<Step> = payload
                .split(|&b| b == b'|')
                .map(|c| Step::Data(Bytes::copy_from_slice(c)))
                .collect();
            let request = http::Request::put("/v1/objects/log.txt")
                .header("host", "api.example.com")
                .header("content-type", "text/plain")
                .body(ScriptBody::new(frames, Hint::Unknown, false))
                .unwrap();
            let request = signer
                .sign_chunked_at(request, TIME, Nonce::new(NONCE).unwrap())
                .unwrap();
            assert_eq!(
                request.headers()["authorization"],
                parts.headers["authorization"]
            );
            let wire = tower_hmac_fuzz::block_on(request.into_body().collect())
                .expect("the frames do not fail")
                .to_bytes()
                .to_vec();
            assert_eq!(
                wire,
                spec::encode_chunks(alg, server::SECRET_CLIENT_1, &seed, &chunks),
                "Signer::sign_chunked"
            );
            wire
        }
    };

    // The independent decoder's verdict.
    let decoded = spec::decode_chunks(alg, server::SECRET_CLIENT_1, &seed, &wire);
    let expected = match decoded.verdict {
        spec::ChunkVerdict::Complete => None,
        spec::ChunkVerdict::BadSignature => Some("invalid_signature"),
        spec::ChunkVerdict::Malformed => Some("malformed_chunked_body"),
        spec::ChunkVerdict::Incomplete => Some("body_incomplete"),
    };

    // Without replay protection the app keeps no state: one serves all
    // inputs, of both algorithms.
    thread_local! {
        static APP: App = App::new(Config {
            lenient_clock: true,
            no_replay_protection: true,
            blake3: true,
            ..Config::default()
        });
    }
    let cut = |cuts: &[usize]| {
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
        cut(&cuts),
        // Small pieces: a byte each for a short body, at most 33 otherwise.
        wire.chunks(1 + wire.len() / 32)
            .map(<[u8]>::to_vec)
            .collect(),
    ];
    let mut verdicts = Vec::new();
    for pieces in splits {
        let mut steps = Vec::new();
        for piece in pieces {
            if flags & 2 != 0 {
                steps.push(Step::Yield);
            }
            steps.push(Step::Data(Bytes::from(piece)));
        }
        let hint = if flags & 1 != 0 {
            Hint::Exact
        } else {
            Hint::Unknown
        };
        let version = if flags & 4 != 0 {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
        let mut headers = parts.headers.clone();
        if hint == Hint::Unknown && version == http::Version::HTTP_11 {
            headers.insert(
                http::header::TRANSFER_ENCODING,
                http::HeaderValue::from_static("chunked"),
            );
        }
        let request = Wire {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version,
            headers,
            steps,
            hint,
            ends_early: false,
        };
        let exchange = APP.with(|app| {
            let exchange = server::send(app, &request, Handler::ReadAllVerify);
            server::check(
                app,
                &request,
                Handler::ReadAllVerify,
                &exchange,
                true,
                &mut Vec::new(),
            );
            exchange
        });
        // The handler read a prefix of the checked data and at most one
        // chunk of unchecked data.
        let mut limit = decoded.verified.clone();
        limit.extend_from_slice(&decoded.pending);
        assert!(
            limit.starts_with(&exchange.record.read),
            "the handler read {:?}, more than {limit:?}",
            String::from_utf8_lossy(&exchange.record.read)
        );
        let code = exchange.code();
        assert_eq!(
            code.as_deref(),
            expected,
            "wire {:?}, decoded {decoded:?}: {exchange:?}",
            String::from_utf8_lossy(&wire)
        );
        if expected.is_none() {
            assert!(exchange.status.is_success());
            assert_eq!(exchange.record.read, decoded.verified, "the decoded data");
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
});
