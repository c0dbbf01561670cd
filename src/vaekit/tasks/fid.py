"""Sample quality in the feature space of a vaekit-trained classifier: Fréchet distance (Heusel et
al. 2017, "GANs Trained by a Two Time-Scale Update Rule") and precision / recall (Kynkäänniemi et
al. 2019, "Improved Precision and Recall Metric for Assessing Generative Models").

These are *not* Inception FIDs (no pretrained network can be downloaded here): every figure names
the classifier run whose penultimate layer it uses, and must only be compared with figures
computed in the same feature space.

    FD = |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2))         (features' means and covariances)
    precision = fraction of generated points inside some real point's k-NN ball (k = 3)
    recall    = fraction of real points inside some generated point's k-NN ball
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import scipy.linalg
import torch

from vaekit.artifacts.feature_net import FEATURE_NET_KEY, FeatureNet, read_feature_net_file, save_feature_net
from vaekit.core.errors import VaekitError

__all__ = ["FEATURE_NET_KEY", "FeatureNet", "frechet_distance", "load_feature_net", "precision_recall", "run_sample_quality",
           "sample_quality", "save_feature_net", "score_samples"]


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, s1) and N(mu2, s2) (float64)."""
    mu1, mu2, s1, s2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, s1, s2))
    with warnings.catch_warnings():  # singular products (e.g. dead ReLU features) are handled below
        warnings.simplefilter("ignore")
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():  # regularise, as the reference implementation does
            offset = np.eye(len(s1)) * 1e-6
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)  # rounding leaves tiny imaginary parts
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean), 0.0))


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def _kth_radius(points: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance of every point to its k-th nearest other point (N,)."""
    out = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i : i + chunk], points)  # (c, N), includes the point itself at 0
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _inside_any(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """(Q,) bool: query lies within some centre's ball."""
    out = []
    for i in range(0, len(queries), chunk):
        d = torch.cdist(queries[i : i + chunk], centres)  # (c, M)
        out.append((d <= radii[None, :]).any(1))
    return torch.cat(out)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    r = torch.as_tensor(np.asarray(real, dtype=np.float32))
    f = torch.as_tensor(np.asarray(fake, dtype=np.float32))
    if len(r) <= k or len(f) <= k:
        raise VaekitError(f"precision/recall with k={k} needs more than {k} real and generated points")
    precision = _inside_any(f, r, _kth_radius(r, k)).float().mean()
    recall = _inside_any(r, f, _kth_radius(f, k)).float().mean()
    return float(precision), float(recall)


@torch.no_grad()
def classifier_features(classifier: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    was = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    feats = [classifier.features(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    classifier.train(was)
    return torch.cat(feats).numpy()


def sample_quality(real: np.ndarray, fake: np.ndarray, *, k: int = 3) -> dict[str, Any]:
    """FD, precision and recall between real and generated feature sets (N, d)."""
    d = real.shape[1]
    for name, f in (("generated", fake), ("real", real)):
        if len(f) < d + 1:
            raise VaekitError(f"FID needs more {name} examples than feature dimensions ({len(f)} <= {d}): the "
                              "covariance would be singular; use more samples (e.g. --fid-samples 10000)")
    fd = frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))
    precision, recall = precision_recall(real, fake, k=k)
    return {"fid": fd, "precision": precision, "recall": recall, "k": k, "n_real": int(len(real)),
            "n_generated": int(len(fake)), "feature_dim": int(d)}


def run_sample_quality(run: Any, feature_run: Any, *, n: int = 10_000, seed: int = 0, split: str = "test",
                       k: int = 3) -> dict[str, Any]:
    """FID / precision / recall of ``n`` samples of ``run`` against its ``split``, in the features of
    the classifier run ``feature_run`` (both loaded runs). Binarised data is compared with binary
    draws from p(x|z); other data with the decoder's means."""
    from vaekit.tasks.data import split_data

    if not getattr(run.model, "GENERATIVE", True):
        raise VaekitError(f"{run.path} is a classifier run: FID measures the samples of a generative run")
    if getattr(feature_run.model, "GENERATIVE", True) or not hasattr(feature_run.model, "features"):
        raise VaekitError(f"--feature-net {feature_run.path} is not a classifier run; train one with "
                          "`vaekit train --recipe classifier --data DATASET` and pass its directory")
    if tuple(feature_run.shape) != tuple(run.shape):
        raise VaekitError(f"the feature net {feature_run.path} takes images of shape {tuple(feature_run.shape)}, but "
                          f"{run.path} makes {tuple(run.shape)}: train the classifier on the same data")
    if n < 2:
        raise VaekitError(f"--fid-samples must be at least 2; got {n}")
    x, _ = split_data(run, split)
    binary = run.config.data.binarize != "none" or run.dataset.get("levels") == 2
    gen = torch.Generator().manual_seed(seed)
    fake = run.model.sample(n, generator=gen).cpu()  # decoder means (n, *shape)
    if binary:  # binary draws from p(x|z), from the same seeded generator (reproducible)
        fake = torch.bernoulli(fake.clamp(0, 1), generator=gen)
    result = score_samples(fake, x, feature_run, k=k)
    result.update(split=split, seed=seed, samples="p(x|z) draws" if binary else "decoder means")
    return result


def score_samples(fake: Any, real: Any, feature_net: Any, *, k: int = 3) -> dict[str, Any]:
    """FID / precision / recall of any generator's images against real ones, in a vaekit feature
    net's space: how samples of another library (or of a run's `vaekit sample` file) are put next to
    ``vaekit evaluate --fid`` figures.

    ``fake`` and ``real``: arrays or tensors (N, *shape) of pixel values in [0, 1], ``shape`` being
    the feature net's input shape (e.g. (1, 28, 28)); ``feature_net``: a :class:`FeatureNet`, a
    loaded classifier run, or a path :func:`load_feature_net` accepts."""
    net = load_feature_net(feature_net) if isinstance(feature_net, (str, os.PathLike)) else feature_net
    sets = {}
    for name, a in (("generated", fake), ("real", real)):
        t = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).float().cpu()
        if tuple(t.shape[1:]) != tuple(net.shape):
            raise VaekitError(f"the {name} images have shape {tuple(t.shape[1:])} each, but the feature net "
                              f"{net.path} takes {tuple(net.shape)}: give (N, {', '.join(map(str, net.shape))}) arrays")
        if not bool(torch.isfinite(t).all()) or float(t.min()) < 0.0 or float(t.max()) > 1.0:
            raise VaekitError(f"the {name} images must be finite pixel values in [0, 1] (got min {float(t.min()):g}, "
                              f"max {float(t.max()):g}): divide 8-bit images by 255")
        sets[name] = t
    result = sample_quality(classifier_features(net.model, sets["real"]), classifier_features(net.model, sets["generated"]),
                            k=k)
    result.update(feature_net=str(net.path), note=f"features of the vaekit classifier {net.path} (penultimate "
                  "layer); not an Inception FID, comparable only with figures in the same feature space")
    return result


def load_feature_net(path: Any, device: str = "cpu") -> FeatureNet:
    """A classifier run directory, or a ``.safetensors`` file written by :func:`save_feature_net`
    (or by anyone, with the same metadata and weights of a vaekit ``classifier``)."""
    from pathlib import Path

    from vaekit.artifacts.load import load

    p = Path(path)
    if p.is_dir():
        run = load(p, device=device)
        return FeatureNet(run.model, run.shape, run.path, run.config.model)
    if p.suffix != ".safetensors" or not p.is_file():
        raise VaekitError(f"--feature-net {path}: give a classifier run directory or a .safetensors feature-net file")
    return read_feature_net_file(p, device)
