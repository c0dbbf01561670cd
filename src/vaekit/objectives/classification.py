"""Cross-entropy for the ``classifier`` model: ``loss`` = -log p(y|x) in nats per example (batch
mean), ``accuracy`` the batch fraction classified correctly."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import DataError
from vaekit.core.types import Batch, Loss, StepContext
from vaekit.objectives.registry import MAIN_STEP, OBJECTIVES, Objective


@OBJECTIVES.register("cross-entropy")
class CrossEntropy(Objective):
    GENERATIVE = False  # trains a classifier stage, not a latent-variable model
    BOUND_AT_DEFAULTS = False
    def __init__(self, ctx: BuildContext, *, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, model: nn.Module, batch: Batch, ctx: StepContext, step: str = MAIN_STEP) -> Loss:
        if batch.y is None:
            raise DataError("objective.name='cross-entropy' needs labels y; use a dataset with labels")
        logits = model(batch.x)  # (B, K)
        loss = F.cross_entropy(logits, batch.y, label_smoothing=self.label_smoothing)
        nll = F.cross_entropy(logits.detach(), batch.y)
        accuracy = (logits.detach().argmax(1) == batch.y).float().mean()
        return Loss(total=loss, terms={"loss": nll, "accuracy": accuracy, "objective": loss.detach()})
