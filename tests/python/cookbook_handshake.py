"""The Python Cookbook's HMAC handshake recipe, both roles, for
tests/handshake_raw.rs (tower-hmac's `handshake::raw`, `Recipe::cookbook`).

usage: cookbook_handshake.py serve DIGEST
       cookbook_handshake.py connect PORT DIGEST [MESSAGE...]

DIGEST is `sha256` or `md5`: the `digestmod` that Python 3.8 and later
require (the recipe as printed predates that, when MD5 was implied). The key
is read as hex from the COOKBOOK_KEY_HEX environment variable.

`client_authenticate` and `server_authenticate` are the recipe's, unchanged
but for `digestmod`. Around them, the recipe's echo server and client:

serve    binds 127.0.0.1 port 0, prints `LISTENING <port>`, accepts one
         connection, prints `AUTHENTICATED` (then echoes what it receives
         until the peer closes, and prints `ECHOED <n>`, the bytes echoed) or
         `REFUSED` (and closes).
connect  answers the challenge, prints `ANSWERED`, then sends each MESSAGE
         and prints `ECHO <what came back>` for each, or `CLOSED` when the
         server closed instead, and stops there.

Any failure prints `ERROR <exception type>: <message>` and exits 3.
"""

import faulthandler
import hashlib
import hmac
import os
import sys
from socket import AF_INET, SOCK_STREAM, socket

# Never outlive a stuck test: dump the stacks and exit.
faulthandler.dump_traceback_later(30, exit=True)


def client_authenticate(connection, secret_key, digestmod):
    """Authenticate client to a remote service.
    connection represents a network connection.
    secret_key is a key known only to both client/server.
    """
    message = connection.recv(32)
    hash = hmac.new(secret_key, message, digestmod)
    digest = hash.digest()
    connection.send(digest)


def server_authenticate(connection, secret_key, digestmod):
    """Request client authentication."""
    message = os.urandom(32)
    connection.send(message)
    hash = hmac.new(secret_key, message, digestmod)
    digest = hash.digest()
    response = connection.recv(len(digest))
    return hmac.compare_digest(digest, response)


def say(*words):
    print(*words, flush=True)


def echo_handler(client_sock, secret_key, digestmod):
    if not server_authenticate(client_sock, secret_key, digestmod):
        say("REFUSED")
        client_sock.close()
        return
    say("AUTHENTICATED")
    echoed = 0
    while True:
        msg = client_sock.recv(8192)
        if not msg:
            break
        client_sock.sendall(msg)
        echoed += len(msg)
    say("ECHOED", echoed)
    client_sock.close()


def echo_server(secret_key, digestmod):
    s = socket(AF_INET, SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(5)
    say("LISTENING", s.getsockname()[1])
    c, a = s.accept()
    echo_handler(c, secret_key, digestmod)
    s.close()


def echo_client(port, secret_key, digestmod, messages):
    s = socket(AF_INET, SOCK_STREAM)
    s.connect(("127.0.0.1", port))
    client_authenticate(s, secret_key, digestmod)
    say("ANSWERED")
    for message in messages:
        try:
            s.send(message.encode())
            resp = s.recv(1024)
        except ConnectionError:
            resp = b""
        if not resp:
            say("CLOSED")
            break
        say("ECHO", resp.decode(errors="backslashreplace"))
    s.close()


def main():
    secret_key = bytes.fromhex(os.environ["COOKBOOK_KEY_HEX"])
    mode, *args = sys.argv[1:]
    try:
        if mode == "serve":
            (digest,) = args
            echo_server(secret_key, getattr(hashlib, digest))
        elif mode == "connect":
            port, digest, *messages = args
            echo_client(int(port), secret_key, getattr(hashlib, digest), messages)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    except Exception as e:  # noqa: BLE001 - the test reads the type
        say(f"ERROR {type(e).__name__}: {e}")
        sys.exit(3)


if __name__ == "__main__":
    main()
