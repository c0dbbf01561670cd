"""Matplotlib figures: training curves and the 2-D latent map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vaekit.core.atomic import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_curves(metrics: list[dict[str, Any]], path: Path) -> None:
    """Loss, reconstruction and KL per epoch (train and validation), nats per example."""
    plt = _pyplot()
    epochs = [m["epoch"] for m in metrics]  # with one epoch each curve is a single marker
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, key, title in zip(axes, ["loss", "recon", "kl"], ["loss (-ELBO)", "reconstruction", "KL"]):
        ax.plot(epochs, [m[f"train_{key}"] for m in metrics], marker="o", ms=3, label="train")
        ax.plot(epochs, [m[f"val_{key}"] for m in metrics], marker="o", ms=3, label="validation")
        ax.set_title(f"{title} (nats/example)")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def project_2d(z: np.ndarray) -> tuple[np.ndarray, str]:
    """(N, L) -> (N, 2): the latents themselves if L <= 2, otherwise their first two principal
    components. Works for any N, including 0 and 1 (PCA needs two or more distinct points)."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.shape[1] == 1:
        return np.concatenate([z, np.zeros_like(z)], axis=1), "z1"
    if z.shape[1] == 2:
        return z, "z1, z2"
    if z.shape[0] < 2:
        return z[:, :2], "z1, z2 (too few points for principal components)"
    centred = z - z.mean(axis=0)
    # Principal axes from the SVD (what sklearn's PCA computes), for any N >= 2 and any rank.
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    if axes.shape[0] < 2:
        axes = np.vstack([axes, np.zeros((2 - axes.shape[0], z.shape[1]))])
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])  # deterministic orientation
    signs[signs == 0] = 1
    return centred @ (axes * signs[:, None]).T, "first two principal components"


def plot_latent_map(z: np.ndarray, labels: np.ndarray | None, path: Path) -> None:
    """Scatter of the posterior means, coloured by label when labels are known."""
    plt = _pyplot()
    xy, how = project_2d(z)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if xy.shape[0] == 0:
        ax.text(0.5, 0.5, "no examples", ha="center", va="center", transform=ax.transAxes)
    elif labels is not None and len(labels) == xy.shape[0] and np.issubdtype(np.asarray(labels).dtype, np.number):
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=6, alpha=0.8)
        fig.colorbar(sc, ax=ax, label="label")
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.8)
    ax.set_title(f"posterior means ({how})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
