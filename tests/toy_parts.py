"""Toy parts registered for the core-mechanism tests (imported by tests and by the training
subprocesses they start): a model with two stochastic layers and an objective with two named
optimisation steps that owns parameters. Importing twice is harmless."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Independent, Normal

from vaekit.core.build import BuildContext
from vaekit.core.types import Batch, Latent, Loss, Output, StepContext
from vaekit.models import MODELS
from vaekit.objectives import MAIN_STEP, OBJECTIVES, Objective, StepSpec
from vaekit.objectives.elbo import ELBO
from vaekit.parts import analytic_kl, kl_divergence_per_dim


class TwoLatentVAE(nn.Module):
    """x -> q(z1|x) -> z1 -> q(z2|z1) -> z2; generative p(z2) = N(0, I), p(z1|z2), p(x|z1)."""

    def __init__(self, ctx: BuildContext, *, latent_dim: int = 3, hidden: int = 16) -> None:
        super().__init__()
        d = math.prod(ctx.shape)
        self.shape, self.latent_dim = tuple(ctx.shape), latent_dim
        self.enc1 = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 2 * latent_dim))
        self.enc2 = nn.Linear(latent_dim, 2 * latent_dim)
        self.prior1 = nn.Linear(latent_dim, 2 * latent_dim)  # p(z1|z2)
        self.dec = nn.Sequential(nn.Linear(latent_dim, hidden), nn.Tanh(), nn.Linear(hidden, d))

    @staticmethod
    def _gauss(params: torch.Tensor) -> Independent:
        mu, log_sigma = params.chunk(2, -1)
        return Independent(Normal(mu, log_sigma.clamp(-5, 5).exp()), 1)

    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> Independent:
        return self._gauss(self.enc1(x.flatten(1)))

    def embed(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode(x).mean

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None):
        logits = self.dec(z).view(*z.shape[:-1], *self.shape)
        return Independent(torch.distributions.Bernoulli(logits=logits, validate_args=False), len(self.shape))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, samples: int = 1) -> Output:
        q1 = self.encode(x)
        z1 = q1.rsample((samples,))  # (S, B, L)
        q2 = self._gauss(self.enc2(z1))  # batch (S, B)
        z2 = q2.rsample()  # (S, B, L)
        p2 = Independent(Normal(torch.zeros_like(z2), torch.ones_like(z2)), 1)
        p1 = self._gauss(self.prior1(z2))
        top = Latent(q=q2, p=p2, z=z2, log_q=q2.log_prob(z2), log_p=p2.log_prob(z2),
                     analytic_kl=analytic_kl(q2, p2).mean(0), kl_per_dim=None)
        bottom = Latent(q=q1, p=p1, z=z1, log_q=q1.log_prob(z1), log_p=p1.log_prob(z1))  # no closed form: MC
        return Output(px=self.decode(z1), latents=[bottom, top], samples=samples)

    @torch.no_grad()
    def sample(self, n: int, *, generator=None, temperature: float = 1.0, mean: bool = True, cond=None) -> torch.Tensor:
        z2 = temperature * torch.randn(n, self.latent_dim, generator=generator)
        z1 = self._gauss(self.prior1(z2)).mean
        px = self.decode(z1)
        return px.mean if mean else px.sample()


class CriticELBO(Objective):
    """Two named steps: ``model`` minimises the ELBO plus a small penalty from a critic; ``critic``
    fits its own linear critic to the detached codes (its own optimiser, lr and betas)."""

    BOUND_AT_DEFAULTS = False  # the critic's penalty is added to the bound

    def __init__(self, ctx: BuildContext, *, weight: float = 0.01) -> None:
        super().__init__()
        self.elbo = ELBO(ctx)
        self.critic = nn.Linear(ctx.latent_dim or 4, 1)
        self.weight = weight

    def steps(self, model: nn.Module) -> dict[str, StepSpec]:
        return {MAIN_STEP: StepSpec(list(model.parameters())),
                "critic": StepSpec(list(self.critic.parameters()), {"lr": 5e-3, "betas": (0.5, 0.9)})}

    def forward(self, model: nn.Module, batch: Batch, ctx: StepContext, step: str = MAIN_STEP) -> Loss:
        if step == MAIN_STEP:
            loss = self.elbo(model, batch, ctx)
            mu = model.embed(batch.x)
            penalty = self.critic(mu).pow(2).mean()
            total = loss.total + self.weight * penalty
            return Loss(total=total, terms={**loss.terms, "penalty": penalty.detach(), "objective": total.detach()})
        mu = model.embed(batch.x).detach()
        fit = (self.critic(mu).squeeze(-1) - mu.sum(-1)).pow(2).mean()
        return Loss(total=fit, terms={"fit": fit.detach()})


def register() -> None:
    if "two-latent" not in MODELS:
        MODELS.register("two-latent")(TwoLatentVAE)
    if "critic-elbo" not in OBJECTIVES:
        OBJECTIVES.register("critic-elbo")(CriticELBO)


register()
