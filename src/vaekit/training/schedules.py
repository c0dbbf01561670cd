"""Learning-rate schedule: linear warm-up then cosine decay (Loshchilov & Hutter 2017)."""

from __future__ import annotations

import math


def lr_factor(step: int, *, total_steps: int, warmup_steps: int, min_ratio: float, kind: str) -> float:
    """Multiplier on the base learning rate at optimiser step ``step`` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
