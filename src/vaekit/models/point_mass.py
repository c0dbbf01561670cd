"""A point mass as a ``torch.distributions`` object: the "posterior" of a deterministic encoder
(e.g. VQ-VAE's continuous pre-quantisation output), so tasks that read ``encode(x).mean`` work."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, constraints


class PointMass(Distribution):
    """All mass at ``value`` (batch (B,), event (L,)); rsample returns it (no noise)."""

    arg_constraints = {"value": constraints.real_vector}
    has_rsample = True

    def __init__(self, value: torch.Tensor) -> None:
        self.value = value
        super().__init__(value.shape[:-1], value.shape[-1:], validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        return self.value

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        return self.value.expand(*sample_shape, *self.value.shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """0 where ``value`` is the point, -inf elsewhere (summed over the event)."""
        same = (value == self.value).all(-1)
        return torch.where(same, 0.0, -torch.inf).to(self.value.dtype)
