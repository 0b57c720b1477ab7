"""Runs the Python client (clients/python) with requests and httpx against a
tower-hmac test server and prints one JSON line per request: what was sent
and what came back. It judges nothing itself: tests/clients.rs starts the
server, runs this, holds the expectations and checks what the server's
handlers observed.

    TOWER_HMAC_KEY_ID=7 TOWER_HMAC_SECRET=<base64> python3 client_e2e.py 127.0.0.1:3000 TMPDIR

TOWER_HMAC_ALGORITHM=BLAKE3-KEYED signs every request with the keyed BLAKE3
variant (PROTOCOL §9) instead of HMAC-SHA256.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from typing import Any, Callable, Dict, Iterator, List

ALGORITHM = os.environ.get("TOWER_HMAC_ALGORITHM", "HMAC-SHA256")
UPLOAD = 64 * 1024 * 1024
CHUNK = 64 * 1024
TIMEOUT = 120.0
results = 0


def emit(record: Dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def fatal(message: str) -> None:
    emit({"kind": "fatal", "message": message})
    sys.exit(2)


try:
    import httpx
    import requests

    from tower_hmac_client import Signer, SignerConfigError
    from tower_hmac_client.httpx import HmacAuth as HttpxAuth
    from tower_hmac_client.requests import HmacAuth as RequestsAuth
except ImportError as error:
    fatal(f"{error}")


def result(case: str, run: Callable[[], Any], **sent: Any) -> Dict[str, Any]:
    """Runs one request; returns its record (emitted by the caller)."""
    record: Dict[str, Any] = {"kind": "result", "case": case, "status": 0, "code": None, "body": "", "error": None}
    record.update(sent)
    started = time.monotonic()
    try:
        response = run()
        record["status"] = response.status_code
        record["body"] = response.text[:1 << 20]
        if response.headers.get("content-type") == "application/problem+json":
            record["code"] = response.json().get("code")
    except Exception as error:  # reported, judged by the Rust side
        record["error"] = f"{type(error).__name__}: {error}"
    record["seconds"] = round(time.monotonic() - started, 3)
    return record


def done(record: Dict[str, Any]) -> None:
    global results
    results += 1
    emit(record)


def file_pieces(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while True:
            piece = f.read(CHUNK)
            if not piece:
                return
            yield piece


def main() -> None:
    if len(sys.argv) != 3:
        fatal("usage: client_e2e.py HOST:PORT TMPDIR")
    base = f"http://{sys.argv[1]}"
    try:
        signer = Signer.from_env(algorithm=ALGORITHM)
    except SignerConfigError as error:
        fatal(str(error))
    emit(
        {
            "kind": "env",
            "versions": f"python {platform.python_version()}, requests {requests.__version__}, httpx {httpx.__version__}",
        }
    )

    path = os.path.join(sys.argv[2], f"tower-hmac-py-e2e-{os.getpid()}.bin")
    with open(path, "wb") as f:
        for _ in range(UPLOAD // (1 << 20)):
            f.write(os.urandom(1 << 20))
    try:
        run_cases(base, signer, path)
    finally:
        os.remove(path)
    emit({"kind": "done", "results": results})


def run_cases(base: str, signer: "Signer", path: str) -> None:
    targets: List[bytes] = []

    def remember(signed: Any) -> None:
        path_line, query_line = signed.string_to_sign.split(b"\n")[5:7]
        targets.append(path_line + (b"?" + query_line if query_line else b""))

    explained = Signer.from_env(explain=remember, algorithm=ALGORITHM)
    session = requests.Session()
    auth = RequestsAuth(signer)
    raw_target = "/any/a%2fb/%7E?q=%c3%a9&flag"

    # requests
    done(result("requests:get", lambda: session.get(base + "/hello", auth=auth, timeout=TIMEOUT)))
    body = {"item": "widget", "qty": 3}
    done(
        result(
            "requests:echo",
            lambda: session.post(base + "/echo", json=body, auth=auth, timeout=TIMEOUT),
            sent=json.dumps(body),
        )
    )
    targets.clear()
    record = result(
        "requests:raw-target",
        lambda: session.post(base + raw_target, data=b"x", auth=RequestsAuth(explained), timeout=TIMEOUT),
    )
    record["signed_target"] = targets[0].decode() if len(targets) == 1 else None
    done(record)
    with open(path, "rb") as f:
        done(
            result(
                "requests:upload-file",
                lambda: session.post(base + "/upload", data=f, auth=auth, timeout=TIMEOUT),
                sent_len=UPLOAD,
            )
        )
    done(
        result(
            "requests:upload-chunks",
            lambda: session.post(base + "/upload", data=file_pieces(path), auth=auth, timeout=TIMEOUT),
            sent_len=UPLOAD,
        )
    )

    # Tampering: signed with the core signer, changed, then sent without auth.
    headers = signer.sign("POST", base + "/upload", {}, b"a" * 1000)
    done(
        result(
            "requests:tamper-body",
            lambda: session.post(base + "/upload", data=b"b" * 1000, headers=headers, timeout=TIMEOUT),
            sent_len=1000,
        )
    )
    headers = signer.sign("GET", base + "/hello?n=1", {})
    done(result("requests:tamper-target", lambda: session.get(base + "/hello?n=2", headers=headers, timeout=TIMEOUT)))
    wrong = Signer(signer.key_id, b"not the secret the server holds!", algorithm=ALGORITHM)
    done(
        result(
            "requests:wrong-secret",
            lambda: session.get(base + "/hello", auth=RequestsAuth(wrong), timeout=TIMEOUT),
        )
    )
    headers = signer.sign("GET", base + "/hello", {})
    done(result("requests:replay-first", lambda: session.get(base + "/hello", headers=headers, timeout=TIMEOUT)))
    done(result("requests:replay-second", lambda: session.get(base + "/hello", headers=headers, timeout=TIMEOUT)))
    session.close()

    # httpx, synchronous
    with httpx.Client(base_url=base, auth=HttpxAuth(signer), timeout=TIMEOUT) as client:
        done(result("httpx:get", lambda: client.get("/hello")))
        done(result("httpx:echo", lambda: client.post("/echo", content=b"httpx, in memory"), sent="httpx, in memory"))
        targets.clear()
        record = result("httpx:raw-target", lambda: client.post(raw_target, content=b"x", auth=HttpxAuth(explained)))
        record["signed_target"] = targets[0].decode() if len(targets) == 1 else None
        done(record)
        with open(path, "rb") as f:
            done(result("httpx:upload-file", lambda: client.post("/upload", content=f), sent_len=UPLOAD))
        done(result("httpx:upload-chunks", lambda: client.post("/upload", content=file_pieces(path)), sent_len=UPLOAD))

        # A chunk changed after signing, and a body cut before its last chunk.
        pieces = [os.urandom(CHUNK) for _ in range(8)]
        signed = signer.prepare("POST", base + "/upload", {"Host": client.base_url.netloc.decode()}, chunked=True)
        framed = list(signed.frame(pieces))
        broken = bytearray(framed[2])
        broken[broken.index(b"\r\n") + 2 + 100] ^= 1
        framed[2] = bytes(broken)
        headers = dict(signed.headers)
        done(
            result(
                "httpx:tamper-chunk",
                lambda: client.post("/upload", content=iter(framed), headers=headers, auth=None),
                sent_len=8 * CHUNK,
                tampered_chunk=2,
                chunk_size=CHUNK,
            )
        )
        signed = signer.prepare("POST", base + "/upload", {"Host": client.base_url.netloc.decode()}, chunked=True)
        framed = list(signed.frame(pieces[:4]))[:4]
        done(
            result(
                "httpx:truncated-chunks",
                lambda: client.post("/upload", content=iter(framed), headers=dict(signed.headers), auth=None),
                sent_len=4 * CHUNK,
                chunk_size=CHUNK,
            )
        )

    # httpx, asynchronous
    async def run_async() -> List[Dict[str, Any]]:
        async def pieces() -> Any:
            for piece in file_pieces(path):
                yield piece

        records = []
        async with httpx.AsyncClient(base_url=base, auth=HttpxAuth(signer), timeout=TIMEOUT) as client:
            for case, make, sent in [
                ("httpx-async:get", lambda: client.get("/hello"), {}),
                ("httpx-async:echo", lambda: client.post("/echo", content=b"async"), {"sent": "async"}),
                ("httpx-async:upload-chunks", lambda: client.post("/upload", content=pieces()), {"sent_len": UPLOAD}),
            ]:
                started = time.monotonic()
                record = {"kind": "result", "case": case, "status": 0, "code": None, "body": "", "error": None, **sent}
                try:
                    response = await make()
                    record["status"] = response.status_code
                    record["body"] = response.text
                    if response.headers.get("content-type") == "application/problem+json":
                        record["code"] = response.json().get("code")
                except Exception as error:
                    record["error"] = f"{type(error).__name__}: {error}"
                record["seconds"] = round(time.monotonic() - started, 3)
                records.append(record)
        return records

    for record in asyncio.run(run_async()):
        done(record)


if __name__ == "__main__":
    main()
