//! The handshake against real CPython interpreters (3.11 legacy, 3.12 and
//! 3.13 modern: whichever the image has; an absent one is reported as
//! skipped), and against hostile raw peers, all over loopback TCP.

mod handshake_support;

use std::time::Duration;

use handshake_support::{modern_pythons, pythons, read_frame, Peer, Python, KEY, OTHER_KEY, STEP};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    time::timeout,
};
use tower_hmac::handshake::{AuthKey, Connection, Form, FrameError, Handshake, HandshakeError};

/// The handshake under test: legacy allowed whenever it is compiled in.
fn handshake(key: &[u8]) -> Handshake {
    let handshake = Handshake::new(AuthKey::new(key.to_vec()).unwrap());
    #[cfg(feature = "handshake-legacy")]
    let handshake = handshake.allow_legacy(true);
    handshake
}

/// Whether this build can talk to `python` at all.
fn speaks(python: &Python) -> bool {
    !python.legacy() || cfg!(feature = "handshake-legacy")
}

fn expected_form(python: &Python) -> Form {
    if python.legacy() {
        Form::Legacy
    } else {
        Form::Modern
    }
}

async fn recv(conn: &mut Connection<TcpStream>) -> Vec<u8> {
    timeout(STEP, conn.recv_bytes())
        .await
        .unwrap()
        .unwrap()
        .expect("a message")
}

/// Both ways, as `mp_peer.py`'s `converse` expects.
async fn converse(conn: &mut Connection<TcpStream>, python: &Python) {
    let greeting = recv(conn).await;
    let expected = format!("hello from Python {}.", python.version);
    assert!(greeting.starts_with(expected.as_bytes()), "{greeting:?}");
    assert_eq!(recv(conn).await, b"");
    let big = recv(conn).await;
    assert_eq!(big.len(), 70_000);
    assert_eq!(&big[..256], (0..=255).collect::<Vec<u8>>());

    let large: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let messages: [&[u8]; 4] = [b"ping", b"", &[0, 0, 0, 4, 0xff], &large];
    for message in messages {
        conn.send_bytes(message).await.unwrap();
        assert_eq!(recv(conn).await, [b"echo:", message].concat());
    }
    conn.send_bytes(b"bye").await.unwrap();
    assert_eq!(recv(conn).await, b"bye");
    assert_eq!(
        timeout(STEP, conn.recv_bytes()).await.unwrap().unwrap(),
        None
    );
}

async fn python_is_done(peer: Peer, echoed: usize) {
    let version = peer.python.version;
    let (status, out, err) = peer.finish().await;
    assert!(status.success(), "python{version}: {out:?} {err:?}");
    assert_eq!(
        out,
        format!("DONE {echoed}\n"),
        "python{version} (stderr {err:?})"
    );
}

#[tokio::test]
async fn rust_client_with_a_python_listener() {
    for python in pythons() {
        let (mut peer, port) = Peer::listen(python, &KEY).await;
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let result = handshake(&KEY).connect(stream).await;
        if !speaks(python) {
            // A 3.11 listener's 20-byte challenge is refused; Python sees us hang up.
            assert!(
                matches!(result, Err(HandshakeError::LegacyPeer)),
                "{result:?}"
            );
            peer.expect_error("EOFError").await;
            continue;
        }
        let mut conn = result.unwrap_or_else(|e| panic!("python{}: {e}", python.version));
        assert_eq!(conn.form(), expected_form(python));
        assert_eq!(peer.line().await, "AUTHENTICATED");
        converse(&mut conn, python).await;
        python_is_done(peer, 4).await;
    }
}

#[tokio::test]
async fn python_client_with_a_rust_listener() {
    for python in pythons() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = Peer::connect(python, &KEY, listener.local_addr().unwrap().port());
        let (stream, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
        let result = handshake(&KEY).accept(stream).await;
        if !speaks(python) {
            // 3.11 answers our challenge with HMAC-MD5: refused, and told so.
            assert!(
                matches!(result, Err(HandshakeError::LegacyPeer)),
                "{result:?}"
            );
            let line = peer.expect_error("AuthenticationError").await;
            assert!(line.contains("digest sent was rejected"), "{line}");
            continue;
        }
        let mut conn = result.unwrap_or_else(|e| panic!("python{}: {e}", python.version));
        assert_eq!(conn.form(), expected_form(python));
        let mut peer = peer;
        assert_eq!(peer.line().await, "AUTHENTICATED");
        converse(&mut conn, python).await;
        python_is_done(peer, 4).await;
    }
}

#[tokio::test]
async fn wrong_key_rust_client() {
    for python in pythons().iter().filter(|p| speaks(p)) {
        let (peer, port) = Peer::listen(python, &OTHER_KEY).await;
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let result = handshake(&KEY).connect(stream).await;
        // Python delivers first: it catches our wrong answer and says #FAILURE#.
        assert!(
            matches!(result, Err(HandshakeError::Rejected)),
            "python{}: {result:?}",
            python.version
        );
        let line = peer.expect_error("AuthenticationError").await;
        assert!(line.contains("digest received was wrong"), "{line}");
    }
}

#[tokio::test]
async fn wrong_key_python_client() {
    for python in pythons().iter().filter(|p| speaks(p)) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = Peer::connect(python, &OTHER_KEY, listener.local_addr().unwrap().port());
        let (stream, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
        let result = handshake(&KEY).accept(stream).await;
        assert!(
            matches!(result, Err(HandshakeError::WrongDigest)),
            "python{}: {result:?}",
            python.version
        );
        let line = peer.expect_error("AuthenticationError").await;
        assert!(line.contains("digest sent was rejected"), "{line}");
    }
}

/// The feature alone does not turn HMAC-MD5 on: `allow_legacy(true)` does.
#[cfg(feature = "handshake-legacy")]
#[tokio::test]
async fn legacy_stays_off_until_allowed() {
    let modern_only = Handshake::new(AuthKey::new(KEY.to_vec()).unwrap());
    for python in pythons().iter().filter(|p| p.legacy()) {
        let (peer, port) = Peer::listen(python, &KEY).await;
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let result = modern_only.connect(stream).await;
        assert!(
            matches!(result, Err(HandshakeError::LegacyPeer)),
            "{result:?}"
        );
        peer.expect_error("EOFError").await;

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = Peer::connect(python, &KEY, listener.local_addr().unwrap().port());
        let (stream, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
        let result = modern_only.accept(stream).await;
        assert!(
            matches!(result, Err(HandshakeError::LegacyPeer)),
            "{result:?}"
        );
        peer.expect_error("AuthenticationError").await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_with_a_python_listener() {
    let Some(python) = modern_pythons().next() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("tower-hmac-handshake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mp.sock");
    let mut peer = Peer::spawn(python, &KEY, &["listen-unix", path.to_str().unwrap()]);
    assert_eq!(peer.line().await, format!("LISTENING {}", path.display()));
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut conn = handshake(&KEY).connect(stream).await.unwrap();
    assert_eq!(peer.line().await, "AUTHENTICATED");
    let greeting = conn.recv_bytes().await.unwrap().unwrap();
    assert!(
        greeting.starts_with(b"hello from Python 3.1"),
        "{greeting:?}"
    );
    conn.recv_bytes().await.unwrap().unwrap();
    conn.recv_bytes().await.unwrap().unwrap();
    conn.send_bytes(b"bye").await.unwrap();
    assert_eq!(conn.recv_bytes().await.unwrap().unwrap(), b"bye");
    python_is_done(peer, 0).await;
    let _ = std::fs::remove_dir_all(&dir);
}

// Hostile peers against our listener: a raw socket sends whatever it likes
// as its answer to our challenge.

async fn rust_listener_facing(answer: &'static [u8]) -> (HandshakeError, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let raw = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let challenge = read_frame(&mut stream).await;
        assert!(challenge.starts_with(b"#CHALLENGE#{sha256}"));
        stream.write_all(answer).await.unwrap();
        stream.shutdown().await.unwrap();
        // Whatever we were told before the listener hung up.
        let mut told = Vec::new();
        let _ = timeout(STEP, stream.read_to_end(&mut told)).await;
        told
    });
    let (stream, _) = listener.accept().await.unwrap();
    let error = Handshake::new(AuthKey::new(KEY.to_vec()).unwrap())
        .timeout(Duration::from_millis(500))
        .accept(stream)
        .await
        .expect_err("a hostile peer must not pass");
    (error, raw.await.unwrap())
}

const FAILURE: &[u8] = b"\0\0\0\x09#FAILURE#";

#[tokio::test]
async fn our_listener_refuses_garbage_oversized_and_truncated_answers() {
    let cases: [(&[u8], &str, &[u8]); 9] = [
        // garbage: no {digest} prefix and not the legacy length
        (b"\0\0\0\x05hello", "UnsupportedDigest", FAILURE),
        (b"\0\0\0\x0c{sha384}abcd", "UnsupportedDigest", FAILURE),
        // the right form, the wrong MAC
        (
            b"\0\0\0\x28{sha256}0123456789abcdef0123456789abcdef",
            "WrongDigest",
            FAILURE,
        ),
        // a legacy HMAC-MD5 answer, legacy not allowed
        (b"\0\0\0\x100123456789abcdef", "LegacyPeer", FAILURE),
        // oversized: refused from its length, before reading it
        (
            b"\0\0\x01\x01",
            "Frame(TooLarge { len: 257, max: 256 })",
            b"",
        ),
        (
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            "Frame(TooLarge { len: 18446744073709551615, max: 256 })",
            b"",
        ),
        (
            b"\xff\xff\xff\xf0",
            "Frame(InvalidLength { len: -16 })",
            b"",
        ),
        // truncated, then closed; closed at once
        (b"\0\0\0\x28{sha256}012", "Frame(Truncated)", b""),
        (b"", "Frame(Closed)", b""),
    ];
    for (answer, expected, told) in cases {
        let (error, got) = rust_listener_facing(answer).await;
        assert_eq!(format!("{error:?}"), expected, "answer {answer:?}");
        assert_eq!(got, told, "answer {answer:?}");
    }
}

#[tokio::test]
async fn our_listener_drops_a_silent_peer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _silent = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let result = Handshake::new(AuthKey::new(KEY.to_vec()).unwrap())
        .timeout(Duration::from_millis(200))
        .accept(stream)
        .await;
    assert!(
        matches!(result, Err(HandshakeError::Timeout(_))),
        "{result:?}"
    );
}

// Hostile peers against our client: a raw listener sends whatever it likes
// as its challenge, then reads our reply and sends `verdict`.

/// A raw listener sends `challenge`; then, with a `verdict`, reads our
/// reply, sends the verdict and holds the line; without one, hangs up.
/// Returns our client's result and the reply it sent.
async fn rust_client_facing(
    challenge: Vec<u8>,
    verdict: Option<&'static [u8]>,
) -> (Result<(), HandshakeError>, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let raw = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(&challenge).await.unwrap();
        let mut reply = Vec::new();
        match verdict {
            Some(verdict) => {
                reply = read_frame(&mut stream).await;
                stream.write_all(verdict).await.unwrap();
            }
            None => stream.shutdown().await.unwrap(),
        }
        // Hold the connection until the client is done with it.
        let _ = timeout(STEP, stream.read_to_end(&mut Vec::new())).await;
        reply
    });
    let stream = TcpStream::connect(addr).await.unwrap();
    let result = Handshake::new(AuthKey::new(KEY.to_vec()).unwrap())
        .timeout(Duration::from_millis(500))
        .connect(stream)
        .await;
    (result.map(drop), raw.await.unwrap())
}

fn framed(payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as i32).to_be_bytes()[..], payload].concat()
}

#[tokio::test]
async fn our_client_refuses_garbage_oversized_and_truncated_challenges() {
    let modern = framed(&[&b"#CHALLENGE#{sha256}"[..], &[7; 40]].concat());
    // (what the raw listener sends, its verdict on our reply, what we report)
    type Case = (Vec<u8>, Option<&'static [u8]>, &'static str);
    let cases: Vec<Case> = vec![
        (
            framed(b"HELLO, this is not a challenge at all"),
            None,
            "NotAChallenge",
        ),
        (
            framed(b"#CHALLENGE#0123456789"),
            None,
            "ChallengeTooShort { len: 10 }",
        ),
        (
            framed(b"#CHALLENGE#{sha384}0123456789abcdef0123"),
            None,
            "UnsupportedDigest",
        ),
        (
            framed(b"#CHALLENGE#no digest prefix, not 20 bytes"),
            None,
            "UnsupportedDigest",
        ),
        (
            framed(b"#CHALLENGE#01234567890123456789"),
            None,
            "LegacyPeer",
        ),
        (
            framed(&[b'#'; 300]),
            None,
            "Frame(TooLarge { len: 300, max: 256 })",
        ),
        (
            framed(b"#CHALLENGE#{sha256}0123")[..12].to_vec(),
            None,
            "Frame(Truncated)",
        ),
        (Vec::new(), None, "Frame(Closed)"),
        // A verdict that stalls after its first byte.
        (modern.clone(), Some(b"\0"), "Timeout(500ms)"),
        (modern.clone(), Some(b"\0\0\0\x02no"), "UnexpectedVerdict"),
        (modern.clone(), Some(FAILURE), "Rejected"),
    ];
    for (challenge, verdict, expected) in cases {
        let (result, _) = rust_client_facing(challenge.clone(), verdict).await;
        assert_eq!(
            format!("{:?}", result.err()),
            format!("Some({expected})"),
            "challenge {challenge:?}"
        );
    }
}

#[tokio::test]
async fn our_client_answers_a_256_byte_challenge_with_hmac_sha256() {
    // 256 bytes is the largest handshake message, inclusive, as in CPython.
    let challenge: Vec<u8> = [&b"{sha256}"[..], &[0xab; 256 - 11 - 8]].concat();
    let message = framed(&[&b"#CHALLENGE#"[..], &challenge].concat());
    assert_eq!(message.len(), 4 + 256);
    let (result, reply) = rust_client_facing(message, Some(b"\0\0\0\x09#WELCOME#")).await;
    // Welcomed, it delivers its own challenge, which the raw peer never answers.
    assert!(
        matches!(result, Err(HandshakeError::Timeout(_))),
        "{result:?}"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&KEY).unwrap();
    mac.update(&challenge);
    assert_eq!(
        reply,
        [&b"{sha256}"[..], &mac.finalize().into_bytes()].concat()
    );
}

// What real Python does with the same hostile bytes, for the record: it
// refuses them too, with these errors.

#[tokio::test]
async fn python_listener_refuses_garbage_oversized_and_truncated_answers() {
    for python in pythons() {
        let cases: [(&[u8], &str); 3] = [
            (b"\0\0\0\x05hello", "AuthenticationError"),
            (b"\0\0\x01\x01", "OSError"),          // bad message length
            (b"\0\0\0\x28{sha256}012", "OSError"), // got end of file during message
        ];
        for (answer, kind) in cases {
            let (peer, port) = Peer::listen(python, &KEY).await;
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            read_frame(&mut stream).await;
            stream.write_all(answer).await.unwrap();
            stream.shutdown().await.unwrap();
            let line = peer.expect_error(kind).await;
            println!("python{}: answer {answer:?} -> {line}", python.version);
        }
    }
}

#[tokio::test]
async fn python_client_refuses_garbage_and_oversized_challenges() {
    for python in pythons() {
        // 3.11 checks the challenge with a bare `assert`.
        let not_a_challenge = if python.legacy() {
            "AssertionError"
        } else {
            "AuthenticationError"
        };
        let cases = [
            (
                framed(b"HELLO, this is not a challenge at all"),
                not_a_challenge,
            ),
            (framed(&[b'#'; 300]), "OSError"),
            (framed(b"#CHALLENGE#{sha256}0123")[..12].to_vec(), "OSError"),
        ];
        for (challenge, kind) in cases {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let peer = Peer::connect(python, &KEY, listener.local_addr().unwrap().port());
            let (mut stream, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
            stream.write_all(&challenge).await.unwrap();
            stream.shutdown().await.unwrap();
            let line = peer.expect_error(kind).await;
            println!(
                "python{}: challenge {:?} -> {line}",
                python.version,
                &challenge[..challenge.len().min(16)]
            );
        }
    }
}

#[tokio::test]
async fn frames_after_the_handshake_are_bounded() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let (server, client) = (handshake(&KEY), handshake(&KEY));
    let (server, client) = tokio::join!(server.accept(a), client.connect(b));
    let (mut server, mut client) = (server.unwrap(), client.unwrap());
    server.set_max_message_len(1000);
    client.send_bytes(&[1; 1000]).await.unwrap();
    assert_eq!(server.recv_bytes().await.unwrap().unwrap().len(), 1000);
    client.send_bytes(&[1; 1001]).await.unwrap();
    assert!(matches!(
        server.recv_bytes().await,
        Err(FrameError::TooLarge {
            len: 1001,
            max: 1000
        })
    ));
    assert!(matches!(server.recv_bytes().await, Err(FrameError::Broken)));
}
