//! The S3 example (`examples/s3`) against the AWS CLI (v1) and
//! aws-sdk-rust, over HTTP and over HTTPS, each with nothing set but the
//! endpoint, the credentials, the region and path-style addressing.
//!
//! The app runs in-process on 127.0.0.1:0, as in `tests/s3.rs` (over
//! rustls with a CA and a certificate made by rcgen for the run).
//!
//! * The AWS CLI (`python3 -m awscli`, `.ci/run` installs it) with its
//!   environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_DEFAULT_REGION`, and a config file of its own holding only
//!   `s3.addressing_style = path` (written by `aws configure set`);
//!   `--endpoint-url` on each command, `--ca-bundle` over HTTPS.
//!   `s3api create-bucket`, `s3 cp` of a small file and of 64 MiB
//!   (multipart), `s3 ls`, `s3 cp s3://... -` (download to stdout),
//!   `s3api head-object`, `s3 presign` fetched with curl, `s3 rm`, and a
//!   wrong secret.
//! * aws-sdk-rust: `clients/aws-sdk-rust`, a program of its own (its own
//!   workspace, so the main build never sees the SDK), built beforehand by
//!   `.ci/run`; it reports each step as a JSON line and prints a presigned
//!   URL, which curl fetches here. Over HTTPS it trusts the test CA by
//!   `SSL_CERT_FILE`, which its default HTTPS client honours.
//!
//! The clients only report what they sent and got; the expectations are
//! here, with what the server stored: the bytes, the ETags, and whether the
//! signature covered the body.
//!
//! A missing AWS CLI, curl, or client binary fails these tests with what
//! to install or build.

#[path = "../examples/s3/app.rs"]
mod app;
#[path = "../examples/s3/net.rs"]
mod net;
#[path = "support/s3_endpoint.rs"]
mod s3_endpoint;
#[path = "../examples/s3/store.rs"]
mod store;
#[path = "../examples/support/mod.rs"]
mod support;
#[path = "../examples/s3/xml.rs"]
mod xml;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::{process::Command, time::timeout};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const KEY_ID: &str = "7";
const SECRET_B64: &str = "dG93ZXItaG1hYy10ZXN0LXNlY3JldC0zMi1ieXRlcyE=";
const WRONG_SECRET_B64: &str = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=";
const REGION: &str = "us-east-1";
const MIB: u64 = 1024 * 1024;

const AWSCLI_VERSION: &str = "1.46.3";
const AWSCLI_INSTALL: &str =
    "install the AWS CLI v1: `python3 -m pip install awscli==1.46.3` (.ci/run does)";
const CURL_INSTALL: &str = "install curl: `apt-get install curl` (.ci/run does)";
/// One CLI command; 64 MiB each way takes a few seconds.
const CLI_TIMEOUT: Duration = Duration::from_secs(180);
/// The whole SDK program: 20 MiB each way and a dozen small requests.
const SDK_TIMEOUT: Duration = Duration::from_secs(300);

const SDK_BINARY: &str = "clients/aws-sdk-rust/target/release/s3-sdk-client";
const SDK_BUILD: &str =
    "cargo build --release --locked --manifest-path clients/aws-sdk-rust/Cargo.toml";

// ---------------------------------------------------------------------------
// The server, its certificates, and what it stored.

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("s3-clients-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sha256_hex(bytes: &[u8]) -> String {
    store::hex(&Sha256::digest(bytes))
}

/// An object as the store holds it.
#[derive(Debug)]
struct Stored {
    meta: store::Meta,
    sha256: String,
}

/// What the store holds in `bucket`, by key; no temporary file or part
/// left anywhere, and no other bucket.
fn stored(data: &Path, bucket: &str) -> Result<BTreeMap<String, Stored>, String> {
    let entries = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    for dir in ["tmp", "uploads"] {
        let left = entries(&data.join(dir));
        if !left.is_empty() {
            return Err(format!("left in {dir}/: {left:?}"));
        }
    }
    let buckets = entries(&data.join("buckets"));
    if buckets != [bucket] {
        return Err(format!("buckets {buckets:?}"));
    }
    let dir = data.join("buckets").join(bucket);
    let mut objects = BTreeMap::new();
    for name in entries(&dir) {
        if let Some(stem) = name.strip_suffix(".json") {
            let meta: store::Meta =
                serde_json::from_slice(&std::fs::read(dir.join(&name)).unwrap()).unwrap();
            let bytes = std::fs::read(dir.join(stem))
                .map_err(|e| format!("no bytes for {:?}: {e}", meta.key))?;
            if bytes.len() as u64 != meta.size {
                return Err(format!(
                    "{:?}: {} bytes, size {}",
                    meta.key,
                    bytes.len(),
                    meta.size
                ));
            }
            let sha256 = sha256_hex(&bytes);
            objects.insert(meta.key.clone(), Stored { meta, sha256 });
        }
    }
    Ok(objects)
}

/// Checks that the store holds exactly `want` (key, SHA-256, length),
/// each with its signature covering the body or not as
/// `body_authenticated` says; returns the ETags by key.
fn check_stored(
    data: &Path,
    bucket: &str,
    want: &[(&str, &str, u64)],
    body_authenticated: bool,
) -> Result<BTreeMap<String, String>, String> {
    let objects = stored(data, bucket)?;
    let keys: Vec<&str> = objects.keys().map(String::as_str).collect();
    let mut want_keys: Vec<&str> = want.iter().map(|w| w.0).collect();
    want_keys.sort();
    if keys != want_keys {
        return Err(format!("stored keys {keys:?}, wanted {want_keys:?}"));
    }
    for (key, sha256, len) in want {
        let object = &objects[*key];
        if object.sha256 != *sha256 || object.meta.size != *len {
            return Err(format!(
                "{key}: stored {} bytes, SHA-256 {} (sent {len}, {sha256})",
                object.meta.size, object.sha256
            ));
        }
        if object.meta.body_authenticated != body_authenticated {
            return Err(format!(
                "{key}: body_authenticated {} (wanted {body_authenticated})",
                object.meta.body_authenticated
            ));
        }
    }
    Ok(objects.into_iter().map(|(k, o)| (k, o.meta.etag)).collect())
}

// ---------------------------------------------------------------------------
// Running things.

struct Output {
    success: bool,
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Output {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// A step's verdict: its trimmed stdout on success, else its failure.
    fn verdict(&self) -> Result<String, String> {
        if self.success {
            Ok(self.stdout().trim().to_owned())
        } else {
            Err(self.failure())
        }
    }

    /// What a failure says: the exit code and the end of stderr.
    fn failure(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n    ");
        format!("exit {:?}; stderr:\n    {tail}", self.code)
    }
}

/// Runs `command` to its end, killed after `limit`; `install` says what is
/// missing if it cannot start.
async fn run(what: &str, mut command: Command, limit: Duration, install: &str) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start it ({e}): {install}"));
    let output = timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after {limit:?} (killed)"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    Output {
        success: output.status.success(),
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Fetches `url` with curl (trusting `ca`): the status and the body.
async fn curl(url: &str, ca: Option<&Path>, out: &Path) -> Result<(u16, Vec<u8>), String> {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "--max-time", "60", "-o"])
        .arg(out)
        .args(["-w", "%{http_code}"]);
    if let Some(ca) = ca {
        command.arg("--cacert").arg(ca);
    }
    command.arg(url);
    let output = run("curl", command, Duration::from_secs(90), CURL_INSTALL).await;
    if !output.success {
        return Err(format!("curl failed: {}", output.failure()));
    }
    let status = output
        .stdout()
        .trim()
        .parse()
        .map_err(|_| output.stdout())?;
    Ok((status, std::fs::read(out).unwrap_or_default()))
}

/// A command without this machine's AWS configuration.
fn clean_command(program: &str) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|n| n.starts_with("AWS_") || n == "SSL_CERT_FILE" || n == "SSL_CERT_DIR")
        {
            command.env_remove(name);
        }
    }
    command
}

/// The verdicts of one client's steps, reported together.
struct Report {
    title: String,
    /// How to see more of what the client sent.
    hint: &'static str,
    lines: String,
    failures: usize,
}

impl Report {
    fn new(title: String, hint: &'static str) -> Self {
        Self {
            title,
            hint,
            lines: String::new(),
            failures: 0,
        }
    }

    fn step(&mut self, name: &str, started: Instant, verdict: Result<String, String>) {
        self.step_took(name, started.elapsed().as_secs_f64(), verdict);
    }

    fn step_took(&mut self, name: &str, seconds: f64, verdict: Result<String, String>) {
        let text = match verdict {
            Ok(note) => format!("ok  {note}"),
            Err(e) => {
                self.failures += 1;
                format!("FAIL: {e}")
            }
        };
        self.lines
            .push_str(&format!("  {name:<24} {seconds:>6.2} s  {text}\n"));
    }

    fn finish(self) {
        let report = format!("{}:\n{}", self.title, self.lines);
        assert!(
            self.failures == 0,
            "{} steps failed\n{report}({})",
            self.failures,
            self.hint
        );
        eprintln!("{report}");
    }
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got != want {
        return Err(format!("{what}: {got:?} (wanted {want:?})"));
    }
    Ok(())
}

/// `n` pseudo-random bytes.
fn pseudo_random(n: usize, mut state: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(n + 8);
    while data.len() < n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(n);
    data
}

// ---------------------------------------------------------------------------
// The AWS CLI.

const CLI_BUCKET: &str = "tower-hmac-cli";

struct Cli {
    python: String,
    endpoint: String,
    ca: Option<PathBuf>,
    config: PathBuf,
}

impl Cli {
    fn command(&self, secret: &str, config: &Path) -> Command {
        let mut command = clean_command(&self.python);
        command
            .args(["-m", "awscli"])
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_CONFIG_FILE", config)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        command
    }

    /// `aws --endpoint-url ENDPOINT [--ca-bundle CA] ARGS`.
    async fn aws(&self, args: &[&str]) -> Output {
        self.aws_with(SECRET_B64, &self.config, args).await
    }

    async fn aws_with(&self, secret: &str, config: &Path, args: &[&str]) -> Output {
        let mut command = self.command(secret, config);
        command.arg("--endpoint-url").arg(&self.endpoint);
        if let Some(ca) = &self.ca {
            command.arg("--ca-bundle").arg(ca);
        }
        command.args(args);
        run(
            &format!("aws {}", args.join(" ")),
            command,
            CLI_TIMEOUT,
            AWSCLI_INSTALL,
        )
        .await
    }

    /// `aws configure set NAME VALUE` into `config`.
    async fn configure(&self, config: &Path, name: &str, value: &str) -> Result<(), String> {
        let mut command = self.command(SECRET_B64, config);
        command.args(["configure", "set", name, value]);
        let output = run("aws configure", command, CLI_TIMEOUT, AWSCLI_INSTALL).await;
        if !output.success {
            return Err(format!("aws configure set {name}: {}", output.failure()));
        }
        Ok(())
    }
}

/// `aws s3 ls` lines (`DATE TIME SIZE KEY`): (key, size).
fn ls_entries(stdout: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [_, _, size, ref key @ ..] if !key.is_empty() => {
                    Some((key.join(" "), size.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

async fn aws_cli(tls: bool) {
    let dir = scratch(if tls { "cli-https" } else { "cli-http" });
    let data = dir.join("data");
    let certificates = tls.then(|| s3_endpoint::certificates(&dir));
    let endpoint = s3_endpoint::start(
        &data,
        certificates
            .as_ref()
            .map(|(_, chain, key)| (&**chain, &**key)),
    )
    .await;
    let cli = Cli {
        python: std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()),
        endpoint: endpoint.clone(),
        ca: certificates.as_ref().map(|(ca, ..)| ca.clone()),
        config: dir.join("aws-config"),
    };
    let ca = cli.ca.as_deref();

    // The CLI itself, and its one setting.
    let version = cli.aws(&["--version"]).await;
    let version_text = format!("{}{}", version.stdout(), version.stderr);
    assert!(
        version.success && version_text.starts_with("aws-cli/1."),
        "aws --version: {}\n{AWSCLI_INSTALL}",
        version.failure()
    );
    if !version_text.starts_with(&format!("aws-cli/{AWSCLI_VERSION} ")) {
        eprintln!(
            "note: {} (tested with {AWSCLI_VERSION})",
            version_text.trim()
        );
    }
    cli.configure(&cli.config, "default.s3.addressing_style", "path")
        .await
        .unwrap();
    let mut report = Report::new(
        format!("AWS CLI against {endpoint} ({})", version_text.trim()),
        "`--debug` on a command shows what the CLI signed and sent",
    );

    let small = b"hello from the AWS CLI\n".to_vec();
    let big = pseudo_random((64 * MIB) as usize, 0x2545_f491_4f6c_dd1d);
    let (small_sha, big_sha) = (sha256_hex(&small), sha256_hex(&big));
    let (small_file, big_file) = (dir.join("small.txt"), dir.join("big.bin"));
    std::fs::write(&small_file, &small).unwrap();
    std::fs::write(&big_file, &big).unwrap();
    drop(big);
    let small_uri = format!("s3://{CLI_BUCKET}/small.txt");
    let big_uri = format!("s3://{CLI_BUCKET}/big.bin");
    let big_len = 64 * MIB;
    // Over HTTP the CLI signs every body; over HTTPS its uploads are
    // unsigned, checked by a CRC32 trailer.
    let authenticated = !tls;

    let started = Instant::now();
    let out = cli
        .aws(&["s3api", "create-bucket", "--bucket", CLI_BUCKET])
        .await;
    report.step(
        "s3api create-bucket",
        started,
        (|| {
            if !out.success {
                return Err(out.failure());
            }
            let json: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            same(
                "Location",
                json["Location"].as_str(),
                Some("/tower-hmac-cli"),
            )?;
            Ok(String::new())
        })(),
    );

    let started = Instant::now();
    let out = cli
        .aws(&[
            "s3",
            "cp",
            "--no-progress",
            small_file.to_str().unwrap(),
            &small_uri,
        ])
        .await;
    report.step("s3 cp small", started, out.verdict());

    let started = Instant::now();
    let out = cli
        .aws(&[
            "s3",
            "cp",
            "--no-progress",
            big_file.to_str().unwrap(),
            &big_uri,
        ])
        .await;
    report.step("s3 cp 64 MiB", started, out.verdict());

    // What the server stored: the bytes sent; 64 MiB in 8 MiB parts.
    let started = Instant::now();
    let etags = check_stored(
        &data,
        CLI_BUCKET,
        &[
            ("small.txt", &small_sha, small.len() as u64),
            ("big.bin", &big_sha, big_len),
        ],
        authenticated,
    );
    let big_etag = etags
        .as_ref()
        .ok()
        .and_then(|e| e.get("big.bin").cloned())
        .unwrap_or_default();
    report.step(
        "stored",
        started,
        etags.and_then(|etags| {
            let parts = big_etag.trim_matches('"').split_once('-').map(|(_, n)| n);
            same("big.bin ETag parts", parts, Some("8"))?;
            same(
                "small.txt ETag",
                etags["small.txt"].clone(),
                format!("\"{}\"", &small_sha[..32]),
            )?;
            Ok(format!("big.bin {big_etag}"))
        }),
    );

    let started = Instant::now();
    let out = cli.aws(&["s3", "ls", &format!("s3://{CLI_BUCKET}/")]).await;
    report.step(
        "s3 ls",
        started,
        if out.success {
            same(
                "entries",
                ls_entries(&out.stdout()),
                vec![
                    ("big.bin".to_owned(), big_len),
                    ("small.txt".to_owned(), small.len() as u64),
                ],
            )
            .map(|()| String::new())
        } else {
            Err(out.failure())
        },
    );

    for (name, uri, sha, len) in [
        ("s3 cp small -", &small_uri, &small_sha, small.len() as u64),
        ("s3 cp 64 MiB -", &big_uri, &big_sha, big_len),
    ] {
        let started = Instant::now();
        let out = cli.aws(&["s3", "cp", "--no-progress", uri, "-"]).await;
        report.step(
            name,
            started,
            if out.success {
                same("length", out.stdout.len() as u64, len)
                    .and_then(|()| same("sha256", &sha256_hex(&out.stdout), sha))
                    .map(|()| String::new())
            } else {
                Err(out.failure())
            },
        );
    }

    let started = Instant::now();
    let out = cli
        .aws(&[
            "s3api",
            "head-object",
            "--bucket",
            CLI_BUCKET,
            "--key",
            "big.bin",
        ])
        .await;
    report.step(
        "s3api head-object",
        started,
        (|| {
            if !out.success {
                return Err(out.failure());
            }
            let json: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            same(
                "ContentLength",
                json["ContentLength"].as_u64(),
                Some(big_len),
            )?;
            same("ETag", json["ETag"].as_str(), Some(big_etag.as_str()))?;
            Ok(String::new())
        })(),
    );

    // `aws s3 presign`, as configured (only path-style), makes a Signature
    // Version 2 URL, refused with a code that says how to sign instead;
    // with `s3.signature_version = s3v4` it is SigV4, fetched twice.
    let config_v4 = dir.join("aws-config-s3v4");
    std::fs::copy(&cli.config, &config_v4).unwrap();
    cli.configure(&config_v4, "default.s3.signature_version", "s3v4")
        .await
        .unwrap();
    for (name, config) in [
        ("s3 presign", &cli.config),
        ("s3 presign (s3v4)", &config_v4),
    ] {
        let started = Instant::now();
        let out = cli
            .aws_with(
                SECRET_B64,
                config,
                &["s3", "presign", &small_uri, "--expires-in", "600"],
            )
            .await;
        let verdict = async {
            if !out.success {
                return Err(out.failure());
            }
            let url = out.stdout().trim().to_owned();
            if name == "s3 presign" {
                let (status, body) = curl(&url, ca, &dir.join("presigned.out")).await?;
                let text = String::from_utf8_lossy(&body).into_owned();
                if status != 401 || !text.contains("\"unsupported_signature_version\"") {
                    return Err(format!("curl {url} (SigV2): {status} {text}"));
                }
                return Ok(url);
            }
            for _ in 0..2 {
                let (status, body) = curl(&url, ca, &dir.join("presigned.out")).await?;
                if status != 200 {
                    return Err(format!(
                        "curl {url}: {status} {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                same("sha256", sha256_hex(&body), small_sha.clone())?;
            }
            Ok(url)
        }
        .await;
        report.step(name, started, verdict);
    }

    let started = Instant::now();
    let out = cli.aws(&["s3", "rm", &small_uri]).await;
    report.step("s3 rm", started, out.verdict());

    let started = Instant::now();
    let out = cli.aws(&["s3", "ls", &format!("s3://{CLI_BUCKET}/")]).await;
    report.step(
        "s3 ls after rm",
        started,
        if out.success {
            same(
                "entries",
                ls_entries(&out.stdout()),
                vec![("big.bin".to_owned(), big_len)],
            )
            .and_then(|()| {
                check_stored(
                    &data,
                    CLI_BUCKET,
                    &[("big.bin", &big_sha, big_len)],
                    authenticated,
                )
            })
            .map(|_| String::new())
        } else {
            Err(out.failure())
        },
    );

    // Refused by the layer: 401, which the CLI reports by its status.
    let started = Instant::now();
    let out = cli
        .aws_with(
            WRONG_SECRET_B64,
            &cli.config,
            &["s3", "ls", &format!("s3://{CLI_BUCKET}/")],
        )
        .await;
    report.step(
        "wrong secret",
        started,
        if out.success {
            Err(format!("accepted: {}", out.stdout()))
        } else if out.stderr.contains("An error occurred (401)") {
            Ok(String::new())
        } else {
            Err(out.failure())
        },
    );

    report.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_over_http() {
    aws_cli(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_over_https() {
    aws_cli(true).await;
}

// ---------------------------------------------------------------------------
// aws-sdk-rust.

const SDK_BUCKET: &str = "tower-hmac-sdk";
/// The keys `clients/aws-sdk-rust` puts.
const SDK_SMALL_KEY: &str = "small.txt";
const SDK_BIG_KEY: &str = "dir/stream 20mib+.bin";
const SDK_SMALL: &[u8] = b"hello from aws-sdk-rust\n";
const SDK_BIG: u64 = 20 * MIB;

const SDK_STEPS: &[&str] = &[
    "create-bucket",
    "put-small",
    "put-stream-20mib",
    "get-small",
    "get-stream-20mib",
    "head-stream-20mib",
    "list",
    "presign-get-20mib",
    "delete-small",
    "get-deleted",
    "list-after",
    "wrong-secret",
];

/// Checks one step the program reported; `steps` are those before it.
fn check_sdk_step(r: &Value, steps: &BTreeMap<String, Value>) -> Result<String, String> {
    let facts = &r["facts"];
    let fact = |name: &str| facts[name].clone();
    let earlier = |step: &str, name: &str| steps[step]["facts"][name].clone();
    let ok = || -> Result<(), String> {
        if r["ok"] != true {
            return Err(format!(
                "failed: status {} code {} problem {}: {}\n    body: {}",
                r["status"], r["code"], r["problem"], r["error"], r["body"]
            ));
        }
        Ok(())
    };
    let refused = |status: u64, code: Option<&str>, problem: Option<&str>| {
        let got = (
            r["status"].as_u64(),
            r["code"].as_str(),
            r["problem"].as_str(),
        );
        same(
            "refusal (status, code, problem)",
            got,
            (Some(status), code, problem),
        )
    };
    match r["step"].as_str().unwrap_or_default() {
        "create-bucket" => ok().map(|()| format!("location {}", fact("location"))),
        "put-small" | "put-stream-20mib" => {
            ok()?;
            let etag = format!("\"{}\"", &fact("sha256").as_str().unwrap_or("-")[..32]);
            same("etag", fact("etag"), Value::from(etag))?;
            Ok(format!("etag {}", fact("etag")))
        }
        step @ ("get-small" | "get-stream-20mib") => {
            ok()?;
            let put = step.replace("get-", "put-");
            same("sha256", fact("sha256"), earlier(&put, "sha256"))?;
            same("len", fact("len"), earlier(&put, "len"))?;
            same("etag", fact("etag"), earlier(&put, "etag"))?;
            if step == "get-small" {
                same(
                    "content type",
                    fact("content_type"),
                    Value::from("text/plain"),
                )?;
                same(
                    "metadata",
                    fact("metadata"),
                    serde_json::json!({ "color": "blue" }),
                )?;
            }
            Ok(String::new())
        }
        "head-stream-20mib" => {
            ok()?;
            same("len", fact("len"), Value::from(SDK_BIG))?;
            same("etag", fact("etag"), earlier("put-stream-20mib", "etag"))?;
            Ok(String::new())
        }
        "list" => {
            ok()?;
            same(
                "keys",
                fact("keys"),
                serde_json::json!([SDK_BIG_KEY, SDK_SMALL_KEY]),
            )?;
            same(
                "sizes",
                fact("sizes"),
                serde_json::json!([SDK_BIG, SDK_SMALL.len()]),
            )?;
            Ok(String::new())
        }
        "presign-get-20mib" => ok().map(|()| fact("url").as_str().unwrap_or("").to_owned()),
        "delete-small" => ok().map(|()| String::new()),
        "get-deleted" => refused(404, Some("NoSuchKey"), None).map(|()| String::new()),
        "list-after" => {
            ok()?;
            same("keys", fact("keys"), serde_json::json!([SDK_BIG_KEY]))?;
            Ok(String::new())
        }
        // Refused by the layer with its problem+json.
        "wrong-secret" => refused(401, None, Some("invalid_signature")).map(|()| String::new()),
        other => Err(format!("no expectation for {other:?}")),
    }
}

async fn aws_sdk_rust(tls: bool) {
    let binary = Path::new(ROOT).join(SDK_BINARY);
    assert!(
        binary.is_file(),
        "{} is missing: build it with `{SDK_BUILD}` (.ci/run does)",
        binary.display()
    );
    let dir = scratch(if tls { "sdk-https" } else { "sdk-http" });
    let data = dir.join("data");
    let certificates = tls.then(|| s3_endpoint::certificates(&dir));
    let endpoint = s3_endpoint::start(
        &data,
        certificates
            .as_ref()
            .map(|(_, chain, key)| (&**chain, &**key)),
    )
    .await;
    let ca = certificates.as_ref().map(|(ca, ..)| ca.as_path());

    let mut command = clean_command(binary.to_str().unwrap());
    command
        .args([&endpoint, REGION, SDK_BUCKET])
        .env("S3_KEY_ID", KEY_ID)
        .env("S3_SECRET", SECRET_B64);
    if let Some(ca) = ca {
        command.env("SSL_CERT_FILE", ca);
    }
    let output = run("s3-sdk-client", command, SDK_TIMEOUT, SDK_BUILD).await;
    let stdout = output.stdout();
    let mut lines = Vec::new();
    let (mut versions, mut done) = (String::new(), None);
    for line in stdout.lines() {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{}", output.stderr));
        match value["kind"].as_str() {
            Some("env") => versions = value["versions"].as_str().unwrap_or("").to_owned(),
            Some("done") => done = value["results"].as_u64(),
            Some("result") => lines.push(value),
            _ => panic!("unknown line {line}"),
        }
    }
    assert!(
        output.success && done == Some(lines.len() as u64),
        "s3-sdk-client failed (or miscounted)\nstdout:\n{stdout}\nstderr:\n{}",
        output.stderr
    );
    let names: Vec<&str> = lines.iter().map(|l| l["step"].as_str().unwrap()).collect();
    assert_eq!(names, SDK_STEPS, "the steps run");

    let mut report = Report::new(
        format!("aws-sdk-rust against {endpoint} ({versions})"),
        "S3_CLIENT_LOG=trace makes the program log each canonical request to stderr",
    );
    let mut steps = BTreeMap::new();
    for line in lines {
        let name = line["step"].as_str().unwrap().to_owned();
        let seconds = line["seconds"].as_f64().unwrap_or_default();
        report.step_took(&name, seconds, check_sdk_step(&line, &steps));
        steps.insert(name, line);
    }
    let big_sha = steps["put-stream-20mib"]["facts"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // The presigned GET, by curl, twice: a presigned URL is reusable.
    let started = Instant::now();
    let url = steps["presign-get-20mib"]["facts"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let verdict = async {
        if url.is_empty() {
            return Err("no URL".to_owned());
        }
        for _ in 0..2 {
            let (status, body) = curl(&url, ca, &dir.join("presigned.out")).await?;
            if status != 200 {
                return Err(format!("curl: {status} {}", String::from_utf8_lossy(&body)));
            }
            same("length", body.len() as u64, SDK_BIG)?;
            same("sha256", sha256_hex(&body), big_sha.clone())?;
        }
        Ok(String::new())
    }
    .await;
    report.step("curl presigned URL", started, verdict);

    let started = Instant::now();
    report.step(
        "stored",
        started,
        check_stored(&data, SDK_BUCKET, &[(SDK_BIG_KEY, &big_sha, SDK_BIG)], !tls)
            .map(|_| String::new()),
    );
    report.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sdk_rust_over_http() {
    aws_sdk_rust(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sdk_rust_over_https() {
    aws_sdk_rust(true).await;
}
