//! The legacy schnellburger scheme (features `schnellburger`,
//! `schnellburger-md5`) against a real server: a Go client
//! (`tests/go/schnellburger`, schnellburger's `RoundTripper` written from its
//! description) with HMAC-MD5 and HMAC-SHA256; the independent vectors
//! (`tests/vectors/schnellburger.json`, from
//! `tests/vectors/schnellburger_vectors.py`); every index length, every
//! error code, tampering, an unknown key index, streaming, the response
//! guard, and what the scheme cannot protect (replays, the query/body
//! boundary), shown as tests so that the documentation cannot drift.
//!
//! A missing `go` or `python3` fails these tests: `.ci/run` installs them.

mod support;

use std::{collections::VecDeque, path::Path, process::Stdio, sync::Arc, time::Duration};

use axum::{body::Body, routing::any, routing::post, Router};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::{header, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use support::{
    app::{app_with, read_all_then_verify, Observation, Observed},
    Framing, Proto, Reply, TestBody, MATRIX,
};
use tokio::{process::Command, time::timeout};
use tower::ServiceExt as _;
use tower_hmac::{
    schemes::schnellburger::{Hash, Schnellburger},
    InMemoryKeys, KeyId, KeyStore, Secret, SignatureLayer, Signer, StoreError, StoreFuture,
    Verifier, VerifyError,
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The key of every test here, as in the vectors: the bytes 00 01 … 1f.
const KEY: [u8; 32] = {
    let mut key = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        key[i] = i as u8;
        i += 1;
    }
    key
};
const ERROR_CODE: &str = "x-schnellburger-error-code";
const GO_INSTALL: &str = "install Go 1.19+: `apt-get install golang-go` (.ci/run does)";
const PYTHON_INSTALL: &str = "install Python 3 (.ci/run's machine has it)";

fn secret() -> Secret {
    Secret::new(KEY.to_vec()).unwrap()
}

fn keys(indices: &[u64]) -> InMemoryKeys {
    let mut keys = InMemoryKeys::new();
    for index in indices {
        keys.insert(index.to_string().parse().unwrap(), secret());
    }
    keys
}

// ---------------------------------------------------------------------------
// A client of the scheme, written here from its description (not the crate's code).

fn percent_decoded(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// What the MAC covers: method, decoded path, `?` and the raw query, and
/// the body unless the method is GET, DELETE or HEAD.
fn mac_input(method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut input = method.as_bytes().to_vec();
    let path = percent_decoded(path);
    input.extend_from_slice(if path.is_empty() { b"/" } else { &path });
    if !query.is_empty() {
        input.push(b'?');
        input.extend_from_slice(query.as_bytes());
    }
    if !matches!(method, "GET" | "DELETE" | "HEAD") {
        input.extend_from_slice(body);
    }
    input
}

fn hmac(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Hash::Md5 => {
            let mut mac = Hmac::<md5::Md5>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        _ => unreachable!(),
    }
}

fn encode(index: u64, index_len: usize, mac: &[u8]) -> String {
    let index = &index.to_be_bytes()[8 - index_len..];
    STANDARD.encode([index, mac].concat())
}

/// The `Authorization` value the Go client sends (an 8-byte index), or with another index length.
fn authorization(
    hash: Hash,
    index: u64,
    index_len: usize,
    method: &str,
    target: &str,
    body: &[u8],
) -> String {
    encode(
        index,
        index_len,
        &hmac(hash, &KEY, &mac_input(method, target, body)),
    )
}

fn go_client(method: &str, target: &str, body: &[u8]) -> String {
    authorization(Hash::Md5, 7, 8, method, target, body)
}

fn request(
    addr: std::net::SocketAddr,
    proto: Proto,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Request<Bytes> {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = support::request(proto, addr, method, target, Bytes::copy_from_slice(body));
    if let Some(auth) = auth {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
    }
    request
}

async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Reply {
    let request = request(addr, Proto::H1, method, target, auth, body);
    support::send(addr, Proto::H1, Framing::Length, request).await
}

/// Serves the test app behind `layer`.
async fn serve(layer: SignatureLayer) -> (std::net::SocketAddr, Observed) {
    let observed = Observed::default();
    (
        support::serve(app_with(layer, observed.clone())).await,
        observed,
    )
}

fn md5_layer(keys: impl KeyStore) -> SignatureLayer {
    SignatureLayer::new(keys).scheme(Schnellburger::new(Hash::Md5))
}

/// A refusal as schnellburger's clients know it, with its problem code.
#[track_caller]
fn assert_refused(reply: &Reply, status: u16, error_code: Option<&str>, code: &str) {
    assert_eq!(reply.status.as_u16(), status, "body: {}", reply.text());
    assert_eq!(
        reply.headers.get(ERROR_CODE).map(|v| v.to_str().unwrap()),
        error_code,
        "{:?}",
        reply.headers
    );
    assert_eq!(
        reply.code().as_deref(),
        Some(code),
        "body: {}",
        reply.text()
    );
    let problem: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        problem["status"], status,
        "the problem's status is the response's"
    );
    if status != 401 {
        assert!(reply.headers.get(header::WWW_AUTHENTICATE).is_none());
    }
}

fn observation(route: &'static str, body: &[u8], verify: Result<&str, &str>) -> Observation {
    Observation {
        route,
        body: Bytes::copy_from_slice(body),
        len: body.len() as u64,
        body_error: false,
        verify: vec![verify.map(str::to_owned).map_err(str::to_owned)],
        chunked: false,
    }
}

/// hyper's HTTP/1.1 client sends no body of unknown length with a `GET` or
/// `HEAD` (it may not chunk them): nothing to test there.
fn skipped(proto: Proto, framing: Framing, method: &str, body: &[u8]) -> bool {
    proto == Proto::H1
        && framing == Framing::Chunked
        && matches!(method, "GET" | "HEAD")
        && !body.is_empty()
}

// ---------------------------------------------------------------------------
// The vectors of the independent Python implementation.

#[derive(Deserialize)]
struct VectorFile {
    key_hex: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    hash: String,
    method: String,
    target: String,
    body_hex: String,
    key_index: u64,
    known_key: bool,
    mac_input_hex: String,
    mac_hex: Option<String>,
    authorization: String,
    expect: Expect,
}

#[derive(Deserialize)]
struct Expect {
    status: u16,
    error_code: Option<String>,
}

fn vector_file() -> VectorFile {
    serde_json::from_str(include_str!("vectors/schnellburger.json")).unwrap()
}

fn hex(data: &str) -> Vec<u8> {
    (0..data.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&data[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_vectors_are_what_their_generator_makes() {
    let output =
        std::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(format!("{ROOT}/tests/vectors/schnellburger_vectors.py"))
            .arg("--check")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap_or_else(|e| panic!("python3: {e}: {PYTHON_INSTALL}"));
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn every_vector_is_judged_as_the_independent_implementation_says() {
    let file = vector_file();
    assert_eq!(
        file.key_hex,
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    );
    assert!(file.vectors.len() >= 30);
    for hash in [Hash::Md5, Hash::Sha256] {
        let name = if hash == Hash::Md5 { "md5" } else { "sha256" };
        let vectors: Vec<&Vector> = file.vectors.iter().filter(|v| v.hash == name).collect();
        let known: Vec<u64> = vectors
            .iter()
            .filter(|v| v.known_key)
            .map(|v| v.key_index)
            .collect();
        let layer = SignatureLayer::new(keys(&known)).scheme(Schnellburger::new(hash));
        let app = Router::new()
            .route("/", any(read_all_then_verify))
            .route("/{*rest}", any(read_all_then_verify))
            .route_layer(layer);
        let addr = support::serve(app).await;
        for vector in vectors {
            let body = hex(&vector.body_hex);
            // This file's client agrees with the vector on what is signed.
            if let Some(mac) = &vector.mac_hex {
                let input = hex(&vector.mac_input_hex);
                assert_eq!(hmac(hash, &KEY, &input), hex(mac), "{}", vector.name);
                if vector.expect.status == 200 {
                    assert_eq!(
                        input,
                        mac_input(&vector.method, &vector.target, &body),
                        "{}",
                        vector.name
                    );
                }
            }
            for (proto, framing) in MATRIX {
                if skipped(proto, framing, &vector.method, &body) {
                    continue;
                }
                let request = request(
                    addr,
                    proto,
                    &vector.method,
                    &vector.target,
                    Some(&vector.authorization),
                    &body,
                );
                let reply = support::send(addr, proto, framing, request).await;
                let context = format!("{} ({proto:?}, {framing:?}): {}", vector.name, reply.text());
                assert_eq!(reply.status.as_u16(), vector.expect.status, "{context}");
                let error_code = reply
                    .headers
                    .get(ERROR_CODE)
                    .map(|v| v.to_str().unwrap().to_owned());
                assert_eq!(error_code, vector.expect.error_code, "{context}");
                match vector.expect.error_code.as_deref() {
                    None if vector.method == "HEAD" => assert!(reply.body.is_empty(), "{context}"),
                    None => assert_eq!(reply.body, body, "{context}"),
                    Some(code) => {
                        let want = match code {
                            "0" => "missing_authorization",
                            "1" | "2" | "3" => "malformed_authorization",
                            _ => "invalid_signature",
                        };
                        assert_eq!(reply.code().as_deref(), Some(want), "{context}");
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The Go client.

fn go(dir: &str) -> Command {
    let mut command = Command::new("go");
    command
        .current_dir(format!("{ROOT}/{dir}"))
        // Standard library only: nothing to fetch, no toolchain to switch to.
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off");
    command
}

async fn run(what: &str, mut command: Command, limit: Duration) -> (bool, String, String) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start it ({e}): {GO_INSTALL}"));
    let output = timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after {limit:?} (killed)"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One request of the Go program, as it reported it.
#[derive(Debug, Deserialize)]
struct Record {
    case: String,
    status: u16,
    error_code: Option<String>,
    problem: Option<String>,
    body: String,
    sent_len: u64,
    error: Option<String>,
    seconds: f64,
}

const GO_CASES: &[&str] = &[
    "go:get",
    "go:get-query",
    "go:get-escaped-path",
    "go:head",
    "go:delete",
    "go:post-echo",
    "go:post-empty",
    "go:upload",
    "go:tamper-body",
    "go:tamper-query",
    "go:wrong-key",
    "go:unknown-key-id",
    "go:delete-with-body",
    "go:no-key",
];

const UPLOAD: u64 = 64 * 1024 * 1024;

/// Checks one case of the Go program against what it got and what the
/// handler observed (`None`: no handler ran).
fn check_go(record: &Record, observed: Option<&Observation>) -> Result<(), String> {
    if let Some(error) = &record.error {
        return Err(format!("the client failed: {error}"));
    }
    let kind = record.case.trim_start_matches("go:");
    let answer = |status: u16, code: Option<&str>, problem: Option<&str>| {
        if record.status != status
            || record.error_code.as_deref() != code
            || record.problem.as_deref() != problem
        {
            return Err(format!(
                "answered {} {:?} {:?} (wanted {status} {code:?} {problem:?}): {}",
                record.status, record.error_code, record.problem, record.body
            ));
        }
        Ok(())
    };
    let handler = |route: &str, verify: Result<&str, &str>, len: Option<u64>| match observed {
        None => Err(format!("no handler observed {kind}")),
        Some(o) => {
            let want = vec![verify.map(str::to_owned).map_err(str::to_owned)];
            if o.route != route
                || o.verify != want
                || o.body_error
                || len.is_some_and(|len| o.len != len)
            {
                Err(format!(
                    "wanted {route} {want:?} {len:?}; the handler observed {o:?}"
                ))
            } else {
                Ok(())
            }
        }
    };
    let not_authentic = || answer(403, Some("5"), Some("invalid_signature"));
    match kind {
        "get" => {
            answer(200, None, None)?;
            (record.body == "hello, key 7")
                .then_some(())
                .ok_or("body")?;
            handler("hello", Ok("7"), None)
        }
        "get-query" | "get-escaped-path" | "delete" | "post-empty" => {
            answer(200, None, None)?;
            let target = match kind {
                "get-query" => "GET /any/q?a=1&b=two%20words&c=%2F",
                "get-escaped-path" => "GET /any/a%2Fb%20c+d",
                "delete" => "DELETE /any/d?force=1",
                _ => "POST /any/e",
            };
            (record.body == target)
                .then_some(())
                .ok_or(format!("body {:?}", record.body))?;
            handler("any", Ok("7"), Some(0))
        }
        "head" => {
            answer(200, None, None)?;
            handler("any", Ok("7"), Some(0))
        }
        "post-echo" => {
            answer(200, None, None)?;
            (record.body == "hello, schnellburger")
                .then_some(())
                .ok_or("body")?;
            handler("echo", Ok("7"), Some(20))
        }
        "upload" => {
            answer(200, None, None)?;
            (record.body == format!("{{\"bytes\":{UPLOAD}}}") && record.sent_len == UPLOAD)
                .then_some(())
                .ok_or(format!("body {:?}", record.body))?;
            handler("upload", Ok("7"), Some(UPLOAD))
        }
        // The target is genuine, so the handler runs and reads the whole
        // body; verify() refuses it, and so does the guard.
        "tamper-body" => {
            not_authentic()?;
            handler("upload", Err("invalid_signature"), Some(record.sent_len))
        }
        // Judged before any handler.
        "tamper-query" | "wrong-key" | "unknown-key-id" | "delete-with-body" => not_authentic(),
        "no-key" => answer(403, Some("0"), Some("missing_authorization")),
        other => Err(format!("no expectation for {other}")),
    }
}

fn reaches_handler(case: &str) -> bool {
    !matches!(
        case,
        "go:tamper-query"
            | "go:wrong-key"
            | "go:unknown-key-id"
            | "go:delete-with-body"
            | "go:no-key"
    )
}

/// Serves the test app with schnellburger over `hash` next to the native
/// scheme, runs the Go program against it and checks its report.
async fn go_against_the_server(binary: &Path, hash: Hash, flag: &str) -> String {
    let keys = InMemoryKeys::new()
        .with_key("7".parse().unwrap(), secret())
        .with_key(
            support::OTHER_KEY_ID.parse().unwrap(),
            Secret::from_base64(support::OTHER_SECRET_B64).unwrap(),
        );
    let layer = SignatureLayer::new(keys)
        .scheme(Schnellburger::new(hash).answer_missing_authorization(true));
    let (addr, observed) = serve(layer).await;
    let mut command = Command::new(binary);
    command
        .arg("-addr")
        .arg(addr.to_string())
        .arg("-hash")
        .arg(flag)
        .arg("-key")
        .arg(KEY.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let what = format!("tests/go/schnellburger -hash {flag}");
    let (success, stdout, stderr) = run(&what, command, Duration::from_secs(300)).await;
    let mut records = Vec::new();
    let mut env = String::new();
    let mut done = None;
    for line in stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: not a JSON line ({e}): {line}\n{stderr}"));
        match value["kind"].as_str() {
            Some("fatal") => panic!("{what}: {}", value["message"]),
            Some("env") => env = value["versions"].as_str().unwrap_or_default().to_owned(),
            Some("done") => done = value["results"].as_u64(),
            Some("result") => records.push(serde_json::from_value::<Record>(value).unwrap()),
            _ => panic!("{what}: unknown line {line}"),
        }
    }
    assert!(
        success,
        "{what} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        done,
        Some(records.len() as u64),
        "{what}: no done line, or a miscount"
    );
    let names: Vec<&str> = records.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(names, GO_CASES, "{what}: the cases run");

    let mut seen: VecDeque<Observation> = observed.take().into();
    let mut report = format!("{what} ({env}):\n");
    let mut failures = 0;
    for record in &records {
        let observation = if reaches_handler(&record.case) {
            seen.pop_front()
        } else {
            None
        };
        let verdict = check_go(record, observation.as_ref());
        failures += usize::from(verdict.is_err());
        report.push_str(&format!(
            "  {:<22} {:>6.2} s  {} {}{}\n",
            record.case,
            record.seconds,
            record.status,
            record.error_code.as_deref().unwrap_or(""),
            verdict
                .err()
                .map(|e| format!("  FAIL: {e}"))
                .unwrap_or_default()
        ));
    }
    assert!(failures == 0, "{failures} cases failed\n{report}");
    assert!(
        seen.is_empty(),
        "handlers observed requests that should not have reached them: {seen:?}\n{report}"
    );
    // An unknown key index is answered exactly like a wrong key.
    let body_of = |case: &str| {
        records
            .iter()
            .find(|r| r.case == case)
            .map(|r| r.body.clone())
    };
    assert_eq!(body_of("go:wrong-key"), body_of("go:unknown-key-id"));
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_client_against_the_server() {
    let dir = "tests/go/schnellburger";
    let mut command = go(dir);
    command.args(["vet", "./..."]);
    let (vet, out, err) = run("go vet", command, Duration::from_secs(180)).await;
    assert!(vet, "go vet:\n{out}{err}");
    let mut command = Command::new("gofmt");
    command
        .current_dir(format!("{ROOT}/{dir}"))
        .args(["-l", "."]);
    let (fmt, out, err) = run("gofmt", command, Duration::from_secs(60)).await;
    assert!(fmt && out.is_empty(), "not gofmt-formatted: {out}{err}");

    let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tower-hmac-schnellburger-go");
    let mut command = go(dir);
    command.arg("build").arg("-o").arg(&binary).arg(".");
    let (built, out, err) = run("go build", command, Duration::from_secs(180)).await;
    assert!(built, "go build:\n{out}{err}");

    let md5 = go_against_the_server(&binary, Hash::Md5, "md5").await;
    let sha256 = go_against_the_server(&binary, Hash::Sha256, "sha256").await;
    eprintln!("{md5}{sha256}");
}

// ---------------------------------------------------------------------------
// The wire format.

#[tokio::test]
async fn all_five_index_lengths_name_their_key() {
    let indices = [
        (0, 0),
        (1, 200),
        (2, 0xbeef),
        (4, 0xdead_beef),
        (8, u64::MAX - 1),
    ];
    for hash in [Hash::Md5, Hash::Sha256] {
        let ids: Vec<u64> = indices.iter().map(|(_, index)| *index).collect();
        let (addr, observed) =
            serve(SignatureLayer::new(keys(&ids)).scheme(Schnellburger::new(hash))).await;
        for (len, index) in indices {
            let auth = authorization(hash, index, len, "GET", "/hello", b"");
            let reply = send(addr, "GET", "/hello", Some(&auth), b"").await;
            assert_eq!(reply.status, 200, "{hash:?} {len}: {}", reply.text());
            assert_eq!(reply.text(), format!("hello, key {index}"));
            let body = b"a body, streamed";
            let auth = authorization(hash, index, len, "POST", "/upload", body);
            let reply = send(addr, "POST", "/upload", Some(&auth), body).await;
            assert_eq!(reply.status, 200, "{hash:?} {len}: {}", reply.text());
        }
        assert_eq!(observed.take().len(), 10);
    }
    // Index 7 in 1, 2, 4 or 8 bytes is key id 7.
    let (addr, _) = serve(md5_layer(keys(&[7]))).await;
    for len in [1, 2, 4, 8] {
        let auth = authorization(Hash::Md5, 7, len, "GET", "/hello", b"");
        assert_eq!(
            send(addr, "GET", "/hello", Some(&auth), b"").await.text(),
            "hello, key 7"
        );
    }
}

#[tokio::test]
async fn every_error_code() {
    let (addr, observed) = serve(md5_layer(keys(&[7]))).await;
    let mac = hmac(Hash::Md5, &KEY, b"GET/hello");
    let cases: [(&str, &str, &str); 7] = [
        ("", "0", "missing_authorization"),
        ("not*base64", "1", "malformed_authorization"),
        ("AAAAAAAAAAc", "1", "malformed_authorization"),
        (&STANDARD.encode([0u8; 15]), "2", "malformed_authorization"),
        (
            &STANDARD.encode([&[0u8; 3][..], &mac].concat()),
            "3",
            "malformed_authorization",
        ),
        (
            &STANDARD.encode([&[0u8; 5][..], &mac].concat()),
            "3",
            "malformed_authorization",
        ),
        (
            &encode(7, 8, &hmac(Hash::Md5, &[9; 32], b"GET/hello")),
            "5",
            "invalid_signature",
        ),
    ];
    for (value, error_code, code) in cases {
        let reply = send(addr, "GET", "/hello", Some(value), b"").await;
        assert_refused(&reply, 403, Some(error_code), code);
    }
    // No Authorization at all is the layer's, not the scheme's, by default...
    let reply = send(addr, "GET", "/hello", None, b"").await;
    assert_refused(&reply, 401, None, "missing_authorization");
    // ...and the layer's challenge names no schnellburger word.
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "HMAC-SHA256");
    // ...unless schnellburger answers it.
    let (answering, _) = serve(
        SignatureLayer::new(keys(&[7]))
            .scheme(Schnellburger::new(Hash::Md5).answer_missing_authorization(true)),
    )
    .await;
    let reply = send(answering, "GET", "/hello", None, b"").await;
    assert_refused(&reply, 403, Some("0"), "missing_authorization");
    assert!(
        observed.take().is_empty(),
        "no refused request reached a handler"
    );
}

struct BrokenKeyStore;

impl KeyStore for BrokenKeyStore {
    fn lookup(&self, _: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
        StoreFuture::new(async {
            tokio::task::yield_now().await;
            Err(StoreError::new("database is down"))
        })
    }
}

#[tokio::test]
async fn a_failing_key_store_is_500_with_code_6_the_server_s_fault() {
    let (addr, observed) = serve(md5_layer(BrokenKeyStore)).await;
    let auth = go_client("GET", "/hello", b"");
    let reply = send(addr, "GET", "/hello", Some(&auth), b"").await;
    assert_refused(&reply, 500, Some("6"), "key_store_unavailable");
    let auth = go_client("POST", "/upload", b"x");
    let reply = send(addr, "POST", "/upload", Some(&auth), b"x").await;
    assert_refused(&reply, 500, Some("6"), "key_store_unavailable");
    // What the client got wrong is still the client's: judged before the store.
    let reply = send(addr, "GET", "/hello", Some("AAAA"), b"").await;
    assert_refused(&reply, 403, Some("2"), "malformed_authorization");
    assert!(observed.take().is_empty());
}

#[tokio::test]
async fn an_unknown_key_index_is_answered_exactly_like_a_wrong_mac() {
    let other = Secret::new(vec![0x42; 32]).unwrap();
    let keys = keys(&[7]).with_key("8".parse().unwrap(), other);
    let (addr, observed) = serve(md5_layer(keys)).await;
    for (method, target, body) in [
        ("GET", "/hello", &b""[..]),
        ("POST", "/upload", b"some body"),
    ] {
        let input = mac_input(method, target, body);
        // Index 8 exists with another key; index 9 does not exist.
        let wrong = encode(8, 8, &hmac(Hash::Md5, &KEY, &input));
        let unknown = encode(9, 8, &hmac(Hash::Md5, &KEY, &input));
        let a = send(addr, method, target, Some(&wrong), body).await;
        let b = send(addr, method, target, Some(&unknown), body).await;
        assert_refused(&a, 403, Some("5"), "invalid_signature");
        assert_eq!((a.status, &a.body), (b.status, &b.body));
        let names = |reply: &Reply| {
            let mut headers: Vec<(String, Vec<u8>)> = reply
                .headers
                .iter()
                .filter(|(name, _)| *name != header::DATE)
                .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
                .collect();
            headers.sort();
            headers
        };
        assert_eq!(names(&a), names(&b));
        // With a body, both reach the handler, which reads it all and is refused by verify().
        let seen = observed.take();
        if method == "POST" {
            assert_eq!(seen.len(), 2);
            assert_eq!(seen[0].verify, seen[1].verify);
            assert_eq!(seen[0].verify, vec![Err("invalid_signature".to_owned())]);
            assert_eq!(seen[0].len, seen[1].len);
        } else {
            assert!(seen.is_empty());
        }
    }
}

#[tokio::test]
async fn tampering_is_refused() {
    let other = Secret::new(vec![0x42; 32]).unwrap();
    let (addr, observed) = serve(md5_layer(keys(&[7]).with_key("8".parse().unwrap(), other))).await;
    let body = b"the genuine body";
    let genuine = go_client("POST", "/upload", body);
    for (method, target, sent_body, auth) in [
        // The body changed on the way: the handler reads it; verify() and the guard refuse it.
        ("POST", "/upload", &b"the changed body"[..], genuine.clone()),
        ("POST", "/upload", &b"the genuine bod"[..], genuine.clone()),
        (
            "POST",
            "/upload",
            &b"the genuine body!"[..],
            genuine.clone(),
        ),
        // The target or method of a request with a body changed: judged at the body's end too.
        ("POST", "/upload?x=1", body, genuine.clone()),
        ("PUT", "/any/x", body, go_client("POST", "/any/x", body)),
        // Without a body: refused before the handler.
        (
            "GET",
            "/hello?n=2",
            b"",
            go_client("GET", "/hello?n=1", b""),
        ),
        ("GET", "/any/x/", b"", go_client("GET", "/any/x", b"")),
        ("DELETE", "/any/x", b"", go_client("GET", "/any/x", b"")),
        // Another key index, with the same MAC.
        (
            "GET",
            "/hello",
            b"",
            encode(8, 8, &hmac(Hash::Md5, &KEY, b"GET/hello")),
        ),
        // A changed MAC.
        ("GET", "/hello", b"", {
            let mut mac = hmac(Hash::Md5, &KEY, b"GET/hello");
            mac[15] ^= 1;
            encode(7, 8, &mac)
        }),
    ] {
        let reply = send(addr, method, target, Some(&auth), sent_body).await;
        assert_refused(&reply, 403, Some("5"), "invalid_signature");
    }
    let seen = observed.take();
    assert_eq!(seen.len(), 5, "{seen:?}");
    for (seen, sent) in seen.iter().zip([16, 15, 17, 16, 16]) {
        assert_eq!(seen.verify, vec![Err("invalid_signature".to_owned())]);
        assert_eq!(
            (seen.len, seen.body_error),
            (sent, false),
            "the whole body was read"
        );
    }
    // And the genuine request passes.
    let reply = send(addr, "POST", "/upload", Some(&genuine), body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn a_body_the_method_does_not_sign_is_refused_at_its_first_byte() {
    let (addr, observed) = serve(md5_layer(keys(&[7]))).await;
    for method in ["GET", "DELETE"] {
        // Signed as its client signs it (no body in the MAC for the server).
        let auth = authorization(Hash::Md5, 7, 8, method, "/any/g", b"");
        for (proto, framing) in MATRIX {
            if skipped(proto, framing, method, b"unsigned") {
                continue;
            }
            let unsigned = request(addr, proto, method, "/any/g", Some(&auth), b"unsigned");
            let reply = support::send(addr, proto, framing, unsigned).await;
            assert_refused(&reply, 403, Some("5"), "invalid_signature");
            let seen = observed.take();
            assert_eq!(seen.len(), 1);
            // Not one byte of it reached the handler.
            assert!(
                seen[0].body_error && seen[0].body.is_empty(),
                "{proto:?} {framing:?}: {seen:?}"
            );
            // An empty body, even chunked, is fine.
            let empty = request(addr, proto, method, "/any/g", Some(&auth), b"");
            let reply = support::send(addr, proto, framing, empty).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            observed.take();
        }
    }
}

#[tokio::test]
async fn a_broken_percent_escape_is_not_authentic() {
    let (addr, observed) = serve(md5_layer(keys(&[7]))).await;
    // Go's server refuses the target before any handler: no client can have signed it.
    let auth = encode(7, 8, &hmac(Hash::Md5, &KEY, b"GET/any/%zz"));
    let reply = send(addr, "GET", "/any/%zz", Some(&auth), b"").await;
    assert_refused(&reply, 403, Some("5"), "invalid_signature");
    assert!(observed.take().is_empty());
}

// ---------------------------------------------------------------------------
// Streaming, verify() and the guard, unchanged.

#[tokio::test]
async fn a_64_mib_body_is_hashed_as_it_streams_never_buffered() {
    const CHUNK: usize = 1024 * 1024;
    let chunk = |i: usize| Bytes::from(vec![(i * 7 % 251) as u8; CHUNK]);
    let mut input = b"POST/stream".to_vec();
    for i in 0..64 {
        input.extend_from_slice(&chunk(i));
    }
    let auth = encode(7, 8, &hmac(Hash::Md5, &KEY, &input));
    drop(input);
    for proto in [Proto::H1, Proto::H2] {
        let first = Arc::new(tokio::sync::Notify::new());
        let app = Router::new()
            .route(
                "/stream",
                post({
                    let first = first.clone();
                    move |verifier: Verifier, mut body: Body| async move {
                        let mut len = 0;
                        while let Some(frame) = body.frame().await {
                            let Ok(frame) = frame else { break };
                            if let Some(data) = frame.data_ref() {
                                if len == 0 {
                                    // The handler holds the first bytes while the rest is unsent.
                                    first.notify_one();
                                }
                                len += data.len();
                            }
                        }
                        let verified = verifier.verify().await?;
                        Ok::<_, VerifyError>(verified.respond(len.to_string()))
                    }
                }),
            )
            .route_layer(md5_layer(keys(&[7])));
        let addr = support::serve(app).await;
        let (feed, body) = TestBody::channel();
        let mut request = request(addr, proto, "POST", "/stream", Some(&auth), b"").map(|_| body);
        request.headers_mut().remove(header::CONTENT_LENGTH);
        let sent = tokio::spawn(async move {
            let mut client = support::Client::connect(addr, proto).await;
            client.send_body(request).await
        });
        feed.send(chunk(0)).await.unwrap();
        timeout(Duration::from_secs(10), first.notified())
            .await
            .expect("the handler got the first bytes before the body was sent: nothing buffers it");
        for i in 1..64 {
            feed.send(chunk(i)).await.unwrap();
        }
        drop(feed);
        let reply = sent.await.unwrap();
        assert_eq!(reply.status, 200, "{proto:?}: {}", reply.text());
        assert_eq!(reply.text(), (64 * CHUNK).to_string());
    }
}

#[tokio::test]
async fn the_response_guard_and_verify_work_unchanged() {
    let (addr, observed) = serve(md5_layer(keys(&[7]))).await;
    let body = b"body";
    // A handler that forgets verify(): a genuine request is a server bug (500, no code)...
    let auth = go_client("POST", "/forget", body);
    let reply = send(addr, "POST", "/forget", Some(&auth), body).await;
    assert_refused(&reply, 500, None, "verification_skipped");
    // ...a forged one is refused as not authentic, whatever the handler said.
    let forged = encode(7, 8, &[0u8; 16]);
    let reply = send(addr, "POST", "/forget", Some(&forged), body).await;
    assert_refused(&reply, 403, Some("5"), "invalid_signature");
    // A handler that ignores a failed verify() is overruled by the guard.
    let reply = send(addr, "POST", "/ignore-failure", Some(&forged), body).await;
    assert_refused(&reply, 403, Some("5"), "invalid_signature");
    // verify() before the body is read says so, and succeeds after it.
    let auth = go_client("POST", "/early", body);
    let reply = send(addr, "POST", "/early", Some(&auth), body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body, &body[..]);
    // The buffering extractors too.
    let auth = go_client("POST", "/bytes", body);
    let reply = send(addr, "POST", "/bytes", Some(&auth), body).await;
    assert_eq!(
        (reply.status.as_u16(), reply.text()),
        (200, "body".to_owned())
    );
    let seen = observed.take();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(
        seen[0],
        Observation {
            verify: vec![],
            ..observation("forget", body, Ok(""))
        }
    );
    assert_eq!(
        seen[3].verify,
        vec![Err("verification_skipped".to_owned()), Ok("7".to_owned())]
    );
}

#[tokio::test]
async fn native_clients_keep_working_on_the_same_layer() {
    let keys = keys(&[7]);
    let (addr, observed) = serve(md5_layer(keys)).await;
    let signer = Signer::new("7".parse().unwrap(), secret());
    let mut request = request(addr, Proto::H1, "GET", "/hello", None, b"");
    signer.sign(&mut request, b"").unwrap();
    let reply = support::send(addr, Proto::H1, Framing::Length, request.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // A native refusal is the native one: 401 with the native challenge.
    let reply = support::send(addr, Proto::H1, Framing::Length, request).await;
    reply.assert_problem(401, "replayed_request");
    assert!(reply.headers.get(ERROR_CODE).is_none());
    // A value with a scheme word is never schnellburger's...
    let reply = send(
        addr,
        "GET",
        "/hello",
        Some("Bearer AAAAAAAAAAdSY59RNRdXitvCQQVOh/p3"),
        b"",
    )
    .await;
    reply.assert_problem(401, "malformed_authorization");
    assert!(reply.headers.get(ERROR_CODE).is_none());
    // ...and one without a space is (here, not base64).
    let reply = send(addr, "GET", "/hello", Some("HMAC-SHA256"), b"").await;
    assert_refused(&reply, 403, Some("1"), "malformed_authorization");
    assert_eq!(observed.take().len(), 1);
}

#[tokio::test]
async fn explain_refusals_says_what_was_signed() {
    let layer = md5_layer(keys(&[7])).explain_refusals(true);
    let (addr, _) = serve(layer).await;
    let auth = encode(7, 8, &[0u8; 16]);
    let reply = send(addr, "GET", "/any/a%2Fb%20c?q=%2F", Some(&auth), b"").await;
    assert_refused(&reply, 403, Some("5"), "invalid_signature");
    let problem: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(problem["explanation"]["key_id"], "7");
    assert_eq!(
        problem["explanation"]["signed_prefix"],
        "GET/any/a/b c?q=%2F"
    );
    let reply = send(addr, "POST", "/upload", Some(&auth), b"12345").await;
    let problem: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        problem["explanation"]["received_body_length"], "5",
        "{problem}"
    );
}

#[tokio::test]
async fn policies_it_cannot_meet_refuse_it() {
    // It signs no header: a required one other than host refuses every request of it.
    let layer = md5_layer(keys(&[7])).require_signed_header(header::CONTENT_TYPE);
    let (addr, _) = serve(layer).await;
    let auth = go_client("GET", "/hello", b"");
    let reply = send(addr, "GET", "/hello", Some(&auth), b"").await;
    assert_refused(&reply, 403, Some("5"), "unsigned_header");
    // A body is judged at its end: refused under early authentication; a GET is not.
    let layer = md5_layer(keys(&[7])).require_early_authentication(true);
    let (addr, observed) = serve(layer).await;
    let auth = go_client("POST", "/upload", b"x");
    let reply = send(addr, "POST", "/upload", Some(&auth), b"x").await;
    assert_refused(&reply, 403, Some("5"), "early_authentication_required");
    let auth = go_client("GET", "/hello", b"");
    assert_eq!(
        send(addr, "GET", "/hello", Some(&auth), b"").await.status,
        200
    );
    assert_eq!(observed.take().len(), 1);
}

#[tokio::test]
async fn no_client_input_gets_a_5xx() {
    let layer = md5_layer(keys(&[0, 7]));
    let app = Router::new()
        .route("/{*rest}", any(read_all_then_verify))
        .route_layer(layer);
    // A small xorshift: the same inputs on every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..3000 {
        let len = (next() % 48) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let value = match i % 3 {
            // Valid base64 of any length.
            0 => STANDARD.encode(&bytes),
            // Printable garbage without a space.
            1 => bytes.iter().map(|b| char::from(b'!' + b % 94)).collect(),
            // Base64 with a character changed.
            _ => {
                let mut text = STANDARD.encode(&bytes).into_bytes();
                if let Some(c) = text.first_mut() {
                    *c = b"*-_.~"[(next() % 5) as usize];
                }
                String::from_utf8(text).unwrap()
            }
        };
        let method = ["GET", "POST", "PUT", "DELETE", "HEAD"][(next() % 5) as usize];
        let request = Request::builder()
            .method(method)
            .uri("/x?y=1")
            .header(header::AUTHORIZATION, &value)
            .body(Body::from(bytes.clone()))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{method} {value:?}"
        );
        assert!(response.headers().contains_key(ERROR_CODE), "{value:?}");
    }
}

// ---------------------------------------------------------------------------
// What it cannot protect, shown, so that the README cannot claim more.

#[tokio::test]
async fn replays_go_unchecked() {
    let (addr, observed) = serve(md5_layer(keys(&[7]))).await;
    let auth = go_client("POST", "/upload", b"pay 10");
    for _ in 0..3 {
        let reply = send(addr, "POST", "/upload", Some(&auth), b"pay 10").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert_eq!(observed.take().len(), 3);
}

#[tokio::test]
async fn the_query_body_boundary_shift_is_undetectable() {
    let (addr, observed) = serve(md5_layer(keys(&[7]))).await;
    // Signed as POST /any/x?a=1 with body "2"...
    let auth = go_client("POST", "/any/x?a=1", b"2");
    let reply = send(addr, "POST", "/any/x?a=1", Some(&auth), b"2").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // ...and accepted as POST /any/x?a=12 with no body: the same signed bytes.
    let reply = send(addr, "POST", "/any/x?a=12", Some(&auth), b"").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "POST /any/x?a=12");
    // So are a '?' decoded from the path, and two spellings of one decoded path.
    let auth = go_client("GET", "/any/a?b", b"");
    assert_eq!(
        send(addr, "GET", "/any/a%3Fb", Some(&auth), b"")
            .await
            .status,
        200
    );
    let auth = go_client("GET", "/any/a/b", b"");
    assert_eq!(
        send(addr, "GET", "/any/a%2Fb", Some(&auth), b"")
            .await
            .status,
        200
    );
    assert_eq!(observed.take().len(), 4);
}

#[tokio::test]
async fn the_known_request_cache_refuses_a_repeat_within_its_window() {
    let scheme = Schnellburger::new(Hash::Md5).refuse_repeats_within(Duration::from_secs(60));
    let (addr, observed) = serve(SignatureLayer::new(keys(&[7, 8])).scheme(scheme)).await;
    for (method, target, body) in [("GET", "/hello", &b""[..]), ("POST", "/upload", b"pay 10")] {
        let auth = go_client(method, target, body);
        let reply = send(addr, method, target, Some(&auth), body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let reply = send(addr, method, target, Some(&auth), body).await;
        assert_refused(&reply, 403, Some("5"), "replayed_request");
    }
    // Another request, or the same with another key index, is not a repeat.
    let auth = go_client("GET", "/hello?n=2", b"");
    assert_eq!(
        send(addr, "GET", "/hello?n=2", Some(&auth), b"")
            .await
            .status,
        200
    );
    let auth = authorization(Hash::Md5, 8, 8, "GET", "/hello", b"");
    assert_eq!(
        send(addr, "GET", "/hello", Some(&auth), b"").await.status,
        200
    );
    // A forgery that fails is not remembered: the genuine request still passes.
    let body = b"genuine";
    let auth = go_client("POST", "/upload", body);
    let forged = send(addr, "POST", "/upload", Some(&auth), b"forged!").await;
    assert_refused(&forged, 403, Some("5"), "invalid_signature");
    assert_eq!(
        send(addr, "POST", "/upload", Some(&auth), body)
            .await
            .status,
        200
    );
    // The GET was refused before its handler, the POST's repeat after reading its body.
    let seen = observed.take();
    assert_eq!(seen.len(), 7, "{seen:?}");
}

// ---------------------------------------------------------------------------
// The seam the scheme needed, with a scheme of the test's own.

/// Claims `Dummy …` values and refuses them; finds credentials in a
/// `?dummy` query; shapes its refusals, trying to break the rules too.
struct Dummy;

impl tower_hmac::schemes::Scheme for Dummy {
    fn name(&self) -> &'static str {
        "Dummy"
    }

    fn claim(
        &self,
        _: &HeaderValue,
        _: &tower_hmac::schemes::Head<'_>,
    ) -> Result<Box<dyn tower_hmac::schemes::Claim>, tower_hmac::ErrorCode> {
        Err(tower_hmac::ErrorCode::InvalidSignature)
    }

    fn claim_elsewhere(
        &self,
        head: &tower_hmac::schemes::Head<'_>,
    ) -> Option<Result<Box<dyn tower_hmac::schemes::Claim>, tower_hmac::ErrorCode>> {
        (head.uri.query() == Some("dummy"))
            .then_some(Err(tower_hmac::ErrorCode::PresignedUrlNotAllowed))
    }

    fn refusal(
        &self,
        _: tower_hmac::ErrorCode,
        authorization: Option<&HeaderValue>,
        refusal: &mut tower_hmac::schemes::Refusal,
    ) {
        // A client's fault may not become the server's, nor set the body's type.
        refusal.status = StatusCode::INTERNAL_SERVER_ERROR;
        refusal
            .headers
            .insert("x-dummy", HeaderValue::from_static("1"));
        refusal
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        if let Some(value) = authorization {
            refusal.headers.insert("x-dummy-saw", value.clone());
        }
    }
}

#[tokio::test]
async fn schemes_shape_their_refusals_within_the_rules_and_give_way_to_credentials_elsewhere() {
    // schnellburger, answering requests without credentials, before a scheme that finds some in the query.
    let schnellburger = Schnellburger::new(Hash::Md5).answer_missing_authorization(true);
    let layer = SignatureLayer::new(keys(&[7]))
        .scheme(schnellburger)
        .scheme(Dummy);
    let (addr, observed) = serve(layer).await;
    // The other scheme's credentials elsewhere go first.
    let reply = send(addr, "GET", "/hello?dummy", None, b"").await;
    assert_eq!(reply.status, 401, "{}", reply.text());
    assert_eq!(reply.code().as_deref(), Some("presigned_url_not_allowed"));
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Dummy");
    assert_eq!(reply.headers["x-dummy"], "1");
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert!(reply.headers.get(ERROR_CODE).is_none());
    // No credentials at all: schnellburger's.
    let reply = send(addr, "GET", "/hello", None, b"").await;
    assert_refused(&reply, 403, Some("0"), "missing_authorization");
    // A Dummy value is Dummy's, which sees it when shaping.
    let reply = send(addr, "GET", "/hello", Some("Dummy x"), b"").await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.headers["x-dummy-saw"], "Dummy x");
    // The layer's own challenge names the schemes with a word.
    let reply = send(addr, "GET", "/hello", Some("Bearer x"), b"").await;
    assert_eq!(reply.code().as_deref(), Some("malformed_authorization"));
    assert_eq!(
        reply.headers[header::WWW_AUTHENTICATE],
        "HMAC-SHA256, Dummy"
    );
    assert!(observed.take().is_empty());
}
