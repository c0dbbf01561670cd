"""Encode or decode in a fresh Python process with a given torch thread count: the cross-process
determinism tests of every coder (one-layer, ladder, Bit-Swap) use it."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import sys, numpy as np, torch
threads = int(sys.argv[1]); torch.set_num_threads(threads)
assert torch.get_num_threads() == threads
from vaekit.tasks.compress import compress, decompress
what = sys.argv[2]
for run, src, dst in zip(*[iter(sys.argv[3:])] * 3):  # (run, source, destination) triples
    if what == "encode":
        open(dst, "wb").write(compress(run, np.load(src)))
    else:
        np.save(dst, decompress(run, open(src, "rb").read()))
print("threads", torch.get_num_threads())
"""


def run_child(threads: int, *args: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(threads), *args], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"threads {threads}" in out.stdout  # the caller's thread count is restored after coding
