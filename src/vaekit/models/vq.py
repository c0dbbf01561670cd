"""VQ-VAE (van den Oord et al. 2017, "Neural Discrete Representation Learning").

    x (B, C, H, W) --encoder--> z_e (B, D, h, w) --quantiser--> z_q, indices (B, h, w)
    z_q --decoder--> p(x|z_q) (batch (S, B): the decoding is deterministic, broadcast over S)

As a latent-variable model: q(z|x) is a point mass on the nearest codes and p(z) uniform over
the K codes at each of the h*w positions, so KL(q || p) = h*w*log K nats exactly (paper,
section 3.1) and the ELBO is log p(x|z_q) - h*w*log K; every importance sample is the same, so
IW-k equals the ELBO. A learned prior over the codes (the ``pixelcnn-prior`` second stage)
tightens this. The commitment cost beta * ||z_e - sg(z_q)||^2 is reported as the auxiliary loss
``commitment``; codebook perplexity and the fraction of codes used are logged every epoch.

A *code* (``encode``/``embed``/``decode``) is the continuous pre-quantisation output z_e
flattened to (B, D*h*w): interpolation happens there, and ``decode`` quantises it first.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch.distributions import Distribution

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.specs import Nested, Spec
from vaekit.core.types import Latent, Output
from vaekit.models.base import LatentVariableModel
from vaekit.models.point_mass import PointMass
from vaekit.models.registry import MODELS
from vaekit.parts import LIKELIHOODS
from vaekit.parts.nets.grid import GridDecoder, GridEncoder
from vaekit.parts.nets.mlp import check_widths
from vaekit.parts.quantizers import VectorQuantizerEMA


@MODELS.register("vqvae")
class VQVAE(LatentVariableModel):
    ENCODE_IS_POSTERIOR = False  # encode() is the continuous pre-quantisation point, not q over the codes
    MOVED_SETTINGS = {
        "latent_dim": "a VQ-VAE's latents are a grid of codes: model.codes (codebook size) and model.code_dim",
        "net": "a VQ-VAE's nets are model.channels (conv stages)",
        "conditional": "conditional VQ-VAEs are not supported; condition the pixelcnn-prior stage instead",
    }

    def __init__(
        self, ctx: BuildContext, *, codes: int = 128, code_dim: int = 16, channels: tuple[int, ...] = (32, 64),
        commitment: float = 0.25, decay: float = 0.99, restart_below: float = 1.0,
        likelihood: Annotated[Spec, Nested(LIKELIHOODS)] = "bernoulli",
        activation: Literal["relu", "gelu", "silu", "tanh"] = "relu",
    ) -> None:
        super().__init__()
        if len(ctx.shape) != 3:
            raise ConfigError(f"model.name='vqvae' needs image data (C, H, W); this data has shape {tuple(ctx.shape)}")
        if codes < 2 or code_dim < 1:
            raise ConfigError(f"model.codes must be at least 2 and model.code_dim at least 1; got {codes}, {code_dim}")
        if commitment < 0 or not 0.0 < decay < 1.0:
            raise ConfigError(f"model.commitment must be >= 0 and model.decay in (0, 1); got {commitment}, {decay}")
        check_widths(channels, "channel counts")
        self.shape = tuple(ctx.shape)
        self.likelihood = LIKELIHOODS.build(likelihood, ctx.but(latent_dim=code_dim), "model.likelihood")
        self.encoder = GridEncoder(ctx.shape, channels, code_dim, activation)
        self.decoder = GridDecoder(ctx.shape, channels, code_dim, self.likelihood.params_per_element, activation)
        self.quantizer = VectorQuantizerEMA(codes, code_dim, decay=decay, restart_below=restart_below)
        self.codes, self.code_dim, self.grid, self.beta = codes, code_dim, self.encoder.grid, commitment
        self.latent_dim = code_dim * self.grid[0] * self.grid[1]

    @property
    def kl_nats(self) -> float:
        """KL(q || uniform p) = h*w*log K per example."""
        return self.grid[0] * self.grid[1] * self.quantizer.log_codes()

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, samples: int = 1) -> Output:
        z_e = self.encoder(x).float()  # (B, D, h, w)
        z_q, indices, commitment, stats = self.quantizer(z_e)
        params = self.decoder(z_q).float()  # (B, P, C, H, W)
        px = self.likelihood(params.unsqueeze(0).expand(samples, *params.shape))  # batch (S, B)
        b = x.shape[0]
        z = z_q.flatten(1).unsqueeze(0).expand(samples, b, -1)  # (S, B, D*h*w)
        kl = torch.full((b,), self.kl_nats, device=x.device)
        latent = Latent(q=PointMass(z_q.flatten(1)), p=PointMass(z_q.flatten(1)), z=z,
                        log_q=torch.zeros(samples, b, device=x.device), log_p=-kl.expand(samples, b),
                        analytic_kl=kl)
        return Output(px=px, latents=[latent], samples=samples, aux={"commitment": self.beta * commitment},
                      stats=stats)

    # --- codes -------------------------------------------------------------------------------
    def indices(self, x: torch.Tensor) -> torch.Tensor:
        """The code indices (B, h, w) of images x (B, C, H, W)."""
        return self.quantizer(self.encoder(x).float())[1] if not self.training else self._eval_indices(x)

    def _eval_indices(self, x: torch.Tensor) -> torch.Tensor:
        z_e = self.encoder(x).float()
        rows = z_e.permute(0, 2, 3, 1).reshape(-1, self.code_dim)
        return self.quantizer.nearest(rows).view(x.shape[0], *self.grid)

    def decode_indices(self, indices: torch.Tensor) -> Distribution:
        """p(x|z_q) for code indices (B, h, w)."""
        return self.likelihood(self.decoder(self.quantizer.lookup(indices)).float())

    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        """A point mass on the continuous pre-quantisation output z_e, flattened (B, D*h*w)."""
        return PointMass(self.encoder(x).float().flatten(1))

    def embed(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode(x, cond).mean

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        """p(x|z_q) for continuous codes (..., D*h*w): each position is quantised to its nearest code."""
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"a VQ-VAE code has {self.latent_dim} entries (code_dim x grid); got {z.shape[-1]}")
        lead = z.shape[:-1]
        grid = z.reshape(-1, self.code_dim, *self.grid)
        rows = grid.permute(0, 2, 3, 1).reshape(-1, self.code_dim)
        indices = self.quantizer.nearest(rows.float()).view(-1, *self.grid)
        params = self.decoder(self.quantizer.lookup(indices)).float()
        return self.likelihood(params.reshape(*lead, *params.shape[1:]))

    def sample_codes(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
                     cond: torch.Tensor | None = None) -> torch.Tensor:
        """(n, D*h*w): codes drawn uniformly at every position (the VQ-VAE's own prior; train a
        ``pixelcnn-prior`` stage for samples worth looking at). ``temperature`` has no effect."""
        where = generator.device if generator is not None else self.quantizer.embedding.device
        indices = torch.randint(self.codes, (n, *self.grid), generator=generator, device=where)
        return self.quantizer.lookup(indices.to(self.quantizer.embedding.device)).flatten(1)
