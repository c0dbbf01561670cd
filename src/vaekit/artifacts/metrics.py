"""Streaming evaluation estimators (all numbers in nats per example unless named otherwise).

For each example x, with k importance samples z_i ~ q(z|x):
    log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)
* ``nll``  = -[logsumexp_i log w_i - log k]  (IWAE estimate of -log p(x), Burda et al. 2015;
  an upper bound in expectation, tightening as k grows)
* ``elbo`` = mean_i log w_i                   (k-sample Monte-Carlo estimate of the ELBO)
* ``recon`` = mean_i -log p(x|z_i); ``kl`` = analytic KL(q||p) where registered
* ``bits_per_dim`` = nll / (D ln 2), D = number of data elements per example
* ``active_units``: dimensions with Cov_x(E_q[z_d]) > 0.01 (Burda et al. 2015)
* ``kl_per_dim``: mean over examples of the per-dimension KL
Every per-example number is averaged over the evaluated examples. The k samples are drawn
in chunks and folded into a running log-sum-exp, so memory is O(batch * chunk), not O(k).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch

from vaekit.parts.kl import kl_divergence_per_dim


@torch.inference_mode()
def importance_weights_stats(model: torch.nn.Module, x: torch.Tensor, k: int, chunk: int) -> dict[str, torch.Tensor]:
    """Per-example (B,) log-mean-exp of log w, mean log w and mean log p(x|z) over k samples."""
    q = model.encode(x)
    p = model.prior()
    b = x.shape[0]
    running_max = torch.full((b,), -math.inf, device=x.device)
    running_sum = torch.zeros(b, device=x.device)  # sum_i exp(log w_i - running_max)
    sum_log_w = torch.zeros(b, device=x.device)
    sum_log_px = torch.zeros(b, device=x.device)
    done = 0
    while done < k:
        s = min(chunk, k - done)
        z = q.sample((s,))  # (s, B, L)
        log_px = model.decode(z).log_prob(x)  # (s, B): x broadcasts over the samples, no copy
        log_w = log_px + p.log_prob(z) - q.log_prob(z)  # (s, B)
        new_max = torch.maximum(running_max, log_w.max(0).values)
        running_sum = running_sum * torch.exp(running_max - new_max) + torch.exp(log_w - new_max).sum(0)
        running_max = new_max
        sum_log_w += log_w.sum(0)
        sum_log_px += log_px.sum(0)
        done += s
    log_mean_w = running_max + torch.log(running_sum) - math.log(k)
    return {"log_mean_w": log_mean_w, "mean_log_w": sum_log_w / k, "mean_log_px": sum_log_px / k, "q": q, "p": p}


@torch.inference_mode()
def evaluate_arrays(
    model: torch.nn.Module, batches: Iterable[torch.Tensor], *, k: int = 1000, chunk: int = 100,
) -> dict[str, Any]:
    """Evaluate ``model`` on an iterable of data batches (B, *shape); see the module docstring."""
    totals = {"nll": 0.0, "elbo": 0.0, "recon": 0.0, "kl": 0.0}
    n = 0
    means: list[torch.Tensor] = []
    kl_dims: torch.Tensor | None = None
    dims = None
    for x in batches:
        stats = importance_weights_stats(model, x, k, chunk)
        q, p = stats["q"], stats["p"]
        per_dim = kl_divergence_per_dim(q, p)  # (B, L) or None
        kl = per_dim.sum(-1) if per_dim is not None else stats["mean_log_px"] - stats["mean_log_w"]
        totals["nll"] += float(-stats["log_mean_w"].sum())
        totals["elbo"] += float((stats["mean_log_px"] - kl).sum()) if per_dim is not None else float(stats["mean_log_w"].sum())
        totals["recon"] += float(-stats["mean_log_px"].sum())
        totals["kl"] += float(kl.sum())
        if per_dim is not None:
            kl_dims = per_dim.sum(0) if kl_dims is None else kl_dims + per_dim.sum(0)
        means.append(q.mean.reshape(x.shape[0], -1))
        n += x.shape[0]
        dims = math.prod(x.shape[1:])
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
    return result
