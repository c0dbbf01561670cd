"""Disentanglement metrics of codes (N, L) against known factors (N, K), plus latent traversals.

* :func:`mig` — Mutual Information Gap (Chen et al. 2018): for each factor v_k, the gap between
  the two largest I(z_j; v_k) / H(v_k) over code dimensions j, averaged over factors. Codes are
  discretised into 20 equal-width bins per dimension (as in disentanglement_lib), so MI is
  estimated from counts. Codes equal to the factors score 1 up to the finite-sample bias of the
  other dimensions' MI (about 0.99 on 11,520 examples).
* :func:`factor_vae_score` — Kim & Mnih 2018: codes are divided by their standard deviation over
  the data; each vote fixes one factor at a random value, draws ``batch_size`` examples with that
  value and takes the dimension of least variance (collapsed dimensions, variance < 0.05 as in
  the paper's code, excluded); a majority-vote classifier from dimension to factor is fitted on
  training votes and its accuracy on held-out votes is the score (chance is about 1/K).
* :func:`dci` — Eastwood & Williams 2018, with per-factor random forests (scikit-learn, every code
  dimension considered at each split, depth <= 8) as the
  regressors: the importance matrix R (L, K) gives disentanglement (1 - entropy of each code's
  importances over factors, base K, weighted by the code's share of importance), completeness
  (1 - entropy of each factor's importances over codes, base L, weighted by the factor's share)
  and informativeness (mean held-out classification accuracy of the forests).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

COLLAPSED_VARIANCE = 0.05


def _check(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"codes (N, L) and factors (N, K) must have the same N; got {codes.shape} and {factors.shape}")
    if len(codes) < 2:
        raise ValueError("need at least 2 examples")
    return codes, factors.astype(np.int64)


def discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Each column into ``bins`` equal-width bins over its own range (disentanglement_lib's rule)."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in MI in nats of two discrete integer arrays."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> dict[str, Any]:
    """MIG and its per-factor gaps; factors with a single value (entropy 0) are skipped."""
    codes, factors = _check(codes, factors)
    z = discretize(codes, bins)
    gaps = []
    for k in range(factors.shape[1]):
        h = mutual_information(factors[:, k], factors[:, k])
        if h <= 0:
            gaps.append(None)
            continue
        mi = sorted((mutual_information(z[:, j], factors[:, k]) / h for j in range(z.shape[1])), reverse=True)
        gaps.append(mi[0] - (mi[1] if len(mi) > 1 else 0.0))
    valid = [g for g in gaps if g is not None]
    return {"mig": float(np.mean(valid)) if valid else 0.0, "per_factor": gaps}


def factor_vae_score(codes: np.ndarray, factors: np.ndarray, *, batch_size: int = 64, n_train: int = 5000,
                     n_eval: int = 2500, seed: int = 0) -> dict[str, Any]:
    """FactorVAE score (held-out accuracy of the majority-vote classifier) and its parts."""
    codes, factors = _check(codes, factors)
    rng = np.random.default_rng(seed)
    std = codes.std(axis=0)
    active = std**2 >= COLLAPSED_VARIANCE
    n_factors, n_dims = factors.shape[1], codes.shape[1]
    if not active.any():
        return {"score": 0.0, "train_accuracy": 0.0, "active_dims": 0, "note": "every code dimension collapsed"}
    normed = codes[:, active] / std[active]
    dims = np.flatnonzero(active)
    groups = []  # per factor: list of index arrays, one per observed value
    for k in range(n_factors):
        order = np.argsort(factors[:, k], kind="stable")
        values, starts = np.unique(factors[order, k], return_index=True)
        groups.append(np.split(order, starts[1:]) if len(values) > 1 else [])
    usable = [k for k in range(n_factors) if groups[k]]
    if not usable:
        return {"score": 0.0, "train_accuracy": 0.0, "active_dims": int(active.sum()), "note": "no factor varies"}

    def votes(n: int) -> np.ndarray:
        table = np.zeros((n_dims, n_factors), dtype=np.int64)
        for _ in range(n):
            k = usable[rng.integers(len(usable))]
            members = groups[k][rng.integers(len(groups[k]))]
            pick = rng.choice(members, size=batch_size, replace=len(members) < batch_size)
            d = dims[int(np.argmin(normed[pick].var(axis=0)))]
            table[d, k] += 1
        return table

    train, held = votes(n_train), votes(n_eval)
    guess = train.argmax(axis=1)
    rows = np.arange(n_dims)
    return {
        "score": float(held[rows, guess].sum() / max(1, held.sum())),
        "train_accuracy": float(train[rows, guess].sum() / max(1, train.sum())),
        "active_dims": int(active.sum()),
    }


def _entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy of each row of ``p`` (rows normalised) in log base ``base``."""
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
    logs = np.log(np.where(p > 0, p, 1.0)) / np.log(max(base, 2))
    return -(p * logs).sum(axis=1)


def dci(codes: np.ndarray, factors: np.ndarray, *, train_fraction: float = 0.8, seed: int = 0,
        n_estimators: int = 50, max_depth: int | None = 8) -> dict[str, Any]:
    """DCI disentanglement, completeness, informativeness and the importance matrix (L, K)."""
    from sklearn.ensemble import RandomForestClassifier

    codes, factors = _check(codes, factors)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(codes))
    cut = min(len(codes) - 1, max(1, int(round(train_fraction * len(codes)))))
    tr, te = order[:cut], order[cut:]
    n_dims, n_factors = codes.shape[1], factors.shape[1]
    importance = np.zeros((n_dims, n_factors))
    accuracy = []
    for k in range(n_factors):
        if len(np.unique(factors[tr, k])) < 2:
            continue
        forest = RandomForestClassifier(
            n_estimators=n_estimators, max_depth=max_depth, max_features=None, random_state=seed + k, n_jobs=1,
        )
        forest.fit(codes[tr], factors[tr, k])
        importance[:, k] = np.abs(forest.feature_importances_)
        accuracy.append(float((forest.predict(codes[te]) == factors[te, k]).mean()))
    total = importance.sum()
    if total <= 0:
        return {"disentanglement": 0.0, "completeness": 0.0, "informativeness": float(np.mean(accuracy)) if accuracy else 0.0,
                "importance": importance.tolist()}
    code_weight = importance.sum(axis=1) / total
    factor_weight = importance.sum(axis=0) / total
    disentanglement = float(((1 - _entropy(importance, n_factors)) * code_weight).sum())
    completeness = float(((1 - _entropy(importance.T, n_dims)) * factor_weight).sum())
    return {
        "disentanglement": disentanglement, "completeness": completeness,
        "informativeness": float(np.mean(accuracy)) if accuracy else 0.0, "importance": importance.tolist(),
    }


def all_metrics(codes: np.ndarray, factors: np.ndarray, *, seed: int = 0,
                factor_names: Sequence[str] | None = None) -> dict[str, Any]:
    """MIG, FactorVAE score and DCI in one JSON-ready dict."""
    m, f, d = mig(codes, factors), factor_vae_score(codes, factors, seed=seed), dci(codes, factors, seed=seed)
    names = list(factor_names) if factor_names is not None else [f"factor{k}" for k in range(np.shape(factors)[1])]
    return {
        "mig": m["mig"], "mig_per_factor": dict(zip(names, m["per_factor"])),
        "factor_vae_score": f["score"], "factor_vae_train_accuracy": f["train_accuracy"],
        "active_dims": f["active_dims"], "factor_vae_note": f.get("note"),
        "dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
        "dci_informativeness": d["informativeness"], "dci_importance": d["importance"],
        "factors": names, "n_examples": int(len(codes)), "latent_dim": int(np.shape(codes)[1]), "seed": seed,
    }


@torch.no_grad()
def traversal(model, x: torch.Tensor, *, steps: int = 9, span: float = 3.0,
              cond: torch.Tensor | None = None) -> torch.Tensor:
    """(L * steps, *shape) decoder means: row d sets code dimension d to ``steps`` values from
    -span to span (prior units) with the other dimensions fixed at ``x``'s posterior mean."""
    c = None
    if cond is not None and getattr(model, "cond_dim", 0):
        c = torch.as_tensor(cond, dtype=torch.long).reshape(1).to(model.device)
    mu = model.encode(x[None].to(model.device), c).mean[0]  # (L,)
    latent = mu.shape[0]
    values = torch.linspace(-span, span, steps, device=mu.device)
    z = mu.repeat(latent * steps, 1)
    for d in range(latent):
        z[d * steps : (d + 1) * steps, d] = values
    cz = None if c is None else model.condition(c.repeat(latent * steps))
    return model.decode(z, cz).mean.cpu()
