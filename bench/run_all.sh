#!/usr/bin/env bash
# Regenerate every benchmark table in docs/ under the protocol (see bench/README.md): the
# vaekit-vs-pythae tables of docs/benchmarks.md (bench/run_all.py), then every bench_*.py script,
# each of which writes its own section(s) of docs/*.md and resumes from its own results file.
#   bench/run_all.sh            # full run (idle machine! several hours in all), resumable
#   bench/run_all.sh --quick    # toy sizes; quick tables go under bench/results/, never into docs/
# Extra arguments go to bench/run_all.py only (e.g. --only throughput); BENCH_SCRIPTS="a b" limits
# which bench_*.py scripts run (names without the prefix, e.g. BENCH_SCRIPTS="disentanglement serve").
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
for arg in "$@"; do [ "$arg" = "--quick" ] && quick=(--quick); done
python3 bench/run_all.py "$@"
scripts=${BENCH_SCRIPTS:-"disentanglement likelihood fid compression inpaint anomaly embeddings blend augment serve"}
for name in $scripts; do
    echo "== bench/bench_$name.py ${quick[*]:-}" >&2
    python3 "bench/bench_$name.py" "${quick[@]}"
done
