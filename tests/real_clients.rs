//! Early refusals must reach real clients, and must not break their pooled
//! connections.
//!
//! Each test serves the test app (`SignatureLayer`, HTTP/1.1 and h2c) and runs
//! `tests/python/refusals.py` for one client: Python's `http.client`,
//! `requests`, `httpx` over HTTP/1.1 and over h2c, and curl over HTTP/1.1 with
//! and without `Expect: 100-continue` and over h2c. For every early refusal
//! (missing, malformed or stale `Authorization`, `host` not signed, unknown
//! key and bad signature, both with `Content-Digest`, and `body_too_large`
//! from the buffered adapter) at every body size up to the server's 8 MiB
//! drain bound (0, 1.5 MiB, 8 MiB), every attempt must be answered with the
//! documented status and problem `code`, and the client's next request on its
//! pool (a genuinely signed `POST /echo`) must succeed. An `accepted` row (a
//! genuine upload at each size) is the control. Above the bound (64 MiB) the
//! refusal may also be a clean close, but it must end within the client's
//! timeout, and the next request must still succeed.
//!
//! A missing client fails the test (CI installs them all: see `.ci/run`).
//! `REAL_CLIENTS_ATTEMPTS` sets the attempts per cell (default 10). Run with
//! `--nocapture` to see every client's table when it passes too.

mod support;

use std::{fmt::Write as _, process::Stdio, time::Duration};

use serde::Deserialize;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::Command,
    time::{timeout, Instant},
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/refusals.py");
/// The whole run of one client. `refusals.py` bounds each request (20 s, 10 s
/// above the bound) and stops sending after its 150 s budget, reporting what
/// it did not run, so this fires only when the script itself is stuck.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(210);
const INSTALL: &str = "install Python 3, `python3 -m pip install requests==2.34.2 \
                       'httpx[http2]==0.28.1'` and Debian's curl (.ci/run does)";

/// Rows up to the drain bound: `accepted` and six refusals at 0, 1.5 MiB and
/// 8 MiB, `body_too_large` at the latter two.
const BOUNDED_CELLS: usize = 3 + 6 * 3 + 2;
/// Rows above it: the seven refusals.
const ABOVE_CELLS: usize = 7;

/// Clients that may stall above the bound until their own timeout through
/// a fault of their own; for them such a stall is reported, not failed.
const STALLS: &[(&str, &str)] = &[(
    "httpx-h2",
    "httpcore 1.0.9 can miss the server's RST_STREAM(NO_ERROR) after a complete \
     response while it waits for stream flow-control window, and wait for its \
     timeout (h2 above the bound is covered strictly by curl-h2c)",
)];

#[derive(Debug, Deserialize)]
struct Attempt {
    case: String,
    size: u64,
    bounded: bool,
    /// The client's timeout for this request, in seconds.
    limit: f64,
    expected_status: u16,
    /// `None` for the control row, whose body must be `{"bytes": size}`.
    expected_code: Option<String>,
    ok: bool,
    status: Option<u16>,
    code: Option<String>,
    error: Option<String>,
    timed_out: bool,
    said_close: Option<bool>,
    elapsed: Option<f64>,
    followup_ok: bool,
    followup_status: Option<u16>,
    followup_error: Option<String>,
    followup_new_connection: Option<bool>,
}

impl Attempt {
    fn not_run(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.starts_with("not run"))
    }

    fn stalled(&self) -> bool {
        self.timed_out || self.elapsed.is_none_or(|s| s >= self.limit)
    }

    /// Why the request itself fails the test, if it does. `stall_ok`: a
    /// stall above the bound is the client's known fault (see `STALLS`).
    fn refusal_failure(&self, stall_ok: bool) -> Option<String> {
        if self.bounded {
            if self.ok {
                return None;
            }
            Some(match (&self.error, self.status) {
                (Some(error), _) => error.clone(),
                (None, Some(status)) => format!(
                    "{status} {} (wanted {} {})",
                    self.code.as_deref().unwrap_or("<no problem code>"),
                    self.expected_status,
                    self.expected_code
                        .as_deref()
                        .unwrap_or("with the upload's length")
                ),
                (None, None) => "no answer".into(),
            })
        } else if self.not_run() || (self.stalled() && !stall_ok) {
            Some(format!(
                "did not end within {} s ({:?} s): {}",
                self.limit,
                self.elapsed,
                self.error.as_deref().unwrap_or("")
            ))
        } else {
            None
        }
    }

    fn followup_failure(&self) -> Option<String> {
        (!self.followup_ok).then(|| match (&self.followup_error, self.followup_status) {
            (Some(error), Some(status)) => format!("{status}: {error}"),
            (Some(error), None) => error.clone(),
            (None, status) => format!("{status:?}"),
        })
    }

    /// What happened, briefly, where more than one outcome passes.
    fn outcome(&self) -> String {
        let what = match (&self.error, self.status) {
            (Some(error), _) => short(error),
            (None, Some(status)) => format!("{status} {}", self.code.as_deref().unwrap_or("")),
            (None, None) => "-".into(),
        };
        if self.stalled() {
            format!("stalled, tolerated: {what}")
        } else {
            what
        }
    }
}

/// One row of the table: every attempt of one case at one size.
struct Cell {
    case: String,
    size: u64,
    bounded: bool,
    attempts: Vec<Attempt>,
}

impl Cell {
    fn refusal_failures(&self, stall_ok: bool) -> impl Iterator<Item = String> + '_ {
        self.attempts
            .iter()
            .filter_map(move |a| a.refusal_failure(stall_ok))
    }

    fn failures(&self, stall_ok: bool) -> usize {
        self.attempts
            .iter()
            .filter(|a| a.refusal_failure(stall_ok).is_some() || a.followup_failure().is_some())
            .count()
    }
}

fn short(text: &str) -> String {
    let text: String = text.chars().take(90).collect();
    text.replace('\n', " ")
}

/// Distinct reasons with their counts, e.g. `"BrokenPipeError: … (x3)"`.
fn tally(reasons: impl Iterator<Item = String>) -> String {
    let mut counted: Vec<(String, usize)> = Vec::new();
    for reason in reasons.map(|r| short(&r)) {
        match counted.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => counted.push((reason, 1)),
        }
    }
    counted
        .iter()
        .map(|(r, n)| format!("{r} (x{n})"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn mib(size: u64) -> String {
    if size == 0 {
        "0".into()
    } else {
        format!("{:.1} MiB", size as f64 / (1024.0 * 1024.0))
    }
}

fn table(client: &str, cells: &[Cell], stall_ok: bool) -> String {
    let mut out = format!(
        "{client}:\n{:<24} {:>9} {:>8} {:>9} {:>6} {:>6}  failures / outcome\n",
        "case", "size", "refused", "follow-up", "close", "new-c"
    );
    for cell in cells {
        let stall_ok = stall_ok && !cell.bounded;
        let n = cell.attempts.len();
        let refused = n - cell.refusal_failures(stall_ok).count();
        let followed = cell.attempts.iter().filter(|a| a.followup_ok).count();
        // How many refusals said `Connection: close`, and how many follow-ups
        // went on a new connection (`?` where the client does not tell).
        let close = cell
            .attempts
            .iter()
            .filter(|a| a.said_close == Some(true))
            .count();
        let new: Vec<_> = cell
            .attempts
            .iter()
            .map(|a| a.followup_new_connection)
            .collect();
        let new = if new.iter().any(Option::is_none) {
            "?".to_string()
        } else {
            new.iter().filter(|n| **n == Some(true)).count().to_string()
        };
        let notes = if cell.failures(stall_ok) > 0 {
            let mut notes = vec![];
            let refusals = tally(cell.refusal_failures(stall_ok));
            if !refusals.is_empty() {
                notes.push(format!("request: {refusals}"));
            }
            let followups = tally(cell.attempts.iter().filter_map(Attempt::followup_failure));
            if !followups.is_empty() {
                notes.push(format!("follow-up: {followups}"));
            }
            format!("FAIL {}", notes.join(" | "))
        } else if !cell.bounded {
            tally(cell.attempts.iter().map(Attempt::outcome))
        } else {
            String::new()
        };
        let size = format!("{}{}", mib(cell.size), if cell.bounded { "" } else { "*" });
        let _ = writeln!(
            out,
            "{:<24} {size:>9} {:>8} {:>9} {close:>6} {new:>6}  {notes}",
            cell.case,
            format!("{refused}/{n}"),
            format!("{followed}/{n}"),
        );
    }
    out.push_str(
        "* above the drain bound: the refusal may be a clean close, but must end in time.\n\
         refused: answered as documented; follow-up: the next pooled request succeeded; \
         close: refusals with `Connection: close`; new-c: follow-ups on a new connection\n",
    );
    if let Some((_, why)) = STALLS.iter().find(|(c, _)| *c == client) {
        let _ = writeln!(out, "tolerated above the bound for {client}: {why}");
    }
    out
}

/// Runs `refusals.py` for `client` against a fresh server and asserts on
/// every attempt.
async fn run_client(client: &str) {
    let attempts: usize = std::env::var("REAL_CLIENTS_ATTEMPTS")
        .ok()
        .map_or(10, |n| n.parse().expect("REAL_CLIENTS_ATTEMPTS: a number"));
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let (addr, _observed) = support::start().await;

    let mut child = Command::new(&python)
        .arg(SCRIPT)
        .arg(addr.to_string())
        .arg(client)
        .arg("--attempts")
        .arg(attempts.to_string())
        .env("TOWER_HMAC_KEY_ID", support::KEY_ID)
        .env("TOWER_HMAC_SECRET_B64", support::SECRET_B64)
        // No __pycache__ left in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{client}: cannot run {python} ({e}): {INSTALL}"));
    let mut stderr = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let started = Instant::now();
    let mut records: Vec<serde_json::Value> = Vec::new();
    let finished = timeout(CLIENT_TIMEOUT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let value: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{client}: not a JSON line ({e}): {line}"));
            records.push(value);
        }
        child.wait().await.unwrap()
    })
    .await;
    let elapsed = started.elapsed();
    let Ok(status) = finished else {
        let _ = child.kill().await;
        let last = records.last().map(ToString::to_string).unwrap_or_default();
        panic!(
            "{client}: still running after {CLIENT_TIMEOUT:?} (killed); {} lines, the last: {last}\nstderr: {}",
            records.len(),
            stderr.await.unwrap()
        );
    };
    let stderr = stderr.await.unwrap();

    if let Some(fatal) = records.iter().find(|r| r["kind"] == "fatal") {
        panic!("{client}: {}\n{INSTALL}", fatal["message"]);
    }
    assert!(
        status.success(),
        "{client}: {python} exited {status}\nstderr: {stderr}"
    );
    let env = records
        .iter()
        .find(|r| r["kind"] == "env")
        .unwrap_or_else(|| panic!("{client}: no env line\nstderr: {stderr}"));
    let done = records
        .iter()
        .find(|r| r["kind"] == "done")
        .unwrap_or_else(|| panic!("{client}: no done line\nstderr: {stderr}"));

    let mut cells: Vec<Cell> = Vec::new();
    for record in records.iter().filter(|r| r["kind"] == "result") {
        let attempt: Attempt = serde_json::from_value(record.clone())
            .unwrap_or_else(|e| panic!("{client}: bad result line ({e}): {record}"));
        match cells
            .iter_mut()
            .find(|c| c.case == attempt.case && c.size == attempt.size)
        {
            Some(cell) => cell.attempts.push(attempt),
            None => cells.push(Cell {
                case: attempt.case.clone(),
                size: attempt.size,
                bounded: attempt.bounded,
                attempts: vec![attempt],
            }),
        }
    }
    let results: usize = cells.iter().map(|c| c.attempts.len()).sum();
    let stall_ok = STALLS.iter().any(|(c, _)| *c == client);
    let report = format!(
        "{}{client}: {results} attempts in {:.1} s, {}",
        table(client, &cells, stall_ok),
        elapsed.as_secs_f64(),
        env["versions"]
    );

    // The matrix ran whole: every cell, every attempt.
    assert_eq!(done["results"], results, "{client}: done line disagrees");
    let bounded = cells.iter().filter(|c| c.bounded).count();
    assert_eq!(
        (bounded, cells.len() - bounded),
        (BOUNDED_CELLS, ABOVE_CELLS),
        "{client}: cells\n{report}"
    );
    for cell in &cells {
        let wanted = if cell.bounded { attempts } else { 1 };
        assert_eq!(cell.attempts.len(), wanted, "{client}: {}", cell.case);
    }

    let failed: usize = cells
        .iter()
        .map(|c| c.failures(stall_ok && !c.bounded))
        .sum();
    assert!(
        failed == 0,
        "{client}: {failed} of {results} attempts failed\n{report}"
    );
    eprintln!("{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_client() {
    run_client("http.client").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_requests() {
    run_client("requests").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_httpx_http1() {
    run_client("httpx-h1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_httpx_h2c() {
    run_client("httpx-h2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_http1_expect_100_continue() {
    run_client("curl-expect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_http1_without_expect() {
    run_client("curl-h1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_h2c_prior_knowledge() {
    run_client("curl-h2c").await;
}
