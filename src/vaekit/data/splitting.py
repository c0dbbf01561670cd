"""Seeded, reproducible split of example indices into train / val / test."""

from __future__ import annotations

import numpy as np

from vaekit.core.errors import DataError


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Raise :class:`DataError` unless both fractions are in [0, 1) and sum below 1."""
    for label, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"{label}={value} is outside [0, 1); pass a fraction such as 0.1")
    if val_fraction + test_fraction >= 1.0:
        raise DataError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction} leaves no training data; "
            "make their sum smaller than 1"
        )


def _count(fraction: float, total: int) -> int:
    return max(1, int(round(fraction * total)))


def seeded_permutation(n: int, seed: int) -> np.ndarray:
    """A permutation of ``range(n)`` that depends only on ``n`` and ``seed``."""
    return np.random.default_rng(seed).permutation(n)


def three_way_split(
    n: int, *, seed: int, val_fraction: float, test_fraction: float, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``range(n)`` into (train, val, test) index arrays; fractions apply to ``n``.

    Each split gets at least one example; ``what`` names the dataset in errors.
    """
    check_fractions(val_fraction, test_fraction)
    n_test, n_val = _count(test_fraction, n), _count(val_fraction, n)
    if n - n_test - n_val < 1:
        raise DataError(
            f"{what} has only {n} examples, too few for train/val/test splits "
            f"({n_test} test, {n_val} val); provide at least 3 examples or smaller fractions"
        )
    perm = seeded_permutation(n, seed)
    return perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test]


def two_way_split(n: int, *, seed: int, val_fraction: float, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Split an official training set of ``n`` examples into (train, val) index arrays."""
    check_fractions(val_fraction, 0.0)
    n_val = _count(val_fraction, n)
    if n - n_val < 1:
        raise DataError(f"{what} has only {n} training examples, too few to hold out {n_val} for validation")
    perm = seeded_permutation(n, seed)
    return perm[n_val:], perm[:n_val]
