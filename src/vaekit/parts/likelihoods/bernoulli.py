"""Bernoulli likelihood over pixels, parameterised by logits.

``log_prob`` goes through ``binary_cross_entropy_with_logits`` (torch's Bernoulli does this when
given logits), which is both stabler and faster than sigmoid followed by BCE. It is a proper
log-likelihood only for binary data; on grey levels it is the usual "BCE" reconstruction term.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent

from vaekit.core.build import BuildContext
from vaekit.parts.registries import LIKELIHOODS


@LIKELIHOODS.register("bernoulli")
class BernoulliLikelihood(nn.Module):
    params_per_element = 1
    discrete = True

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.event_dims = len(ctx.shape)

    def forward(self, params: torch.Tensor) -> Distribution:
        logits = params.select(-self.event_dims - 1, 0)  # (..., *shape)
        # validate_args=False: grey-level targets are allowed (the BCE reconstruction loss).
        return Independent(Bernoulli(logits=logits, validate_args=False), self.event_dims)
