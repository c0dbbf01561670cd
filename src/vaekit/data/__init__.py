"""Datasets for vaekit: named sources and file specs loaded into reproducible splits.

Public API: :func:`load_dataset`, :func:`list_datasets`, :func:`binarize`,
:func:`batch_indices` and the containers :class:`DatasetInfo`, :class:`ArrayData`,
:class:`Splits`. This package imports only :mod:`vaekit.core`.
"""

from vaekit.data.batching import batch_indices
from vaekit.data.binarize import binarize
from vaekit.data.load import list_datasets, load_dataset
from vaekit.data.types import ArrayData, DatasetInfo, Splits

__all__ = [
    "ArrayData", "DatasetInfo", "Splits", "batch_indices", "binarize", "list_datasets", "load_dataset",
]
