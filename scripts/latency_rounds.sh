#!/usr/bin/env bash
# Latency at a steady rate, the modes taking turns round by round, so that
# a busy moment of a shared machine hits them alike:
#
#   scripts/latency_rounds.sh [ROUNDS] [SECONDS]      (default 3 rounds of 20 s)
#
# Each round runs every mode of MODES (default "unsigned signed signed-outer
# layered") for SECONDS under wrk at a steady rate (scripts/wrk_paced.lua:
# WRK_CONNECTIONS connections, default 32, each waiting WRK_PACE_MS ms,
# default 1, after each response), replay protection off, and prints one
# line per run: round, mode, requests/s, p50, p90, p99, non-2xx responses.
# Needs wrk (apt-get install -y wrk). Server on CPU 0, wrk on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-3}
SECONDS_EACH=${2:-20}
MODES=${MODES:-unsigned signed signed-outer layered}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
export WRK_PACE_MS=${WRK_PACE_MS:-1}
PORT=${E2E_PORT:-39518}
TARGET=${CARGO_TARGET_DIR:-target}
URL="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --features blake3 --example bench_server
BIN="$TARGET/release/examples/bench_server"
# shellcheck source=scripts/server_process.sh
source scripts/server_process.sh

# Enough distinct pre-signed requests for every run (the unsigned modes ignore them).
"$BIN" sign-requests --url "$URL/items/42?fields=name,price" \
  --count $((WRK_CONNECTIONS * 1000 / WRK_PACE_MS * SECONDS_EACH * 13 / 10)) --out "$WORK/signed.txt"
printf 'round mode requests/s p50 p90 p99 non-2xx\n'
for round in $(seq "$ROUNDS"); do
  for mode in $MODES; do
    start_server --mode "$mode" --no-replay
    "${ON_CLIENT_CPU[@]}" wrk -t1 -c"$WRK_CONNECTIONS" -d"${SECONDS_EACH}s" --latency \
      -s scripts/wrk_paced.lua "$URL/items/42?fields=name,price" -- "$WORK/signed.txt" >"$WORK/wrk.txt"
    stop_server
    awk -v round="$round" -v mode="$mode" '
      /Requests\/sec/ { rate = $2 }
      $1 == "50%" { p50 = $2 } $1 == "90%" { p90 = $2 } $1 == "99%" { p99 = $2 }
      /Non-2xx/ { bad = $NF }
      END { printf "%s %s %s %s %s %s %s\n", round, mode, rate, p50, p90, p99, bad + 0 }' "$WORK/wrk.txt"
  done
done
