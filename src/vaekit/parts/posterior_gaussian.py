"""Diagonal-Gaussian posterior q(z|x) = N(mu(x), diag sigma^2(x)) (Kingma & Welling 2014).

Returns ``Independent(Normal(mu, sigma), 1)`` with batch shape (B,) and event shape (L,), so
``rsample`` is the reparameterised sample mu + sigma * eps and ``log_prob`` sums over L.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.parts.registries import POSTERIORS


@POSTERIORS.register("gaussian")
class GaussianPosterior(nn.Module):
    # log sigma^2 is clamped: exp() of an unbounded head overflows early in training and
    # sigma -> 0 makes log q explode; the range still spans sigma in [4.5e-5, 2.2e4].
    LOGVAR_RANGE = (-20.0, 20.0)

    def __init__(self, in_features: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.head = nn.Linear(in_features, 2 * latent_dim)

    def forward(self, features: torch.Tensor) -> Distribution:
        mu, logvar = self.head(features).float().chunk(2, dim=-1)  # (B, L) each; fp32 even under autocast
        logvar = logvar.clamp(*self.LOGVAR_RANGE)
        return Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1)
