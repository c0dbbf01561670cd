"""Registry of objectives."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from vaekit.core.config import ObjectiveConfig
from vaekit.core.registry import Registry
from vaekit.core.types import Loss


class Objective(Protocol):
    def __call__(self, model: nn.Module, x: torch.Tensor, progress: float = float("inf")) -> Loss: ...


OBJECTIVES: Registry = Registry("objective")


def build_objective(cfg: ObjectiveConfig) -> Objective:
    return OBJECTIVES.get(cfg.name)(cfg)
