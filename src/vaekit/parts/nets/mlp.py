"""Fully connected encoder and decoder.

Encoder: x (B, *shape) -> flatten (B, D) -> [Linear, act] x len(hidden) -> features (B, hidden[-1]).
Decoder: z (..., L) -> [Linear, act] over reversed(hidden) -> Linear -> (..., P, *shape), where P is
the number of likelihood parameters per data element (e.g. 1 logit, or mean and log-scale).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.parts.nets.activations import ACTIVATIONS
from vaekit.parts.registries import DECODERS, ENCODERS


def _stack(widths: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(w_in, w_out), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


@ENCODERS.register("mlp")
class MLPEncoder(nn.Module):
    def __init__(self, shape: tuple[int, ...], hidden: tuple[int, ...], activation: str = "relu") -> None:
        super().__init__()
        self.body = _stack([math.prod(shape), *hidden], activation)
        self.out_features = hidden[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))  # (B, hidden[-1])


@DECODERS.register("mlp")
class MLPDecoder(nn.Module):
    def __init__(
        self, shape: tuple[int, ...], hidden: tuple[int, ...], latent_dim: int, params_per_element: int,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.params_per_element = params_per_element
        widths = [latent_dim, *reversed(hidden)]
        self.body = _stack(widths, activation)
        self.head = nn.Linear(widths[-1], params_per_element * math.prod(shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.head(self.body(z))  # (B, P * D)
        return out.view(*z.shape[:-1], self.params_per_element, *self.shape)  # (..., P, *shape)
