//! The S3 example (`examples/s3`) against boto3, over HTTP and over HTTPS.
//!
//! The app runs in-process on 127.0.0.1:0 (over rustls, with a CA and a
//! certificate for `localhost` and 127.0.0.1 made by rcgen for the run,
//! which boto3 trusts by `verify=`), and `tests/python/s3_boto3.py` runs
//! boto3 against it with its defaults: a signed payload over HTTP, an
//! unsigned aws-chunked one with a CRC32 trailer over HTTPS, multipart for
//! 256 MiB. The script reports what each operation sent and got; the
//! expectations are here, with what the server stored: exactly the objects
//! that were put, with their bytes, and nothing of the refused ones (a
//! wrong secret, a body changed after signing, an unsigned payload over
//! HTTP), no temporary file left.
//!
//! A missing `python3` or boto3 fails these tests: `.ci/run` installs them.

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
    time::Duration,
};

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::{process::Command, time::timeout};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const KEY_ID: &str = "7";
const SECRET_B64: &str = "dG93ZXItaG1hYy10ZXN0LXNlY3JldC0zMi1ieXRlcyE=";
const REGION: &str = "us-east-1";
const BUCKET: &str = "tower-hmac-s3";
const MIB: u64 = 1024 * 1024;
/// The keys the script puts (s3_boto3.py).
const MID_KEY: &str = "dir/sub/three mib+\u{e9}?&=#%.bin";
const ODD_KEY: &str = "odd/../..//x";
/// About 25 operations, one of them 256 MiB each way.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);
const INSTALL: &str =
    "install Python 3 and `python3 -m pip install boto3==1.44.8 botocore==1.44.8` (.ci/run does)";

/// One operation of the script, as it reported it.
#[derive(Debug, Deserialize)]
struct Record {
    case: String,
    status: Option<u16>,
    /// S3's error code (botocore's `Error.Code`).
    code: Option<String>,
    /// The problem code of a refusal by the layer.
    problem: Option<String>,
    /// The script failed unexpectedly.
    error: Option<String>,
    #[serde(default)]
    facts: Value,
    #[serde(default)]
    seconds: f64,
}

impl Record {
    fn fact(&self, name: &str) -> &Value {
        &self.facts[name]
    }

    fn str(&self, name: &str) -> &str {
        self.fact(name).as_str().unwrap_or_default()
    }
}

const CASES: &[&str] = &[
    "create-bucket",
    "create-bucket-again",
    "put-small",
    "put-3mib",
    "put-odd-key",
    "get-small",
    "get-3mib",
    "get-odd-key",
    "head-3mib",
    "list-prefix",
    "list-delimiter",
    "list-pages",
    "list-v1",
    "list-buckets",
    "get-range",
    "delete-small",
    "get-deleted",
    "get-no-bucket",
    "upload-256mib",
    "get-256mib",
    "complete-wrong-etag",
    "abort",
    "part-after-abort",
    "presigned-get",
    "presigned-tampered",
    "wrong-secret",
    "put-unsigned",
    "delete-unsigned",
    "tamper-body",
    "list-after",
];

/// Checks one record against its case's expectation; `records` are the
/// cases before it, by name, `tls` whether they went over HTTPS.
fn check(r: &Record, records: &BTreeMap<String, &Record>, tls: bool) -> Result<(), String> {
    if let Some(error) = &r.error {
        return Err(format!("the script failed: {error}"));
    }
    let status = |want: u16, code: Option<&str>, problem: Option<&str>| {
        if r.status != Some(want) || r.code.as_deref() != code || r.problem.as_deref() != problem {
            return Err(format!(
                "answered {:?} {:?} {:?} (wanted {want} {code:?} {problem:?})",
                r.status, r.code, r.problem
            ));
        }
        Ok(())
    };
    let same = |what: &str, got: &Value, want: &Value| {
        if got != want {
            return Err(format!("{what}: {got} (wanted {want})"));
        }
        Ok(())
    };
    // What an earlier case reported.
    let earlier = |case: &str, name: &str| records[case].fact(name).clone();
    match r.case.as_str() {
        "create-bucket" => status(200, None, None),
        "create-bucket-again" => status(409, Some("BucketAlreadyOwnedByYou"), None),
        "put-small" | "put-3mib" | "put-odd-key" => {
            status(200, None, None)?;
            // The ETag is the first half of the SHA-256 of the object.
            let etag = format!("\"{}\"", &r.str("sha256")[..32]);
            same("etag", r.fact("etag"), &json!(etag))
        }
        "get-small" | "get-3mib" | "get-odd-key" => {
            status(200, None, None)?;
            let put = r.case.replace("get-", "put-");
            same("sha256", r.fact("sha256"), &earlier(&put, "sha256"))?;
            same("len", r.fact("len"), &earlier(&put, "len"))?;
            same("etag", r.fact("etag"), &earlier(&put, "etag"))?;
            if r.case == "get-small" {
                same("content type", r.fact("content_type"), &json!("text/plain"))?;
                same("metadata", r.fact("metadata"), &json!({ "color": "blue" }))?;
            }
            Ok(())
        }
        "head-3mib" => {
            status(200, None, None)?;
            same("len", r.fact("len"), &json!(3 * MIB))?;
            same("etag", r.fact("etag"), &earlier("put-3mib", "etag"))?;
            if r.str("last_modified").len() < 19 {
                return Err(format!("last modified {}", r.fact("last_modified")));
            }
            Ok(())
        }
        "list-prefix" => {
            status(200, None, None)?;
            same("keys", r.fact("keys"), &json!([MID_KEY]))?;
            same(
                "etags",
                r.fact("etags"),
                &json!([earlier("put-3mib", "etag")]),
            )?;
            same("sizes", r.fact("sizes"), &json!([3 * MIB]))
        }
        "list-delimiter" => {
            status(200, None, None)?;
            same("keys", r.fact("keys"), &json!(["small.txt"]))?;
            same("prefixes", r.fact("prefixes"), &json!(["dir/", "odd/"]))
        }
        "list-pages" => {
            status(200, None, None)?;
            same(
                "keys",
                r.fact("keys"),
                &json!([MID_KEY, ODD_KEY, "small.txt"]),
            )?;
            same("pages", r.fact("pages"), &json!(3))
        }
        "list-v1" => {
            status(200, None, None)?;
            same("keys", r.fact("keys"), &json!([MID_KEY]))
        }
        "list-buckets" => {
            status(200, None, None)?;
            same("buckets", r.fact("buckets"), &json!([BUCKET]))
        }
        "get-range" => {
            status(206, None, None)?;
            same("sha256", r.fact("sha256"), r.fact("sent_sha256"))?;
            let range = format!("bytes 1000-1999/{}", 3 * MIB);
            same("content range", r.fact("content_range"), &json!(range))
        }
        "delete-small" | "abort" | "delete-unsigned" => status(204, None, None),
        // Accepted only over TLS.
        "put-unsigned" if tls => status(200, None, None),
        "put-unsigned" => status(401, Some("401"), Some("unsigned_payload_not_allowed")),
        "get-deleted" => status(404, Some("NoSuchKey"), None),
        "get-no-bucket" => status(404, Some("NoSuchBucket"), None),
        "upload-256mib" => {
            status(200, None, None)?;
            same("len", r.fact("len"), &json!(256 * MIB))?;
            // Multipart: the ETag names how many parts.
            let etag = r.str("etag");
            let parts = etag
                .strip_prefix('"')
                .and_then(|e| e.strip_suffix('"'))
                .and_then(|e| e.split_once('-'))
                .filter(|(hex, _)| hex.len() == 32)
                .and_then(|(_, n)| n.parse::<u32>().ok());
            match parts {
                Some(n) if n > 1 => Ok(()),
                _ => Err(format!("not a multipart ETag: {etag}")),
            }
        }
        "get-256mib" => {
            status(200, None, None)?;
            same(
                "sha256",
                r.fact("sha256"),
                &earlier("upload-256mib", "sha256"),
            )?;
            same("etag", r.fact("etag"), &earlier("upload-256mib", "etag"))?;
            same("len", r.fact("len"), &json!(256 * MIB))
        }
        "complete-wrong-etag" => status(400, Some("InvalidPart"), None),
        "part-after-abort" => status(404, Some("NoSuchUpload"), None),
        // No body: accepted even where unsigned payloads are not (over HTTP).
        "presigned-get" => {
            status(200, None, None)?;
            same("sha256", r.fact("sha256"), &earlier("put-3mib", "sha256"))
        }
        // Refused by the layer: problem+json, which botocore reports by status alone.
        "presigned-tampered" | "tamper-body" => status(401, None, Some("invalid_signature")),
        "wrong-secret" => status(401, Some("401"), Some("invalid_signature")),
        "list-after" => {
            status(200, None, None)?;
            same(
                "keys",
                r.fact("keys"),
                &json!(["big.bin", MID_KEY, ODD_KEY]),
            )
        }
        other => Err(format!("no expectation for {other:?}")),
    }
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("s3-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the script against `endpoint` and checks its report; returns the
/// records by case.
async fn run_script(endpoint: &str, ca: Option<&Path>) -> BTreeMap<String, Record> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut command = Command::new(python);
    // Nothing of this machine's AWS configuration.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("AWS_")) {
            command.env_remove(name);
        }
    }
    command
        .arg(format!("{ROOT}/tests/python/s3_boto3.py"))
        .args([endpoint, REGION, BUCKET])
        .args(ca)
        .env("S3_KEY_ID", KEY_ID)
        .env("S3_SECRET", SECRET_B64)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("python3: cannot start it ({e}): {INSTALL}"));
    let output = timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("s3_boto3.py: still running after {SCRIPT_TIMEOUT:?} (killed)"))
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );

    let mut records = Vec::new();
    let (mut env, mut done) = (String::new(), None);
    for line in stdout.lines() {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{stderr}"));
        match value["kind"].as_str() {
            Some("fatal") => panic!("s3_boto3.py: {}\n{INSTALL}", value["message"]),
            Some("env") => env = value["versions"].as_str().unwrap_or("").to_owned(),
            Some("done") => done = value["results"].as_u64(),
            Some("result") => records.push(
                serde_json::from_value::<Record>(value.clone())
                    .unwrap_or_else(|e| panic!("bad result ({e}): {line}")),
            ),
            _ => panic!("unknown line {line}"),
        }
    }
    assert!(
        output.status.success(),
        "s3_boto3.py failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        done,
        Some(records.len() as u64),
        "no done line, or a miscount"
    );
    let names: Vec<&str> = records.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(names, CASES, "the cases run");

    let mut report = format!("boto3 against {endpoint} ({env}):\n");
    let mut seen = BTreeMap::new();
    let mut failures = 0;
    for record in &records {
        let verdict = check(record, &seen, ca.is_some());
        failures += usize::from(verdict.is_err());
        report.push_str(&format!(
            "  {:<22} {:>6.2} s  {} {}{}\n",
            record.case,
            record.seconds,
            record.status.map_or("-".into(), |s| s.to_string()),
            record
                .code
                .as_deref()
                .or(record.problem.as_deref())
                .unwrap_or(""),
            verdict
                .err()
                .map(|e| format!("  FAIL: {e}"))
                .unwrap_or_default()
        ));
        seen.insert(record.case.clone(), record);
    }
    assert!(failures == 0, "{failures} cases failed\n{report}");
    eprintln!("{report}");
    records.into_iter().map(|r| (r.case.clone(), r)).collect()
}

/// What the store holds: exactly the objects put, and no temporary file
/// or part left behind, refused uploads included.
fn check_store(data: &Path, records: &BTreeMap<String, Record>, body_authenticated: bool) {
    let entries = |dir: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(data.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(entries("tmp"), Vec::<String>::new(), "files left in tmp/");
    assert_eq!(entries("uploads"), Vec::<String>::new(), "uploads left");
    assert_eq!(entries("buckets"), [BUCKET]);

    let bucket = data.join("buckets").join(BUCKET);
    let mut stored = BTreeMap::new();
    for name in entries(&format!("buckets/{BUCKET}")) {
        // Every file is named by a hash, whatever the key (`..` included).
        let stem = name.strip_suffix(".json").unwrap_or(&name);
        assert!(
            stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()),
            "a file named {name:?}"
        );
        if name.ends_with(".json") {
            let meta: store::Meta =
                serde_json::from_slice(&std::fs::read(bucket.join(&name)).unwrap()).unwrap();
            assert!(bucket.join(stem).is_file(), "no bytes for {:?}", meta.key);
            stored.insert(meta.key.clone(), (meta, bucket.join(stem)));
        }
    }
    let keys: Vec<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(keys, ["big.bin", MID_KEY, ODD_KEY], "the objects stored");

    let sent = [
        ("big.bin", "upload-256mib"),
        (MID_KEY, "put-3mib"),
        (ODD_KEY, "put-odd-key"),
    ];
    for (key, case) in sent {
        let (meta, path) = &stored[key];
        let record = &records[case];
        assert_eq!(meta.etag, record.str("etag"), "{key}: ETag");
        assert_eq!(
            meta.body_authenticated, body_authenticated,
            "{key}: whether the signature covered the body"
        );
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(meta.size, bytes.len() as u64, "{key}: size");
        assert_eq!(
            store::hex(&Sha256::digest(&bytes)),
            record.str("sha256"),
            "{key}: the bytes stored are the bytes sent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_over_http() {
    let dir = scratch("http");
    let endpoint = s3_endpoint::start(&dir.join("data"), None).await;
    let records = run_script(&endpoint, None).await;
    // Over HTTP botocore signs the payload (its SHA-256 in the head).
    check_store(&dir.join("data"), &records, true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_over_https() {
    let dir = scratch("https");
    let (ca, chain, key) = s3_endpoint::certificates(&dir);
    let endpoint = s3_endpoint::start(&dir.join("data"), Some((&chain, &key))).await;
    let records = run_script(&endpoint, Some(&ca)).await;
    // Over HTTPS botocore leaves the payload unsigned (CRC32 in a trailer).
    check_store(&dir.join("data"), &records, false);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Listing page by page, one entry a page, through keys and the common
/// prefixes that roll them up: each entry once, in order.
#[tokio::test]
async fn listing_pages_through_common_prefixes() {
    let dir = scratch("list");
    let store = store::Store::open(dir.join("data")).unwrap();
    store.create_bucket("list").await.unwrap();
    for key in ["a", "d/1", "d/2", "e/x/1", "f", "f/1", "g"] {
        let mut spool = store.spool().await.unwrap();
        spool.write(bytes::Bytes::from_static(b"x")).await.unwrap();
        let body = spool.finish().await.unwrap();
        store
            .put_object("list", key, body, Default::default(), true)
            .await
            .unwrap();
    }
    let pages = |prefix: &'static str, delimiter: &'static str, max: usize| {
        let store = &store;
        async move {
            let (mut after, mut pages) = (None, Vec::new());
            loop {
                let page = store
                    .list("list", prefix, delimiter, after.as_deref(), max)
                    .await
                    .unwrap();
                let mut entries: Vec<String> = page.objects.iter().map(|m| m.key.clone()).collect();
                entries.extend(page.common_prefixes);
                entries.sort();
                pages.push(entries.join(" "));
                match page.next {
                    Some(next) => after = Some(next),
                    None => return pages,
                }
            }
        }
    };
    assert_eq!(pages("", "/", 1).await, ["a", "d/", "e/", "f", "f/", "g"]);
    assert_eq!(pages("", "/", 2).await, ["a d/", "e/ f", "f/ g"]);
    assert_eq!(pages("", "", 3).await, ["a d/1 d/2", "e/x/1 f f/1", "g"]);
    assert_eq!(pages("d/", "/", 1000).await, ["d/1 d/2"]);
    assert_eq!(pages("e/", "/", 1000).await, ["e/x/"]);
    let _ = std::fs::remove_dir_all(&dir);
}
