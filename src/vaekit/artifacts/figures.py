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
    """Loss, reconstruction and KL per epoch (train and validation), nats per example; for a
    classifier, cross-entropy and accuracy."""
    plt = _pyplot()
    epochs = [m["epoch"] for m in metrics]  # with one epoch each curve is a single marker
    if "train_accuracy" in metrics[0]:
        panels = [("loss", "cross-entropy (nats/example)"), ("accuracy", "accuracy")]
    else:
        panels = [("loss", "loss (-ELBO) (nats/example)"), ("recon", "reconstruction (nats/example)"),
                  ("kl", "KL (nats/example)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    for ax, (key, title) in zip(axes, panels):
        ax.plot(epochs, [m[f"train_{key}"] for m in metrics], marker="o", ms=3, label="train")
        ax.plot(epochs, [m[f"val_{key}"] for m in metrics], marker="o", ms=3, label="validation")
        ax.set_title(title)
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


MAX_COLUMN_PANELS = 30
MAX_BARS = 12


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def plot_column_distributions(
    columns: list[dict[str, Any]], real: dict[str, np.ndarray] | None, generated: dict[str, np.ndarray], path: Path,
    *, max_columns: int = MAX_COLUMN_PANELS,
) -> int:
    """A grid of small panels, one per table column (the first ``max_columns``): histograms of
    numeric columns (densities, shared bins), bar charts of category shares for categorical ones
    (at most :data:`MAX_BARS` categories, the most common in the real data first). ``real`` and
    ``generated`` map column names to values in original units; ``real`` may be None (no test
    rows). Returns the number of panels drawn."""
    plt = _pyplot()
    shown = columns[:max_columns]
    n = max(1, len(shown))
    ncol = min(5, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.9 * ncol, 2.3 * nrow), squeeze=False)
    real_colour, gen_colour = "tab:blue", "tab:orange"
    for ax, col in zip(axes.flat, shown):
        name = col["name"]
        gen = np.asarray(generated[name])
        ref = None if real is None else np.asarray(real[name])
        if col["kind"] == "numeric":
            gen = gen.astype(np.float64)
            pool = np.concatenate([gen, ref.astype(np.float64)]) if ref is not None and len(ref) else gen
            lo, hi = np.percentile(pool, [0.5, 99.5]) if len(pool) else (0.0, 1.0)
            if ref is not None and len(ref):
                lo, hi = min(lo, float(ref.min())), max(hi, float(ref.max()))
            if not hi > lo:
                lo, hi = lo - 0.5, hi + 0.5
            bins = np.linspace(lo, hi, 21)
            if ref is not None and len(ref):
                ax.hist(ref.astype(np.float64), bins=bins, density=True, color=real_colour, alpha=0.45, label="real (test)")
            ax.hist(np.clip(gen, lo, hi), bins=bins, density=True, histtype="step", lw=1.6, color=gen_colour,
                    label="generated")
            ax.set_yticks([])
        else:
            cats = [str(c) for c in col["categories"]]
            share = lambda values: np.array([np.mean([str(v) == c for v in values]) if len(values) else 0.0 for c in cats])
            g = share(gen)
            r = share(ref) if ref is not None else None
            order = np.argsort(-(r if r is not None and len(ref) else g), kind="stable")[:MAX_BARS]
            pos = np.arange(len(order))
            if r is not None:
                ax.bar(pos - 0.2, r[order], width=0.4, color=real_colour, alpha=0.6, label="real (test)")
            ax.bar(pos + 0.2, g[order], width=0.4, color=gen_colour, alpha=0.9, label="generated")
            ax.set_xticks(pos)
            ax.set_xticklabels([cats[i][:10] for i in order], rotation=45, ha="right", fontsize=7)
            ax.set_ylim(0, 1)
        more = f" (top {MAX_BARS} of {len(col['categories'])})" if col["kind"] != "numeric" and len(col["categories"]) > MAX_BARS else ""
        ax.set_title(f"{name[:28]}{more}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    if shown:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right", fontsize=8)
    title = "real (test split) vs generated (prior samples), original units"
    if len(columns) > len(shown):
        title += f" — first {len(shown)} of {len(columns)} columns"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    _save(fig, path)
    return len(shown)


def correlation(x: np.ndarray) -> np.ndarray | None:
    """Pearson correlations of the columns of (N, D); constant columns give 0 off the diagonal.
    None with fewer than 2 rows."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        return None
    centred = x - x.mean(axis=0)
    sd = np.sqrt((centred**2).mean(axis=0))
    safe = np.where(sd > 0, sd, 1.0)
    corr = (centred / safe).T @ (centred / safe) / x.shape[0]
    corr[:, sd == 0] = 0.0
    corr[sd == 0, :] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def plot_correlations(real: np.ndarray | None, generated: np.ndarray, names: list[str], path: Path) -> None:
    """Two correlation matrices side by side: the real (test) rows and the generated rows, over
    the encoded features ``names`` (numeric columns, one-hot categories)."""
    plt = _pyplot()
    d = len(names)
    side = min(7.0, 2.5 + 0.17 * d)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1.2, side))
    im = None
    for ax, data, title in zip(axes, [real, generated], ["real (test split)", "generated (prior samples)"]):
        corr = None if data is None else correlation(data)
        if corr is None:
            ax.text(0.5, 0.5, "too few rows", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
            if d <= 40:
                labels = [n[:18] for n in names]
                ax.set_xticks(range(d))
                ax.set_xticklabels(labels, rotation=90, fontsize=5)
                ax.set_yticks(range(d))
                ax.set_yticklabels(labels, fontsize=5)
            else:
                ax.set_xticks([])
                ax.set_yticks([])
        ax.set_title(title, fontsize=10)
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.8, label="correlation")
    _save(fig, path)
