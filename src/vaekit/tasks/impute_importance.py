"""Imputation by self-normalised importance sampling (Mattei & Frellsen 2019, "MIWAE: Deep
Generative Modelling and Imputation of Incomplete Data Sets", ICML, sec. 4).

For a row with observed part x_o and missing part x_m, draw z_1..z_K ~ q(z | x_o) (the encoder
fed the zero-filled row) and weight each draw by

    w_k ∝ p(x_o | z_k) p(z_k) / q(z_k | x_o),    sum_k w_k = 1,

the MIWAE importance weights (:func:`vaekit.core.types.log_weights` with the row's mask). Then

    E[x_m | x_o] ≈ sum_k w_k E[x_m | z_k],

the estimate that minimises the expected squared error of a numeric cell; for a categorical
column the same average of the decoder's category probabilities (the most probable category is
written). No Markov chain, one encoder pass per row: the weights correct the encoder's
approximation, and the estimate is consistent as K grows. Works with any run whose likelihood
can leave cells out (``log_prob_observed``: the ``tabular`` likelihood); MIWAE runs are trained
for exactly this proposal, a run trained on complete rows has never seen zero-filled ones.

Shapes: ``x`` (N, D) encoded rows with 0 in missing elements; ``observed`` (N, D) bool; the result
(N, D) with observed elements unchanged bit for bit.
"""

from __future__ import annotations

from typing import Any

import torch

from vaekit.core.types import log_weights

DEFAULT_K = 1000
ROWS_TIMES_K = 50_000  # rows * K decoded per pass: bounded memory whatever K is


@torch.no_grad()
def importance_impute(
    model: torch.nn.Module, x: torch.Tensor, observed: torch.Tensor, *, k: int = DEFAULT_K, seed: int = 0,
    cond: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Rows (N, D) with missing elements at 0 and their mask (N, D) -> the rows with every missing
    element replaced by sum_k w_k E[x|z_k]; statistics: ``k`` and ``ess``, the mean effective
    sample size 1 / sum_k w_k^2 of the weights (K for perfect proposals, 1 for degenerate ones)."""
    if k < 1:
        raise ValueError(f"k must be at least 1 (got {k})")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = x.clone().float()
    per_pass = max(1, ROWS_TIMES_K // k)
    ess = []
    with torch.random.fork_rng(devices=[]):  # the model draws z from torch's global generator
        torch.manual_seed(seed)
        for start in range(0, x.shape[0], per_pass):
            xs = x[start : start + per_pass].float().to(device)  # (m, D)
            os_ = observed[start : start + per_pass].to(device)  # (m, D)
            cs = None if cond is None else cond[start : start + per_pass].to(device)
            o = model(xs, cond=cs, samples=k)
            log_w = log_weights(o, xs, mask=os_)  # (k, m): log p(x_o|z) + log p(z) - log q(z|x_o)
            w = torch.softmax(log_w, dim=0)  # (k, m), self-normalised over the K draws
            means = o.px.mean.reshape(k, xs.shape[0], -1)  # (k, m, D): E[x|z_k]; categorical slices hold probabilities
            estimate = (w.unsqueeze(-1) * means).sum(0)  # (m, D)
            out[start : start + xs.shape[0]] = torch.where(os_, xs, estimate).cpu()
            ess.append(1.0 / (w**2).sum(0))
    model.train(was_training)
    return out, {"k": k, "ess": float(torch.cat(ess).mean())}
