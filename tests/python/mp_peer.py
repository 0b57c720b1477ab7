"""A real multiprocessing.connection peer for tests/handshake.rs.

usage: mp_peer.py listen | connect PORT | listen-unix PATH

The authkey is read as hex from the MP_AUTHKEY_HEX environment variable.
`listen` binds 127.0.0.1 port 0 (or PATH) and prints `LISTENING <port>`
(or `LISTENING <path>`) before accepting one connection.

Once authenticated it prints `AUTHENTICATED`, sends a greeting, an empty
message and a 70,000-byte one, then answers every message with b"echo:" and
the message until it receives b"bye", which it answers with b"bye"; it then
prints `DONE <n>` (the number of messages echoed) and exits 0.

Any failure prints `ERROR <exception type>: <message>` and exits 3.
"""

import faulthandler
import os
import sys
from multiprocessing.connection import Client, Listener

# Never outlive a stuck test: dump the stacks and exit.
faulthandler.dump_traceback_later(30, exit=True)


def say(*words):
    print(*words, flush=True)


def converse(conn):
    say("AUTHENTICATED")
    conn.send_bytes(b"hello from Python " + sys.version.split()[0].encode())
    conn.send_bytes(b"")
    conn.send_bytes(bytes(range(256)) * 273 + b"\x00" * 112)  # 70,000 bytes
    echoed = 0
    while True:
        message = conn.recv_bytes()
        if message == b"bye":
            conn.send_bytes(b"bye")
            break
        conn.send_bytes(b"echo:" + message)
        echoed += 1
    say("DONE", echoed)


def main():
    authkey = bytes.fromhex(os.environ["MP_AUTHKEY_HEX"])
    mode, *args = sys.argv[1:]
    try:
        if mode == "listen":
            with Listener(("127.0.0.1", 0), authkey=authkey) as listener:
                say("LISTENING", listener.address[1])
                with listener.accept() as conn:
                    converse(conn)
        elif mode == "listen-unix":
            with Listener(args[0], family="AF_UNIX", authkey=authkey) as listener:
                say("LISTENING", listener.address)
                with listener.accept() as conn:
                    converse(conn)
        elif mode == "connect":
            with Client(("127.0.0.1", int(args[0])), authkey=authkey) as conn:
                converse(conn)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    except Exception as e:  # noqa: BLE001 - the test reads the type
        say(f"ERROR {type(e).__name__}: {e}")
        sys.exit(3)


if __name__ == "__main__":
    main()
