"""Test helpers: the shared vectors, optional extras, and a loopback server
that records requests exactly as they arrive, with a small verifier that
rebuilds the string-to-sign from what was received (PROTOCOL §4, §4.6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import threading
import unittest
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

SECRET = bytes(range(32))
SECRET_B64 = base64.b64encode(SECRET).decode()
KEY_ID = "client-1"

#: Set by the crate's tests/clients.rs: a missing extra is then a failure, not a skip.
REQUIRE_EXTRAS = os.environ.get("TOWER_HMAC_REQUIRE_EXTRAS") == "1"


def vectors_dir() -> Path:
    configured = os.environ.get("TOWER_HMAC_VECTORS_DIR")
    path = Path(configured) if configured else Path(__file__).resolve().parents[3] / "tests" / "vectors"
    if not (path / "vectors.json").is_file():
        raise AssertionError(
            f"the shared test vectors are not at {path}; run from the tower-hmac "
            "repository or set TOWER_HMAC_VECTORS_DIR"
        )
    return path


def load_vectors(name: str) -> List[Dict[str, Any]]:
    with open(vectors_dir() / name, encoding="utf-8") as f:
        vectors = json.load(f)
    assert isinstance(vectors, list) and vectors, f"{name}: no vectors"
    return vectors


def optional(module: str) -> Any:
    """Imports an optional extra; skips the test module without it, unless
    the extras are required (then the import error stands)."""
    try:
        return __import__(module)
    except ImportError:
        if REQUIRE_EXTRAS:
            raise
        raise unittest.SkipTest(f"{module} is not installed (extra [{module}])") from None


class Received:
    def __init__(self, method: str, target: str, headers: List[Tuple[str, str]], body: bytes, te_chunked: bool):
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body  # after transfer decoding
        self.te_chunked = te_chunked

    def get(self, name: str) -> List[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


class CaptureServer:
    """An HTTP/1.1 server on 127.0.0.1:0 that records each request and answers 200."""

    def __init__(self) -> None:
        received: List[Received] = []
        self.received = received

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                headers = list(self.headers.items())
                te = self.headers.get("Transfer-Encoding", "")
                if te.lower() == "chunked":
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        body += self.rfile.read(size)
                        self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(Received(self.command, self.path, headers, body, te.lower() == "chunked"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "CaptureServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


_AUTH = re.compile(
    r"HMAC-SHA256 Key=([A-Za-z0-9._~-]{1,64}), Time=(0|[1-9][0-9]*), Nonce=([A-Za-z0-9_-]{16,64}), "
    r"SignedHeaders=([a-z0-9!#$%&'*+.^_`|~;-]+), Signature=([A-Za-z0-9+/]{43}=)\Z"
)


def _mac(secret: bytes, data: bytes) -> str:
    return base64.b64encode(hmac.new(secret, data, hashlib.sha256).digest()).decode()


def unframe(secret: bytes, seed: str, wire: bytes) -> bytes:
    """Checks a body of signed chunks (§4.6) and returns its data; raises
    AssertionError on any framing or signature fault."""
    data = b""
    previous = seed
    rest = wire
    while True:
        head, sep, rest = rest.partition(b"\r\n")
        assert sep, "chunk header without CRLF"
        m = re.fullmatch(rb"(0|[1-9a-f][0-9a-f]{0,15});sig=([A-Za-z0-9+/]{43}=)", head)
        assert m, f"bad chunk header {head[:80]!r}"
        size = int(m.group(1), 16)
        chunk, rest = rest[:size], rest[size:]
        assert len(chunk) == size, "chunk cut short"
        assert rest[:2] == b"\r\n", "chunk data not followed by CRLF"
        rest = rest[2:]
        expected = _mac(
            secret, b"HMAC-SHA256-CHUNK\n" + previous.encode() + b"\n" + hashlib.sha256(chunk).hexdigest().encode()
        )
        assert m.group(2).decode() == expected, f"chunk signature {m.group(2)!r} does not chain"
        previous = expected
        if size == 0:
            assert rest == b"", "data after the last chunk"
            return data
        data += chunk


def verify(received: Received, secret: bytes = SECRET, key_id: Optional[str] = None) -> bytes:
    """Rebuilds the string-to-sign from the request as received, checks its
    Authorization (and Content-Digest or chunks); returns the body's data."""
    auths = received.get("Authorization")
    assert len(auths) == 1, f"{len(auths)} Authorization headers"
    m = _AUTH.match(auths[0])
    assert m, f"not the canonical Authorization form: {auths[0]!r}"
    key, time_, nonce, signed_headers, signature = m.groups()
    if key_id is not None:
        assert key == key_id
    names = signed_headers.split(";")
    assert names == sorted(set(names)) and "host" in names, signed_headers
    path, _, query = received.target.partition("?")
    lines = ["HMAC-SHA256", key, time_, nonce, received.method, path or "/", query, signed_headers]
    for name in names:
        lines.append(name + ":" + ",".join(v.strip(" \t") for v in received.get(name)))
    chunked = received.get("X-HMAC-Body") == ["chunks"]
    if chunked:
        assert not received.get("Content-Digest"), "Content-Digest with signed chunks"
        lines.append("STREAMING-HMAC-SHA256-CHUNKS")
    else:
        digest = hashlib.sha256(received.body).digest()
        assert received.get("Content-Digest") == [f"sha-256=:{base64.b64encode(digest).decode()}:"], (
            received.get("Content-Digest"),
            "does not declare the received body's digest",
        )
        lines.append(digest.hex())
    expected = _mac(secret, "\n".join(lines).encode("latin-1"))
    assert signature == expected, "signature does not match the request as received:\n" + "\n".join(lines)
    return unframe(secret, signature, received.body) if chunked else received.body
