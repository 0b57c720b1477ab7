#!/usr/bin/env bash
# SigV4 memory benchmark: the server's peak RSS for a 1 GiB aws-chunked
# upload against a 1 MiB one (target: ratio <= 1.2), in one command:
#
#   scripts/sigv4_rss.sh [RESULTS]     (default: no file, the table only)
#
# Builds examples/sigv4_bench_server.rs (feature sigv4) and, for every size
# and payload mode, starts a fresh server (one thread, SignatureLayer +
# SigV4, in-memory nonce store), sends one upload with the example's own
# client (the body made and signed chunk by chunk as it is sent, never held
# in memory), then reads the server's peak RSS (VmHWM in /proc/PID/status).
# With two or more CPUs the server is pinned to CPU 0 and the client to
# CPU 1. Prints each run and the ratios; with RESULTS, also one JSON line
# per run to it.
#
# Environment:
#   SIZES     bytes of each upload (default: 1 MiB and 1 GiB)
#   PAYLOADS  signed (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 64 KiB chunks) and/or
#             unsigned-trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER, 1 MiB
#             chunks, CRC32 trailer); default: both
#   REPEATS   runs per size and mode (default 1); the ratio uses the median
#   SIGV4_RSS_PORT  (default 39527)
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=${1:-}
TARGET=${CARGO_TARGET_DIR:-target}
PORT=${SIGV4_RSS_PORT:-39527}
SIZES=${SIZES:-1048576 1073741824}
PAYLOADS=${PAYLOADS:-signed unsigned-trailer}
REPEATS=${REPEATS:-1}
URL="http://127.0.0.1:$PORT/bucket/upload"

cargo build --release --features sigv4 --example sigv4_bench_server
BIN="$TARGET/release/examples/sigv4_bench_server"

# shellcheck source=scripts/server_process.sh
source scripts/server_process.sh

: >"$WORK/runs.jsonl"
for payload in $PAYLOADS; do
  for bytes in $SIZES; do
    for repeat in $(seq "$REPEATS"); do
      start_server
      line=$("${ON_CLIENT_CPU[@]}" "$BIN" client --url "$URL" --bytes "$bytes" --payload "$payload")
      rss=$(peak_rss_kib)
      stop_server
      echo "$line" | python3 -c '
import json, sys
row = json.loads(sys.stdin.read())
row.update(test="sigv4_upload", repeat=int(sys.argv[1]), server_peak_rss_kib=int(sys.argv[2]))
print(json.dumps(row))' "$repeat" "$rss" | tee -a "$WORK/runs.jsonl"
    done
  done
done
if [ -n "$RESULTS" ]; then
  mkdir -p "$(dirname "$RESULTS")"
  cat "$WORK/runs.jsonl" >>"$RESULTS"
fi

python3 - "$WORK/runs.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def size(n):
    return f"{n >> 30} GiB" if n >= 1 << 30 else f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} B"
print()
print("| payload | body | chunks | server peak RSS | MiB/s | runs |")
print("|---|---|---|---|---|---|")
groups = {}
for row in rows:
    groups.setdefault((row["payload"], row["bytes"]), []).append(row)
for (payload, n), runs in groups.items():
    rss = statistics.median(r["server_peak_rss_kib"] for r in runs)
    speed = statistics.median(r["mib_per_s"] for r in runs)
    print(f"| {payload} | {size(n)} | {size(runs[0]['chunk'])} | {rss / 1024:.1f} MiB ({rss:.0f} KiB) | {speed:,.0f} | {len(runs)} |")
print()
for payload in dict.fromkeys(p for p, _ in groups):
    sizes = sorted(n for p, n in groups if p == payload)
    if len(sizes) < 2:
        continue
    small, large = sizes[0], sizes[-1]
    peak = lambda n: statistics.median(r["server_peak_rss_kib"] for r in groups[(payload, n)])
    ratio = peak(large) / peak(small)
    verdict = "met" if ratio <= 1.2 else "missed"
    print(f"{payload}: peak RSS {size(large)} / {size(small)} = {peak(large):.0f} KiB / {peak(small):.0f} KiB = {ratio:.3f} (target <= 1.2: {verdict})")
EOF
