"""Checks on raw arrays: finite values, sensible shapes, usable labels."""

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


def to_example_shape(x: np.ndarray, where: str) -> tuple[np.ndarray, bool]:
    """Return ``x`` as (N, D) tabular or (N, C, H, W) image data, plus ``is_image``.

    (N, H, W) becomes (N, 1, H, W); (N, H, W, C) with C in {1, 3, 4} becomes channels-first;
    (N, C, H, W) with C in {1, 3, 4} is kept.
    """
    if x.ndim == 0 or x.size == 0 or len(x) == 0:
        raise DataError(f"{where}: the array is empty; provide at least 3 examples")
    if x.ndim == 2:
        return x, False
    if x.ndim == 3:
        return x[:, None, :, :], True
    if x.ndim == 4:
        if x.shape[1] in (1, 3, 4):
            return x, True
        if x.shape[3] in (1, 3, 4):
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), True
        raise DataError(
            f"{where}: 4-d array of shape {x.shape} has no channel axis of size 1, 3 or 4; "
            "save images as (N, C, H, W) or (N, H, W, C)"
        )
    raise DataError(
        f"{where}: array has {x.ndim} dimension(s) {x.shape}; expected (N, D) tabular data "
        "or (N, H, W) / (N, H, W, C) / (N, C, H, W) images"
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
