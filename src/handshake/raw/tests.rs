//! Rust against Rust, in memory. The recipes' own Go and Python programs,
//! and hostile peers over TCP, are in `tests/handshake_raw.rs`.

use std::time::Duration;

use tokio::io::{duplex, AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

use super::*;

fn key(byte: u8) -> AuthKey {
    AuthKey::new(vec![byte; 32]).unwrap()
}

fn cookbook(byte: u8) -> RawHandshake {
    RawHandshake::new(key(byte), Recipe::cookbook(Digest::Sha256))
        .timeout(Duration::from_millis(300))
}

/// Every recipe this build can run, allowed.
fn recipes() -> Vec<Recipe> {
    #[allow(unused_mut)] // without handshake-legacy
    let mut all = vec![
        Recipe::cookbook(Digest::Sha256),
        Recipe::new(16, Alphabet::ALPHANUMERIC, Digest::Sha256).unwrap(),
    ];
    #[cfg(feature = "handshake-legacy")]
    all.extend([Recipe::go(), Recipe::cookbook(Digest::Md5)]);
    all
}

fn allowed(raw: RawHandshake) -> RawHandshake {
    #[cfg(feature = "handshake-legacy")]
    let raw = raw.allow_legacy(true);
    raw
}

#[tokio::test]
async fn both_sides_agree_and_hand_the_stream_back() {
    for recipe in recipes() {
        let raw = allowed(RawHandshake::new(key(1), recipe.clone()));
        let (a, b) = duplex(4096);
        let (server, client) = tokio::join!(raw.accept(a), raw.connect(b));
        let (server, client) = (server.unwrap(), client.unwrap());
        assert_eq!(server.digest(), recipe.digest());
        assert_eq!(client.digest(), recipe.digest());
        let (mut server, mut client) = (server.into_inner(), client.into_inner());
        client.write_all(b"after").await.unwrap();
        let mut got = [0; 5];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"after", "{recipe:?}");
    }
}

#[tokio::test]
async fn a_wrong_key_is_seen_only_by_the_accepting_side() {
    let (a, b) = duplex(4096);
    let (one, other) = (cookbook(1), cookbook(2));
    let (server, client) = tokio::join!(one.accept(a), other.connect(b));
    assert!(
        matches!(server, Err(RawHandshakeError::WrongDigest)),
        "{server:?}"
    );
    // No verdict: the client has answered, and then finds the stream closed.
    let mut client = client.unwrap().into_inner();
    assert_eq!(client.read(&mut [0; 8]).await.unwrap(), 0);
}

/// What the accepting side wrote, all of it, once `answer` came back.
async fn accept_facing(raw: RawHandshake, answer: &[u8]) -> (Vec<u8>, Result<(), String>) {
    let (ours, mut theirs) = duplex(4096);
    let server = tokio::spawn(async move {
        raw.accept(ours)
            .await
            .map(|s| drop(s.into_inner()))
            .map_err(|e| format!("{e:?}"))
    });
    theirs.write_all(answer).await.unwrap();
    let result = server.await.unwrap();
    let mut written = Vec::new();
    theirs.read_to_end(&mut written).await.unwrap();
    (written, result)
}

#[tokio::test]
async fn the_accepting_side_writes_the_challenge_and_nothing_else() {
    for recipe in recipes() {
        for answer in [&[][..], &[0; 8], &[0; 64]] {
            let raw = allowed(RawHandshake::new(key(1), recipe.clone()))
                .timeout(Duration::from_millis(100));
            let (written, result) = accept_facing(raw, answer).await;
            assert!(result.is_err());
            assert_eq!(written.len(), recipe.challenge_len(), "{recipe:?}");
            assert!(written.iter().all(|&b| recipe.alphabet().contains(b)));
        }
    }
}

#[tokio::test]
async fn answers_short_long_and_split() {
    let (_, result) = accept_facing(cookbook(1), &[0; 10]).await;
    assert_eq!(result.unwrap_err(), "Timeout(300ms)");

    // Closed after 10 bytes.
    let (ours, mut theirs) = duplex(4096);
    let server = tokio::spawn(async move { cookbook(1).accept(ours).await });
    let mut challenge = [0; 32];
    theirs.read_exact(&mut challenge).await.unwrap();
    theirs.write_all(&[0; 10]).await.unwrap();
    drop(theirs);
    assert!(matches!(
        server.await.unwrap(),
        Err(RawHandshakeError::Truncated {
            received: 10,
            expected: 32
        })
    ));

    // A right answer in three pieces, then data: accepted, the data left unread.
    let (ours, mut theirs) = duplex(4096);
    let server = tokio::spawn(async move { cookbook(1).accept(ours).await });
    let mut challenge = [0; 32];
    theirs.read_exact(&mut challenge).await.unwrap();
    let answer = Digest::Sha256.mac(&key(1), &challenge);
    for piece in [&answer[..1], &answer[1..20], &answer[20..]] {
        theirs.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    theirs.write_all(b"data").await.unwrap();
    let mut stream = server.await.unwrap().unwrap().into_inner();
    let mut data = [0; 4];
    stream.read_exact(&mut data).await.unwrap();
    assert_eq!(&data, b"data");
}

/// Plays a server that sends `challenge`; returns our client's result and
/// every byte it wrote before hanging up.
async fn connect_facing(
    raw: RawHandshake,
    challenge: &[u8],
) -> (Result<Answered<DuplexStream>, RawHandshakeError>, Vec<u8>) {
    let (ours, mut theirs) = duplex(4096);
    theirs.write_all(challenge).await.unwrap();
    let result = raw.connect(ours).await;
    let mut written = Vec::new();
    if result.is_err() {
        theirs.read_to_end(&mut written).await.unwrap();
    } else {
        // The answer, and nothing after it.
        let mut answer = vec![0; raw.recipe().answer_len()];
        theirs.read_exact(&mut answer).await.unwrap();
        written = answer;
    }
    (result, written)
}

#[tokio::test]
async fn the_connecting_side_answers_once_and_reads_nothing_past_the_challenge() {
    let challenge = [7u8; 32];
    let mut sent = challenge.to_vec();
    sent.extend_from_slice(&[9; 100]); // a second "challenge", as a Go recipe client would see it
    let (result, written) = connect_facing(cookbook(1), &sent).await;
    assert_eq!(written, Digest::Sha256.mac(&key(1), &challenge));
    let mut rest = result.unwrap().into_inner();
    let mut next = [0; 100];
    rest.read_exact(&mut next).await.unwrap();
    assert_eq!(next, [9; 100]);
}

#[tokio::test]
async fn the_connecting_side_refuses_challenges_outside_the_alphabet() {
    let raw = RawHandshake::new(
        key(1),
        Recipe::new(16, Alphabet::ALPHANUMERIC, Digest::Sha256).unwrap(),
    );
    let (result, written) = connect_facing(raw, b"0123456789abcd-f").await;
    assert!(
        matches!(result, Err(RawHandshakeError::NotInAlphabet { at: 14 })),
        "{result:?}"
    );
    assert!(written.is_empty());
}

#[cfg(feature = "handshake-legacy")]
#[tokio::test]
async fn md5_needs_allow_legacy_on_both_sides() {
    for recipe in [Recipe::go(), Recipe::cookbook(Digest::Md5)] {
        let raw = RawHandshake::new(key(1), recipe);
        let (written, result) = accept_facing(raw.clone(), b"").await;
        assert_eq!(result.unwrap_err(), "LegacyNotAllowed");
        assert!(written.is_empty(), "nothing is sent");
        let (result, written) = connect_facing(raw, &[b'a'; 32]).await;
        assert!(matches!(result, Err(RawHandshakeError::LegacyNotAllowed)));
        assert!(written.is_empty());
    }
}

#[cfg(feature = "handshake-legacy")]
#[test]
fn md5_answers_match_python() {
    // hmac.new(b"k" * 32, b"0123456789ABCDEF", "md5").hexdigest()
    let key = AuthKey::new(vec![b'k'; 32]).unwrap();
    let mac = Digest::Md5.mac(&key, b"0123456789ABCDEF");
    assert_eq!(hex(&mac), "779261d041aa0cc93c8f21481625d944");
}

#[test]
fn sha256_answers_match_python() {
    // hmac.new(b"k" * 32, bytes(range(32)), "sha256").hexdigest()
    let key = AuthKey::new(vec![b'k'; 32]).unwrap();
    let mac = Digest::Sha256.mac(&key, &(0..32).collect::<Vec<u8>>());
    assert_eq!(
        hex(&mac),
        "3a2b3d5506b39b7c2c45dbded82e976165d31ed12af2defd39e6b952716b917e"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn recipes_are_bounded() {
    assert!(Recipe::new(256, Alphabet::BYTES, Digest::Sha256).is_ok());
    assert_eq!(
        Recipe::new(257, Alphabet::BYTES, Digest::Sha256).unwrap_err(),
        InvalidRecipe::ChallengeTooLong { len: 257, max: 256 }
    );
    assert!(Recipe::new(10, Alphabet::BYTES, Digest::Sha256).is_ok()); // 80 bits
    assert_eq!(
        Recipe::new(13, Alphabet::ALPHANUMERIC, Digest::Sha256).unwrap_err(),
        InvalidRecipe::TooGuessable { bits: 77, min: 80 }
    );
    assert_eq!(
        Alphabet::new(vec![b'x']).unwrap_err(),
        InvalidRecipe::TooFewSymbols(1)
    );
    assert_eq!(
        Alphabet::new((0..=255).collect::<Vec<u8>>()).unwrap(),
        Alphabet::BYTES
    );
    assert_eq!(
        format!("{:?}", Recipe::cookbook(Digest::Sha256)),
        "Recipe { challenge_len: 32, alphabet: Alphabet::BYTES, digest: Sha256 }"
    );
}

#[test]
fn challenges_are_fresh_and_uniform_over_the_alphabet() {
    let recipe = Recipe::new(256, Alphabet::ALPHANUMERIC, Digest::Sha256).unwrap();
    let mut counts = [0u32; 256];
    let rounds = 400; // 102,400 symbols, about 1,650 of each
    let mut previous = Vec::new();
    for _ in 0..rounds {
        let challenge = recipe.new_challenge().unwrap();
        assert_ne!(challenge, previous);
        for &b in &challenge {
            counts[usize::from(b)] += 1;
        }
        previous = challenge;
    }
    let expected = f64::from(rounds * 256) / 62.0;
    for (byte, &count) in counts.iter().enumerate() {
        let byte = u8::try_from(byte).unwrap();
        if Alphabet::ALPHANUMERIC.contains(byte) {
            // Far beyond chance (±6 standard deviations of about 40).
            assert!(
                (f64::from(count) - expected).abs() < 250.0,
                "{:?}: {count}",
                byte as char
            );
        } else {
            assert_eq!(count, 0);
        }
    }
}

// The key of the raw recipes may be the key of HTTP signing and of the
// `multiprocessing` handshake (module docs, "Sharing a key"). These pin the
// two halves: we never send a challenge that the other uses sign, and we
// never answer one.

/// Everything the other uses of a key sign with HMAC-SHA256.
fn other_signed_messages() -> Vec<Vec<u8>> {
    let mut all = crate::handshake::tests::strings_to_sign();
    // What `chunk_signature` signs, checked against it.
    let secret = crate::Secret::new(vec![7; 32]).unwrap();
    let (previous, data) = ([1u8; 32], crate::BodyDigest::EMPTY);
    let chunk = [
        &b"HMAC-SHA256-CHUNK\n"[..],
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, previous).as_bytes(),
        b"\n",
        &data.hex_bytes(),
    ]
    .concat();
    assert_eq!(
        secret.mac(&[&chunk]),
        crate::schemes::hmac_sha256::chunk_signature(&secret, &previous, &data)
    );
    all.push(chunk);
    // A `multiprocessing` challenge, after `#CHALLENGE#`.
    all.push([&b"{sha256}"[..], &[0; 40]].concat());
    all
}

#[test]
fn the_reserved_prefixes_are_what_the_other_uses_sign() {
    assert_eq!(recipe::RESERVED_PREFIXES[0], "HMAC-SHA256");
    for message in other_signed_messages() {
        assert!(
            recipe::RESERVED_PREFIXES
                .iter()
                .any(|p| message.starts_with(p.as_bytes())),
            "{:?}",
            String::from_utf8_lossy(&message)
        );
        // Not one is alphanumeric, so the Go recipe could never send or answer it.
        assert!(!message.iter().all(|&b| Alphabet::ALPHANUMERIC.contains(b)));
    }
}

#[tokio::test]
async fn a_challenge_that_another_use_signs_is_never_answered() {
    let key_bytes = [7u8; 32];
    let secret = crate::Secret::new(key_bytes.to_vec()).unwrap();
    for message in other_signed_messages() {
        let len = message.len().min(Recipe::MAX_CHALLENGE_LEN);
        let challenge = &message[..len];
        #[allow(unused_mut)] // without handshake-legacy
        let mut recipes = vec![
            Recipe::new(len, Alphabet::BYTES, Digest::Sha256).unwrap(),
            Recipe::new(len.max(16), Alphabet::ALPHANUMERIC, Digest::Sha256).unwrap(),
        ];
        #[cfg(feature = "handshake-legacy")]
        recipes.push(Recipe::new(len, Alphabet::BYTES, Digest::Md5).unwrap());
        for recipe in recipes {
            let raw = allowed(RawHandshake::new(
                AuthKey::new(key_bytes.to_vec()).unwrap(),
                recipe.clone(),
            ))
            .timeout(Duration::from_millis(100));
            let (result, written) = connect_facing(raw, challenge).await;
            assert!(written.is_empty(), "answered {recipe:?}");
            assert!(
                matches!(
                    result,
                    Err(RawHandshakeError::ReservedChallenge { .. }
                        | RawHandshakeError::NotInAlphabet { .. }
                        | RawHandshakeError::Truncated { .. })
                ),
                "{recipe:?}: {result:?}"
            );
            if recipe.alphabet() == &Alphabet::BYTES {
                assert!(matches!(
                    result,
                    Err(RawHandshakeError::ReservedChallenge { .. })
                ));
            }
            // And certainly never with the HTTP signature of it.
            let signature = secret.mac(&[challenge]);
            assert!(!written.windows(32).any(|w| w == signature));
        }
    }
}

#[test]
fn our_challenges_never_start_with_a_reserved_prefix() {
    // Alphanumeric ones cannot; random ones are redrawn (`new_challenge`).
    let recipe = Recipe::cookbook(Digest::Sha256);
    for _ in 0..1000 {
        let challenge = recipe.new_challenge().unwrap();
        assert!(recipe.check_challenge(&challenge).is_ok());
    }
    assert!(matches!(
        recipe.check_challenge(b"{sha256}0123456789abcdef01234567"),
        Err(RawHandshakeError::ReservedChallenge { prefix: "{sha256}" })
    ));
    assert!(matches!(
        recipe.check_challenge(b"HMAC-SHA256\n0123456789abcdef0123"),
        Err(RawHandshakeError::ReservedChallenge {
            prefix: "HMAC-SHA256"
        })
    ));
}

#[tokio::test]
async fn a_silent_peer_times_out_on_either_side() {
    for accepting in [true, false] {
        let (a, _b) = duplex(1024);
        let started = std::time::Instant::now();
        let raw = cookbook(1).timeout(Duration::from_millis(50));
        let result = if accepting {
            raw.accept(a).await.map(drop)
        } else {
            raw.connect(a).await.map(drop)
        };
        assert!(
            matches!(result, Err(RawHandshakeError::Timeout(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn errors_say_what_happened() {
    assert_eq!(
        RawHandshakeError::Truncated {
            received: 3,
            expected: 16
        }
        .to_string(),
        "raw handshake: the peer closed the connection after 3 of 16 bytes"
    );
    assert_eq!(
        InvalidRecipe::TooGuessable { bits: 64, min: 80 }.to_string(),
        "a challenge of 64 random bits is too guessable (at least 80)"
    );
}
