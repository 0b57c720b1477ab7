//! The handshake (feature `handshake`) over an in-memory duplex stream,
//! with the clock paused:
//! - `accept` and `connect` fed arbitrary bytes (in arbitrary pieces) as
//!   the peer's side, with and without the legacy form allowed: never a
//!   panic, a hang or a success (the peer cannot answer a random challenge);
//! - a peer that holds the key, written from the protocol (ring's HMAC,
//!   `spec` framing), maybe making one mistake: the handshake succeeds
//!   exactly when it makes none, and answers the peer's challenge right;
//!   then arbitrary message bytes, sent in pieces with pauses, read with
//!   `recv_bytes` under a limit, maybe through timeouts that cancel reads
//!   half-way: exactly the messages and the end of `spec::read_frames`,
//!   nothing lost to a cancelled read, and every message echoed back framed
//!   as `spec::frame` frames it.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
use tower_hmac::handshake::{AuthKey, FrameError, Handshake};
use tower_hmac_fuzz::spec;

const KEY: &[u8; 32] = b"fuzz-handshake-key-of-32-bytes!!";

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    WrongMac,
    NoPrefix,
    LegacyLength,
    Oversized,
    ShortChallenge,
    OtherDigest,
    Failure,
    GarbageVerdict,
    CloseEarly,
}

#[derive(Arbitrary, Debug)]
enum Mode {
    Raw {
        accept: bool,
        legacy: bool,
        wire: Vec<u8>,
        pieces: Vec<u8>,
    },
    Peer {
        accept: bool,
        fault: Fault,
        after: Vec<u8>,
        pieces: Vec<u8>,
        max_len: u16,
        cancel: bool,
    },
}

fn handshake(legacy: bool) -> Handshake {
    let handshake =
        Handshake::new(AuthKey::new(KEY.to_vec()).unwrap()).timeout(Duration::from_secs(10));
    handshake.allow_legacy(legacy)
}

/// Writes `wire` in pieces of the given sizes, pausing between them.
async fn trickle(stream: &mut DuplexStream, wire: &[u8], pieces: &[u8], pause: bool) {
    let mut at = 0;
    let mut sizes = pieces.iter().cycle();
    while at < wire.len() {
        let size = sizes.next().map_or(wire.len(), |&s| usize::from(s).max(1));
        let end = (at + size).min(wire.len());
        if stream.write_all(&wire[at..end]).await.is_err() {
            return;
        }
        at = end;
        if pause {
            tokio::time::sleep(Duration::from_millis(2)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

async fn read_frame(stream: &mut DuplexStream) -> Option<Vec<u8>> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.ok()?;
    let len = i32::from_be_bytes(header);
    let mut payload = vec![0; usize::try_from(len).ok()?];
    stream.read_exact(&mut payload).await.ok()?;
    Some(payload)
}

async fn send(stream: &mut DuplexStream, payload: &[u8]) {
    let _ = stream.write_all(&spec::frame(payload)).await;
}

/// The peer's answer to `challenge` (after `#CHALLENGE#`), with `fault`.
fn reply(challenge: &[u8], fault: Fault) -> Vec<u8> {
    let mut mac = spec::hmac_sha256(KEY, challenge).to_vec();
    match fault {
        Fault::WrongMac => mac[7] ^= 1,
        Fault::NoPrefix => return mac,
        Fault::LegacyLength => return mac[..16].to_vec(),
        Fault::Oversized => return vec![b'x'; 257],
        _ => {}
    }
    [b"{sha256}".to_vec(), mac].concat()
}

fn our_challenge(fault: Fault) -> Vec<u8> {
    let mut challenge = b"#CHALLENGE#".to_vec();
    match fault {
        Fault::ShortChallenge => challenge.extend_from_slice(b"{sha256}0123456789a"),
        Fault::OtherDigest => {
            challenge.extend_from_slice(b"{sha512}0123456789abcdef0123456789abcdef")
        }
        _ => {
            challenge.extend_from_slice(b"{sha256}");
            challenge.extend((0..40u8).map(|i| i.wrapping_mul(7)));
        }
    }
    challenge
}

/// Answers the server's challenge; whether it was welcomed.
async fn answer(stream: &mut DuplexStream, fault: Fault) -> bool {
    let challenge = read_frame(stream)
        .await
        .expect("the server sends its challenge");
    let challenge = challenge
        .strip_prefix(b"#CHALLENGE#")
        .expect("a challenge")
        .to_vec();
    assert!(
        challenge.starts_with(b"{sha256}") && challenge.len() == 48,
        "{challenge:?}"
    );
    if fault == Fault::CloseEarly {
        return false;
    }
    send(stream, &reply(&challenge, fault)).await;
    let verdict = read_frame(stream).await;
    let welcome = verdict.as_deref() == Some(b"#WELCOME#");
    assert_eq!(
        welcome,
        !matches!(
            fault,
            Fault::WrongMac | Fault::NoPrefix | Fault::LegacyLength | Fault::Oversized
        ),
        "verdict {verdict:?} on a reply with {fault:?}"
    );
    welcome
}

/// Delivers our challenge and checks the answer; whether we welcomed it.
async fn deliver(stream: &mut DuplexStream, fault: Fault) -> bool {
    let challenge = our_challenge(fault);
    send(stream, &challenge).await;
    let Some(answer) = read_frame(stream).await else {
        return false;
    };
    // The server answers a challenge right, or not at all.
    assert_eq!(
        answer,
        reply(&challenge[11..], Fault::None),
        "a wrong answer to our challenge"
    );
    match fault {
        Fault::Failure => send(stream, b"#FAILURE#").await,
        Fault::GarbageVerdict => send(stream, b"#WELCOME").await,
        _ => send(stream, b"#WELCOME#").await,
    }
    !matches!(fault, Fault::Failure | Fault::GarbageVerdict)
}

/// The peer's half of the handshake; whether it completed it.
async fn peer_handshake(stream: &mut DuplexStream, server_accepts: bool, fault: Fault) -> bool {
    if server_accepts {
        answer(stream, fault).await && deliver(stream, fault).await
    } else {
        deliver(stream, fault).await && answer(stream, fault).await
    }
}

async fn run(mode: Mode) {
    let (ours, mut theirs) = tokio::io::duplex(1 << 16);
    match mode {
        Mode::Raw {
            accept,
            legacy,
            wire,
            pieces,
        } => {
            let handshake = handshake(legacy);
            let server = async move {
                if accept {
                    handshake.accept(ours).await.map(drop)
                } else {
                    handshake.connect(ours).await.map(drop)
                }
            };
            let peer = async move {
                trickle(&mut theirs, &wire, &pieces, false).await;
                let _ = theirs.shutdown().await;
                // Keep the stream open while the server reads.
                let mut sink = Vec::new();
                let _ = theirs.read_to_end(&mut sink).await;
            };
            let (result, ()) = tokio::join!(server, peer);
            assert!(
                result.is_err(),
                "a peer without the key passed the handshake"
            );
        }
        Mode::Peer {
            accept,
            fault,
            after,
            pieces,
            max_len,
            cancel,
        } => {
            let handshake = handshake(false);
            let max = usize::from(max_len);
            let server = async move {
                let connection = if accept {
                    handshake.accept(ours).await
                } else {
                    handshake.connect(ours).await
                };
                let mut connection = match connection {
                    Ok(connection) => connection,
                    Err(error) => return Err(error.to_string()),
                };
                connection.set_max_message_len(max);
                let mut messages = Vec::new();
                let end = loop {
                    let next = if cancel {
                        loop {
                            if let Ok(next) = tokio::time::timeout(
                                Duration::from_millis(1),
                                connection.recv_bytes(),
                            )
                            .await
                            {
                                break next;
                            }
                        }
                    } else {
                        connection.recv_bytes().await
                    };
                    match next {
                        Ok(Some(message)) => {
                            connection
                                .send_bytes(&message)
                                .await
                                .expect("the echo is sent");
                            messages.push(message);
                        }
                        Ok(None) => break spec::FrameEnd::Closed,
                        Err(FrameError::Truncated) => break spec::FrameEnd::Truncated,
                        Err(FrameError::TooLarge { len, max: m }) => {
                            assert_eq!(m, max);
                            break spec::FrameEnd::TooLarge(len);
                        }
                        Err(FrameError::InvalidLength { len }) => {
                            break spec::FrameEnd::InvalidLength(len)
                        }
                        Err(other) => panic!("reading messages failed with {other:?}"),
                    }
                };
                if end != spec::FrameEnd::Closed {
                    // Errors are sticky.
                    assert!(matches!(
                        connection.recv_bytes().await,
                        Err(FrameError::Broken)
                    ));
                }
                let _ = connection.shutdown().await;
                Ok((messages, end))
            };
            let sent = after.clone();
            let peer = async move {
                let completed = peer_handshake(&mut theirs, accept, fault).await;
                let mut echoed = Vec::new();
                if completed {
                    trickle(&mut theirs, &sent, &pieces, true).await;
                }
                let _ = theirs.shutdown().await;
                let _ = theirs.read_to_end(&mut echoed).await;
                (completed, echoed)
            };
            let (result, (completed, echoed)) = tokio::join!(server, peer);
            assert_eq!(
                result.is_ok(),
                fault == Fault::None,
                "{result:?} with {fault:?}"
            );
            assert_eq!(completed, fault == Fault::None);
            if let Ok((messages, end)) = result {
                assert_eq!(
                    (messages.clone(), end),
                    spec::read_frames(&after, max),
                    "messages of {after:?}"
                );
                let (echoes, echo_end) = spec::read_frames(&echoed, usize::MAX);
                assert_eq!(echoes, messages, "the echoes");
                assert_eq!(echo_end, spec::FrameEnd::Closed);
            }
        }
    }
}

fuzz_target!(|mode: Mode| {
    tower_hmac_fuzz::block_on(async {
        tokio::time::timeout(Duration::from_secs(3600), run(mode))
            .await
            .expect("the handshake hangs");
    });
});
