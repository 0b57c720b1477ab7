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

# content_digest: one field line per line.
for v in vectors:
    write("content_digest", v["name"], v["content_digest"])
write("content_digest", "two-members", "sha-512=:AAAA:, sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:")
write("content_digest", "split-lines", "sha-512=:AAAA:\nsha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:;a=1")

# chunked: [mode][flags][n][cuts][payload] under the head of chunked-three.
three = next(v for v in chunked if v["name"] == "chunked-three")
wire = base64.b64decode(three["wire_body_base64"])
write("chunked", "chunked-three-wire", bytes([0, 0, 0]) + wire)
write("chunked", "chunked-three-wire-cut", bytes([0, 3, 2]) + struct.pack("<HH", 5, 70) + wire)
data = [base64.b64decode(c) for c in three["chunks_base64"]]
write("chunked", "chunked-three-encoded", bytes([1, 0, 0]) + b"|".join(data))
write("chunked", "chunked-three-signer", bytes([2, 1, 0]) + b"|".join(data))
write("chunked", "empty-encoded", bytes([1, 0, 0]))

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
for v in vectors:
    uri = v["uri"]
    lines = [f"{v['method']} {uri}"]
    for name, value in v["headers"]:
        lines.append(f"{name}: {value}")
    lines.append(f"authorization: {v['authorization']}")
    lines.append(f"content-digest: {v['content_digest']}")
    body = base64.b64decode(v["body_base64"])
    text = ("lenient\n" + "\n".join(lines) + "\nx-fuzz-body: hint=exact\n\n").encode() + body
    write("server", v["name"], text)
for v in chunked:
    lines = [f"{v['method']} {v['uri']}"]
    for name, value in v["headers"]:
        lines.append(f"{name}: {value}")
    lines.append(f"authorization: {v['authorization']}")
    lines.append("x-hmac-body: chunks")
    text = ("lenient\n" + "\n".join(lines) + "\nx-fuzz-body: frames=3,80\n\n").encode()
    write("server", v["name"], text + base64.b64decode(v["wire_body_base64"]))
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
