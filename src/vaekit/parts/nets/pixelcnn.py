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

from collections.abc import Iterator

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
        v_pre = self.vertical(v)  # (B, 2C, h, w): rows <= i
        bv, bh = self.biases(cond)
        h_new = self.horizontal(h, shift_down(v_pre), bh)  # rows < i, or row i, cols <= j
        return gate(v_pre + bv if bv is not None else v_pre), (h + h_new if residual else h_new)

    def vertical(self, v: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, 2C, h, w) before the gate and the class bias; row i reads rows i-k .. i."""
        k = self.k
        return self.v_conv(F.pad(v, (k, k, k, 0)))

    def biases(self, cond: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The class biases (B, 2C, 1, 1) of the vertical and horizontal gates (None, None unconditional)."""
        if self.cond is None or cond is None:
            return None, None
        bv, bh = self.cond(cond)[:, :, None, None].chunk(2, dim=1)
        return bv, bh

    def horizontal(self, h: torch.Tensor, v_above: torch.Tensor, bh: torch.Tensor | None) -> torch.Tensor:
        """The horizontal stack's update (B, C, r, c) from its input (B, C, r, c) and the vertical
        stack's pre-gate output one row up (B, 2C, r, c); column j reads columns j-k .. j."""
        h_pre = self.h_conv(F.pad(h, (self.k, 0, 0, 0))) + self.v_to_h(v_above)
        return self.h_out(gate(h_pre + bh if bh is not None else h_pre))


class GatedPixelCNN(nn.Module):
    """Autoregressive categorical model of code grids: ``forward(indices, cond) -> logits (B, K, h, w)``."""

    def __init__(self, codes: int, *, channels: int = 64, layers: int = 8, kernel: int = 3, cond_dim: int = 0) -> None:
        super().__init__()
        self.codes = codes
        self.embed = nn.Embedding(codes, channels)
        self.blocks = nn.ModuleList(GatedBlock(channels, kernel, cond_dim) for _ in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, 4 * channels, 1), nn.ReLU(), nn.Conv2d(4 * channels, codes, 1))

    def features(self, indices: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """(B, h, w) codes -> (B, C, h, w), the horizontal stack's output before the head."""
        x = self.embed(indices).permute(0, 3, 1, 2)  # (B, C, h, w)
        # First layer: the vertical input sees rows <= i and is shifted down inside the block; the
        # horizontal input is shifted right, so the current code never sees itself.
        v, h = x, shift_right(x)
        for i, block in enumerate(self.blocks):
            v, h = block(v, h, cond, residual=i > 0)
        return h

    def forward(self, indices: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(indices, cond))  # (B, K, h, w)

    def raster_logits(self, indices: torch.Tensor, cond: torch.Tensor | None = None) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield ``(i, j, logits (B, K))`` in raster order for sampling; the caller writes
        ``indices[:, i, j]`` before asking for the next position. The values are the full pass's
        ``forward(indices)[:, :, i, j]`` (tests/test_vq.py), at a fraction of the cost: the stacks only
        look up and left, so for row i the vertical stack runs once over rows < i (all the horizontal
        stack needs of it is row i-1), and for (i, j) the horizontal stack runs on row i, columns <= j,
        with the head at that position alone (a fast-PixelCNN-style cache, Ramachandran et al. 2017)."""
        _, rows, cols = indices.shape
        c2 = 2 * self.embed.embedding_dim
        biases = [block.biases(cond) for block in self.blocks]
        for i in range(rows):
            above = []  # per block: the vertical stack's pre-gate output at row i-1, (B, 2C, 1, w)
            if i == 0:
                above = [indices.new_zeros((), dtype=torch.float32).expand(indices.shape[0], c2, 1, cols)] * len(self.blocks)
            else:
                v = self.embed(indices[:, :i]).permute(0, 3, 1, 2)  # (B, C, i, w)
                for block, (bv, _) in zip(self.blocks, biases):
                    v_pre = block.vertical(v)
                    above.append(v_pre[:, :, i - 1 : i])
                    v = gate(v_pre + bv if bv is not None else v_pre)
            for j in range(cols):
                h = shift_right(self.embed(indices[:, i : i + 1, : j + 1]).permute(0, 3, 1, 2))  # (B, C, 1, j+1)
                for b, (block, (_, bh)) in enumerate(zip(self.blocks, biases)):
                    h_new = block.horizontal(h, above[b][..., : j + 1].to(h.dtype), bh)
                    h = h + h_new if b > 0 else h_new
                yield i, j, self.head(h[..., j : j + 1])[:, :, 0, 0]
