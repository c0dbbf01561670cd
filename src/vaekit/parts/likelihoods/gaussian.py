"""Gaussian likelihood with a learned variance.

``variance="per_pixel"``: the decoder predicts a mean and a scale for every element (P = 2).
``variance="shared"``: the decoder predicts means (P = 1) and one learned scale is shared by
all elements, as in the classic "sigma-VAE" (Rybkin et al. 2021) calibrated decoder.
The scale is ``softplus(raw) + 1e-3``: bounded away from zero so the density of data on a
discrete grid cannot run off to infinity. ``log_prob`` is a *density* (nats), not a probability.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.core.build import BuildContext
from vaekit.parts.registries import LIKELIHOODS

MIN_SCALE = 1e-3


@LIKELIHOODS.register("gaussian")
class GaussianLikelihood(nn.Module):
    discrete = False

    def __init__(self, ctx: BuildContext, *, variance: Literal["per_pixel", "shared"] = "per_pixel") -> None:
        super().__init__()
        self.event_dims = len(ctx.shape)
        self.variance = variance
        self.params_per_element = 2 if variance == "per_pixel" else 1
        if variance == "shared":
            # softplus(-1.9) + 1e-3 ~= 0.14: a moderate start for data in [0, 1].
            self.raw_scale = nn.Parameter(torch.tensor(-1.9))

    def forward(self, params: torch.Tensor) -> Distribution:
        mean = params.select(-self.event_dims - 1, 0)  # (..., *shape)
        raw = params.select(-self.event_dims - 1, 1) if self.variance == "per_pixel" else self.raw_scale.expand_as(mean)
        scale = F.softplus(raw) + MIN_SCALE
        return Independent(Normal(mean, scale, validate_args=False), self.event_dims)
