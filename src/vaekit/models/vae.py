"""The VAE (Kingma & Welling 2014; Rezende et al. 2014) as a composition of parts, optionally
conditional (CVAE, Sohn et al. 2015: the label conditions encoder, prior and decoder).

    x (B, *shape) [, y] --encoder--> h (B, F) --posterior--> q(z|x) --rsample--> z (S, B, L), log q
    z [, y] --decoder--> params (S, B, P, *shape) --likelihood--> p(x|z);   prior p(z) -> log p(z)
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch.distributions import Distribution

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.specs import Nested, Spec
from vaekit.core.types import Latent, Output
from vaekit.models.base import LatentVariableModel, conditioning_width
from vaekit.models.registry import MODELS
from vaekit.parts import LIKELIHOODS, NETS, POSTERIORS, PRIORS, analytic_kl, kl_divergence_per_dim
from vaekit.parts.flows import FlowDistribution, rsample_with_log_prob


@MODELS.register("vae")
class VAE(LatentVariableModel):
    """One Gaussian latent layer between an encoder/decoder pair (``net``)."""

    MOVED_SETTINGS = {
        "hidden": "the net's widths are model.net.hidden", "activation": "it is model.net.activation",
        "variance": "it is model.likelihood.variance (with model.likelihood.name=gaussian)",
    }

    def __init__(
        self, ctx: BuildContext, *, latent_dim: int = 16,
        net: Annotated[Spec, Nested(NETS)] = "mlp",
        posterior: Annotated[Spec, Nested(POSTERIORS)] = "gaussian",
        prior: Annotated[Spec, Nested(PRIORS)] = "normal",
        likelihood: Annotated[Spec, Nested(LIKELIHOODS)] = "bernoulli",
        conditional: bool = False,
    ) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ConfigError(f"model.latent_dim must be at least 1; got {latent_dim}")
        cond_dim = conditioning_width(ctx, conditional)
        self.cond_dim = cond_dim
        ctx = ctx.but(latent_dim=latent_dim, cond_dim=cond_dim)
        self.likelihood = LIKELIHOODS.build(likelihood, ctx, "model.likelihood")
        nets = NETS.build(net, ctx.but(params_per_element=self.likelihood.params_per_element), "model.net")
        self.encoder, self.decoder = nets.encoder, nets.decoder
        self.posterior = POSTERIORS.build(posterior, ctx.but(features=self.encoder.out_features), "model.posterior")
        self.prior = PRIORS.build(prior, ctx, "model.prior")
        if hasattr(self.prior, "attach"):  # a prior defined through the model's parts (e.g. vamp)
            self.prior.attach(self)
        self.shape = tuple(ctx.shape)
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        """q(z|x): batch shape (B,), event shape (L,)."""
        # .float(): under mixed-precision autocast the nets may run in bf16/fp16, but log-densities
        # summed over hundreds of pixels need fp32.
        return self.posterior(self.encoder(x, self.condition(cond)).float())

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        """p(x|z) for z of shape (..., L): batch shape (...), event shape = data shape."""
        return self.likelihood(self.decoder(z, self.condition(cond)).float())

    def embed(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L): the posterior mean (for a flow posterior, the flows' image of the base mean)."""
        return self.encode(x, cond).mean

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, samples: int = 1) -> Output:
        c = self.condition(cond)
        q = self.posterior(self.encoder(x, c).float())
        p = self.prior(c)
        estimate = None
        if isinstance(q, FlowDistribution):
            z, log_q, z0, log_q0 = q.rsample_with_base((samples,))  # (S, B, L), (S, B), base draw and density
            log_p = p.log_prob(z)
            base_kl = analytic_kl(q.base, p)
            if base_kl is not None:
                # KL(q_K || p) = KL(q_0 || p) + E_q0[log p(z_0) - log p(z_K) - sum_k log|det J_k|]:
                # the first term in closed form, the second by Monte Carlo. Flows start at the
                # identity, where the second term is exactly 0, so early training sees the plain
                # VAE's analytic KL instead of the noisy mean_S(log q - log p) (measured: the
                # noisy estimate let planar flows collapse the posterior on digits).
                estimate = base_kl + (p.log_prob(z0) - log_p - (log_q0 - log_q)).mean(0)
        else:
            z, log_q = rsample_with_log_prob(q, samples)  # (S, B, L), (S, B): reparameterised
            log_p = p.log_prob(z)
        per_dim = kl_divergence_per_dim(q, p)  # (B, L) for factorised q and p, else None
        latent = Latent(
            q=q, p=p, z=z, log_q=log_q, log_p=log_p,
            analytic_kl=per_dim.sum(-1) if per_dim is not None else analytic_kl(q, p), kl_per_dim=per_dim,
            kl_estimate=estimate,
        )
        px = self.likelihood(self.decoder(z, c).float())  # batch (S, B)
        return Output(px=px, latents=[latent], samples=samples)

    def sample_codes(
        self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, L) draws from the prior; ``cond`` is the conditioning vector (or None)."""
        return self.prior.sample(n, generator=generator, temperature=temperature, cond=cond)
