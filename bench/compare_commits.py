"""Does a change alter vaekit's own training? Paired run of two commits of vaekit, same machine,
same invocation: recipe reference-mlp, 2 epochs per run, alternating order, N runs per side;
prints epoch-2 samples/s (median, ratio) and the validation loss of each side.

    python3 bench/compare_commits.py b9a931d [--runs 3] [--threads 2]

The old commit is checked out into a temporary git worktree and imported ahead of the installed
vaekit; Fashion-MNIST must be available. Not a comparison with a peer (see run_all.sh)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(src: Path, threads: int) -> tuple[float, float]:
    out = Path(tempfile.mkdtemp(prefix="vaekit-cmp-")) / "run"
    code = (f"import sys; sys.path.insert(0, {str(src)!r}); import torch; torch.set_num_threads({threads}); "
            f"from vaekit.api import train; train('reference-mlp', epochs=2, out={str(out)!r}, "
            f"overrides=['train.threads={threads}'], echo=None, progress=False, report=False)")
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, VAEKIT_OFFLINE="1"))
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    return last["samples_per_s"], last["val_loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="git revision to compare the working tree against")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    tree = Path(tempfile.mkdtemp(prefix="vaekit-old-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-f", "-q", str(tree), args.old], check=True)
    try:
        sides = {"old": tree / "src", "new": ROOT / "src"}
        res: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        for i in range(args.runs):
            for side in (("old", "new") if i % 2 == 0 else ("new", "old")):
                res[side].append(one_run(sides[side], args.threads))
                print(side, f"{res[side][-1][0]:,.0f} samples/s, val loss {res[side][-1][1]:.3f}", flush=True)
        med = {s: statistics.median(r[0] for r in v) for s, v in res.items()}
        print(f"median samples/s old {med['old']:,.0f}, new {med['new']:,.0f}, new/old {med['new'] / med['old']:.3f}; "
              f"val loss old {[round(r[1], 3) for r in res['old']]} new {[round(r[1], 3) for r in res['new']]}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


if __name__ == "__main__":
    main()
