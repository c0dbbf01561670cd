"""Tabular likelihood: a Gaussian per numeric column and a Categorical per categorical column.

The data is the encoded table of :mod:`vaekit.data.table` — standardised numeric columns and one
one-hot slice per categorical column — whose column groups come from the run's fitted
preprocessing (``ctx.dataset["preprocessing"]["columns"]``, each with a ``slice`` [start, stop)).
The decoder emits P = 2 values per encoded element:

* numeric column: slot 0 is the mean, slot 1 the raw scale, ``sd = softplus(raw) + 1e-3``
  (a per-element scale predicted by the decoder, as the ``gaussian`` likelihood's ``per_pixel``);
* categorical column: slot 0 over its slice are the logits of a softmax over its categories
  (slot 1 is unused there).

``log_prob(x)`` is the sum over columns, in nats: Gaussian log-densities of the numeric columns
plus, for every categorical column, ``sum_k x_k log softmax(logits)_k`` — the log-probability of
the category when ``x`` is one-hot. ``mean`` holds the numeric means and, in each categorical slice,
the category probabilities (they sum to 1); ``sample()`` draws numeric values and one-hot categories.
This is the output model of TVAE (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN";
SDV's TVAE), without its mode-specific normalisation.

With no table preprocessing in the context (image or vector data, or a bare context) every element
is a numeric column, so the part is then a per-element Gaussian.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Normal, constraints

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts.registries import LIKELIHOODS

MIN_SCALE = 1e-3


def column_groups(dataset: dict[str, Any] | None, width: int) -> tuple[list[int], list[tuple[int, int]]]:
    """(numeric positions, categorical [start, stop) slices) of an encoded row of ``width`` elements."""
    pre = (dataset or {}).get("preprocessing") or {}
    if pre.get("kind") != "table":
        return list(range(width)), []
    numeric, groups = [], []
    for col in pre["columns"]:
        start, stop = int(col["slice"][0]), int(col["slice"][1])
        if col["kind"] == "numeric":
            numeric.extend(range(start, stop))
        else:
            groups.append((start, stop))
    covered = sorted(numeric + [i for a, b in groups for i in range(a, b)])
    if covered != list(range(width)):
        raise ConfigError(
            f"model.likelihood tabular: the saved column groups cover {len(covered)} features but the data has "
            f"{width}; the dataset description does not belong to this data"
        )
    return numeric, groups


class TabularDistribution(Distribution):
    """p(x|z) over one encoded row (event shape = the data shape); see the module docstring."""

    arg_constraints: dict = {}
    support = constraints.real
    has_rsample = False

    def __init__(
        self, loc: torch.Tensor, scale: torch.Tensor, event_shape: torch.Size, numeric: torch.Tensor,
        gather: torch.Tensor, mask: torch.Tensor,
    ) -> None:
        n_event = len(event_shape)
        batch_shape = loc.shape[: loc.dim() - n_event]
        width = int(torch.Size(event_shape).numel())
        self.loc = loc.reshape(*batch_shape, width)
        self.scale = scale.reshape(*batch_shape, width)
        self.numeric, self.gather, self.mask = numeric, gather, mask
        self.cat_positions = gather[mask]
        super().__init__(batch_shape, event_shape, validate_args=False)

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*x.shape[: x.dim() - len(self.event_shape)], -1)

    def _event(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.reshape(*flat.shape[:-1], *self.event_shape)

    def _logits(self) -> torch.Tensor:
        """(..., G, K) logits of every categorical group, padded with -inf."""
        return self.loc[..., self.gather].masked_fill(~self.mask, float("-inf"))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        x = self._flat(value)
        lp = torch.zeros((), dtype=self.loc.dtype, device=self.loc.device)
        if len(self.numeric):
            idx = self.numeric
            lp = lp + Normal(self.loc[..., idx], self.scale[..., idx], validate_args=False).log_prob(x[..., idx]).sum(-1)
        if self.gather.numel():
            log_p = torch.log_softmax(self._logits(), dim=-1).masked_fill(~self.mask, 0.0)
            lp = lp + (x[..., self.gather] * self.mask * log_p).sum((-2, -1))
        return lp.expand(torch.broadcast_shapes(lp.shape, self.batch_shape)) if lp.dim() == 0 else lp

    def log_prob_observed(self, value: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """log p(x_o | z) in nats: :meth:`log_prob` summed over the observed columns only (MIWAE,
        Mattei & Frellsen 2019, eq. 4: p(x|z) factorises over columns, so leaving the missing
        ones out is exact). ``value`` and ``observed`` (bool, True = observed) are (B, *shape)
        and broadcast over leading sample dimensions; a categorical column counts when its
        one-hot slice is observed (its elements share one mask). Returns (..., B)."""
        x, seen = self._flat(value), self._flat(observed)
        per = torch.zeros(torch.broadcast_shapes(self.loc.shape[:-1], x.shape[:-1]), dtype=self.loc.dtype, device=self.loc.device)
        if len(self.numeric):
            idx = self.numeric
            lp = Normal(self.loc[..., idx], self.scale[..., idx], validate_args=False).log_prob(x[..., idx])  # (..., B, n_num)
            per = per + torch.where(seen[..., idx], lp, torch.zeros_like(lp)).sum(-1)
        if self.gather.numel():
            log_p = torch.log_softmax(self._logits(), dim=-1).masked_fill(~self.mask, 0.0)  # (..., B, G, K)
            group_seen = (seen[..., self.gather] | ~self.mask).all(-1)  # (B, G): the column is observed
            per_group = (x[..., self.gather] * self.mask * log_p).sum(-1)  # (..., B, G)
            per = per + (per_group * group_seen).sum(-1)
        return per

    @property
    def mean(self) -> torch.Tensor:
        out = self.loc.clone()
        if self.gather.numel():
            probs = torch.softmax(self._logits(), dim=-1)
            out[..., self.cat_positions] = probs[..., self.mask]
        return self._event(out)

    @property
    def probs(self) -> torch.Tensor:
        """(..., G, K): the category probabilities of every categorical column (0 on padding)."""
        return torch.softmax(self._logits(), dim=-1)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            shape = torch.Size(sample_shape) + self.loc.shape
            out = self.loc.expand(shape) + self.scale.expand(shape) * torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
            if self.gather.numel():
                logits = self._logits().expand(*torch.Size(sample_shape), *self._logits().shape)
                k = torch.distributions.Categorical(logits=logits, validate_args=False).sample()
                onehot = F.one_hot(k, self.gather.shape[1]).to(out.dtype)
                out[..., self.cat_positions] = onehot[..., self.mask]
            return self._event(out)


@LIKELIHOODS.register("tabular")
class TabularLikelihood(nn.Module):
    """Gaussian per numeric column, softmax per categorical column (column groups from
    ``ctx.dataset["preprocessing"]``); see the module docstring."""

    params_per_element = 2
    discrete = False
    MASKABLE = True  # its distribution has log_prob_observed: missing cells can be left out (MIWAE)

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.event_shape = torch.Size(ctx.shape)
        width = int(self.event_shape.numel())
        numeric, groups = column_groups(ctx.dataset, width)
        if groups and len(ctx.shape) != 1:
            raise ConfigError(f"model.likelihood tabular: categorical columns need flat (D,) data, got shape {ctx.shape}")
        k = max((b - a for a, b in groups), default=0)
        gather = torch.zeros(len(groups), k, dtype=torch.long)
        mask = torch.zeros(len(groups), k, dtype=torch.bool)
        for g, (a, b) in enumerate(groups):
            gather[g, : b - a] = torch.arange(a, b)
            mask[g, : b - a] = True
        self.register_buffer("numeric", torch.tensor(numeric, dtype=torch.long), persistent=False)
        self.register_buffer("gather", gather, persistent=False)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, params: torch.Tensor) -> Distribution:
        dims = len(self.event_shape)
        loc = params.select(-dims - 1, 0)  # (..., *shape)
        scale = F.softplus(params.select(-dims - 1, 1)) + MIN_SCALE
        return TabularDistribution(loc, scale, self.event_shape, self.numeric, self.gather, self.mask)
