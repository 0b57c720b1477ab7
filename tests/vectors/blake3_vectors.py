#!/usr/bin/env python3
"""Generate the BLAKE3-KEYED test vectors in blake3.json (PROTOCOL §9).

A second, independent implementation of the signing side of the keyed
BLAKE3 scheme, written from docs/PROTOCOL.md only: it shares no code with
the Rust crate, nor with generate.py (the HMAC-SHA256 vectors) or the
Python client. BLAKE3 itself is PyPI's `blake3` package (the official
Rust implementation's Python binding), pinned:

    python3 -m pip install blake3==1.0.8
    python3 tests/vectors/blake3_vectors.py

The output is deterministic: fixed secrets, times and nonces, stable key
order, and a trailing newline.
"""

import base64
import json
import os
import re

import blake3

assert blake3.__version__ == "1.0.8", blake3.__version__

SCHEME = "BLAKE3-KEYED"
# PROTOCOL §9.1: the BLAKE3 key is derive_key(KEY_CONTEXT, secret).
KEY_CONTEXT = "tower-hmac 2026-12-01 BLAKE3-KEYED request signing key"
CHUNKED_BODY = "STREAMING-BLAKE3-KEYED-CHUNKS"
CHUNK_LABEL = "BLAKE3-KEYED-CHUNK"


def b64(raw):
    return base64.b64encode(raw).decode("ascii")


def b64url_nopad(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def blake3_key(secret):
    key = blake3.blake3(secret, derive_key_context=KEY_CONTEXT).digest()
    assert len(key) == 32
    return key


def mac(secret, text):
    """Keyed BLAKE3 under the derived key, 32 bytes."""
    return blake3.blake3(text, key=blake3_key(secret)).digest()


def body_hex(body):
    return blake3.blake3(body).hexdigest()


def split_target(target):
    """(authority or None, path, query) of an origin- or absolute-form target."""
    authority = None
    m = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target)
    if m:
        rest = target[m.end():]
        end = min([i for i in (rest.find(c) for c in "/?") if i != -1] + [len(rest)])
        authority, target = rest[:end], rest[end:]
    path, _, query = target.partition("?")
    return authority, path or "/", query


def header_value(headers, name, authority):
    lines = [v.strip(" \t") for (n, v) in headers if n.lower() == name]
    if not lines and name == "host" and authority is not None:
        return authority
    return ",".join(lines)


def string_to_sign(key_id, time, nonce, method, target, headers, signed_headers, last_line):
    authority, path, query = split_target(target)
    lines = [SCHEME, key_id, str(time), nonce, method, path, query, signed_headers]
    lines += [n + ":" + header_value(headers, n, authority) for n in signed_headers.split(";")]
    lines.append(last_line)
    return "\n".join(lines).encode("latin-1")


def authorization(key_id, time, nonce, signed_headers, sig):
    return "%s Key=%s, Time=%d, Nonce=%s, SignedHeaders=%s, Signature=%s" % (
        SCHEME, key_id, time, nonce, signed_headers, sig)


def signed_headers_of(headers, extra=()):
    present = {n.lower() for (n, _) in headers}
    names = {"host"} | {n for n in ("content-type",) + tuple(extra) if n in present}
    return ";".join(sorted(names))


def request_vector(name, key_id, secret, time, nonce, method, uri, headers, body, extra=()):
    v = signed_vector(name, key_id, secret, time, nonce, method, uri, headers,
                      signed_headers_of(headers, extra), body_hex(body))
    v.update({
        "body_base64": b64(body),
        "body_blake3_hex": body_hex(body),
        # PROTOCOL §9.3: the body's BLAKE3 declared up front.
        "content_digest": "blake3=:" + b64(blake3.blake3(body).digest()) + ":",
    })
    return v


def signed_vector(name, key_id, secret, time, nonce, method, uri, headers, signed, last_line):
    """The members every vector has: its inputs, string-to-sign and signature."""
    text = string_to_sign(key_id, time, nonce, method, uri, headers, signed, last_line)
    sig = b64(mac(secret, text))
    assert len(sig) == 44
    return {
        "name": name,
        "key_id": key_id,
        "secret_base64": b64(secret),
        "time": time,
        "nonce": nonce,
        "method": method,
        "uri": uri,
        "headers": [[n, v] for (n, v) in headers],
        "signed_headers": signed,
        "string_to_sign": text.decode("latin-1"),
        "signature": sig,
        "authorization": authorization(key_id, time, nonce, signed, sig),
    }


def chunk_signature(secret, previous_b64, data):
    text = "\n".join([CHUNK_LABEL, previous_b64, body_hex(data)]).encode("ascii")
    return b64(mac(secret, text))


def chunked_vector(name, key_id, secret, time, nonce, method, uri, headers, chunks):
    v = signed_vector(name, key_id, secret, time, nonce, method, uri, headers,
                      signed_headers_of(headers), CHUNKED_BODY)
    previous, signatures, wire = v["signature"], [], b""
    for data in list(chunks) + [b""]:
        previous = chunk_signature(secret, previous, data)
        signatures.append(previous)
        wire += ("%x;sig=%s\r\n" % (len(data), previous)).encode("ascii") + data + b"\r\n"
    v.update({
        "chunks_base64": [b64(c) for c in chunks],
        "chunk_signatures": signatures,
        "wire_body_base64": b64(wire),
    })
    return v


SECRET_A = bytes(range(32))
SECRET_MIN = bytes(range(0xF0, 0x100))          # 16 bytes, the minimum
SECRET_LONG = bytes(range(100))                 # longer than BLAKE3's key
HOST = [("Host", "api.example.com")]


def main():
    big = bytes((i * 7 + 3) % 256 for i in range(3000))   # more than two 1024-byte chunks
    requests = [
        request_vector("get-empty-body", "client-1", SECRET_A, 1700000000,
                       b64url_nopad(bytes(range(16))), "GET", "/v1/items?limit=10", HOST, b""),
        request_vector("post-json", "client-1", SECRET_A, 1700000060,
                       b64url_nopad(bytes(range(16, 32))), "POST", "/v1/items",
                       HOST + [("Content-Type", "application/json")], b'{"name":"widget"}'),
        request_vector("multi-chunk-body-extra-header", "k.2", SECRET_LONG, 1700000120,
                       b64url_nopad(bytes(range(0xA0, 0xB0))), "PUT", "/v1/blobs/a%20b?x=1&y=",
                       HOST + [("Content-Type", "application/octet-stream"), ("X-Request-Id", " r-1 ")],
                       big, extra=("x-request-id",)),
        request_vector("http2-host-from-authority", "7", SECRET_MIN, 0, "A" * 16, "DELETE",
                       "https://api.example.com:8443/v1/items/42", [], b""),
    ]
    chunked = [
        chunked_vector("chunked-three", "client-1", SECRET_A, 1700000180,
                       b64url_nopad(bytes(range(32, 48))), "PUT", "/v1/objects/log.txt",
                       HOST + [("Content-Type", "text/plain")],
                       [b"first line\n", b"second, longer line\n", bytes(range(256))]),
        chunked_vector("chunked-empty", "client-1", SECRET_A, 1700000181,
                       b64url_nopad(bytes(range(32, 48))), "POST", "/upload", HOST, []),
    ]
    out = {
        "key_context": KEY_CONTEXT,
        # derive_key(KEY_CONTEXT, secret) for each secret above, for
        # implementations to check their key derivation on its own.
        "derived_keys": [
            {"secret_base64": b64(s), "key_hex": blake3_key(s).hex()}
            for s in (SECRET_A, SECRET_MIN, SECRET_LONG)
        ],
        "empty_body_blake3_hex": body_hex(b""),
        "requests": requests,
        "chunked": chunked,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blake3.json")
    with open(path, "w", newline="\n") as f:
        f.write(json.dumps(out, indent=2, ensure_ascii=True) + "\n")
    print("wrote %d request and %d chunked vectors to %s" % (len(requests), len(chunked), path))


if __name__ == "__main__":
    main()
