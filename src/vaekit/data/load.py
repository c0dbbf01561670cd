"""Resolve a dataset spec string to splits, and list what is available."""

from __future__ import annotations

from vaekit.core.errors import DataError
from typing import Any

from vaekit.data import breast_cancer, digits, forms, idx_datasets, shapes  # noqa: F401  (register the sources)
from vaekit.data.catalog import DATASETS, SPEC_FORMS
from vaekit.data.preprocessing import Preprocessing, as_preprocessing
from vaekit.data.types import LoadOptions, Splits


def _unknown(spec: str) -> DataError:
    forms_text = ", ".join(SPEC_FORMS.get(name).usage for name in SPEC_FORMS.names())
    return DataError(
        f"unknown dataset {spec!r}; known names: {', '.join(DATASETS.names())}; "
        f"or give a file with one of: {forms_text}"
    )


def load_dataset(
    spec: str, *, split_seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1,
    image_size: int | None = None, limit: int | None = None,
    preprocessing: Preprocessing | dict[str, Any] | None = None, missing: str = "refuse",
) -> Splits:
    """Load a named dataset or a ``prefix:PATH`` spec into reproducible train/val/test splits.

    ``limit`` keeps at most that many training examples (after splitting).
    ``preprocessing`` (a :class:`Preprocessing` or its ``to_json()`` dict, e.g. a run's
    ``dataset.json["preprocessing"]``) is *applied* to the raw data instead of fitting a new one;
    data that does not fit it (other shape, columns, kind) is a :class:`DataError`.
    ``missing``: ``"refuse"`` (missing cells are an error) or ``"mask"`` (a table's missing cells
    are kept as a mask, ``ArrayData.mask``; :mod:`vaekit.data.missing`).
    """
    if missing not in ("refuse", "mask"):
        raise DataError(f"missing={missing!r} is not understood; choose 'refuse' or 'mask'")
    opts = LoadOptions(split_seed, val_fraction, test_fraction, image_size, limit, as_preprocessing(preprocessing), missing)
    key = spec.strip()
    if key.lower() in DATASETS:
        return DATASETS.get(key.lower()).load(key, opts)
    prefix, sep, arg = key.partition(":")
    if sep and prefix.lower() in SPEC_FORMS:
        return SPEC_FORMS.get(prefix.lower()).load(key, arg, opts)
    raise _unknown(spec)


def list_datasets() -> list[dict]:
    """One row per named dataset (with availability) plus one per file-based spec form."""
    rows = []
    for name in DATASETS.names():
        source = DATASETS.get(name)
        available, where = source.probe()
        rows.append({
            "name": name, "shape": source.shape, "n_examples": source.n_examples,
            "available": available, "where": where, "description": source.description,
        })
    for name in SPEC_FORMS.names():
        form = SPEC_FORMS.get(name)
        rows.append({
            "name": form.usage, "shape": None, "n_examples": None, "available": True,
            "where": "any path you give", "description": form.description,
        })
    return rows
