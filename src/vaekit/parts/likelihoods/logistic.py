"""Discretised logistic likelihood for data on a grid of ``levels`` values in [0, 1].

Salimans et al. 2017 (PixelCNN++), with one logistic per element instead of a mixture: the
probability of the bin around x is CDF(x + h) - CDF(x - h) with h = half a bin width, and the
edge bins absorb the tails, so probabilities over the grid sum to one and ``log_prob`` is a
proper log-probability (nats) for 8-bit (levels=256) or any other discrete data.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, constraints

from vaekit.core.errors import ConfigError
from vaekit.core.build import BuildContext
from vaekit.parts.registries import LIKELIHOODS


class DiscretizedLogistic(Distribution):
    arg_constraints = {"loc": constraints.real, "log_scale": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, loc: torch.Tensor, log_scale: torch.Tensor, levels: int) -> None:
        self.loc, self.log_scale, self.levels = loc, log_scale, levels
        self.half_bin = 0.5 / (levels - 1)
        super().__init__(batch_shape=loc.shape, validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc.clamp(0.0, 1.0)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        inv_s = torch.exp(-self.log_scale)
        centred = x - self.loc
        upper = inv_s * (centred + self.half_bin)  # (B, *shape)
        lower = inv_s * (centred - self.half_bin)
        log_cdf_upper = F.logsigmoid(upper)  # log CDF(x + h): the bottom bin's mass
        log_sf_lower = F.logsigmoid(-lower)  # log (1 - CDF(x - h)): the top bin's mass
        # Inner bins: log(sigmoid(u) - sigmoid(l)). Above the location this difference of two
        # numbers near 1 cancels catastrophically in float32, so use the mirror identity
        # sigmoid(u) - sigmoid(l) = sigmoid(-l) - sigmoid(-u) there: both sides then work in the
        # small tail. log(a - b) = log a + log(-expm1(log b - log a)).
        above = centred > 0
        hi = torch.where(above, -lower, upper)
        lo = torch.where(above, -upper, lower)
        log_hi, log_lo = F.logsigmoid(hi), F.logsigmoid(lo)
        log_mid = log_hi + torch.log(-torch.expm1((log_lo - log_hi).clamp(max=-1e-12)))
        eps = 0.25 * self.half_bin
        return torch.where(x < eps, log_cdf_upper, torch.where(x > 1.0 - eps, log_sf_lower, log_mid))

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            u = torch.rand(shape, device=self.loc.device).clamp(1e-6, 1 - 1e-6)
            y = self.loc + torch.exp(self.log_scale) * (torch.log(u) - torch.log1p(-u))
            return torch.round(y.clamp(0.0, 1.0) * (self.levels - 1)) / (self.levels - 1)


@LIKELIHOODS.register("logistic")
class DiscretizedLogisticLikelihood(nn.Module):
    params_per_element = 2
    discrete = True

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        levels = ctx.levels
        if levels is None or levels < 2:
            raise ConfigError(
                "model.likelihood='logistic' needs data on a discrete grid (e.g. 8-bit images), but this "
                "dataset is continuous; use --set model.likelihood=gaussian"
            )
        self.event_dims = len(ctx.shape)
        self.levels = levels

    def forward(self, params: torch.Tensor) -> Distribution:
        # Mean offset 0.5 centres an untrained decoder on mid-grey; log-scale clamped below
        # at a tenth of a bin width so the model cannot buy infinite likelihood by collapsing the scale.
        loc = params.select(-self.event_dims - 1, 0) + 0.5
        log_scale = params.select(-self.event_dims - 1, 1).clamp(min=math.log(0.1 / (self.levels - 1)))
        return Independent(DiscretizedLogistic(loc, log_scale, self.levels), self.event_dims)
