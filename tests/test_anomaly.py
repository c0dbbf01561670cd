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


def test_scores_do_not_depend_on_the_batch(loaded):
    x, _ = split_data(loaded, "test")
    x = x[:30]
    full = anomaly_scores(loaded, x, k=10, seed=2, batch_size=30)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(0))
    again = anomaly_scores(loaded, x[perm], k=10, seed=2, batch_size=7)
    assert np.allclose(again, full[perm.numpy()], rtol=1e-5, atol=1e-4)


def test_cli_anomaly(digits_run, tmp_path, capsys):
    from conftest import run_cli
    from vaekit.cli.main import main

    out = tmp_path / "scores.csv"
    code, stdout, err = run_cli("anomaly", digits_run, "--normal", "0,1,2,3,4", "--k", "5", "-o", out)
    assert code == 0, err
    assert "AUROC" in stdout and "AUPRC" in stdout
    lines = out.read_text().splitlines()
    assert lines[0] == "source,index,score,label,anomaly" and len(lines) == 181
    # Out-of-distribution: noise images (digits' own 0..16 scale) against the run's test split.
    noise = np.random.default_rng(0).integers(0, 17, size=(50, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "noise.npz", x=noise)
    code = main(["anomaly", str(digits_run), "--data", f"npz:{tmp_path / 'noise.npz'}", "--split", "train", "--ood",
                 "--score", "recon", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    auroc = float(printed.split("AUROC ")[1].split()[0])
    assert auroc > 0.95
    before = out.read_bytes()
    for args in (["--score", "ratio"], ["--ood"], ["--normal", "a"], ["--k", "0"], ["--background", str(digits_run)]):
        code = main(["anomaly", str(digits_run), *args, "-o", str(out)])
        assert code == 2 and "vaekit: error:" in capsys.readouterr().err, args
    assert out.read_bytes() == before


def test_excess_removes_the_input_entropy(loaded):
    from vaekit.tasks.anomaly import self_nll

    x, _ = split_data(loaded, "test")
    x = x[:10]
    iw = anomaly_scores(loaded, x, k=10, seed=0)
    ex = anomaly_scores(loaded, x, score="excess", k=10, seed=0)
    p = x.double().reshape(10, -1).clamp(1e-12, 1 - 1e-12)
    entropy = -(p * p.log() + (1 - p) * (1 - p).log()).sum(1).numpy()
    assert np.allclose(iw - ex, entropy, atol=1e-3)
    assert torch.equal(self_nll(loaded.model, torch.tensor([[[[0.0, 1.0]]]]).expand(1, 1, 1, 2)), torch.zeros(1, dtype=torch.float64))


@pytest.mark.slow  # ~15 s of CPU; the detector and the scores it drives are covered by fast tests
def test_bench_anomaly_quick(tmp_path):
    import subprocess
    import sys

    from conftest import cli_env

    root = Path(__file__).resolve().parents[1]
    docs = tmp_path / "quick.md"
    proc = subprocess.run([sys.executable, str(root / "bench" / "bench_anomaly.py"), "--quick", "--results",
                           str(tmp_path / "r.jsonl"), "--docs", str(docs)], env=cli_env(), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = docs.read_text()
    for name in ("vaekit VAEOutlierDetector", "IsolationForest", "OneClassSVM", "PyOD VAE", "GEOM"):
        assert name in text
