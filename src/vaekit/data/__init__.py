"""Datasets for vaekit: named sources and file specs loaded into reproducible splits.

Public API: :func:`load_dataset`, :func:`list_datasets`, :func:`binarize`,
:func:`batch_indices`, :func:`default_overrides`, the containers :class:`DatasetInfo`,
:class:`ArrayData`, :class:`Splits`, :class:`Table`, and the fitted preprocessing
:class:`Preprocessing` (``to_json`` / ``from_json`` / ``apply`` / ``invert``). This package
imports only :mod:`vaekit.core`.
"""

from vaekit.data.batching import batch_indices
from vaekit.data.binarize import binarize
from vaekit.data.defaults import default_overrides
from vaekit.data.load import list_datasets, load_dataset
from vaekit.data.preprocessing import Preprocessing
from vaekit.data.table import Table
from vaekit.data.types import ArrayData, DatasetInfo, Splits

__all__ = [
    "ArrayData", "DatasetInfo", "Preprocessing", "Splits", "Table", "batch_indices", "binarize",
    "default_overrides", "list_datasets", "load_dataset",
]
