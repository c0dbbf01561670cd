"""Defaults that depend on what the data is (the model layer applies them when the user did
not choose).

Tables (``kind == "table"``: standardised numeric columns and one-hot categories, values
outside [0, 1]) are not pixels: binarising them is meaningless and a Bernoulli likelihood on
them learns nothing, so they default to ``data.binarize = "none"`` and the ``tabular``
likelihood (a Gaussian per numeric column, a softmax per categorical column — as SDV's TVAE,
Xu et al. 2019). Images and unnamed vectors keep the recipe's settings.
"""

from __future__ import annotations

from typing import Any, Mapping

from vaekit.data.types import DatasetInfo


def _kind(info: DatasetInfo | Mapping[str, Any]) -> str:
    if isinstance(info, DatasetInfo):
        return info.kind
    kind = info.get("kind")
    if kind:
        return str(kind)
    return "image" if info.get("is_image") else "vector"


def default_overrides(info: DatasetInfo | Mapping[str, Any]) -> dict[str, Any]:
    """Config overrides the data asks for, as a nested dict of config sections.

    ``info`` is a :class:`DatasetInfo` or a ``dataset.json`` dict. Tables give
    ``{"data": {"binarize": "none"}, "model": {"likelihood": {"name": "tabular"}}}``;
    everything else gives ``{}``. Apply them only to keys the user did not set."""
    if _kind(info) == "table":
        return {"data": {"binarize": "none"}, "model": {"likelihood": {"name": "tabular"}}}
    return {}
