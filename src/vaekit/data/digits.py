"""The ``digits`` dataset: scikit-learn's bundled 1,797 8x8 handwritten digits (values 0..16)."""

from __future__ import annotations

import numpy as np

from vaekit.data.array_prep import fixed_divide
from vaekit.data.assemble import splits_from_arrays
from vaekit.data.catalog import DATASETS, NamedSource
from vaekit.data.types import LoadOptions, Splits


def _probe() -> tuple[bool, str]:
    return True, "bundled with scikit-learn (sklearn.datasets.load_digits)"


def load_digits_splits(spec: str, opts: LoadOptions) -> Splits:
    """Load ``digits`` scaled by /16 and split with a seeded permutation (no official test set)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32)  # (N, 8, 8), whole numbers 0..16
    rule = fixed_divide(images, span=16.0, levels=17, description="value / 16 -> [0, 1]", where=spec)
    return splits_from_arrays(
        spec, images, np.asarray(bunch.target, dtype=np.int64), opts, fixed=rule, n_classes=10,
    )


DATASETS.register("digits")(
    NamedSource(
        description="scikit-learn handwritten digits, 1,797 8x8 grayscale images, 17 levels, 10 classes",
        shape=(1, 8, 8), n_examples=1797, probe=_probe, load=load_digits_splits,
    )
)
