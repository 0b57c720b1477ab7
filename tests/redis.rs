//! The Redis nonce store against a real `redis-server` that each test
//! starts on a free loopback port (`.ci/run` installs the Debian package).
#![cfg(feature = "redis")]

mod support;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{extract::State, routing::post, Router};
use bytes::Bytes;
use http::Method;
use support::{
    app::{app_with, keys, Observed},
    now, request, send, signed, signed_v1, signer, Client, Framing, Proto, TestBody,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower_hmac::{
    replay::RedisNonceStore, BodyDigest, Nonce, SignatureLayer, VerifiedResponse, Verifier,
    VerifyError,
};

struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
    args: Vec<String>,
}

impl RedisServer {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with extra command-line settings, such as `["--maxmemory-policy", "allkeys-lru"]`.
    fn start_with(args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("tower-hmac-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port,
            dir,
            args: args.iter().map(|&arg| arg.to_owned()).collect(),
        };
        server.restart();
        server
    }

    /// Starts (again) on the same port, with an empty data set.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--protected-mode", "no", "--loglevel", "warning", "--dir"])
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "redis-server not found: install the Debian package redis-server (.ci/run does)",
            );
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers_ping() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// `GET key`, on a connection of the test's own.
    fn get(&self, key: &str) -> Option<String> {
        let mut connection = redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap();
        redis::cmd("GET").arg(key).query(&mut connection).unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn instance(redis: &RedisServer, timeout: Duration) -> SocketAddr {
    instance_with(redis, timeout, SignatureLayer::new(keys())).await
}

/// An instance whose layer is `layer`, with the Redis store.
async fn instance_with(
    redis: &RedisServer,
    timeout: Duration,
    layer: SignatureLayer,
) -> SocketAddr {
    let store = RedisNonceStore::connect(&redis.url())
        .await
        .unwrap()
        .timeout(timeout);
    support::serve(app_with(layer.nonce_store(store), Observed::default())).await
}

async fn hello(addr: SocketAddr) -> support::Reply {
    send(
        addr,
        Proto::H1,
        Framing::Length,
        signed(request(Proto::H1, addr, Method::GET, "/hello", "")),
    )
    .await
}

/// A request for the service's public name, as a load balancer would forward it.
fn for_service(proto: Proto, body: &'static str) -> http::Request<Bytes> {
    let host = "api.internal:443";
    let builder = match proto {
        Proto::H1 => http::Request::post("/upload").header(http::header::HOST, host),
        Proto::H2 => http::Request::post(format!("http://{host}/upload")),
    };
    signed(builder.body(Bytes::from_static(body.as_bytes())).unwrap())
}

#[tokio::test]
async fn two_instances_sharing_redis_reject_each_others_replays() {
    let redis = RedisServer::start();
    let a = instance(&redis, RedisNonceStore::DEFAULT_TIMEOUT).await;
    let b = instance(&redis, RedisNonceStore::DEFAULT_TIMEOUT).await;
    for proto in [Proto::H1, Proto::H2] {
        for (first, second) in [(a, b), (b, a)] {
            let req = for_service(proto, "pay once");
            let reply = send(first, proto, Framing::Length, req.clone()).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            send(second, proto, Framing::Length, req.clone())
                .await
                .assert_problem(401, "replayed_request");
            send(first, proto, Framing::Length, req)
                .await
                .assert_problem(401, "replayed_request");
        }
    }
}

#[tokio::test]
async fn redis_down_or_hung_fails_closed_within_the_timeout() {
    let mut redis = RedisServer::start();
    let addr = instance(&redis, Duration::from_millis(300)).await;
    assert_eq!(hello(addr).await.status, 200);

    // Hung: the process is stopped, connections hang.
    redis.signal("-STOP");
    fails_closed_quickly(addr).await;
    redis.signal("-CONT");

    // Down: connections are refused.
    redis.stop();
    for _ in 0..3 {
        fails_closed_quickly(addr).await;
    }
}

/// A signed request is answered 503 `replay_store_unavailable`, well within 3 s.
async fn fails_closed_quickly(addr: SocketAddr) {
    let started = Instant::now();
    hello(addr)
        .await
        .assert_problem(503, "replay_store_unavailable");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
async fn after_a_restart_the_store_reconnects_and_accepts_nothing_unchecked() {
    let mut redis = RedisServer::start();
    // After a loss every request that may predate it is refused, for about
    // the clock skew: 3 s here, so that fresh requests pass again soon.
    let layer = SignatureLayer::new(keys()).max_clock_skew(Duration::from_secs(3));
    let addr = instance_with(&redis, Duration::from_millis(500), layer).await;
    let before = signed(request(Proto::H1, addr, Method::GET, "/hello", ""));
    assert_eq!(
        send(addr, Proto::H1, Framing::Length, before.clone())
            .await
            .status,
        200
    );

    // An upload in flight while Redis goes away is not accepted.
    let body = Bytes::from_static(b"in flight during the outage");
    let req = signed(request(
        Proto::H1,
        addr,
        Method::POST,
        "/upload",
        body.clone(),
    ));
    let (feed, slow) = TestBody::channel();
    let mut client = Client::connect(addr, Proto::H1).await;
    let upload = tokio::spawn(async move { client.send_body(req.map(|_| slow)).await });
    feed.send(body.slice(..5)).await.unwrap();
    redis.stop();
    feed.send(body.slice(5..)).await.unwrap();
    drop(feed);
    upload
        .await
        .unwrap()
        .assert_problem(503, "replay_store_unavailable");

    // Back, empty: the store reconnects on its own. The restart lost the
    // nonces: a replay of a request accepted before it cannot be checked, so
    // it is refused rather than accepted.
    redis.restart();
    let started = Instant::now();
    loop {
        let reply = send(addr, Proto::H1, Framing::Length, before.clone()).await;
        assert_ne!(reply.status, 200, "{}", reply.text());
        reply.assert_problem(503, "replay_store_unavailable");
        if redis.get("tower-hmac:epoch").is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Fresh requests pass again once none can predate the loss.
    loop {
        let reply = hello(addr).await;
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.code().as_deref(), Some("replay_store_unavailable"));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "fresh requests still refused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = send(addr, Proto::H1, Framing::Length, before).await;
    assert_ne!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn connecting_to_a_redis_that_is_not_there_is_an_error_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    assert!(
        RedisNonceStore::connect(&format!("redis://127.0.0.1:{port}/"))
            .await
            .is_err()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_evicting_or_unreadable_maxmemory_policy_is_refused_unless_allowed() {
    for (args, expected) in [
        (
            &["--maxmemory-policy", "allkeys-lru"][..],
            "maxmemory-policy is allkeys-lru",
        ),
        (
            &["--maxmemory-policy", "volatile-ttl"][..],
            "maxmemory-policy is volatile-ttl",
        ),
        (
            &["--rename-command", "CONFIG", ""][..],
            "cannot read Redis's maxmemory-policy",
        ),
    ] {
        let redis = RedisServer::start_with(args);
        let error = RedisNonceStore::connect(&redis.url())
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{args:?}: {error}");
        assert!(
            error.contains("noeviction") && error.contains("allow_nonce_eviction"),
            "{error}"
        );

        // Explicitly allowed: it connects, and still catches replays.
        let store = RedisNonceStore::builder(&redis.url())
            .allow_nonce_eviction()
            .connect()
            .await
            .unwrap();
        let addr = support::serve(app_with(
            SignatureLayer::new(keys()).nonce_store(store),
            Observed::default(),
        ))
        .await;
        let req = signed(request(Proto::H1, addr, Method::GET, "/hello", ""));
        assert_eq!(
            send(addr, Proto::H1, Framing::Length, req.clone())
                .await
                .status,
            200
        );
        send(addr, Proto::H1, Framing::Length, req)
            .await
            .assert_problem(401, "replayed_request");
    }
    // Redis's default policy passes.
    let redis = RedisServer::start_with(&["--maxmemory-policy", "noeviction"]);
    assert!(RedisNonceStore::connect(&redis.url()).await.is_ok());
}

#[tokio::test]
async fn a_future_dated_request_accepted_before_a_data_loss_is_not_accepted_again() {
    let mut redis = RedisServer::start();
    let skew = 5;
    let layer = SignatureLayer::new(keys()).max_clock_skew(Duration::from_secs(skew));
    let addr = instance_with(&redis, Duration::from_millis(300), layer).await;

    // Signed by a clock 4 s fast: its Time is later than a loss a moment from now.
    let mut ahead = request(Proto::H1, addr, Method::GET, "/hello", "");
    signer()
        .sign_at(
            &mut ahead,
            &BodyDigest::of(b""),
            now() + skew - 1,
            Nonce::random(),
        )
        .unwrap();
    assert_eq!(
        send(addr, Proto::H1, Framing::Length, ahead.clone())
            .await
            .status,
        200
    );

    // Redis comes back empty; the store reconnects and notices the loss.
    redis.stop();
    redis.restart();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let reply = send(addr, Proto::H1, Framing::Length, ahead.clone()).await;
        assert_ne!(
            reply.status, 200,
            "a request accepted before the loss passed again"
        );
        reply.assert_problem(503, "replay_store_unavailable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let marker = redis.get("tower-hmac:epoch");
    assert!(
        marker.as_deref().is_some_and(|m| m.ends_with(" lost")),
        "the store never reconnected to notice the loss: {marker:?}"
    );

    // Fresh requests pass again once none can predate the loss.
    loop {
        let reply = hello(addr).await;
        if reply.status == 200 {
            break;
        }
        reply.assert_problem(503, "replay_store_unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(skew + 8),
            "still refusing fresh requests"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A TCP proxy in front of Redis that can hold back one reply.
#[derive(Clone, Default)]
struct SlowReplies {
    /// Hold back the next reply from Redis (for 400 ms).
    armed: Arc<AtomicBool>,
    /// A reply has been held back: Redis ran the command it answers.
    held: Arc<AtomicBool>,
}

impl SlowReplies {
    async fn start(redis: &RedisServer) -> (String, Self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}/", listener.local_addr().unwrap());
        let proxy = Self::default();
        let (redis_port, this) = (redis.port, proxy.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let outbound = tokio::net::TcpStream::connect(("127.0.0.1", redis_port))
                    .await
                    .unwrap();
                let (mut from_client, mut to_redis) = (inbound, outbound);
                let (mut client_read, mut client_write) = from_client.split();
                let (mut redis_read, mut redis_write) = to_redis.split();
                let this = this.clone();
                let requests = tokio::io::copy(&mut client_read, &mut redis_write);
                let replies = async {
                    let mut buf = vec![0; 64 * 1024];
                    loop {
                        let n = redis_read.read(&mut buf).await?;
                        if n == 0 {
                            return Ok::<_, std::io::Error>(());
                        }
                        if this.armed.swap(false, Ordering::SeqCst) {
                            this.held.store(true, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(400)).await;
                        }
                        client_write.write_all(&buf[..n]).await?;
                    }
                };
                let _ = tokio::join!(requests, replies);
            }
        });
        (url, proxy)
    }
}

async fn verify_cancelled_then_retried(
    State(replies): State<SlowReplies>,
    verifier: Verifier,
) -> Result<VerifiedResponse, VerifyError> {
    let first = tokio::time::timeout(Duration::from_millis(100), verifier.verify()).await;
    // The cancelled attempt's script has run in Redis: its SET landed.
    for _ in 0..200 {
        if replies.held.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let verified = verifier.verify().await?;
    Ok(verified.respond(match first {
        Err(_) => "cancelled, then verified",
        Ok(_) => "verified at once",
    }))
}

#[tokio::test]
async fn a_verify_cancelled_after_its_nonce_was_recorded_passes_when_retried() {
    let redis = RedisServer::start();
    let (url, replies) = SlowReplies::start(&redis).await;
    let store = RedisNonceStore::builder(&url)
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let app = Router::new()
        .route("/retry", post(verify_cancelled_then_retried))
        .route_layer(SignatureLayer::new(keys()).nonce_store(store))
        .with_state(replies.clone());
    let addr = support::serve(app).await;

    // A v1 request with a body: its nonce is recorded by the handler's verify().
    let req = signed_v1(request(Proto::H1, addr, Method::POST, "/retry", "x"));
    replies.armed.store(true, Ordering::SeqCst);
    let reply = send(addr, Proto::H1, Framing::Length, req.clone()).await;
    assert!(
        replies.held.load(Ordering::SeqCst),
        "no reply was held back"
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "cancelled, then verified");
    // The nonce is recorded all the same: a replay fails.
    send(addr, Proto::H1, Framing::Length, req)
        .await
        .assert_problem(401, "replayed_request");
}
