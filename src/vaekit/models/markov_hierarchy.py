"""A Markov hierarchical VAE, the model class Bit-Swap codes (Kingma, Abbeel & Ho, ICML 2019,
"Bit-Swap: Recursive Bits-Back Coding for Lossless Compression with Hierarchical Latent Variables").

Both chains are Markov, in opposite directions (paper, sec. 3 and eq. 8):

    inference   q(z_1 | x) q(z_2 | z_1) ... q(z_T | z_{T-1})          (bottom-up)
    generative  p(z_T) p(z_{T-1} | z_T) ... p(z_1 | z_2) p(x | z_1)   (top-down)

with diagonal Gaussians everywhere and p(z_T) = N(0, I). Because q(z_i | z_{i-1}) needs nothing
but the layer below, a coder can draw z_1 first, code x with it, then draw z_2 and code z_1, ...
(:mod:`vaekit.tasks.compress.bitswap`): the interleaving the ladder's top-down inference rules out.

ELBO(x) = E_q[log p(x|z_1) + sum_{i<T} log p(z_i|z_{i+1}) + log p(z_T) - sum_i log q(z_i|z_{i-1})]

Shapes (S samples, B examples, L_i latent dims of layer i, z_0 = x):
    x (B, *shape) --net.encoder--> h (B, F) --q_head--> q(z_1|x): mu, logvar (B, L_1); z_1 (S, B, L_1)
    i = 2..T: z_{i-1} (S, B, L_{i-1}) --up[i-2]--> q(z_i|z_{i-1}) (S, B, L_i); z_i (S, B, L_i)
    i = T-1..1: z_{i+1} --down[i-1]--> p(z_i|z_{i+1}) (S, B, L_i)
    z_1 --net.decoder--> p(x|z_1) batch (S, B)

The KL term of a layer is not one KL: q(z_i|z_{i-1}) and p(z_i|z_{i+1}) condition on different
variables, and z_{i+1} is drawn after z_i. Each layer's term E_q[log q(z_i|z_{i-1}) - log p(z_i|.)]
is estimated per dimension as -H[q(z_i|z_{i-1})] (closed form given the drawn parent) minus
log p(z_i|z_{i+1}) at the draws (the top layer: the closed-form KL to N(0, I) given z_{T-1}).
That is unbiased, with less variance than log q - log p, and per dimension, so the ELBO
objective's free bits (Kingma et al. 2016, used by Bit-Swap) apply per layer and dimension.
``log_q`` / ``log_p`` are the densities at the draws, so importance weights (IW-k NLL,
:func:`vaekit.core.types.log_weights`) are exact for the joint proposal.

A *code* (``encode``/``embed``/``decode``) is all layers concatenated, bottom first, as the ladder's:
``encode`` follows the mean path (each layer's posterior given the layer below at its mean);
``decode`` reads only z_1.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from torch import nn
from torch.distributions import Distribution, Independent

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.specs import Nested, Spec
from vaekit.core.types import Latent, Output
from vaekit.models.base import LatentVariableModel
from vaekit.models.ladder import LOGVAR_RANGE, _block, _gaussian, _normal
from vaekit.models.registry import MODELS
from vaekit.parts import LIKELIHOODS, NETS
from vaekit.parts.prior_normal import StandardNormalPrior

__all__ = ["LOGVAR_RANGE", "MarkovHierarchyVAE"]

_HALF_LOG_2PI_E = 0.5 * math.log(2 * math.pi * math.e)


def _conditional(width_in: int, width: int, width_out: int, activation: str) -> nn.Sequential:
    """A Gaussian conditional's network: two dense layers, then a head of 2 x width_out (mean, log-variance)."""
    return nn.Sequential(_block(width_in, width, activation), nn.Linear(width, 2 * width_out))


@MODELS.register("markov_hierarchy")
class MarkovHierarchyVAE(LatentVariableModel):
    """T >= 2 Gaussian layers, bottom-up Markov inference, top-down Markov generation (Bit-Swap)."""

    ENCODE_IS_POSTERIOR = False  # encode() is the mean-path posterior of all layers; IW-k goes through forward()

    MOVED_SETTINGS = {
        "latent_dim": "a hierarchy has one size per layer: model.latent_dims = [32, 16, 8] (bottom first)",
        "posterior": "the posterior is the bottom-up Markov chain of Gaussians; flows are not supported on it",
        "prior": "the top prior is N(0, I), which Bit-Swap's coder needs (equal-mass buckets)",
        "conditional": "conditional hierarchies are not implemented (labels would have to be coded too)",
    }

    def __init__(
        self, ctx: BuildContext, *, latent_dims: tuple[int, ...] = (32, 16, 8), hidden: tuple[int, ...] = (128, 64),
        net: Annotated[Spec, Nested(NETS)] = "mlp",
        likelihood: Annotated[Spec, Nested(LIKELIHOODS)] = "logistic",
        activation: Literal["relu", "gelu", "silu", "tanh"] = "silu",
    ) -> None:
        super().__init__()
        dims = tuple(int(d) for d in latent_dims)
        if len(dims) < 2:
            raise ConfigError(f"model.name='markov_hierarchy' (the bitswap recipe) needs at least 2 stochastic layers "
                              f"(model.latent_dims, bottom first); got {list(dims)} — a one-layer model is "
                              "model.name='vae' (the compress recipe)")
        if min(dims) < 1:
            raise ConfigError(f"model.latent_dims must all be at least 1; got {list(dims)}")
        hidden = tuple(int(h) for h in hidden)
        if len(hidden) != len(dims) - 1 or min(hidden) < 1:
            raise ConfigError(f"model.hidden gives the width of the networks between layers i and i+1: "
                              f"{len(dims) - 1} positive widths for latent_dims={list(dims)}; got {list(hidden)}")
        self.dims, self.shape = dims, tuple(ctx.shape)
        self.latent_dim = sum(dims)
        ctx = ctx.but(latent_dim=dims[0], cond_dim=0)
        self.likelihood = LIKELIHOODS.build(likelihood, ctx, "model.likelihood")
        nets = NETS.build(net, ctx.but(params_per_element=self.likelihood.params_per_element), "model.net")
        self.encoder, self.decoder = nets.encoder, nets.decoder  # x -> h (B, F);  z_1 -> p(x|z_1) params
        self.q_head = nn.Linear(self.encoder.out_features, 2 * dims[0])  # q(z_1|x)
        # up[i]: q(z_{i+2} | z_{i+1});  down[i]: p(z_{i+1} | z_{i+2})  (0-based i = 0..T-2, width hidden[i])
        self.up = nn.ModuleList(_conditional(dims[i], hidden[i], dims[i + 1], activation) for i in range(len(dims) - 1))
        self.down = nn.ModuleList(_conditional(dims[i + 1], hidden[i], dims[i], activation) for i in range(len(dims) - 1))
        self.prior = StandardNormalPrior(ctx.but(latent_dim=dims[-1]))  # p(z_T)

    # --- the conditionals ---------------------------------------------------------------------
    def posterior_first(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z_1|x): mean, log-variance (B, L_1)."""
        return _gaussian(self.q_head(self.encoder(x, None).float()))

    def posterior_up(self, z_below: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z_{level+1} | z_level) (0-based: ``level`` 1..T-1 is the layer drawn): (..., L_level) each."""
        return _gaussian(self.up[level - 1](z_below))

    def prior_below(self, z_above: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z_level | z_level+1) (0-based ``level`` 0..T-2): mean and log-variance (..., L_level)."""
        return _gaussian(self.down[level](z_above))

    # --- the bound ----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, samples: int = 1) -> Output:
        top = len(self.dims) - 1
        qs: list[Independent] = []
        zs: list[torch.Tensor] = []
        q = _normal(*self.posterior_first(x))  # batch (B,), event (L_1,)
        z = q.rsample((samples,))  # (S, B, L_1)
        qs.append(q)
        zs.append(z)
        for level in range(1, top + 1):
            q = _normal(*self.posterior_up(z, level))  # batch (S, B), event (L_level,)
            z = q.rsample()  # (S, B, L_level): one draw per draw of the layer below
            qs.append(q)
            zs.append(z)
        latents: list[Latent] = []
        for level in range(top + 1):
            q, z = qs[level], zs[level]
            log_q = q.log_prob(z)  # (S, B) (layer 1: q's batch is (B,), broadcast over S)
            if level == top:
                p = self.prior(None)  # N(0, I): batch (), event (L_T,)
                base = q.base_dist
                # KL(N(mu, s^2) || N(0, 1)) per dimension, given the drawn z_{T-1}: (S, B, L_T)
                kl_dims = 0.5 * (base.variance + base.mean.pow(2) - 1.0) - torch.log(base.stddev)
            else:
                p = _normal(*self.prior_below(zs[level + 1], level))  # batch (S, B)
                entropy = _HALF_LOG_2PI_E + torch.log(q.base_dist.stddev)  # (.., L) closed form given the parent
                kl_dims = -entropy - p.base_dist.log_prob(z)  # (S, B, L_level): -H[q] - log p at the draw
            kl_dims = kl_dims.expand(samples, *kl_dims.shape[-2:]).mean(0)  # (B, L_level)
            latents.append(Latent(q=q, p=p, z=z, log_q=log_q.expand(samples, -1), log_p=p.log_prob(z),
                                  analytic_kl=None, kl_per_dim=kl_dims, kl_estimate=kl_dims.sum(-1)))
        px = self.likelihood(self.decoder(zs[0], None).float())  # batch (S, B)
        return Output(px=px, latents=latents, samples=samples)

    # --- codes --------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        """The posterior along the mean path (each layer given the layer below at its mean), all
        layers concatenated bottom first: batch (B,), event (L_1 + ... + L_T,)."""
        mu, logvar = self.posterior_first(x)
        mus, logvars = [mu], [logvar]
        for level in range(1, len(self.dims)):
            mu, logvar = self.posterior_up(mu, level)
            mus.append(mu)
            logvars.append(logvar)
        return _normal(torch.cat(mus, -1), torch.cat(logvars, -1))

    def embed(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L_1 + ... + L_T): the mean-path posterior means."""
        return self.encode(x, cond).mean

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        """p(x|z_1) for codes (..., L_1 + ... + L_T) (only the z_1 part is read) or z_1 alone (..., L_1)."""
        if z.shape[-1] not in (self.latent_dim, self.dims[0]):
            raise ValueError(f"a markov_hierarchy code has {self.latent_dim} entries (or {self.dims[0]} for z_1 "
                             f"alone); got {z.shape[-1]}")
        return self.likelihood(self.decoder(z[..., : self.dims[0]], None).float())

    def sample_codes(
        self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, L_1 + ... + L_T): z_T ~ N(0, I), then each layer from p(z_i|z_{i+1}), every standard
        deviation scaled by ``temperature``."""
        z = self.prior.sample(n, generator=generator, temperature=temperature, cond=None)  # (n, L_T)
        where = generator.device if generator is not None else z.device
        codes = [z]
        for level in reversed(range(len(self.dims) - 1)):
            mu, logvar = self.prior_below(z, level)
            eps = torch.randn(mu.shape, generator=generator, device=where).to(mu)
            z = mu + temperature * torch.exp(0.5 * logvar) * eps
            codes.insert(0, z)
        return torch.cat(codes, -1)
