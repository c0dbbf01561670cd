"""A mixture of diagonal Gaussians whose log-density is computed with matrix products.

    log N(z; mu_k, s_k) = -1/2 [ z^2 . (1/s_k^2) - 2 z . (mu_k/s_k^2) + mu_k^2 . (1/s_k^2) ] - sum log s_k - L/2 log 2 pi

evaluated for all N points and K components as two (N, L) x (L, K) products instead of torch's
MixtureSameFamily, which materialises an (N, K, L) tensor (with K = 500 VampPrior components that
dominated evaluation time). The expansion loses precision by cancellation when z is close to a
sharp component, so it is computed in float64. Used by the ``vamp`` and ``mog`` priors.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Distribution, constraints


class DiagonalGaussianMixture(Distribution):
    """Components ``loc``/``scale`` (K, L), or (B, K, L) per example (conditional priors); mixing
    ``logits`` broadcastable to (K,) or (B, K). Batch () or (B,), event (L,)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real_vector

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, logits: torch.Tensor) -> None:
        self.loc, self.scale = loc, scale
        self.log_weights = torch.log_softmax(logits.expand(loc.shape[:-1]).float(), -1)  # (K,) or (B, K)
        super().__init__(loc.shape[:-2], loc.shape[-1:], validate_args=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """z (..., L) -> (...) nats; with per-example components z is (..., B, L)."""
        loc, scale = self.loc.double(), self.scale.double()
        prec = scale.pow(-2)  # (K, L) or (B, K, L)
        zd = z.double()
        const = (loc.pow(2) * prec).sum(-1) + 2.0 * torch.log(scale).sum(-1) + loc.shape[-1] * math.log(2 * math.pi)
        if loc.dim() == 2:
            flat = zd.reshape(-1, zd.shape[-1])  # (N, L)
            quad = flat.pow(2) @ prec.t() - 2.0 * flat @ (loc * prec).t()  # (N, K)
            log_comp = -0.5 * (quad + const)
            out = torch.logsumexp(log_comp + self.log_weights.double(), -1).view(z.shape[:-1])
        else:  # per-example components: z (..., B, L), loc (B, K, L)
            quad = (torch.einsum("...bl,bkl->...bk", zd.pow(2), prec)
                    - 2.0 * torch.einsum("...bl,bkl->...bk", zd, loc * prec))
            log_comp = -0.5 * (quad + const)
            out = torch.logsumexp(log_comp + self.log_weights.double(), -1)
        return out.to(z.dtype)

    @property
    def mean(self) -> torch.Tensor:
        return (self.log_weights.exp().unsqueeze(-1).to(self.loc) * self.loc).sum(-2)
