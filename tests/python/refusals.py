"""Real HTTP clients against a tower-hmac server, for tests/real_clients.rs.

usage: refusals.py HOST:PORT CLIENT [--attempts N] [--above-bound-mib M] [--budget S]

CLIENT is one of:

  http.client  Python's http.client.HTTPConnection, one connection reused
  requests     requests.Session (urllib3's pool)
  httpx-h1     httpx.Client over HTTP/1.1
  httpx-h2     httpx.Client(http1=False, http2=True): h2c with prior knowledge
  curl-expect  curl over HTTP/1.1 sending `Expect: 100-continue`
  curl-h1      curl over HTTP/1.1 without `Expect` (`-H 'Expect:'`)
  curl-h2c     curl --http2-prior-knowledge

The key id and secret (standard base64) come from the environment:
TOWER_HMAC_KEY_ID and TOWER_HMAC_SECRET_B64.

For every case and body size it sends, ATTEMPTS times, a request (one the
server must refuse before its handler reads the body, or for the `accepted`
control row a genuine upload), then on the same pooled client (for curl: in
the same invocation, after `--next`) a genuinely signed request that must
succeed: `POST /echo` with a small body, answered 200 with that body. Above
the server's drain bound (--above-bound-mib, 64 MiB by default) each refusal
is sent once; there it may also be a clean close, but it must end within
the timeout, and the follow-up must still succeed.

Every request ends within REQUEST_TIMEOUT (ABOVE_BOUND_TIMEOUT above the
bound; both are reported per attempt as `limit`). A cell whose attempt timed out
runs no further attempts, and once --budget seconds are spent nothing more is
sent: what was not run is still reported, as failed (so a hanging server
gives a complete table in bounded time).

Output: JSON lines on stdout.

  {"kind": "env", ...}            the client, its version, the sizes
  {"kind": "result", ...}         one per attempt (see `result()` below)
  {"kind": "done", "results": N}  the last line, when everything ran
  {"kind": "fatal", "message": M} a client is missing (exit 2)

Signing follows docs/PROTOCOL.md, reusing the header-value, signature and
Authorization helpers of tests/vectors/generate.py (an implementation that
shares no code with the crate). Every request also carries an RFC 9530
`Content-Digest: sha-256=:<base64>:`; the string-to-sign is unchanged.
"""

import argparse
import base64
import faulthandler
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "vectors"))
import generate  # noqa: E402  (the independent signer of the test vectors)

MIB = 1024 * 1024
# The body sizes whose refusal must reach the client every time: none, one
# over curl's 1 MiB `Expect` threshold, and the server's drain bound itself.
BOUNDED_SIZES = [0, 3 * MIB // 2, 8 * MIB]
# Every request, and every curl transfer, ends within this many seconds
# (loopback moves 8 MiB in well under one).
REQUEST_TIMEOUT = 20
# Above the bound: the refusal, or the close, comes after at most 8 MiB.
ABOVE_BOUND_TIMEOUT = 10
CONTENT_TYPE = "application/octet-stream"

# (case, route, status, code, sizes). `accepted` is the control row: a
# genuine upload, answered 200 with {"bytes": size}. The others are the early
# refusals, each a request the server can refuse before the handler reads
# its body (`body_too_large`: genuinely signed, over /echo's 64 KiB limit).
CASES = [
    ("accepted", "/upload", 200, None, BOUNDED_SIZES),
    ("missing_authorization", "/upload", 401, "missing_authorization", BOUNDED_SIZES),
    ("malformed_authorization", "/upload", 401, "malformed_authorization", BOUNDED_SIZES),
    ("stale_request", "/upload", 401, "stale_request", BOUNDED_SIZES),
    ("unsigned_header", "/upload", 401, "unsigned_header", BOUNDED_SIZES),
    ("unknown_key", "/upload", 401, "invalid_signature", BOUNDED_SIZES),
    ("bad_signature", "/upload", 401, "invalid_signature", BOUNDED_SIZES),
    ("body_too_large", "/echo", 413, "body_too_large", BOUNDED_SIZES[1:]),
]

CLIENTS = ["http.client", "requests", "httpx-h1", "httpx-h2", "curl-expect", "curl-h1", "curl-h2c"]


def emit(**record):
    print(json.dumps(record, sort_keys=True), flush=True)


def fatal(message):
    emit(kind="fatal", message=message)
    sys.exit(2)


# --- signing ---------------------------------------------------------------


class Signer:
    def __init__(self, authority, key_id, secret):
        self.authority = authority
        self.key_id = key_id
        self.secret = secret

    def headers(self, method, target, digest, case="accepted"):
        """The headers to send for one request of `case` with a body of
        SHA-256 `digest` (raw bytes): Content-Type, Content-Digest and (but
        for missing_authorization) Authorization."""
        headers = [
            ("Content-Type", CONTENT_TYPE),
            ("Content-Digest", "sha-256=:%s:" % base64.b64encode(digest).decode("ascii")),
        ]
        if case == "missing_authorization":
            return headers
        now = int(time.time())
        nonce = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")
        if case == "malformed_authorization":
            # Time, Nonce, SignedHeaders and Signature missing.
            return headers + [("Authorization", "HMAC-SHA256 Key=%s" % self.key_id)]
        key_id, secret, signed, when = self.key_id, self.secret, "content-type;host", now
        if case == "stale_request":
            when = now - 3600
        elif case == "unsigned_header":
            signed = "content-type"  # the server requires host
        elif case == "unknown_key":
            key_id = "no-such-key"
        elif case == "bad_signature":
            secret = hashlib.sha256(b"not the secret" + secret).digest()
        else:
            assert case in ("accepted", "body_too_large"), case
        signing = [("Host", self.authority)] + headers
        text = self.string_to_sign(key_id, when, nonce, method, target, signing, signed, digest)
        sig = generate.signature(secret, text)
        return headers + [("Authorization", generate.authorization(key_id, when, nonce, signed, sig))]

    @staticmethod
    def string_to_sign(key_id, when, nonce, method, target, headers, signed, digest):
        """docs/PROTOCOL.md section 4, from the body's digest (which
        generate.string_to_sign would compute from the body itself)."""
        authority, path, query = generate.split_target(target)
        lines = [generate.SCHEME, key_id, str(when), nonce, method, path, query, signed]
        for name in signed.split(";"):
            lines.append(name + ":" + generate.header_value(headers, name, authority))
        lines.append(digest.hex())
        return "\n".join(lines)


def self_test():
    """The signer against the worked example of docs/PROTOCOL.md section 5."""
    secret = bytes(range(32))
    body = b'{"item":"widget","qty":3}'
    headers = [("Host", "api.example.com"), ("Content-Type", "application/json")]
    text = Signer.string_to_sign(
        "client-1", 1700000060, "EBESExQVFhcYGRobHB0eHw", "POST", "/v1/orders",
        headers, "content-type;host", hashlib.sha256(body).digest(),
    )
    assert generate.signature(secret, text) == "aiAZdynPQDU5JeNgNxlpviv7+asj2ewosxUUwUXqKmY=", text


# --- replies ---------------------------------------------------------------


class Reply:
    def __init__(self, status=None, headers=None, body=b"", error=None):
        self.status = status
        # Lowercase names; the last value wins (enough for what is looked at).
        self.headers = {k.lower(): v for k, v in (headers or [])}
        self.body = body
        self.error = error
        self.timeout = False
        self.elapsed = None  # seconds
        self.new_connection = None  # None: the client does not tell
        self.http_version = None

    @staticmethod
    def failed(exc):
        """An exception as `Type: message (from RootCauseType)`."""
        message = str(exc)[:160]
        if message.isdigit():  # h2's stream errors say only the stream id
            message = "(a stream error)"
        error = "%s: %s" % (type(exc).__name__, message)
        chain, cause = [exc], exc
        while (cause.__cause__ or cause.__context__) is not None and len(chain) < 10:
            cause = cause.__cause__ or cause.__context__
            chain.append(cause)
        if cause is not exc and type(cause).__name__ != type(exc).__name__:
            error += " (from %s.%s)" % (type(cause).__module__.split(".")[0], type(cause).__name__)
        reply = Reply(error=error)
        reply.timeout = any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in chain)
        return reply

    def code(self):
        try:
            return json.loads(self.body).get("code")
        except Exception:
            return None

    def says_close(self):
        if self.status is None:
            return None
        return "close" in self.headers.get("connection", "").lower()


def timed(send):
    start = time.monotonic()
    reply = send()
    reply.elapsed = time.monotonic() - start
    return reply


# --- the Python clients ----------------------------------------------------


class HttpClient:
    """http.client.HTTPConnection, reused. It honours `Connection: close`
    (the socket is closed and the next request opens a new one) and, like any
    pool, drops the connection after an error; it never retries, so a
    keep-alive connection the server closed without saying so fails the next
    request."""

    def __init__(self, host, port):
        import http.client

        self.conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)

    def send(self, path, headers, body, timeout):
        new = self.conn.sock is None
        try:
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            self.conn.request("POST", path, body=body, headers=dict(headers))
            response = self.conn.getresponse()
            reply = Reply(response.status, response.getheaders(), response.read())
        except Exception as exc:
            self.conn.close()
            reply = Reply.failed(exc)
        reply.new_connection = new
        return reply


class RequestsClient:
    def __init__(self, host, port):
        import requests

        self.session = requests.Session()
        self.base = "http://%s:%d" % (host, port)

    def connections(self):
        """Connections urllib3 has opened so far (over all its pools)."""
        pools = self.session.get_adapter(self.base).poolmanager.pools
        return sum(pools[key].num_connections for key in pools.keys())

    def send(self, path, headers, body, timeout):
        before = self.connections()
        try:
            r = self.session.post(self.base + path, data=body, headers=dict(headers), timeout=timeout)
            reply = Reply(r.status_code, r.headers.items(), r.content)
        except Exception as exc:
            reply = Reply.failed(exc)
        reply.new_connection = self.connections() > before
        return reply


class HttpxClient:
    """httpx.Client. Over HTTP/2 the body goes as 1 MiB pieces with its
    Content-Length: given one `bytes`, httpcore slices the rest of it anew
    for every 16 KiB DATA frame, which takes a minute for 64 MiB."""

    def __init__(self, host, port, http2):
        import httpx

        self.want = "HTTP/2" if http2 else "HTTP/1.1"
        self.http2 = http2
        self.client = httpx.Client(http1=not http2, http2=http2, timeout=REQUEST_TIMEOUT)
        self.base = "http://%s:%d" % (host, port)

    def send(self, path, headers, body, timeout):
        if self.http2:
            view = memoryview(body)
            headers = headers + [("Content-Length", str(len(body)))]
            body = (bytes(view[i : i + MIB]) for i in range(0, len(body), MIB))
        try:
            r = self.client.post(self.base + path, content=body, headers=headers, timeout=timeout)
            if r.http_version != self.want:
                return Reply(error="answered over %s" % r.http_version)
            return Reply(r.status_code, r.headers.multi_items(), r.content)
        except Exception as exc:
            return Reply.failed(exc)


def python_exchange(client, signer, route, case, body, digest, followup, limit):
    refusal = timed(lambda: client.send(route, signer.headers("POST", route, digest, case), body, limit))
    fdigest = hashlib.sha256(followup).digest()
    after = timed(lambda: client.send("/echo", signer.headers("POST", "/echo", fdigest), followup, REQUEST_TIMEOUT))
    return refusal, after


# --- curl --------------------------------------------------------------------


class Curl:
    """One curl invocation per attempt: the request, `--next`, the follow-up,
    on curl's connection cache."""

    def __init__(self, host, port, kind, workdir):
        self.base = "http://%s:%d" % (host, port)
        self.kind = kind
        self.workdir = workdir

    def flags(self, followup):
        if self.kind == "curl-h2c":
            # curl 7.88 (Debian 12's) fails to reuse a connection for a second
            # `--http2-prior-knowledge` transfer ("Error in the HTTP2 framing
            # layer", curl issue #10634, fixed in 8.0); `--http2` reuses the
            # open h2c connection (and would have to connect anew, over
            # HTTP/1.1, if the server had closed it).
            return ["--http2"] if followup else ["--http2-prior-knowledge"]
        if self.kind == "curl-expect":
            return ["--http1.1", "-H", "Expect: 100-continue"]
        return ["--http1.1", "-H", "Expect:"]

    def transfer(self, n, path, headers, data_arg, limit):
        args = ["-sS", "--max-time", str(limit)] + self.flags(followup=n == 1)
        for name, value in headers:
            args += ["-H", "%s: %s" % (name, value)]
        args += [
            "--data-binary", data_arg,
            "-o", os.path.join(self.workdir, "body%d" % n),
            "-D", os.path.join(self.workdir, "head%d" % n),
            "-w", "%{json}\\n",
            self.base + path,
        ]
        return args

    def read(self, name):
        try:
            with open(os.path.join(self.workdir, name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def reply(self, n, stats):
        if stats is None:
            return Reply(error="curl reported no transfer")
        if stats.get("exitcode", 0) != 0 or not stats.get("http_code"):
            reply = Reply(error="curl exit %s: %s" % (stats.get("exitcode"), stats.get("errormsg")))
            reply.timeout = stats.get("exitcode") == 28
        else:
            # The last header block is the final answer (after any 100 Continue).
            head = self.read("head%d" % n).decode("latin-1").replace("\r\n", "\n").strip("\n")
            lines = head.split("\n\n")[-1].split("\n")
            headers = [tuple(p.strip() for p in line.split(":", 1)) for line in lines[1:] if ":" in line]
            reply = Reply(stats["http_code"], headers, self.read("body%d" % n))
        reply.elapsed = stats.get("time_total")
        reply.new_connection = stats.get("num_connects", 0) > 0
        reply.http_version = stats.get("http_version")
        return reply

    def exchange(self, signer, route, case, body_file, digest, followup, limit):
        for name in ("body0", "head0", "body1", "head1"):
            try:
                os.remove(os.path.join(self.workdir, name))
            except FileNotFoundError:
                pass
        fdigest = hashlib.sha256(followup).digest()
        args = ["curl"] + self.transfer(0, route, signer.headers("POST", route, digest, case), "@" + body_file, limit)
        args += ["--next"] + self.transfer(
            1, "/echo", signer.headers("POST", "/echo", fdigest), followup.decode("ascii"), REQUEST_TIMEOUT
        )
        try:
            run = subprocess.run(args, capture_output=True, timeout=limit + REQUEST_TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            hung = Reply(error="curl did not exit within its timeout")
            hung.timeout = True
            return hung, Reply(error="not sent")
        stats = []
        for line in run.stdout.decode("utf-8", "replace").splitlines():
            try:
                stats.append(json.loads(line))
            except ValueError:
                pass
        stats += [None] * (2 - len(stats))
        return self.reply(0, stats[0]), self.reply(1, stats[1])


# --- the matrix --------------------------------------------------------------


def pattern(size):
    block = hashlib.sha256(b"tower-hmac real clients").digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def result(case, size, attempt, bounded, limit, status, code, refusal, after, followup):
    if code is None:  # the control row: a genuine upload
        try:
            answered = json.loads(refusal.body) == {"bytes": size}
        except ValueError:
            answered = False
    else:
        answered = refusal.code() == code and refusal.headers.get("content-type", "").startswith(
            "application/problem+json"
        )
    ok = refusal.error is None and refusal.status == status and answered
    followup_ok = after.error is None and after.status == 200 and after.body == followup
    emit(
        kind="result",
        case=case,
        size=size,
        attempt=attempt,
        bounded=bounded,
        limit=limit,
        expected_status=status,
        expected_code=code,
        ok=ok,
        status=refusal.status,
        code=refusal.code(),
        error=refusal.error,
        timed_out=refusal.timeout,
        said_close=refusal.says_close(),
        elapsed=None if refusal.elapsed is None else round(refusal.elapsed, 3),
        followup_ok=followup_ok,
        followup_status=after.status,
        followup_error=after.error or (None if followup_ok else "body %r" % after.body[:80]),
        followup_new_connection=after.new_connection,
        followup_http_version=after.http_version,
    )


def not_run(why):
    reply = Reply(error="not run: " + why)
    return reply, Reply(error="not run")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("addr")
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("--attempts", type=int, default=10)
    parser.add_argument("--above-bound-mib", type=int, default=64)
    parser.add_argument("--budget", type=float, default=150, help="seconds; then nothing more is sent")
    args = parser.parse_args()
    host, port = args.addr.rsplit(":", 1)
    port = int(port)
    deadline = time.monotonic() + args.budget

    self_test()
    signer = Signer(
        args.addr,
        os.environ["TOWER_HMAC_KEY_ID"],
        base64.b64decode(os.environ["TOWER_HMAC_SECRET_B64"], validate=True),
    )

    versions = {"python": sys.version.split()[0]}
    workdir = tempfile.mkdtemp(prefix="tower-hmac-clients-")
    try:
        if args.client.startswith("curl"):
            if shutil.which("curl") is None:
                fatal("curl not found: install it (Debian: apt-get install -y curl)")
            info = subprocess.run(["curl", "--version"], capture_output=True, timeout=10).stdout.decode()
            versions["curl"] = info.split()[1]
            if args.client == "curl-h2c" and "HTTP2" not in info.split("Features:")[-1]:
                fatal("this curl has no HTTP/2 support (Debian's curl has it): " + info.splitlines()[0])
            client = Curl(host, port, args.client, workdir)
        else:
            module = {"http.client": "http.client", "requests": "requests"}.get(args.client, "httpx")
            try:
                mod = __import__(module)
                versions[module] = getattr(mod, "__version__", "stdlib")
                if args.client == "httpx-h2":
                    import h2

                    versions["h2"] = h2.__version__
            except ImportError as exc:
                fatal(
                    "Python package missing for %s (%s): pip install requests==2.34.2 'httpx[http2]==0.28.1'"
                    % (args.client, exc)
                )
            if args.client == "http.client":
                client = HttpClient(host, port)
            elif args.client == "requests":
                client = RequestsClient(host, port)
            else:
                client = HttpxClient(host, port, http2=args.client == "httpx-h2")

        above = args.above_bound_mib * MIB
        emit(
            kind="env",
            client=args.client,
            versions=versions,
            bounded_sizes=BOUNDED_SIZES,
            above_bound=above,
        )

        count = 0
        body_file = os.path.join(workdir, "request-body")
        for size, bounded in [(s, True) for s in BOUNDED_SIZES] + [(above, False)]:
            limit = REQUEST_TIMEOUT if bounded else ABOVE_BOUND_TIMEOUT
            body = pattern(size)
            digest = hashlib.sha256(body).digest()
            if isinstance(client, Curl):
                with open(body_file, "wb") as f:
                    f.write(body)
            for case, route, status, code, sizes in CASES:
                if size not in sizes and (bounded or case == "accepted"):
                    continue
                hung = False
                for attempt in range(args.attempts if bounded else 1):
                    followup = ("follow-up after %s, %d bytes, attempt %d" % (case, size, attempt)).encode()
                    if hung:
                        refusal, after = not_run("an earlier attempt in this cell timed out")
                    elif time.monotonic() > deadline:
                        refusal, after = not_run("the run's %g s budget was spent" % args.budget)
                    elif isinstance(client, Curl):
                        refusal, after = client.exchange(signer, route, case, body_file, digest, followup, limit)
                    else:
                        refusal, after = python_exchange(client, signer, route, case, body, digest, followup, limit)
                    hung = hung or refusal.timeout or after.timeout
                    result(case, size, attempt, bounded, limit, status, code, refusal, after, followup)
                    count += 1
            del body
        emit(kind="done", results=count)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    # Never outlive a stuck run: dump the stacks and exit.
    faulthandler.dump_traceback_later(300, exit=True)
    main()
