"""The ``breast-cancer`` table: scikit-learn's bundled Wisconsin diagnostic data (offline).

569 tumours x 30 numeric features (means, standard errors and worst values of ten cell-nucleus
measurements), label 0 = malignant, 1 = benign. Loaded as a :class:`~vaekit.data.table.Table`
with the feature names as column names, so it gets the tabular preprocessing (standardised
columns) and the tabular defaults (``vaekit.data.default_overrides``).
"""

from __future__ import annotations

import numpy as np

from vaekit.data.assemble import splits_from_table
from vaekit.data.catalog import DATASETS, NamedSource
from vaekit.data.table import Table
from vaekit.data.types import LoadOptions, Splits


def _probe() -> tuple[bool, str]:
    return True, "bundled with scikit-learn (sklearn.datasets.load_breast_cancer)"


def load_breast_cancer_splits(spec: str, opts: LoadOptions) -> Splits:
    """30 numeric columns (seeded 80/10/10 split), labels 0 malignant / 1 benign."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    data = np.asarray(bunch.data, dtype=np.float64)
    table = Table(tuple(str(n) for n in bunch.feature_names), tuple(data[:, j].copy() for j in range(data.shape[1])))
    return splits_from_table(spec, table, np.asarray(bunch.target, dtype=np.int64), opts, label_name="diagnosis")


DATASETS.register("breast-cancer")(
    NamedSource(
        description="scikit-learn Wisconsin breast cancer table, 569 rows x 30 numeric columns, 2 classes",
        shape=(30,), n_examples=569, probe=_probe, load=load_breast_cancer_splits,
    )
)
