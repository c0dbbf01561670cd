"""What the explorer knows about a run's test split: posterior spread per latent dimension, the
2-d latent map, and the examples behind its points.

Spread (the slider ranges). For dimension d over the test examples x_n with posterior means
mu_nd and variances s2_nd, the aggregate posterior q(z_d) = mean_n q(z_d|x_n) has

    mean  m_d = mean_n mu_nd,      variance  v_d = Var_n(mu_nd) + mean_n s2_nd   (law of total variance)

and a slider spans m_d +- 3 sqrt(v_d). Activity is Var_n(mu_nd), the "active units" statistic of
Burda et al. (2016, IWAE, section 5.2; active when > 0.01): dimensions the encoder ignores have
mu_nd ~ 0 for every x and show last. A flow posterior has no closed-form variance; its spread is
then Var_n(mu_nd) alone (noted in ``spread_rule``).

The map: posterior means projected on their first two principal components (the axes are kept,
so an uploaded example lands on the same picture); with L <= 2 the codes themselves.

Data: the test split through the run's saved preprocessing, *without* the evaluation
binarisation — grey values are what a person looks at, and an MLP/conv encoder of a binarised
model reads them as probabilities. At most :data:`MAX_EXAMPLES` examples are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vaekit.artifacts.datasets import load_splits, saved_preprocessing
from vaekit.artifacts.rundir import DATASET
from vaekit.serve.slots import RunSlot

MAX_EXAMPLES = 2_000
ACTIVE = 0.01  # Burda et al. 2016


@dataclass
class Projection:
    """z (N, L) -> (N, 2): (z - mean) @ axes.T."""

    mean: np.ndarray  # (L,)
    axes: np.ndarray  # (2, L)
    description: str

    @classmethod
    def fit(cls, z: np.ndarray) -> "Projection":
        n, dim = z.shape
        mean = z.mean(axis=0) if n else np.zeros(dim)
        if dim <= 2 or n < 2:
            axes = np.eye(2, dim)
            return cls(mean * 0, axes, "z1, z2" if dim >= 2 else "z1")
        _, _, vt = np.linalg.svd(z - mean, full_matrices=False)  # principal axes (what PCA computes)
        axes = vt[:2]
        if axes.shape[0] < 2:
            axes = np.vstack([axes, np.zeros((2 - axes.shape[0], dim))])
        signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])  # a deterministic orientation
        signs[signs == 0] = 1
        return cls(mean, axes * signs[:, None], "first two principal components of the posterior means")

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, dtype=np.float64) - self.mean) @ self.axes.T


@dataclass
class RunStats:
    x: torch.Tensor            # (N, *shape) test examples as the model sees them (no binarisation)
    y: torch.Tensor | None     # (N,) labels, if the data has them
    mu: np.ndarray             # (N, L) posterior means
    dims: list[dict[str, Any]]  # one per latent dim, most active first
    spread_rule: str
    projection: Projection
    points: np.ndarray         # (N, 2)


def test_split(slot: RunSlot) -> tuple[torch.Tensor, torch.Tensor | None]:
    run = slot.run
    splits = load_splits(run.config.data, preprocessing=saved_preprocessing(run.dataset, run.path / DATASET))
    part = splits.test
    n = min(len(part), MAX_EXAMPLES)
    return part.x[:n], (None if part.y is None else part.y[:n])


@torch.no_grad()
def compute_stats(slot: RunSlot) -> RunStats:
    """Encode the test split once (call with the slot's lock held)."""
    x, y = test_split(slot)
    model = slot.model
    cond = y if slot.n_classes else None
    mus, variances = [], []
    for i in range(0, x.shape[0], 500):
        c = None if cond is None else cond[i : i + 500].to(model.device)
        q = model.encode(x[i : i + 500].to(model.device), c)
        mus.append(q.mean.cpu())
        try:
            variances.append(q.variance.cpu())
        except (NotImplementedError, AttributeError):
            variances = None  # a flow posterior: no closed-form variance
    mu = torch.cat(mus).double().numpy()  # (N, L)
    between = mu.var(axis=0) if mu.shape[0] > 1 else np.zeros(mu.shape[1])
    if variances is not None:
        within = torch.cat(variances).double().numpy().mean(axis=0)
        rule = "sqrt(Var_x(mean of q(z_d|x)) + E_x[var of q(z_d|x)]): the aggregate posterior's sd"
    else:
        within = np.zeros_like(between)
        rule = "sd over the test split of the posterior means (flow posterior: no closed-form variance)"
    centre = mu.mean(axis=0)
    sd = np.sqrt(between + within)
    sd = np.where(sd > 1e-6, sd, 1.0)  # an unused dim still gets a usable slider
    order = np.argsort(-between, kind="stable")
    dims = [
        {"index": int(d), "activity": float(between[d]), "active": bool(between[d] > ACTIVE),
         "mean": float(centre[d]), "sd": float(sd[d]),
         "low": float(centre[d] - 3 * sd[d]), "high": float(centre[d] + 3 * sd[d])}
        for d in order
    ]
    projection = Projection.fit(mu)
    return RunStats(x=x, y=y, mu=mu, dims=dims, spread_rule=rule, projection=projection, points=projection(mu))
