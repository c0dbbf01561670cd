"""The ``digits`` dataset: scikit-learn's bundled 1,797 8x8 handwritten digits (values 0..16)."""

from __future__ import annotations

import numpy as np
import torch

from vaekit.data.assemble import finish_splits
from vaekit.data.catalog import DATASETS, NamedSource
from vaekit.data.splitting import three_way_split
from vaekit.data.types import LoadOptions, Splits


def _probe() -> tuple[bool, str]:
    return True, "bundled with scikit-learn (sklearn.datasets.load_digits)"


def load_digits_splits(spec: str, opts: LoadOptions) -> Splits:
    """Load ``digits`` scaled by /16 and split with a seeded permutation (no official test set)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32)[:, None, :, :] / 16.0
    train, val, test = three_way_split(
        len(images), seed=opts.split_seed, val_fraction=opts.val_fraction,
        test_fraction=opts.test_fraction, what=spec,
    )
    return finish_splits(
        name=spec, x=torch.from_numpy(np.ascontiguousarray(images)),
        y=torch.from_numpy(np.asarray(bunch.target, dtype=np.int64)), train=train, val=val, test=test,
        levels=17, n_classes=10, scaling="value / 16 -> [0, 1]", is_image=True, opts=opts,
    )


DATASETS.register("digits")(
    NamedSource(
        description="scikit-learn handwritten digits, 1,797 8x8 grayscale images, 17 levels, 10 classes",
        shape=(1, 8, 8), n_examples=1797, probe=_probe, load=load_digits_splits,
    )
)
