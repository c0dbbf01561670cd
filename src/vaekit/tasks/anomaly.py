"""Anomaly scores of a trained VAE: higher = more anomalous, one number per example (B,).

* ``"iwae"`` (default): the importance-weighted estimate of -log p(x) with k samples (Burda et al.
  2015), in nats: -log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x) — the per-example form
  of ``vaekit evaluate``'s NLL (same log-weights, :func:`vaekit.core.types.log_weights`).
* ``"elbo"``: -ELBO averaged over the k samples (a looser bound on -log p(x)), nats.
* ``"recon"``: the reconstruction error -log p(x | z = E_q[z|x]) in nats (the likelihood's own
  error: the "BCE" for a Bernoulli decoder, a scaled squared error for a Gaussian one).
* ``"excess"``: the IW-k NLL minus the smallest NLL the likelihood can give x at all, -log p(x|x)
  (the decoder predicting x exactly): for a Bernoulli ("BCE") decoder on grey levels that is the
  binary entropy Σ_d H(x_d), so the score is the importance-weighted form of Σ_d KL(x_d ‖ p_d(z)).
  On grey images the raw NLL is dominated by H(x) — how many pixels are neither black nor white
  — which says nothing about the class: this is the input-complexity confound of Serrà et al.
  2020 ("Input Complexity and Out-of-distribution Detection with Likelihood-based Generative
  Models"), who subtract a compressor's code length; here the likelihood's own irreducible term
  is subtracted instead. Bernoulli likelihoods only (0 correction for binary data).
* ``"ratio"``: the likelihood-ratio correction of Ren et al. 2019 ("Likelihood Ratios for
  Out-of-Distribution Detection"): -log p_θ(x) + log p_θ0(x), both IW-k estimates, where θ0 is a
  *background* run trained on perturbed inputs (:func:`perturb`: each value replaced by a uniform
  random one with probability μ). It cancels the part of the likelihood explained by low-level
  statistics (how many background pixels an image has), the reason VAEs give some
  out-of-distribution inputs *higher* likelihood than their training data (Nalisnick et al. 2019,
  "Do Deep Generative Models Know What They Don't Know?").

``x`` is a batch as the model sees it (after the run's saved preprocessing). All randomness comes
from ``seed``; torch's global generator is left as it was. An example's score does not depend on
the other examples of the batch or their order (shared draws, see :func:`_iwae_parts`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.distributions import Independent

from vaekit.artifacts.metrics import importance_stats
from vaekit.core.errors import VaekitError
from vaekit.core.types import Batch

SCORES = ("iwae", "elbo", "recon", "excess", "ratio")
DEFAULT_K = 100


class AnomalyError(VaekitError):
    """Input that does not fit the run or the score (exit code 2, nothing written)."""

    exit_code = 2


def _model(run: Any) -> torch.nn.Module:
    return getattr(run, "model", run)


def _check(model: torch.nn.Module, x: torch.Tensor, cond: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    x = torch.as_tensor(x)
    shape = tuple(model.shape)
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise AnomalyError(f"the batch has shape {tuple(x.shape)} but the run's model takes (B, {', '.join(map(str, shape))})")
    x = x.float()
    if not torch.isfinite(x).all():
        raise AnomalyError("the batch holds NaN or inf values; anomaly scores need complete, finite examples")
    c = None
    if getattr(model, "cond_dim", 0):
        if cond is None:
            raise AnomalyError("this run is conditional (a cvae): give the examples' labels (cond=) to score p(x|y)")
        c = torch.as_tensor(cond, dtype=torch.long).reshape(-1)
        if c.numel() != x.shape[0]:
            raise AnomalyError(f"{c.numel()} labels for {x.shape[0]} examples")
    return x, c


@torch.no_grad()
def _iwae_parts(model: torch.nn.Module, x: torch.Tensor, c: torch.Tensor | None, k: int, batch_size: int,
                chunk: int, seed: int, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(-log p(x) IW-k estimate, -ELBO) per example, (B,) each.

    For a diagonal-Gaussian posterior the k standard-normal draws eps_i (k, L) are shared by every
    example (z_i = mu(x) + sigma(x) eps_i; common random numbers): each example's estimate is
    still the usual unbiased IW-k one, and it depends only on the example and ``seed`` — not on
    which batch it came in or its position there (scikit-learn requires that of score_samples).
    Other posteriors (flows) draw through the model's forward pass, seeded once per call."""
    device = model.device
    q0 = model.encode(x[:1].to(device), None if c is None else c[:1].to(device))
    # Shared draws need encode() to be the whole posterior and model.prior the prior over the same
    # code (a one-layer VAE); hierarchical and discrete models go through their forward pass.
    shared = isinstance(q0, Independent) and getattr(model, "ENCODE_IS_POSTERIOR", False) and hasattr(model, "prior")
    eps = torch.randn(k, q0.mean.shape[-1], generator=torch.Generator().manual_seed(seed)).to(device) if shared else None
    nll, nelbo = [], []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device)
        cb = None if c is None else c[i : i + batch_size].to(device)
        mb = None if mask is None else mask[i : i + batch_size].to(device)  # (b, *shape) True = observed
        if not shared:
            st = importance_stats(model, Batch(xb, cb, mb), k, chunk)
            nll.append(-st["log_mean_w"].cpu())
            nelbo.append(-st["mean_log_w"].cpu())
            continue
        q = model.encode(xb, cb)
        p = model.prior(model.condition(cb))
        log_w = []
        for j in range(0, k, chunk):
            z = q.mean + q.stddev * eps[j : j + chunk, None, :]  # (s, B, L)
            px = model.decode(z, cb)
            log_px = px.log_prob(xb) if mb is None else px.log_prob_observed(xb, mb)  # (s, B); observed cells only
            log_w.append(log_px + p.log_prob(z) - q.log_prob(z))  # (s, B) nats
        lw = torch.cat(log_w)  # (k, B)
        nll.append(-(torch.logsumexp(lw, 0) - math.log(k)).cpu())
        nelbo.append(-lw.mean(0).cpu())
    return torch.cat(nll), torch.cat(nelbo)


@torch.no_grad()
def _recon(model: torch.nn.Module, x: torch.Tensor, c: torch.Tensor | None, batch_size: int) -> torch.Tensor:
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(model.device)
        cb = None if c is None else c[i : i + batch_size].to(model.device)
        out.append(-model.decode(model.encode(xb, cb).mean, cb).log_prob(xb).cpu())
    return torch.cat(out)


def self_nll(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | decoder predicts x exactly) per example (B,), float64 nats: the binary entropy
    Σ_d H(x_d) of a Bernoulli likelihood (0 for binary pixels)."""
    from vaekit.parts.likelihoods.bernoulli import BernoulliLikelihood

    if not isinstance(getattr(model, "likelihood", None), BernoulliLikelihood):
        raise AnomalyError("score 'excess' needs a run with a Bernoulli likelihood (its irreducible term is the "
                           "pixels' binary entropy); use iwae, recon or ratio for this run")
    p = x.double().reshape(x.shape[0], -1)
    h = -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))  # 0 log 0 = 0
    return h.sum(-1)


def anomaly_scores(
    run: Any, x: torch.Tensor, *, score: str = "iwae", k: int = DEFAULT_K, seed: int = 0,
    cond: torch.Tensor | None = None, background: Any = None, batch_size: int = 100,
    mask: torch.Tensor | None = None,
) -> np.ndarray:
    """Anomaly scores (B,) of a batch ``x`` (B, *shape) as the model sees it; higher = more
    anomalous; nats (see the module docstring for each ``score``). ``background``: the
    background run (or model) for ``score="ratio"``; ``cond``: labels (B,) for a conditional run.
    ``mask`` (B, *shape) bool, True where observed (a table with missing cells, as
    :func:`vaekit.tasks.data.split_batch` gives it): ``iwae`` and ``elbo`` then score the observed
    cells only (MIWAE's bound on log p(x_o)), and the encoder sees missing cells as 0, as in training;
    the other scores refuse missing cells."""
    model = _model(run)
    if score not in SCORES:
        raise AnomalyError(f"unknown anomaly score {score!r}; choose one of: {', '.join(SCORES)}")
    if k < 1:
        raise AnomalyError(f"k must be at least 1 (got {k})")
    x, c = _check(model, x, cond)
    if mask is not None and bool(mask.all()):
        mask = None  # nothing missing: the plain scores
    if mask is not None:
        if tuple(mask.shape) != tuple(x.shape):
            raise AnomalyError(f"mask shape {tuple(mask.shape)} differs from the data's {tuple(x.shape)}")
        if score not in ("iwae", "elbo"):
            raise AnomalyError(f"score {score!r} cannot leave missing cells out; with missing cells use --score iwae "
                               "or elbo (the likelihood of the observed cells), or fill them first (vaekit impute)")
        if not getattr(getattr(model, "likelihood", None), "MASKABLE", False):
            raise AnomalyError("the data has missing cells but this run's likelihood cannot leave them out; train with "
                               "the miwae recipe (model.likelihood=tabular, data.missing=mask)")
        mask = mask.bool()
        x = torch.where(mask, x, torch.zeros((), dtype=x.dtype))  # missing cells enter the encoder as 0, as in training
    if score == "ratio" and background is None:
        raise AnomalyError("score 'ratio' needs a background run trained on perturbed inputs (background=, --background)")
    if score == "excess":
        self_nll(model, x[:1])  # refuse a likelihood without the correction before any work
    chunk = max(1, min(k, 2_500 // max(1, min(batch_size, x.shape[0]))))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if score == "recon":
            return _recon(model, x, c, batch_size).numpy().astype(np.float64)
        nll, nelbo = _iwae_parts(model, x, c, k, batch_size, chunk, seed, mask)
        if score == "iwae":
            return nll.numpy().astype(np.float64)
        if score == "elbo":
            return nelbo.numpy().astype(np.float64)
        if score == "excess":
            return (nll.double() - self_nll(model, x)).numpy()
        bg = _model(background)
        if tuple(bg.shape) != tuple(model.shape):
            raise AnomalyError(f"the background run's data shape {tuple(bg.shape)} differs from the run's {tuple(model.shape)}")
        torch.manual_seed(seed + 1)
        bg_c = c if getattr(bg, "cond_dim", 0) else None
        if getattr(bg, "cond_dim", 0) and bg_c is None:
            raise AnomalyError("the background run is conditional: give labels (cond=)")
        nll_bg, _ = _iwae_parts(bg, x, bg_c, k, batch_size, chunk, seed + 1)
        return (nll - nll_bg).numpy().astype(np.float64)


def perturb(x: np.ndarray, rate: float, *, levels: int | None = 256, seed: int = 0) -> np.ndarray:
    """Ren et al. 2019's input perturbation for training a background model: each value of ``x``
    (in [0, 1]) is replaced, with probability ``rate``, by a uniform random value (on ``levels``
    grey levels when given, so discrete data stays discrete)."""
    if not 0 <= rate <= 1:
        raise AnomalyError(f"the perturbation rate must be in [0, 1] (got {rate})")
    rng = np.random.default_rng(seed)
    noise = rng.random(x.shape)
    if levels:
        noise = np.round(noise * (levels - 1)) / (levels - 1)
    flip = rng.random(x.shape) < rate
    return np.where(flip, noise, x).astype(np.float32)


def detection_metrics(scores: np.ndarray, is_anomaly: np.ndarray) -> dict[str, float]:
    """AUROC and AUPRC (average precision) of ``scores`` with anomalies as the positive class
    (scikit-learn's ``roc_auc_score`` and ``average_precision_score``)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(is_anomaly).astype(bool)
    if y.all() or not y.any():
        raise AnomalyError("AUROC / AUPRC need both normal and anomalous examples among the labels")
    return {"auroc": float(roc_auc_score(y, scores)), "auprc": float(average_precision_score(y, scores)),
            "n": int(len(y)), "anomalies": int(y.sum())}
