"""Evaluation of a ``classifier`` run: accuracy, cross-entropy (nats per example), per-class
accuracy and the confusion matrix (scikit-learn's metrics) on a split."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix

from vaekit.core.errors import DataError


@torch.no_grad()
def classifier_metrics(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, batch_size: int = 1000,
                       ) -> dict[str, Any]:
    if y is None:
        raise DataError("a classifier is evaluated against labels; this split has none")
    if len(x) == 0:
        raise DataError("no examples to evaluate")
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    logits = torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
    model.train(was)
    pred, truth = logits.argmax(1).numpy(), y.numpy()
    k = int(model.n_classes)
    cm = confusion_matrix(truth, pred, labels=list(range(k)))
    per_class = cm.diagonal() / np.maximum(cm.sum(1), 1)
    return {"accuracy": float(accuracy_score(truth, pred)), "cross_entropy": float(F.cross_entropy(logits, y)),
            "per_class_accuracy": [float(v) for v in per_class], "confusion_matrix": cm.tolist(),
            "n_examples": int(len(x))}
