"""Inverse autoregressive flow step (Kingma et al. 2016, "Improved Variational Inference with
Inverse Autoregressive Flow", section 4 and Algorithm 1 — the numerically stable LSTM-style update):

    m, s = MADE(z; h)                       z (S, B, L), h (B, F) -> m, s (S, B, L)
    sigma = sigmoid(s + forget_bias)
    z' = sigma * z + (1 - sigma) * m        (S, B, L)
    log|det dz'/dz| = sum_i log sigma_i     (S, B)

m_i and s_i depend only on the z_j earlier in the step's ordering (a MADE, Germain et al. 2015,
with the context h added to its first hidden layer), so the Jacobian is triangular in that
ordering with diagonal sigma, and the log-det is exact.

Ordering: ``reverse = false`` orders the variables z_1, ..., z_L; ``reverse = true`` orders them
z_L, ..., z_1. Stacked steps should alternate (``flows = [{name = "iaf"}, {name = "iaf",
reverse = true}]``, as the ``iaf`` recipe does): with the same order in every step, z_1 would
never depend on the other variables. A step is built on its own and does not know its position
in the stack, hence the explicit setting.

Initialisation: the MADE's output layer is zero, so m = s = 0 and the step starts as
z' = sigmoid(forget_bias) * z; a positive forget bias (the paper suggests +1 or +2) keeps sigma
close to 1, i.e. the step close to the identity, early in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts.flows.made import MADE
from vaekit.parts.registries import FLOWS


@FLOWS.register("iaf")
class IAFFlow(nn.Module):
    """One IAF step. ``hidden``: MADE hidden widths (at least one layer: the context enters the
    first); ``reverse``: reverse the variable order; ``forget_bias``: added to s before the sigmoid."""

    def __init__(
        self, ctx: BuildContext, *, hidden: tuple[int, ...] = (64,), reverse: bool = False, forget_bias: float = 2.0,
    ) -> None:
        super().__init__()
        if not hidden or any(h < 1 for h in hidden):
            raise ConfigError(f"flow 'iaf': hidden needs at least one layer of width >= 1 (the context h enters the first); got {list(hidden)}")
        L = ctx.latent_dim
        degrees = torch.arange(1, L + 1)  # input j has degree j + 1: its position in the ordering
        order = torch.arange(L).flip(0) if reverse else torch.arange(L)  # variable indices, first to last
        self.register_buffer("order", order, persistent=False)
        if reverse:
            degrees = degrees.flip(0)
        self.forget_bias = float(forget_bias)
        self.made = MADE(degrees, tuple(hidden), ctx.features, groups=2)
        nn.init.zeros_(self.made.out.weight)
        nn.init.zeros_(self.made.out.bias)

    def forward(self, z: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (S, B, L) or (B, L), context (B, F) -> z' (same shape as z), log|det| (S, B) or (B,)."""
        m, s = self.made(z, context.float())  # (S, B, L) each
        s = s + self.forget_bias
        sigma = torch.sigmoid(s)
        # log sigmoid(s) computed directly: log(sigmoid(s)) underflows to -inf for s << 0.
        return sigma * z + (1.0 - sigma) * m, F.logsigmoid(s).sum(-1)
