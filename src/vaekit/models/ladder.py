"""Ladder VAE (Sønderby et al. 2016, "Ladder Variational Autoencoders").

A hierarchy of Gaussian latent layers z_1 (bottom, next to x) ... z_T (top). The generative
model is top-down: p(z_T) p(z_{T-1}|z_T) ... p(z_1|z_2) p(x|z_1). Inference shares it: a
deterministic bottom-up pass gives each layer a likelihood-like estimate N(mu_hat_i, s_hat_i^2),
and the posterior of layer i < T is the precision-weighted merge of that estimate with the
top-down prior N(mu_p_i, s_p_i^2) (paper, eq. 17-18):

    s_q^2 = 1 / (s_hat^-2 + s_p^-2),   mu_q = (mu_hat s_hat^-2 + mu_p s_p^-2) s_q^2.

Shapes (S samples, B examples, L_i latent dims of layer i):
    x (B, *shape) --net.encoder--> d_1 (B, F) --up blocks--> d_i (B, H_i) --heads--> mu_hat_i, s_hat_i (B, L_i)
    top: z_T ~ N(mu_hat_T, s_hat_T) (S, B, L_T), p(z_T) = the ``prior`` part
    i = T-1..1: z_{i+1} (S, B, L_{i+1}) --down block--> mu_p_i, s_p_i (S, B, L_i); merge; z_i (S, B, L_i)
    z_1 --net.decoder--> p(x|z_1) batch (S, B)

The KL of each layer is analytic given the sampled parent (an unbiased one-sample estimate of
the hierarchical KL) and per dimension, so the ELBO objective's free bits apply per layer and
dimension; KL warm-up comes from ``objective.warmup_epochs`` (both from the paper). The
paper's batch normalisation is left out (it couples examples within a batch, and evaluation on
single examples must give the same numbers).

A *code* (what ``embed``/``encode`` return and ``decode`` takes) is all layers concatenated,
bottom first: (B, L_1 + ... + L_T). ``encode`` gives the posterior along the mean path (each
parent set to its posterior mean); ``decode`` reads only z_1, because p(x|z) depends on z_1
alone: editing a higher layer's part of a code does not change its decoding — resample the
path below it with ``sample_codes`` instead.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Literal

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.specs import Nested, Spec
from vaekit.core.types import Latent, Output
from vaekit.models.base import LatentVariableModel, conditioning_width
from vaekit.models.registry import MODELS
from vaekit.parts import LIKELIHOODS, NETS, PRIORS, analytic_kl, kl_divergence_per_dim
from vaekit.parts.conditioning import concat
from vaekit.parts.flows import rsample_with_log_prob
from vaekit.parts.nets.activations import ACTIVATIONS

# log s^2 of every Gaussian is clamped, as in the plain posterior: an unbounded head overflows
# exp() early in training, and a vanishing s makes the merge's precisions explode.
LOGVAR_RANGE = (-12.0, 12.0)


def _gaussian(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 2L) head output -> mean (..., L), log-variance (..., L) clamped."""
    mu, logvar = params.float().chunk(2, dim=-1)
    return mu, logvar.clamp(*LOGVAR_RANGE)


def _normal(mu: torch.Tensor, logvar: torch.Tensor) -> Independent:
    return Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1)


def precision_weighted(mu_hat: torch.Tensor, lv_hat: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor,
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The ladder merge (Sønderby et al. 2016, eq. 17-18) in log-variance form; shapes broadcast."""
    prec_hat, prec_p = torch.exp(-lv_hat), torch.exp(-lv_p)
    var = 1.0 / (prec_hat + prec_p)
    return (mu_hat * prec_hat + mu_p * prec_p) * var, torch.log(var)


def _block(width_in: int, width: int, activation: str) -> nn.Sequential:
    """Two dense layers, as each deterministic ladder block in the paper."""
    act = ACTIVATIONS[activation]
    return nn.Sequential(nn.Linear(width_in, width), act(), nn.Linear(width, width), act())


@MODELS.register("ladder")
class LadderVAE(LatentVariableModel):
    """T >= 2 stochastic layers with a top-down precision-weighted posterior."""

    ENCODE_IS_POSTERIOR = False  # encode() is the mean-path posterior; importance sampling goes through forward()

    MOVED_SETTINGS = {
        "latent_dim": "a ladder has one size per layer: model.latent_dims = [32, 16, 8] (bottom first)",
        "posterior": "a ladder's posterior is the precision-weighted merge; flows are not supported on it",
    }

    def __init__(
        self, ctx: BuildContext, *, latent_dims: tuple[int, ...] = (32, 16, 8), hidden: tuple[int, ...] = (128, 64),
        net: Annotated[Spec, Nested(NETS)] = "mlp",
        prior: Annotated[Spec, Nested(PRIORS)] = "normal",
        likelihood: Annotated[Spec, Nested(LIKELIHOODS)] = "bernoulli",
        activation: Literal["relu", "gelu", "silu", "tanh"] = "relu",
        conditional: bool = False,
    ) -> None:
        super().__init__()
        dims = tuple(int(d) for d in latent_dims)
        if len(dims) < 2:
            raise ConfigError(f"model.name='ladder' needs at least 2 stochastic layers (model.latent_dims); got "
                              f"{list(dims)} — a one-layer model is model.name='vae'")
        if min(dims) < 1:
            raise ConfigError(f"model.latent_dims must all be at least 1; got {list(dims)}")
        if len(hidden) != len(dims) - 1 or min(hidden) < 1:
            raise ConfigError(f"model.hidden gives the width of the deterministic block of each layer above the "
                              f"first: {len(dims) - 1} positive widths for latent_dims={list(dims)}; got {list(hidden)}")
        cond_dim = conditioning_width(ctx, conditional)
        self.cond_dim, self.dims, self.shape = cond_dim, dims, tuple(ctx.shape)
        self.latent_dim = sum(dims)
        ctx = ctx.but(latent_dim=dims[0], cond_dim=cond_dim)
        self.likelihood = LIKELIHOODS.build(likelihood, ctx, "model.likelihood")
        nets = NETS.build(net, ctx.but(params_per_element=self.likelihood.params_per_element), "model.net")
        self.encoder, self.decoder = nets.encoder, nets.decoder  # x -> d_1 (B, F);  z_1 -> p(x|z_1) params
        widths = [self.encoder.out_features, *hidden]  # width of d_i, i = 1..T
        # Bottom-up: d_i = block(d_{i-1} [+ y]) for i >= 2; every layer's head reads d_i.
        self.up = nn.ModuleList(_block(widths[i - 1] + cond_dim, widths[i], activation) for i in range(1, len(dims)))
        self.up_heads = nn.ModuleList(nn.Linear(widths[i], 2 * dims[i]) for i in range(len(dims)))
        # Top-down: p(z_i | z_{i+1} [, y]) for i = 1..T-1 (index i-1), block width that of layer i+1.
        self.down = nn.ModuleList(
            nn.Sequential(_block(dims[i + 1] + cond_dim, widths[i + 1], activation), nn.Linear(widths[i + 1], 2 * dims[i]))
            for i in range(len(dims) - 1)
        )
        self.prior = PRIORS.build(prior, ctx.but(latent_dim=dims[-1]), "model.prior")
        if hasattr(self.prior, "attach"):
            # A prior made of the model's own parts (vamp): pseudo-inputs go up the whole ladder
            # to the top layer's bottom-up estimate.
            self.prior.attach(SimpleNamespace(encoder=self._top_features, posterior=self._top_estimate))

    # --- inference ----------------------------------------------------------------------------
    def _bottom_up(self, x: torch.Tensor, c: torch.Tensor | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(mu_hat_i, logvar_hat_i) (B, L_i) for i = 1..T]."""
        d = self.encoder(x, c).float()
        estimates = [_gaussian(self.up_heads[0](d))]
        for block, head in zip(self.up, self.up_heads[1:]):
            d = block(concat(d, c))
            estimates.append(_gaussian(head(d)))
        return estimates

    def _top_features(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        d = self.encoder(x, c).float()
        for block in self.up:
            d = block(concat(d, c))
        return d

    def _top_estimate(self, d: torch.Tensor) -> Distribution:
        return _normal(*_gaussian(self.up_heads[-1](d)))

    def _prior_below(self, z_above: torch.Tensor, level: int, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z_level | z_{level+1}): mean and log-variance (..., B, L_level); ``level`` counts from 0."""
        return _gaussian(self.down[level](concat(z_above, c)))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, samples: int = 1) -> Output:
        c = self.condition(cond)
        estimates = self._bottom_up(x, c)
        q = _normal(*estimates[-1])  # top layer: batch (B,), event (L_T,)
        z, log_q = rsample_with_log_prob(q, samples)  # (S, B, L_T), (S, B)
        p = self.prior(c)
        per_dim = kl_divergence_per_dim(q, p)
        latents = [Latent(q=q, p=p, z=z, log_q=log_q, log_p=p.log_prob(z),
                          analytic_kl=per_dim.sum(-1) if per_dim is not None else analytic_kl(q, p),
                          kl_per_dim=per_dim)]
        for level in reversed(range(len(self.dims) - 1)):
            mu_p, lv_p = self._prior_below(z, level, c)  # (S, B, L_level)
            p_i = _normal(mu_p, lv_p)
            q_i = _normal(*precision_weighted(*estimates[level], mu_p, lv_p))  # batch (S, B)
            z = q_i.rsample()  # (S, B, L_level): one draw per parent draw
            kl_dims = kl_divergence(q_i.base_dist, p_i.base_dist)  # (S, B, L_level), given the parent
            latents.insert(0, Latent(q=q_i, p=p_i, z=z, log_q=q_i.log_prob(z), log_p=p_i.log_prob(z),
                                     analytic_kl=kl_dims.sum(-1).mean(0), kl_per_dim=kl_dims.mean(0)))
        px = self.likelihood(self.decoder(z, c).float())  # batch (S, B)
        return Output(px=px, latents=latents, samples=samples)

    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        """The posterior along the mean path (each parent at its posterior mean), all layers
        concatenated bottom first: batch (B,), event (L_1 + ... + L_T,)."""
        c = self.condition(cond)
        estimates = self._bottom_up(x, c)
        mus, logvars = [estimates[-1][0]], [estimates[-1][1]]
        for level in reversed(range(len(self.dims) - 1)):
            mu_q, lv_q = precision_weighted(*estimates[level], *self._prior_below(mus[0], level, c))
            mus.insert(0, mu_q)
            logvars.insert(0, lv_q)
        return _normal(torch.cat(mus, -1), torch.cat(logvars, -1))

    def embed(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L_1 + ... + L_T): the mean-path posterior means."""
        return self.encode(x, cond).mean

    # --- generation ---------------------------------------------------------------------------
    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        """p(x|z_1) for codes (..., L_1 + ... + L_T) (only the z_1 part is read) or bottom-layer z_1 (..., L_1)."""
        if z.shape[-1] not in (self.latent_dim, self.dims[0]):
            raise ValueError(f"a ladder code has {self.latent_dim} entries (or {self.dims[0]} for z_1 alone); "
                             f"got {z.shape[-1]}")
        return self.likelihood(self.decoder(z[..., : self.dims[0]], self.condition(cond)).float())

    def sample_codes(
        self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, L_1 + ... + L_T): z_T from the prior, then each layer from p(z_i|z_{i+1}), every
        standard deviation scaled by ``temperature``; ``cond`` is the conditioning vector."""
        z = self.prior.sample(n, generator=generator, temperature=temperature, cond=cond)  # (n, L_T)
        where = generator.device if generator is not None else z.device
        codes = [z]
        for level in reversed(range(len(self.dims) - 1)):
            mu, logvar = self._prior_below(z, level, cond)
            eps = torch.randn(mu.shape, generator=generator, device=where).to(mu)
            z = mu + temperature * torch.exp(0.5 * logvar) * eps
            codes.insert(0, z)
        return torch.cat(codes, -1)
