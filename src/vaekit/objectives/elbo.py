"""The evidence lower bound with beta weight, KL warm-up and free bits.

ELBO(x) = E_q[log p(x|z)] - sum_layers KL(q(z_l|.) || p(z_l|.))      (Kingma & Welling 2014)

Training minimises  mean_B[-log p(x|z)] + beta_t * KL_term + aux, where
* beta_t = beta * min(1, epochs_done / warmup_epochs)     (Sønderby et al. 2016, linear warm-up)
* KL_term = sum_layers sum_d max(lambda, mean_B KL_d)      (free bits, Kingma et al. 2016, per
  latent dimension, batch-averaged) or mean_B KL when lambda = 0. KL is analytic where torch
  registers a closed form, otherwise the one-sample estimate log q(z|x) - log p(z) recorded
  where z was drawn (flows, mixture priors);
* aux = every auxiliary loss the model reports (``Output.aux``), e.g. a VQ commitment term;
* perceptual = the weighted perceptual terms of ``objective.perceptual`` (SSIM, MS-SSIM, a
  classifier's features; :mod:`vaekit.parts.perceptual`), logged as ``perceptual``.
The reported ``loss`` is always the plain -ELBO (recon + kl, beta = 1); the weighted quantity
that is actually minimised is reported as ``objective``.
"""

from __future__ import annotations

import torch
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import Batch, Latent, Loss, StepContext
from vaekit.objectives.perceptual_terms import PerceptualSpecs, build_terms
from vaekit.objectives.perceptual_terms import penalty as perceptual_penalty
from vaekit.objectives.registry import MAIN_STEP, OBJECTIVES, Objective


def kl_term(latent: Latent, free_bits: float) -> torch.Tensor:
    """The batch-mean KL of one layer with free bits applied (scalar)."""
    if free_bits <= 0:
        return latent.kl().mean()
    if latent.kl_per_dim is not None:
        return latent.kl_per_dim.mean(0).clamp(min=free_bits).sum()
    return latent.kl().mean().clamp(min=free_bits * latent.z.shape[-1])


@OBJECTIVES.register("elbo")
class ELBO(Objective):
    MASKED = True  # with Batch.mask: log p(x_o|z), the K = 1 case of MIWAE (Mattei & Frellsen 2019)
    MOVED_SETTINGS = {"k": "importance samples belong to objective.name='iwae'"}

    def __init__(self, ctx: BuildContext, *, beta: float = 1.0, warmup_epochs: float = 0.0, free_bits: float = 0.0,
                 perceptual: PerceptualSpecs = ()) -> None:
        super().__init__()
        self.perceptual = build_terms(perceptual, ctx)
        for key, value in (("beta", beta), ("warmup_epochs", warmup_epochs), ("free_bits", free_bits)):
            if value < 0:
                raise ConfigError(f"objective.{key} must be >= 0; got {value}")
        self.beta, self.warmup, self.free_bits = beta, warmup_epochs, free_bits

    def kl_weight(self, ctx: StepContext) -> float:
        """beta, ramped linearly from 0 over the warm-up epochs."""
        if self.warmup <= 0:
            return self.beta
        return self.beta * min(1.0, ctx.epoch / self.warmup)

    def forward(self, model: nn.Module, batch: Batch, ctx: StepContext, step: str = MAIN_STEP) -> Loss:
        out = self.run_model(model, batch, samples=1)
        recon = -out.log_px(batch.x, batch.mask)[0]  # (B,); observed elements only when masked
        kl = out.kl()  # (B,), summed over every latent layer
        penalty = sum(kl_term(latent, self.free_bits) for latent in out.latents)
        aux = out.aux_total()
        total = recon.mean() + self.kl_weight(ctx) * penalty + aux
        extra = perceptual_penalty(self.perceptual, out, batch.x)
        if extra is not None:
            total = total + extra.mean()
        recon_m, kl_m = recon.mean().detach(), kl.mean().detach()
        terms = {"loss": recon_m + kl_m, "recon": recon_m, "kl": kl_m, "objective": total.detach()}
        if extra is not None:
            terms["perceptual"] = extra.mean().detach()
        terms.update(out.logged())
        return Loss(total=total, terms=terms)
