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

    ``px`` is the likelihood p(x|z) for all S*B samples (batch shape (S*B,)); ``log_px(x)``
    evaluates it on the data and returns (S, B).
    """

    px: Distribution
    latents: list[Latent]
    samples: int
    aux: dict[str, torch.Tensor] = field(default_factory=dict)

    def log_px(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        xs = x.unsqueeze(0).expand(self.samples, *x.shape).reshape(self.samples * b, *x.shape[1:])
        return self.px.log_prob(xs).view(self.samples, b)  # (S, B) nats


@dataclass
class Loss:
    """``total`` is the scalar to minimise (mean over the batch); ``terms`` are batch means in
    nats per example, detached, for logging (``loss``, ``recon``, ``kl`` at least)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
