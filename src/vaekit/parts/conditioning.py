"""Conditioning a net on a label or any vector ``cond`` (B, C).

MLPs concatenate ``cond`` to their input (Sohn et al. 2015, CVAE); conv encoders take it as C
extra constant input channels; decoders concatenate it to z before their first layer.
Labels become one-hot vectors with :func:`condition_vector`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vaekit.core.errors import DataError


def condition_vector(y: torch.Tensor | None, cond_dim: int) -> torch.Tensor | None:
    """Labels (B,) int64 -> one-hot (B, cond_dim) float; a float (B, cond_dim) passes through."""
    if cond_dim == 0:
        return None
    if y is None:
        raise DataError(
            "this model is conditional and needs labels y; use a dataset with labels or a model with "
            "conditional=false"
        )
    if y.dim() == 1:
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= cond_dim):
            raise DataError(f"labels must lie in 0..{cond_dim - 1} for this model; got {int(y.min())}..{int(y.max())}")
        return F.one_hot(y.long(), cond_dim).float()
    if y.shape[-1] != cond_dim:
        raise DataError(f"the conditioning vectors have {y.shape[-1]} entries; this model takes {cond_dim}")
    return y.float()


def concat(h: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """h (..., B, F) and cond (B, C) -> (..., B, F + C); cond broadcasts over leading sample dims."""
    if cond is None:
        return h
    return torch.cat([h, cond.to(h.dtype).expand(*h.shape[:-1], cond.shape[-1])], dim=-1)


def as_channels(x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """x (B, C, H, W) and cond (B, K) -> (B, C + K, H, W), cond as constant planes."""
    if cond is None:
        return x
    planes = cond.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[-2], x.shape[-1])
    return torch.cat([x, planes], dim=1)
