"""The context a part is built with, so that no part reaches into global config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BuildContext:
    """Facts about the data and the model being assembled, passed to every part constructor.

    ``shape``: one example's shape, e.g. (1, 28, 28) or (30,); ``levels``: discrete values per
    element (256 for 8-bit images) or ``None``; ``n_classes``: label count or ``None``;
    ``n_train``: training examples (objectives such as beta-TCVAE need it); ``dataset``: the
    run's ``dataset.json`` (fitted preprocessing, column groups ...). A parent assembling its
    children fills in what they need: ``latent_dim``, ``features`` (encoder output size),
    ``params_per_element`` (decoder outputs per data element), ``cond_dim`` (width of the
    conditioning vector, 0 = unconditional). ``parent`` is the loaded parent stage, if any.
    """

    shape: tuple[int, ...]
    levels: int | None = None
    n_classes: int | None = None
    n_train: int = 0
    dataset: dict[str, Any] = field(default_factory=dict)
    latent_dim: int = 0
    features: int = 0
    params_per_element: int = 1
    cond_dim: int = 0
    parent: Any = None

    def but(self, **changes: Any) -> "BuildContext":
        """A copy with some fields changed (what a parent tells its children)."""
        return dataclasses.replace(self, **changes)

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    @classmethod
    def from_dataset(cls, dataset: dict[str, Any], parent: Any = None) -> "BuildContext":
        """From a ``dataset.json`` description."""
        return cls(
            shape=tuple(int(s) for s in dataset["shape"]), levels=dataset.get("levels"),
            n_classes=dataset.get("n_classes"), n_train=int(dataset.get("n_train", 0)), dataset=dataset,
            parent=parent,
        )
