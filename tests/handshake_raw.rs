//! The raw recipes (`handshake::raw`) against the recipes themselves, over
//! loopback TCP, in both roles:
//!
//! - the Go recipe (`tests/go/handshake_recipe`, written from the issue's
//!   description, built here with `go build`, offline), with HMAC-MD5:
//!   these need the `handshake-legacy` feature;
//! - the Python Cookbook recipe (`tests/python/cookbook_handshake.py`), with
//!   `digestmod=hashlib.sha256` and, with `handshake-legacy`, `hashlib.md5`;
//!
//! with the right key and a wrong one, and against hostile raw peers (short,
//! split, oversized answers, silent peers, odd challenges), next to what the
//! recipes' own programs do with the same bytes. Each test checks what each
//! side printed or returned.
//!
//! A missing `go` or `python3` fails these tests, with how to install it
//! (`.ci/run` does).

use std::{
    path::Path,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader, Lines},
    net::{TcpListener, TcpStream},
    process::{Child, ChildStdout, Command},
    time::{sleep, timeout},
};
use tower_hmac::handshake::{
    raw::{Alphabet, Digest, RawHandshake, RawHandshakeError, Recipe},
    AuthKey,
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// How long any one step may wait for a peer.
const STEP: Duration = Duration::from_secs(20);
/// Our side's timeout where a test waits for it.
const SHORT: Duration = Duration::from_millis(500);

const KEY: [u8; 32] = *b"tower-hmac raw recipe test key32";
const OTHER_KEY: [u8; 32] = *b"not the raw recipe test key, 32!";

const PYTHON_INSTALL: &str = "install Python 3 (any 3.8+; the script needs only the standard \
                              library), or point PYTHON at one";
const GO_INSTALL: &str = "install Go 1.19+: `apt-get install golang-go` (.ci/run does)";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(key: &[u8], challenge: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(challenge);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(feature = "handshake-legacy")]
fn md5(key: &[u8], challenge: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<md5::Md5>::new_from_slice(key).unwrap();
    mac.update(challenge);
    mac.finalize().into_bytes().to_vec()
}

/// Our side, HMAC-MD5 allowed whenever it is compiled in.
fn ours(key: &[u8], recipe: Recipe) -> RawHandshake {
    let raw = RawHandshake::new(AuthKey::new(key.to_vec()).unwrap(), recipe).timeout(SHORT);
    #[cfg(feature = "handshake-legacy")]
    let raw = raw.allow_legacy(true);
    raw
}

/// The Cookbook's digests this build speaks: its `digestmod` name, our
/// digest, and an independent HMAC of it.
type Independent = fn(&[u8], &[u8]) -> Vec<u8>;
fn cookbook_digests() -> Vec<(&'static str, Digest, Independent)> {
    #[allow(unused_mut)]
    let mut all: Vec<(&str, Digest, Independent)> = vec![("sha256", Digest::Sha256, sha256)];
    #[cfg(feature = "handshake-legacy")]
    all.push(("md5", Digest::Md5, md5));
    all
}

// The recipe programs.

/// A running recipe program, printing one line per thing it sees.
struct Program {
    what: String,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Program {
    fn spawn(what: &str, mut command: Command, install: &str) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: cannot start it ({e}): {install}"));
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            what: what.to_owned(),
            child,
            stdout,
        }
    }

    /// The next line it printed.
    async fn line(&mut self) -> String {
        match timeout(STEP, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => panic!("{}: no line ({other:?})", self.what),
        }
    }

    /// The port of its `LISTENING <port>` line.
    async fn port(&mut self) -> u16 {
        let line = self.line().await;
        line.strip_prefix("LISTENING ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("{}: expected LISTENING <port>, got {line:?}", self.what))
    }

    /// Waits for it to exit: its status, the rest of its lines, its stderr.
    async fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let mut rest = Vec::new();
        while let Ok(Ok(Some(line))) = timeout(STEP, self.stdout.next_line()).await {
            rest.push(line);
        }
        let status = timeout(STEP, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit", self.what))
            .unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = timeout(STEP, pipe.read_to_string(&mut stderr)).await;
        }
        (status, rest, stderr)
    }

    /// Exits 0 after printing exactly `lines` (after those already read).
    async fn prints(self, lines: &[&str]) {
        let what = self.what.clone();
        let (status, rest, stderr) = self.finish().await;
        assert_eq!(rest, lines, "{what} (stderr {stderr:?})");
        assert!(status.success(), "{what}: {status} (stderr {stderr:?})");
    }
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `cookbook_handshake.py ARGS…` with `key`.
fn cookbook(key: &[u8], args: &[&str]) -> Program {
    let mut command = Command::new(python());
    command
        .arg("-I") // isolated: no user site, no PYTHON* variables
        .arg(Path::new(ROOT).join("tests/python/cookbook_handshake.py"))
        .args(args)
        .env("COOKBOOK_KEY_HEX", hex(key))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    Program::spawn(
        &format!("cookbook_handshake.py {}", args.join(" ")),
        command,
        PYTHON_INSTALL,
    )
}

fn go_command(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new("go");
    command
        .args(args)
        .current_dir(Path::new(ROOT).join("tests/go/handshake_recipe"))
        // Standard library only: nothing to fetch, no toolchain to switch to.
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off");
    command
}

fn run_go(what: &str, mut command: std::process::Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start it ({e}): {GO_INSTALL}"));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} failed:\n{log}");
    log
}

/// The Go recipe, built once into this test's temporary directory.
#[cfg(feature = "handshake-legacy")]
fn go_recipe_binary() -> &'static Path {
    use std::{path::PathBuf, sync::OnceLock};
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("handshake-recipe-go");
        let mut build = go_command(&["build", "-o"]);
        build.arg(&binary).arg(".");
        run_go("go build tests/go/handshake_recipe", build);
        binary
    })
}

/// The Go recipe program, `serve` or `connect ADDR`, with `key`.
#[cfg(feature = "handshake-legacy")]
fn go_recipe(key: &[u8], args: &[&str]) -> Program {
    let mut command = Command::new(go_recipe_binary());
    command.args(args).env("RECIPE_SECRET_HEX", hex(key));
    Program::spawn(
        &format!("the Go recipe {}", args.join(" ")),
        command,
        GO_INSTALL,
    )
}

#[test]
fn the_go_recipe_program_is_vetted_and_formatted() {
    run_go(
        "go vet tests/go/handshake_recipe",
        go_command(&["vet", "."]),
    );
    let mut gofmt = std::process::Command::new("gofmt");
    gofmt
        .args(["-l", "."])
        .current_dir(Path::new(ROOT).join("tests/go/handshake_recipe"));
    let unformatted = run_go("gofmt", gofmt);
    assert!(unformatted.is_empty(), "not gofmt-formatted: {unformatted}");
}

// Helpers for our side.

/// Accepts one connection on a fresh listener; runs `accept` on it as our
/// side, while `peer(port)` runs. Our result, as text: `Authenticated` and
/// what followed the answer up to the peer's end (or its first 64 bytes),
/// or the error.
async fn our_server(raw: RawHandshake, listener: TcpListener) -> String {
    let (stream, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
    match raw.accept(stream).await {
        Ok(authenticated) => {
            let mut stream = authenticated.into_inner();
            let mut rest = Vec::new();
            let _ = timeout(SHORT, (&mut stream).take(64).read_to_end(&mut rest)).await;
            format!("Authenticated, then {:?}", String::from_utf8_lossy(&rest))
        }
        Err(e) => format!("{e:?}"),
    }
}

async fn bind() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// The Go recipe's client answers "CHALLENGE <quoted>": the challenge it saw.
#[cfg(feature = "handshake-legacy")]
fn seen_challenge(line: &str) -> String {
    line.strip_prefix("CHALLENGE \"")
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("expected CHALLENGE \"…\", got {line:?}"))
        .to_owned()
}

// The Go recipe, both roles.

#[cfg(feature = "handshake-legacy")]
#[tokio::test]
async fn the_go_recipe_client_against_our_server() {
    for (key, expected) in [
        (KEY, "Authenticated, then \"\""),
        (OTHER_KEY, "WrongDigest"),
    ] {
        let (listener, port) = bind().await;
        let mut client = go_recipe(&key, &["connect", &format!("127.0.0.1:{port}")]);
        let result = our_server(ours(&KEY, Recipe::go()), listener).await;
        assert_eq!(result, expected);
        // One challenge, answered; then our server closed, having written nothing more.
        let challenge = seen_challenge(&client.line().await);
        assert_eq!(challenge.len(), 16);
        assert!(challenge
            .bytes()
            .all(|b| Alphabet::ALPHANUMERIC.contains(b)));
        assert_eq!(client.line().await, "ANSWERED");
        let (status, rest, stderr) = client.finish().await;
        assert!(status.success(), "{stderr}");
        assert_eq!(rest.len(), 1, "{rest:?}");
        assert!(
            rest[0] == "CLOSED EOF" || rest[0].contains("connection reset"),
            "{rest:?}"
        );
    }
}

#[cfg(feature = "handshake-legacy")]
#[tokio::test]
async fn our_client_against_the_go_recipe_server() {
    for (key, verdict) in [
        (KEY, "AUTHENTICATED"),
        (OTHER_KEY, "REFUSED wrong answer (16 bytes)"),
    ] {
        let mut server = go_recipe(&KEY, &["serve"]);
        let port = server.port().await;
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        // No verdict comes back: either way we have only answered.
        let answered = ours(&key, Recipe::go()).connect(stream).await.unwrap();
        assert_eq!(answered.digest(), Digest::Md5);
        let challenge = server.line().await;
        assert!(challenge.starts_with("CHALLENGE "), "{challenge}");
        server.prints(&[verdict]).await;
        // The recipe's server closes either way.
        let mut stream = answered.into_inner();
        let n = timeout(STEP, stream.read(&mut [0; 16])).await.unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
}

// The Cookbook recipe, both roles, both digests.

/// Echoes what `stream` receives until it closes, as the recipe's server does.
async fn echo(mut stream: TcpStream) {
    let mut buf = [0; 8192];
    while let Ok(Ok(n @ 1..)) = timeout(STEP, stream.read(&mut buf)).await {
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn the_cookbook_client_against_our_server() {
    for (name, digest, _) in cookbook_digests() {
        let (listener, port) = bind().await;
        let client = cookbook(
            &KEY,
            &["connect", &port.to_string(), name, "hello", "world"],
        );
        let (stream, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
        let authenticated = ours(&KEY, Recipe::cookbook(digest))
            .accept(stream)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(authenticated.digest(), digest);
        echo(authenticated.into_inner()).await;
        client
            .prints(&["ANSWERED", "ECHO hello", "ECHO world"])
            .await;
    }
}

#[tokio::test]
async fn our_client_against_the_cookbook_server() {
    for (name, digest, _) in cookbook_digests() {
        let mut server = cookbook(&KEY, &["serve", name]);
        let port = server.port().await;
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let answered = ours(&KEY, Recipe::cookbook(digest))
            .connect(stream)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut stream = answered.into_inner();
        stream.write_all(b"hello").await.unwrap();
        let mut echoed = [0; 5];
        timeout(STEP, stream.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&echoed, b"hello");
        stream.shutdown().await.unwrap();
        server.prints(&["AUTHENTICATED", "ECHOED 5"]).await;
    }
}

#[tokio::test]
async fn wrong_keys_and_wrong_digests_with_the_cookbook() {
    for (name, digest, _) in cookbook_digests() {
        // Their client, the wrong key: we refuse; it finds the connection closed.
        let (listener, port) = bind().await;
        let client = cookbook(&OTHER_KEY, &["connect", &port.to_string(), name, "hello"]);
        let result = our_server(ours(&KEY, Recipe::cookbook(digest)), listener).await;
        assert_eq!(result, "WrongDigest", "{name}");
        client.prints(&["ANSWERED", "CLOSED"]).await;

        // Our client, the wrong key: it has answered; their server refuses and closes.
        let mut server = cookbook(&KEY, &["serve", name]);
        let port = server.port().await;
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let answered = ours(&OTHER_KEY, Recipe::cookbook(digest))
            .connect(stream)
            .await
            .unwrap();
        server.prints(&["REFUSED"]).await;
        let mut stream = answered.into_inner();
        let n = timeout(STEP, stream.read(&mut [0; 16])).await.unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }

    // Our SHA-256 answer to their MD5 server: it reads 16 of our 32 bytes.
    #[cfg(feature = "handshake-legacy")]
    {
        let mut server = cookbook(&KEY, &["serve", "md5"]);
        let port = server.port().await;
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        ours(&KEY, Recipe::cookbook(Digest::Sha256))
            .connect(stream)
            .await
            .unwrap();
        server.prints(&["REFUSED"]).await;

        // Their 16-byte MD5 answer (and 5 bytes of message) to our SHA-256
        // server: short of 32, and then the client waits for its echo.
        let (listener, port) = bind().await;
        let client = cookbook(&KEY, &["connect", &port.to_string(), "md5", "hello"]);
        let result = our_server(ours(&KEY, Recipe::cookbook(Digest::Sha256)), listener).await;
        assert_eq!(result, "Timeout(500ms)");
        client.prints(&["ANSWERED", "CLOSED"]).await;
    }
}

// Hostile answers: a raw client reads the challenge, computes the right
// answer, and sends something made of it. The same bytes go to the recipe's
// own server and to ours.

struct Hostile {
    what: &'static str,
    /// What to send, in pieces 100 ms apart, given the right answer.
    pieces: fn(&[u8]) -> Vec<Vec<u8>>,
    /// Whether to close after sending (or wait for the server to).
    close: bool,
}

fn hostile_answers() -> Vec<Hostile> {
    vec![
        Hostile {
            what: "no answer, closed",
            pieces: |_| vec![],
            close: true,
        },
        Hostile {
            what: "a short answer, closed",
            pieces: |right| vec![right[..8].to_vec()],
            close: true,
        },
        Hostile {
            what: "a short answer, then silence",
            pieces: |right| vec![right[..8].to_vec()],
            close: false,
        },
        Hostile {
            what: "the right answer, split in two",
            pieces: |right| vec![right[..8].to_vec(), right[8..].to_vec()],
            close: true,
        },
        Hostile {
            what: "the right answer and more, in one write",
            pieces: |right| vec![[right, b"extra"].concat()],
            close: true,
        },
        Hostile {
            what: "4096 bytes of garbage",
            pieces: |_| vec![vec![b'x'; 4096]],
            close: true,
        },
    ]
}

/// Plays `hostile` against a server on `port` whose recipe has challenges of
/// `challenge_len` bytes and answers made by `mac`. Returns what the server
/// wrote after the challenge (echoed), once it closed.
async fn play(hostile: &Hostile, port: u16, challenge_len: usize, mac: Independent) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut challenge = vec![0; challenge_len];
    timeout(STEP, stream.read_exact(&mut challenge))
        .await
        .unwrap()
        .unwrap();
    let pieces = (hostile.pieces)(&mac(&KEY, &challenge));
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            sleep(Duration::from_millis(100)).await;
        }
        // The recipe's server may have hung up already: that is its verdict.
        let _ = stream.write_all(piece).await;
    }
    if hostile.close {
        let _ = stream.shutdown().await;
    }
    let mut echoed = Vec::new();
    let _ = timeout(STEP, stream.read_to_end(&mut echoed)).await;
    echoed
}

/// Runs each hostile answer against our server with `recipe` and against
/// the recipe's own server (`theirs`), and checks both against `expected`:
/// (our result, their line, what their server echoed).
async fn hostile_against_both(
    recipe: Recipe,
    mac: Independent,
    theirs: impl Fn() -> Program,
    expected: &[(&str, &str, &str)],
) {
    for (hostile, (ours_expected, theirs_expected, theirs_echoed)) in
        hostile_answers().iter().zip(expected)
    {
        let (listener, port) = bind().await;
        let server = tokio::spawn(our_server(ours(&KEY, recipe.clone()), listener));
        play(hostile, port, recipe.challenge_len(), mac).await;
        assert_eq!(
            &server.await.unwrap(),
            ours_expected,
            "ours, {}",
            hostile.what
        );

        if theirs_expected.is_empty() {
            continue; // the recipe's server would wait for ever
        }
        let mut server = theirs();
        let port = server.port().await;
        let echoed = play(hostile, port, recipe.challenge_len(), mac).await;
        let (_, lines, stderr) = server.finish().await;
        // The Go recipe's server logs its challenge first.
        let verdict = lines.iter().find(|l| !l.starts_with("CHALLENGE "));
        assert_eq!(
            verdict.map(String::as_str),
            Some(*theirs_expected),
            "theirs, {}: {lines:?} {stderr}",
            hostile.what
        );
        assert_eq!(
            String::from_utf8_lossy(&echoed),
            *theirs_echoed,
            "theirs, {}",
            hostile.what
        );
    }
}

#[cfg(feature = "handshake-legacy")]
#[tokio::test]
async fn hostile_answers_to_the_go_recipe_server_and_ours() {
    // The recipe's one read refuses a split answer and a right one followed
    // at once by more; ours reads the answer's 16 bytes however they come,
    // and leaves what follows for its caller (which, in go mode, closes).
    hostile_against_both(
        Recipe::go(),
        md5,
        || go_recipe(&KEY, &["serve"]),
        &[
            (
                "Truncated { received: 0, expected: 16 }",
                "REFUSED read: EOF",
                "",
            ),
            (
                "Truncated { received: 8, expected: 16 }",
                "REFUSED wrong answer (8 bytes)",
                "",
            ),
            ("Timeout(500ms)", "REFUSED wrong answer (8 bytes)", ""),
            (
                "Authenticated, then \"\"",
                "REFUSED wrong answer (8 bytes)",
                "",
            ),
            (
                "Authenticated, then \"extra\"",
                "REFUSED wrong answer (21 bytes)",
                "",
            ),
            ("WrongDigest", "REFUSED wrong answer (4096 bytes)", ""),
        ],
    )
    .await;
}

#[tokio::test]
async fn hostile_answers_to_the_cookbook_server_and_ours() {
    // The recipe's one `recv(32)` refuses a split answer; ours reads the 32
    // bytes however they come. Both leave what follows the answer on the
    // stream: the recipe's server echoes it.
    for (name, digest, mac) in cookbook_digests() {
        let n = digest.output_len();
        let short = format!("Truncated {{ received: 8, expected: {n} }}");
        let none = format!("Truncated {{ received: 0, expected: {n} }}");
        hostile_against_both(
            Recipe::cookbook(digest),
            mac,
            || cookbook(&KEY, &["serve", name]),
            &[
                (&none, "REFUSED", ""),
                (&short, "REFUSED", ""),
                ("Timeout(500ms)", "REFUSED", ""),
                ("Authenticated, then \"\"", "REFUSED", ""),
                ("Authenticated, then \"extra\"", "AUTHENTICATED", "extra"),
                ("WrongDigest", "REFUSED", ""),
            ],
        )
        .await;
    }
}

// Hostile or odd servers against our client, and what the Go recipe's
// client does with them.

/// A raw server that sends `challenge`, closes its half, and reads until the
/// client hangs up; returns everything the client wrote.
async fn raw_server(challenge: Vec<u8>) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
    let (listener, port) = bind().await;
    let task = tokio::spawn(async move {
        let (mut stream, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
        stream.write_all(&challenge).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut written = Vec::new();
        let _ = timeout(STEP, stream.read_to_end(&mut written)).await;
        written
    });
    (port, task)
}

async fn our_client_facing(recipe: Recipe, challenge: &[u8]) -> (String, Vec<u8>) {
    let (port, server) = raw_server(challenge.to_vec()).await;
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let result = match ours(&KEY, recipe).connect(stream).await {
        Ok(answered) => {
            drop(answered.into_inner());
            "Answered".to_owned()
        }
        Err(e) => format!("{e:?}"),
    };
    (result, server.await.unwrap())
}

#[tokio::test]
async fn our_client_refuses_odd_challenges_without_answering() {
    let alphanumeric = Recipe::new(16, Alphabet::ALPHANUMERIC, Digest::Sha256).unwrap();
    let cookbook = Recipe::cookbook(Digest::Sha256);
    let cases: [(&Recipe, &[u8], &str); 5] = [
        (
            &alphanumeric,
            b"0123456789abc\nef",
            "NotInAlphabet { at: 13 }",
        ),
        (
            &alphanumeric,
            b"0123",
            "Truncated { received: 4, expected: 16 }",
        ),
        (&cookbook, b"", "Truncated { received: 0, expected: 32 }"),
        (
            &cookbook,
            b"HMAC-SHA256\nkey\n1700000000\nAAAAA",
            "ReservedChallenge { prefix: \"HMAC-SHA256\" }",
        ),
        (
            &cookbook,
            b"{sha256}0123456789abcdef01234567",
            "ReservedChallenge { prefix: \"{sha256}\" }",
        ),
    ];
    for (recipe, challenge, expected) in cases {
        let (result, written) = our_client_facing(recipe.clone(), challenge).await;
        assert_eq!(result, expected, "{challenge:?}");
        assert!(written.is_empty(), "{challenge:?}: answered {written:?}");
    }
}

#[tokio::test]
async fn our_client_answers_once_whatever_follows_the_challenge() {
    // Two challenges' worth in one write: the Go recipe's client would take
    // it all as one challenge; ours reads the recipe's 16 bytes, answers
    // them once, and leaves the rest.
    let recipe = Recipe::new(16, Alphabet::ALPHANUMERIC, Digest::Sha256).unwrap();
    let sent = b"0123456789ABCDEFabcdefghijklmnop";
    let (result, written) = our_client_facing(recipe, sent).await;
    assert_eq!(result, "Answered");
    assert_eq!(written, sha256(&KEY, &sent[..16]));
}

#[tokio::test]
async fn silent_peers_time_out_on_our_side() {
    let recipes = {
        #[allow(unused_mut)]
        let mut all = vec![Recipe::cookbook(Digest::Sha256)];
        #[cfg(feature = "handshake-legacy")]
        all.push(Recipe::go());
        all
    };
    for recipe in recipes {
        // A client that says nothing.
        let (listener, port) = bind().await;
        let _silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let result = our_server(ours(&KEY, recipe.clone()), listener).await;
        assert_eq!(result, "Timeout(500ms)");

        // A server that accepts and says nothing.
        let (listener, port) = bind().await;
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let started = std::time::Instant::now();
        let result = ours(&KEY, recipe).connect(stream).await;
        assert!(
            matches!(result, Err(RawHandshakeError::Timeout(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < STEP);
        drop(listener);
    }
}

/// Why our server never writes after the challenge in go mode: the recipe's
/// client answers every read as a challenge, a second one too.
#[cfg(feature = "handshake-legacy")]
#[tokio::test]
async fn the_go_recipe_client_answers_every_read() {
    let (listener, port) = bind().await;
    let mut client = go_recipe(&KEY, &["connect", &format!("127.0.0.1:{port}")]);
    let (mut stream, _) = timeout(STEP, listener.accept()).await.unwrap().unwrap();
    for challenge in [b"0123456789ABCDEF", b"a later message!"] {
        stream.write_all(challenge).await.unwrap();
        let mut answer = [0; 16];
        timeout(STEP, stream.read_exact(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer.to_vec(), md5(&KEY, challenge));
        assert_eq!(
            seen_challenge(&client.line().await),
            String::from_utf8_lossy(challenge)
        );
        assert_eq!(client.line().await, "ANSWERED");
    }
    drop(stream);
    client.prints(&["CLOSED EOF"]).await;
}
