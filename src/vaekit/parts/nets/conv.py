"""Convolutional encoder and decoder for images of any size.

Encoder: (B, C, H, W) -> stride-2 3x3 convs, one per entry of ``hidden`` (channels), each halving
the side (rounding up) -> flatten -> features (B, hidden[-1] * h * w).
Decoder: z (B, L) -> Linear -> (B, hidden[-1], h, w) -> stride-2 transposed convs doubling the side
-> 3x3 conv to P * C channels -> crop to (H, W) -> (B, P, C, H, W). Cropping (rather than choosing
paddings per size) is what lets one definition serve 8x8, 28x28 and odd sizes alike.
"""

from __future__ import annotations

import torch
from torch import nn

from vaekit.core.errors import ConfigError
from vaekit.parts.nets.activations import ACTIVATIONS
from vaekit.parts.registries import DECODERS, ENCODERS


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


@ENCODERS.register("conv")
class ConvEncoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], hidden: tuple[int, ...], activation: str = "relu") -> None:
        super().__init__()
        c, h, w = _image_shape(shape)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([c, *hidden[:-1]], hidden):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), ACTIVATIONS[activation]()]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.out_features = hidden[-1] * _side_after(h, len(hidden)) * _side_after(w, len(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, hidden[-1] * h * w)


@DECODERS.register("conv")
class ConvDecoder(nn.Module):
    def __init__(
        self, shape: tuple[int, ...], hidden: tuple[int, ...], latent_dim: int, params_per_element: int,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        c, h, w = _image_shape(shape)
        self.shape = (c, h, w)
        self.params_per_element = params_per_element
        self.h0, self.w0 = _side_after(h, len(hidden)), _side_after(w, len(hidden))
        channels = list(reversed(hidden))
        self.fc = nn.Sequential(nn.Linear(latent_dim, channels[0] * self.h0 * self.w0), ACTIVATIONS[activation]())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels, channels[1:] + [channels[-1]]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), ACTIVATIONS[activation]()]
        layers.append(nn.Conv2d(channels[-1], params_per_element * c, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]  # any leading dims, e.g. (S, B) importance samples
        z = z.reshape(-1, z.shape[-1])
        feat = self.fc(z).view(z.shape[0], -1, self.h0, self.w0)  # (N, hidden[-1], h0, w0)
        out = self.body(feat)  # (B, P*C, >=H, >=W)
        c, h, w = self.shape
        out = out[:, :, :h, :w]
        return out.reshape(*lead, self.params_per_element, c, h, w)  # (..., P, C, H, W)
