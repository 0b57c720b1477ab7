//! A guarded server.
//!
//! ```text
//! cargo run --release --example server -- --listen 127.0.0.1:3000 --key 7=<base64 secret>
//! ```
//! `--key` may repeat. With none, the built-in demo key is used and printed.
//! `--explain` makes every `invalid_signature` say what the server checked.
//! `--redis redis://HOST:PORT/` keeps nonces in Redis (feature `redis`).
//! `--sigv4 SERVICE[:REGION]` also accepts AWS Signature Version 4 for that
//! service (feature `sigv4`; region `us-east-1` unless named), so that
//! `curl --aws-sigv4 "aws:amz:us-east-1:SERVICE" --user 7:<base64 secret>`
//! and the AWS SDKs can call it.
//! `--schnellburger md5|sha256` also accepts the legacy schnellburger scheme
//! of that hash (feature `schnellburger`; `md5` needs `schnellburger-md5`)
//! on the same routes, for its Go clients while they migrate (key index 7
//! is `--key 7=…`). It is weak: no time, no nonce, replays unchecked; see
//! the README's "Migrating from schnellburger".
//! `--blake3` also accepts the keyed BLAKE3 scheme `BLAKE3-KEYED` (feature
//! `blake3`, PROTOCOL §9) next to `HMAC-SHA256`, with the same keys:
//! `cargo run --release --features blake3 --example server -- --blake3`,
//! then `cargo run --features blake3 --example client -- --blake3 URL`.
//!
//! It serves with production settings (`support::ServeConfig`): 10 s for a
//! request's head, 10 s between pieces of a body, 60 s per request, idle
//! connections closed after 60 s, at most 512 requests at once. A client
//! trickling bytes cannot hold it.

mod support;

use tower_hmac::{InMemoryKeys, SignatureLayer};

#[tokio::main]
async fn main() {
    // tower-hmac logs each refusal at debug, and a handler that forgot verify() at error.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .init();
    let mut listen = "127.0.0.1:3000".to_owned();
    let mut keys = InMemoryKeys::new();
    let mut explain = false;
    let mut redis: Option<String> = None;
    let mut sigv4: Option<String> = None;
    let mut schnellburger: Option<String> = None;
    let mut blake3 = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--explain" => explain = true,
            "--sigv4" => sigv4 = Some(args.next().unwrap_or_else(|| exit("--sigv4 needs SERVICE"))),
            "--schnellburger" => {
                schnellburger = Some(
                    args.next()
                        .unwrap_or_else(|| exit("--schnellburger needs md5 or sha256")),
                )
            }
            "--blake3" => blake3 = true,
            "--redis" => redis = Some(args.next().unwrap_or_else(|| exit("--redis needs URL"))),
            "--listen" => listen = args.next().unwrap_or_else(|| exit("--listen needs ADDR")),
            "--key" => {
                let key = args.next().unwrap_or_else(|| exit("--key needs ID=BASE64"));
                let (id, secret) = support::parse_key(&key).unwrap_or_else(|e| exit(&e));
                keys.insert(id, secret);
            }
            _ => exit(&format!("unexpected argument {arg:?}")),
        }
    }
    if keys.is_empty() {
        let (id, secret) = support::demo_key();
        keys.insert(id, secret);
        println!(
            "no --key given: using the demo key {}={} (never use it for anything real)",
            support::DEMO_KEY_ID,
            support::DEMO_SECRET_B64
        );
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| exit(&format!("cannot listen on {listen}: {e}")));
    println!(
        "listening on http://{}  (GET /hello, POST /upload, POST /echo)",
        listener.local_addr().unwrap()
    );
    let mut layer = SignatureLayer::new(keys).explain_refusals(explain);
    if let Some(url) = redis {
        layer = with_redis(layer, &url).await;
    }
    if let Some(service) = sigv4 {
        layer = with_sigv4(layer, &service);
    }
    if let Some(hash) = schnellburger {
        layer = with_schnellburger(layer, &hash);
    }
    if blake3 {
        layer = with_blake3(layer);
    }
    support::serve(listener, support::router_with(layer)).await;
}

/// Nonces in Redis (feature `redis`), shared by every instance.
#[cfg(feature = "redis")]
async fn with_redis(layer: SignatureLayer, url: &str) -> SignatureLayer {
    let store = tower_hmac::replay::RedisNonceStore::builder(url)
        .timeout(std::time::Duration::from_millis(200))
        .connect()
        .await
        .unwrap_or_else(|e| exit(&format!("redis at {url}: {e}")));
    println!("nonces in redis at {url}");
    layer.nonce_store(store)
}

#[cfg(not(feature = "redis"))]
async fn with_redis(_layer: SignatureLayer, _url: &str) -> SignatureLayer {
    exit("--redis needs the redis feature: cargo run --features redis --example server")
}

/// AWS Signature Version 4 next to the native scheme (feature `sigv4`).
#[cfg(feature = "sigv4")]
fn with_sigv4(layer: SignatureLayer, service: &str) -> SignatureLayer {
    use tower_hmac::schemes::sigv4::SigV4;
    let (service, region) = service
        .split_once(':')
        .unwrap_or((service, SigV4::DEFAULT_REGION));
    println!("also accepting SigV4 for service {service} in {region}");
    layer.scheme(SigV4::new(service).region(region))
}

#[cfg(not(feature = "sigv4"))]
fn with_sigv4(_layer: SignatureLayer, _service: &str) -> SignatureLayer {
    exit("--sigv4 needs the sigv4 feature: cargo run --features sigv4 --example server")
}

/// Keyed BLAKE3 next to the native scheme (feature `blake3`).
#[cfg(feature = "blake3")]
fn with_blake3(layer: SignatureLayer) -> SignatureLayer {
    println!("also accepting BLAKE3-KEYED");
    layer.scheme(tower_hmac::schemes::blake3_keyed::Blake3Keyed::new())
}

#[cfg(not(feature = "blake3"))]
fn with_blake3(_layer: SignatureLayer) -> SignatureLayer {
    exit("--blake3 needs the blake3 feature: cargo run --features blake3 --example server")
}

/// The legacy schnellburger scheme next to the native one (feature `schnellburger`).
#[cfg(feature = "schnellburger")]
fn with_schnellburger(layer: SignatureLayer, hash: &str) -> SignatureLayer {
    use tower_hmac::schemes::schnellburger::{Hash, Schnellburger};
    let hash = match hash {
        "sha256" => Hash::Sha256,
        #[cfg(feature = "schnellburger-md5")]
        "md5" => Hash::Md5,
        #[cfg(not(feature = "schnellburger-md5"))]
        "md5" => exit("--schnellburger md5 needs the schnellburger-md5 feature"),
        other => exit(&format!(
            "--schnellburger takes md5 or sha256, not {other:?}"
        )),
    };
    println!(
        "also accepting schnellburger (HMAC-{}): WEAK, replays are not checked; migrate its clients",
        if hash == Hash::Sha256 { "SHA256" } else { "MD5" }
    );
    layer.scheme(Schnellburger::new(hash))
}

#[cfg(not(feature = "schnellburger"))]
fn with_schnellburger(_layer: SignatureLayer, _hash: &str) -> SignatureLayer {
    exit("--schnellburger needs the schnellburger feature: cargo run --features schnellburger-md5 --example server")
}

fn exit(message: &str) -> ! {
    eprintln!(
        "error: {message}\nusage: server [--listen ADDR] [--key ID=BASE64SECRET]... [--explain] [--redis URL] [--sigv4 SERVICE[:REGION]] [--schnellburger md5|sha256] [--blake3]"
    );
    std::process::exit(2)
}
