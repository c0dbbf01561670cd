"""Convolutional encoder and decoder for images of any size.

Encoder: (B, C [+K], H, W) -> stride-2 3x3 convs, one per entry of ``channels``, each halving the
side (rounding up) -> flatten -> features (B, channels[-1] * h * w).
Decoder: z (B, L) [+ cond] -> Linear -> (B, channels[-1], h, w) -> stride-2 transposed convs
doubling the side -> 3x3 conv to P * C channels -> crop to (H, W) -> (B, P, C, H, W). Cropping
(rather than choosing paddings per size) is what lets one definition serve 8x8, 28x28 and odd sizes.

Defaults (32, 64) channels: on 28x28 Fashion-MNIST that is a 7x7x64 feature map and ~0.3M
parameters, an epoch in well under a minute on 2 CPU cores (an MLP's [512, 256] widths used as
channels would be 8M parameters and half an hour per epoch).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts.conditioning import as_channels, concat
from vaekit.parts.nets.activations import ACTIVATIONS
from vaekit.parts.nets.mlp import check_widths
from vaekit.parts.registries import NETS


def _image_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ConfigError(
            f"model.net='conv' needs image data shaped (C, H, W), but the data has shape {tuple(shape)}; "
            "use --set model.net=mlp for tabular data"
        )
    return shape  # type: ignore[return-value]


def _side_after(side: int, stages: int) -> int:
    for _ in range(stages):
        side = (side + 1) // 2  # 3x3, stride 2, padding 1
    return side


class ConvEncoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], channels: tuple[int, ...], activation: str = "relu", cond_dim: int = 0) -> None:
        super().__init__()
        c, h, w = _image_shape(shape)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([c + cond_dim, *channels[:-1]], channels):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), ACTIVATIONS[activation]()]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.out_features = channels[-1] * _side_after(h, len(channels)) * _side_after(w, len(channels))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(as_channels(x, cond))  # (B, channels[-1] * h * w)


class ConvDecoder(nn.Module):
    def __init__(
        self, shape: tuple[int, ...], channels: tuple[int, ...], latent_dim: int, params_per_element: int,
        activation: str = "relu", cond_dim: int = 0,
    ) -> None:
        super().__init__()
        c, h, w = _image_shape(shape)
        self.shape = (c, h, w)
        self.params_per_element = params_per_element
        self.h0, self.w0 = _side_after(h, len(channels)), _side_after(w, len(channels))
        rev = list(reversed(channels))
        self.fc = nn.Sequential(nn.Linear(latent_dim + cond_dim, rev[0] * self.h0 * self.w0), ACTIVATIONS[activation]())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(rev, rev[1:] + [rev[-1]]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), ACTIVATIONS[activation]()]
        layers.append(nn.Conv2d(rev[-1], params_per_element * c, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        lead = z.shape[:-1]  # any leading dims, e.g. (S, B) importance samples
        zc = concat(z, cond)
        zc = zc.reshape(-1, zc.shape[-1])
        feat = self.fc(zc).view(zc.shape[0], -1, self.h0, self.w0)  # (N, channels[-1], h0, w0)
        out = self.body(feat)  # (N, P*C, >=H, >=W)
        c, h, w = self.shape
        out = out[:, :, :h, :w]
        return out.reshape(*lead, self.params_per_element, c, h, w)  # (..., P, C, H, W)


@NETS.register("conv")
class ConvNets:
    """A strided-conv encoder and a transposed-conv decoder with the same stages."""

    MOVED_SETTINGS = {"hidden": "a conv net's stages are model.net.channels"}

    def __init__(
        self, ctx: BuildContext, *, channels: tuple[int, ...] = (32, 64),
        activation: Literal["relu", "gelu", "silu", "tanh"] = "relu",
    ) -> None:
        check_widths(channels, "channel counts")
        if max(channels) > 512:
            raise ConfigError(
                f"model.net.channels={list(channels)}: over 512 channels per stage is far beyond what a CPU "
                "trains in reasonable time; typical values are [32, 64] or [64, 128, 256]"
            )
        self.encoder = ConvEncoder(ctx.shape, channels, activation, ctx.cond_dim)
        self.decoder = ConvDecoder(ctx.shape, channels, ctx.latent_dim, ctx.params_per_element, activation, ctx.cond_dim)
