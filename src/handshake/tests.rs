//! Rust against Rust, in memory. Python interop and hostile peers are in
//! `tests/handshake.rs`.

use std::time::Duration;

use tokio::io::{duplex, AsyncReadExt as _};

use super::*;

fn handshake(byte: u8) -> Handshake {
    Handshake::new(AuthKey::new(vec![byte; 32]).unwrap())
}

#[tokio::test]
async fn same_key_both_ways() {
    let (a, b) = duplex(1 << 20);
    let (one, other) = (handshake(1), handshake(1));
    let (server, client) = tokio::join!(one.accept(a), other.connect(b));
    let (mut server, mut client) = (server.unwrap(), client.unwrap());
    assert_eq!((server.form(), client.form()), (Form::Modern, Form::Modern));
    client.send_bytes(b"").await.unwrap();
    server.send_bytes(&[9; 70_000]).await.unwrap();
    assert_eq!(server.recv_bytes().await.unwrap().unwrap(), b"");
    assert_eq!(client.recv_bytes().await.unwrap().unwrap(), vec![9; 70_000]);
}

#[tokio::test]
async fn wrong_key_fails_on_both_sides() {
    let (a, b) = duplex(1024);
    let (one, other) = (handshake(1), handshake(2));
    let (server, client) = tokio::join!(one.accept(a), other.connect(b));
    // The connecting side answers first, so the accepting side catches it.
    assert!(
        matches!(server, Err(HandshakeError::WrongDigest)),
        "{server:?}"
    );
    assert!(
        matches!(client, Err(HandshakeError::Rejected)),
        "{client:?}"
    );
}

#[tokio::test]
async fn two_accepting_sides_do_not_authenticate_each_other() {
    let (a, b) = duplex(1024);
    let (one, other) = (handshake(1), handshake(1));
    let (x, y) = tokio::join!(one.accept(a), other.accept(b));
    // Each reads the other's challenge where it expects a reply.
    assert!(matches!(x, Err(HandshakeError::UnsupportedDigest)), "{x:?}");
    assert!(matches!(y, Err(HandshakeError::UnsupportedDigest)), "{y:?}");
}

#[tokio::test]
async fn a_silent_peer_times_out() {
    let (a, _b) = duplex(1024);
    let started = std::time::Instant::now();
    let result = handshake(1)
        .timeout(Duration::from_millis(50))
        .connect(a)
        .await;
    assert!(
        matches!(result, Err(HandshakeError::Timeout(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_challenge_is_what_python_expects() {
    let (a, mut b) = duplex(1024);
    tokio::spawn(async move { handshake(1).accept(a).await });
    let mut wire = [0; 4 + 11 + 8 + 40];
    b.read_exact(&mut wire).await.unwrap();
    assert_eq!(&wire[..4], &59u32.to_be_bytes());
    assert_eq!(&wire[4..23], b"#CHALLENGE#{sha256}");
}

#[test]
fn errors_say_what_happened() {
    assert_eq!(
        HandshakeError::from(FrameError::TooLarge { len: 300, max: 256 }).to_string(),
        "handshake: a message of 300 bytes is over the limit of 256"
    );
    assert_eq!(
        HandshakeError::ChallengeTooShort { len: 3 }.to_string(),
        "handshake: the peer's challenge has 3 bytes, fewer than 20"
    );
}

// The handshake and HTTP signing may share a key (`AuthKey` and `Secret`
// from the same base64). That is safe only because neither side will ever
// compute, for a peer, an HMAC-SHA256 over a message the other accepts:
// the handshake answers only challenges that start with `{sha256}` (or the
// legacy 20-byte form, answered with HMAC-MD5), and every string-to-sign
// starts with `HMAC-SHA256\n`. These tests pin both halves.

/// Strings-to-sign of assorted requests, as a signer or verifier builds them.
pub(crate) fn strings_to_sign() -> Vec<Vec<u8>> {
    use crate::{schemes::hmac_sha256::CanonicalRequest, BodyDigest, SignedHeaders};
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "h".parse().unwrap());
    headers.insert("content-type", "{sha256}".parse().unwrap());
    let mut all = Vec::new();
    for (key_id, method, target) in [
        ("7", http::Method::GET, "/"),
        ("k", http::Method::POST, "/x?a=1"),
        ("{sha256}", http::Method::PUT, "/{sha256}"),
    ] {
        let Ok(key_id) = key_id.parse() else { continue };
        for signed in [
            SignedHeaders::new([http::header::HOST]),
            SignedHeaders::new([http::header::CONTENT_TYPE, http::header::HOST]),
        ] {
            let canonical = CanonicalRequest::new(
                &key_id,
                0,
                &"AAAAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
                &signed,
                &method,
                &target.parse().unwrap(),
                &headers,
            );
            all.push(canonical.string_to_sign(&BodyDigest::EMPTY));
        }
    }
    all
}

#[test]
fn no_string_to_sign_can_be_a_handshake_challenge_or_reply() {
    assert_eq!(crate::schemes::hmac_sha256::SCHEME, "HMAC-SHA256");
    let texts = strings_to_sign();
    assert!(texts.len() >= 4);
    for text in texts {
        assert!(text.starts_with(b"HMAC-SHA256\n"));
        // Not a modern challenge or reply, nor a whole handshake message...
        for prefix in [&b"{"[..], b"#CHALLENGE#", b"#WELCOME#", b"#FAILURE#"] {
            assert!(!text.starts_with(prefix));
        }
        // ...nor the length of a legacy one.
        assert!(text.len() > modern::LEGACY_CHALLENGE_LEN);
    }
}

/// Plays an accepting peer that sends `challenge`; returns what the
/// connecting side then answered (every byte, until it hung up) and its result.
async fn answer_to(
    handshake: Handshake,
    challenge: &[u8],
) -> (
    Vec<u8>,
    Result<Connection<tokio::io::DuplexStream>, HandshakeError>,
) {
    use tokio::io::AsyncWriteExt as _;
    let (ours, mut theirs) = duplex(4096);
    let client = tokio::spawn(async move { handshake.connect(ours).await });
    let message = [modern::CHALLENGE, challenge].concat();
    theirs
        .write_all(&u32::try_from(message.len()).unwrap().to_be_bytes())
        .await
        .unwrap();
    theirs.write_all(&message).await.unwrap();
    let result = client.await.unwrap();
    let mut answered = Vec::new();
    if result.is_err() {
        // The failed side dropped its stream: read to its end.
        theirs.read_to_end(&mut answered).await.unwrap();
    }
    (answered, result)
}

#[tokio::test]
async fn a_challenge_shaped_like_a_string_to_sign_is_never_answered_with_its_hmac() {
    let key = [7u8; 32];
    let secret = crate::Secret::new(key.to_vec()).unwrap();
    let mut challenges = strings_to_sign();
    // And one of the legacy length, which a legacy peer answers with HMAC-MD5.
    challenges.push(b"HMAC-SHA256\n7\n0\nAAAA".to_vec());
    // Short: a legacy answer waits for a verdict that never comes.
    let plain =
        Handshake::new(AuthKey::new(key.to_vec()).unwrap()).timeout(Duration::from_millis(300));
    #[cfg(feature = "handshake-legacy")]
    let handshakes = [plain.clone(), plain.allow_legacy(true)];
    #[cfg(not(feature = "handshake-legacy"))]
    let handshakes = [plain];
    for handshake in handshakes {
        for challenge in &challenges {
            let (answered, result) = answer_to(handshake.clone(), challenge).await;
            let http_signature = secret.mac(&[challenge]);
            assert!(
                !answered
                    .windows(http_signature.len())
                    .any(|w| w == http_signature),
                "the handshake signed a string-to-sign"
            );
            if challenge.len() == modern::LEGACY_CHALLENGE_LEN {
                // Refused, or answered with HMAC-MD5 (16 bytes) and then refused for lack of a verdict.
                assert!(result.is_err(), "{result:?}");
            } else {
                assert!(
                    matches!(result, Err(HandshakeError::UnsupportedDigest)),
                    "{result:?}"
                );
                assert!(answered.is_empty(), "answered {answered:?}");
            }
        }
    }
}
