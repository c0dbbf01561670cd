"""Checks on raw arrays: finite values, usable labels (shapes: :mod:`vaekit.data.array_prep`)."""

from __future__ import annotations

import numpy as np

from vaekit.core.errors import DataError


def check_finite(x: np.ndarray, where: str) -> None:
    """Raise :class:`DataError` counting NaN/inf values and naming the first bad row."""
    if not np.issubdtype(x.dtype, np.floating):
        return
    bad = ~np.isfinite(x.reshape(len(x), -1))
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataError(
            f"{where}: {int(bad.sum())} NaN/inf value(s) in {len(rows)} example(s), "
            f"first at row index {int(rows[0])}; remove or impute them before loading"
        )


def to_class_labels(y: np.ndarray, n: int, where: str) -> tuple[np.ndarray, int]:
    """Return labels as int64 class indices in 0..K-1 and K.

    Non-negative integers are kept as they are; anything else (negative numbers, strings)
    is mapped to the index of its value in the sorted unique values.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{where}: labels have shape {y.shape} but there are {n} examples; give one label per example")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise DataError(f"{where}: labels must be whole numbers or names; found non-integer or NaN values")
        y = y.astype(np.int64)
    if np.issubdtype(y.dtype, np.integer) and (len(y) == 0 or y.min() >= 0):
        y = y.astype(np.int64)
        return y, int(y.max()) + 1 if len(y) else 0
    _, inverse = np.unique(y, return_inverse=True)
    inverse = inverse.astype(np.int64).reshape(-1)
    return inverse, int(inverse.max()) + 1
