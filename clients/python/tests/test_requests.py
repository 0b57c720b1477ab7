"""The requests adapter: what is signed is what requests puts on the wire
(checked by rebuilding the string-to-sign from the request as a loopback
server received it)."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import unittest

from _support import KEY_ID, SECRET, CaptureServer, optional, verify

requests = optional("requests")

from tower_hmac_client import Signer, content_digest  # noqa: E402
from tower_hmac_client.requests import HmacAuth  # noqa: E402


class Requests(unittest.TestCase):
    def setUp(self) -> None:
        self.signed: list = []
        self.auth = HmacAuth(Signer(KEY_ID, SECRET, ["x-request-id"], explain=self.signed.append))
        self.server = CaptureServer().__enter__()
        self.session = requests.Session()

    def tearDown(self) -> None:
        self.session.close()
        self.server.__exit__()

    def send(self, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        response = self.session.request(method, self.server.url + path, auth=self.auth, timeout=10, **kwargs)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.server.received), 1)
        return self.server.received.pop()

    def test_get(self) -> None:
        got = self.send("GET", "/hello?b=2&a=1")
        self.assertEqual(verify(got, key_id=KEY_ID), b"")
        self.assertEqual(got.target, "/hello?b=2&a=1")
        self.assertEqual(self.signed[0].signed_headers, "host;x-request-id")

    def test_bytes_json_text_and_form(self) -> None:
        got = self.send("POST", "/echo", data=b"\x00\x01 binary")
        self.assertEqual(verify(got), b"\x00\x01 binary")
        got = self.send("POST", "/echo", json={"item": "widget", "qty": 3}, headers={"X-Request-Id": "r1 "})
        self.assertEqual(verify(got), b'{"item": "widget", "qty": 3}')
        self.assertEqual(self.signed[-1].signed_headers, "content-type;host;x-request-id")
        self.assertIn(b"x-request-id:r1", self.signed[-1].string_to_sign.split(b"\n"))
        got = self.send("PUT", "/t", data="caf\u00e9")
        self.assertEqual(verify(got), "caf\u00e9".encode("utf-8"))
        self.assertEqual(got.get("Content-Length"), ["5"])
        got = self.send("POST", "/f", data={"a": "1 2"}, files={"f": ("n.txt", b"file body")})
        self.assertIn(b"file body", verify(got))

    def test_raw_target(self) -> None:
        # requests (and urllib3) normalise the URL once, when preparing it;
        # the signature is made from the prepared URL, so it matches.
        got = self.send("DELETE", "/any/a%2fb/%7e?q=%c3%a9&x=a%20b&flag")
        verify(got)
        path_line, query_line = self.signed[0].string_to_sign.split(b"\n")[5:7]
        self.assertEqual(path_line + b"?" + query_line, got.target.encode())

    def test_file_is_hashed_first_then_streamed(self) -> None:
        data = os.urandom(3 * 1024 * 1024 + 17)
        with tempfile.TemporaryFile() as f:
            f.write(b"skipped" + data)
            f.seek(7)
            got = self.send("PUT", "/upload", data=f)
        self.assertEqual(verify(got), data)
        self.assertEqual(got.get("Content-Length"), [str(len(data))])
        self.assertEqual(got.get("Content-Digest"), [content_digest(hashlib.sha256(data).digest())])
        self.assertFalse(got.te_chunked)

    def test_generator_in_signed_chunks(self) -> None:
        pieces = [os.urandom(n) for n in (1, 65536, 0, 1000)]
        got = self.send("POST", "/upload", data=iter(pieces))
        self.assertEqual(verify(got), b"".join(pieces))
        self.assertTrue(got.te_chunked)
        self.assertEqual(got.get("Content-Length"), [])
        self.assertEqual(got.get("X-HMAC-Body"), ["chunks"])
        self.assertTrue(self.signed[0].chunked)

    def test_empty_generator(self) -> None:
        got = self.send("POST", "/upload", data=iter([]))
        self.assertEqual(verify(got), b"")
        self.assertTrue(got.body.startswith(b"0;sig="))

    def test_pipe_in_signed_chunks_of_chunk_size(self) -> None:
        read_fd, write_fd = os.pipe()
        data = os.urandom(200_000)

        def writer() -> None:
            with os.fdopen(write_fd, "wb") as w:
                w.write(data)

        thread = threading.Thread(target=writer)
        thread.start()
        auth = HmacAuth(Signer(KEY_ID, SECRET), chunk_size=50_000)
        with os.fdopen(read_fd, "rb") as pipe:
            response = self.session.post(self.server.url + "/upload", data=pipe, auth=auth, timeout=10)
        thread.join(10)
        self.assertEqual(response.status_code, 200)
        got = self.server.received.pop()
        self.assertEqual(verify(got), data)
        self.assertEqual(got.body.count(b";sig="), 5, "four chunks of at most 50,000 bytes and the last")

    def test_declared_digest_of_a_stream_is_used(self) -> None:
        data = b"streamed with a known digest"
        got = self.send(
            "POST",
            "/upload",
            data=iter([data[:10], data[10:]]),
            headers={"Content-Digest": content_digest(hashlib.sha256(data).digest())},
        )
        self.assertEqual(verify(got), data)
        self.assertEqual(got.get("X-HMAC-Body"), [])
        self.assertTrue(got.te_chunked, "sent as it is")
        with self.assertRaisesRegex(ValueError, "Content-Digest"):
            self.session.post(self.server.url, data=iter([b"x"]), headers={"Content-Digest": "sha-256=:bogus:"}, auth=self.auth)
        self.assertEqual(self.server.received, [])

    def test_prepared_request(self) -> None:
        prepared = requests.Request("POST", "http://example.com:8080/x", data=io.BytesIO(b"abc"), auth=self.auth).prepare()
        self.assertEqual(prepared.headers["Host"], "example.com:8080")
        self.assertEqual(prepared.headers["Content-Digest"], content_digest(hashlib.sha256(b"abc").digest()))
        self.assertEqual(prepared.body.read(), b"abc")
        with self.assertRaises(ValueError):
            HmacAuth(Signer(KEY_ID, SECRET), chunk_size=0)


if __name__ == "__main__":
    unittest.main()
