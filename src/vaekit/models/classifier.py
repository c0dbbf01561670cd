"""An image classifier, trained as its own run (``vaekit train --recipe classifier``): the feature
net of vaekit's sample-quality metrics (FID, precision/recall) and of perceptual comparisons,
since no pretrained network (Inception, VGG) can be downloaded here.

    x (B, C, H, W) --conv stages--> (B, F) --Linear, ReLU--> features (B, hidden) --Linear--> logits (B, K)

Not a generative model (``GENERATIVE = False``): it has no encode/decode/sample; the trainer,
``vaekit evaluate`` (accuracy) and the report treat it by that flag, never by its name.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.models.registry import MODELS
from vaekit.parts.nets.conv import ConvEncoder
from vaekit.parts.nets.mlp import check_widths


@MODELS.register("classifier")
class Classifier(nn.Module):
    GENERATIVE = False

    def __init__(self, ctx: BuildContext, *, channels: tuple[int, ...] = (32, 64), hidden: int = 128,
                 dropout: float = 0.25, activation: Literal["relu", "gelu", "silu", "tanh"] = "relu") -> None:
        super().__init__()
        if not ctx.n_classes:
            raise ConfigError("model.name='classifier' needs a dataset with labels (y); this one has none")
        if len(ctx.shape) != 3:
            raise ConfigError(f"model.name='classifier' classifies images (C, H, W); this data has shape {tuple(ctx.shape)}")
        if hidden < 1 or not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.hidden must be >= 1 and model.dropout in [0, 1); got {hidden}, {dropout}")
        check_widths(channels, "channel counts")
        self.n_classes, self.shape, self.feature_dim = int(ctx.n_classes), tuple(ctx.shape), hidden
        self.body = ConvEncoder(ctx.shape, channels, activation)
        self.neck = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.body.out_features, hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, self.n_classes))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, hidden): the penultimate layer, the space FID and precision/recall are measured in."""
        return self.neck(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, K)."""
        return self.head(self.features(x)).float()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Most probable class (N,) of images x (N, C, H, W), in eval mode."""
        was = self.training
        self.eval()
        out = torch.cat([self(x[i : i + batch_size].to(self.device)).argmax(1).cpu() for i in range(0, len(x), batch_size)])
        self.train(was)
        return out
