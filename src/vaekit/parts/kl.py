"""KL(q || p): analytic where torch registers a closed form, Monte-Carlo otherwise."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, Independent, kl_divergence


def kl_divergence_total(q: Distribution, p: Distribution, z: torch.Tensor | None = None) -> torch.Tensor:
    """KL summed over the event dims, shape = q.batch_shape (nats).

    Falls back to the single-sample estimate log q(z) - log p(z) when no closed form is
    registered; ``z`` must then be a sample from q (e.g. the reparameterised one already drawn).
    """
    try:
        return kl_divergence(q, p)
    except NotImplementedError:
        if z is None:
            z = q.rsample()
        return q.log_prob(z) - p.log_prob(z)


def kl_divergence_per_dim(q: Distribution, p: Distribution) -> torch.Tensor | None:
    """Per-latent-dimension KL (B, L) for factorised q and p, or None if not analytic."""
    if isinstance(q, Independent) and isinstance(p, Independent):
        try:
            return kl_divergence(q.base_dist, p.base_dist).expand(q.base_dist.batch_shape)
        except NotImplementedError:
            return None
    return None
