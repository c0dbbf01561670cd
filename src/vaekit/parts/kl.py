"""KL(q || p) in closed form where torch registers one (None otherwise: callers then use the
Monte-Carlo estimate from the log-densities recorded with the samples)."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, Independent, kl_divergence

from vaekit.parts.flows import FlowDistribution


def analytic_kl(q: Distribution, p: Distribution) -> torch.Tensor | None:
    """KL summed over the event dims, shape q.batch_shape (nats), or None without a closed form."""
    if isinstance(q, FlowDistribution):
        return None
    try:
        return kl_divergence(q, p)
    except NotImplementedError:
        return None


def kl_divergence_per_dim(q: Distribution, p: Distribution) -> torch.Tensor | None:
    """Per-latent-dimension KL (B, L) for factorised q and p, or None if not analytic."""
    if isinstance(q, Independent) and isinstance(p, Independent):
        try:
            return kl_divergence(q.base_dist, p.base_dist).expand(q.base_dist.batch_shape)
        except NotImplementedError:
            return None
    return None
