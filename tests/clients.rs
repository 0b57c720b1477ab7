//! The Python and Go clients (`clients/python`, `clients/go`), written from
//! `docs/PROTOCOL.md` alone, against the real server.
//!
//! Each client's own unit tests run (they reproduce every shared test
//! vector), and a client program (`tests/python/client_e2e.py` with
//! requests, httpx and httpx's `AsyncClient`; `clients/go/cmd/e2e` with the
//! `Transport`) sends, to the test app on 127.0.0.1: signed GETs, bodies in
//! memory to the buffered `/echo`, a raw percent-encoded target, 64 MiB
//! uploads from a file (hashed first, declared in `Content-Digest`) and from
//! a stream (signed chunks), and requests changed after signing (body,
//! target, one chunk, a body cut before its last chunk), signed with a wrong
//! secret, or replayed. The program only reports what it sent and got; the
//! expectations are here: the status, the problem `code`, the body, and what
//! the handler observed (or that no handler ran).
//!
//! A missing `python3` (with requests and httpx) or `go` fails these tests:
//! `.ci/run` installs them.

mod support;

use std::{collections::VecDeque, path::Path, process::Stdio, time::Duration};

use serde::Deserialize;
use support::app::Observation;
use tokio::{
    process::Command,
    time::{timeout, Instant},
};
use tower_hmac::SignatureLayer;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const UPLOAD: u64 = 64 * 1024 * 1024;

const UNIT_TIMEOUT: Duration = Duration::from_secs(150);
const BUILD_TIMEOUT: Duration = Duration::from_secs(180);
/// A whole client program: about 30 requests, five or two of them 64 MiB
/// uploads; each request is bounded by the program (120 s), this only
/// fires if the program itself hangs.
const E2E_TIMEOUT: Duration = Duration::from_secs(300);

const PYTHON_INSTALL: &str = "install Python 3 and `python3 -m pip install requests==2.34.2 \
                              'httpx[http2]==0.28.1' blake3==1.0.8` (.ci/run does)";
const GO_INSTALL: &str = "install Go 1.19+: `apt-get install golang-go` (.ci/run does)";

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The working tree's Python client, first on the path (not an installed copy).
fn python_path() -> String {
    let src = format!("{ROOT}/clients/python/src");
    match std::env::var("PYTHONPATH") {
        Ok(rest) if !rest.is_empty() => format!("{src}:{rest}"),
        _ => src,
    }
}

fn go() -> Command {
    let mut command = Command::new("go");
    command
        .current_dir(format!("{ROOT}/clients/go"))
        // Standard library only: nothing to fetch, no toolchain to switch to.
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off");
    command
}

struct Output {
    success: bool,
    stdout: String,
    stderr: String,
    seconds: f64,
}

/// Runs `command` to its end, killed after `limit`.
async fn run(what: &str, mut command: Command, limit: Duration, install: &str) -> Output {
    command
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start it ({e}): {install}"));
    let output = timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after {limit:?} (killed)"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    Output {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// One request of a client program, as it reported it.
#[derive(Debug, Deserialize)]
struct Record {
    case: String,
    status: u16,
    code: Option<String>,
    body: String,
    error: Option<String>,
    /// The body of an `echo` case.
    sent: Option<String>,
    #[serde(default)]
    sent_len: u64,
    /// The path and query the client signed, for `raw-target`.
    signed_target: Option<String>,
    #[serde(default)]
    tampered_chunk: u64,
    #[serde(default)]
    chunk_size: u64,
    #[serde(default)]
    seconds: f64,
}

const PYTHON_CASES: &[&str] = &[
    "requests:get",
    "requests:echo",
    "requests:raw-target",
    "requests:upload-file",
    "requests:upload-chunks",
    "requests:tamper-body",
    "requests:tamper-target",
    "requests:wrong-secret",
    "requests:replay-first",
    "requests:replay-second",
    "httpx:get",
    "httpx:echo",
    "httpx:raw-target",
    "httpx:upload-file",
    "httpx:upload-chunks",
    "httpx:tamper-chunk",
    "httpx:truncated-chunks",
    "httpx-async:get",
    "httpx-async:echo",
    "httpx-async:upload-chunks",
];

const GO_CASES: &[&str] = &[
    "go:get",
    "go:echo",
    "go:echo-stream",
    "go:raw-target",
    "go:upload-file",
    "go:upload-chunks",
    "go:tamper-body",
    "go:tamper-target",
    "go:tamper-chunk",
    "go:truncated-chunks",
    "go:wrong-secret",
    "go:replay-first",
    "go:replay-second",
];

fn ok_key() -> Vec<Result<String, String>> {
    vec![Ok(support::KEY_ID.to_string())]
}

fn refused(code: &str) -> Vec<Result<String, String>> {
    vec![Err(code.to_string())]
}

/// Whether a case's request must reach a handler: all but those refused
/// before the handler runs.
fn reaches_handler(kind: &str) -> bool {
    !matches!(kind, "tamper-target" | "wrong-secret" | "replay-second")
}

/// Checks one record against its case's expectation and what the handler
/// observed of it (`None` when no handler ran).
fn check(record: &Record, kind: &str, observed: Option<&Observation>) -> Result<(), String> {
    if let Some(error) = &record.error {
        return Err(format!("the client failed: {error}"));
    }
    let status = |want: u16, code: Option<&str>| -> Result<(), String> {
        if record.status != want || record.code.as_deref() != code {
            return Err(format!(
                "answered {} {:?} (wanted {want} {code:?}): {}",
                record.status,
                record.code,
                record.body.chars().take(300).collect::<String>()
            ));
        }
        Ok(())
    };
    let handler = |what: &str, ok: bool| -> Result<(), String> {
        match observed {
            None => Err(format!("no handler observed this request ({what})")),
            Some(o) if !ok => Err(format!("wanted {what}; the handler observed {o:?}")),
            Some(_) => Ok(()),
        }
    };
    let o = observed.cloned().unwrap_or(Observation {
        route: "",
        body: Default::default(),
        len: 0,
        body_error: false,
        verify: vec![],
        chunked: false,
    });
    match kind {
        "get" | "replay-first" => {
            status(200, None)?;
            if record.body != format!("hello, key {}", support::KEY_ID) {
                return Err(format!("body {:?}", record.body));
            }
            handler(
                "a verified /hello",
                o.route == "hello" && o.verify == ok_key(),
            )
        }
        "echo" | "echo-stream" => {
            status(200, None)?;
            let sent = record.sent.as_deref().ok_or("no `sent`")?;
            if record.body != sent {
                return Err(format!("echoed {:?}, sent {sent:?}", record.body));
            }
            handler(
                "the verified body sent to /echo",
                o.route == "echo" && o.body == sent.as_bytes() && o.verify == ok_key(),
            )
        }
        "raw-target" => {
            status(200, None)?;
            let target = record
                .signed_target
                .as_deref()
                .ok_or("no `signed_target`")?;
            // The handler saw the target the client signed, byte for byte:
            // `%2f` stays an escape (requests upper-cases escapes and
            // decodes `%7E` when it prepares the URL; httpx and Go do not).
            if !target.to_ascii_lowercase().starts_with("/any/a%2fb/")
                || !target.contains("?q=%")
                || record.body != format!("POST {target}")
            {
                return Err(format!(
                    "signed {target:?}, the handler saw {:?}",
                    record.body
                ));
            }
            handler(
                "a verified /any",
                o.route == "any" && o.body == b"x".as_slice() && o.verify == ok_key(),
            )
        }
        "upload-file" | "upload-chunks" => {
            status(200, None)?;
            let answer: serde_json::Value = serde_json::from_str(&record.body)
                .map_err(|e| format!("{e}: {:?}", record.body))?;
            if answer != serde_json::json!({ "bytes": UPLOAD }) || record.sent_len != UPLOAD {
                return Err(format!("answered {answer}"));
            }
            // A file goes with its length and its digest declared; a stream
            // of unknown digest in signed chunks, with Transfer-Encoding: chunked.
            let chunked = kind == "upload-chunks";
            handler(
                &format!("a verified 64 MiB upload (chunked: {chunked})"),
                o.route == "upload"
                    && o.len == UPLOAD
                    && !o.body_error
                    && o.verify == ok_key()
                    && o.chunked == chunked,
            )
        }
        "tamper-body" => {
            // The head is genuine, so the handler runs; the body does not
            // hash to the declared digest, so verify() refuses it.
            status(401, Some("invalid_signature"))?;
            handler(
                "the whole changed body, refused by verify()",
                o.route == "upload"
                    && o.len == record.sent_len
                    && !o.body_error
                    && o.verify == refused("invalid_signature"),
            )
        }
        "tamper-chunk" => {
            status(401, Some("invalid_signature"))?;
            // The chunks before the changed one pass; the changed one may
            // reach the handler whole (one unchecked chunk, PROTOCOL §4.6),
            // then the next read fails.
            let (at, size) = (record.tampered_chunk, record.chunk_size);
            handler(
                &format!(
                    "a failed read after {}..={} bytes",
                    at * size,
                    (at + 1) * size
                ),
                o.route == "upload"
                    && o.body_error
                    && size > 0
                    && (at * size..=(at + 1) * size).contains(&o.len)
                    && o.verify == refused("invalid_signature"),
            )
        }
        "truncated-chunks" => {
            // Every chunk sent is genuine and reaches the handler; the
            // missing last chunk is what verify() refuses. (Whether the
            // handler's read fails too is not specified: not asserted.)
            status(400, Some("body_incomplete"))?;
            handler(
                "every chunk's data, then body_incomplete",
                o.route == "upload"
                    && o.len == record.sent_len
                    && o.verify == refused("body_incomplete"),
            )
        }
        // Refused before any handler runs.
        "tamper-target" | "wrong-secret" => status(401, Some("invalid_signature")),
        "replay-second" => status(401, Some("replayed_request")),
        other => Err(format!("no expectation for {other:?}")),
    }
}

/// Starts the test app, runs `make(addr)` to its end and checks its report.
async fn against_server(
    what: &str,
    make: impl FnOnce(std::net::SocketAddr) -> Command,
    cases: &[&str],
    install: &str,
) {
    against(
        SignatureLayer::new(support::app::keys()),
        what,
        make,
        cases,
        install,
    )
    .await
}

/// [`against_server`] with the test app behind `layer`.
async fn against(
    layer: SignatureLayer,
    what: &str,
    make: impl FnOnce(std::net::SocketAddr) -> Command,
    cases: &[&str],
    install: &str,
) {
    let observed = support::app::Observed::default();
    let addr = support::serve(support::app::app_with(layer, observed.clone())).await;
    let mut command = make(addr);
    command
        .env("TOWER_HMAC_KEY_ID", support::KEY_ID)
        .env("TOWER_HMAC_SECRET", support::SECRET_B64);
    let output = run(what, command, E2E_TIMEOUT, install).await;

    let mut records = Vec::new();
    let mut env = String::new();
    let mut done = None;
    for line in output.stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: not a JSON line ({e}): {line}\n{}", output.stderr));
        match value["kind"].as_str() {
            Some("fatal") => panic!("{what}: {}\n{install}", value["message"]),
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
        output.success,
        "{what} failed after {:.1} s\nstdout:\n{}\nstderr:\n{}",
        output.seconds, output.stdout, output.stderr
    );
    assert_eq!(
        done,
        Some(records.len() as u64),
        "{what}: no done line, or a miscount"
    );
    let names: Vec<&str> = records.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(names, cases, "{what}: the cases run");

    // Every handler has pushed its observation before answering, and the
    // program waited for each answer: all of them are in, in order.
    let mut seen: VecDeque<Observation> = observed.take().into();
    let mut report = format!("{what} ({env}), {:.1} s:\n", output.seconds);
    let mut failures = 0;
    for record in &records {
        let kind = record.case.split_once(':').map_or("", |(_, kind)| kind);
        let observation = if reaches_handler(kind) {
            seen.pop_front()
        } else {
            None
        };
        let verdict = check(record, kind, observation.as_ref());
        failures += usize::from(verdict.is_err());
        report.push_str(&format!(
            "  {:<28} {:>6.2} s  {} {}{}\n",
            record.case,
            record.seconds,
            record.status,
            record.code.as_deref().unwrap_or(""),
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
    eprintln!("{report}");
}

/// The Python client's end-to-end program, against the server at `addr`.
fn python_e2e(addr: std::net::SocketAddr) -> Command {
    let mut command = Command::new(python());
    command
        .current_dir(ROOT)
        .arg("tests/python/client_e2e.py")
        .arg(addr.to_string())
        .arg(env!("CARGO_TARGET_TMPDIR"))
        .env("PYTHONPATH", python_path());
    command
}

/// The same program signing `BLAKE3-KEYED` (PROTOCOL §9), against a layer
/// that accepts it: requests and httpx, every body kind, every forgery.
#[cfg(feature = "blake3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_signing_blake3_against_the_server() {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };
    use tower_hmac::{
        schemes::{blake3_keyed::Blake3Keyed, Claim, Head, Scheme},
        ErrorCode,
    };

    /// `Blake3Keyed`, counting the requests it judges.
    struct Counted(Arc<AtomicUsize>);

    impl Scheme for Counted {
        fn name(&self) -> &'static str {
            Blake3Keyed::new().name()
        }

        fn claim(
            &self,
            authorization: &http::HeaderValue,
            head: &Head<'_>,
        ) -> Result<Box<dyn Claim>, ErrorCode> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Blake3Keyed::new().claim(authorization, head)
        }
    }

    let judged = Arc::new(AtomicUsize::new(0));
    let layer = SignatureLayer::new(support::app::keys()).scheme(Counted(judged.clone()));
    against(
        layer,
        "tests/python/client_e2e.py (BLAKE3-KEYED)",
        |addr| {
            let mut command = python_e2e(addr);
            command.env("TOWER_HMAC_ALGORITHM", "BLAKE3-KEYED");
            command
        },
        PYTHON_CASES,
        PYTHON_INSTALL,
    )
    .await;
    // Every case was signed BLAKE3-KEYED, none fell back to HMAC-SHA256.
    assert!(
        judged.load(Ordering::SeqCst) >= PYTHON_CASES.len(),
        "BLAKE3-KEYED judged {} requests for {} cases",
        judged.load(Ordering::SeqCst),
        PYTHON_CASES.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_unit_tests() {
    let mut command = Command::new(python());
    command
        .current_dir(ROOT)
        .args([
            "-m",
            "unittest",
            "discover",
            "-v",
            "-s",
            "clients/python/tests",
        ])
        .env("PYTHONPATH", python_path())
        .env("TOWER_HMAC_REQUIRE_EXTRAS", "1");
    let output = run(
        "the Python client's unit tests",
        command,
        UNIT_TIMEOUT,
        PYTHON_INSTALL,
    )
    .await;
    let log = format!("{}{}", output.stdout, output.stderr);
    assert!(output.success, "{log}\n{PYTHON_INSTALL}");
    let ran: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no `Ran N tests` line:\n{log}"));
    assert!(ran >= 39, "only {ran} tests ran:\n{log}");
    assert!(
        !log.contains("skipped"),
        "no test may be skipped here:\n{log}"
    );
    eprintln!(
        "python client unit tests: {ran} passed in {:.1} s",
        output.seconds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_against_the_server() {
    against_server(
        "tests/python/client_e2e.py",
        python_e2e,
        PYTHON_CASES,
        PYTHON_INSTALL,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_client_unit_tests() {
    let mut command = go();
    command.args(["vet", "./..."]);
    let vet = run("go vet", command, BUILD_TIMEOUT, GO_INSTALL).await;
    assert!(vet.success, "go vet:\n{}{}", vet.stdout, vet.stderr);
    let mut command = Command::new("gofmt");
    command
        .current_dir(format!("{ROOT}/clients/go"))
        .args(["-l", "."]);
    let fmt = run("gofmt", command, UNIT_TIMEOUT, GO_INSTALL).await;
    assert!(
        fmt.success && fmt.stdout.is_empty(),
        "not gofmt-formatted: {}{}",
        fmt.stdout,
        fmt.stderr
    );

    let mut command = go();
    command.args(["test", "-count=1", "-timeout=120s", "-v", "./..."]);
    let output = run("go test", command, UNIT_TIMEOUT, GO_INSTALL).await;
    let log = format!("{}{}", output.stdout, output.stderr);
    assert!(output.success, "{log}");
    let passed = log.matches("--- PASS: Test").count();
    assert!(passed >= 15, "only {passed} Go tests passed:\n{log}");
    for vectors in ["TestVectors", "TestChunkedVectors"] {
        assert!(
            log.contains(&format!("--- PASS: {vectors} ")),
            "{vectors} did not pass:\n{log}"
        );
    }
    assert!(
        !log.contains("--- SKIP"),
        "no Go test may be skipped:\n{log}"
    );
    eprintln!(
        "go client unit tests: {passed} passed in {:.1} s",
        output.seconds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_client_against_the_server() {
    let tmp = env!("CARGO_TARGET_TMPDIR");
    let binary = Path::new(tmp).join("tower-hmac-go-e2e");
    let mut command = go();
    command.arg("build").arg("-o").arg(&binary).arg("./cmd/e2e");
    let build = run("go build ./cmd/e2e", command, BUILD_TIMEOUT, GO_INSTALL).await;
    assert!(build.success, "go build:\n{}{}", build.stdout, build.stderr);

    against_server(
        "clients/go/cmd/e2e",
        |addr| {
            let mut command = Command::new(&binary);
            command
                .arg("-addr")
                .arg(addr.to_string())
                .arg("-tmp")
                .arg(tmp);
            command
        },
        GO_CASES,
        GO_INSTALL,
    )
    .await;
}
