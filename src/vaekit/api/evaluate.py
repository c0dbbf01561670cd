"""``vaekit.evaluate``: evaluate a run directory and write ``eval.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaekit.artifacts import rundir
from vaekit.artifacts.load import LoadedRun, load
from vaekit.tasks.evaluate import evaluate_run


def evaluate(
    run: str | Path | LoadedRun, *, split: str = "test", k: int = 1000, limit: int | None = None, seed: int = 0,
    data: str | None = None, write: bool = True,
) -> dict[str, Any]:
    """Evaluate a trained run; returns the metrics and (``write=True``) saves ``DIR/eval.json``.

    All log-likelihood numbers are nats per example averaged over the evaluated examples;
    ``bits_per_dim`` = nll / (D ln 2).
    """
    # sha256 + epoch of the weights evaluated (taken before loading, so a concurrent save can
    # only make the stamp older, never newer, than the weights): `vaekit info` checks them.
    stamp = rundir.model_stamp(run.path if isinstance(run, LoadedRun) else Path(run)) if write else {}
    loaded = run if isinstance(run, LoadedRun) else load(run)
    result = evaluate_run(loaded, split=split, k=k, limit=limit, seed=seed, data=data)
    if write:
        rundir.write_json(loaded.path / rundir.EVAL, {**result, **stamp})
    return result
