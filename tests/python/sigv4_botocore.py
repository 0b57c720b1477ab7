"""Signs requests with botocore's own SigV4 signer and sends them to the
test server of tests/sigv4_clients.rs; prints one JSON line per request:
what was signed and sent, and what came back. It judges nothing itself:
the expectations, and what the handler observed, are in the Rust test.

    SIGV4_KEY_ID=7 SIGV4_SECRET=<base64> python3 sigv4_botocore.py ADDR SERVICE

SERVICE `s3` signs with `S3SigV4Auth` (the wire path signed as it is, and
`X-Amz-Content-SHA256` sent); any other name with `SigV4Auth` (the path
normalised and encoded a second time, no payload header: the body's hash is
only in the canonical request). Each request is an `AWSRequest` for an
already-encoded URL, as botocore's serializers build them (botocore signs
the URL it is given, not the one that goes on the wire), signed by
`add_auth` and sent with `http.client`, its headers exactly as botocore
left them, plus an unsigned `X-Case` naming the case (added after signing,
like `User-Agent`; the server requires only `host` and `x-amz-*` signed).

Lines:
  {"kind": "env", "versions": ...}
  {"kind": "result", "case": ..., "status": ..., "code": ..., ...}
  {"kind": "done", "results": N}
  {"kind": "fatal", "message": ...}   botocore is missing (exit 2)
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import platform
import sys
import time
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

TIMEOUT = 60.0
MIB = 1024 * 1024
results = 0


def emit(record: Dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def fatal(message: str) -> None:
    emit({"kind": "fatal", "message": message})
    sys.exit(2)


try:
    import botocore
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.utils import percent_encode_sequence
except ImportError as error:
    fatal(f"{error}")


def recording(base: type) -> type:
    """`base` that keeps the last canonical request it built."""

    class Recording(base):  # type: ignore[misc, valid-type]
        last_canonical = ""

        def canonical_request(self, request: AWSRequest) -> str:
            text = super().canonical_request(request)
            self.last_canonical = text
            return text

    return Recording


class Client:
    def __init__(self, addr: str, service: str, key_id: str, secret: str) -> None:
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)
        self.addr = addr
        self.service = service
        self.key_id = key_id
        self.secret = secret
        self.signer = recording(S3SigV4Auth if service == "s3" else SigV4Auth)

    def sign(
        self,
        method: str,
        target: str,
        body: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None,
        secret: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Signs `method http://ADDR{target}` with `body`; returns what to send."""
        request = AWSRequest(
            method=method,
            url=f"http://{self.addr}{target}",
            data=body,
            headers=dict(headers or {}),
        )
        auth = self.signer(Credentials(self.key_id, secret or self.secret), self.service, "us-east-1")
        auth.add_auth(request)
        prepared = request.prepare()
        parts = urlsplit(prepared.url)
        wire_target = parts.path + (f"?{parts.query}" if parts.query else "")
        canonical = auth.last_canonical.split("\n")
        authorization = prepared.headers["Authorization"]
        signed = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0]
        return {
            "method": method,
            "target": wire_target,
            "headers": dict(prepared.headers.items()),
            "body": prepared.body if prepared.body is not None else b"",
            "signed_headers": signed,
            "canonical_uri": canonical[1],
            "canonical_query": canonical[2],
            "payload_hash": canonical[-1],
        }

    def send(
        self,
        case: str,
        signed: Dict[str, Any],
        body: Optional[bytes] = None,
        extra: Optional[Dict[str, str]] = None,
        **facts: Any,
    ) -> None:
        """Sends `signed` (with `body` instead of the signed one, and the
        `extra` headers added, when given) on a new connection; reports it."""
        global results
        body = signed["body"] if body is None else body
        if isinstance(body, str):
            body = body.encode()
        headers = dict(signed["headers"])
        headers.update(extra or {})
        headers["X-Case"] = case
        record: Dict[str, Any] = {
            "kind": "result",
            "case": case,
            "status": None,
            "code": None,
            "www_authenticate": None,
            "content_type": None,
            "body": "",
            "error": None,
            "method": signed["method"],
            "target": signed["target"],
            "sent_len": len(body),
            "sent_sha256": hashlib.sha256(body).hexdigest(),
            "signed_headers": signed["signed_headers"],
            "canonical_uri": signed["canonical_uri"],
            "canonical_query": signed["canonical_query"],
            "payload_hash": signed["payload_hash"],
            "content_sha256_header": next(
                (v for k, v in headers.items() if k.lower() == "x-amz-content-sha256"), None
            ),
            "facts": facts,
        }
        started = time.monotonic()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            # http.client adds Host (127.0.0.1:PORT, what botocore signed),
            # Accept-Encoding: identity and Content-Length.
            connection.request(signed["method"], signed["target"], body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            record["status"] = response.status
            record["www_authenticate"] = response.getheader("WWW-Authenticate")
            record["content_type"] = response.getheader("Content-Type")
            record["body"] = data.decode("utf-8", "replace")[:4000]
            if record["content_type"] == "application/problem+json":
                try:
                    record["code"] = json.loads(data).get("code")
                except ValueError:
                    pass
        except Exception as error:  # reported, judged by the Rust test
            record["error"] = f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        record["seconds"] = round(time.monotonic() - started, 3)
        results += 1
        emit(record)


def main() -> None:
    if len(sys.argv) != 3:
        fatal("usage: sigv4_botocore.py ADDR SERVICE")
    addr, service = sys.argv[1], sys.argv[2]
    key_id = os.environ.get("SIGV4_KEY_ID", "")
    secret = os.environ.get("SIGV4_SECRET", "")
    if not key_id or not secret:
        fatal("SIGV4_KEY_ID and SIGV4_SECRET must be set")
    emit(
        {
            "kind": "env",
            "versions": f"botocore {botocore.__version__}, Python {platform.python_version()}",
        }
    )
    client = Client(addr, service, key_id, secret)

    # Dot segments, an encoded space and an encoded slash: SigV4Auth signs
    # `/c%252Fd/e`, S3SigV4Auth the path as it is.
    path = "/a%20b/../c%2Fd/./e"
    client.send("get-path", client.sign("GET", path))

    # Where botocore and aws-sigv4 read the rules differently: a path that
    # ends in a dot segment (botocore drops the slash RFC 3986 keeps) and a
    # tab inside a header value (botocore folds it like a space).
    client.send("get-dot-end", client.sign("GET", "/x/a/b/.."))
    client.send("get-tab", client.sign("GET", "/t", headers={"X-Amz-Meta-Tab": "a\tb"}))

    # A query as botocore's serializers encode it (`percent_encode_sequence`,
    # in this order: not sorted), with a space, `+`, `=`, `/`, `~`, unicode in
    # a name and a value, an empty value and a repeated name.
    query = percent_encode_sequence(
        [
            ("q", "a b"),
            ("plus", "1+2"),
            ("eq", "x=y"),
            ("slash", "p/q~r"),
            ("u", "\u00fc"),
            ("\u2713", "check"),
            ("empty", ""),
            ("r", ["2", "1", "10"]),
        ]
    )
    client.send("get-query", client.sign("GET", f"/query?{query}"), query=query)

    json_body = json.dumps({"hello": "world", "n": [1, 2, 3]}).encode()
    client.send(
        "post-json",
        client.sign("POST", "/json", json_body, {"Content-Type": "application/json"}),
    )

    big = bytes(range(256)) * (5 * MIB // 256)
    client.send("post-5mib", client.sign("POST", "/big", big))

    client.send("put-empty", client.sign("PUT", "/empty", b""))

    client.send(
        "extra-headers",
        client.sign(
            "POST",
            "/extra",
            b'{"op": 1}',
            {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "MyService_20261201.DoThing",
                "X-Amz-Meta-Foo": "  a   b  ",
            },
        ),
    )

    # Changed after signing: the body (same length), then an x-amz-* header.
    signed = client.sign("POST", "/tamper-body", b'{"amount": 100}')
    client.send("tamper-body", signed, body=b'{"amount": 999}')
    signed = client.sign("POST", "/tamper-header", b'{"amount": 100}')
    client.send("tamper-header", signed, extra={"X-Amz-Meta-Late": "added after signing"})

    # Another secret for the same access key id: bodiless, and with a body.
    wrong = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="
    client.send("wrong-secret", client.sign("GET", "/wrong-secret", secret=wrong))
    client.send(
        "wrong-secret-post",
        client.sign("POST", "/wrong-secret-post", b"some body", secret=wrong),
    )

    # The same signed request twice, on two connections: bodiless, and with a body.
    signed = client.sign("GET", "/replay")
    client.send("replay-first", signed)
    client.send("replay-second", signed)
    signed = client.sign("POST", "/replay-post", b"a body to replay")
    client.send("replay-post-first", signed)
    client.send("replay-post-second", signed)

    emit({"kind": "done", "results": results})


if __name__ == "__main__":
    main()
