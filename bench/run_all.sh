#!/usr/bin/env bash
# Run every vaekit-vs-pythae benchmark in turn; results land in bench/results/.
# Needs: vaekit in `python3`, pythae in /work/pythae-venv (see bench/README.md).
# Pass extra flags to every script via BENCH_ARGS, e.g. BENCH_ARGS="--threads 1".
set -euo pipefail
cd "$(dirname "$0")"
ARGS=${BENCH_ARGS:-}
python3 train_throughput.py $ARGS
python3 iwae_eval.py $ARGS
python3 misc.py $ARGS
python3 scaling.py $ARGS
python3 time_to_quality.py $ARGS ${TTQ_ARGS:-}   # `fashion` recipe if present, else the proposed settings
