#!/usr/bin/env python3
"""Generate the schnellburger test vectors in schnellburger.json.

An independent, standard-library-only implementation (hmac, hashlib, base64)
of the legacy schnellburger scheme, written from its description in issue 15
(the wire format of the Go middleware schnellburger), sharing no code with
the Rust crate:

* Authorization: standard base64 (padded) of the key index followed by the
  raw HMAC. The key index is a big-endian unsigned integer of 0, 1, 2, 4 or
  8 bytes; its length is the decoded length minus the hash's output size
  (16 for MD5, 32 for SHA-256); 0 bytes means index 0.
* MAC input, concatenated with no separators: the method; the request path,
  percent-DECODED as Go's URL.Path is (every %XX, %2F included; '+' stays
  '+'), or "/" when empty; if the raw query is non-empty, "?" and the raw
  query as sent; then the body, only for methods other than GET, DELETE and
  HEAD.
* Key: the bytes 00 01 .. 1f for every vector, under key id = the index in
  decimal. HMAC-MD5 unless a vector says sha256.

    python3 tests/vectors/schnellburger_vectors.py           # writes schnellburger.json
    python3 tests/vectors/schnellburger_vectors.py --check   # compares, exit 1 on a difference

The output is deterministic (stable key order, trailing newline).
"""

import base64
import hashlib
import hmac
import json
import os
import sys

KEY = bytes(range(32))
HASHES = {"md5": hashlib.md5, "sha256": hashlib.sha256}
UNSIGNED_BODY_METHODS = ("GET", "DELETE", "HEAD")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schnellburger.json")


def path_unescape(path):
    """Go's url.PathUnescape: %XX to its byte; anything else as it is."""
    out = bytearray()
    i = 0
    raw = path.encode("ascii")
    while i < len(raw):
        if raw[i] == ord("%"):
            digits = raw[i + 1 : i + 3].decode("ascii")
            if len(digits) != 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError("broken escape in %r" % path)
            out.append(int(digits, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def split_target(target):
    """The path and the raw query of an origin-form target."""
    path, sep, query = target.partition("?")
    return path, query


def mac_input(method, target, body):
    path, query = split_target(target)
    data = method.encode("ascii")
    decoded = path_unescape(path)
    data += decoded if decoded else b"/"
    if query:
        data += b"?" + query.encode("ascii")
    if method not in UNSIGNED_BODY_METHODS:
        data += body
    return data


def index_bytes(index, length):
    if length == 0:
        assert index == 0
        return b""
    return index.to_bytes(length, "big")


def authorization(index, length, mac):
    return base64.b64encode(index_bytes(index, length) + mac).decode("ascii")


def vector(name, description, method, target, body=b"", index=7, index_len=8,
           hash_name="md5", sign=None, expect_status=200, error_code=None,
           known_key=True, auth_override=None):
    """A vector. `sign` is what the MAC is computed over: the request itself
    by default, another (method, target, body) for a tampered request, or
    the raw bytes of the MAC input."""
    if isinstance(sign, bytes):
        data = sign
    else:
        data = mac_input(*(sign or (method, target, body)))
    mac = hmac.new(KEY, data, HASHES[hash_name]).digest()
    value = auth_override if auth_override is not None else authorization(index, index_len, mac)
    if auth_override is not None:
        data, mac = b"", None
    return {
        "name": name,
        "description": description,
        "hash": hash_name,
        "method": method,
        "target": target,
        "body_hex": body.hex(),
        "key_index": index,
        "index_len": index_len,
        "known_key": known_key,
        "mac_input_hex": data.hex(),
        "mac_hex": mac.hex() if mac is not None else None,
        "authorization": value,
        "expect": {"status": expect_status, "error_code": error_code},
    }


def vectors():
    v = []
    add = v.append
    add(vector("get-root", "GET / with the Go client's 8-byte index 7.", "GET", "/"))
    add(vector("get-query", "The raw query is signed as sent, after '?'.", "GET",
               "/hello?a=1&b=two%20words&c=%2F"))
    add(vector("get-empty-query", "A bare '?' is an empty query: not signed.", "GET", "/any/q?"))
    add(vector("get-escaped-path",
               "The path is signed percent-decoded: %2F is '/', %20 a space, '+' stays.",
               "GET", "/any/a%2Fb%20c+d"))
    add(vector("get-lowercase-escape", "Escapes decode whatever their case.", "GET",
               "/any/%7e%7E"))
    add(vector("get-non-utf8-path", "A decoded byte need not be UTF-8.", "GET", "/any/%FF%00x"))
    add(vector("head", "HEAD signs no body.", "HEAD", "/any/h"))
    add(vector("delete", "DELETE signs no body.", "DELETE", "/any/d?force=1"))
    add(vector("post-body", "POST signs its body after the target.", "POST", "/upload",
               b"hello, schnellburger"))
    add(vector("post-empty-body", "POST with an empty body signs nothing after the target.",
               "POST", "/any/e"))
    add(vector("put-binary-body", "PUT with every byte value in its body, a 4-byte index.",
               "PUT", "/any/bin?x=y", bytes(range(256)), index=0x01020304, index_len=4))
    add(vector("patch-body", "PATCH signs its body.", "PATCH", "/any/p", b'{"a":1}'))
    # Every index length.
    add(vector("index-len-0", "No index: key index 0.", "GET", "/any/i0", index=0, index_len=0))
    add(vector("index-len-1", "A 1-byte index.", "GET", "/any/i1", index=7, index_len=1))
    add(vector("index-len-2", "A 2-byte index.", "GET", "/any/i2", index=0x0102, index_len=2))
    add(vector("index-len-4", "A 4-byte index.", "GET", "/any/i4", index=0x01020304,
               index_len=4))
    add(vector("index-len-8", "An 8-byte index with every byte set.", "POST", "/any/i8",
               b"eight", index=0x0102030405060708, index_len=8))
    # The boundary shift: the same MAC input, so the same Authorization.
    add(vector("boundary-shift-body", "POST /any/x?a=1 with body '2' signs 'POST/any/x?a=12'.",
               "POST", "/any/x?a=1", b"2"))
    add(vector("boundary-shift-query", "POST /any/x?a=12 with no body signs the same bytes: "
               "the Authorization of boundary-shift-body passes here too (undetectable).",
               "POST", "/any/x?a=12"))
    # SHA-256.
    add(vector("sha256-get-query", "HMAC-SHA256: 32-byte MAC.", "GET", "/hello?x=1",
               hash_name="sha256"))
    add(vector("sha256-post-body", "HMAC-SHA256 over a body.", "POST", "/upload",
               b"sha-256 body", hash_name="sha256", index=0, index_len=0))
    # Refused: not authentic (5).
    add(vector("tampered-body", "Signed over body 'a', sent with body 'b'.", "POST", "/any/t",
               b"b", sign=("POST", "/any/t", b"a"), expect_status=403, error_code="5"))
    add(vector("tampered-query", "Signed for ?n=1, sent with ?n=2.", "GET", "/any/t?n=2",
               sign=("GET", "/any/t?n=1", b""), expect_status=403, error_code="5"))
    add(vector("tampered-method", "Signed as GET, sent as DELETE.", "DELETE", "/any/t",
               sign=("GET", "/any/t", b""), expect_status=403, error_code="5"))
    add(vector("unknown-key-index", "Key index 99 is not in the store: like a wrong MAC.",
               "GET", "/any/u", index=99, known_key=False, expect_status=403, error_code="5"))
    add(vector("get-with-body", "A GET body is not signed; the server refuses it.", "GET",
               "/any/g", b"x", expect_status=403, error_code="5"))
    add(vector("delete-body-signed", "The Go client signs a DELETE body, the server does not: "
               "refused (as by schnellburger itself).", "DELETE", "/any/d", b"x",
               sign=b"DELETE/any/dx", expect_status=403, error_code="5"))
    # Refused: malformed (0-3).
    add(vector("empty-authorization", "An empty value: missing header (0).", "GET", "/any/m",
               auth_override="", expect_status=403, error_code="0"))
    add(vector("invalid-base64", "Not base64 (1).", "GET", "/any/m", auth_override="not*base64",
               expect_status=403, error_code="1"))
    add(vector("unpadded-base64", "Base64 without its padding (1).", "GET", "/any/m",
               auth_override=base64.b64encode(b"\x00" * 17).decode().rstrip("="),
               expect_status=403, error_code="1"))
    add(vector("too-short", "15 bytes, shorter than an MD5 (2).", "GET", "/any/m",
               auth_override=base64.b64encode(b"\x00" * 15).decode(),
               expect_status=403, error_code="2"))
    add(vector("index-len-3", "A 3-byte index (3).", "GET", "/any/m",
               auth_override=base64.b64encode(b"\x00" * 3 + b"\x01" * 16).decode(),
               expect_status=403, error_code="3"))
    add(vector("index-len-16", "A 16-byte index (3).", "GET", "/any/m",
               auth_override=base64.b64encode(b"\x00" * 32).decode(),
               expect_status=403, error_code="3"))
    return v


def document():
    return {
        "description": "schnellburger's scheme: Authorization = base64(key index || HMAC), "
                       "MAC over method || decoded path || ['?' raw query] || [body unless "
                       "GET/DELETE/HEAD]. Generated by tests/vectors/schnellburger_vectors.py.",
        "key_hex": KEY.hex(),
        "vectors": vectors(),
    }


def render():
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                print("schnellburger.json differs from what the generator produces", file=sys.stderr)
                sys.exit(1)
        print("schnellburger.json is up to date")
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %s (%d vectors)" % (OUT, len(document()["vectors"])))


if __name__ == "__main__":
    main()
