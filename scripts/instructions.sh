#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the per-request figure
# that does not move with the machine's load.
#
#   scripts/instructions.sh [OUT]    (default benches/results/instructions.json)
#
# Each step runs 1 and 1+N times under `valgrind --tool=callgrind`; the
# difference over N is its count per request. Valgrind does not report
# SHA-NI to the program, so `sha2` runs its portable code here: the counts
# are those of a CPU without SHA extensions. Needs valgrind
# (apt-get install -y valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-benches/results/instructions.json}
N=${N:-20000}
TARGET=${CARGO_TARGET_DIR:-target}
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 1; }
cargo build --release --example bench_server
BIN="$TARGET/release/examples/bench_server"

count() { # what, repetitions -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" repeat --what "$1" --count "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_request() { # what [repetitions]
  local once many n=${2:-$N}
  once=$(count "$1" 1)
  many=$(count "$1" $((n + 1)))
  echo $(((many - once) / n))
}
bare=$(per_request bare)
verify=$(per_request verify)
# In-process round trips through the axum router (replay protection off):
# the layer's fixed cost, and a 1 MiB upload in 64 KiB frames.
unsigned_get=$(per_request unsigned_get)
signed_get=$(per_request signed_get)
# The layer around the whole router instead of on its routes, beside the
# unsigned router with a tower-http layer in the same place.
outer_layered_get=$(per_request outer_layered_get)
outer_get=$(per_request outer_get)
uploads=${N_UPLOADS:-40}
unsigned_upload=$(per_request unsigned_upload "$uploads")
signed_upload=$(per_request signed_upload "$uploads")
chunked_upload=${SKIP_CHUNKED:+null}
chunked_upload=${chunked_upload:-$(per_request chunked_upload "$uploads")}
mkdir -p "$(dirname "$OUT")"
printf '{"bare_hmac": %s, "parse_canonicalize_verify": %s, "unsigned_get": %s, "signed_get": %s, "outer_layered_get": %s, "outer_get": %s, "unsigned_upload_1mib": %s, "signed_upload_1mib": %s, "chunked_upload_1mib": %s, "repetitions": %s, "upload_repetitions": %s, "valgrind": "%s"}\n' \
  "$bare" "$verify" "$unsigned_get" "$signed_get" "$outer_layered_get" "$outer_get" "$unsigned_upload" "$signed_upload" "$chunked_upload" "$N" "$uploads" "$(valgrind --version)" >"$OUT"
cat "$OUT"
