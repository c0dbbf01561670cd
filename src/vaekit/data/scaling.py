"""Map raw numeric arrays to float32 values in [0, 1] and describe how."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scaler:
    """An affine map ``(x - low) / span`` fitted on training data, then clipped to [0, 1]."""

    low: np.ndarray | float
    span: np.ndarray | float
    levels: int | None
    description: str
    clip: bool

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = (x.astype(np.float64) - self.low) / self.span
        if self.clip:
            out = np.clip(out, 0.0, 1.0)
        return out.astype(np.float32)


def fit_scaler(train: np.ndarray, *, is_image: bool) -> Scaler:
    """Choose the scaling rule from the training data's dtype and range.

    bool -> {0, 1}; integers within 0..255 -> /255 (256 levels); floats already within
    [0, 1] -> kept; anything else -> min-max to [0, 1] using the training split's minimum
    and maximum (per feature for tabular data, over all pixels for images), val/test clipped.
    """
    if train.dtype == np.bool_:
        return Scaler(0.0, 1.0, 2, "bool -> {0, 1}", clip=False)
    low, high = float(train.min()), float(train.max())
    if np.issubdtype(train.dtype, np.integer) and low >= 0 and high <= 255:
        return Scaler(0.0, 255.0, 256, "integer value / 255 -> [0, 1]", clip=True)
    if np.issubdtype(train.dtype, np.floating) and low >= 0.0 and high <= 1.0:
        return Scaler(0.0, 1.0, None, "float values already in [0, 1], kept as they are", clip=True)
    if is_image:
        span = high - low if high > low else 1.0
        return Scaler(
            low, span, None,
            f"min-max over all pixels of the train split ({low:g}..{high:g}) -> [0, 1], val/test clipped",
            clip=True,
        )
    flat = train.reshape(len(train), -1).astype(np.float64)
    mins, maxs = flat.min(axis=0), flat.max(axis=0)
    spans = np.where(maxs > mins, maxs - mins, 1.0)
    return Scaler(
        mins, spans, None,
        "per-feature min-max using the train split's min and max -> [0, 1], val/test clipped "
        "(constant features -> 0)",
        clip=True,
    )
