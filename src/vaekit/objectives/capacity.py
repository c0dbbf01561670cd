"""β-VAE with a controlled capacity (Burgess et al. 2018, "Understanding disentangling in β-VAE").

    minimise  E_q[-log p(x|z)] + γ |KL(q(z|x) || p(z)) - C_t|,   C_t = C_max · min(1, t / T)

The KL target C rises linearly from 0 to ``c_max`` nats over the first ``anneal`` fraction of
the training steps (the paper: 0 -> 25 nats over 100k iterations, γ = 1000), so the encoder is
allowed to put information into z gradually. KL is the batch mean summed over latent layers
(analytic where a closed form exists). Outside training (evaluation, validation) C = c_max.
The reported ``loss`` stays the plain -ELBO; ``capacity`` logs C_t and ``objective`` what is minimised.
"""

from __future__ import annotations

import torch
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import Batch, Loss, StepContext
from vaekit.objectives.registry import MAIN_STEP, OBJECTIVES, Objective


@OBJECTIVES.register("capacity")
class CapacityELBO(Objective):
    BOUND_AT_DEFAULTS = False
    def __init__(self, ctx: BuildContext, *, gamma: float = 1000.0, c_max: float = 25.0, anneal: float = 1.0) -> None:
        super().__init__()
        if gamma < 0 or c_max < 0:
            raise ConfigError(f"objective.gamma and objective.c_max must be >= 0; got gamma={gamma}, c_max={c_max}")
        if not 0.0 < anneal <= 1.0:
            raise ConfigError(f"objective.anneal is the fraction of training over which C rises, in (0, 1]; got {anneal}")
        self.gamma, self.c_max, self.anneal = gamma, c_max, anneal

    def capacity(self, ctx: StepContext) -> float:
        """C_t in nats: linear in the training step, c_max outside training."""
        if ctx.total_steps <= 0:
            return self.c_max
        return self.c_max * min(1.0, ctx.step / (self.anneal * ctx.total_steps))

    def forward(self, model: nn.Module, batch: Batch, ctx: StepContext, step: str = MAIN_STEP) -> Loss:
        out = self.run_model(model, batch, samples=1)
        recon = -out.log_px(batch.x)[0]  # (B,)
        kl = out.kl()  # (B,), every latent layer
        c = self.capacity(ctx)
        total = recon.mean() + self.gamma * (kl.mean() - c).abs() + out.aux_total()
        recon_m, kl_m = recon.mean().detach(), kl.mean().detach()
        terms = {"loss": recon_m + kl_m, "recon": recon_m, "kl": kl_m, "capacity": torch.tensor(c),
                 "objective": total.detach()}
        terms.update(out.logged())
        return Loss(total=total, terms=terms)
