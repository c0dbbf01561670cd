"""The models registry: ``model.name`` picks the class; the trainer never branches on it.

Every model answers the same methods: ``forward(x, cond=None, samples=S) -> Output``,
``encode(x, cond=None) -> q(z|x)``, ``decode(z, cond=None) -> p(x|z)``,
``sample(n, generator=, temperature=, cond=) -> (n, *shape)`` and ``embed(x, cond=None) -> (B, L)``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.registry import Registry

MODELS: Registry = Registry("model")


def build_model(spec: dict[str, Any], ctx: BuildContext) -> nn.Module:
    """Build the model a (possibly partial) ``model`` spec describes for data described by ``ctx``."""
    return MODELS.build(spec, ctx, "model")
