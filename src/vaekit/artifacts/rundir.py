"""The layout of a run directory and safe reading/writing of its files.

    run/
      config.json          full resolved config (the four sections)
      dataset.json         what the data looked like (shape, levels, classes, scaling)
      model.safetensors    weights with the best validation loss so far
      checkpoint.safetensors  resume state: weights, optimiser, schedule, RNG, epoch (no pickle)
      metrics.jsonl        one JSON object per finished epoch
      eval.json            written by ``vaekit evaluate``
      *.png, report.md     pictures and the report
Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vaekit.core.atomic import atomic_path, write_text_atomic
from vaekit.core.errors import RunDirError

CONFIG = "config.json"
DATASET = "dataset.json"
MODEL = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
EVAL = "eval.json"
REPORT = "report.md"


def write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise RunDirError(f"{path} is missing; is {path.parent} a vaekit run directory (made by `vaekit train`)?")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunDirError(f"{path} is not valid JSON ({err}); the run directory is damaged") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    # safetensors refuses shared or non-contiguous storage: give it independent contiguous copies.
    clean = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(clean, str(tmp), metadata=metadata)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise RunDirError(f"{path} is missing; the run has no saved weights yet (did training finish an epoch?)")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise RunDirError(f"{path} is corrupt ({err}); resume from checkpoint or retrain") from None


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return fh.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise RunDirError(f"{path} is corrupt ({err}); it cannot be used to resume") from None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / METRICS
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line (should not happen: the file is rewritten atomically)
    return rows


def write_metrics(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(run_dir / METRICS, "".join(json.dumps(r) + "\n" for r in rows))
