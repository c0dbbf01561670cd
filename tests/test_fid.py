"""Sample-quality metrics on cases with known answers, and the classifier stage they use."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vaekit.cli.main import main
from vaekit.core.errors import VaekitError
from vaekit.tasks.fid import frechet_distance, precision_recall, sample_quality


def test_frechet_distance_of_known_gaussians() -> None:
    # N(0, I) vs N(m, 4 I) in d dims: |m|^2 + tr(I + 4I - 2 * 2I) = |m|^2 + d
    m = np.array([1.0, 2.0, 0.0, -1.0])
    assert frechet_distance(np.zeros(4), np.eye(4), m, 4 * np.eye(4)) == pytest.approx(m @ m + 4, rel=1e-9)
    # Non-diagonal case against the 1-d closed form (mu1-mu2)^2 + (s1 - s2)^2 per rotated axis
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    s1, s2 = rot @ np.diag([1.0, 4.0, 9.0]) @ rot.T, rot @ np.diag([4.0, 1.0, 1.0]) @ rot.T
    assert frechet_distance(np.zeros(3), s1, np.zeros(3), s2) == pytest.approx((1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2, rel=1e-6)


def test_identical_sets_score_zero_and_disjoint_sets_score_badly() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(600, 5))
    same = sample_quality(real, real.copy())
    assert same["fid"] == pytest.approx(0.0, abs=1e-6) and same["precision"] == 1.0 and same["recall"] == 1.0
    far = sample_quality(real, real + 20.0)
    assert far["fid"] == pytest.approx(5 * 400, rel=1e-6) and far["precision"] == 0.0 and far["recall"] == 0.0
    # A generator that covers half of the data: high precision, recall near one half.
    half = real[real[:, 0] > 0]
    p, r = precision_recall(real, half)
    assert p > 0.9 and 0.35 < r < 0.75


def test_fewer_samples_than_feature_dimensions_is_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(VaekitError, match="more generated examples than feature dimensions"):
        sample_quality(rng.normal(size=(100, 16)), rng.normal(size=(10, 16)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from vaekit.api import train

    base = tmp_path_factory.mktemp("fid")
    kw = dict(epochs=2, overrides=["data.limit=300"], echo=None, progress=False)
    return train("classifier", out=base / "clf", **kw), train("vae", out=base / "vae", **kw)


def test_classifier_stage_and_fid_from_the_cli(runs, capsys) -> None:
    clf, vae = runs
    assert "accuracy" in (clf / "report.md").read_text()
    assert main(["evaluate", str(clf)]) == 0
    assert 0.0 <= json.loads((clf / "eval.json").read_text())["accuracy"] <= 1.0
    assert main(["evaluate", str(vae), "--fid", "--feature-net", str(clf), "--fid-samples", "300"]) == 0
    out = capsys.readouterr().out
    assert "not Inception" in out
    m = json.loads((vae / "fid.json").read_text())
    assert m["fid"] >= 0 and 0 <= m["precision"] <= 1 and m["feature_net"] == str(clf) and m["n_generated"] == 300


@pytest.mark.parametrize("args, message", [
    (["--fid"], "needs --feature-net"),
    (["--feature-net", "X"], "goes with --fid"),
])
def test_fid_usage_errors(runs, args, message, capsys) -> None:
    clf, vae = runs
    assert main(["evaluate", str(vae), *args]) == 2
    assert message in capsys.readouterr().err


def test_fid_feature_net_must_be_a_classifier(runs, capsys) -> None:
    clf, vae = runs
    assert main(["evaluate", str(vae), "--fid", "--feature-net", str(vae)]) != 0
    assert "not a classifier run" in capsys.readouterr().err
    assert main(["evaluate", str(clf), "--fid", "--feature-net", str(clf)]) != 0
    assert "is a classifier run" in capsys.readouterr().err


def test_a_standalone_feature_net_file_gives_the_same_fid(runs, tmp_path, capsys) -> None:
    import vaekit
    from vaekit.tasks.fid import load_feature_net, save_feature_net

    clf, vae = runs
    net_file = tmp_path / "elsewhere" / "features.safetensors"
    save_feature_net(vaekit.load(clf), net_file)
    assert main(["evaluate", str(vae), "--fid", "--feature-net", str(clf), "--fid-samples", "300"]) == 0
    from_run = json.loads((vae / "fid.json").read_text())["fid"]
    assert main(["evaluate", str(vae), "--fid", "--feature-net", str(net_file), "--fid-samples", "300"]) == 0
    assert json.loads((vae / "fid.json").read_text())["fid"] == pytest.approx(from_run, rel=1e-6)
    with pytest.raises(VaekitError, match="not a feature-net file"):
        load_feature_net(vae / "model.safetensors")
    with pytest.raises(VaekitError, match="not a classifier run"):
        save_feature_net(vaekit.load(vae), tmp_path / "x.safetensors")


def test_samples_from_elsewhere_score_like_the_runs_own(runs, tmp_path) -> None:
    """score_samples (how another library's samples are scored) on a run's own samples, saved as
    an .npy file as another tool would, gives the figure `vaekit evaluate --fid` gives; bad
    arrays are refused with what to do."""
    import torch

    import vaekit
    from vaekit.tasks.data import split_data
    from vaekit.tasks.fid import run_sample_quality, score_samples

    clf, vae = runs
    run, feature_run = vaekit.load(vae), vaekit.load(clf)
    expected = run_sample_quality(run, feature_run, n=300, seed=3, split="val")
    gen = torch.Generator().manual_seed(3)
    fake = run.model.sample(300, generator=gen).cpu()
    if run.config.data.binarize != "none" or run.dataset.get("levels") == 2:
        fake = torch.bernoulli(fake.clamp(0, 1), generator=gen)
    np.save(tmp_path / "fake.npy", fake.numpy())
    real, _ = split_data(feature_run, "val")
    got = score_samples(np.load(tmp_path / "fake.npy"), real, str(clf))
    assert got["fid"] == pytest.approx(expected["fid"], rel=1e-5) and got["feature_net"] == str(clf)
    assert got["precision"] == pytest.approx(expected["precision"]) and got["recall"] == pytest.approx(expected["recall"])
    with pytest.raises(VaekitError, match=r"shape \(64,\) each.*takes \(1, 8, 8\)"):
        score_samples(np.zeros((300, 64)), real, feature_run)
    with pytest.raises(VaekitError, match="divide 8-bit images by 255"):
        score_samples(fake * 255, real, feature_run)
    with pytest.raises(VaekitError, match="finite"):
        score_samples(torch.full_like(fake, float("nan")), real, feature_run)
