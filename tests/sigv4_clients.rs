//! The SigV4 scheme (feature `sigv4`) against real clients: botocore's own
//! signer and Debian's curl, over TCP to a real server on 127.0.0.1.
//!
//! The server is an axum app, `/{*path}` (any method) behind
//! `SignatureLayer::new(keys).scheme(SigV4::new(SERVICE).region("us-east-1"))`,
//! whose handler reads the body, calls `verify()`, records what it saw
//! (method, path, query, body length and SHA-256, whether the caller was
//! authenticated before the body, the verdict) and answers it as JSON.
//!
//! - **botocore** (`tests/python/sigv4_botocore.py`): `SigV4Auth` for a
//!   service of ours (`myservice`: the path normalised and encoded a second
//!   time, no `x-amz-content-sha256`, so a body is judged at its end) and
//!   `S3SigV4Auth` for `s3` (the path as sent, the body's hash declared),
//!   each on an `AWSRequest` sent with `http.client`: dot segments and
//!   encoded `/`, an SDK-encoded query, JSON and 5 MiB bodies, an empty PUT,
//!   extra signed headers, and requests changed after signing, signed with
//!   a wrong secret, or sent twice.
//! - **curl** `--aws-sigv4 "aws:amz:us-east-1:SERVICE"`: what 7.88.1 signs
//!   correctly (a GET without a query or with a sorted one, `--data-binary`),
//!   over HTTP/1.1 and h2c, and its faults, each pinned by a test: an
//!   unsorted query and a `-T` upload are refused (the latter passes with
//!   `-H "x-amz-content-sha256: …"`), and so is an escaped path for any
//!   service but S3 (curl signs the path once, S3's rule).
//!
//! Every case asserts the status, the problem `code`, `WWW-Authenticate:
//! AWS4-HMAC-SHA256` on a 401, and what the handler observed, or that it
//! never ran. A missing `python3`, botocore or curl fails these tests with
//! how to install it (`.ci/run` does).

mod support;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::{Request, State},
    response::{IntoResponse, Response},
    routing::any,
    Json, Router,
};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use support::{Proto, KEY_ID, SECRET_B64};
use tokio::{process::Command, time::timeout};
use tower_hmac::{schemes::sigv4::SigV4, InMemoryKeys, Secret, SignatureLayer, Verifier};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/python/sigv4_botocore.py"
);
/// The secret access key the clients are given: the key's base64 text.
const B64: &str = SECRET_B64;
const REGION: &str = "us-east-1";
const MYSERVICE: &str = "myservice";
const MIB: u64 = 1024 * 1024;
/// The whole botocore script: 16 small requests and a 5 MiB one.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);
/// One curl transfer (curl's own `--max-time` is 60 s).
const CURL_TIMEOUT: Duration = Duration::from_secs(90);

const PYTHON_INSTALL: &str = "install Python 3 and botocore: `python3 -m pip install \
                              boto3==1.44.8 botocore==1.44.8` (.ci/run does)";
const CURL_INSTALL: &str =
    "install Debian's curl, with HTTP/2: `apt-get install -y curl` (.ci/run does)";

// ---------------------------------------------------------------------------
// The server under test.

/// What the handler observed of one request.
#[derive(Debug, Clone)]
struct Seen {
    /// The `X-Case` header (botocore's cases), if any.
    case: Option<String>,
    method: String,
    /// The path and the query exactly as the handler saw them.
    path: String,
    query: Option<String>,
    len: u64,
    sha256: String,
    /// A read of the body failed.
    body_error: bool,
    /// `authenticated_key_id()` was set before the body was read.
    early: bool,
    /// `verify()`: `Ok(key id)` or `Err(problem code)`.
    verify: Result<String, String>,
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

struct Server {
    addr: std::net::SocketAddr,
    log: Log,
}

impl Server {
    async fn start(service: &str) -> Self {
        let log = Log::default();
        let keys = InMemoryKeys::new()
            .with_key(KEY_ID.parse().unwrap(), Secret::from_base64(B64).unwrap());
        let app = Router::new()
            .route("/{*path}", any(handler))
            .with_state(log.clone())
            .layer(SignatureLayer::new(keys).scheme(SigV4::new(service).region(REGION)));
        Self {
            addr: support::serve(app).await,
            log,
        }
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.log.0.lock().unwrap())
    }
}

async fn handler(State(log): State<Log>, verifier: Verifier, request: Request) -> Response {
    let early = verifier.authenticated_key_id().is_some();
    let (parts, mut body) = request.into_parts();
    let (mut hasher, mut len, mut body_error) = (Sha256::new(), 0u64, false);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    hasher.update(data);
                    len += data.len() as u64;
                }
            }
            Err(_) => {
                body_error = true;
                break;
            }
        }
    }
    let verified = verifier.verify().await;
    let seen = Seen {
        case: parts
            .headers
            .get("x-case")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        len,
        sha256: hex(&hasher.finalize()),
        body_error,
        early,
        verify: match &verified {
            Ok(verified) => Ok(verified.key_id().to_string()),
            Err(error) => Err(error.code().to_string()),
        },
    };
    log.0.lock().unwrap().push(seen.clone());
    match verified {
        Ok(verified) => verified
            .respond(Json(json!({
                "method": seen.method,
                "path": seen.path,
                "query": seen.query,
                "len": seen.len,
                "sha256": seen.sha256,
                "verified": true,
                "key_id": verified.key_id().to_string(),
                "body_authenticated": verified.body_authenticated(),
            })))
            .into_response(),
        Err(error) => error.into_response(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------
// Expectations shared by both clients.

/// What the handler must have observed of a request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Handler {
    /// No handler ran: refused before it.
    Never,
    /// Ran, read the whole body sent, and `verify()` succeeded. `early`:
    /// whether the caller must have been authenticated before the body
    /// (`None`: not specified, not asserted).
    Accepted { early: Option<bool> },
    /// Ran, read the whole body sent, and `verify()` refused it with `code`.
    Refused {
        code: &'static str,
        early: Option<bool>,
    },
}

/// What a client got back, whichever client.
#[derive(Debug, Default)]
struct Answer {
    status: u16,
    code: Option<String>,
    www_authenticate: Option<String>,
    content_type: Option<String>,
    body: String,
}

/// The request as the client sent it.
struct Sent<'a> {
    method: &'a str,
    /// The path and query on the wire.
    target: &'a str,
    len: u64,
    sha256: &'a str,
}

/// Checks the answer (status, problem code, `WWW-Authenticate`, and on 200
/// the handler's JSON) and the handler's observations of this request.
fn check(
    answer: &Answer,
    status: u16,
    code: Option<&str>,
    expected: Handler,
    sent: &Sent<'_>,
    seen: &[Seen],
) -> Result<(), String> {
    let body = || answer.body.chars().take(400).collect::<String>();
    if answer.status != status || answer.code.as_deref() != code {
        return Err(format!(
            "answered {} {:?} (wanted {status} {code:?}): {}",
            answer.status,
            answer.code,
            body()
        ));
    }
    if status == 401 && answer.www_authenticate.as_deref() != Some("AWS4-HMAC-SHA256") {
        return Err(format!(
            "401 with WWW-Authenticate {:?}",
            answer.www_authenticate
        ));
    }
    if code.is_some() && answer.content_type.as_deref() != Some("application/problem+json") {
        return Err(format!("a refusal as {:?}", answer.content_type));
    }
    let (path, query) = match sent.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (sent.target, None),
    };
    if status == 200 {
        let got: Value =
            serde_json::from_str(&answer.body).map_err(|e| format!("{e}: {}", body()))?;
        let want = json!({
            "method": sent.method,
            "path": path,
            "query": query,
            "len": sent.len,
            "sha256": sent.sha256,
            "verified": true,
            "key_id": KEY_ID,
            "body_authenticated": true,
        });
        if got != want {
            return Err(format!("answered {got}, wanted {want}"));
        }
    }
    let early_ok = |early: Option<bool>, o: &Seen| early.is_none_or(|e| e == o.early);
    let saw_sent = |o: &Seen| {
        o.method == sent.method
            && o.path == path
            && o.query.as_deref() == query
            && o.len == sent.len
            && o.sha256 == sent.sha256
            && !o.body_error
    };
    match (expected, seen) {
        (Handler::Never, []) => Ok(()),
        (Handler::Never, seen) => Err(format!("the handler ran: {seen:?}")),
        (_, []) => Err(format!("no handler ran (wanted {expected:?})")),
        (Handler::Accepted { early }, [o])
            if saw_sent(o) && early_ok(early, o) && o.verify == Ok(KEY_ID.to_string()) =>
        {
            Ok(())
        }
        (Handler::Refused { code, early }, [o])
            if saw_sent(o) && early_ok(early, o) && o.verify == Err(code.to_string()) =>
        {
            Ok(())
        }
        (expected, seen) => Err(format!(
            "wanted {expected:?} of {} {} ({} bytes, sha256 {}); the handler observed {seen:?}",
            sent.method, sent.target, sent.len, sent.sha256
        )),
    }
}

// ---------------------------------------------------------------------------
// botocore.

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// One request of `sigv4_botocore.py`, as it reported it.
#[derive(Debug, Deserialize)]
struct Record {
    case: String,
    status: Option<u16>,
    code: Option<String>,
    www_authenticate: Option<String>,
    content_type: Option<String>,
    body: String,
    error: Option<String>,
    method: String,
    target: String,
    sent_len: u64,
    sent_sha256: String,
    signed_headers: String,
    /// Lines 2 and 3 and the last of the canonical request botocore built.
    canonical_uri: String,
    canonical_query: String,
    payload_hash: String,
    content_sha256_header: Option<String>,
    #[serde(default)]
    facts: Value,
    #[serde(default)]
    seconds: f64,
}

const BOTOCORE_CASES: &[&str] = &[
    "get-path",
    "get-dot-end",
    "get-tab",
    "get-query",
    "post-json",
    "post-5mib",
    "put-empty",
    "extra-headers",
    "tamper-body",
    "tamper-header",
    "wrong-secret",
    "wrong-secret-post",
    "replay-first",
    "replay-second",
    "replay-post-first",
    "replay-post-second",
];

/// The status, problem code and handler observation each case must get.
fn botocore_expectation(case: &str, s3: bool) -> (u16, Option<&'static str>, Handler) {
    // With `X-Amz-Content-SHA256` (S3SigV4Auth) the caller is authenticated
    // before the handler; without it (SigV4Auth), only at the body's end.
    let body_early = Some(s3);
    let ok = |early| (200, None, Handler::Accepted { early });
    let refused = |code| (401, Some(code), Handler::Never);
    match case {
        // Bodiless (a GET, a PUT with `Content-Length: 0`): authenticated
        // before the handler, with a declared empty hash or without one
        // (the body is known to be empty, so its hash too).
        "get-path" | "get-dot-end" | "get-tab" | "get-query" | "put-empty" | "replay-first" => {
            ok(Some(true))
        }
        "post-json" | "post-5mib" | "extra-headers" | "replay-post-first" => ok(body_early),
        // The head is genuine: the handler runs and reads the changed body,
        // which verify() refuses.
        "tamper-body" => (
            401,
            Some("invalid_signature"),
            Handler::Refused {
                code: "invalid_signature",
                early: body_early,
            },
        ),
        "tamper-header" => refused("unsigned_header"),
        "wrong-secret" => refused("invalid_signature"),
        // Judged at the body's end without a declared hash: the handler
        // runs, and verify() refuses.
        "wrong-secret-post" if !s3 => (
            401,
            Some("invalid_signature"),
            Handler::Refused {
                code: "invalid_signature",
                early: Some(false),
            },
        ),
        "wrong-secret-post" => refused("invalid_signature"),
        "replay-second" => refused("replayed_request"),
        // Without a declared hash the signature, and so the replay, can only
        // be judged at the body's end: the handler runs, reads the body and
        // verify() refuses the replay. With one, it is refused up front.
        "replay-post-second" if !s3 => (
            401,
            Some("replayed_request"),
            Handler::Refused {
                code: "replayed_request",
                early: Some(false),
            },
        ),
        "replay-post-second" => refused("replayed_request"),
        other => panic!("no expectation for {other}"),
    }
}

/// What botocore itself must have signed: the canonical URI and payload
/// hash of each signer, and the extra signed headers.
fn check_signed(record: &Record, s3: bool) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{what}: {record:?}"));
    match (record.case.as_str(), s3) {
        ("get-path", false) if record.canonical_uri != "/c%252Fd/e" => {
            return fail("SigV4Auth did not normalise and double-encode the path")
        }
        ("get-path", true) if record.canonical_uri != "/a%20b/../c%2Fd/./e" => {
            return fail("S3SigV4Auth did not sign the path as sent")
        }
        ("get-query", _) => {
            // The server sorts what botocore sent unsorted; botocore sorted
            // the same encoded pairs.
            let sent = record.target.split_once('?').map_or("", |(_, q)| q);
            if sent != record.facts["query"] || sent == record.canonical_query {
                return fail("the query was not sent as encoded, unsorted");
            }
        }
        ("extra-headers", _)
            if !record.signed_headers.contains("x-amz-meta-foo")
                || !record.signed_headers.contains("x-amz-target")
                || !record.signed_headers.contains("content-type") =>
        {
            return fail("the extra headers were not signed")
        }
        _ => {}
    }
    let signed_body = if record.case == "tamper-body" {
        sha256_hex(br#"{"amount": 100}"#)
    } else {
        record.sent_sha256.clone()
    };
    if record.payload_hash != signed_body {
        return fail("the payload hash signed is not the body's");
    }
    // S3SigV4Auth declares the hash; SigV4Auth sends no such header.
    let declared = s3.then_some(signed_body);
    if record.content_sha256_header != declared {
        return fail("x-amz-content-sha256");
    }
    Ok(())
}

/// Runs `sigv4_botocore.py` against a fresh server for `service` and checks
/// every case and the handler's observations of it.
async fn botocore(service: &str) {
    let s3 = service == "s3";
    let server = Server::start(service).await;
    let what = format!("sigv4_botocore.py {service}");
    let mut command = Command::new(python());
    command
        .current_dir(ROOT)
        .arg(SCRIPT)
        .arg(server.addr.to_string())
        .arg(service)
        .env("SIGV4_KEY_ID", KEY_ID)
        .env("SIGV4_SECRET", B64)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot run {} ({e}): {PYTHON_INSTALL}", python()));
    let output = timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after {SCRIPT_TIMEOUT:?} (killed)"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    let (mut records, mut env, mut done) = (Vec::new(), String::new(), None);
    for line in stdout.lines() {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: not a JSON line ({e}): {line}\n{stderr}"));
        match value["kind"].as_str() {
            Some("fatal") => panic!("{what}: {}\n{PYTHON_INSTALL}", value["message"]),
            Some("env") => env = value["versions"].as_str().unwrap_or("").to_string(),
            Some("done") => done = value["results"].as_u64(),
            Some("result") => records.push(
                serde_json::from_value::<Record>(value.clone())
                    .unwrap_or_else(|e| panic!("{what}: bad result ({e}): {line}")),
            ),
            _ => panic!("{what}: unknown line {line}"),
        }
    }
    assert!(
        output.status.success(),
        "{what} exited {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert_eq!(
        done,
        Some(records.len() as u64),
        "{what}: no done line, or a miscount"
    );
    let names: Vec<&str> = records.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(names, BOTOCORE_CASES, "{what}: the cases run");

    // The script waited for each answer, and each handler records before
    // it answers: every observation is in.
    let mut seen = server.take();
    let mut report = format!("{what} ({env}):\n");
    let mut failures = 0;
    for record in &records {
        let (status, code, expected) = botocore_expectation(&record.case, s3);
        let mine: Vec<Seen> = seen
            .iter()
            .filter(|o| o.case.as_deref() == Some(&record.case))
            .cloned()
            .collect();
        seen.retain(|o| o.case.as_deref() != Some(&record.case));
        let verdict = match &record.error {
            Some(error) => Err(format!("the script failed: {error}")),
            None => check_signed(record, s3).and_then(|()| {
                let answer = Answer {
                    status: record.status.unwrap_or(0),
                    code: record.code.clone(),
                    www_authenticate: record.www_authenticate.clone(),
                    content_type: record.content_type.clone(),
                    body: record.body.clone(),
                };
                let sent = Sent {
                    method: &record.method,
                    target: &record.target,
                    len: record.sent_len,
                    sha256: &record.sent_sha256,
                };
                check(&answer, status, code, expected, &sent, &mine)
            }),
        };
        failures += usize::from(verdict.is_err());
        let early = match mine.as_slice() {
            [o] => format!("handler ran, early={}", o.early),
            [] => "handler never ran".into(),
            _ => format!("handler ran {} times", mine.len()),
        };
        report.push_str(&format!(
            "  {:<20} {:>6.2} s  {} {:<18} {early}{}\n",
            record.case,
            record.seconds,
            record.status.unwrap_or(0),
            record.code.as_deref().unwrap_or(""),
            verdict
                .err()
                .map(|e| format!("\n      FAIL: {e}"))
                .unwrap_or_default()
        ));
    }
    assert!(failures == 0, "{failures} cases failed\n{report}");
    assert!(
        seen.is_empty(),
        "the handler observed requests of no case: {seen:?}\n{report}"
    );
    eprintln!("{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_sigv4auth_for_a_service_of_ours() {
    botocore(MYSERVICE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn botocore_s3sigv4auth_for_s3() {
    botocore("s3").await;
}

// ---------------------------------------------------------------------------
// curl.

/// What one curl transfer got, and what it sent (from `-v`).
struct Curl {
    answer: Answer,
    /// The `Authorization` header curl sent.
    authorization: String,
    /// curl's version, and its whole `-v` log, for failure messages.
    version: String,
    log: String,
}

impl Curl {
    fn context(&self) -> String {
        format!(
            "curl {}: {} {:?}\nAuthorization: {}\n{}",
            self.version, self.answer.status, self.answer.code, self.authorization, self.log
        )
    }
}

/// curl's version; fails the test without curl or its HTTP/2.
async fn curl_version() -> String {
    let output = timeout(
        CURL_TIMEOUT,
        Command::new("curl")
            .arg("--version")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("curl --version hung")
    .unwrap_or_else(|e| panic!("cannot run curl ({e}): {CURL_INSTALL}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let features = text.split("Features:").nth(1).unwrap_or("");
    assert!(
        features.split_whitespace().any(|f| f == "HTTP2"),
        "this curl has no HTTP/2: {}\n{CURL_INSTALL}",
        text.lines().next().unwrap_or("")
    );
    text.split_whitespace().nth(1).unwrap_or("?").to_string()
}

/// Runs `curl --aws-sigv4 aws:amz:us-east-1:SERVICE --user 7:B64` with
/// `args` for `http://ADDR{target}`.
async fn curl(server: &Server, service: &str, proto: Proto, args: &[&str], target: &str) -> Curl {
    let version = curl_version().await;
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-v", "-i", "--max-time", "60"])
        .arg("--aws-sigv4")
        .arg(format!("aws:amz:{REGION}:{service}"))
        .arg("--user")
        .arg(format!("{KEY_ID}:{B64}"))
        .arg(match proto {
            Proto::H1 => "--http1.1",
            Proto::H2 => "--http2-prior-knowledge",
        })
        .args(args)
        .arg(format!("http://{}{target}", server.addr))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = timeout(CURL_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("curl still running after {CURL_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run curl ({e}): {CURL_INSTALL}"));
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "curl failed: {}\n{log}",
        output.status
    );
    // `-v` prints the request's headers as sent: lowercase over HTTP/2.
    let authorization = log
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("> authorization: "))
        .map_or("<none>", |l| l["> authorization: ".len()..].trim())
        .to_string();
    Curl {
        answer: parse_response(&output.stdout)
            .unwrap_or_else(|| panic!("curl printed no response:\n{log}")),
        authorization,
        version,
        log,
    }
}

/// The final response of `curl -i`'s output (interim 1xx responses skipped).
fn parse_response(mut out: &[u8]) -> Option<Answer> {
    loop {
        let end = out.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&out[..end]).into_owned();
        out = &out[end + 4..];
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        if (100..200).contains(&status) {
            continue;
        }
        let mut answer = Answer {
            status,
            body: String::from_utf8_lossy(out).into_owned(),
            ..Answer::default()
        };
        for line in lines {
            let (name, value) = line.split_once(':')?;
            let value = Some(value.trim().to_string());
            match name.to_ascii_lowercase().as_str() {
                "www-authenticate" => answer.www_authenticate = value,
                "content-type" => answer.content_type = value,
                _ => {}
            }
        }
        if answer.content_type.as_deref() == Some("application/problem+json") {
            let problem: Value = serde_json::from_str(&answer.body).ok()?;
            answer.code = problem["code"].as_str().map(str::to_owned);
        }
        return Some(answer);
    }
}

/// A file of `len` bytes (not all alike) in the target's temporary dir.
fn file(name: &str, len: usize) -> (PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 251) as u8).collect();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sigv4_clients-{}-{name}", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

const CURL_SERVICES: [&str; 2] = [MYSERVICE, "s3"];
const PROTOS: [Proto; 2] = [Proto::H1, Proto::H2];

fn proto_name(proto: Proto) -> &'static str {
    match proto {
        Proto::H1 => "h1",
        Proto::H2 => "h2c",
    }
}

/// What a curl case must get, by service: status, problem code, handler.
type CurlExpectation = fn(&str) -> (u16, Option<&'static str>, Handler);

/// Runs one curl request per service and protocol, each to its own path
/// (`/curl/NAME/SERVICE/PROTO` + `rest`, so that none is a replay of
/// another), checks each, and returns them for further checks.
async fn curl_cases(
    name: &str,
    args: &[&str],
    rest: &str,
    method: &str,
    body: &[u8],
    expected: CurlExpectation,
) -> Vec<(&'static str, Proto, Curl)> {
    let (mut failures, mut done) = (Vec::new(), Vec::new());
    for service in CURL_SERVICES {
        let server = Server::start(service).await;
        for proto in PROTOS {
            let target = format!("/curl/{name}/{service}/{}{rest}", proto_name(proto));
            let curl = curl(&server, service, proto, args, &target).await;
            let sha256 = sha256_hex(body);
            let sent = Sent {
                method,
                target: &target,
                len: body.len() as u64,
                sha256: &sha256,
            };
            let (status, code, handler) = expected(service);
            let seen = server.take();
            match check(&curl.answer, status, code, handler, &sent, &seen) {
                Err(error) => {
                    failures.push(format!("{service} {proto:?}: {error}\n{}", curl.context()))
                }
                Ok(()) => eprintln!(
                    "curl {name} {service} {proto:?}: {} {} ({})",
                    curl.answer.status,
                    curl.answer.code.as_deref().unwrap_or(""),
                    curl.authorization
                ),
            }
            done.push((service, proto, curl));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    done
}

/// Asserts what curl signed: exactly `signed` as SignedHeaders.
#[track_caller]
fn assert_signed_headers(done: &[(&str, Proto, Curl)], signed: &str) {
    for (service, proto, curl) in done {
        assert!(
            curl.authorization
                .contains(&format!("SignedHeaders={signed}, ")),
            "{service} {proto:?}: wanted SignedHeaders={signed}\n{}",
            curl.context()
        );
    }
}

fn accepted(early: Option<bool>) -> (u16, Option<&'static str>, Handler) {
    (200, None, Handler::Accepted { early })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_signs_a_get_without_a_query() {
    let done = curl_cases("get", &[], "", "GET", b"", |_| accepted(Some(true))).await;
    assert_signed_headers(&done, "host;x-amz-date");
}

/// Sorted, and each parameter canonically encoded already (curl signs the
/// query as written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_signs_a_query_already_in_sorted_order() {
    curl_cases(
        "sorted-query",
        &[],
        "?a=1&b=x%20y&c=&d=%C3%BC",
        "GET",
        b"",
        |_| accepted(Some(true)),
    )
    .await;
}

/// Judged at the body's end: curl never sends `x-amz-content-sha256`. Over
/// 1 MiB, so curl's HTTP/1.1 sends `Expect: 100-continue` first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_signs_data_binary_bodies() {
    let (path, data) = file("data-binary", 2 * MIB as usize + 3);
    let at = format!("@{}", path.display());
    let done = curl_cases(
        "data-binary",
        &["--data-binary", &at],
        "",
        "POST",
        &data,
        |_| accepted(Some(false)),
    )
    .await;
    let _ = std::fs::remove_file(path);
    // curl's own Content-Type is not signed.
    assert_signed_headers(&done, "host;x-amz-date");
    for (service, proto, curl) in &done {
        let expect = curl
            .log
            .lines()
            .any(|l| l.eq_ignore_ascii_case("> expect: 100-continue"));
        assert_eq!(
            expect,
            *proto == Proto::H1,
            "{service} {proto:?}: {}",
            curl.log
        );
    }
}

/// curl 7.88.1 signs the query as written, not sorted: refused before the
/// handler (a bodiless GET), for every service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_signs_an_unsorted_query_as_written_and_is_refused() {
    curl_cases("unsorted-query", &[], "?b=2&a=1", "GET", b"", |_| {
        (401, Some("invalid_signature"), Handler::Never)
    })
    .await;
}

/// Not in the notes: curl 7.88.1 signs the path as sent, encoded once and
/// not normalised. That is S3's rule, so S3 accepts it; every other
/// service's canonical URI encodes the path a second time, so a path with
/// an escape is refused there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_signs_an_escaped_path_once_refused_but_by_s3() {
    curl_cases(
        "escaped-path",
        &[],
        "/a%20b/%C3%BC",
        "GET",
        b"",
        |service| {
            if service == "s3" {
                accepted(Some(true))
            } else {
                (401, Some("invalid_signature"), Handler::Never)
            }
        },
    )
    .await;
}

/// curl 7.88.1 signs a `-T` upload as an empty body: the handler reads it
/// all (there is no declared hash: judged at its end), and verify() refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_upload_with_t_signs_the_empty_hash_and_is_refused() {
    let (path, data) = file("upload", 100_000);
    let path_text = path.display().to_string();
    let done = curl_cases("upload", &["-T", &path_text], "", "PUT", &data, |_| {
        (
            401,
            Some("invalid_signature"),
            Handler::Refused {
                code: "invalid_signature",
                early: Some(false),
            },
        )
    })
    .await;
    let _ = std::fs::remove_file(path);
    assert_signed_headers(&done, "host;x-amz-date");
}

/// With the body's hash given as `x-amz-content-sha256`, curl signs that
/// header and uses it as the payload hash: authenticated before the
/// handler, the body checked at its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_upload_with_t_and_a_content_sha256_header_passes() {
    let (path, data) = file("upload-sha256", 100_000);
    let path_text = path.display().to_string();
    let header = format!("x-amz-content-sha256: {}", sha256_hex(&data));
    let done = curl_cases(
        "upload-sha256",
        &["-T", &path_text, "-H", &header],
        "",
        "PUT",
        &data,
        |_| accepted(Some(true)),
    )
    .await;
    let _ = std::fs::remove_file(path);
    assert_signed_headers(&done, "host;x-amz-content-sha256;x-amz-date");
}
