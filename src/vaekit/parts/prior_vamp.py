"""VampPrior (Tomczak & Welling 2018): the prior is the model's own posterior at K learned
pseudo-inputs,

    p(z) = (1/K) sum_k q(z | u_k),        u_k (K, *shape) learned parameters

    u (K, *shape) --model.encoder--> h (K, F) --model.posterior--> N(mu_k, sigma_k) (K, L)
                                                                 -> DiagonalGaussianMixture, event (L,)

The encoder and posterior are the model's (gradients of log p(z) reach them, as in the paper);
the model hands itself over once it is built (``attach``) and the prior keeps a plain reference,
so the encoder's weights are not registered twice in the state dict. Only the pseudo-inputs are
this part's parameters (``prior.pseudo_inputs``).

* Flow posteriors: the VampPrior is defined with the *base* Gaussian of q at the pseudo-inputs
  (a flow's density is known only at its own samples), so ``posterior.flows`` composes with it.
* Conditional models: p(z|y) = (1/K) sum_k q(z | u_k, y), the pseudo-inputs encoded with each
  example's condition.
* Pseudo-inputs live in the data's range: for images (``bounded`` left at auto) the raw
  parameters start at 0.5 + 0.01 N(0, 1) and pass through hardtanh into [0, 1], as in the
  paper's code; otherwise (e.g. standardised tables) they start at 0.01 N(0, 1), unbounded.

No closed-form KL exists: objectives use log q(z|x) - log p(z) recorded where z was drawn.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution, Normal

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts.mixture import DiagonalGaussianMixture
from vaekit.parts.registries import PRIORS


@PRIORS.register("vamp")
class VampPrior(nn.Module):
    def __init__(self, ctx: BuildContext, *, components: int = 500, bounded: bool | None = None) -> None:
        super().__init__()
        if components < 1:
            raise ConfigError(f"model.prior.components must be at least 1; got {components}")
        self.components, self.latent_dim = components, ctx.latent_dim
        self.bounded = ctx.is_image if bounded is None else bounded
        centre = 0.5 if self.bounded else 0.0
        self.pseudo_inputs = nn.Parameter(centre + 0.01 * torch.randn(components, *ctx.shape))  # (K, *shape)
        object.__setattr__(self, "_owner", None)  # the model, not a submodule (see module docstring)

    def attach(self, model: Any) -> None:
        """Called by the model once built: the prior encodes with ``model.encoder`` and
        ``model.posterior``. A plain attribute, so the model is not a child module of its prior."""
        object.__setattr__(self, "_owner", model)

    def inputs(self) -> torch.Tensor:
        """The pseudo-inputs in data space (K, *shape)."""
        u = self.pseudo_inputs
        return torch.nn.functional.hardtanh(u, 0.0, 1.0) if self.bounded else u

    def _components(self, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and standard deviations of q(z|u_k[, c]): (K, L), or (B, K, L) with ``cond`` (B, C)."""
        model = self._owner
        if model is None:
            raise ConfigError("the vamp prior needs the model's encoder: build it inside a model (model.prior = \"vamp\")")
        u = self.inputs()
        if cond is None:
            base = self._base(model.posterior(model.encoder(u, None).float()))
            return base.loc, base.scale
        # Encode the pseudo-inputs once per distinct condition, then gather per example.
        rows, inverse = torch.unique(cond, dim=0, return_inverse=True)  # (U, C), (B,)
        k = u.shape[0]
        uu = u.repeat(rows.shape[0], *([1] * (u.dim() - 1)))  # (U*K, *shape)
        base = self._base(model.posterior(model.encoder(uu, rows.repeat_interleave(k, 0)).float()))
        loc, scale = base.loc.view(rows.shape[0], k, -1), base.scale.view(rows.shape[0], k, -1)
        return loc[inverse], scale[inverse]

    @staticmethod
    def _base(q: Distribution) -> Normal:
        """The diagonal Gaussian under q (a flow posterior's base distribution)."""
        while not isinstance(q, Normal):
            q = q.base if hasattr(q, "base") else q.base_dist
        return q

    def forward(self, cond: torch.Tensor | None = None) -> Distribution:
        """p(z) (or p(z|c)): batch () (or (B,)), event (L,); uniform weights 1/K."""
        loc, scale = self._components(cond)
        return DiagonalGaussianMixture(loc, scale, torch.zeros(loc.shape[:-1], device=loc.device, dtype=loc.dtype))

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, L): a pseudo-input k drawn uniformly, then z = mu_k + temperature * sigma_k * eps.
        Temperature 0 gives the chosen components' means. ``cond``: (n, C) condition vectors."""
        loc, scale = self._components(cond)  # (K, L) or (n, K, L)
        where = generator.device if generator is not None else loc.device
        k = torch.randint(self.components, (n,), generator=generator, device=where).to(loc.device)  # (n,)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=where).to(loc)
        if cond is None:
            mu, sigma = loc[k], scale[k]
        else:
            rows = torch.arange(n, device=loc.device)
            mu, sigma = loc[rows, k], scale[rows, k]
        return mu + temperature * sigma * eps
