//! An authenticated echo service over raw TCP: the Rust version of the
//! classic Python cookbook echo server that authenticates its clients with
//! an HMAC challenge, wire-compatible with Python's `multiprocessing.connection`.
//!
//! ```text
//! # the tour: serve on a free port, talk to it with the right key and a wrong one
//! cargo run --features handshake --example handshake
//! # or the two halves
//! cargo run --features handshake --example handshake -- serve --listen 127.0.0.1:25000 [--key BASE64]
//! cargo run --features handshake --example handshake -- send 127.0.0.1:25000 hello world [--key BASE64]
//! ```
//!
//! A Python 3.12+ client talks to `serve` as well (3.11 needs `--legacy`,
//! built with `--features handshake-legacy`):
//!
//! ```python
//! import base64
//! from multiprocessing.connection import Client
//! with Client(("127.0.0.1", 25000), authkey=base64.b64decode(KEY)) as conn:
//!     conn.send_bytes(b"hello")
//!     print(conn.recv_bytes())
//! ```
//!
//! Without `--key`, the built-in demo key is used (never use it for anything real).
//!
//! `--raw go|cookbook` speaks one of the older, unframed recipes instead
//! (`handshake::raw`), for migrating their deployments; both are weak (one
//! way, no verdict, nothing after them protected: see the README):
//!
//! ```text
//! # the Go recipe (HMAC-MD5: needs --features handshake-legacy)
//! cargo run --features handshake-legacy --example handshake -- serve --raw go
//! cargo run --features handshake-legacy --example handshake -- send --raw go 127.0.0.1:25000
//! # the Python Cookbook recipe (digestmod=hashlib.sha256; --digest md5 for hashlib.md5)
//! cargo run --features handshake --example handshake -- serve --raw cookbook
//! cargo run --features handshake --example handshake -- send --raw cookbook 127.0.0.1:25000 hello world
//! ```
//!
//! `serve --raw` prints one line per connection, `authenticated …` or
//! `refused: <reason> …`; in `cookbook` mode it then echoes what it receives,
//! as the recipe's server does; in `go` mode it closes, as the recipe's server
//! does, having written nothing but the challenge (the recipe's client takes
//! every read as a new challenge). `send --raw` answers the challenge and
//! says so; in `cookbook` mode it then sends the messages, and the first
//! echo (or the server closing instead) tells whether it got through; in
//! `go` mode the exchange ends with the answer, so there is nothing to send,
//! and no verdict to hear.

mod support;

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};
use tower_hmac::handshake::{
    raw::{Digest, RawHandshake, RawHandshakeError, Recipe},
    AuthKey, Handshake,
};

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let key_b64 = take_flag(&mut args, "--key").unwrap_or_else(|| support::DEMO_SECRET_B64.into());
    let key = AuthKey::from_base64(&key_b64).unwrap_or_else(|e| exit(&format!("--key: {e}")));
    let legacy = take_switch(&mut args, "--legacy");
    let listen = take_flag(&mut args, "--listen").unwrap_or_else(|| "127.0.0.1:25000".into());
    let digest = take_flag(&mut args, "--digest");
    if let Some(mode) = take_flag(&mut args, "--raw") {
        if legacy {
            exit("--legacy is the multiprocessing handshake's; --raw go and --digest md5 are MD5 already");
        }
        let raw = raw_handshake(key, &mode, digest.as_deref());
        return raw_main(raw, Mode::parse(&mode), &args, &listen).await;
    }
    if digest.is_some() {
        exit("--digest goes with --raw cookbook");
    }
    let handshake = with_legacy(Handshake::new(key), legacy);

    match args.first().map(String::as_str) {
        None => tour(handshake, &key_b64).await,
        Some("serve") if args.len() == 1 => {
            let listener = TcpListener::bind(&listen)
                .await
                .unwrap_or_else(|e| exit(&format!("cannot listen on {listen}: {e}")));
            println!("echo service on {}", listener.local_addr().unwrap());
            serve(listener, handshake).await
        }
        Some("send") if args.len() >= 2 => {
            let address: SocketAddr = args[1]
                .parse()
                .unwrap_or_else(|e| exit(&format!("{}: {e}", args[1])));
            let messages: Vec<&str> = args[2..].iter().map(String::as_str).collect();
            if let Err(e) = send(&handshake, address, &messages).await {
                exit(&e.to_string())
            }
        }
        _ => exit(&format!("unexpected arguments {args:?}")),
    }
}

/// Accepts connections for ever; each peer must pass the handshake, then
/// gets every message back.
async fn serve(listener: TcpListener, handshake: Handshake) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let handshake = handshake.clone();
        tokio::spawn(async move {
            let mut conn = match handshake.accept(stream).await {
                Ok(conn) => conn,
                Err(e) => return println!("[server] refused {peer}: {e}"),
            };
            println!("[server] {peer} authenticated ({:?} form)", conn.form());
            loop {
                match conn.recv_bytes().await {
                    Ok(Some(message)) => {
                        if let Err(e) = conn.send_bytes(&message).await {
                            return println!("[server] {peer}: {e}");
                        }
                    }
                    Ok(None) => return println!("[server] {peer} closed the connection"),
                    Err(e) => return println!("[server] {peer}: {e}"),
                }
            }
        });
    }
}

/// Connects, authenticates, sends each message and prints its echo.
async fn send(
    handshake: &Handshake,
    address: SocketAddr,
    messages: &[&str],
) -> Result<(), Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(address).await?;
    let mut conn = handshake.connect(stream).await?;
    for message in messages {
        conn.send_bytes(message.as_bytes()).await?;
        let echo = conn
            .recv_bytes()
            .await?
            .ok_or("the server closed the connection")?;
        println!(
            "[client] sent {message:?}, got back {:?}",
            String::from_utf8_lossy(&echo)
        );
    }
    conn.shutdown().await?;
    Ok(())
}

async fn tour(handshake: Handshake, key_b64: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    println!("echo service on {address}");
    tokio::spawn(serve(listener, handshake.clone()));

    println!("\n1. a client with the key:");
    if let Err(e) = send(&handshake, address, &["hello", "world"]).await {
        println!("[client] failed: {e}");
    }

    println!("\n2. a client with another key:");
    let wrong = Handshake::new(AuthKey::new(b"not the key, but just as long!!!".to_vec()).unwrap());
    if let Err(e) = send(&wrong, address, &["let me in"]).await {
        println!("[client] refused: {e}");
    }
    // Let the server's line about it come out before we leave.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    println!(
        "\nTry it from Python 3.12+ while `serve` runs:\n  python3.12 -c 'import base64; from multiprocessing.connection import Client; \
         c = Client((\"127.0.0.1\", 25000), authkey=base64.b64decode(\"{key_b64}\")); c.send_bytes(b\"hi\"); print(c.recv_bytes())'"
    );
}

// The raw recipes (`--raw go|cookbook`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Go,
    Cookbook,
}

impl Mode {
    fn parse(mode: &str) -> Self {
        match mode {
            "go" => Self::Go,
            "cookbook" => Self::Cookbook,
            other => exit(&format!("--raw {other}: go or cookbook")),
        }
    }
}

/// The recipe of `--raw MODE [--digest …]`. Asking for an MD5 recipe by
/// name is the explicit opt-in `allow_legacy(true)` stands for.
fn raw_handshake(key: AuthKey, mode: &str, digest: Option<&str>) -> RawHandshake {
    let recipe = match (Mode::parse(mode), digest) {
        (Mode::Go, None) => go_recipe(),
        (Mode::Go, Some(_)) => exit("--raw go is HMAC-MD5; --digest is for --raw cookbook"),
        (Mode::Cookbook, None | Some("sha256")) => Recipe::cookbook(Digest::Sha256),
        (Mode::Cookbook, Some("md5")) => Recipe::cookbook(md5()),
        (Mode::Cookbook, Some(other)) => exit(&format!("--digest {other}: sha256 or md5")),
    };
    let md5 = recipe.digest() != Digest::Sha256;
    with_raw_legacy(RawHandshake::new(key, recipe), md5)
}

async fn raw_main(raw: RawHandshake, mode: Mode, args: &[String], listen: &str) {
    match args.first().map(String::as_str) {
        None => raw_tour(raw, mode).await,
        Some("serve") if args.len() == 1 => {
            let listener = TcpListener::bind(listen)
                .await
                .unwrap_or_else(|e| exit(&format!("cannot listen on {listen}: {e}")));
            println!(
                "{} on {} (weak: see the README)",
                describe(mode, &raw),
                listener.local_addr().unwrap()
            );
            raw_serve(listener, raw, mode).await
        }
        Some("send") if args.len() >= 2 => {
            let address: SocketAddr = args[1]
                .parse()
                .unwrap_or_else(|e| exit(&format!("{}: {e}", args[1])));
            let messages: Vec<&str> = args[2..].iter().map(String::as_str).collect();
            if mode == Mode::Go && !messages.is_empty() {
                exit("--raw go: the recipe's exchange ends with the answer; there is nothing to send");
            }
            if !raw_send(&raw, mode, address, &messages).await {
                std::process::exit(1)
            }
        }
        _ => exit(&format!("unexpected arguments {args:?}")),
    }
}

fn describe(mode: Mode, raw: &RawHandshake) -> String {
    let recipe = match mode {
        Mode::Go => "the Go recipe",
        Mode::Cookbook => "the Python Cookbook recipe",
    };
    format!("{recipe}, {}", raw.recipe().digest())
}

/// A raw handshake error's reason, without its "raw handshake: " prefix.
fn reason(e: &RawHandshakeError) -> String {
    let text = e.to_string();
    text.strip_prefix("raw handshake: ")
        .unwrap_or(&text)
        .to_owned()
}

/// Accepts connections for ever and prints one line for each. In cookbook
/// mode, an authenticated peer gets back everything it sends; in go mode
/// the connection is closed, with nothing written after the challenge.
async fn raw_serve(listener: TcpListener, raw: RawHandshake, mode: Mode) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let raw = raw.clone();
        tokio::spawn(async move {
            let authenticated = match raw.accept(stream).await {
                Ok(authenticated) => authenticated,
                // Dropping the stream closes it: the recipes' only refusal.
                Err(e) => return println!("refused: {} (peer {peer})", reason(&e)),
            };
            println!("authenticated {peer} ({})", describe(mode, &raw));
            if mode == Mode::Cookbook {
                let mut stream = authenticated.into_inner();
                let mut buf = [0; 8192];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
    }
}

/// Answers the challenge of a recipe server at `address`, then (cookbook)
/// sends each message and reads its echo. Returns whether it got through,
/// as far as the recipe lets a client know.
async fn raw_send(raw: &RawHandshake, mode: Mode, address: SocketAddr, messages: &[&str]) -> bool {
    let answered = match TcpStream::connect(address).await {
        Ok(stream) => raw.connect(stream).await,
        Err(e) => return fail(&format!("cannot connect to {address}: {e}")),
    };
    let mut stream = match answered {
        Ok(answered) => answered.into_inner(),
        Err(e) => return fail(&format!("not answered: {}", reason(&e))),
    };
    println!("[client] answered the challenge ({})", describe(mode, raw));
    if mode == Mode::Go {
        println!(
            "[client] the Go recipe sends no verdict: only the server knows whether we got through"
        );
        return true;
    }
    let Some((first, rest)) = messages.split_first() else {
        println!("[client] send a message to find out whether it got through: a cookbook server that refuses closes the connection");
        return true;
    };
    for (i, message) in std::iter::once(first).chain(rest).enumerate() {
        let echo = match exchange(&mut stream, message.as_bytes()).await {
            Ok(echo) if !echo.is_empty() || message.is_empty() => echo,
            Ok(_) | Err(_) if i == 0 => {
                println!("[client] refused: the server closed the connection instead of echoing");
                return false;
            }
            Ok(_) | Err(_) => return fail("the server closed the connection"),
        };
        if i == 0 {
            println!("[client] got through: the server echoes");
        }
        println!(
            "[client] sent {message:?}, got back {:?}",
            String::from_utf8_lossy(&echo)
        );
    }
    true
}

/// Sends `message` and reads back as many bytes, or what came before the end.
async fn exchange(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(message).await?;
    let mut echo = Vec::with_capacity(message.len());
    while echo.len() < message.len() {
        let mut buf = vec![0; message.len() - echo.len()];
        match stream.read(&mut buf).await? {
            0 => break,
            n => echo.extend_from_slice(&buf[..n]),
        }
    }
    Ok(echo)
}

fn fail(message: &str) -> bool {
    println!("[client] failed: {message}");
    false
}

async fn raw_tour(raw: RawHandshake, mode: Mode) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    println!(
        "{} on {address} (weak: see the README)",
        describe(mode, &raw)
    );
    tokio::spawn(raw_serve(listener, raw.clone(), mode));
    let messages: &[&str] = match mode {
        Mode::Go => &[],
        Mode::Cookbook => &["hello", "world"],
    };

    println!("\n1. a client with the key:");
    raw_send(&raw, mode, address, messages).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    println!("\n2. a client with another key:");
    let wrong = AuthKey::new(b"not the key, but just as long!!!".to_vec()).unwrap();
    let wrong = with_raw_legacy(
        RawHandshake::new(wrong, raw.recipe().clone()),
        raw.recipe().digest() != Digest::Sha256,
    );
    raw_send(&wrong, mode, address, &messages[..messages.len().min(1)]).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

#[cfg(feature = "handshake-legacy")]
fn go_recipe() -> Recipe {
    Recipe::go()
}

#[cfg(not(feature = "handshake-legacy"))]
fn go_recipe() -> Recipe {
    exit("--raw go is HMAC-MD5: it needs the handshake-legacy feature")
}

#[cfg(feature = "handshake-legacy")]
fn md5() -> Digest {
    Digest::Md5
}

#[cfg(not(feature = "handshake-legacy"))]
fn md5() -> Digest {
    exit("--digest md5 needs the handshake-legacy feature")
}

#[cfg(feature = "handshake-legacy")]
fn with_raw_legacy(raw: RawHandshake, md5: bool) -> RawHandshake {
    raw.allow_legacy(md5)
}

#[cfg(not(feature = "handshake-legacy"))]
fn with_raw_legacy(raw: RawHandshake, _md5: bool) -> RawHandshake {
    raw
}

#[cfg(feature = "handshake-legacy")]
fn with_legacy(handshake: Handshake, legacy: bool) -> Handshake {
    handshake.allow_legacy(legacy)
}

#[cfg(not(feature = "handshake-legacy"))]
fn with_legacy(handshake: Handshake, legacy: bool) -> Handshake {
    if legacy {
        exit("--legacy needs the handshake-legacy feature");
    }
    handshake
}

fn take_flag(args: &mut Vec<String>, flag: &str) -> Option<String> {
    let at = args.iter().position(|a| a == flag)?;
    if at + 1 >= args.len() {
        exit(&format!("{flag} needs a value"));
    }
    args.remove(at);
    Some(args.remove(at))
}

fn take_switch(args: &mut Vec<String>, switch: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != switch);
    args.len() != before
}

fn exit(message: &str) -> ! {
    eprintln!(
        "error: {message}\nusage: handshake [serve [--listen ADDR] | send ADDR MESSAGE...] [--key BASE64] \
         [--legacy | --raw go | --raw cookbook [--digest sha256|md5]]"
    );
    std::process::exit(2)
}
