#!/usr/bin/env bash
# End-to-end benchmark on loopback, in one command:
#
#   scripts/e2e.sh [RESULTS]      (default: benches/results/e2e.jsonl)
#
# Needs wrk (apt-get install -y wrk). Starts examples/bench_server.rs as a
# separate process for every measurement, so that its peak RSS (VmHWM) is
# the server's own, and writes one JSON object a line to RESULTS:
#   {"test":"get",...}     small signed GETs under wrk, per server mode
#                          (`signed-outer`: the layer around the whole
#                          router instead of on its routes)
#   {"test":"upload",...}  uploads of one size: throughput and server peak RSS
# GETS=0 skips the GETs; UPLOAD_MODES picks the upload servers (default
# "signed buffered unsigned"; "signed-blake3" is the signed server accepting
# BLAKE3-KEYED, its client signing with it). Within each size the modes take
# turns, repeat by repeat, so that a busy moment hits them alike.
# scripts/bench_report.py turns them into the tables and the plot of
# BENCHMARKS.md. With two or more CPUs, the server is pinned to CPU 0 and
# the load generator to CPU 1.
#
# UPLOADS=0 skips the uploads. NONCE_SKEW=SECS makes the nonce
# store turn over during the GET runs: the signed servers allow SECS of
# clock skew and 5 s per request, so each nonce is kept about SECS + 5 s,
# and the requests are dated across the run at EXPECTED_RATE requests/s
# (default 60000) from START_IN seconds after signing (default 40: the time
# to start the server and load them into wrk), each sent near its own time:
#
#   UPLOADS=0 NONCE_SKEW=30 WRK_SECONDS=60 scripts/e2e.sh benches/results/e2e-nonces.jsonl
#
# WRK_PACE_MS=MS runs the GETs at a steady rate instead of flat out: each
# connection waits MS ms after each response (scripts/wrk_paced.lua), so
# 32 connections offer at most 32,000/MS requests/s. Set EXPECTED_RATE to
# about that, so that the requests' dates keep up with the run, and
# START_IN to about 20 with NONCE_SKEW: fewer requests load sooner, and one
# dated more than NONCE_SKEW seconds ahead of the server's clock is refused
# (with 32 connections at MS=1 and NONCE_SKEW=30, START_IN=20 had every
# request of every mode accepted; the default 40 had one run refuse 16 %).
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=${1:-benches/results/e2e.jsonl}
TARGET=${CARGO_TARGET_DIR:-target}
PORT=${E2E_PORT:-39517}
WRK_SECONDS=${WRK_SECONDS:-8}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
REPEATS=${REPEATS:-3}
NONCE_SKEW=${NONCE_SKEW:-}
EXPECTED_RATE=${EXPECTED_RATE:-60000}
SIZES=${SIZES:-1024 65536 1048576 16777216 268435456 1073741824}
GETS=${GETS:-1}
UPLOADS=${UPLOADS:-1}
UPLOAD_MODES=${UPLOAD_MODES:-signed buffered unsigned}
WRK_PACE_MS=${WRK_PACE_MS:-}
WRK_SCRIPT=scripts/wrk_signed.lua
[ -z "$WRK_PACE_MS" ] || WRK_SCRIPT=scripts/wrk_paced.lua
URL="http://127.0.0.1:$PORT"

[ "$GETS" = 0 ] || command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --features blake3 --example bench_server
BIN="$TARGET/release/examples/bench_server"

# shellcheck source=scripts/server_process.sh
source scripts/server_process.sh

mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
{
  printf '{"test":"machine","cpu":"%s","cpus":%s,"rustc":"%s","wrk":"%s","date":"%s"}\n' \
    "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$(nproc)" "$(rustc --version)" \
    "$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)" "$(date -u +%Y-%m-%dT%H:%MZ)"
} >>"$RESULTS"

# 1. Small GETs under wrk. Every request carries its own pre-signed
#    Authorization (distinct nonces, each used once), for every mode alike;
#    the unsigned server ignores it.
SIGNED="$WORK/signed.txt"
SPREAD=()
WINDOW=()
if [ -n "$NONCE_SKEW" ]; then
  # 30 % more requests than the expected rate needs; dated at that rate.
  SIGNED_COUNT=${SIGNED_COUNT:-$((EXPECTED_RATE * WRK_SECONDS * 13 / 10))}
  SPREAD=(--spread $((SIGNED_COUNT / EXPECTED_RATE)) --start-in "${START_IN:-40}")
  WINDOW=(--max-skew "$NONCE_SKEW" --max-request-duration 5)
fi
get_run() { # label, mode, flags...
  local label=$1
  shift
  "$BIN" sign-requests --url "$URL/items/42?fields=name,price" --count "$SIGNED_COUNT" --out "$SIGNED" "${SPREAD[@]}"
  start_server --mode "$@"
  WRK_PACE_MS=$WRK_PACE_MS "${ON_CLIENT_CPU[@]}" wrk -t1 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" --latency \
    -s "$WRK_SCRIPT" "$URL/items/42?fields=name,price" -- "$SIGNED" >"$WORK/wrk.txt"
  local rss
  rss=$(peak_rss_kib)
  stop_server
  python3 - "$label" "$rss" "$WORK/wrk.txt" "$WRK_PACE_MS" >>"$RESULTS" <<'EOF'
import json, re, sys
label, rss, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(path).read()
def number(pattern, default=0.0):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else default
def duration_s():
    m = re.search(r"requests in ([\d.]+)(ms|s|m|h)", text)
    return float(m.group(1)) * {"ms": 1e-3, "s": 1, "m": 60, "h": 3600}[m.group(2)] if m else None
def latency_us_max():
    m = re.search(r"^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", text, re.M)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)] if m else None
def latency_us(p):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)" % p, text, re.M)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
print(json.dumps({
    "test": "get", "mode": label,
    "requests_per_s": number(r"Requests/sec:\s+([\d.]+)"),
    "requests": int(number(r"(\d+) requests in")),
    "non_2xx": int(number(r"Non-2xx or 3xx responses:\s+(\d+)")),
    "p50_us": latency_us(50), "p99_us": latency_us(99),
    "p75_us": latency_us(75), "p90_us": latency_us(90),
    "max_us": latency_us_max(),
    "seconds": duration_s(),
    "pace_ms": float(sys.argv[4]) if sys.argv[4] else None,
    "server_peak_rss_kib": rss,
}))
EOF
  tail -1 "$RESULTS"
}
SIGNED_COUNT=${SIGNED_COUNT:-1200000}
if [ "$GETS" != 0 ]; then
  get_run unsigned unsigned
  get_run signed-no-replay signed --no-replay
  get_run signed signed --nonce-capacity 20000000 "${WINDOW[@]}"
  get_run signed-outer signed-outer --nonce-capacity 20000000 "${WINDOW[@]}"
  get_run buffered buffered
fi

# 2. Uploads of growing size, each in a fresh server: throughput and the
#    server's peak RSS. Small sizes are sent many times over one connection.
upload_run() { # mode, bytes, repeat
  local mode=$1 bytes=$2 repeat=$3 requests rss cpu client=()
  requests=$(( (256 * 1024 * 1024) / bytes ))
  [ "$requests" -lt 1 ] && requests=1
  [ "$requests" -gt 4000 ] && requests=4000
  [ "$mode" = signed-blake3 ] && client=(--algorithm blake3)
  {
    start_server --mode "$mode"
    local line
    line=$("${ON_CLIENT_CPU[@]}" "$BIN" upload --url "$URL/upload" --bytes "$bytes" --requests "$requests" "${client[@]}")
    rss=$(peak_rss_kib)
    cpu=$(cpu_seconds)
    stop_server
    echo "$line" | python3 -c '
import json, sys
row = json.loads(sys.stdin.read())
row.update(test="upload", mode=sys.argv[1], repeat=int(sys.argv[2]), server_peak_rss_kib=int(sys.argv[3]), server_cpu_s=float(sys.argv[4]))
print(json.dumps(row))' "$mode" "$repeat" "$rss" "$cpu" >>"$RESULTS"
    tail -1 "$RESULTS"
  }
}
if [ "$UPLOADS" != 0 ]; then
  for bytes in $SIZES; do
    for repeat in $(seq "$REPEATS"); do
      for mode in $UPLOAD_MODES; do
        upload_run "$mode" "$bytes" "$repeat"
      done
    done
  done
fi

echo "results in $RESULTS; now run: python3 scripts/bench_report.py"
