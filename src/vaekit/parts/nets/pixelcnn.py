"""Gated PixelCNN over a grid of discrete codes (van den Oord et al. 2016, "Conditional Image
Generation with PixelCNN Decoders"): a vertical and a horizontal stack, so that the receptive
field has no blind spot, gated tanh * sigmoid units, residual connections in the horizontal stack.

    indices (B, h, w) --embedding--> (B, C, h, w) --n_layers gated blocks--> logits (B, K, h, w)

Causality (raster order): the logits at (i, j) depend only on codes at (i', j') with i' < i, or
i' = i and j' < j. The vertical stack at row i sees rows <= i and reaches the horizontal stack
shifted down one row (so: rows < i); the first horizontal layer reads its input shifted right one
column (so: columns < j); later horizontal layers see columns <= j of features that are
themselves causal. Optional class conditioning adds a learned per-class bias to every gate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def shift_down(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


def shift_right(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


def gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.k = kernel // 2
        # vertical: rows i-k .. i, columns j-k .. j+k;  horizontal: row i, columns j-k .. j
        self.v_conv = nn.Conv2d(channels, 2 * channels, (self.k + 1, 2 * self.k + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_conv = nn.Conv2d(channels, 2 * channels, (1, self.k + 1))
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.cond = nn.Linear(cond_dim, 4 * channels, bias=False) if cond_dim else None

    def forward(self, v: torch.Tensor, h: torch.Tensor, cond: torch.Tensor | None, residual: bool) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.k
        v_pre = self.v_conv(F.pad(v, (k, k, k, 0)))  # (B, 2C, h, w): rows <= i
        h_pre = self.h_conv(F.pad(h, (k, 0, 0, 0))) + self.v_to_h(shift_down(v_pre))  # rows < i, or row i, cols <= j
        if self.cond is not None and cond is not None:
            bv, bh = self.cond(cond)[:, :, None, None].chunk(2, dim=1)
            v_pre, h_pre = v_pre + bv, h_pre + bh
        h_new = self.h_out(gate(h_pre))
        return gate(v_pre), (h + h_new if residual else h_new)


class GatedPixelCNN(nn.Module):
    """Autoregressive categorical model of code grids: ``forward(indices, cond) -> logits (B, K, h, w)``."""

    def __init__(self, codes: int, *, channels: int = 64, layers: int = 8, kernel: int = 3, cond_dim: int = 0) -> None:
        super().__init__()
        self.codes = codes
        self.embed = nn.Embedding(codes, channels)
        self.blocks = nn.ModuleList(GatedBlock(channels, kernel, cond_dim) for _ in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, 4 * channels, 1), nn.ReLU(), nn.Conv2d(4 * channels, codes, 1))

    def forward(self, indices: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(indices).permute(0, 3, 1, 2)  # (B, C, h, w)
        # First layer: the vertical input sees rows <= i and is shifted down inside the block; the
        # horizontal input is shifted right, so the current code never sees itself.
        v, h = x, shift_right(x)
        for i, block in enumerate(self.blocks):
            v, h = block(v, h, cond, residual=i > 0)
        return self.head(h)  # (B, K, h, w)
