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

mod support;

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tower_hmac::handshake::{AuthKey, Handshake};

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let key_b64 = take_flag(&mut args, "--key").unwrap_or_else(|| support::DEMO_SECRET_B64.into());
    let key = AuthKey::from_base64(&key_b64).unwrap_or_else(|e| exit(&format!("--key: {e}")));
    let legacy = take_switch(&mut args, "--legacy");
    let handshake = with_legacy(Handshake::new(key), legacy);
    let listen = take_flag(&mut args, "--listen").unwrap_or_else(|| "127.0.0.1:25000".into());

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
        "error: {message}\nusage: handshake [serve [--listen ADDR] | send ADDR MESSAGE...] [--key BASE64] [--legacy]"
    );
    std::process::exit(2)
}
