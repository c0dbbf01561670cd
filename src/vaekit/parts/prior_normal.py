"""Standard-normal prior p(z) = N(0, I)."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.parts.registries import PRIORS


@PRIORS.register("normal")
class StandardNormalPrior(nn.Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        # Buffers, so the prior follows the model to its device and dtype.
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(latent_dim), persistent=False)

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, self.scale, validate_args=False), 1)  # event (L,)

    def sample(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """(n, L) draws; ``temperature`` scales the standard deviation."""
        # Draw on the generator's own device (a CPU generator stays usable for a GPU model).
        where = generator.device if generator is not None else self.loc.device
        eps = torch.randn(n, self.latent_dim, generator=generator, device=where).to(self.loc)
        return self.loc + temperature * self.scale * eps
