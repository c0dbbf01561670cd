"""Convolutional encoder/decoder that keep a spatial latent grid (for discrete-latent models).

Encoder: (B, C, H, W) -> stride-2 3x3 convs, one per entry of ``channels`` -> 1x1 conv to ``dim``
-> z_e (B, dim, h, w), h = ceil(H / 2^stages). Decoder: (..., dim, h, w) -> 3x3 conv -> stride-2
transposed convs -> 3x3 conv to P * C channels -> crop to (H, W) -> (..., P, C, H, W).
"""

from __future__ import annotations

import torch
from torch import nn

from vaekit.parts.nets.activations import ACTIVATIONS
from vaekit.parts.nets.conv import _image_shape, _side_after


class GridEncoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], channels: tuple[int, ...], dim: int, activation: str = "relu") -> None:
        super().__init__()
        c, h, w = _image_shape(shape)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([c, *channels[:-1]], channels):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), ACTIVATIONS[activation]()]
        layers.append(nn.Conv2d(channels[-1], dim, 1))
        self.body = nn.Sequential(*layers)
        self.grid = (_side_after(h, len(channels)), _side_after(w, len(channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, dim, h, w)


class GridDecoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], channels: tuple[int, ...], dim: int, params_per_element: int,
                 activation: str = "relu") -> None:
        super().__init__()
        self.shape = _image_shape(shape)
        self.params_per_element = params_per_element
        rev = list(reversed(channels))
        layers: list[nn.Module] = [nn.Conv2d(dim, rev[0], 3, padding=1), ACTIVATIONS[activation]()]
        for c_in, c_out in zip(rev, rev[1:] + [rev[-1]]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), ACTIVATIONS[activation]()]
        layers.append(nn.Conv2d(rev[-1], params_per_element * self.shape[0], 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead, grid = z.shape[:-3], z.shape[-3:]
        out = self.body(z.reshape(-1, *grid))  # (N, P*C, >=H, >=W)
        c, h, w = self.shape
        return out[:, :, :h, :w].reshape(*lead, self.params_per_element, c, h, w)
