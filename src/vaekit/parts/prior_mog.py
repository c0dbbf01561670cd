"""A learned mixture-of-Gaussians prior p(z) = sum_k pi_k N(z; mu_k, diag sigma_k^2).

    logits (K,) --softmax--> pi;   mu (K, L), log sigma (K, L)   ->   DiagonalGaussianMixture, event (L,)

No closed-form KL(q || p) exists, so objectives use the Monte-Carlo estimate log q(z|x) - log p(z)
recorded where z was drawn (``analytic_kl`` returns None). Means start as N(0, 1) draws (from the
global RNG, like every other weight initialisation, so a seeded run is reproducible): identical
components would receive identical gradients and never separate. Scales start at 1, weights uniform.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts.mixture import DiagonalGaussianMixture
from vaekit.parts.registries import PRIORS


@PRIORS.register("mog")
class MixtureOfGaussiansPrior(nn.Module):
    # log sigma is clamped so a collapsing component cannot send log p(z) to +/- inf.
    LOG_SCALE_RANGE = (-10.0, 10.0)

    def __init__(self, ctx: BuildContext, *, components: int = 10) -> None:
        super().__init__()
        if components < 1:
            raise ConfigError(f"model.prior.components must be at least 1; got {components}")
        self.components, self.latent_dim = components, ctx.latent_dim
        self.loc = nn.Parameter(torch.randn(components, ctx.latent_dim))  # (K, L), spread
        self.log_scale = nn.Parameter(torch.zeros(components, ctx.latent_dim))  # (K, L)
        self.logits = nn.Parameter(torch.zeros(components))  # (K,), uniform weights

    def _scale(self) -> torch.Tensor:
        return torch.exp(self.log_scale.clamp(*self.LOG_SCALE_RANGE))

    def forward(self, cond: torch.Tensor | None = None) -> Distribution:
        """p(z): batch (), event (L,); ``cond`` is accepted for a uniform interface and ignored."""
        return DiagonalGaussianMixture(self.loc, self._scale(), self.logits)

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, L): a component k ~ pi, then z = mu_k + temperature * sigma_k * eps.
        Temperature 0 gives the chosen components' means."""
        where = generator.device if generator is not None else self.loc.device
        probs = torch.softmax(self.logits.detach().float(), 0).to(where)
        k = torch.multinomial(probs, n, replacement=True, generator=generator).to(self.loc.device)  # (n,)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=where).to(self.loc)
        return self.loc[k] + temperature * self._scale()[k] * eps
