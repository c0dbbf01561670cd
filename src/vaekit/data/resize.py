"""Resize image tensors while keeping their discrete intensity levels."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_images(x: torch.Tensor, size: int | tuple[int, int], levels: int | None) -> torch.Tensor:
    """Resize (N, C, H, W) values in [0, 1] to (N, C, size, size) — or (N, C, H', W') for
    ``size=(H', W')`` — with antialiased bilinear.

    When ``levels`` is set the result is rounded back onto the same grid of levels, so
    discrete likelihoods stay valid.
    """
    target = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == target:
        return x
    out = F.interpolate(x, size=target, mode="bilinear", antialias=True, align_corners=False)
    out = out.clamp(0.0, 1.0)
    if levels is not None:
        out = torch.round(out * (levels - 1)) / (levels - 1)
    return out.contiguous()
