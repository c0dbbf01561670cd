"""Bernoulli binarization of [0, 1] data (static or dynamic, the caller decides when)."""

from __future__ import annotations

import torch

from vaekit.core.errors import DataError

MODES = ("none", "static", "dynamic")


def binarize(x: torch.Tensor, mode: str, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``"none"`` returns ``x``; ``"static"``/``"dynamic"`` return a 0./1. Bernoulli(x) sample.

    Dynamic binarization resamples every epoch and static binarization samples once with a
    fixed seed; both are the caller's choice of when to call this.
    """
    if mode not in MODES:
        raise DataError(f"unknown binarize mode {mode!r}; use one of: {', '.join(MODES)}")
    if mode == "none":
        return x
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise DataError(
            f"binarize needs values in [0, 1] but got {float(x.min()):g}..{float(x.max()):g}; "
            "use binarize='none' for data that is not scaled to [0, 1]"
        )
    return torch.bernoulli(x.float(), generator=generator).to(x.dtype)
