"""β-TCVAE (Chen et al. 2018, "Isolating sources of disentanglement in VAEs").

The KL term of the ELBO, averaged over the data, splits into three parts:

    E_x KL(q(z|x) || p(z)) = I_q(x; z)                       index-code mutual information (MI)
                           + KL(q(z) || Π_d q(z_d))           total correlation (TC)
                           + Σ_d KL(q(z_d) || p(z_d))         dimension-wise KL (DWKL)

and β-TCVAE minimises  recon + α·MI + β·TC + γ·DWKL  (paper: α = γ = 1, β = 6). The aggregate
posterior q(z) = (1/N) Σ_n q(z|x_n) is estimated on the minibatch of B examples, with z_i drawn
from q(z|x_i) and the matrix log q(z_i | x_j) of shape (B, B, L):

* ``mss`` (minibatch stratified sampling, default): z_i's own posterior counts once with weight
  1/N, and the other M = B − 1 examples stand for the remaining N − 1 with weight (N − 1)/(N M)
  each; the weights sum to 1, so a posterior that ignores x gives q(z) exactly.
* ``mws`` (minibatch weighted sampling): every term weighted 1/(N B), as in the paper's eq. for
  MWS; this estimate of log q(z) sits log N (and of Σ_d log q(z_d), L·log N) below the truth when
  posteriors overlap, a constant that leaves the gradients alone but shifts the reported MI/TC/DWKL.

Needs a factorised Gaussian posterior (per-dimension densities) and N = training-set size (from
the step context). The reported ``loss`` is the plain −ELBO (recon + analytic KL); ``mi``, ``tc``
and ``dwkl`` are batch estimates in nats.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.distributions import Independent, Normal

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError, DataError
from vaekit.core.types import Batch, Loss, StepContext
from vaekit.objectives.registry import MAIN_STEP, OBJECTIVES, Objective


def log_weight_matrix(b: int, n: int, estimator: str, device: torch.device) -> torch.Tensor:
    """(B, B) log-weights of q(z_i | x_j) in the minibatch estimate of q(z_i)."""
    if estimator == "mws":
        return torch.full((b, b), -math.log(n * b), device=device)
    m = b - 1
    w = torch.full((b, b), math.log((n - 1) / (n * m)), device=device)
    w.fill_diagonal_(-math.log(n))
    return w


def tc_decomposition(z: torch.Tensor, q: Independent, log_q: torch.Tensor, log_p: torch.Tensor, n: int,
                     estimator: str) -> dict[str, torch.Tensor]:
    """MI, TC and DWKL (scalars, nats) of one latent layer from z (B, L) ~ q(z|x) (batch (B,))."""
    base = q.base_dist
    b = z.shape[0]
    log_qz_ij = Normal(base.loc[None], base.scale[None], validate_args=False).log_prob(z[:, None])  # (B, B, L)
    logw = log_weight_matrix(b, n, estimator, z.device)  # (B, B)
    log_qz = torch.logsumexp(log_qz_ij.sum(2) + logw, dim=1)  # (B,)
    log_prod_qz = torch.logsumexp(log_qz_ij + logw[..., None], dim=1).sum(1)  # (B,)
    return {"mi": (log_q - log_qz).mean(), "tc": (log_qz - log_prod_qz).mean(), "dwkl": (log_prod_qz - log_p).mean()}


@OBJECTIVES.register("beta-tcvae")
class BetaTCVAE(Objective):
    BOUND_AT_DEFAULTS = False
    MIN_BATCH = 2

    def __init__(
        self, ctx: BuildContext, *, alpha: float = 1.0, beta: float = 6.0, gamma: float = 1.0,
        estimator: Literal["mss", "mws"] = "mss",
    ) -> None:
        super().__init__()
        if min(alpha, beta, gamma) < 0:
            raise ConfigError(f"objective.alpha, beta and gamma must be >= 0; got {alpha}, {beta}, {gamma}")
        self.alpha, self.beta, self.gamma, self.estimator = alpha, beta, gamma, estimator
        self.n_train = ctx.n_train

    def forward(self, model: nn.Module, batch: Batch, ctx: StepContext, step: str = MAIN_STEP) -> Loss:
        out = self.run_model(model, batch, samples=1)
        if len(out.latents) != 1:
            raise ConfigError("objective.name='beta-tcvae' decomposes one latent layer; this model has "
                              f"{len(out.latents)}")
        latent = out.latents[0]
        q = latent.q
        if not (isinstance(q, Independent) and isinstance(q.base_dist, Normal)):
            raise ConfigError("objective.name='beta-tcvae' needs a factorised Gaussian posterior (no flows); "
                              "remove model.posterior.flows")
        b = len(batch)
        if b < 2:
            raise DataError("beta-tcvae estimates q(z) on the minibatch and needs batches of at least 2 examples; "
                            "raise train.batch_size (and avoid a last batch of 1)")
        n = max(ctx.n_train or self.n_train, b)
        recon = -out.log_px(batch.x)[0]  # (B,)
        parts = tc_decomposition(latent.z[0], q, latent.log_q[0], latent.log_p[0], n, self.estimator)
        total = (recon.mean() + self.alpha * parts["mi"] + self.beta * parts["tc"] + self.gamma * parts["dwkl"]
                 + out.aux_total())
        recon_m, kl_m = recon.mean().detach(), out.kl().mean().detach()
        terms = {"loss": recon_m + kl_m, "recon": recon_m, "kl": kl_m, "objective": total.detach()}
        terms.update({k: v.detach() for k, v in parts.items()})
        terms.update(out.logged())
        return Loss(total=total, terms=terms)
