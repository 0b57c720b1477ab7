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
