"""The containers every loader returns: dataset facts, one in-memory split, all three splits."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a loaded dataset that models and reports need.

    ``levels`` is the number of discrete intensity levels after scaling to [0, 1]
    (256 for 8-bit images, 17 for ``digits``) or ``None`` for continuous data.
    ``scaling`` is one sentence saying how raw values became the float tensor.
    """

    name: str
    shape: tuple[int, ...]
    levels: int | None
    n_classes: int | None
    scaling: str
    is_image: bool


@dataclass
class ArrayData:
    """One split held in memory: ``x`` float32 (N, *shape), ``y`` int64 (N,) or ``None``."""

    x: torch.Tensor
    y: torch.Tensor | None

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Splits:
    """Train, validation and test splits plus the dataset's :class:`DatasetInfo`."""

    train: ArrayData
    val: ArrayData
    test: ArrayData
    info: DatasetInfo


@dataclass(frozen=True)
class LoadOptions:
    """The keyword options of :func:`vaekit.data.load_dataset`, passed to every loader."""

    split_seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    image_size: int | None = None
    limit: int | None = None
