"""The ``shapes`` dataset, the disentanglement metrics on codes with known answers, and
``vaekit disentanglement`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from vaekit.data import list_datasets, load_dataset
from vaekit.data.shapes import FACTOR_NAMES, FACTOR_SIZES, FACTORS, N_EXAMPLES, generate
from vaekit.tasks.disentanglement import dci, factor_vae_score, mig


# --- dataset --------------------------------------------------------------------------
def test_shapes_size_factors_and_split() -> None:
    assert FACTOR_NAMES == ("shape", "scale", "rotation", "x", "y") and FACTOR_SIZES == (3, 6, 10, 8, 8)
    assert N_EXAMPLES == 11_520 and dict(FACTORS)["rotation"] == 10
    s = load_dataset("shapes")
    assert (len(s.train), len(s.val), len(s.test)) == (9216, 1152, 1152)
    assert s.info.shape == (1, 32, 32) and s.info.levels == 2 and s.info.n_classes == 3
    assert set(s.train.x.unique().tolist()) == {0.0, 1.0}
    for part in (s.train, s.val, s.test):
        assert part.factors.shape == (len(part), 5) and str(part.factors.dtype) == "torch.int64"
        assert (part.y == part.factors[:, 0]).all()
    # every combination exactly once over the three splits
    allf = np.concatenate([p.factors.numpy() for p in (s.train, s.val, s.test)])
    assert len(np.unique(np.ravel_multi_index(allf.T, FACTOR_SIZES))) == N_EXAMPLES
    small = load_dataset("shapes", limit=300)
    assert len(small.train) == 300 and small.train.factors.shape == (300, 5)
    row = {r["name"]: r for r in list_datasets()}["shapes"]
    assert row["available"] and row["shape"] == (1, 32, 32) and row["n_examples"] == N_EXAMPLES


def test_shapes_deterministic_and_every_factor_changes_the_image() -> None:
    a, b = load_dataset("shapes"), load_dataset("shapes")
    assert (a.train.x == b.train.x).all() and (a.test.factors == b.test.factors).all()
    generate.cache_clear()
    images, factors = generate()
    generate.cache_clear()
    again, _ = generate()
    assert np.array_equal(images, again)
    assert images.shape == (N_EXAMPLES, 32, 32) and factors.shape == (N_EXAMPLES, 5)
    assert (images.reshape(N_EXAMPLES, -1).sum(1) > 0).all()  # no empty picture
    base = np.array([0, 5, 0, 3, 3])
    for s in range(3):
        base[0] = s
        for k, size in enumerate(FACTOR_SIZES):
            for value in range(size):
                other = base.copy()
                other[k] = value
                if value == base[k]:
                    continue
                i, j = np.ravel_multi_index(base, FACTOR_SIZES), np.ravel_multi_index(other, FACTOR_SIZES)
                assert not np.array_equal(images[i], images[j]), (s, FACTOR_NAMES[k], value)


# --- metrics with known answers --------------------------------------------------------
@pytest.fixture(scope="module")
def cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    _, f = generate()
    f = f[rng.choice(len(f), 3000, replace=False)]
    clean = f / np.array(FACTOR_SIZES) + rng.normal(0, 1e-3, f.shape)
    noise = rng.normal(size=f.shape)
    mixed = clean.copy()
    a, b = ((f[:, k] - f[:, k].mean()) / f[:, k].std() for k in (3, 4))
    mixed[:, 3], mixed[:, 4] = a + b, a - b  # two dims each mixing x and y
    return {"clean": (clean, f), "noise": (noise, f), "mixed": (mixed, f)}


def test_mig_known_answers(cases) -> None:
    clean, noise, mixed = (mig(*cases[k])["mig"] for k in ("clean", "noise", "mixed"))
    # 20 bins keep every factor value apart, so only the finite-sample MI of unrelated dims is lost
    assert clean >= 0.95
    assert noise <= 0.05
    assert mixed < clean - 0.2


def test_factor_vae_score_known_answers(cases) -> None:
    assert factor_vae_score(*cases["clean"], seed=1)["score"] == 1.0
    noise = factor_vae_score(*cases["noise"], seed=1)["score"]
    assert abs(noise - 1 / 5) <= 0.07  # chance with 5 factors
    assert factor_vae_score(*cases["mixed"], seed=1)["score"] < 0.9
    a, b = factor_vae_score(*cases["noise"], seed=3), factor_vae_score(*cases["noise"], seed=3)
    assert a == b  # seeded


def test_dci_known_answers(cases) -> None:
    clean, noise, mixed = (dci(*cases[k]) for k in ("clean", "noise", "mixed"))
    assert clean["disentanglement"] >= 0.95 and clean["completeness"] >= 0.95 and clean["informativeness"] >= 0.95
    assert noise["disentanglement"] <= 0.1 and noise["completeness"] <= 0.1 and noise["informativeness"] <= 0.3
    assert mixed["disentanglement"] < clean["disentanglement"] - 0.1
    assert np.asarray(clean["importance"]).shape == (5, 5)


# --- CLI end to end ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import vaekit

    out = tmp_path_factory.mktemp("shapes") / "run"
    vaekit.train(data="shapes", epochs=1, out=out, echo=None, progress=False, report=False,
                 overrides=["data.limit=300", "model.net.hidden=[32]", "model.latent_dim=4"])
    return out


def test_cli_disentanglement_end_to_end(shapes_run: Path, tmp_path: Path) -> None:
    pic = tmp_path / "traversal.png"
    code, out, err = run_cli("disentanglement", shapes_run, "-o", pic, "--seed", "1")
    assert code == 0, err
    for word in ("MIG", "FactorVAE score", "DCI disentanglement"):
        assert word in out
    saved = json.loads((shapes_run / "disentanglement.json").read_text())
    for key in ("mig", "factor_vae_score", "dci_disentanglement", "dci_completeness", "dci_informativeness"):
        assert 0.0 <= saved[key] <= 1.0
    assert saved["factors"] == list(FACTOR_NAMES) and saved["n_examples"] == 1152 and saved["seed"] == 1
    width, height = Image.open(pic).size
    assert height > width / 9 * 3  # 4 rows (latent dims) of 9 steps
    code, out, err = run_cli("disentanglement", shapes_run, "-n", "200", "--split", "val")
    assert code == 0, err
    assert json.loads((shapes_run / "disentanglement.json").read_text())["n_examples"] == 200


def test_cli_disentanglement_needs_factors(tiny_run: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in tiny_run.iterdir())
    code, out, err = run_cli("disentanglement", tiny_run)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "digits" in lines[0] and "factors" in lines[0] and "shapes" in lines[0]
    assert sorted(p.name for p in tiny_run.iterdir()) == before
