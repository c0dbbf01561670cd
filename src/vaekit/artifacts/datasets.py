"""Load the data a run was configured with, the fixed view used for evaluation, and the
run directory's ``dataset.json``.

``dataset.json`` format versions: 1 (no ``format_version`` key) — shape, levels, scaling
sentence; 2 — adds ``kind`` (image / vector / table) and ``preprocessing`` (the fitted
preprocessing, :meth:`vaekit.data.Preprocessing.to_json`), which every later load of data for
the run *applies* instead of re-fitting.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from vaekit.core.config import DataConfig
from vaekit.core.errors import RunDirError
from vaekit.data import Preprocessing, Splits, binarize, load_dataset

FORMAT_VERSION = 2

# Offsets so that the training shuffle, the static training binarisation and the evaluation
# binarisation never share a random stream.
STATIC_TRAIN_SALT = 1_000_003
EVAL_SALT = 2_000_029


def load_splits(cfg: DataConfig, preprocessing: Preprocessing | dict[str, Any] | None = None) -> Splits:
    """The splits ``cfg`` names; with ``preprocessing`` (a run's saved one) it is applied, not fitted."""
    return load_dataset(
        cfg.name, split_seed=cfg.split_seed, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
        image_size=cfg.image_size, limit=cfg.limit, preprocessing=preprocessing, missing=cfg.missing,
    )


def check_dataset_version(dataset: dict[str, Any], where: str | Path) -> int:
    """The ``format_version`` of a ``dataset.json`` dict (1 when absent); newer than
    :data:`FORMAT_VERSION` is a :class:`RunDirError`."""
    version = dataset.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RunDirError(f"{where}: format_version {version!r} is not a positive whole number; the file is damaged")
    if version > FORMAT_VERSION:
        raise RunDirError(
            f"{where} has format_version {version}: it was written by a newer vaekit (this one reads up to "
            f"{FORMAT_VERSION}); upgrade vaekit"
        )
    return version


def saved_preprocessing(dataset: dict[str, Any], where: str | Path) -> dict[str, Any] | None:
    """The fitted preprocessing saved in a run's ``dataset.json`` dict, or ``None`` (with a note on
    stderr) for a file written before preprocessing was saved — the data is then re-fitted,
    as that vaekit did."""
    check_dataset_version(dataset, where)
    pre = dataset.get("preprocessing")
    if pre is None:
        print(
            f"vaekit: note: {where} predates saved preprocessing (format 1); fitting the scaling on the data "
            "again, as the vaekit that wrote it did",
            file=sys.stderr,
        )
    return pre


def eval_view(x: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    """The data as the model is evaluated on it: with binarisation on, one fixed seeded draw
    (so ``vaekit evaluate`` numbers are reproducible); otherwise the data itself."""
    if cfg.binarize == "none":
        return x
    gen = torch.Generator().manual_seed(cfg.split_seed + EVAL_SALT)
    return binarize(x, "static", generator=gen)


def static_train_view(x: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    gen = torch.Generator().manual_seed(cfg.split_seed + STATIC_TRAIN_SALT)
    return binarize(x, "static", generator=gen)


def dataset_description(splits: Splits) -> dict:
    """What ``dataset.json`` records: enough to rebuild the model without loading the data, and
    the fitted preprocessing to apply to any later data (format :data:`FORMAT_VERSION`)."""
    info = splits.info
    return {
        "format_version": FORMAT_VERSION,
        "name": info.name, "shape": list(info.shape), "levels": info.levels, "n_classes": info.n_classes,
        "scaling": info.scaling, "is_image": info.is_image, "kind": info.kind,
        "n_train": len(splits.train), "n_val": len(splits.val), "n_test": len(splits.test),
        "preprocessing": None if info.preprocessing is None else info.preprocessing.to_json(),
    }
