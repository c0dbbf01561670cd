"""The evaluation data a task runs on: a split of the run's dataset (or another dataset of the
same shape), in the fixed view the model is evaluated on."""

from __future__ import annotations

import torch

from vaekit.artifacts.datasets import eval_view, load_splits, saved_preprocessing
from vaekit.artifacts.rundir import DATASET
from vaekit.artifacts.load import LoadedRun
from vaekit.core.errors import DataError, VaekitError
from vaekit.core.types import Batch
from vaekit.data import ArrayData

SPLITS = ("train", "val", "test")


def split_data(run: LoadedRun, split: str = "test", data: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x, y) of ``split``; see :func:`split_batch` (which also gives the observed mask)."""
    batch = split_batch(run, split, data)
    return batch.x, batch.y


def split_batch(run: LoadedRun, split: str = "test", data: str | None = None) -> Batch:
    """``split`` as a :class:`Batch` (x, y, and the observed ``mask`` of a table with missing cells
    loaded with ``data.missing = "mask"``); ``data`` names another dataset to use instead of the run's own.

    Both go through the run's saved preprocessing (``dataset.json``), applied and never re-fitted,
    so the same raw values always give the same model inputs (a run from before preprocessing
    was saved falls back to fitting, with a note)."""
    if split not in SPLITS:
        raise VaekitError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    cfg = run.config.data if data is None else run.config.data.model_copy(update={"name": data, "limit": None})
    splits = load_splits(cfg, preprocessing=saved_preprocessing(run.dataset, run.path / DATASET))
    if tuple(splits.info.shape) != run.shape:
        raise DataError(
            f"dataset {cfg.name!r} has examples of shape {tuple(splits.info.shape)} but the model in {run.path} "
            f"was trained on shape {run.shape}; use data of the same shape (e.g. --data {run.dataset['name']})"
        )
    part: ArrayData = getattr(splits, split)
    return Batch(eval_view(part.x, cfg), part.y, part.mask)
