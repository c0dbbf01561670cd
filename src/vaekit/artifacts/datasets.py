"""Load the data a run was configured with, and the fixed view used for evaluation."""

from __future__ import annotations

import torch

from vaekit.core.config import DataConfig
from vaekit.data import Splits, binarize, load_dataset

# Offsets so that the training shuffle, the static training binarisation and the evaluation
# binarisation never share a random stream.
STATIC_TRAIN_SALT = 1_000_003
EVAL_SALT = 2_000_029


def load_splits(cfg: DataConfig) -> Splits:
    return load_dataset(
        cfg.name, split_seed=cfg.split_seed, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
        image_size=cfg.image_size, limit=cfg.limit,
    )


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
    """What ``dataset.json`` records: enough to rebuild the model without loading the data."""
    info = splits.info
    return {
        "name": info.name, "shape": list(info.shape), "levels": info.levels, "n_classes": info.n_classes,
        "scaling": info.scaling, "is_image": info.is_image,
        "n_train": len(splits.train), "n_val": len(splits.val), "n_test": len(splits.test),
    }
