"""DDP under a real 2-process torchrun (gloo on the CPU): the run directory is complete, only
rank 0 wrote it, the loss curve matches a single process with the same global batch, and
--resume works under torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TORCHRUN = shutil.which("torchrun")
# 1,280 training examples = 20 global batches of 64, so no rank needs padding.
COMMON = ["--set", "data.limit=1280", "--set", "train.batch_size=64", "--set", "model.net.hidden=[64,32]",
          "--set", "model.latent_dim=4", "--set", "train.threads=1"]
# Tolerance: the ranks draw their own reparameterisation noise, so per-epoch losses differ from
# the single-process run by Monte-Carlo noise only (observed < 0.5 %); 3 % catches a wrong
# gradient average (e.g. summed instead of averaged: a 2x step) or a wrong shard.
REL_TOL = 0.03


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", VAEKIT_OFFLINE="1")
    return env


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "vaekit", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env(), timeout=600)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not on PATH")
def test_torchrun_two_processes_match_single_process_and_resume(tmp_path: Path) -> None:
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    proc = _torchrun(["train", "--epochs", "2", "--out", str(ddp), *COMMON], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Only rank 0 prints epoch lines and writes files.
    assert proc.stdout.count("Epoch 2/2") == 1, proc.stdout
    for name in ["config.json", "dataset.json", "model.safetensors", "checkpoint.safetensors", "metrics.jsonl",
                 "samples.png", "report.md"]:
        assert (ddp / name).is_file(), name
    assert not list(ddp.glob(".*.tmp*")), list(ddp.iterdir())

    proc1 = subprocess.run([sys.executable, "-m", "vaekit", "train", "--epochs", "2", "--out", str(single), *COMMON],
                           cwd=tmp_path, capture_output=True, text=True, env=_env(), timeout=600)
    assert proc1.returncode == 0, proc1.stderr
    for d, s in zip(_metrics(ddp), _metrics(single)):
        for key in ["train_loss", "val_loss"]:
            assert abs(d[key] - s[key]) <= REL_TOL * abs(s[key]), (key, d, s)

    proc = _torchrun(["train", "--resume", str(ddp), "--epochs", "3"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _metrics(ddp)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[2]["train_loss"] < rows[0]["train_loss"]
