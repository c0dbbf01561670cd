"""Resuming: "k epochs, then resume" must equal "N epochs straight", including after a real SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from conftest import TINY, TINY_ARGS, cli_env, run_cli

TIMING = {"seconds", "samples_per_s", "elapsed_s"}  # wall-clock figures differ between runs


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def _assert_same_tensors(a: Path, b: Path) -> None:
    ta, tb = load_file(str(a)), load_file(str(b))
    assert set(ta) == set(tb), set(ta) ^ set(tb)
    for key in ta:
        assert ta[key].dtype == tb[key].dtype and ta[key].shape == tb[key].shape, key
        assert torch.equal(ta[key], tb[key]), f"{a.name}: tensor {key} differs"


def _checkpoint_state(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as fh:
        state = json.loads(fh.metadata()["vaekit"])["state"]
    return {k: v for k, v in state.items() if k not in TIMING}


# ------------------------------------------------------------------ (a) resume equivalence
def test_stop_then_resume_equals_straight_run(tmp_path: Path) -> None:
    from vaekit.api import train

    kwargs = dict(overrides=list(TINY), echo=None, progress=False, report=False)
    straight = train(epochs=2, out=tmp_path / "straight", **kwargs)
    split = train(epochs=2, out=tmp_path / "split", stop_after=1, **kwargs)
    assert len(_metrics(split)) == 1
    assert _checkpoint_state(split / "checkpoint.safetensors")["epoch"] == 1
    assert not _checkpoint_state(split / "checkpoint.safetensors")["finished"]
    train(resume=split, echo=None, progress=False, report=False)

    _assert_same_tensors(straight / "model.safetensors", split / "model.safetensors")
    _assert_same_tensors(straight / "checkpoint.safetensors", split / "checkpoint.safetensors")
    assert _checkpoint_state(straight / "checkpoint.safetensors") == _checkpoint_state(split / "checkpoint.safetensors")
    a, b = _metrics(straight), _metrics(split)
    assert [r["epoch"] for r in a] == [1, 2]
    assert _without_timing(a) == _without_timing(b)
    assert (straight / "config.json").read_text() == (split / "config.json").read_text()


# ------------------------------------------------------------------------ (b) extending
def test_resume_with_more_epochs_extends_a_finished_run(run_copy: Path) -> None:
    before = _metrics(run_copy)
    assert [r["epoch"] for r in before] == [1, 2]
    rc, stdout, stderr = run_cli("train", "--resume", run_copy, "--epochs", "3")
    assert rc == 0, stderr
    assert "Epoch 3/3  loss " in stdout
    assert "Epoch 1/" not in stdout and "Epoch 2/" not in stdout  # no epoch is trained twice
    after = _metrics(run_copy)
    assert [r["epoch"] for r in after] == [1, 2, 3]
    assert after[:2] == before  # the finished epochs' rows are kept byte for byte
    assert json.loads((run_copy / "config.json").read_text())["train"]["epochs"] == 3
    state = _checkpoint_state(run_copy / "checkpoint.safetensors")
    assert state["epoch"] == 3 and state["finished"]
    assert "Trained 3 epochs" in (run_copy / "report.md").read_text()


# ------------------------------------------------------------------------ (c) real SIGKILL
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    from vaekit.api import train

    epochs = 16  # K: the killed run is configured for K epochs and resumed without --epochs
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "vaekit", "train", "--epochs", str(epochs), "--out", str(killed), *TINY_ARGS]
    with open(tmp_path / "stdout", "w") as out, open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen(cmd, env=cli_env(), stdout=out, stderr=err)
        try:
            metrics = killed / "metrics.jsonl"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
                    break
                time.sleep(0.01)
            assert proc.poll() is None, f"training ended before it could be killed: {(tmp_path / 'stderr').read_text()}"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # Every file in the directory is intact.
    names = {p.name for p in killed.iterdir()}
    temps = sorted(n for n in names if n.startswith("."))
    # The atomic writer names its temp files `.<stem>.<random>.tmp<suffix>`; a kill during a write
    # can leave (at most) the one being written. The finished files are unaffected either way.
    # The run lock (.lock) stays by design: the kernel released it with the process.
    temps = [n for n in temps if n != ".lock"]
    assert len(temps) <= 1 and all(".tmp" in n for n in temps), temps
    assert {"config.json", "dataset.json", "model.safetensors", "checkpoint.safetensors", "metrics.jsonl"} <= names
    json.loads((killed / "config.json").read_text())
    json.loads((killed / "dataset.json").read_text())
    weights = load_file(str(killed / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values())
    load_file(str(killed / "checkpoint.safetensors"))
    rows = _metrics(killed)  # every line parses
    done = _checkpoint_state(killed / "checkpoint.safetensors")["epoch"]
    # metrics are written before the checkpoint, so they may be one epoch ahead of it.
    assert done <= len(rows) <= done + 1 and [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert 1 <= done < epochs

    rc, stdout, stderr = run_cli("train", "--resume", killed)
    assert rc == 0, stderr
    assert f"Epoch {epochs}/{epochs}" in stdout
    first = re.search(r"^Epoch (\d+)/", stdout, re.M)
    assert first and int(first.group(1)) == done + 1, stdout  # checkpointed epochs are not redone
    leftovers = sorted(p.name for p in killed.iterdir() if p.name.startswith("."))

    straight = train(epochs=epochs, out=tmp_path / "straight", overrides=list(TINY), echo=None, progress=False,
                     report=False)
    assert (killed / "model.safetensors").read_bytes() == (straight / "model.safetensors").read_bytes()
    _assert_same_tensors(killed / "checkpoint.safetensors", straight / "checkpoint.safetensors")
    assert _without_timing(_metrics(killed)) == _without_timing(_metrics(straight))
    # Record what the kill left behind (a stale temp file is harmless but never cleaned up).
    print(f"killed after checkpoint epoch {done} with {len(rows)} metrics rows; temp files after kill: {temps}; "
          f"after resume: {leftovers}")
