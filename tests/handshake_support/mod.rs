//! Real CPython peers for `tests/handshake.rs`: finding the interpreters,
//! running `tests/python/mp_peer.py`, raw framing for hostile peers.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::OnceLock,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
    time::timeout,
};

/// How long any one step of a test may wait for a peer.
pub const STEP: Duration = Duration::from_secs(20);

pub const KEY: [u8; 32] = *b"tower-hmac handshake test key 32";
pub const OTHER_KEY: [u8; 32] = *b"another handshake test key of 32";

/// One CPython interpreter, and which form its `multiprocessing` speaks.
#[derive(Debug, Clone)]
pub struct Python {
    pub version: &'static str,
    pub path: PathBuf,
}

impl Python {
    /// CPython 3.11 and earlier only speak the legacy HMAC-MD5 form.
    pub fn legacy(&self) -> bool {
        self.version == "3.11"
    }
}

/// The interpreters the image provides (pyenv), found once; each absent one
/// is reported on stderr (uncaptured, so it shows in `cargo test` output).
pub fn pythons() -> &'static [Python] {
    static FOUND: OnceLock<Vec<Python>> = OnceLock::new();
    FOUND.get_or_init(|| {
        let root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root/.pyenv"));
        ["3.11", "3.12", "3.13"]
            .into_iter()
            .filter_map(|version| match find(&root.join("versions"), version) {
                Some(path) => Some(Python { version, path }),
                None => {
                    use std::io::Write as _;
                    let _ = writeln!(
                        std::io::stderr(),
                        "skipped: python{version} not found at {}/versions/{version}.*/bin/python3",
                        root.display()
                    );
                    None
                }
            })
            .collect()
    })
}

/// The modern interpreters (3.12 and later) found.
pub fn modern_pythons() -> impl Iterator<Item = &'static Python> {
    pythons().iter().filter(|p| !p.legacy())
}

/// `<versions>/<version>.<patch>/bin/python3`, highest patch first.
fn find(versions: &Path, version: &str) -> Option<PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(versions)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let patch: u32 = name
                .strip_prefix(version)?
                .strip_prefix('.')?
                .parse()
                .ok()?;
            Some((patch, entry.path().join("bin/python3")))
        })
        .filter(|(_, path)| path.is_file())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, path)| path)
}

/// A running `mp_peer.py`.
pub struct Peer {
    pub python: Python,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    pub fn spawn(python: &Python, key: &[u8], args: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mp_peer.py");
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let mut child = Command::new(&python.path)
            .arg("-I") // isolated: no user site, no PYTHON* variables
            .arg(script)
            .args(args)
            .env("MP_AUTHKEY_HEX", hex)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.path.display()));
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            python: python.clone(),
            child,
            stdout,
        }
    }

    /// Python's `Listener` on 127.0.0.1 port 0; returns it with the port it printed.
    pub async fn listen(python: &Python, key: &[u8]) -> (Self, u16) {
        let mut peer = Self::spawn(python, key, &["listen"]);
        let line = peer.line().await;
        let port = line
            .strip_prefix("LISTENING ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "python{}: expected LISTENING <port>, got {line:?}",
                    python.version
                )
            });
        (peer, port)
    }

    /// Python's `Client` to 127.0.0.1:`port`.
    pub fn connect(python: &Python, key: &[u8], port: u16) -> Self {
        Self::spawn(python, key, &["connect", &port.to_string()])
    }

    /// The next line Python printed.
    pub async fn line(&mut self) -> String {
        match timeout(STEP, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => panic!("python{}: no line ({other:?})", self.python.version),
        }
    }

    /// Waits for Python to exit; its exit status, the rest of its output and its stderr.
    pub async fn finish(mut self) -> (ExitStatus, String, String) {
        let mut rest = String::new();
        while let Ok(Ok(Some(line))) = timeout(STEP, self.stdout.next_line()).await {
            rest.push_str(&line);
            rest.push('\n');
        }
        let status = timeout(STEP, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("python{} did not exit", self.python.version))
            .unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = timeout(STEP, pipe.read_to_string(&mut stderr)).await;
        }
        (status, rest, stderr)
    }

    /// Python failed with `ERROR <kind>: …`; returns the whole line.
    pub async fn expect_error(self, kind: &str) -> String {
        let version = self.python.version;
        let (status, out, err) = self.finish().await;
        let line = out
            .lines()
            .find(|l| l.starts_with("ERROR "))
            .unwrap_or_default()
            .to_owned();
        assert!(
            line.starts_with(&format!("ERROR {kind}:")),
            "python{version}: expected {kind}, got {out:?} (stderr {err:?})"
        );
        assert_eq!(status.code(), Some(3), "python{version}: {out:?} {err:?}");
        line
    }
}

/// Reads one raw frame (4-byte length; the tests never send the long form).
pub async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut len = [0; 4];
    timeout(STEP, stream.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut payload = vec![0; i32::from_be_bytes(len) as usize];
    timeout(STEP, stream.read_exact(&mut payload))
        .await
        .unwrap()
        .unwrap();
    payload
}

/// Writes one raw frame.
pub async fn write_frame<S: AsyncWrite + Unpin>(stream: &mut S, payload: &[u8]) {
    let mut message = (payload.len() as i32).to_be_bytes().to_vec();
    message.extend_from_slice(payload);
    stream.write_all(&message).await.unwrap();
}
