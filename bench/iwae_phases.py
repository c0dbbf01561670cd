"""Where the time of ``vaekit evaluate RUN --k 1000 --limit 1000`` goes, phase by phase, in one
fresh process (a diagnostic for docs/benchmarks.md, not a comparison: run it on an idle machine,
several times, and read the spread).

    python3 bench/iwae_phases.py RUN_DIR [--k 1000] [--limit 1000]

Prints the seconds of: the torch import, the CLI module import, the evaluation API's imports,
loading the run, loading the test images, and the IW-k estimator itself (``evaluate_tensor``).
"""

from __future__ import annotations

import argparse
import time

t0 = time.perf_counter()
import torch  # noqa: E402,F401

t_torch = time.perf_counter()
import vaekit.cli.main  # noqa: E402,F401

t_cli = time.perf_counter()
from vaekit.artifacts.load import load  # noqa: E402
from vaekit.tasks.data import split_batch  # noqa: E402
from vaekit.tasks.evaluate import evaluate_tensor  # noqa: E402

t_api = time.perf_counter()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=1000)
    args = ap.parse_args()
    t3 = time.perf_counter()
    run = load(args.run)
    t4 = time.perf_counter()
    batch = split_batch(run, "test")[: args.limit]
    t5 = time.perf_counter()
    result = evaluate_tensor(run.model, batch.x, y=batch.y, k=args.k)
    t6 = time.perf_counter()
    print(f"torch import {t_torch - t0:.2f} s | CLI import {t_cli - t_torch:.2f} s | evaluation imports "
          f"{t_api - t_cli:.2f} s | load run {t4 - t3:.2f} s | test images {t5 - t4:.2f} s | estimator "
          f"{t6 - t5:.2f} s ({args.limit / (t6 - t5):.1f} images/s) | NLL {result['nll']:.3f}")


if __name__ == "__main__":
    main()
