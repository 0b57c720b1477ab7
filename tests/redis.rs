//! The Redis nonce store against a real `redis-server` that each test
//! starts on a free loopback port (`.ci/run` installs the Debian package).
#![cfg(feature = "redis")]

mod support;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::Method;
use support::{
    app::{app_with, keys, Observed},
    request, send, signed, Client, Framing, Proto, TestBody,
};
use tower_hmac::{replay::RedisNonceStore, SignatureLayer};

struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
}

impl RedisServer {
    fn start() -> Self {
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
    let store = RedisNonceStore::connect(&redis.url())
        .await
        .unwrap()
        .timeout(timeout);
    support::serve(app_with(
        SignatureLayer::new(keys()).nonce_store(store),
        Observed::default(),
    ))
    .await
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
    let addr = instance(&redis, Duration::from_millis(500)).await;
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

    // Back, empty: the store reconnects on its own and fresh requests pass.
    redis.restart();
    let started = Instant::now();
    loop {
        let reply = hello(addr).await;
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.code().as_deref(), Some("replay_store_unavailable"));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The restart lost the nonces: a replay of a request signed before it
    // cannot be checked, so it is refused rather than accepted.
    let reply = send(addr, Proto::H1, Framing::Length, before).await;
    assert_ne!(reply.status, 200, "{}", reply.text());
    reply.assert_problem(503, "replay_store_unavailable");
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
