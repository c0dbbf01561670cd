"""The dataset registries: named sources (``digits``) and spec forms (``npy:PATH``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from vaekit.core.registry import Registry
from vaekit.data.types import LoadOptions, Splits


@dataclass(frozen=True)
class NamedSource:
    """A dataset known by name.

    ``probe()`` returns ``(available, where)`` without loading; ``load(spec, opts)`` returns splits.
    """

    description: str
    shape: tuple[int, ...]
    n_examples: int
    probe: Callable[[], tuple[bool, str]]
    load: Callable[[str, LoadOptions], Splits]


@dataclass(frozen=True)
class SpecForm:
    """A ``prefix:ARGUMENT`` spec; ``load(spec, argument, opts)`` returns splits."""

    usage: str
    description: str
    load: Callable[[str, str, LoadOptions], Splits]


DATASETS: Registry[NamedSource] = Registry("dataset")
SPEC_FORMS: Registry[SpecForm] = Registry("dataset spec form")
