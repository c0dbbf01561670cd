"""Flows on posterior samples (Rezende & Mohamed 2015): invertible maps z -> f(z; h) that return
their log|det df/dz|, so log q(z_K|x) = log q0(z_0|x) - sum_k log|det J_k| is known where z is drawn."""

from vaekit.parts.flows import affine, iaf, planar  # noqa: F401  (registration)
from vaekit.parts.flows.distribution import FlowDistribution, rsample_with_log_prob

__all__ = ["FlowDistribution", "rsample_with_log_prob"]
