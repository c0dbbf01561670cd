"""Blending, attribute vectors and restyling (vaekit.tasks.blend, `vaekit blend`, `vaekit restyle`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.cli.main import main
from vaekit.tasks.blend import BlendError, apply_attribute, attribute_vector, blend, codes, restyle
from vaekit.tasks.data import split_data


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("blend") / "cvae"
    vaekit.train("cvae", data="digits", epochs=25, out=str(out), echo=None, progress=False, report=False,
                 overrides=["data.binarize=none"])
    return out


@pytest.fixture(scope="module")
def loaded(cvae_run):
    return vaekit.load(cvae_run)


def test_blend_endpoints_and_linearity(loaded):
    x, y = split_data(loaded, "test")
    out = blend(loaded, x[0], x[1], [0, 0.5, 1], cond_a=int(y[0]), cond_b=int(y[1]))
    assert out.shape == (3, *loaded.shape)
    # alpha 0 / 1 are the reconstructions of a / b.
    ca = codes(loaded, x[:2], y[:2])
    rec = loaded.model.decode(ca, y[:2]).mean
    assert torch.allclose(out[0], rec[0], atol=1e-5) and torch.allclose(out[2], rec[1], atol=1e-5)


def test_attribute_vector_moves_codes(loaded):
    x, y = split_data(loaded, "train")
    v = attribute_vector(loaded, x, y, 0, 7)
    z = codes(loaded, x, y)
    assert torch.allclose(v, z[y == 7].mean(0) - z[y == 0].mean(0), atol=1e-5)
    out = apply_attribute(loaded, x[0], v, [0.0, 1.0], cond=int(y[0]))
    assert out.shape == (2, *loaded.shape) and not torch.allclose(out[0], out[1])
    with pytest.raises(BlendError, match="no example"):
        attribute_vector(loaded, x, y, 0, 42)


def test_restyle_changes_the_class_a_classifier_sees(loaded):
    """Restyled test digits are labelled as the target class by a classifier trained on the
    training split far more often than chance (10 %)."""
    from sklearn.linear_model import LogisticRegression

    xtr, ytr = split_data(loaded, "train")
    clf = LogisticRegression(max_iter=500).fit(xtr.reshape(len(xtr), -1).numpy(), ytr.numpy())
    x, y = split_data(loaded, "test")
    target = (y + 3) % 10
    out = restyle(loaded, x, y, target)
    hit = (clf.predict(out.reshape(len(out), -1).numpy()) == target.numpy()).mean()
    assert hit > 0.6, hit


def test_wrong_input(loaded, tmp_path):
    x, y = split_data(loaded, "test")
    with pytest.raises(BlendError, match="shape"):
        blend(loaded, x[0, :, :4], x[1], [0.5], cond_a=0, cond_b=0)
    with pytest.raises(BlendError, match="conditional"):
        blend(loaded, x[0], x[1], [0.5])
    with pytest.raises(BlendError, match="0 .. 9"):
        restyle(loaded, x[:2], y[:2], 12)


def test_cli_blend_and_restyle(cvae_run, tmp_path, capsys):
    out = tmp_path / "b.npy"
    assert main(["blend", str(cvae_run), "--a", "0", "--b", "1", "--alpha", "0,0.5,1,1.5", "-o", str(out)]) == 0
    assert np.load(out).shape == (4, 1, 8, 8)
    png = tmp_path / "r.png"
    assert main(["restyle", str(cvae_run), "--input", "2", "--label", "all", "-o", str(png)]) == 0
    assert png.is_file()
    assert main(["blend", str(cvae_run), "--a", "0", "--attribute", "1:2", "-o", str(tmp_path / "a.png")]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.png"
    for args in (["blend", str(cvae_run), "--a", "0", "--b", "1", "--alpha", "x"],
                 ["blend", str(cvae_run), "--a", "99999", "--b", "1"],
                 ["blend", str(cvae_run), "--a", "0", "--attribute", "1-2"],
                 ["restyle", str(cvae_run), "--input", "0", "--label", "11"]):
        assert main([*args, "-o", str(bad)]) == 2, args
        assert "vaekit: error:" in capsys.readouterr().err
        assert not bad.exists()


@pytest.mark.slow  # ~10 s of CPU; the functions it drives are covered by the fast tests above
def test_blend_bench_quick(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from conftest import cli_env

    root = Path(__file__).resolve().parents[1]
    docs = tmp_path / "quick.md"
    proc = subprocess.run([sys.executable, str(root / "bench" / "bench_blend.py"), "--quick", "--results",
                           str(tmp_path / "r.jsonl"), "--docs", str(docs)], env=cli_env(), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<!-- bench:blend -->" in docs.read_text() and '"split": "test"' in (tmp_path / "r.jsonl").read_text()
