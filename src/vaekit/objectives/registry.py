"""Objectives: modules that call the model and return a :class:`~vaekit.core.types.Loss`.

An objective may own parameters (a discriminator) and declares its optimisation *steps*:
``steps(model)`` maps a step name to the parameters that step's optimiser updates, with
optional default optimiser settings (:class:`StepSpec`). The trainer runs the steps in order on
every batch, calling ``objective(model, batch, ctx, step=name)`` for each, and logs every term
of every step. Most objectives have the single step ``"model"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.registry import Registry
from vaekit.core.types import Batch, Loss, Output, StepContext

OBJECTIVES: Registry = Registry("objective")
MAIN_STEP = "model"


@dataclass
class StepSpec:
    """The parameters one named step optimises and its default settings (e.g. a discriminator's
    own learning rate); ``train.steps.<name>`` in the config overrides them."""

    params: list[nn.Parameter]
    defaults: dict[str, Any] = field(default_factory=dict)


class Objective(nn.Module):
    """Base class: one step, ``"model"``, over the model's parameters and the objective's own."""

    MIN_BATCH = 1
    """Smallest batch the objective can score (estimators over the minibatch need 2 or more); the
    trainer refuses a smaller train.batch_size and skips a shorter final batch."""

    MASKED = False
    """True when the objective scores ``Batch.mask`` (missing cells left out of log p(x|z));
    the trainer refuses data with missing cells for an objective that would ignore the mask."""

    BOUND_AT_DEFAULTS = True
    """With its default settings, the minimised scalar is the reported bound (``loss``); False for
    objectives that minimise something else by design (e.g. a capacity-controlled KL)."""

    def steps(self, model: nn.Module) -> dict[str, StepSpec]:
        return {MAIN_STEP: StepSpec([*model.parameters(), *self.parameters()])}

    def forward(self, model: nn.Module, batch: Batch, ctx: StepContext, step: str = MAIN_STEP) -> Loss:
        raise NotImplementedError

    @staticmethod
    def run_model(model: nn.Module, batch: Batch, samples: int) -> Output:
        return model(batch.x, cond=batch.y, samples=samples)


def build_objective(spec: dict[str, Any], ctx: BuildContext) -> Objective:
    return OBJECTIVES.build(spec, ctx, "objective")
