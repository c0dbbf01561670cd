"""Resize image tensors while keeping their discrete intensity levels."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_images(x: torch.Tensor, size: int, levels: int | None) -> torch.Tensor:
    """Resize (N, C, H, W) values in [0, 1] to (N, C, size, size) with antialiased bilinear.

    When ``levels`` is set the result is rounded back onto the same grid of levels, so
    discrete likelihoods stay valid.
    """
    if tuple(x.shape[-2:]) == (size, size):
        return x
    out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    out = out.clamp(0.0, 1.0)
    if levels is not None:
        out = torch.round(out * (levels - 1)) / (levels - 1)
    return out.contiguous()
