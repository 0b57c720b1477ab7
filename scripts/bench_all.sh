#!/usr/bin/env bash
# Every benchmark behind BENCHMARKS.md, then the report, in one command:
#
#   scripts/bench_all.sh [RUNS]     (default 3 criterion runs; the e2e part once)
#
# The criterion benches run RUNS times and the report takes medians, since a
# shared machine drifts between benchmarks. Each run also times the
# per-request figures and the SHA-256 backends as a CPU without SHA
# extensions runs them, built into a second target directory. Set PEER_FEATURES= to
# leave aws-lc-rs out of the backend comparison. Needs wrk for
# scripts/e2e.sh and valgrind for scripts/instructions.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-3}
PEER_FEATURES=${PEER_FEATURES---features aws-lc}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$PWD/$CARGO_TARGET_DIR ;; esac
PORTABLE_TARGET_DIR=${PORTABLE_TARGET_DIR:-$CARGO_TARGET_DIR-portable}

python3 scripts/bench_report.py --reset
for _ in $(seq "$RUNS"); do
  cargo bench --bench hashing
  python3 scripts/bench_report.py --collect streaming,per_request
  # shellcheck disable=SC2086
  (cd benches/peers && cargo bench $PEER_FEATURES)
  python3 scripts/bench_report.py --collect sha256,hmac,verify_get
  RUSTFLAGS='--cfg sha2_backend="soft"' CARGO_TARGET_DIR=$PORTABLE_TARGET_DIR \
    cargo bench --bench hashing -- 'per_request/(bare_hmac|parse_canonicalize_verify|step_)'
  # The backends as a CPU without SHA extensions runs them: sha2's portable
  # code, AWS-LC with SHA-NI masked (its OPENSSL_ia32cap override), and
  # ring's kernels (called directly), in one run so that ratios are fair.
  # shellcheck disable=SC2086
  (cd benches/peers && RUSTFLAGS='--cfg sha2_backend="soft"' OPENSSL_ia32cap='~0x0:~0x20000000' \
    CARGO_TARGET_DIR=$PORTABLE_TARGET_DIR cargo bench $PEER_FEATURES -- 'sha256/(sha2|aws_lc_rs|ring_kernel)|hmac/(sha2_hmac|aws_lc_rs)')
  CARGO_TARGET_DIR=$PORTABLE_TARGET_DIR python3 scripts/bench_report.py --collect per_request,sha256,hmac --prefix portable
done
scripts/instructions.sh
scripts/e2e.sh
python3 scripts/bench_report.py >/dev/null
echo "BENCHMARKS.md and benches/results/ updated"
