"""The evidence lower bound with beta weight, KL warm-up and free bits.

ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))          (Kingma & Welling 2014)

Training minimises  mean_B[-log p(x|z)] + beta_t * KL_term, where
* beta_t = beta * min(1, epochs_done / warmup_epochs)     (Sønderby et al. 2016, linear warm-up)
* KL_term = sum_d max(lambda, mean_B KL_d)                 (free bits, Kingma et al. 2016, per
  latent dimension, batch-averaged) or mean_B KL when lambda = 0.
One reparameterised sample per example; KL analytic where torch registers it.
The reported ``loss`` is always the plain -ELBO (recon + kl, beta = 1); the weighted quantity
that is actually minimised is reported as ``objective``.
"""

from __future__ import annotations

import torch
from torch import nn

from vaekit.core.config import ObjectiveConfig
from vaekit.core.errors import ConfigError
from vaekit.core.types import Loss
from vaekit.objectives.registry import OBJECTIVES
from vaekit.parts.kl import kl_divergence_per_dim, kl_divergence_total


@OBJECTIVES.register("elbo")
class ELBO:
    def __init__(self, cfg: ObjectiveConfig) -> None:
        if cfg.k != 1:
            raise ConfigError("objective.k applies to objective.name='iwae' only; the ELBO uses one sample")
        self.beta, self.warmup, self.free_bits = cfg.beta, cfg.warmup_epochs, cfg.free_bits

    def kl_weight(self, progress: float) -> float:
        if self.warmup <= 0:
            return self.beta
        return self.beta * min(1.0, progress / self.warmup)

    def __call__(self, model: nn.Module, x: torch.Tensor, progress: float = float("inf")) -> Loss:
        out = model(x, samples=1)
        recon = -out.log_px(x)[0]  # (B,)
        latent = out.latents[0]
        per_dim = kl_divergence_per_dim(latent.q, latent.p)  # (B, L) or None
        kl = per_dim.sum(-1) if per_dim is not None else kl_divergence_total(latent.q, latent.p, latent.z[0])  # (B,)
        if self.free_bits > 0:
            if per_dim is not None:
                kl_term = per_dim.mean(0).clamp(min=self.free_bits).sum()
            else:
                kl_term = kl.mean().clamp(min=self.free_bits * latent.z.shape[-1])
        else:
            kl_term = kl.mean()
        total = recon.mean() + self.kl_weight(progress) * kl_term
        recon_m, kl_m = recon.mean().detach(), kl.mean().detach()
        return Loss(total=total, terms={"loss": recon_m + kl_m, "recon": recon_m, "kl": kl_m, "objective": total.detach()})
