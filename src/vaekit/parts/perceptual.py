"""Perceptual reconstruction terms, added to an objective's loss (``objective.perceptual = [...]``).

Each term compares x with the decoder's mean x~ and returns a per-example penalty (B,), which the
objective weights and adds to what it minimises (it is not part of the reported -ELBO, and not in
nats):

* ``ssim``: weight * (1 - SSIM(x, x~)), SSIM of Wang et al. 2004 with an 11x11 Gaussian window
  (sigma 1.5, shrunk to the image side for small images), C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 1,
  averaged over channels and positions.
* ``ms-ssim``: weight * (1 - MS-SSIM), Wang et al. 2003: contrast-structure at each of ``scales``
  scales (2x average pooling between them) and luminance at the coarsest, combined with the
  paper's exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) truncated to ``scales`` and renormalised
  (28x28 images fit 3 scales, not the paper's 5).
* ``features``: weight * 1/2 ||phi(x) - phi(x~)||^2 with phi the penultimate layer of a classifier
  trained as a linked stage: train the VAE with ``--parent CLASSIFIER_RUN`` (sha256-pinned), or with
  ``--parent NET.safetensors``, a user-supplied feature-net file
  (:mod:`vaekit.artifacts.feature_net`; pinned the same way, never downloaded).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts.registries import PERCEPTUAL

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _window(size: int, sigma: float, channels: int) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x.pow(2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()  # (C, 1, k, k)


def ssim_parts(x: torch.Tensor, y: torch.Tensor, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps, each averaged per example (B,); x, y (B, C, H, W) in [0, 1]."""
    c1, c2 = 0.01**2, 0.03**2
    groups = x.shape[1]
    mu_x, mu_y = F.conv2d(x, window, groups=groups), F.conv2d(y, window, groups=groups)
    sxx = F.conv2d(x * x, window, groups=groups) - mu_x.pow(2)
    syy = F.conv2d(y * y, window, groups=groups) - mu_y.pow(2)
    sxy = F.conv2d(x * y, window, groups=groups) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x.pow(2) + mu_y.pow(2) + c1)
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return luminance.flatten(1).mean(1), cs.flatten(1).mean(1), (luminance * cs).flatten(1).mean(1)


def _image_ctx(ctx: BuildContext, name: str) -> tuple[int, int, int]:
    if len(ctx.shape) != 3:
        raise ConfigError(f"objective.perceptual {name!r} compares images (C, H, W); this data has shape {tuple(ctx.shape)}")
    return ctx.shape  # type: ignore[return-value]


@PERCEPTUAL.register("ssim")
class SSIMTerm(nn.Module):
    def __init__(self, ctx: BuildContext, *, weight: float = 100.0, window: int = 11, sigma: float = 1.5) -> None:
        super().__init__()
        c, h, w = _image_ctx(ctx, "ssim")
        if weight < 0 or window < 1 or sigma <= 0:
            raise ConfigError(f"ssim: weight >= 0, window >= 1 and sigma > 0 needed; got {weight}, {window}, {sigma}")
        self.weight = weight
        self.register_buffer("window", _window(min(window, h, w), sigma, c), persistent=False)

    def forward(self, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
        return self.weight * (1.0 - ssim_parts(x, x_rec, self.window)[2])


@PERCEPTUAL.register("ms-ssim")
class MSSSIMTerm(nn.Module):
    def __init__(self, ctx: BuildContext, *, weight: float = 100.0, scales: int = 3, window: int = 7, sigma: float = 1.5) -> None:
        super().__init__()
        c, h, w = _image_ctx(ctx, "ms-ssim")
        if not 1 <= scales <= len(MS_SSIM_WEIGHTS):
            raise ConfigError(f"ms-ssim: scales must be 1..{len(MS_SSIM_WEIGHTS)}; got {scales}")
        if min(h, w) // 2 ** (scales - 1) < 2:
            raise ConfigError(f"ms-ssim: {scales} scales do not fit {h}x{w} images; use fewer scales")
        if weight < 0:
            raise ConfigError(f"ms-ssim: weight must be >= 0; got {weight}")
        self.weight, self.scales = weight, scales
        exps = torch.tensor(MS_SSIM_WEIGHTS[:scales])
        self.register_buffer("exponents", exps / exps.sum(), persistent=False)
        self.windows = [min(window, h // 2**s, w // 2**s) for s in range(scales)]
        self.sigma, self.channels = sigma, c

    def forward(self, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
        values = []
        for s in range(self.scales):
            win = _window(self.windows[s], self.sigma, self.channels).to(x)
            lum, cs, _ = ssim_parts(x, x_rec, win)
            # cs can dip below 0 for anti-correlated patches: clamp so the fractional power is defined.
            values.append((lum if s == self.scales - 1 else 1.0) * cs.clamp_min(1e-6))
            if s < self.scales - 1:
                x, x_rec = F.avg_pool2d(x, 2), F.avg_pool2d(x_rec, 2)
        stacked = torch.stack(values, -1).clamp_min(1e-6)  # (B, scales)
        return self.weight * (1.0 - torch.exp((torch.log(stacked) * self.exponents).sum(-1)))


@PERCEPTUAL.register("features")
class FeatureTerm(nn.Module):
    def __init__(self, ctx: BuildContext, *, weight: float = 1.0) -> None:
        super().__init__()
        _image_ctx(ctx, "features")
        parent = ctx.parent
        net = getattr(parent, "model", None)
        if net is None or not hasattr(net, "features"):
            raise ConfigError("objective.perceptual 'features' compares images in a classifier's features: train the "
                              "classifier first (`vaekit train --recipe classifier --data D --out CLF`) and pass it as "
                              "this run's parent (`--parent CLF`, or `--parent NET.safetensors`, a feature-net file)")
        if tuple(parent.shape) != tuple(ctx.shape):
            raise ConfigError(f"the parent classifier takes images of shape {tuple(parent.shape)}, this data has "
                              f"{tuple(ctx.shape)}")
        net.eval().requires_grad_(False)
        object.__setattr__(self, "net", net)  # frozen, pinned by the parent link; not saved with this run
        self.weight = weight

    def forward(self, x: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.net.features(x)
        return self.weight * 0.5 * (target - self.net.features(x_rec)).pow(2).sum(1)
