"""A learned prior over a VQ-VAE's codes: the ``pixelcnn-prior`` second stage (van den Oord et al.
2017, section 3.2: "we fit an autoregressive distribution over z, p(z), so that we can generate
x via ancestral sampling"), a gated PixelCNN (van den Oord et al. 2016) over the parent's grid.

Trained with ``vaekit train --recipe pixelcnn-prior --parent RUN`` on the parent's data: the
parent (frozen, not part of this stage's weights) maps every image to its code indices, and this
stage learns p_prior(indices). With the parent's point-mass posterior, this gives the bound

    -log p(x) <= -log p(x | z_q(x)) - log p_prior(z_q(x))          (nats per image)

which is what this stage's ``loss`` / ``vaekit evaluate`` NLL and bits/dim report (the first
term from the frozen parent decoder, the second, logged as ``code_nll``, from this stage).
Sampling draws codes position by position in raster order and decodes them through the parent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Distribution

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import Output
from vaekit.models.base import LatentVariableModel, conditioning_width
from vaekit.models.registry import MODELS
from vaekit.parts.nets.pixelcnn import GatedPixelCNN


class CodeBound(Distribution):
    """log_prob(x) = log p(x | z_q) + log p_prior(z_q) per example, broadcast to (S, B): the bound
    above, for the images the codes came from. ``mean`` is the parent's reconstruction."""

    has_rsample = False

    def __init__(self, decoded: Distribution, log_prior: torch.Tensor, samples: int) -> None:
        self.decoded, self.log_prior, self.samples = decoded, log_prior, samples  # batch (B,), (B,)
        super().__init__(torch.Size((samples, *log_prior.shape)), decoded.event_shape, validate_args=False)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        per_example = self.decoded.log_prob(value) + self.log_prior  # (B,)
        return per_example.expand(self.samples, -1)

    @property
    def mean(self) -> torch.Tensor:
        return self.decoded.mean.expand(self.samples, *self.decoded.mean.shape)


@MODELS.register("pixelcnn-prior")
class PixelCNNPrior(LatentVariableModel):
    """Gated PixelCNN prior over the codes of a parent ``vqvae`` run."""

    ENCODE_IS_POSTERIOR = False  # encode() is the parent's pre-quantisation point
    PARENT_RECIPE = "vqvae"  # the first stage this model needs (tests train it first)
    MOVED_SETTINGS = {"latent_dim": "the code grid is the parent's (model.codes / code_dim of the vqvae run)"}

    def __init__(self, ctx: BuildContext, *, channels: int = 64, layers: int = 8, kernel: int = 3,
                 conditional: bool = False) -> None:
        super().__init__()
        parent = ctx.parent
        if parent is None:
            raise ConfigError("model.name='pixelcnn-prior' is a second stage over a vqvae run's codes: train it with "
                              "`vaekit train --recipe pixelcnn-prior --parent RUN` (RUN trained with --recipe vqvae)")
        first = parent.model
        if not all(hasattr(first, a) for a in ("indices", "decode_indices", "quantizer")):
            kind = dict(getattr(getattr(parent, "config", None), "model", None) or {}).get("name", "?")
            raise ConfigError(f"--parent {parent.path} is a {kind!r} run: a pixelcnn-prior models discrete codes, so "
                              "its parent must be a vqvae run (Gaussian latents have no codes to model)")
        if layers < 1 or channels < 1 or kernel < 1 or kernel % 2 == 0:
            raise ConfigError(f"model.layers and model.channels must be positive and model.kernel odd; got "
                              f"{layers}, {channels}, {kernel}")
        cond_dim = conditioning_width(ctx, conditional)
        first.eval().requires_grad_(False)
        object.__setattr__(self, "first_stage", first)  # a plain attribute: not saved, not trained
        self.cond_dim, self.shape = cond_dim, tuple(ctx.shape)
        self.codes, self.grid, self.latent_dim = first.codes, first.grid, first.latent_dim
        self.net = GatedPixelCNN(first.codes, channels=channels, layers=layers, kernel=kernel, cond_dim=cond_dim)

    def train(self, mode: bool = True) -> "PixelCNNPrior":
        super().train(mode)
        self.first_stage.eval()  # the parent's codebook must never update
        return self

    def log_prior(self, indices: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """log p_prior(indices) per example (B,), nats."""
        logits = self.net(indices, cond)  # (B, K, h, w)
        return -F.cross_entropy(logits, indices, reduction="none").flatten(1).sum(1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, samples: int = 1) -> Output:
        with torch.no_grad():
            indices = self.first_stage.indices(x)  # (B, h, w)
            decoded = self.first_stage.decode_indices(indices)  # p(x | z_q), batch (B,)
        log_prior = self.log_prior(indices, self.condition(cond))
        return Output(px=CodeBound(decoded, log_prior, samples), latents=[], samples=samples,
                      stats={"code_nll": (-log_prior).mean()})

    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        return self.first_stage.encode(x)

    def embed(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.first_stage.embed(x)

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> Distribution:
        return self.first_stage.decode(z)

    @torch.no_grad()
    def sample_indices(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
                       cond: torch.Tensor | None = None) -> torch.Tensor:
        """(n, h, w) codes drawn in raster order from the PixelCNN (logits / ``temperature``)."""
        if temperature <= 0:
            raise ValueError(f"temperature must be positive; got {temperature}")
        device = self.first_stage.quantizer.embedding.device
        indices = torch.zeros(n, *self.grid, dtype=torch.long, device=device)
        for i, j, logits in self.net.raster_logits(indices, cond):  # (n, K) at (i, j), given the codes drawn so far
            probs = torch.softmax(logits.float() / temperature, -1)
            where = generator.device if generator is not None else probs.device
            indices[:, i, j] = torch.multinomial(probs.to(where), 1, generator=generator).squeeze(1).to(device)
        return indices

    def sample_codes(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
                     cond: torch.Tensor | None = None) -> torch.Tensor:
        """(n, D*h*w): PixelCNN-drawn codes as the parent's continuous code vectors."""
        indices = self.sample_indices(n, generator=generator, temperature=temperature, cond=cond)
        return self.first_stage.quantizer.lookup(indices).flatten(1)

    def extra_repr(self) -> str:
        return f"codes={self.codes}, grid={self.grid}"
