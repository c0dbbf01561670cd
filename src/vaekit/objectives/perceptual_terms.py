"""The ``perceptual`` setting shared by the ELBO and IWAE objectives: a list of perceptual terms
(:mod:`vaekit.parts.perceptual`) whose weighted per-example penalties are added to the loss."""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.specs import Nested, Spec
from vaekit.core.types import Output
from vaekit.parts.registries import PERCEPTUAL

PerceptualSpecs = Annotated[tuple[Spec, ...], Nested(PERCEPTUAL, many=True)]


def build_terms(specs: tuple[Spec, ...], ctx: BuildContext) -> nn.ModuleList:
    return nn.ModuleList(PERCEPTUAL.build(spec, ctx, f"objective.perceptual[{i}]") for i, spec in enumerate(specs))


def penalty(terms: nn.ModuleList, out: Output, x: torch.Tensor) -> torch.Tensor | None:
    """Sum of the terms per example (B,), comparing x with the decoder's mean at the first sample; None without terms."""
    if not len(terms):
        return None
    x_rec = out.px.mean[0].to(x.dtype)  # (B, *shape)
    return torch.stack([term(x, x_rec) for term in terms]).sum(0)
