"""Streaming evaluation estimators (all numbers in nats per example unless named otherwise).

For each example x, with k importance samples z_i ~ q(z|x) and the log-weights of
:func:`~vaekit.core.types.log_weights` (log w_i = log p(x|z_i) + sum_layers log p(z_i) - log q(z_i|x)):
* ``nll``  = -[logsumexp_i log w_i - log k]  (IWAE estimate of -log p(x), Burda et al. 2015;
  an upper bound in expectation, tightening as k grows)
* ``elbo`` = mean_i log p(x|z_i) - KL with the KL analytic where every layer has a closed form,
  else mean_i log w_i (the k-sample Monte-Carlo ELBO)
* ``recon`` = mean_i -log p(x|z_i); ``kl`` = KL summed over the latent layers
* ``bits_per_dim`` = nll / (D ln 2), D = number of data elements per example
* ``active_units``: dimensions of the embedding with Cov_x(E_q[z_d]) > 0.01 (Burda et al. 2015)
* ``kl_per_dim``: mean over examples of the per-dimension KL (single factorised layer only)
With missing cells (``Batch.mask``, ``data.missing = "mask"``) every log p(x|z) is log p(x_o|z) over the
observed cells (MIWAE, Mattei & Frellsen 2019): ``nll`` is then the masked IW-k NLL, nats per row
over the observed cells, and ``observed_fraction`` says which share of the cells that was.
Every per-example number is averaged over the evaluated examples. The k samples are drawn
in chunks folded into a running log-sum-exp, so memory is O(batch * chunk), not O(k).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from vaekit.core.types import Batch, log_weights


@torch.inference_mode()
def importance_stats(model: torch.nn.Module, batch: Batch, k: int, chunk: int) -> dict[str, Any]:
    """Per-example (B,) log-mean-exp of log w, mean log w, mean log p(x|z) and the KL over k samples."""
    x = batch.x
    b = x.shape[0]
    running_max = torch.full((b,), -math.inf, device=x.device)
    running_sum = torch.zeros(b, device=x.device)  # sum_i exp(log w_i - running_max)
    sum_log_w = torch.zeros(b, device=x.device)
    sum_log_px = torch.zeros(b, device=x.device)
    sum_kl = torch.zeros(b, device=x.device)
    first = None
    done = 0
    while done < k:
        s = min(chunk, k - done)
        out = model(x, cond=batch.y, samples=s)  # the encoder re-runs per chunk: B rows vs s*B decoded
        log_px = out.log_px(x, batch.mask)  # (s, B): x broadcasts over the samples, no copy; observed cells only when masked
        log_w = log_weights(out, x, log_px)  # (s, B)
        new_max = torch.maximum(running_max, log_w.max(0).values)
        running_sum = running_sum * torch.exp(running_max - new_max) + torch.exp(log_w - new_max).sum(0)
        running_max = new_max
        sum_log_w += log_w.sum(0)
        sum_log_px += log_px.sum(0)
        sum_kl += out.kl() * s
        first = first or out
        done += s
    analytic = all(latent.analytic_kl is not None for latent in first.latents)
    return {
        "log_mean_w": running_max + torch.log(running_sum) - math.log(k), "mean_log_w": sum_log_w / k,
        "mean_log_px": sum_log_px / k, "kl": sum_kl / k, "analytic": analytic, "output": first,
    }


@torch.inference_mode()
def evaluate_arrays(model: torch.nn.Module, batches: Iterable[Batch], *, k: int = 1000, chunk: int = 100) -> dict[str, Any]:
    """Evaluate ``model`` on an iterable of batches; see the module docstring."""
    totals = {"nll": 0.0, "elbo": 0.0, "recon": 0.0, "kl": 0.0}
    n = 0
    means: list[torch.Tensor] = []
    kl_dims: torch.Tensor | None = None
    single_layer = True
    dims = None
    cells, seen = 0, 0
    for batch in batches:
        if batch.mask is not None:
            seen += int(batch.mask.sum())
            cells += batch.mask.numel()
        stats = importance_stats(model, batch, k, chunk)
        out = stats["output"]
        totals["nll"] += float(-stats["log_mean_w"].sum())
        elbo = stats["mean_log_px"] - stats["kl"] if stats["analytic"] else stats["mean_log_w"]
        totals["elbo"] += float(elbo.sum())
        totals["recon"] += float(-stats["mean_log_px"].sum())
        totals["kl"] += float(stats["kl"].sum())
        single_layer = len(out.latents) == 1
        per_dim = out.latents[0].kl_per_dim if single_layer else None
        if per_dim is not None:
            kl_dims = per_dim.sum(0) if kl_dims is None else kl_dims + per_dim.sum(0)
        means.append(model.embed(batch.x, batch.y).reshape(len(batch), -1))
        n += len(batch)
        dims = math.prod(batch.x.shape[1:])
    if n == 0:
        raise ValueError("no examples to evaluate")
    mu = torch.cat(means)  # (N, L)
    activity = mu.var(0, unbiased=True) if n > 1 else torch.zeros(mu.shape[1])
    result: dict[str, Any] = {k_: v / n for k_, v in totals.items()}
    result.update(
        k=k,
        n_examples=n,
        dims=dims,
        bits_per_dim=result["nll"] / (dims * math.log(2)),
        active_units=int((activity > 0.01).sum()),
        latent_dim=int(mu.shape[1]),
        kl_per_dim=[float(v) for v in (kl_dims / n)] if kl_dims is not None else None,
        posterior_mean_variance=[float(v) for v in activity],
    )
    if cells:
        result["observed_fraction"] = seen / cells
    return result
