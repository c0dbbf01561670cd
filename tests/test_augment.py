"""Augmentation (vaekit.tasks.augment and `vaekit augment`) on real runs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.cli.main import main
from vaekit.tasks.augment import AugmentError, augment
from vaekit.tasks.data import split_data


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("augment") / "cvae"
    vaekit.train("cvae", data="digits", epochs=20, out=str(out), echo=None, progress=False, report=False,
                 overrides=["data.binarize=none"])
    return out


def test_prior_samples_carry_their_labels(cvae_run):
    """A classifier trained on the real training split labels the conditional samples with the
    label they were generated for far above chance."""
    from sklearn.linear_model import LogisticRegression

    run = vaekit.load(cvae_run)
    x, y = augment(run, 200, seed=1)
    assert x.shape == (200, *run.shape) and torch.equal(y, torch.arange(200) % 10)
    xtr, ytr = split_data(run, "train")
    clf = LogisticRegression(max_iter=500).fit(xtr.reshape(len(xtr), -1).numpy(), ytr.numpy())
    assert (clf.predict(x.reshape(200, -1).numpy()) == y.numpy()).mean() > 0.6
    again, _ = augment(run, 200, seed=1)
    assert torch.equal(x, again)


def test_posterior_jitter(cvae_run):
    run = vaekit.load(cvae_run)
    xtr, ytr = split_data(run, "train")
    x, y = augment(run, 50, mode="posterior", x=xtr[:10], y=ytr[:10], scale=0.0)
    assert sorted(torch.bincount(y, minlength=10).tolist()) == sorted(torch.bincount(torch.cat([ytr[:10]] * 5), minlength=10).tolist())
    x1, _ = augment(run, 50, mode="posterior", x=xtr[:10], y=ytr[:10], scale=1.0)
    assert not torch.allclose(x, x1)
    with pytest.raises(AugmentError):
        augment(run, 5, mode="posterior")
    with pytest.raises(AugmentError):
        augment(run, 5, mode="magic")
    with pytest.raises(AugmentError):
        augment(run, 0)


def test_cli_augment(cvae_run, tmp_path, capsys):
    out = tmp_path / "aug.npz"
    assert main(["augment", str(cvae_run), "-n", "30", "-o", str(out)]) == 0
    with np.load(out) as data:
        assert data["x"].shape == (30, 1, 8, 8) and data["y"].tolist() == [i % 10 for i in range(30)]
    assert main(["augment", str(cvae_run), "-n", "12", "--mode", "posterior", "-o", str(out)]) == 0
    capsys.readouterr()
    for args in (["-n", "0", "-o", str(out)], ["-n", "5", "-o", str(tmp_path / "a.csv")], ["-n", "5", "-o", str(tmp_path / "a.png")]):
        code = main(["augment", str(cvae_run), *args])
        assert code != 0 and "vaekit: error:" in capsys.readouterr().err, args


def test_cli_augment_table_csv(tmp_path, capsys):
    run_dir = tmp_path / "bc"
    vaekit.train("vae", data="breast-cancer", epochs=3, out=str(run_dir), echo=None, progress=False, report=False)
    out = tmp_path / "rows.csv"
    assert main(["augment", str(run_dir), "-n", "8", "-o", str(out)]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 9 and rows[0][-1] == "diagnosis" and rows[0][0] == "mean radius"
    assert {r[-1] for r in rows[1:]} <= {"0", "1"}


@pytest.mark.slow  # ~10 s of CPU; the functions it drives are covered by the fast tests above
def test_augment_bench_quick(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from conftest import cli_env

    root = Path(__file__).resolve().parents[1]
    docs = tmp_path / "quick.md"
    proc = subprocess.run([sys.executable, str(root / "bench" / "bench_augment.py"), "--quick", "--results",
                           str(tmp_path / "r.jsonl"), "--docs", str(docs)], env=cli_env(), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<!-- bench:augment -->" in docs.read_text() and '"split": "test"' in (tmp_path / "r.jsonl").read_text()
