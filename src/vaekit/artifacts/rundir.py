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

import hashlib
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
    if metadata and len(metadata) > 1:
        # safetensors stores metadata in a hash map whose order changes from process to process;
        # one JSON entry keeps the same weights byte-identical whoever writes them.
        metadata = {"vaekit": json.dumps(metadata, sort_keys=True)}
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
            meta = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise RunDirError(f"{path} is corrupt ({err}); it cannot be used") from None
    packed = meta.get("vaekit")
    if packed is not None and len(meta) == 1:
        try:
            inner = json.loads(packed)
        except json.JSONDecodeError:
            inner = None
        if isinstance(inner, dict) and "state" not in inner:  # weights' metadata, not a resume checkpoint's
            return {str(k): str(v) for k, v in inner.items()}
    return meta


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


def file_sha256(path: Path) -> str | None:
    """Hex sha256 of a file's bytes (``None`` if it does not exist)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def model_stamp(run_dir: Path) -> dict[str, Any]:
    """What ``eval.json`` records about the weights it evaluated: sha256 and epoch of ``model.safetensors``."""
    path = Path(run_dir) / MODEL
    try:
        epoch = read_metadata(path).get("epoch") if path.is_file() else None
    except RunDirError:  # a corrupt file: loading it reports that properly
        epoch = None
    return {"model_sha256": file_sha256(path), "model_epoch": int(epoch) if epoch and epoch.isdigit() else epoch}


def eval_staleness(run_dir: Path, ev: dict[str, Any]) -> str | None:
    """Why ``eval.json`` no longer describes ``model.safetensors`` (``None`` if it still does)."""
    recorded = ev.get("model_sha256")
    if recorded is None:
        return "it records no model sha256 (written by an older vaekit), so it may describe older weights"
    current = file_sha256(Path(run_dir) / MODEL)
    if current != recorded:
        was = f" from epoch {ev['model_epoch']}" if ev.get("model_epoch") is not None else ""
        return f"it describes other weights{was} than the current {MODEL}"
    return None


def state_dict_mismatch(expected: dict[str, Any], got: dict[str, Any]) -> str:
    """One line naming the missing and unexpected keys (and shape differences) between the
    state dict a model expects and the one a file holds, e.g. for ``load_state_dict`` errors."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = sorted(
        k for k in set(expected) & set(got)
        if hasattr(expected[k], "shape") and hasattr(got[k], "shape") and tuple(expected[k].shape) != tuple(got[k].shape)
    )

    def few(keys: list[str]) -> str:
        return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")

    parts = []
    if missing:
        parts.append(f"missing keys: {few(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {few(unexpected)}")
    if shapes:
        parts.append("shape differs for: " + few([f"{k} {tuple(got[k].shape)} vs {tuple(expected[k].shape)}" for k in shapes]))
    return "; ".join(parts) or "no key differs"
