"""The runs a server explores, each loaded once at startup and addressed by an id chosen there.

A client names a run by its index (``"0"``, ``"1"`` ...) or by the name shown in ``/api/runs``
(the run folder's name, made unique); never by a path, so nothing a client sends can reach files
outside the run directories given on the command line.

Per run, :class:`RunSlot` keeps the loaded model, a lock (one inference at a time per model: the
weights are shared, and serialising keeps memory bounded and results deterministic) and, computed
lazily on first use, the explorer's view of the test split (:mod:`vaekit.serve.stats`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vaekit.artifacts.load import LoadedRun, load


@dataclass
class RunSlot:
    """One loaded run: ``id`` (its index as text), ``name`` (unique), the run, and its lock."""

    id: str
    name: str
    run: LoadedRun
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The run's worker thread: model work runs here, off the event loop, one request at a time.
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="vaekit-run"))
    cache: dict[str, Any] = field(default_factory=dict)  # lazily computed views (stats, map, scores)

    @property
    def model(self) -> torch.nn.Module:
        return self.run.model

    @property
    def kind(self) -> str:
        """``image``, ``vector`` or ``table``: what the run was trained on."""
        kind = self.run.dataset.get("kind") or (self.run.dataset.get("preprocessing") or {}).get("kind")
        if kind:
            return str(kind)
        return "image" if len(self.run.shape) == 3 else "vector"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.run.shape

    @property
    def latent_dim(self) -> int:
        return int(self.model.latent_dim)

    @property
    def n_classes(self) -> int:
        """Classes the model is conditioned on (0 for an unconditional run)."""
        return int(getattr(self.model, "cond_dim", 0) or 0)

    @property
    def class_names(self) -> list[str]:
        """Names of the data's classes: the saved class list (text labels) or the indices."""
        pre = self.run.dataset.get("preprocessing") or {}
        classes = (pre.get("label") or {}).get("classes")
        if classes:
            return [str(c) for c in classes]
        n = self.n_classes or int(self.run.dataset.get("n_classes") or 0)
        return [str(i) for i in range(n)]


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 2
    while out in taken or out.isdigit():  # digits are reserved for indices
        out, i = f"{name}-{i}", i + 1
    return out


def load_slots(run_dirs: list[str | Path], *, device: str = "cpu") -> list[RunSlot]:
    """Load every run directory (a clear :class:`RunDirError` naming a missing or bad one)."""
    from vaekit.serve.server import check_run_dirs

    check_run_dirs(run_dirs)
    slots: list[RunSlot] = []
    taken: set[str] = set()
    for i, path in enumerate(run_dirs):
        path = Path(path)
        run = load(path, device=device)
        name = _unique(path.resolve().name or f"run{i}", taken)
        taken.add(name)
        slots.append(RunSlot(id=str(i), name=name, run=run))
    return slots


class Slots:
    """The loaded runs, looked up by id or name (:class:`KeyError` for anything else)."""

    def __init__(self, slots: list[RunSlot]) -> None:
        self.items = slots
        self._by_key = {s.id: s for s in slots} | {s.name: s for s in slots}

    def get(self, key: str | int | None) -> RunSlot:
        if key is None or key == "":
            return self.items[0]
        found = self._by_key.get(str(key))
        if found is None:
            known = ", ".join(f"{s.id} ({s.name})" for s in self.items)
            raise KeyError(f"unknown run {str(key)[:60]!r}; this server has: {known}")
        return found
