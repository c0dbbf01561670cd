"""Inpainting (vaekit.tasks.inpaint and `vaekit inpaint`) on a real run trained on digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vaekit
from conftest import run_cli
from vaekit.cli.main import main
from vaekit.tasks.data import split_data
from vaekit.tasks.inpaint import InpaintError, inpaint, inpaint_batch, mask_of_kind


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inpaint") / "run"
    # 30 epochs on all of digits, grey pixels (no binarisation, so the truth is not a coin flip): a model good enough that completions beat a blind fill.
    vaekit.train("vae", data="digits", epochs=30, out=str(out), overrides=["data.binarize=none"])
    return out


@pytest.fixture(scope="module")
def loaded(digits_run):
    return vaekit.load(digits_run)


@pytest.mark.parametrize("method", ["pseudo-gibbs", "metropolis-within-gibbs"])
def test_observed_kept_exactly_and_shape(loaded, method):
    x, _ = split_data(loaded, "test")
    observed = mask_of_kind("center", loaded.shape)
    out = inpaint(loaded, x[0], observed, n=5, method=method, steps=20, seed=3)
    assert out.shape == (5, *loaded.shape)
    assert torch.equal(out[:, observed], x[0][observed].expand(5, -1))  # bit for bit
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # Several different completions, and the same ones again for the same seed.
    assert (out[0] - out[1]).abs().max() > 1e-4
    again = inpaint(loaded, x[0], observed, n=5, method=method, steps=20, seed=3)
    assert torch.equal(out, again)


@pytest.mark.parametrize("method", ["pseudo-gibbs", "mwg"])
def test_completions_beat_the_starting_guess(loaded, method):
    """The sampler's completions are closer to the truth than its start (the decoder's mean at
    z = 0, the model's 'average digit') and than a mid-grey fill — it uses the observed pixels."""
    x, _ = split_data(loaded, "test")
    x = x[:60]
    observed = mask_of_kind("random:0.5", loaded.shape, seed=0).expand_as(x)
    out = inpaint_batch(loaded, x, observed, n=4, method=method, steps=30, seed=0).mean(0)
    miss = ~observed
    err = ((out - x)[miss] ** 2).mean()
    start = loaded.model.decode(torch.zeros(1, loaded.model.latent_dim)).mean.detach().expand_as(x)
    assert err < 0.8 * ((start - x)[miss] ** 2).mean()
    assert err < 0.8 * ((0.5 - x)[miss] ** 2).mean()


def test_mwg_reports_acceptance(loaded):
    from vaekit.tasks.inpaint import complete

    x, _ = split_data(loaded, "test")
    observed = mask_of_kind("random:0.5", loaded.shape, seed=1).expand(8, *loaded.shape)
    _, stats = complete(loaded.model, x[:8], observed, method="mwg", steps=25, generator=torch.Generator().manual_seed(0))
    assert 0.0 < stats["acceptance"] <= 1.0


def test_mask_kinds():
    assert (~mask_of_kind("center", (1, 8, 8))).sum() == 16
    half = mask_of_kind("half", (1, 8, 8))
    assert half[:, :4].all() and not half[:, 4:].any()
    r = mask_of_kind("random:0.25", (1, 100, 100), seed=0)
    assert 0.2 < (~r).float().mean() < 0.3
    assert torch.equal(r, mask_of_kind("random:0.25", (1, 100, 100), seed=0))
    for bad in ("random:2", "random:x", "center:3", "square"):
        with pytest.raises(InpaintError):
            mask_of_kind(bad, (1, 8, 8))
    with pytest.raises(InpaintError):
        mask_of_kind("center", (30,))


def test_wrong_input_is_refused(loaded):
    x, _ = split_data(loaded, "test")
    observed = mask_of_kind("center", loaded.shape)
    with pytest.raises(InpaintError, match="shape"):
        inpaint(loaded, torch.zeros(1, 9, 9), torch.ones(1, 9, 9, dtype=torch.bool))
    with pytest.raises(InpaintError, match="mask has shape"):
        inpaint(loaded, x[0], observed[:, :4])
    with pytest.raises(InpaintError, match="boolean"):
        inpaint(loaded, x[0], torch.full(loaded.shape, 0.3))
    with pytest.raises(InpaintError, match="unknown inpainting method"):
        inpaint(loaded, x[0], observed, method="magic")
    with pytest.raises(InpaintError, match="at least 1"):
        inpaint(loaded, x[0], observed, n=0)
    with pytest.raises(InpaintError, match="at least 1"):
        inpaint(loaded, x[0], observed, steps=0)


def test_cli_inpaint_png_npy_and_errors(digits_run, tmp_path, capsys):
    png = tmp_path / "out.png"
    code, out, err = run_cli("inpaint", digits_run, "--index", "3", "--mask-kind", "center", "-n", "4", "-o", png)
    assert code == 0, err
    with Image.open(png) as img:
        assert img.size[0] > 4 * img.size[1]  # one row: original, masked input, 4 completions
    # A picture file and a mask file; white = fill.
    pic = (np.random.default_rng(0).random((8, 8)) * 255).astype(np.uint8)
    Image.fromarray(pic).save(tmp_path / "in.png")
    hole = np.zeros((8, 8), np.uint8)
    hole[2:6, 2:6] = 255
    Image.fromarray(hole).save(tmp_path / "hole.png")
    npy = tmp_path / "out.npy"
    # In-process from here on (the same main() the console script runs; saves a torch start-up per call).
    code = main(["inpaint", str(digits_run), "--input", str(tmp_path / "in.png"), "--mask", str(tmp_path / "hole.png"),
                 "-n", "3", "--method", "mwg", "--steps", "10", "-o", str(npy)])
    assert code == 0, capsys.readouterr().err
    arr = np.load(npy)
    assert arr.shape == (3, 1, 8, 8)
    keep = hole == 0
    assert np.allclose(arr[:, 0][:, keep], pic[keep] / 255.0, atol=1e-6)
    # Wrong inputs: exit 2, nothing written.
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "big.png")
    bad = tmp_path / "bad.png"
    for args in (["--input", tmp_path / "big.png", "--mask-kind", "center"],
                 ["--index", "0", "--mask", tmp_path / "big.png"],
                 ["--index", "0", "--mask-kind", "nonsense"],
                 ["--index", "100000", "--mask-kind", "half"],
                 ["--index", "0", "--mask", tmp_path / "in.png", "--label", "3"]):
        code = main(["inpaint", str(digits_run), *map(str, args), "-o", str(bad)])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert "vaekit: error:" in err and "Traceback" not in err
        assert not bad.exists()
    code = main(["inpaint", str(digits_run), "--index", "0", "--mask-kind", "half", "-o", str(tmp_path / "x.csv")])
    assert code != 0 and "vaekit: error:" in capsys.readouterr().err


@pytest.mark.slow  # ~20 s of CPU; every part it drives is covered by the fast tests above
def test_bench_inpaint_quick(tmp_path):
    import subprocess
    import sys

    from conftest import cli_env

    root = Path(__file__).resolve().parents[1]
    docs = tmp_path / "quick.md"
    proc = subprocess.run([sys.executable, str(root / "bench" / "bench_inpaint.py"), "--quick", "--results",
                           str(tmp_path / "r.jsonl"), "--docs", str(docs)], env=cli_env(), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = docs.read_text()
    assert "<!-- bench:inpaint -->" in text and "skimage inpaint_biharmonic" in text and "KNNImputer" in text
    assert (tmp_path / "r.jsonl").read_text().count('"split": "test"') == 3 * 5 + 2 * 4
