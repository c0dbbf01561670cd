"""Fitted preprocessing: fitted once on a training split, saved as JSON, applied to new data.

A :class:`Preprocessing` records *everything* that turned raw values into the float32 tensor a
model sees: the scaling rule and its fitted parameters, grey levels, channel layout and resize
for images, column names and per-column encodings for tables. A trained run saves it in
``dataset.json`` (``"preprocessing"``); any later data for that run — its own splits reloaded
tomorrow, or ``--data OTHER`` — is *applied* through the saved object and never re-fitted, so a
score or a code means the same thing on every day (ARCHITECTURE.md, "preprocessing is saved").

Kinds (``to_json()["kind"]``):

* ``"image"`` and ``"vector"`` — :class:`vaekit.data.array_prep.ArrayPreprocessing`: numeric
  arrays scaled into [0, 1] (images (N, C, H, W); vectors (N, D) from ``npy:``/``npz:``).
* ``"table"`` — :class:`vaekit.data.table.TablePreprocessing`: named columns, numeric ones
  standardised, categorical ones one-hot encoded (``csv:`` files and named tables).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vaekit.core.errors import DataError

KINDS = ("image", "vector", "table")


class Preprocessing:
    """The interface every fitted preprocessing implements (see the module docstring).

    Attributes: ``kind`` (one of :data:`KINDS`), ``shape`` (one example's shape as the model
    sees it), ``levels`` (discrete grey levels in [0, 1] or ``None``), ``description`` (one
    sentence for reports).
    """

    kind: str
    shape: tuple[int, ...]
    levels: int | None
    description: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict that :meth:`from_json` turns back into an equal object."""
        raise NotImplementedError

    @staticmethod
    def from_json(data: dict[str, Any]) -> "Preprocessing":
        """Rebuild a saved preprocessing; an unknown ``kind`` is a :class:`DataError`."""
        if isinstance(data, Preprocessing):
            return data
        if not isinstance(data, dict) or "kind" not in data:
            raise DataError(f"saved preprocessing must be a dict with a 'kind'; got {type(data).__name__}")
        kind = data["kind"]
        if kind in ("image", "vector"):
            from vaekit.data.array_prep import ArrayPreprocessing

            return ArrayPreprocessing.from_json(data)
        if kind == "table":
            from vaekit.data.table import TablePreprocessing

            return TablePreprocessing.from_json(data)
        raise DataError(
            f"saved preprocessing has unknown kind {kind!r} (known: {', '.join(KINDS)}); "
            "it was probably written by a newer vaekit; upgrade vaekit"
        )

    def apply(self, raw: Any) -> torch.Tensor:
        """Raw data (a numpy array, or a :class:`~vaekit.data.table.Table`) -> float32 (N, *shape)."""
        raise NotImplementedError

    def invert(self, x: torch.Tensor | np.ndarray) -> Any:
        """Model-space values (N, *shape) -> raw values in original units (numpy, or a Table)."""
        raise NotImplementedError


def as_preprocessing(value: "Preprocessing | dict[str, Any] | None") -> "Preprocessing | None":
    """Accept a :class:`Preprocessing`, its JSON dict, or ``None``."""
    if value is None or isinstance(value, Preprocessing):
        return value
    return Preprocessing.from_json(value)
