//! The one-command tour: starts the guarded server in-process, drives it
//! with the bundled signer over real HTTP, and prints what happened.
//!
//! ```text
//! cargo run --release --example demo [-- --upload-mib 256]
//! ```

mod support;

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{header, HeaderValue, Request};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use tower_hmac::{BodyDigest, BodyHasher, InMemoryKeys, Nonce, Signer};

type DemoClient = Client<HttpConnector, BoxBody<Bytes, Infallible>>;

/// One row of the table.
struct Row {
    scenario: String,
    expected: (u16, &'static str),
    got: (u16, String),
    note: String,
}

#[tokio::main]
async fn main() {
    let upload_mib: u64 = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => 256,
        [flag, n] if flag == "--upload-mib" => n.parse().unwrap_or_else(|_| usage()),
        _ => usage(),
    };

    let (key_id, secret) = support::demo_key();
    let keys = InMemoryKeys::new().with_key(key_id.clone(), secret.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(support::serve(listener, support::router(keys)));
    println!("tower-hmac demo: server on http://{addr}, key id {key_id}\n");

    let signer = Signer::new(key_id, secret);
    let unknown = Signer::new(
        "99".parse().unwrap(),
        tower_hmac::Secret::new(vec![1; 32]).unwrap(),
    );
    let client: DemoClient = Client::builder(TokioExecutor::new()).build(connector());
    let mut rows = Vec::new();

    let req = signed(&signer, get(addr, "/hello"));
    rows.push(run(&client, "valid GET /hello", (200, "-"), req).await);

    let req = signed(
        &signer,
        post(addr, "/echo?lang=en", "text/plain", "hello, tower-hmac"),
    );
    rows.push(run(&client, "valid POST /echo (buffered)", (200, "-"), req).await);

    let mut req = signed(&signer, post(addr, "/upload", "text/plain", "some bytes"));
    *req.uri_mut() = format!("http://{addr}/echo").parse().unwrap();
    rows.push(
        run(
            &client,
            "tampered path (/upload -> /echo)",
            (401, "invalid_signature"),
            req,
        )
        .await,
    );

    let mut req = signed(&signer, post(addr, "/echo?amount=10", "text/plain", "pay"));
    *req.uri_mut() = format!("http://{addr}/echo?amount=1000").parse().unwrap();
    rows.push(
        run(
            &client,
            "tampered query (amount=10 -> 1000)",
            (401, "invalid_signature"),
            req,
        )
        .await,
    );

    let mut req = signed(&signer, post(addr, "/echo", "text/plain", "transfer 10"));
    *req.body_mut() = Bytes::from_static(b"transfer 99");
    rows.push(run(&client, "tampered body", (401, "invalid_signature"), req).await);

    let mut req = signed(&signer, post(addr, "/echo", "text/plain", "<b>hi</b>"));
    req.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    rows.push(
        run(
            &client,
            "tampered signed header (content-type)",
            (401, "invalid_signature"),
            req,
        )
        .await,
    );

    let req = signed(&signer, post(addr, "/echo", "text/plain", "only once"));
    let replay = req.clone();
    rows.push(run(&client, "original of a replay", (200, "-"), req).await);
    rows.push(
        run(
            &client,
            "replay of the same request",
            (401, "replayed_request"),
            replay,
        )
        .await,
    );

    let mut req = post(addr, "/echo", "text/plain", "old news");
    signer
        .sign_at(
            &mut req,
            &BodyDigest::of(b"old news"),
            unix_now() - 600,
            Nonce::random(),
        )
        .unwrap();
    rows.push(
        run(
            &client,
            "stale request (signed 10 min ago)",
            (401, "stale_request"),
            req,
        )
        .await,
    );

    rows.push(
        run(
            &client,
            "no signature",
            (401, "missing_authorization"),
            get(addr, "/hello"),
        )
        .await,
    );

    let req = signed(&unknown, get(addr, "/hello"));
    rows.push(run(&client, "unknown key id", (401, "invalid_signature"), req).await);

    // Streamed without a length, so the server finds out by reading and stops
    // at the limit. (A declared Content-Length over the limit is refused
    // before a byte is read; hyper's client may then report the broken pipe
    // instead of the 413, so the demo shows the streamed case.)
    let over = 1024 * 1024 + 64 * 1024;
    let chunk = Bytes::from(vec![0u8; 64 * 1024]);
    let mut req = Request::post(format!("http://{addr}/echo"))
        .body(
            support::Repeat {
                chunk,
                remaining: over,
                known_length: false,
            }
            .boxed(),
        )
        .unwrap();
    signer
        .sign_with_digest(&mut req, &BodyDigest::of(&vec![0u8; over as usize]))
        .unwrap();
    rows.push(
        send(
            &client,
            "1.06 MiB streamed to /echo (1 MiB limit)".into(),
            (413, "body_too_large"),
            req,
        )
        .await,
    );

    rows.push(upload(&client, &signer, addr, upload_mib).await);
    rows.push(chunked_upload(&client, &signer, addr, upload_mib).await);
    // Over HTTP/2 (h2c): after the refusal the server resets just that
    // stream, and the client stops sending. (Over HTTP/1.1 the server must
    // close the connection once it stops reading, and a client still
    // writing may see the reset before the 401.)
    let h2: DemoClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector());
    rows.push(forged_upload(&h2, &unknown, addr, upload_mib).await);

    print_table(&rows);
    let failed = rows.iter().filter(|row| !row.ok()).count();
    if failed > 0 {
        println!("\n{failed} row(s) did not go as expected");
        std::process::exit(1);
    }
    println!("\nevery row went as expected");
}

/// Streams `mib` MiB to /upload, signed from a digest computed beforehand.
async fn upload(client: &DemoClient, signer: &Signer, addr: SocketAddr, mib: u64) -> Row {
    let chunk = Bytes::from((0..64 * 1024).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let total = mib * 1024 * 1024;
    let mut hasher = BodyHasher::new();
    for _ in 0..total / chunk.len() as u64 {
        hasher.update(&chunk);
    }
    let mut req = Request::post(format!("http://{addr}/upload"))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(
            support::Repeat {
                chunk,
                remaining: total,
                known_length: true,
            }
            .boxed(),
        )
        .unwrap();
    signer.sign_with_digest(&mut req, &hasher.finish()).unwrap();
    let rss_before = support::peak_rss();
    let started = Instant::now();
    let mut row = send(
        client,
        format!("streamed upload of {mib} MiB"),
        (200, "-"),
        req,
    )
    .await;
    let elapsed = started.elapsed();
    let rate = total as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64();
    let mib_of =
        |bytes: Option<u64>| bytes.map_or("?".to_owned(), |b| format!("{} MiB", b / (1024 * 1024)));
    row.note = format!(
        "{} in {:.2} s = {rate:.0} MiB/s; peak RSS {} before, {} after",
        row.note,
        elapsed.as_secs_f64(),
        mib_of(rss_before),
        mib_of(support::peak_rss()),
    );
    row
}

/// Streams `mib` MiB of unknown digest (never hashed beforehand) in signed
/// chunks: authenticated before the handler runs, checked chunk by chunk.
async fn chunked_upload(client: &DemoClient, signer: &Signer, addr: SocketAddr, mib: u64) -> Row {
    let chunk = Bytes::from((0..64 * 1024).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
    let total = mib * 1024 * 1024;
    let req = Request::post(format!("http://{addr}/upload"))
        .body(
            support::Repeat {
                chunk,
                remaining: total,
                known_length: false,
            }
            .boxed(),
        )
        .unwrap();
    let req = signer.sign_chunked(req).unwrap().map(|body| body.boxed());
    let started = Instant::now();
    let mut row = send(
        client,
        format!("{mib} MiB in signed chunks (digest unknown)"),
        (200, "-"),
        req,
    )
    .await;
    let elapsed = started.elapsed();
    row.note = format!(
        "{} in {:.2} s = {:.0} MiB/s; peak RSS {}",
        row.note,
        elapsed.as_secs_f64(),
        total as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64(),
        support::peak_rss().map_or("?".to_owned(), |b| format!("{} MiB", b / (1024 * 1024))),
    );
    row
}

/// A forger (an unknown key) streams `mib` MiB to /upload, declaring its
/// digest: refused before the handler runs or reads a byte. Shows how long
/// the 401 took and how much the client got to send: the server reads at
/// most the drain bound (8 MiB) of it, then answers with `Connection: close`.
async fn forged_upload(client: &DemoClient, forger: &Signer, addr: SocketAddr, mib: u64) -> Row {
    let chunk = Bytes::from(vec![0x5a; 64 * 1024]);
    let total = mib * 1024 * 1024;
    let sent = Arc::new(AtomicU64::new(0));
    let body = Counting {
        inner: support::Repeat {
            chunk,
            remaining: total,
            known_length: true,
        }
        .boxed(),
        sent: sent.clone(),
    };
    let mut req = Request::post(format!("http://{addr}/upload"))
        .body(body.boxed())
        .unwrap();
    // Whatever digest: the signature cannot match without the key.
    forger
        .sign_with_digest(&mut req, &BodyDigest::of(b"a forged upload"))
        .unwrap();
    let started = Instant::now();
    let mut row = send(
        client,
        format!("forged upload of {mib} MiB (h2c)"),
        (401, "invalid_signature"),
        req,
    )
    .await;
    row.note = format!(
        "{}401 after {:.3} s; the client had sent {:.1} MiB of {mib}; the handler read 0",
        if row.ok() {
            String::new()
        } else {
            format!("{} ", row.note)
        },
        started.elapsed().as_secs_f64(),
        sent.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0),
    );
    row
}

/// Counts the body bytes the client hands to the connection.
struct Counting {
    inner: BoxBody<Bytes, Infallible>,
    sent: Arc<AtomicU64>,
}

impl http_body::Body for Counting {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame {
            let len = frame.data_ref().map_or(0, |data| data.len() as u64);
            self.sent.fetch_add(len, Ordering::Relaxed);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn get(addr: SocketAddr, path: &str) -> Request<Bytes> {
    Request::get(format!("http://{addr}{path}"))
        .body(Bytes::new())
        .unwrap()
}

fn post(
    addr: SocketAddr,
    path: &str,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Request<Bytes> {
    Request::post(format!("http://{addr}{path}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

fn signed(signer: &Signer, mut request: Request<Bytes>) -> Request<Bytes> {
    let body = request.body().clone();
    signer.sign(&mut request, &body).unwrap();
    request
}

async fn run(
    client: &DemoClient,
    scenario: &str,
    expected: (u16, &'static str),
    request: Request<Bytes>,
) -> Row {
    let request = request.map(|body| Full::new(body).boxed());
    send(client, scenario.to_owned(), expected, request).await
}

async fn send(
    client: &DemoClient,
    scenario: String,
    expected: (u16, &'static str),
    request: Request<BoxBody<Bytes, Infallible>>,
) -> Row {
    let response =
        match tokio::time::timeout(Duration::from_secs(300), client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                return Row {
                    scenario,
                    expected,
                    got: (0, "-".into()),
                    note: format!("request failed: {error}"),
                }
            }
            Err(_) => {
                return Row {
                    scenario,
                    expected,
                    got: (0, "-".into()),
                    note: "timed out".into(),
                }
            }
        };
    let status = response.status().as_u16();
    let problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t == "application/problem+json");
    let body = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let (code, note) = if problem {
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        (
            value["code"].as_str().unwrap_or("?").to_owned(),
            String::new(),
        )
    } else {
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        (
            "-".to_owned(),
            if text.len() > 40 {
                format!("{}…", &text[..40])
            } else {
                text.to_owned()
            },
        )
    };
    Row {
        scenario,
        expected,
        got: (status, code),
        note,
    }
}

impl Row {
    fn ok(&self) -> bool {
        self.got.0 == self.expected.0 && self.got.1 == self.expected.1
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<3} {:<42} {:<26} {:<26} {:<4} note",
        "#", "scenario", "expected", "got", "ok"
    );
    println!("{}", "-".repeat(110));
    for (i, row) in rows.iter().enumerate() {
        let expected = format!("{} {}", row.expected.0, row.expected.1);
        let got = format!("{} {}", row.got.0, row.got.1);
        let ok = if row.ok() { "yes" } else { "NO" };
        println!(
            "{:<3} {:<42} {:<26} {:<26} {:<4} {}",
            i + 1,
            row.scenario,
            expected,
            got,
            ok,
            row.note
        );
    }
}

fn connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn usage() -> ! {
    eprintln!("usage: demo [--upload-mib N]");
    std::process::exit(2)
}
