"""Fully connected encoder and decoder.

Encoder: x (B, *shape) -> flatten (B, D) [+ cond] -> [Linear, act] x len(hidden) -> features (B, hidden[-1]).
Decoder: z (..., L) [+ cond] -> [Linear, act] over reversed(hidden) -> Linear -> (..., P, *shape), where P
is the number of likelihood parameters per data element (e.g. 1 logit, or mean and log-scale).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts.conditioning import concat
from vaekit.parts.nets.activations import ACTIVATIONS
from vaekit.parts.registries import NETS

Activation = Literal["relu", "gelu", "silu", "tanh"]


def _stack(widths: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(w_in, w_out), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


def check_widths(widths: tuple[int, ...], what: str) -> None:
    if not widths or any(h < 1 for h in widths):
        raise ConfigError(f"model.net needs a non-empty list of positive {what}, e.g. [256, 128]; got {list(widths)}")


class MLPEncoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], hidden: tuple[int, ...], activation: str = "relu", cond_dim: int = 0) -> None:
        super().__init__()
        self.body = _stack([math.prod(shape) + cond_dim, *hidden], activation)
        self.out_features = hidden[-1]

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(concat(x.flatten(1), cond))  # (B, hidden[-1])


class MLPDecoder(nn.Module):
    def __init__(
        self, shape: tuple[int, ...], hidden: tuple[int, ...], latent_dim: int, params_per_element: int,
        activation: str = "relu", cond_dim: int = 0,
    ) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.params_per_element = params_per_element
        widths = [latent_dim + cond_dim, *reversed(hidden)]
        self.body = _stack(widths, activation)
        self.head = nn.Linear(widths[-1], params_per_element * math.prod(shape))

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        out = self.head(self.body(concat(z, cond)))  # (..., P * D)
        return out.view(*z.shape[:-1], self.params_per_element, *self.shape)  # (..., P, *shape)


@NETS.register("mlp")
class MLPNets:
    """An MLP encoder and its mirror-image decoder (the decoder uses ``hidden`` reversed)."""

    def __init__(self, ctx: BuildContext, *, hidden: tuple[int, ...] = (256, 128), activation: Activation = "relu") -> None:
        check_widths(hidden, "widths")
        self.encoder = MLPEncoder(ctx.shape, hidden, activation, ctx.cond_dim)
        self.decoder = MLPDecoder(ctx.shape, hidden, ctx.latent_dim, ctx.params_per_element, activation, ctx.cond_dim)
