#!/usr/bin/env python3
"""Writes the committed seeds of fuzz/corpus/<target>/seed-* from the test
vectors (tests/vectors/*.json) and a few hand-made inputs. Deterministic;
run from anywhere: python3 fuzz/seeds.py"""
import base64, json, os, pathlib, struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
vectors = json.loads((ROOT / "tests/vectors/vectors.json").read_text())
chunked = json.loads((ROOT / "tests/vectors/chunked.json").read_text())


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)


# authorization, authorization_differential: the vectors' headers, and
# the same values in the forms only the general parser takes.
for v in vectors + chunked:
    a = v["authorization"]
    for t in ("authorization", "authorization_differential"):
        write(t, v["name"], a)
    write("authorization", v["name"] + "-lower", a.replace("HMAC-SHA256 Key=", "hmac-sha256 key="))
    scheme, params = a.split(" ", 1)
    items = params.split(", ")
    write("authorization", v["name"] + "-reordered", scheme + " " + ",\t".join(items[::-1]))
    write("authorization", v["name"] + "-spaced", scheme + "  " + params)

# The same targets, for BLAKE3-KEYED (PROTOCOL §9): its vectors' headers.
blake3 = json.loads((ROOT / "tests/vectors/blake3.json").read_text())
for v in blake3["requests"] + blake3["chunked"]:
    a = v["authorization"]
    for t in ("authorization", "authorization_differential"):
        write(t, "blake3-" + v["name"], a)
    write("authorization", "blake3-" + v["name"] + "-lower", a.replace("BLAKE3-KEYED Key=", "blake3-keyed key="))

# content_digest: one field line per line.
for v in vectors:
    write("content_digest", v["name"], v["content_digest"])
write("content_digest", "two-members", "sha-512=:AAAA:, sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:")
write("content_digest", "split-lines", "sha-512=:AAAA:\nsha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:;a=1")
# BLAKE3-KEYED's member (§9.3), alone and beside sha-256.
for v in blake3["requests"]:
    write("content_digest", "blake3-" + v["name"], v["content_digest"])
write("content_digest", "blake3-and-sha-256",
      "sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:, " + blake3["requests"][1]["content_digest"])

# chunked: [mode][flags][n][cuts][payload] under the head of chunked-three.
three = next(v for v in chunked if v["name"] == "chunked-three")
wire = base64.b64decode(three["wire_body_base64"])
write("chunked", "chunked-three-wire", bytes([0, 0, 0]) + wire)
write("chunked", "chunked-three-wire-cut", bytes([0, 3, 2]) + struct.pack("<HH", 5, 70) + wire)
data = [base64.b64decode(c) for c in three["chunks_base64"]]
write("chunked", "chunked-three-encoded", bytes([1, 0, 0]) + b"|".join(data))
write("chunked", "chunked-three-signer", bytes([2, 1, 0]) + b"|".join(data))
write("chunked", "empty-encoded", bytes([1, 0, 0]))
# The same under BLAKE3-KEYED (flag 8).
write("chunked", "chunked-three-encoded-blake3", bytes([1, 8, 0]) + b"|".join(data))
write("chunked", "chunked-three-signer-blake3", bytes([2, 9, 0]) + b"|".join(data))
write("chunked", "empty-encoded-blake3", bytes([1, 8, 0]))

# keys_file: the README's format.
A = "dG93ZXItaG1hYy10ZXN0LXNlY3JldC0zMi1ieXRlcyE="
B = "YW5vdGhlci10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE="
write("keys_file", "readme", json.dumps({"keys": [
    {"id": "7", "secret": A, "not_after": "2026-12-31T00:00:00Z", "label": "2026"},
    {"id": "8", "secret": B, "not_before": "2026-12-01T00:00:00Z", "label": "2027"},
]}, indent=2))
write("keys_file", "unix-times", json.dumps({"keys": [
    {"id": "client-1", "secret": A, "not_before": 1700000000, "not_after": 1800000000}]}))
write("keys_file", "one-key", json.dumps({"keys": [{"id": "k.2026_x~y-z", "secret": B}]}))

# keys_env: the documented list.
write("keys_env", "two", f"7={A} 8={B}")
write("keys_env", "commas", f"7={A},8={B},\tclient-1={A}")

# server: the vectors as requests (with the lenient clock, for their fixed
# times), and requests for the harness to sign. See fuzz/src/script.rs.
def vector_request(v, config, body_options=""):
    """A vector as a request script: `config` its first line; declared
    (`Content-Digest`, with its body) or in chunks (its wire body)."""
    lines = [f"{v['method']} {v['uri']}"]
    for name, value in v["headers"]:
        lines.append(f"{name}: {value}")
    lines.append(f"authorization: {v['authorization']}")
    if "wire_body_base64" in v:
        lines.append("x-hmac-body: chunks")
        options, body = "frames=3,80", v["wire_body_base64"]
    else:
        lines.append(f"content-digest: {v['content_digest']}")
        options, body = "hint=exact" + body_options, v["body_base64"]
    text = f"{config}\n" + "\n".join(lines) + f"\nx-fuzz-body: {options}\n\n"
    return text.encode() + base64.b64decode(body)


for v in vectors + chunked:
    write("server", v["name"], vector_request(v, "lenient"))
# The BLAKE3-KEYED vectors as requests, to a layer that accepts the scheme
# (first-line word `blake3`), and one to a layer that does not.
for v in blake3["requests"] + blake3["chunked"]:
    version = " version=2" if not v["uri"].startswith("/") else ""
    write("server", "blake3-" + v["name"], vector_request(v, "lenient blake3", version))
    if v["name"] == "post-json":
        write("server", "blake3-not-accepted", vector_request(v, "lenient"))
# Signed by the harness with BLAKE3-KEYED: declared, in chunks, a sha-256
# declaration the scheme does not read (so judged late: refused where early
# authentication is required), and a nonce already used under HMAC-SHA256.
write("server", "blake3-signed-post", "blake3\nPOST /upload?x=1\nhost: api.example.com\ncontent-type: text/plain\n"
      "x-fuzz-sign: key=client-1 t=0 alg=blake3\nx-fuzz-body: hint=exact frames=3\n\nhello, world")
write("server", "blake3-signed-chunks", "blake3 early\nPOST /stream\nhost: h\n"
      "x-fuzz-sign: key=8 chunked=yes extra=x-tag alg=blake3\nx-fuzz-body: frames=4,9 yields\n\nsome data in three chunks")
hello_sha256 = base64.b64encode(__import__("hashlib").sha256(b"hello").digest()).decode()
write("server", "blake3-declares-sha-256-only", "blake3 early\nPOST /x\nhost: h\n"
      "x-fuzz-sign: key=client-1 digest=no alg=blake3\n"
      f"x-fuzz-after: set content-digest sha-256=:{hello_sha256}:\nx-fuzz-body: hint=exact\n\nhello")
write("server", "blake3-nonce-of-hmac-sha256", "blake3\nGET /a\nhost: h\nx-fuzz-sign: key=7 nonce=fixed\n\n"
      "===\nGET /a\nhost: h\nx-fuzz-sign: key=7 nonce=fixed alg=blake3\n\n")
write("server", "signed-post", "\nPOST /upload?x=1\nhost: api.example.com\ncontent-type: text/plain\n"
      "x-fuzz-sign: key=client-1 t=0\nx-fuzz-body: hint=exact frames=3\n\nhello, world")
write("server", "signed-v1-then-replayed", "\nPUT /v1/a\nhost: h\nx-fuzz-sign: key=7 t=-10 digest=no nonce=fixed\n"
      "x-fuzz-handler: read-some 1\nx-fuzz-body: frames=2,4\n\nabcdef\n===\nPUT /v1/a\nx-fuzz-replay: yes\n")
write("server", "signed-chunks", "early\nPOST /stream\nhost: h\nx-fuzz-sign: key=8 chunked=yes extra=x-tag\n"
      "x-fuzz-body: frames=4,9 yields\n\nsome data in three chunks")
write("server", "signed-get-tampered", "\nGET /items?limit=10\nhost: api.example.com\nx-fuzz-sign: key=long t=5\n"
      "x-fuzz-after: set host other.example.com\n\n")
write("server", "refused-by-handler", "content-type\nDELETE /v1/items/42\nhost: h\ncontent-type: a/b\n"
      "x-fuzz-sign: key=client-1\nx-fuzz-handler: refuse 3\n\n===\nGET /\nhost: h\nx-fuzz-sign: key=wrong\n\n")
write("server", "unsigned", "\nPOST /\nhost: h\n\nbody")
# Bodiless by their head (RFC 9112 §6.3): data sent all the same fails the
# request; over HTTP/2 the same body is a body; an empty body that fails.
write("server", "bodiless-by-head-with-data", "\nPOST /upload\nhost: h\nx-fuzz-sign: key=client-1 digest=no\n"
      "x-fuzz-body: bare\n\nhello")
write("server", "unknown-length-http2", "\nPOST /upload\nhost: h\nx-fuzz-sign: key=client-1 digest=no\n"
      "x-fuzz-body: version=2 frames=2\n\nhello")
write("server", "bodiless-by-head-get", "\nGET /\nhost: h\nx-fuzz-sign: key=7\nx-fuzz-body: yields\n\n")
write("server", "bodiless-failing-body", "\nPUT /x\nhost: h\nx-fuzz-sign: key=7\nx-fuzz-body: hint=exact fails\n\n")
# Authority form (`GET host HTTP/1.1`, CONNECT's): long-key-id-and-nonce's
# signature would hold without its Host line (path `/`, `host` from the
# authority), but a router would not take it for `/`: refused (O9).
long = next(v for v in vectors if v["name"] == "long-key-id-and-nonce")
assert long["uri"] == "/" and long["headers"] == [["Host", "API.Example.COM"]], long
write("server", "authority-form-target", f"lenient\nGET API.Example.COM\nauthorization: {long['authorization']}\n"
      f"content-digest: {long['content_digest']}\nx-fuzz-body: hint=exact\n\n")

# sigv4_authorization: the SigV4 vectors (tests/vectors/sigv4.json) as
# requests: as written (first line `lenient`, for their fixed dates:
# presigned ones stay expired), and re-signed at run time by the harness's
# independent signer with the vector's key, signed headers, payload mode
# and checksum, so that they are fresh whenever they run; then hand-made
# requests for the harness to sign. See fuzz/src/sigv4_server.rs.
sigv4 = json.loads((ROOT / "tests/vectors/sigv4.json").read_text())


def v4_body(b):
    if "hex" in b:
        return bytes.fromhex(b["hex"])
    if b["rule"] == "repeat":
        return bytes([b["byte"]]) * b["len"]
    return bytes((b["mul"] * i + b["add"]) % 256 for i in range(b["len"]))


def v4_wire(v, decoded):
    b = v["request"]["body"]
    if "hex" in b:
        return bytes.fromhex(b["hex"])
    out = b""
    for s in b["segments"]:
        out += s["ascii"].encode() if "ascii" in s else decoded[s["body"][0]:s["body"][1]]
    return out


KEYS = {"7": "7", "AKIAIOSFODNN7EXAMPLE": "akia"}
for v in sigv4:
    if v["kind"] not in ("header", "presigned", "streaming"):
        continue
    r = v["request"]
    service = v["service"]
    first = f"service={service}"
    target = r["path"] + ("?" + r["query"] if r["query"] else "")
    decoded = v4_body(v["streaming"]["decoded_body"]) if v["kind"] == "streaming" else v4_body(r["body"])
    wire = v4_wire(v, decoded) if v["kind"] == "streaming" else decoded
    if len(wire) <= 16384:
        lines = [f"{r['method']} {target}"] + [f"{n}: {x}" for n, x in r["headers"]]
        text = f"lenient {first}\n" + "\n".join(lines) + "\nx-fuzz-body: hint=exact frames=7,300\n\n"
        write("sigv4_authorization", v["name"], text.encode() + wire)
    # Re-signed: the vector's request without its credentials.
    names = {n.lower(): x for n, x in r["headers"]}
    query = "&".join(p for p in r["query"].split("&") if p and not p.startswith("X-Amz-"))
    target = r["path"] + ("?" + query if query else "")
    drop = {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-decoded-content-length",
            "x-amz-trailer", "content-length"}
    headers = [(n, x) for n, x in r["headers"] if n.lower() not in drop and not n.lower().startswith("x-amz-checksum-")]
    mode = "presigned" if v["kind"] == "presigned" else "header"
    sign = [f"key={KEYS[v['credentials']['access_key_id']]}", f"mode={mode}",
            "headers=" + v["expected"]["signed_headers"].replace(";", ",")]
    if service != "s3":
        sign.append(f"service={service}")
    cs = names.get("x-amz-content-sha256")
    payload = {None: "none" if mode == "header" else None, "UNSIGNED-PAYLOAD": "unsigned",
               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": "signed",
               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": "signed-trailer",
               "STREAMING-UNSIGNED-PAYLOAD-TRAILER": "unsigned-trailer"}.get(cs, "hex")
    if payload:
        sign.append(f"payload={payload}")
    if "x-amz-decoded-content-length" not in names and payload in ("signed", "signed-trailer", "unsigned-trailer"):
        sign.append("length=no")
    for n in names:
        if n.startswith("x-amz-checksum-"):
            sign.append("checksum=" + n[len("x-amz-checksum-"):].upper())
    if "x-amz-trailer" in names:
        sign.append("trailer=" + names["x-amz-trailer"][len("x-amz-checksum-"):].upper())
    body = decoded[:300]
    frames = "frames=100,200" if payload in ("signed", "signed-trailer", "unsigned-trailer") else "frames=3"
    lines = [f"{r['method']} {target}"] + [f"{n}: {x}" for n, x in headers]
    lines += ["x-fuzz-sign: " + " ".join(sign), f"x-fuzz-body: hint=exact {frames}"]
    write("sigv4_authorization", v["name"] + "-resigned", (f"{first}\n" + "\n".join(lines) + "\n\n").encode() + body)

S = "sigv4_authorization"
H = "host: 127.0.0.1:9000"
write(S, "signed-get", f"\nGET /b?list-type=2&prefix=a%20b\n{H}\nx-fuzz-sign: key=7 payload=hex\n\n")
write(S, "signed-put-checksum", f"\nPUT /b/k\n{H}\ncontent-type: text/plain\n"
      "x-fuzz-sign: key=akia payload=hex checksum=CRC32C\nx-fuzz-body: hint=exact frames=2\n\nhello world")
write(S, "signed-then-replayed", f"\nGET /b/k\n{H}\nx-fuzz-sign: key=client-1\n\n===\nGET /b/k\nx-fuzz-replay: yes\n\n")
write(S, "presigned-reused", f"\nGET /b/k?versionId=1\n{H}\nx-fuzz-sign: key=7 mode=presigned expires=60\n\n"
      "===\nGET /\nx-fuzz-replay: yes\n\n")
write(S, "streaming-signed", f"\nPUT /b/stream\n{H}\nx-fuzz-sign: key=7 payload=signed\n"
      "x-fuzz-body: frames=5,11 yields\n\nsome data in three chunks")
write(S, "streaming-signed-trailer", f"\nPUT /b/stream\n{H}\nx-fuzz-sign: key=8 payload=signed-trailer trailer=SHA256 upper\n"
      "x-fuzz-body: frames=5 wire=3,90,120\n\nsome data in two chunks")
write(S, "streaming-unsigned-trailer", f"\nPUT /b/k\n{H}\nx-fuzz-sign: key=7 payload=unsigned-trailer trailer=CRC64NVME\n"
      "x-fuzz-body: hint=exact\n\nhello world")
write(S, "computed-payload", f"\nPOST /b/k?uploads\n{H}\nx-fuzz-sign: key=long payload=none\nx-fuzz-body: frames=1\n\nbody")
write(S, "early-computed", f"early\nPOST /b/k\n{H}\nx-fuzz-sign: key=7 payload=none\n\nbody")
write(S, "unsigned-not-allowed", f"signed-only\nPUT /b/k\n{H}\nx-fuzz-sign: key=7 payload=unsigned\nx-fuzz-body: hint=exact\n\nbody")
write(S, "tab-botocore", f"\nGET /b/k\n{H}\nx-amz-meta-t: a\tb  c\nx-fuzz-sign: key=7 botocore\n\n")
write(S, "normalized-dot-segment", f"service=execute-api\nGET /a/b/./c/..\n{H}\nx-fuzz-sign: key=7 service=execute-api\n\n")
write(S, "stale", f"\nGET /b/k\n{H}\nx-fuzz-sign: key=7 t=-1000\n\n")
write(S, "wrong-scope", f"region=eu-west-1\nGET /b/k\n{H}\nx-fuzz-sign: key=7 region=us-east-1\n\n")
write(S, "lower-compact", f"\nGET /b/k\n{H}\nx-fuzz-sign: key=7 lower compact\n\n")
write(S, "explained-tampered", f"explain\nPUT /b/k\n{H}\nx-fuzz-sign: key=7 payload=hex\n"
      "x-fuzz-body: hint=exact\nx-fuzz-after: flip-body 1\n\nhello")
write(S, "wrong-key", f"\nGET /b/k\n{H}\nx-fuzz-sign: key=wrong\n\n===\nGET /b/k\n{H}\nx-fuzz-sign: key=old\n\n")
write(S, "bodiless-failing-body", f"\nPUT /b/k\n{H}\nx-fuzz-sign: key=7\nx-fuzz-body: hint=exact fails\n\n")
write(S, "repeated-reads", f"repeated-reads\nGET /b/k\n{H}\nx-fuzz-sign: key=7\n\n===\nGET /\nx-fuzz-replay: yes\n\n"
      "===\nPUT /b/k\n{H}\nx-fuzz-sign: key=7 t=-1\nx-fuzz-body: hint=exact\n\nx")
write(S, "leap-second", f"\nGET /b/k\n{H}\nx-fuzz-sign: key=7 amz=leap\n\n")
write(S, "sigv2", f"\nGET /b/k\n{H}\nauthorization: AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=\n\n"
      "===\nGET /b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D\n{H}\n\n")
write(S, "unsorted-signed-headers", f"\nGET /b/k\n{H}\nx-fuzz-sign: key=7 headers=x-amz-date,host,x-amz-content-sha256,host\n\n")
write(S, "refused-by-handler", f"\nDELETE /b/k\n{H}\nx-fuzz-sign: key=7\nx-fuzz-handler: refuse 3\n\n"
      "===\nPUT /b/k\nhost: h\nx-fuzz-sign: key=7 payload=unsigned\nx-fuzz-handler: echo 1\n\nabc")

# aws_chunked: [head][flags][encoding][n][cuts][payload]; see
# fuzz_targets/aws_chunked.rs. The three vectors' wire bodies under their
# own heads (bit 2), as they are and cut; chunks for the harness's heads in
# every mode, with checksums, a decoded length off by one, edits.
A = "aws_chunked"
by_name = {v["name"]: v for v in sigv4}
for mode, name in enumerate(["stream-signed-8k-chunks", "stream-signed-trailer-crc32",
                             "stream-unsigned-trailer-crc64nvme"]):
    v = by_name[name]
    w = v4_wire(v, v4_body(v["streaming"]["decoded_body"]))
    write(A, name, bytes([4 | mode, 0, 0, 0]) + w)
    write(A, name + "-cut", bytes([4 | mode, 3, 0, 3]) + struct.pack("<HHH", 1, 90, len(w) - 3) + w)
text = b"first chunk|second, longer chunk|third"
for mode in range(4):
    for alg in range(5):
        write(A, f"encoded-mode{mode}-alg{alg}", bytes([mode | alg << 3, 0, 1, 0]) + text)
write(A, "encoded-upper-checksum-header", bytes([1 | 2 << 3 | 64, 32 | 1, 1, 0]) + text)
write(A, "encoded-wrong-checksum-header", bytes([0 | 1 << 3, 32 | 64, 1, 0]) + text)
write(A, "encoded-wrong-trailer", bytes([1 | 4 << 3, 128, 1, 0]) + text)
write(A, "encoded-length-short", bytes([0, 8, 1, 0]) + text)
write(A, "encoded-length-long", bytes([2, 8 | 16, 1, 0]) + text)
write(A, "encoded-no-length-http2", bytes([0 | 128, 4 | 2, 1, 0]) + text)
write(A, "encoded-empty", bytes([1, 0, 1, 0]))
write(A, "edit-flip", bytes([0, 0, 2, 0, 0, 30, 0, 1]) + text)
write(A, "edit-insert", bytes([1, 0, 2, 0, 1, 5, 0, ord(";")]) + text)
write(A, "edit-delete", bytes([2, 0, 2, 0, 2, 3, 0, 0]) + text)
write(A, "edit-truncate", bytes([1, 0, 2, 0, 3, 120, 0, 0]) + text)
write(A, "raw-harness", bytes([2, 0, 0, 0]) + b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n")
