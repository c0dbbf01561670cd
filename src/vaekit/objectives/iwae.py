"""The importance-weighted bound (IWAE, Burda et al. 2015).

L_k(x) = E[ log (1/k) sum_i w_i ],  log w_i = log p(x|z_i) + sum_layers (log p(z_i) - log q(z_i|x))
(:func:`~vaekit.core.types.log_weights`), z_i ~ q(z|x) i.i.d. L_1 is the ELBO and L_k increases
monotonically towards log p(x) with k.

With missing cells (``Batch.mask``, ``data.missing = "mask"``) this is MIWAE (Mattei & Frellsen
2019, "MIWAE: Deep Generative Modelling and Imputation of Incomplete Data Sets", eq. 5):

L_k(x_o) = E[ log (1/k) sum_i p(x_o|z_i) p(z_i) / q(z_i|x_o) ],

log p(x|z) summed over the observed elements only and the encoder fed the zero-filled x. The reported ``loss`` is -L_k; ``recon`` and ``kl`` are
the sample averages of -log p(x|z_i) and of the KL (analytic where registered), for comparison
with ELBO runs. Auxiliary model losses and the ``perceptual`` terms (as in the ELBO objective)
are added to what is minimised.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import Batch, Loss, StepContext, log_weights
from vaekit.objectives.perceptual_terms import PerceptualSpecs, build_terms
from vaekit.objectives.perceptual_terms import penalty as perceptual_penalty
from vaekit.objectives.registry import MAIN_STEP, OBJECTIVES, Objective


@OBJECTIVES.register("iwae")
class IWAE(Objective):
    MASKED = True  # with Batch.mask this is the MIWAE bound (Mattei & Frellsen 2019, eq. 5)
    MOVED_SETTINGS = {
        "beta": "the IWAE bound is unweighted; beta, warmup_epochs and free_bits belong to objective.name='elbo'",
        "warmup_epochs": "the IWAE bound is unweighted; use objective.name='elbo'",
        "free_bits": "the IWAE bound is unweighted; use objective.name='elbo'",
    }

    def __init__(self, ctx: BuildContext, *, k: int = 5, perceptual: PerceptualSpecs = ()) -> None:
        super().__init__()
        if k < 1:
            raise ConfigError(f"objective.k must be at least 1; got {k}")
        self.k = k
        self.perceptual = build_terms(perceptual, ctx)

    def forward(self, model: nn.Module, batch: Batch, ctx: StepContext, step: str = MAIN_STEP) -> Loss:
        out = self.run_model(model, batch, samples=self.k)
        log_px = out.log_px(batch.x, batch.mask)  # (k, B); log p(x_o|z_i) when the batch has a mask
        log_w = log_weights(out, batch.x, log_px)  # (k, B)
        bound = torch.logsumexp(log_w, dim=0) - math.log(self.k)  # (B,)
        aux = out.aux_total()
        total = -bound.mean() + aux
        extra = perceptual_penalty(self.perceptual, out, batch.x)
        if extra is not None:
            total = total + extra.mean()
        recon = -log_px.mean().detach()
        kl = out.kl().mean().detach()
        terms = {"loss": -bound.mean().detach(), "recon": recon, "kl": kl, "objective": total.detach()}
        if extra is not None:
            terms["perceptual"] = extra.mean().detach()
        terms.update(out.logged())
        return Loss(total=total, terms=terms)
