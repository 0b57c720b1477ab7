//! The soak test's load generator (`scripts/soak.sh` runs it against the
//! example server, with Redis restarted half-way).
//!
//! ```text
//! soak --url http://127.0.0.1:3000 --seconds 20 [--concurrency 64] [--key ID=BASE64]
//! ```
//! Half the workers keep their connections alive, half open a fresh one per
//! request. Each sends, in turn: valid GETs and uploads, a tampered upload,
//! a replay, a stale request, a forgery, and an upload it abandons mid-body.
//! It prints one JSON object with what came back.

mod support;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use tokio::io::AsyncWriteExt;
use tower_hmac::{BodyDigest, Nonce, Secret, Signer};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What a request was, and so what it must get.
#[derive(Clone, Copy)]
enum Expect {
    /// A genuine request: 200.
    Accept,
    /// A forgery, replay or stale request: 401 with this code.
    Refuse(&'static str),
}

#[tokio::main]
async fn main() {
    let mut url = None;
    let mut seconds = 20u64;
    let mut concurrency = 64usize;
    let (mut key_id, mut secret) = support::demo_key();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| exit(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--url" => url = Some(value()),
            "--seconds" => seconds = value().parse().unwrap_or_else(|_| exit("--seconds N")),
            "--concurrency" => {
                concurrency = value().parse().unwrap_or_else(|_| exit("--concurrency N"))
            }
            "--key" => (key_id, secret) = support::parse_key(&value()).unwrap_or_else(|e| exit(&e)),
            _ => exit(&format!("unexpected argument {arg:?}")),
        }
    }
    let url = url.unwrap_or_else(|| exit("--url is required"));
    let authority: http::uri::Authority = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| exit("--url http://HOST:PORT"));
    let signer = Arc::new(Signer::new(key_id, secret));
    let counts: Arc<Mutex<BTreeMap<&'static str, u64>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (signer, counts, url, authority) = (
                signer.clone(),
                counts.clone(),
                url.clone(),
                authority.clone(),
            );
            tokio::spawn(async move {
                let mut builder = Client::builder(TokioExecutor::new());
                if worker % 2 == 1 {
                    // A fresh connection for every request.
                    builder.pool_max_idle_per_host(0);
                }
                let client: HttpClient = builder.build_http();
                let mut last_accepted: Option<Request<Bytes>> = None;
                let mut turn = worker;
                while Instant::now() < deadline {
                    turn += 1;
                    let outcome = match turn % 8 {
                        0 | 1 => {
                            let request =
                                signed(&signer, Method::GET, &url, "/hello", Bytes::new());
                            let outcome = send(&client, request.clone(), Expect::Accept).await;
                            if outcome == "accepted" {
                                last_accepted = Some(request);
                            }
                            outcome
                        }
                        2 => {
                            let body = Bytes::from(vec![b'u'; 64 * 1024]);
                            send(
                                &client,
                                signed(&signer, Method::POST, &url, "/upload", body),
                                Expect::Accept,
                            )
                            .await
                        }
                        3 => {
                            let mut request = signed(
                                &signer,
                                Method::POST,
                                &url,
                                "/upload",
                                Bytes::from_static(b"as signed"),
                            );
                            *request.body_mut() = Bytes::from_static(b"tampered!");
                            send(&client, request, Expect::Refuse("invalid_signature")).await
                        }
                        4 => match last_accepted.take() {
                            Some(request) => {
                                send(&client, request, Expect::Refuse("replayed_request")).await
                            }
                            None => continue,
                        },
                        5 => {
                            let mut request = Request::get(format!("{url}/hello"))
                                .body(Bytes::new())
                                .unwrap();
                            let stale = unix_now() - 400;
                            signer
                                .sign_at(&mut request, &BodyDigest::EMPTY, stale, Nonce::random())
                                .unwrap();
                            send(&client, request, Expect::Refuse("stale_request")).await
                        }
                        6 => {
                            let forger = Signer::new(
                                "forger".parse().unwrap(),
                                Secret::new(vec![9; 32]).unwrap(),
                            );
                            let request =
                                signed(&forger, Method::GET, &url, "/hello", Bytes::new());
                            send(&client, request, Expect::Refuse("invalid_signature")).await
                        }
                        _ => abandon_upload(&signer, &authority).await,
                    };
                    *counts.lock().unwrap().entry(outcome).or_default() += 1;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let mut report: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    for (outcome, count) in counts.lock().unwrap().iter() {
        report.insert(outcome, (*count).into());
    }
    report.insert("seconds", started.elapsed().as_secs_f64().into());
    report.insert("concurrency", concurrency.into());
    println!("{}", serde_json::to_string(&report).unwrap());
}

fn signed(signer: &Signer, method: Method, url: &str, path: &str, body: Bytes) -> Request<Bytes> {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{url}{path}"))
        .body(body.clone())
        .unwrap();
    signer.sign(&mut request, &body).unwrap();
    request
}

/// Sends `request` and names what came of it against what it should get.
async fn send(client: &HttpClient, request: Request<Bytes>, expect: Expect) -> &'static str {
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(request.map(Full::new)),
    )
    .await;
    let response = match response {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => return "connection_error",
        Err(_) => return "timeout",
    };
    let status = response.status().as_u16();
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return "connection_error",
    };
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|problem| problem["code"].as_str().map(str::to_owned));
    match (expect, status, code.as_deref()) {
        // The nonce store was restarting: refused, fail-closed, never accepted.
        (_, 503, Some("replay_store_unavailable")) => "store_unavailable",
        (_, 500..=599, _) => "server_error",
        (Expect::Accept, 200, _) => "accepted",
        (Expect::Accept, _, _) => "false_reject",
        (Expect::Refuse(_), 200..=299, _) => "false_accept",
        (Expect::Refuse(wanted), 401, Some(code)) if code == wanted => "refused",
        (Expect::Refuse(_), _, _) => "refused_with_another_code",
    }
}

/// Starts a signed 1 MiB upload, sends 16 KiB of it, and hangs up.
async fn abandon_upload(signer: &Signer, authority: &http::uri::Authority) -> &'static str {
    let mut request = Request::post(format!("http://{authority}/upload"))
        .body(())
        .unwrap();
    signer
        .sign_with_digest(&mut request, &BodyDigest::of(&vec![b'x'; 1 << 20]))
        .unwrap();
    let mut head = format!("POST /upload HTTP/1.1\r\ncontent-length: {}\r\n", 1 << 20);
    for (name, value) in request.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let Ok(mut stream) = tokio::net::TcpStream::connect(authority.as_str()).await else {
        return "connection_error";
    };
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&[b'x'; 16 * 1024]).await;
    "abandoned_mid_body"
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn exit(message: &str) -> ! {
    eprintln!("error: {message}\nusage: soak --url http://HOST:PORT [--seconds N] [--concurrency N] [--key ID=BASE64]");
    std::process::exit(2)
}
