"""Amortised planar flow (Rezende & Mohamed 2015, "Variational Inference with Normalizing Flows",
section 4.1 and appendix A.1):

    f(z) = z + u_hat * tanh(w . z + b)                      z (S, B, L) -> (S, B, L)
    log|det df/dz| = log|1 + u_hat . psi(z)|,  psi(z) = tanh'(w . z + b) w      -> (S, B)

with the invertibility constraint of appendix A.1,

    u_hat = u + (m(w . u) - w . u) w / |w|^2,   m(x) = -1 + softplus(x),

which makes w . u_hat = m(w . u) > -1, so 1 + u_hat . psi = 1 + tanh'(.) m(w . u) > 0.

Amortised: u (B, L), w (B, L) and b (B, 1) come from the encoder features h (B, F) through one
``Linear(F, 2L + 1)``, one set per example. The flow starts at the identity: the Linear's
weight is zero and its bias puts w at a fixed random direction and u where u_hat = 0
(w . u = log(e - 1), where m = 0), so f(z) = z and log|det| = 0 until training moves it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.parts.registries import FLOWS

# m(x) = 0 at x = log(e - 1): the initial w . u that makes u_hat = 0 (the identity).
_M_ZERO = math.log(math.e - 1.0)
# |w|^2 is floored here before dividing (only a degenerate w near 0 ever reaches it).
_MIN_SQNORM = 1e-12


@FLOWS.register("planar")
class PlanarFlow(nn.Module):
    """One planar step; stack K of them as ``flows = [{name = "planar"}, ...]``."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        L = self.latent_dim = ctx.latent_dim
        self.params = nn.Linear(ctx.features, 2 * L + 1)  # h (B, F) -> [u (L), w (L), b (1)]
        nn.init.zeros_(self.params.weight)
        with torch.no_grad():
            # A fixed random direction for w (drawn from torch's global RNG, which the trainer
            # seeds), unit norm; u along w with w . u = log(e - 1), so u_hat = 0.
            w = torch.randn(L)
            w = w / w.norm().clamp_min(1e-6)
            self.params.bias.copy_(torch.cat([_M_ZERO * w, w, torch.zeros(1)]))

    def coefficients(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """u_hat (B, L), w (B, L), b (B, 1) for the features ``context`` (B, F)."""
        L = self.latent_dim
        params = self.params(context.float())  # (B, 2L + 1)
        u, w, b = params[..., :L], params[..., L : 2 * L], params[..., 2 * L :]
        wu = (w * u).sum(-1, keepdim=True)  # (B, 1)
        sqnorm = (w * w).sum(-1, keepdim=True).clamp_min(_MIN_SQNORM)  # (B, 1)
        u_hat = u + (F.softplus(wu) - 1.0 - wu) * w / sqnorm  # (B, L); w . u_hat = m(w . u)
        return u_hat, w, b

    def forward(self, z: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (S, B, L) or (B, L), context (B, F) -> z' (same shape as z), log|det| (S, B) or (B,)."""
        u_hat, w, b = self.coefficients(context)  # (B, L), (B, L), (B, 1); broadcast over S
        a = torch.tanh((z * w).sum(-1, keepdim=True) + b)  # (S, B, 1)
        wu_hat = (w * u_hat).sum(-1, keepdim=True)  # (B, 1), >= -1 by construction
        # 1 + u_hat . psi = 1 + (1 - a^2) w . u_hat; clamped only against rounding below 0
        # when w . u_hat is at its limit -1 and a = 0.
        det = (1.0 + (1.0 - a * a) * wu_hat).squeeze(-1)  # (S, B)
        return z + u_hat * a, torch.log(det.abs().clamp_min(1e-12))
