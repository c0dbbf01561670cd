"""The importance-weighted bound (IWAE, Burda et al. 2015).

L_k(x) = E[ log (1/k) sum_i w_i ],  w_i = p(x|z_i) p(z_i) / q(z_i|x),  z_i ~ q(z|x) i.i.d.
L_1 is the ELBO and L_k increases monotonically towards log p(x) with k.
The reported ``loss`` is -L_k; ``recon`` and ``kl`` are the sample averages of -log p(x|z_i)
and of KL(q||p) (analytic where registered), for comparison with ELBO runs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.core.config import ObjectiveConfig
from vaekit.core.errors import ConfigError
from vaekit.core.types import Loss
from vaekit.objectives.registry import OBJECTIVES
from vaekit.parts.kl import kl_divergence_total


@OBJECTIVES.register("iwae")
class IWAE:
    def __init__(self, cfg: ObjectiveConfig) -> None:
        if cfg.beta != 1.0 or cfg.warmup_epochs or cfg.free_bits:
            raise ConfigError(
                "objective.beta, warmup_epochs and free_bits apply to objective.name='elbo' only; "
                "the IWAE bound is unweighted"
            )
        self.k = cfg.k

    def __call__(self, model: nn.Module, x: torch.Tensor, progress: float = float("inf")) -> Loss:
        out = model(x, samples=self.k)
        latent = out.latents[0]
        log_px = out.log_px(x)  # (k, B)
        log_w = log_px + latent.p.log_prob(latent.z) - latent.q.log_prob(latent.z)  # (k, B)
        bound = torch.logsumexp(log_w, dim=0) - math.log(self.k)  # (B,)
        total = -bound.mean()
        recon = -log_px.mean().detach()
        kl = kl_divergence_total(latent.q, latent.p, latent.z[0]).mean().detach()
        return Loss(total=total, terms={"loss": total.detach(), "recon": recon, "kl": kl, "objective": total.detach()})
