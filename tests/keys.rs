//! Key sources and rotation: in memory with validity windows, a watched
//! keys file, environment variables.

mod support;

use std::{
    io::Write,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::Method;
use support::{
    app::{app_with, Observed},
    request, send, Client, Framing, Proto, TestBody, OTHER_KEY_ID, OTHER_SECRET_B64, SECRET_B64,
};
use tower_hmac::{
    keys::{Key, NegativeCache},
    InMemoryKeys, KeyId, KeyStore, KeysFile, Secret, SignatureLayer, Signer, StoreError,
    StoreFuture,
};

fn signer(id: &str, secret_b64: &str) -> Signer {
    Signer::new(
        id.parse().unwrap(),
        Secret::from_base64(secret_b64).unwrap(),
    )
}

fn old() -> Signer {
    signer(support::KEY_ID, SECRET_B64)
}

fn new() -> Signer {
    signer(OTHER_KEY_ID, OTHER_SECRET_B64)
}

async fn hello(addr: std::net::SocketAddr, signer: &Signer) -> support::Reply {
    let mut req = request(Proto::H1, addr, Method::GET, "/hello", "");
    signer.sign(&mut req, b"").unwrap();
    send(addr, Proto::H1, Framing::Length, req).await
}

#[tokio::test]
async fn rotation_with_validity_windows_needs_no_downtime() {
    // Cut-over: the old key stops being valid a moment from now; the new one is already valid.
    let cut_over = SystemTime::now() + Duration::from_millis(1500);
    let keys = InMemoryKeys::new()
        .with(
            support::KEY_ID.parse().unwrap(),
            Key::new(Secret::from_base64(SECRET_B64).unwrap())
                .not_after(cut_over)
                .label("old"),
        )
        .with(
            OTHER_KEY_ID.parse().unwrap(),
            Key::new(Secret::from_base64(OTHER_SECRET_B64).unwrap())
                .not_before(SystemTime::now() - Duration::from_secs(1))
                .label("new"),
        );
    let observed = Observed::default();
    let addr = support::serve(app_with(SignatureLayer::new(keys), observed.clone())).await;

    // Before the cut-over both keys pass.
    assert_eq!(hello(addr, &old()).await.text(), "hello, key 7");
    assert_eq!(hello(addr, &new()).await.text(), "hello, key 8");

    tokio::time::sleep(
        cut_over.duration_since(SystemTime::now()).unwrap() + Duration::from_millis(200),
    )
    .await;
    // After it, the old key is refused exactly like an unknown one; the new one passes.
    hello(addr, &old())
        .await
        .assert_problem(401, "invalid_signature");
    assert_eq!(hello(addr, &new()).await.text(), "hello, key 8");

    // A key not yet valid is refused too.
    let later = InMemoryKeys::new().with(
        support::KEY_ID.parse().unwrap(),
        Key::new(Secret::from_base64(SECRET_B64).unwrap())
            .not_before(SystemTime::now() + Duration::from_secs(60)),
    );
    let addr = support::serve(app_with(SignatureLayer::new(later), observed)).await;
    hello(addr, &old())
        .await
        .assert_problem(401, "invalid_signature");
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn write_keys(path: &std::path::Path, json: &str) {
    // Write then rename, as deploy tools do, so the watcher never sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::File::create(&tmp)
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-hmac-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn until(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_watched_keys_file_is_reloaded_without_dropping_requests_in_flight() {
    let dir = temp_dir("reload");
    let path = dir.join("keys.json");
    write_keys(
        &path,
        &format!(r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}", "label": "first"}}]}}"#),
    );
    let keys = KeysFile::load(&path)
        .unwrap()
        .watch(Duration::from_millis(50));
    let observed = Observed::default();
    let addr = support::serve(app_with(
        SignatureLayer::new(keys.clone()),
        observed.clone(),
    ))
    .await;

    assert_eq!(hello(addr, &old()).await.status, 200);
    hello(addr, &new())
        .await
        .assert_problem(401, "invalid_signature");

    // A slow upload signed with key 7 starts...
    let body: Bytes = (0..64 * 1024).map(|i| i as u8).collect();
    let mut slow = request(Proto::H1, addr, Method::POST, "/upload", body.clone());
    old().sign(&mut slow, &body).unwrap();
    let (feed, streamed) = TestBody::channel();
    let mut client = Client::connect(addr, Proto::H1).await;
    let upload = tokio::spawn(async move { client.send_body(slow.map(|_| streamed)).await });
    feed.send(body.slice(..1000)).await.unwrap();

    // ...the file rotates to key 8 only, with a not_after in the past for 7 as well...
    write_keys(
        &path,
        &format!(
            r#"{{"keys": [
                {{"id": "7", "secret": "{SECRET_B64}", "not_after": {}}},
                {{"id": "8", "secret": "{OTHER_SECRET_B64}", "not_before": "2020-01-01T00:00:00Z", "label": "second"}}
            ]}}"#,
            unix(SystemTime::now()) - 10
        ),
    );
    assert!(
        until(async || hello(addr, &new()).await.status == 200).await,
        "the new key never became usable"
    );
    hello(addr, &old())
        .await
        .assert_problem(401, "invalid_signature");

    // ...and the upload that looked its key up before the change still completes.
    feed.send(body.slice(1000..)).await.unwrap();
    drop(feed);
    let reply = upload.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), r#"{"bytes":65536}"#);

    // A broken file is refused and the keys in use stay.
    write_keys(&path, r#"{"keys": [{"id": "8", "secret": "c2hvcnQ="}]}"#);
    let error = keys.reload().unwrap_err().to_string();
    assert!(
        error.contains("key 8") && error.contains("at least 16 bytes"),
        "{error}"
    );
    assert!(
        !error.contains("c2hvcnQ="),
        "the secret leaked into {error}"
    );
    assert_eq!(hello(addr, &new()).await.status, 200);
    assert_eq!(keys.snapshot().len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_watched_file_with_a_time_out_of_range_keeps_the_previous_keys_and_the_watcher() {
    let dir = temp_dir("range");
    let path = dir.join("keys.json");
    write_keys(
        &path,
        &format!(r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}"}}]}}"#),
    );
    let keys = KeysFile::load(&path)
        .unwrap()
        .watch(Duration::from_millis(50));
    let addr = support::serve(app_with(
        SignatureLayer::new(keys.clone()),
        Observed::default(),
    ))
    .await;
    assert_eq!(hello(addr, &old()).await.status, 200);

    // 2^63 seconds after 1970 is past what SystemTime holds: a load error, not a panic.
    write_keys(
        &path,
        &format!(
            r#"{{"keys": [{{"id": "8", "secret": "{OTHER_SECRET_B64}", "not_after": 9223372036854775808}}]}}"#
        ),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        hello(addr, &old()).await.status,
        200,
        "the previous keys stay"
    );
    let error = keys.reload().unwrap_err().to_string();
    assert!(error.contains("key 8: not_after"), "{error}");

    // The watcher is still running: a good file is picked up on its own.
    write_keys(
        &path,
        &format!(r#"{{"keys": [{{"id": "8", "secret": "{OTHER_SECRET_B64}"}}]}}"#),
    );
    assert!(
        until(async || hello(addr, &new()).await.status == 200).await,
        "the watcher died"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn keys_file_errors_are_clear_and_never_echo_secrets() {
    let dir = temp_dir("errors");
    let path = dir.join("keys.json");
    let cases = [
        (
            r#"{"keys": [{"id": "7", "secret": "c2hvcnQ="}]}"#.to_owned(),
            "at least 16 bytes",
        ),
        (
            r#"{"keys": [{"id": "7", "secret": "not base64!"}]}"#.to_owned(),
            "base64",
        ),
        (
            format!(
                r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}"}}, {{"id": "7", "secret": "{SECRET_B64}"}}]}}"#
            ),
            "appears twice",
        ),
        (
            format!(r#"{{"keys": [{{"id": "no spaces", "secret": "{SECRET_B64}"}}]}}"#),
            "key #1",
        ),
        (
            format!(
                r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}", "not_after": "tomorrow"}}]}}"#
            ),
            "RFC 3339",
        ),
        (
            format!(
                r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}", "not_before": 20, "not_after": 10}}]}}"#
            ),
            "before not_before",
        ),
        (
            format!(r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}", "colour": "blue"}}]}}"#),
            "expected shape",
        ),
        (format!(r#"{{"keys": "{SECRET_B64}"}}"#), "expected shape"),
        (
            format!(
                r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}", "not_before": 9223372036854775808}}]}}"#
            ),
            "key 7: not_before: 9223372036854775808 is out of range",
        ),
        (
            format!(
                r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}", "not_after": 18446744073709551615}}]}}"#
            ),
            "key 7: not_after: 18446744073709551615 is out of range",
        ),
        (
            format!(
                r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}", "not_after": 18446744073709551616}}]}}"#
            ),
            "expected shape",
        ),
        (
            format!(r#"{{"keys": [{{"id": "7", "secret": "{SECRET_B64}", "not_after": -1}}]}}"#),
            "expected shape",
        ),
        (r#"{"keys": ["#.to_owned(), "not valid JSON"),
        (r#"{"keys": []}"#.to_owned(), "no keys"),
    ];
    for (json, expected) in cases {
        write_keys(&path, &json);
        let error = KeysFile::load(&path).unwrap_err().to_string();
        assert!(error.contains(expected), "{json} gave {error}");
        assert!(error.contains("keys.json"), "{error}");
        assert!(
            !error.contains(SECRET_B64) && !error.contains("c2hvcnQ="),
            "a secret leaked into {error}"
        );
    }
    assert!(KeysFile::load(dir.join("missing.json")).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn keys_can_come_from_an_environment_variable() {
    let name = "TOWER_HMAC_TEST_KEYS_FROM_ENV";
    // SAFETY of intent: this variable name is used by this test only.
    std::env::set_var(name, format!("7={SECRET_B64}, 8={OTHER_SECRET_B64}"));
    let keys = InMemoryKeys::from_env(name).unwrap();
    assert_eq!(keys.len(), 2);
    let addr = support::serve(app_with(SignatureLayer::new(keys), Observed::default())).await;
    assert_eq!(hello(addr, &old()).await.status, 200);
    assert_eq!(hello(addr, &new()).await.status, 200);

    std::env::set_var(name, "7=c2hvcnQ=");
    let error = InMemoryKeys::from_env(name).unwrap_err().to_string();
    assert!(
        error.contains(name) && error.contains("key 7") && error.contains("at least 16 bytes"),
        "{error}"
    );
    assert!(InMemoryKeys::from_env("TOWER_HMAC_TEST_UNSET_VARIABLE").is_err());
    let _: KeyId = "7".parse().unwrap();
}

/// A store that answers later, as a database would, and counts the lookups reaching it.
struct Database {
    keys: InMemoryKeys,
    lookups: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl KeyStore for Database {
    fn lookup(&self, key_id: &KeyId) -> StoreFuture<Result<Option<Secret>, StoreError>> {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let found = self.keys.get(key_id).map(|key| key.secret().clone());
        StoreFuture::new(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(found)
        })
    }
}

#[tokio::test]
async fn a_negative_cache_spares_the_store_repeated_forged_key_ids() {
    let lookups = std::sync::Arc::default();
    let database = Database {
        keys: support::app::keys(),
        lookups: std::sync::Arc::clone(&lookups),
    };
    let keys = NegativeCache::new(database).ttl(Duration::from_secs(60));
    let addr = support::serve(app_with(SignatureLayer::new(keys), Observed::default())).await;
    let forger = signer("no-such-key", SECRET_B64);
    for _ in 0..20 {
        hello(addr, &forger)
            .await
            .assert_problem(401, "invalid_signature");
    }
    let count = || lookups.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(count(), 1, "forged requests reached the store");
    for _ in 0..5 {
        assert_eq!(hello(addr, &old()).await.status, 200);
    }
    assert_eq!(count(), 6, "known keys are looked up every time");
}
