# Sourced by scripts/e2e.sh and scripts/sigv4_rss.sh, after they set BIN
# (a server binary with a `serve --listen ADDR` command that prints
# "on http://" once it listens) and PORT: one server process at a time,
# pinned to CPU 0 and its client to CPU 1 when there are two or more, and
# what it used. Sets WORK, a scratch directory removed on exit.

if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  ON_SERVER_CPU=(taskset -c 0)
  ON_CLIENT_CPU=(taskset -c 1)
else
  ON_SERVER_CPU=()
  ON_CLIENT_CPU=()
fi

WORK=$(mktemp -d)
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT

start_server() { # serve's flags...
  "${ON_SERVER_CPU[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" "$@" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if grep -q "on http://" "$WORK/server.log" 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "the server did not start:" >&2
  cat "$WORK/server.log" >&2
  exit 1
}

peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status"; }

# The server's CPU time so far (user + system), in seconds: less moved by
# other jobs on a shared machine than the wall clock.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$SERVER_PID/stat"; }
