"""A posterior pushed through flows, as a ``torch.distributions`` object.

Sampling returns z and log q(z|x) together: the density of a flow's output is known only from
the log-dets collected while z is drawn (inverting an IAF to evaluate ``log_prob`` of an
arbitrary z would cost L sequential passes), so ``log_prob`` of a foreign z is not offered.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution


class FlowDistribution(Distribution):
    """q(z|x): ``base`` (batch (B,), event (L,)) pushed through ``flows``, each called as
    ``flow(z (S, B, L), context (B, F)) -> (z', log_det (S, B))``."""

    has_rsample = True

    def __init__(self, base: Distribution, flows: nn.ModuleList, context: torch.Tensor) -> None:
        self.base, self.flows, self.context = base, flows, context
        super().__init__(base.batch_shape, base.event_shape, validate_args=False)

    def rsample_and_log_prob(self, sample_shape: torch.Size | tuple = ()) -> tuple[torch.Tensor, torch.Tensor]:
        z, log_q, _, _ = self.rsample_with_base(sample_shape)
        return z, log_q

    def rsample_with_base(self, sample_shape: torch.Size | tuple = ()) -> tuple[torch.Tensor, ...]:
        """z_K (S, B, L), log q(z_K) (S, B), and the base draw z_0 (S, B, L) with log q_0(z_0) (S, B)."""
        z0 = self.base.rsample(sample_shape)  # (S, B, L)
        log_q0 = self.base.log_prob(z0)  # (S, B)
        z, log_q = z0, log_q0
        for flow in self.flows:
            z, log_det = flow(z, self.context)
            log_q = log_q - log_det
        return z, log_q, z0, log_q0

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        return self.rsample_and_log_prob(sample_shape)[0]

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(
            "a flow posterior gives log q(z|x) only for its own samples: use rsample_and_log_prob()"
        )

    @property
    def mean(self) -> torch.Tensor:
        """The base mean pushed through the flows (the flows' image of the base mode; not E_q[z]
        in general). Used as the embedding of x."""
        z = self.base.mean
        for flow in self.flows:
            z, _ = flow(z, self.context)
        return z


def rsample_with_log_prob(q: Distribution, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """S reparameterised samples (S, B, L) and their log q (S, B), for any posterior."""
    if isinstance(q, FlowDistribution):
        return q.rsample_and_log_prob((samples,))
    z = q.rsample((samples,))
    return z, q.log_prob(z)
