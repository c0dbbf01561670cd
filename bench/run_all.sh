#!/usr/bin/env bash
# Regenerate every benchmark table in docs/benchmarks.md under the protocol (see bench/README.md).
#   bench/run_all.sh            # full run (idle machine!), resumes from bench/results/protocol.jsonl
#   bench/run_all.sh --quick    # toy sizes, writes bench/results/quick.md
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/run_all.py "$@"
