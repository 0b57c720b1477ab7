#!/usr/bin/env bash
# The soak test: the example server with nonces in Redis, 64 concurrent
# clients (half keep-alive, half a fresh connection per request) sending
# valid, tampered, replayed, stale and forged requests and abandoning
# uploads mid-body, with Redis restarted half-way.
#
#   scripts/soak.sh [SECONDS]        (default 20; CI runs it briefly)
#
# Prints what came back and the server's RSS, and fails unless there were
# no false accepts, no false rejects, no connection errors and no 5xx
# (apart from 503 replay_store_unavailable while Redis restarts, which is
# the store failing closed). Needs redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TOTAL=${1:-20}
command -v redis-server >/dev/null || { echo "redis-server is needed: apt-get install -y redis-server" >&2; exit 1; }
cargo build --release --features redis --example server --example soak
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d)
rport=$(free_port)
sport=$(free_port)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

start_redis() {
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync always \
    --save '' --maxmemory-policy noeviction >>"$dir/redis.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "redis did not start" >&2; cat "$dir/redis.log" >&2; exit 1
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_redis
target/release/examples/server --listen "127.0.0.1:$sport" --redis "redis://127.0.0.1:$rport/" \
  >"$dir/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$sport") 2>/dev/null && break
  sleep 0.05
done

target/release/examples/soak --url "http://127.0.0.1:$sport" --seconds "$SECONDS_TOTAL" \
  --concurrency 64 >"$dir/report.json" &
soak_pid=$!
sleep $((SECONDS_TOTAL / 4)); rss_before=$(rss_kib "$server_pid")
sleep $((SECONDS_TOTAL / 4))
# Redis goes away and comes back with its data (append-only file).
kill -TERM "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
sleep 1
start_redis
wait "$soak_pid"
rss_after=$(rss_kib "$server_pid")
kill -0 "$server_pid" || { echo "the server died" >&2; cat "$dir/server.log" >&2; exit 1; }

python3 - "$dir/report.json" "$rss_before" "$rss_after" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
before, after = int(sys.argv[2]), int(sys.argv[3])
report["server_rss_kib_before"], report["server_rss_kib_after"] = before, after
print(json.dumps(report, indent=2, sort_keys=True))
bad = {k: report.get(k, 0) for k in
       ("false_accept", "false_reject", "connection_error", "timeout", "server_error", "refused_with_another_code")}
total = sum(v for k, v in report.items() if isinstance(v, int) and not k.startswith("server_rss") and k != "concurrency")
print(f"soak: {total} requests in {report['seconds']:.1f} s; "
      + ", ".join(f"{k} {v}" for k, v in bad.items())
      + f"; store_unavailable {report.get('store_unavailable', 0)}; RSS {before} -> {after} KiB")
if any(bad.values()) or report.get("accepted", 0) == 0:
    sys.exit(1)
PY
