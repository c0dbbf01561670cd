"""FactorVAE (Kim & Mnih 2018, "Disentangling by factorising").

Two optimisation steps per batch:

* ``model``: minimise  recon + KL + γ · TC,  TC ≈ E_q(z)[log D(z) / (1 − D(z))] = E[logit_0 − logit_1],
  the density-ratio estimate of KL(q(z) || Π_d q(z_d)) from a discriminator D;
* ``disc``: train D (its own Adam, lr 1e-4, betas (0.5, 0.9) as in the paper) to tell codes
  z ~ q(z) (class 0) from codes whose dimensions were permuted independently across the batch
  (class 1, samples of Π_d q(z_d)); z is detached, so this step never moves the VAE.

D is an MLP with LeakyReLU(0.2) (the paper: 6 layers of 1000 units; the default here is lighter
for CPUs, set ``disc_hidden``). The objective owns D, so it is checkpointed with its optimiser.
The reported ``loss`` is the plain −ELBO; ``tc`` the discriminator's estimate; ``disc_loss`` and
``disc_accuracy`` come from the ``disc`` step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError, DataError
from vaekit.core.types import Batch, Loss, StepContext
from vaekit.objectives.registry import MAIN_STEP, OBJECTIVES, Objective, StepSpec

DISC_STEP = "disc"


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """(B, L) -> each column shuffled independently across the batch: a sample of Π_d q(z_d)."""
    b, latent = z.shape
    keys = torch.rand(b, latent, device=z.device)  # global torch RNG (checkpointed, so resume is exact)
    return torch.gather(z, 0, keys.argsort(dim=0))


@OBJECTIVES.register("factor-vae")
class FactorVAE(Objective):
    BOUND_AT_DEFAULTS = False
    MIN_BATCH = 2

    def __init__(self, ctx: BuildContext, *, gamma: float = 10.0, disc_hidden: tuple[int, ...] = (512, 512),
                 disc_lr: float = 1e-4) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"objective.gamma must be >= 0; got {gamma}")
        if not disc_hidden or min(disc_hidden) < 1:
            raise ConfigError(f"objective.disc_hidden must be a non-empty list of positive widths; got {list(disc_hidden)}")
        if ctx.latent_dim < 1:
            raise ConfigError("objective.name='factor-vae' needs the model's latent size in its build context")
        latent = self.latent_dim = ctx.latent_dim
        widths = [latent, *disc_hidden]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(w_in, w_out), nn.LeakyReLU(0.2)]
        self.discriminator = nn.Sequential(*layers, nn.Linear(widths[-1], 2))  # logits: (q(z), Π q(z_d))
        self.gamma, self.disc_lr = gamma, disc_lr

    def steps(self, model: nn.Module) -> dict[str, StepSpec]:
        return {
            MAIN_STEP: StepSpec(list(model.parameters())),
            DISC_STEP: StepSpec(list(self.discriminator.parameters()), {"lr": self.disc_lr, "betas": (0.5, 0.9)}),
        }

    def _codes(self, z: torch.Tensor, batch: Batch) -> torch.Tensor:
        if z.shape[-1] != self.latent_dim:
            raise ConfigError(f"the discriminator was built for {self.latent_dim} latent dims, the model has {z.shape[-1]}")
        if len(batch) < 2:
            raise DataError("factor-vae permutes codes across the minibatch and needs batches of at least 2 examples")
        return z

    def forward(self, model: nn.Module, batch: Batch, ctx: StepContext, step: str = MAIN_STEP) -> Loss:
        if step == DISC_STEP:
            with torch.no_grad():
                z = self._codes(model.encode(batch.x, batch.y).rsample(), batch)  # (B, L), detached
            logits_q = self.discriminator(z)
            logits_perm = self.discriminator(permute_dims(z))
            zeros = torch.zeros(len(batch), dtype=torch.long, device=z.device)
            loss = 0.5 * (F.cross_entropy(logits_q, zeros) + F.cross_entropy(logits_perm, zeros + 1))
            accuracy = 0.5 * ((logits_q.argmax(1) == 0).float().mean() + (logits_perm.argmax(1) == 1).float().mean())
            return Loss(total=loss, terms={"loss": loss.detach(), "accuracy": accuracy.detach()})
        out = self.run_model(model, batch, samples=1)
        if len(out.latents) != 1:
            raise ConfigError("objective.name='factor-vae' penalises the total correlation of one latent layer; this "
                              f"model has {len(out.latents)} (use model.name='vae')")
        z = self._codes(out.latents[0].z[0], batch)
        recon = -out.log_px(batch.x)[0]  # (B,)
        kl = out.kl()  # (B,)
        logits = self.discriminator(z)
        tc = (logits[:, 0] - logits[:, 1]).mean()
        total = recon.mean() + kl.mean() + self.gamma * tc + out.aux_total()
        recon_m, kl_m = recon.mean().detach(), kl.mean().detach()
        terms = {"loss": recon_m + kl_m, "recon": recon_m, "kl": kl_m, "tc": tc.detach(), "objective": total.detach()}
        terms.update(out.logged())
        return Loss(total=total, terms=terms)
