"""Standard-normal prior p(z) = N(0, I)."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.core.build import BuildContext
from vaekit.parts.registries import PRIORS


@PRIORS.register("normal")
class StandardNormalPrior(nn.Module):
    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.latent_dim = ctx.latent_dim
        # Buffers, so the prior follows the model to its device and dtype.
        self.register_buffer("loc", torch.zeros(ctx.latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(ctx.latent_dim), persistent=False)

    def forward(self, cond: torch.Tensor | None = None) -> Distribution:
        """p(z) with event (L,); ``cond`` is accepted for a uniform interface and ignored."""
        return Independent(Normal(self.loc, self.scale, validate_args=False), 1)

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, L) draws; ``temperature`` scales the standard deviation."""
        # Draw on the generator's own device (a CPU generator stays usable for a GPU model).
        where = generator.device if generator is not None else self.loc.device
        eps = torch.randn(n, self.latent_dim, generator=generator, device=where).to(self.loc)
        return self.loc + temperature * self.scale * eps
