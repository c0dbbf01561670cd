"""Small types passed between layers."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.distributions import Distribution


@dataclass
class Latent:
    """One stochastic layer: posterior q(z|x), prior p(z) and the sample z drawn from q.

    ``z`` has shape (S, B, L): S samples per example (S = 1 for the plain ELBO).
    """

    q: Distribution
    p: Distribution
    z: torch.Tensor


@dataclass
class Output:
    """What ``model(x, samples=S)`` returns: never a loss, only the pieces an objective needs.

    ``px`` is the likelihood p(x|z) for all S*B samples (batch shape (S, B)); ``log_px(x)``
    evaluates it on the data (broadcast over S, no copy of x) and returns (S, B).
    """

    px: Distribution
    latents: list[Latent]
    samples: int
    aux: dict[str, torch.Tensor] = field(default_factory=dict)

    def log_px(self, x: torch.Tensor) -> torch.Tensor:
        return self.px.log_prob(x)  # (S, B) nats; x (B, *shape) broadcasts


@dataclass
class Loss:
    """``total`` is the scalar to minimise (mean over the batch); ``terms`` are batch means in
    nats per example, detached, for logging (``loss``, ``recon``, ``kl`` at least)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
