"""MADE: masked autoencoder for distribution estimation (Germain et al. 2015), with a context
vector added to the first hidden layer (as IAF uses it, Kingma et al. 2016, section 4).

Every input z_j has a degree d_j in 1..L (its position in the ordering); hidden unit k has a
degree m_k in 0..L-1 and sees input j only if m_k >= d_j (and hidden unit k' of the layer below
only if m_k >= m_k'); output i (of each output group) has the degree of input i and sees hidden
unit k only if d_i > m_k. So every output i depends only on inputs of smaller degree:
d out_i / d z_j = 0 whenever d_j >= d_i. Degree-0 hidden units see no input at all, only the
context; they are what lets the context reach the first variable of the ordering (in MADE's
original 1..L-1 degrees that output would be a constant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """A Linear whose weight is multiplied by a fixed 0/1 mask (out, in), kept as a buffer."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """z (..., L) [+ context (B, C)] -> ``groups`` outputs (..., L) each, autoregressive in the
    ordering given by ``degrees`` (a permutation of 1..L; input j has degree ``degrees[j]``)."""

    def __init__(self, degrees: torch.Tensor, hidden: tuple[int, ...], context: int, groups: int) -> None:
        super().__init__()
        L = int(degrees.numel())
        self.groups, self.latent_dim = groups, L
        self.register_buffer("degrees", degrees.clone().long(), persistent=False)
        layers, below = [], degrees
        for width in hidden:
            deg = torch.arange(width) % max(L, 1)  # 0..L-1, cycled: every degree gets units
            layers.append(MaskedLinear(below.numel(), width, (deg[:, None] >= below[None, :])))
            below = deg
        self.hidden = nn.ModuleList(layers)
        self.context = nn.Linear(context, hidden[0]) if context and hidden else None
        out_mask = (degrees[:, None] > below[None, :]).repeat(groups, 1)  # (groups * L, H)
        self.out = MaskedLinear(below.numel(), groups * L, out_mask)

    def forward(self, z: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        x = z
        for i, layer in enumerate(self.hidden):
            x = layer(x)  # (..., H)
            if i == 0 and self.context is not None and context is not None:
                x = x + self.context(context)  # (B, H) broadcast over the leading sample axis
            x = F.elu(x)
        return self.out(x).chunk(self.groups, dim=-1)  # groups x (..., L)
