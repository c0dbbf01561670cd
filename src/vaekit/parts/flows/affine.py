"""Amortised element-wise affine flow: z' = z * exp(s(h)) + b(h), log|det| = sum_d s_d(h).

The simplest flow: a Gaussian posterior stays Gaussian under it, which is what makes it a
check of the flow machinery with a closed form (log q of the output is a Normal log-density).
Initialised at the identity (s = b = 0).
"""

from __future__ import annotations

import torch
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.parts.registries import FLOWS


@FLOWS.register("affine")
class AffineFlow(nn.Module):
    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.params = nn.Linear(ctx.features, 2 * ctx.latent_dim)
        nn.init.zeros_(self.params.weight)
        nn.init.zeros_(self.params.bias)

    def forward(self, z: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_scale, shift = self.params(context.float()).chunk(2, dim=-1)  # (B, L) each
        log_scale = log_scale.clamp(-10.0, 10.0)
        return z * torch.exp(log_scale) + shift, log_scale.sum(-1).expand(z.shape[:-1])  # (..., B, L), (..., B)
