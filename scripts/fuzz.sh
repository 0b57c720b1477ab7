#!/usr/bin/env bash
# Runs one fuzz target for SECONDS (default 60) on its committed corpus,
# with cargo-fuzz (libFuzzer) on the nightly toolchain:
#
#   scripts/fuzz.sh server 600
#   scripts/fuzz.sh list               # the targets
#
# New inputs go to fuzz/target/corpus-work/TARGET (not committed), crashes
# to fuzz/artifacts/TARGET. Extra libFuzzer flags: FUZZ_ARGS="-runs=1000000".
# The build uses at most CARGO_BUILD_JOBS jobs (default 2). No sanitizer by
# default (the crate is #![forbid(unsafe_code)], and without ASan the runs
# are 3 to 6 times faster); FUZZ_SANITIZER=address turns it on.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if [ "${1:-}" = "list" ] || [ $# -lt 1 ]; then
  cargo +nightly fuzz list
  [ $# -ge 1 ] || { echo "usage: scripts/fuzz.sh TARGET [SECONDS]" >&2; exit 2; }
  exit 0
fi
target=$1
seconds=${2:-60}
work=target/corpus-work/$target
mkdir -p "$work" "corpus/$target"
dict=()
if [ -f "dicts/$target.dict" ]; then dict=("-dict=dicts/$target.dict"); fi
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
exec cargo +nightly fuzz run --sanitizer "${FUZZ_SANITIZER:-none}" "$target" "$work" "corpus/$target" -- \
  -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
  "${dict[@]}" ${FUZZ_ARGS:-}
