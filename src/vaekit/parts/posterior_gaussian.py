"""Diagonal-Gaussian posterior q(z|x) = N(mu(x), diag sigma^2(x)) (Kingma & Welling 2014),
optionally pushed through flows (Rezende & Mohamed 2015).

Without flows it returns ``Independent(Normal(mu, sigma), 1)`` (batch (B,), event (L,)), so
``rsample`` is mu + sigma * eps and ``log_prob`` sums over L. With flows it returns a
:class:`~vaekit.parts.flows.FlowDistribution` whose samples carry their log-density.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.core.build import BuildContext
from vaekit.core.specs import Nested, Spec
from vaekit.parts.flows import FlowDistribution
from vaekit.parts.registries import FLOWS, POSTERIORS


@POSTERIORS.register("gaussian")
class GaussianPosterior(nn.Module):
    # log sigma^2 is clamped: exp() of an unbounded head overflows early in training and
    # sigma -> 0 makes log q explode; the range still spans sigma in [4.5e-5, 2.2e4].
    LOGVAR_RANGE = (-20.0, 20.0)

    def __init__(self, ctx: BuildContext, *, flows: Annotated[tuple[Spec, ...], Nested(FLOWS, many=True)] = ()) -> None:
        super().__init__()
        self.latent_dim = ctx.latent_dim
        self.head = nn.Linear(ctx.features, 2 * ctx.latent_dim)
        self.flows = nn.ModuleList(
            FLOWS.build(spec, ctx, f"model.posterior.flows[{i}]") for i, spec in enumerate(flows)
        )

    def forward(self, features: torch.Tensor) -> Distribution:
        mu, logvar = self.head(features).float().chunk(2, dim=-1)  # (B, L) each; fp32 even under autocast
        logvar = logvar.clamp(*self.LOGVAR_RANGE)
        base = Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1)
        return FlowDistribution(base, self.flows, features) if len(self.flows) else base
