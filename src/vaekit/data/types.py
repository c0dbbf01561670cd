"""The containers every loader returns: dataset facts, one in-memory split, all three splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:
    from vaekit.data.preprocessing import Preprocessing

KINDS = ("image", "vector", "table")


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a loaded dataset that models and reports need.

    ``levels`` is the number of discrete intensity levels after scaling to [0, 1]
    (256 for 8-bit images, 17 for ``digits``) or ``None`` for continuous data.
    ``scaling`` is one sentence saying how raw values became the float tensor.
    ``kind`` says what the data is: ``"image"`` (N, C, H, W), ``"vector"`` (an unnamed (N, D)
    array scaled to [0, 1]) or ``"table"`` (named columns, standardised / one-hot encoded).
    ``preprocessing`` is the fitted :class:`~vaekit.data.preprocessing.Preprocessing` (saved in
    ``dataset.json`` and applied, never re-fitted, to later data).
    """

    name: str
    shape: tuple[int, ...]
    levels: int | None
    n_classes: int | None
    scaling: str
    is_image: bool
    kind: str = ""
    preprocessing: "Preprocessing | None" = None

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", "image" if self.is_image else "vector")


@dataclass
class ArrayData:
    """One split held in memory: ``x`` float32 (N, *shape), ``y`` int64 (N,) or ``None``.

    ``factors`` int64 (N, K): the known generative factors of each example (datasets such as
    ``shapes`` that have them; see :data:`vaekit.data.shapes.FACTORS`), else ``None``;
    ``mask``: see below."""

    x: torch.Tensor
    y: torch.Tensor | None
    factors: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    """bool (N, *shape), True where ``x`` is observed: set for a table loaded with
    ``data.missing = "mask"`` that has missing cells (they hold 0 in ``x``), else ``None``."""

    def __len__(self) -> int:
        return int(self.x.shape[0])


class Splits:
    """Train, validation and test splits plus the dataset's :class:`DatasetInfo`.

    A split may be given as a function that builds it: it runs on first access and its result
    is kept. Image loaders use that, so a command that reads one split (``vaekit evaluate`` on
    the test split) preprocesses only that split's examples (10,000 of Fashion-MNIST's 70,000)."""

    def __init__(self, train: ArrayData | Callable[[], ArrayData], val: ArrayData | Callable[[], ArrayData],
                 test: ArrayData | Callable[[], ArrayData], info: DatasetInfo) -> None:
        self._parts: dict[str, ArrayData | Callable[[], ArrayData]] = {"train": train, "val": val, "test": test}
        self.info = info

    def _part(self, name: str) -> ArrayData:
        part = self._parts[name]
        if not isinstance(part, ArrayData):
            part = self._parts[name] = part()
        return part

    @property
    def train(self) -> ArrayData:
        return self._part("train")

    @property
    def val(self) -> ArrayData:
        return self._part("val")

    @property
    def test(self) -> ArrayData:
        return self._part("test")


@dataclass(frozen=True)
class LoadOptions:
    """The keyword options of :func:`vaekit.data.load_dataset`, passed to every loader."""

    split_seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    image_size: int | None = None
    limit: int | None = None
    preprocessing: "Preprocessing | None" = None
    """A saved preprocessing to apply instead of fitting one."""
    missing: str = "refuse"
    """``"refuse"`` or ``"mask"``: what a table's missing cells do (``DataConfig.missing``)."""
