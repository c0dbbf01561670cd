"""Anomaly scores (vaekit.tasks.anomaly), the outlier detector and `vaekit anomaly` on real runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.tasks.anomaly import AnomalyError, anomaly_scores, detection_metrics, perturb
from vaekit.tasks.data import split_data


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("anomaly") / "run"
    vaekit.train("vae", data="digits", epochs=15, out=str(out), echo=None, progress=False, report=False,
                 overrides=["data.binarize=none"])
    return out


@pytest.fixture(scope="module")
def loaded(digits_run):
    return vaekit.load(digits_run)


def test_scores_shape_determinism_and_units(loaded):
    x, _ = split_data(loaded, "test")
    x = x[:40]
    before = torch.get_rng_state()
    iw = anomaly_scores(loaded, x, k=20, seed=1)
    assert torch.equal(before, torch.get_rng_state())  # the global generator is left alone
    assert iw.shape == (40,) and np.isfinite(iw).all()
    assert np.array_equal(iw, anomaly_scores(loaded, x, k=20, seed=1))
    elbo = anomaly_scores(loaded, x, score="elbo", k=20, seed=1)
    # Same samples: the IWAE bound is at least as tight as the mean-of-log-weights bound.
    assert (iw <= elbo + 1e-4).all()
    rec = anomaly_scores(loaded, x, score="recon")
    assert rec.shape == (40,) and (rec > 0).all()


def test_noise_scores_higher_than_digits(loaded):
    """Uniform noise images are far more anomalous than held-out digits under every score."""
    x, _ = split_data(loaded, "test")
    x = x[:60]
    noise = torch.rand(60, *loaded.shape, generator=torch.Generator().manual_seed(0))
    labels = np.r_[np.zeros(60), np.ones(60)]
    for score in ("iwae", "recon"):
        s = anomaly_scores(loaded, torch.cat([x, noise]), score=score, k=10)
        assert detection_metrics(s, labels)["auroc"] > 0.95, score


def test_ratio_uses_the_background(loaded, digits_run):
    x, _ = split_data(loaded, "test")
    x = x[:20]
    # The run as its own background: the ratio is the difference of two IW estimates of the same
    # model with different samples, close to 0 next to the NLL itself.
    r = anomaly_scores(loaded, x, score="ratio", k=50, background=loaded)
    nll = anomaly_scores(loaded, x, k=50)
    assert np.abs(r).mean() < 0.1 * np.abs(nll).mean()


def test_perturb():
    x = np.zeros((100, 1, 8, 8), np.float32)
    p = perturb(x, 0.2, seed=0)
    changed = (p != 0).mean()
    assert 0.15 < changed < 0.21  # a replacement can land on 0 again (1/256)
    assert np.all(np.isclose(p * 255, np.round(p * 255), atol=1e-3))
    with pytest.raises(AnomalyError):
        perturb(x, 1.5)


def test_wrong_input_is_refused(loaded):
    x, _ = split_data(loaded, "test")
    with pytest.raises(AnomalyError, match="shape"):
        anomaly_scores(loaded, x[0])
    with pytest.raises(AnomalyError, match="unknown anomaly score"):
        anomaly_scores(loaded, x[:2], score="magic")
    with pytest.raises(AnomalyError, match="background"):
        anomaly_scores(loaded, x[:2], score="ratio")
    with pytest.raises(AnomalyError, match="NaN"):
        anomaly_scores(loaded, torch.full((2, *loaded.shape), float("nan")))
    with pytest.raises(AnomalyError, match="k must"):
        anomaly_scores(loaded, x[:2], k=0)
    with pytest.raises(AnomalyError, match="both"):
        detection_metrics(np.zeros(3), np.zeros(3))
