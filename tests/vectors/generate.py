#!/usr/bin/env python3
"""Generate the HMAC-SHA256 (version 1) test vectors in vectors.json.

This is a second, independent implementation of the signing side of the
protocol, written from docs/PROTOCOL.md only (it shares no code with the Rust
crate). If the Rust implementation and this script ever disagree about a
vector, one of them does not follow the document.

Standard library only. Run from anywhere:

    python3 tests/vectors/generate.py

The output is deterministic: fixed secrets, times and nonces, stable key
order, and a trailing newline.
"""

import base64
import hashlib
import hmac
import json
import os
import re

SCHEME = "HMAC-SHA256"

KEY_ID_RE = re.compile(r"[A-Za-z0-9._~-]{1,64}")
NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A lowercase HTTP token (RFC 9110 tchar, letters lowercase only).
HEADER_NAME_RE = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
MAX_SIGNED_HEADERS = 32
MAX_AUTHORIZATION_LEN = 2048
MIN_SECRET_LEN = 16


# --- the protocol, from the document ------------------------------------


def split_target(target):
    """Split a request target into (authority or None, path, query).

    Origin-form "/p?q" has no authority; absolute-form "scheme://authority/p?q"
    (what an HTTP/2 request carries in :scheme, :authority and :path) has one.
    Nothing is decoded or normalised.
    """
    authority = None
    m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target)
    if m:
        rest = target[m.end():]
        end = len(rest)
        for sep in "/?#":
            i = rest.find(sep)
            if i != -1 and i < end:
                end = i
        authority = rest[:end]
        target = rest[end:]
    # A fragment is never part of a request target; drop one if present.
    target = target.split("#", 1)[0]
    if "?" in target:
        path, query = target.split("?", 1)
    else:
        path, query = target, ""
    if path == "":
        path = "/"
    return authority, path, query


def trim_ows(value):
    return value.strip(" \t")


def header_value(headers, name, authority):
    """The value of one signed header: every field line with that name, in
    order, each trimmed of spaces and tabs, joined with ','. For `host`, the
    URI authority stands in when there is no Host field line."""
    lines = [v for (n, v) in headers if n.lower() == name]
    if not lines and name == "host" and authority is not None:
        return authority
    return ",".join(trim_ows(v) for v in lines)


def body_sha256_hex(body):
    return hashlib.sha256(body).hexdigest()


CHUNKED_BODY = "STREAMING-HMAC-SHA256-CHUNKS"


def string_to_sign(key_id, time, nonce, method, target, headers, signed_headers, body):
    authority, path, query = split_target(target)
    lines = [
        SCHEME,
        key_id,
        str(time),
        nonce,
        method,
        path,
        query,
        signed_headers,
    ]
    for name in signed_headers.split(";"):
        lines.append(name + ":" + header_value(headers, name, authority))
    # A body sent in signed chunks (PROTOCOL 4.6) is signed as a fixed line.
    lines.append(CHUNKED_BODY if body is None else body_sha256_hex(body))
    return "\n".join(lines)


def signature(secret, text):
    mac = hmac.new(secret, text.encode("latin-1"), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def authorization(key_id, time, nonce, signed_headers, sig):
    return "%s Key=%s, Time=%d, Nonce=%s, SignedHeaders=%s, Signature=%s" % (
        SCHEME,
        key_id,
        time,
        nonce,
        signed_headers,
        sig,
    )


def choose_signed_headers(headers, extra=()):
    """What a conforming signer signs: host always, content-type and any
    configured extra header when the request carries it."""
    present = {n.lower() for (n, _) in headers}
    names = {"host"}
    for name in ("content-type",) + tuple(extra):
        if name in present:
            names.add(name)
    return ";".join(sorted(names, key=lambda s: s.encode("ascii")))


# --- checks on the inputs, so that no vector is outside the protocol -----


def check_inputs(v, secret, body):
    assert KEY_ID_RE.fullmatch(v["key_id"]), v["key_id"]
    assert NONCE_RE.fullmatch(v["nonce"]), v["nonce"]
    assert isinstance(v["time"], int) and 0 <= v["time"] < 2**64
    assert len(secret) >= MIN_SECRET_LEN
    assert base64.b64encode(secret).decode("ascii") == v["secret_base64"]
    assert base64.b64encode(body).decode("ascii") == v["body_base64"]
    names = v["signed_headers"].split(";")
    assert 1 <= len(names) <= MAX_SIGNED_HEADERS
    assert all(HEADER_NAME_RE.fullmatch(n) for n in names), names
    assert [n.encode() for n in names] == sorted({n.encode() for n in names}), names
    for name, value in v["headers"]:
        assert HEADER_NAME_RE.fullmatch(name.lower()), name
        assert all(c == "\t" or 0x20 <= ord(c) < 0x7F for c in value), value
    assert all(0x21 <= ord(c) < 0x7F for c in v["uri"]), v["uri"]
    assert "#" not in v["uri"]


def make_vector(name, key_id, secret, time, nonce, method, uri, headers, body,
                extra=(), signed_headers=None):
    if signed_headers is None:
        signed_headers = choose_signed_headers(headers, extra)
    text = string_to_sign(key_id, time, nonce, method, uri, headers, signed_headers, body)
    sig = signature(secret, text)
    v = {
        "name": name,
        "key_id": key_id,
        "secret_base64": base64.b64encode(secret).decode("ascii"),
        "time": time,
        "nonce": nonce,
        "method": method,
        "uri": uri,
        "headers": [[n, v] for (n, v) in headers],
        "body_base64": base64.b64encode(body).decode("ascii"),
        "signed_headers": signed_headers,
        "string_to_sign": text,
        "signature": sig,
        "authorization": authorization(key_id, time, nonce, signed_headers, sig),
        # PROTOCOL 4.4: the body's SHA-256 declared up front (RFC 9530).
        "content_digest": "sha-256=:"
        + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        + ":",
    }
    check_inputs(v, secret, body)
    assert len(sig) == 44 and sig.endswith("=")
    assert len(v["authorization"]) <= MAX_AUTHORIZATION_LEN
    assert all(0x20 <= ord(c) < 0x7F for c in v["authorization"])
    return v


def b64url_nopad(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# --- the vectors ----------------------------------------------------------

SECRET_A = bytes(range(32))                 # 32 bytes, the recommended size
SECRET_7 = b"sixteen-bytes-long-secret"    # 25 bytes
SECRET_MIN = bytes(range(0xF0, 0x100))      # exactly 16 bytes, the minimum

NONCE_1 = b64url_nopad(bytes(range(16)))          # "AAECAwQFBgcICQoLDA0ODw"
NONCE_2 = b64url_nopad(bytes(range(16, 32)))
NONCE_3 = b64url_nopad(bytes(range(0xA0, 0xB0)))
NONCE_4 = b64url_nopad(bytes(range(0xF8, 0xFF)) + bytes(range(9)))
NONCE_GO = "AAAAAAAAAAAAAAAAAAAAAA"
NONCE_64 = ("0123456789-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")[:64]

LONG_KEY_ID = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567._~-"


def vectors():
    out = []

    out.append(make_vector(
        "get-empty-body", "client-1", SECRET_A, 1700000000, NONCE_1,
        "GET", "/v1/items?limit=10&offset=20",
        [("host", "api.example.com"), ("accept", "application/json")],
        b""))

    out.append(make_vector(
        "post-json", "client-1", SECRET_A, 1700000060, NONCE_2,
        "POST", "/v1/orders",
        [("host", "api.example.com"),
         ("content-type", "application/json"),
         ("user-agent", "example-client/1.0")],
        b'{"item":"widget","qty":3}'))

    out.append(make_vector(
        "percent-encoded-path-and-query", "client-1", SECRET_A, 1700000120, NONCE_3,
        "GET",
        "/files/r%C3%A9sum%C3%A9%2Fdraft;v=2/~me/a+b!$&'()*,=:@[x]"
        "?q=caf%C3%A9&sp=%20&plus=a+b&empty=&flag&list=a,b;c&nested=/x/y?z&lower=%2f%3a",
        [("host", "files.example.com")],
        b""))

    out.append(make_vector(
        "query-less-path", "client-1", SECRET_A, 1700000180, NONCE_4,
        "DELETE", "/v1/items/42",
        [("host", "api.example.com")],
        b""))

    out.append(make_vector(
        "http2-host-from-authority", "client-1", SECRET_A, 1700000240, NONCE_1,
        "POST", "http://api.example.com:8443/v1/items",
        [("content-type", "application/json")],
        b'{"name":"bolt"}'))

    out.append(make_vector(
        "repeated-header-signed-as-extra", "client-1", SECRET_A, 1700000300, NONCE_2,
        "POST", "/v1/tags",
        [("host", "api.example.com"),
         ("x-tag", "a"),
         ("content-type", "text/plain; charset=utf-8"),
         ("x-tag", " \tb "),
         ("x-tag", "c  d"),
         ("x-unsigned", "not part of the signature")],
        b"tagged",
        extra=("x-tag",)))

    out.append(make_vector(
        "absent-signed-header", "client-1", SECRET_A, 1700000360, NONCE_3,
        "PATCH", "/v1/items/42",
        [("host", "api.example.com"), ("content-type", "application/json")],
        b'{"qty":4}',
        signed_headers="content-type;host;x-idempotency-key"))

    out.append(make_vector(
        "binary-body", "client-1", SECRET_A, 1700000420, NONCE_4,
        "PUT", "/v1/blobs/7",
        [("host", "api.example.com"), ("content-type", "application/octet-stream")],
        bytes(range(256)) + b"\r\n\x00"))

    out.append(make_vector(
        "go-boundary-shift-a", "7", SECRET_7, 1700000000, NONCE_GO,
        "POST", "/x?a=1",
        [("host", "api.example.com")],
        b"2"))

    out.append(make_vector(
        "go-boundary-shift-b", "7", SECRET_7, 1700000000, NONCE_GO,
        "POST", "/x?a=12",
        [("host", "api.example.com")],
        b""))

    out.append(make_vector(
        "long-key-id-and-nonce", LONG_KEY_ID, SECRET_MIN, 4102444800, NONCE_64,
        "GET", "/",
        [("Host", "API.Example.COM")],
        b""))

    return out


def chunk_signature(secret, previous_b64, data):
    """PROTOCOL 4.6: each chunk's MAC chains from the one before."""
    text = "HMAC-SHA256-CHUNK\n" + previous_b64 + "\n" + body_sha256_hex(data)
    return signature(secret, text)


def make_chunked_vector(name, key_id, secret, time, nonce, method, uri, headers, chunks):
    signed_headers = choose_signed_headers(headers)
    text = string_to_sign(key_id, time, nonce, method, uri, headers, signed_headers, None)
    seed = signature(secret, text)
    previous = seed
    wire = b""
    chunk_signatures = []
    for data in list(chunks) + [b""]:
        previous = chunk_signature(secret, previous, data)
        chunk_signatures.append(previous)
        wire += b"%x;sig=%s\r\n" % (len(data), previous.encode("ascii")) + data + b"\r\n"
    return {
        "name": name,
        "key_id": key_id,
        "secret_base64": base64.b64encode(secret).decode("ascii"),
        "time": time,
        "nonce": nonce,
        "method": method,
        "uri": uri,
        "headers": [[n, v] for (n, v) in headers],
        "chunks_base64": [base64.b64encode(c).decode("ascii") for c in chunks],
        "signed_headers": signed_headers,
        "string_to_sign": text,
        "signature": seed,
        "authorization": authorization(key_id, time, nonce, signed_headers, seed),
        "chunk_signatures": chunk_signatures,
        "wire_body_base64": base64.b64encode(wire).decode("ascii"),
    }


def chunked_vectors():
    secret = bytes(range(32))
    nonce = b64url_nopad(bytes(range(0x20, 0x30)))
    host = [("Host", "api.example.com")]
    return [
        make_chunked_vector(
            "chunked-three", "client-1", secret, 1700000120, nonce, "PUT",
            "/v1/objects/log.txt", host + [("Content-Type", "text/plain")],
            [b"first line\n", b"second, longer line\n", bytes(range(256))],
        ),
        make_chunked_vector(
            "chunked-empty", "client-1", secret, 1700000121, nonce, "POST",
            "/v1/stream?x=1", host, [],
        ),
        make_chunked_vector(
            "chunked-one-byte", "7", b"sixteen-byte-key", 0, "A" * 16, "POST", "/", host, [b"\x00"],
        ),
    ]


def write(name, vs):
    text = json.dumps(vs, indent=2, ensure_ascii=True) + "\n"
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    print("wrote %d vectors to %s" % (len(vs), path))


def main():
    vs = vectors()

    names = [v["name"] for v in vs]
    assert len(names) == len(set(names))
    by_name = {v["name"]: v for v in vs}
    a, b = by_name["go-boundary-shift-a"], by_name["go-boundary-shift-b"]
    # The original Go design concatenated method, path, query and body; these
    # two requests gave it identical input. Here they must not collide.
    def go_concat(v):
        _, path, query = split_target(v["uri"])
        return v["method"].encode() + path.encode() + query.encode() + base64.b64decode(v["body_base64"])
    assert go_concat(a) == go_concat(b) == b"POST/xa=12"
    assert a["signature"] != b["signature"]
    assert len(by_name["long-key-id-and-nonce"]["key_id"]) == 64
    assert len(by_name["long-key-id-and-nonce"]["nonce"]) == 64
    assert "\nx-tag:a,b,c  d\n" in by_name["repeated-header-signed-as-extra"]["string_to_sign"]
    assert "\nhost:api.example.com:8443\n" in by_name["http2-host-from-authority"]["string_to_sign"]
    assert "\nx-idempotency-key:\n" in by_name["absent-signed-header"]["string_to_sign"]

    write("vectors.json", vs)
    cs = chunked_vectors()
    assert all(v["string_to_sign"].endswith("\n" + CHUNKED_BODY) for v in cs)
    write("chunked.json", cs)


if __name__ == "__main__":
    main()
