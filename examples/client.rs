//! Signs and sends one request.
//!
//! ```text
//! cargo run --example client -- http://127.0.0.1:3000/hello
//! cargo run --example client -- http://127.0.0.1:3000/echo --data 'hello' --key 7=<base64 secret>
//! ```
//! With `--data` the request is a POST (unless `--method` says otherwise).
//! `--explain` prints the string-to-sign, to diff against the one a server
//! with `explain_refusals(true)` returns in a refusal.
//! `--blake3` signs `BLAKE3-KEYED` instead of `HMAC-SHA256` (feature
//! `blake3`; the server must accept it: `server --blake3`).
//! Without `--key`, the built-in demo key is used.

mod support;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower_hmac::Signer;

#[tokio::main]
async fn main() {
    let mut url = None;
    let mut method = None;
    let mut data = Bytes::new();
    let mut headers = Vec::new();
    let mut explain = false;
    let mut blake3 = false;
    let (mut key_id, mut secret) = support::demo_key();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--key" => {
                (key_id, secret) =
                    support::parse_key(&value(&mut args, "--key")).unwrap_or_else(|e| exit(&e))
            }
            "--method" => {
                method = Some(
                    value(&mut args, "--method")
                        .parse::<Method>()
                        .unwrap_or_else(|e| exit(&e.to_string())),
                )
            }
            "--data" => data = value(&mut args, "--data").into(),
            "--explain" => explain = true,
            "--blake3" => blake3 = true,
            "--header" => {
                let header = value(&mut args, "--header");
                let (name, value) = header
                    .split_once(':')
                    .unwrap_or_else(|| exit("--header takes 'name: value'"));
                let name =
                    HeaderName::try_from(name.trim()).unwrap_or_else(|e| exit(&e.to_string()));
                let value =
                    HeaderValue::try_from(value.trim()).unwrap_or_else(|e| exit(&e.to_string()));
                headers.push((name, value));
            }
            _ if url.is_none() && !arg.starts_with("--") => url = Some(arg),
            _ => exit(&format!("unexpected argument {arg:?}")),
        }
    }
    let url = url.unwrap_or_else(|| exit("give the URL to request"));
    let method = method.unwrap_or(if data.is_empty() {
        Method::GET
    } else {
        Method::POST
    });

    let mut request = Request::builder()
        .method(method)
        .uri(&url)
        .body(data.clone())
        .unwrap_or_else(|e| exit(&e.to_string()));
    request.headers_mut().extend(headers);
    let signer = if blake3 {
        blake3_signer(Signer::new(key_id, secret))
    } else {
        Signer::new(key_id, secret)
    };
    signer
        .sign(&mut request, &data)
        .unwrap_or_else(|e| exit(&e.to_string()));
    println!("> {} {}", request.method(), request.uri());
    if explain {
        let digest = tower_hmac::BodyDigest::for_algorithm(signer.signing_algorithm(), &data);
        let text = Signer::string_to_sign(&request, &digest).unwrap_or_default();
        println!("> string-to-sign (JSON): {}", serde_json::Value::from(text));
    }
    println!(
        "> authorization: {}",
        request.headers()["authorization"].to_str().unwrap()
    );

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client
        .request(request.map(Full::new))
        .await
        .unwrap_or_else(|e| exit(&format!("request failed: {e}")));
    println!("< {}", response.status());
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| exit(&e.to_string()))
        .to_bytes();
    println!("{}", String::from_utf8_lossy(&body));
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> String {
    args.next()
        .unwrap_or_else(|| exit(&format!("{flag} needs a value")))
}

fn exit(message: &str) -> ! {
    eprintln!("error: {message}\nusage: client URL [--method M] [--data TEXT] [--header 'k: v']... [--key ID=BASE64SECRET] [--explain] [--blake3]");
    std::process::exit(2)
}

/// Signs `BLAKE3-KEYED` (feature `blake3`).
#[cfg(feature = "blake3")]
fn blake3_signer(signer: Signer) -> Signer {
    signer.algorithm(tower_hmac::Algorithm::Blake3Keyed)
}

#[cfg(not(feature = "blake3"))]
fn blake3_signer(_signer: Signer) -> Signer {
    exit("--blake3 needs the blake3 feature: cargo run --features blake3 --example client")
}
