"""End-to-end tests of the ``vaekit`` command line (real subprocesses) and the Python API."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import TINY, TINY_ARGS, CliPool, cli_env

PNGS = ["samples.png", "reconstructions.png", "interpolation.png", "latent_map.png", "curves.png"]
METRIC_KEYS = {"epoch", "train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl", "lr",
               "seconds", "samples_per_s"}
NUM = r"-?[\d,]+(?:\.\d+)?"


def _check_png(path: Path, min_side: int = 16) -> Image.Image:
    assert path.is_file(), f"{path} was not written"
    assert path.stat().st_size > 200, f"{path} is suspiciously small"
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG"
        assert min(img.size) >= min_side, img.size
        # Not a blank canvas: more than one grey level somewhere.
        extrema = img.convert("L").getextrema()
        assert extrema[0] != extrema[1], f"{path} is a single flat colour"
        return img.copy()


def plan_cli_jobs(cli_pool: CliPool, tiny_run: Path, d: Path) -> dict:
    """Every CLI command of this module, started in the background at the start of the session
    (see conftest.prefetched); each test then waits for and checks its own commands. Commands
    that write into a run directory get a copy of the shared run."""
    import shutil

    eval_run = d / "eval-run"
    shutil.copytree(tiny_run, eval_run)
    r = tiny_run
    plan = {
        "train": ["train", "--epochs", "2", "--out", d / "trained", *TINY_ARGS],
        "evaluate": ["evaluate", eval_run, "--k", "20", "--limit", "50"],
        "sample_png": ["sample", r, "-n", "8", "-o", d / "x.png"],
        "sample_a": ["sample", r, "-n", "8", "-o", d / "a.npy"],
        "sample_b": ["sample", r, "-n", "8", "-o", d / "b.npy"],
        "sample_c": ["sample", r, "-n", "8", "--seed", "1", "-o", d / "c.npy"],
        "recon_png": ["reconstruct", r, "-n", "4", "-o", d / "r.png"],
        "interp_png": ["interpolate", r, "--from", "0", "--to", "1", "--steps", "5", "-o", d / "i.png"],
        "interp_gif": ["interpolate", r, "--from", "0", "--to", "1", "--steps", "5", "-o", d / "i.gif"],
        "interp_lerp": ["interpolate", r, "--from", "0", "--to", "1", "--steps", "5", "--path", "lerp",
                        "-o", d / "lerp.npy"],
        "embed_npy": ["embed", r, "-o", d / "e.npy"],
        "embed_csv": ["embed", r, "-o", d / "e.csv"],
        "info": ["info", r],
        "datasets": ["datasets"],
        "recipes": ["recipes"],
    }
    futures = {name: cli_pool.submit(*args) for name, args in plan.items()}
    return {"dir": d, "eval_run": eval_run, "run": r, "futures": futures}


@pytest.fixture(scope="module")
def jobs(prefetched: dict) -> dict:
    return prefetched[__name__]


def _result(jobs: dict, name: str) -> tuple[int, str, str]:
    rc, stdout, stderr = jobs["futures"][name].result()
    assert "Traceback" not in stderr, stderr
    assert rc == 0, f"{name} exited {rc}: {stderr}"
    return rc, stdout, stderr


# --------------------------------------------------------------------------------- train
def test_train_cli_end_to_end(jobs: dict) -> None:
    out = jobs["dir"] / "trained"
    rc, stdout, stderr = _result(jobs, "train")
    for epoch in (1, 2):
        pattern = (rf"^Epoch {epoch}/2  loss {NUM}  recon {NUM}  KL {NUM}  val {NUM}  \({NUM} samples/s\)$")
        assert re.search(pattern, stdout, re.M), f"no epoch {epoch} line in:\n{stdout}"
    assert f"Run directory: {out}" in stdout
    assert f"Report: {out / 'report.md'}" in stdout

    for name in ["config.json", "dataset.json", "model.safetensors", "checkpoint.safetensors", "metrics.jsonl",
                 "report.md", *PNGS]:
        assert (out / name).is_file(), f"{name} missing from the run directory"
    assert not list(out.glob(".*")), f"temporary files left behind: {list(out.glob('.*'))}"

    config = json.loads((out / "config.json").read_text())
    assert config["train"]["epochs"] == 2
    assert config["model"]["net"]["hidden"] == [32] and config["model"]["latent_dim"] == 4
    assert config["data"]["name"] == "digits" and config["data"]["limit"] == 200
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset["shape"] == [1, 8, 8] and dataset["n_train"] == 200

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert METRIC_KEYS <= set(r), METRIC_KEYS - set(r)
        assert all(math.isfinite(r[k]) for k in METRIC_KEYS)
        assert r["train_loss"] > 0 and r["val_loss"] > 0 and r["train_kl"] >= 0 and r["samples_per_s"] > 0
        # loss = recon + w * KL with the KL warm-up weight w in [0, 1] during the epoch
        assert r["train_recon"] - 1e-3 <= r["train_loss"] <= r["train_recon"] + r["train_kl"] + 1e-3
        assert r["val_loss"] == pytest.approx(r["val_recon"] + r["val_kl"], rel=1e-4)

    weights = load_file(str(out / "model.safetensors"))
    assert weights and all(torch.isfinite(t).all() for t in weights.values())
    ckpt = load_file(str(out / "checkpoint.safetensors"))
    assert any(k.startswith("optim.") for k in ckpt) and "rng.torch" in ckpt

    for name in PNGS:
        _check_png(out / name)
    report = (out / "report.md").read_text()
    assert "# vaekit run" in report and "NLL" in report and "bits/dim" in report
    for name in PNGS:
        assert f"({name})" in report


# ------------------------------------------------------------------------------ evaluate
def test_evaluate_cli(jobs: dict) -> None:
    run_copy = jobs["eval_run"]
    rc, stdout, stderr = _result(jobs, "evaluate")
    for word in ("ELBO", "recon", "KL", "NLL", "bits/dim", "active units", "examples"):
        assert word in stdout
    assert f"Wrote {run_copy / 'eval.json'}" in stdout
    ev = json.loads((run_copy / "eval.json").read_text())
    assert {"elbo", "recon", "kl", "nll", "k", "bits_per_dim", "active_units", "kl_per_dim", "n_examples"} <= set(ev)
    assert ev["k"] == 20 and ev["n_examples"] == 50
    assert ev["elbo"] == pytest.approx(-(ev["recon"] + ev["kl"]), abs=1e-3)
    # The importance-weighted bound is at least as tight as the ELBO (small Monte Carlo slack).
    assert ev["nll"] <= -ev["elbo"] + 0.05
    assert ev["nll"] > 0
    d = 1 * 8 * 8
    assert ev["bits_per_dim"] == pytest.approx(ev["nll"] / (d * math.log(2)), rel=1e-9)
    assert len(ev["kl_per_dim"]) == 4 and all(v >= -1e-6 for v in ev["kl_per_dim"])
    assert sum(ev["kl_per_dim"]) == pytest.approx(ev["kl"], rel=1e-3, abs=1e-4)
    assert 0 <= ev["active_units"] <= 4
    # The printed table shows the same numbers.
    assert f"{ev['nll']:.3f}" in stdout and f"{ev['elbo']:.3f}" in stdout


def test_evaluate_table_meanings_are_printed_verbatim(jobs: dict) -> None:
    rc, stdout, stderr = _result(jobs, "evaluate")
    assert "Cov_x(E_q[z_d]) > 0.01" in stdout
    assert "E_q[log p(x,z) - log q(z|x)]" in stdout


# ------------------------------------------------------------------ sample / reconstruct
def test_sample_png_npy_and_seeds(jobs: dict) -> None:
    d = jobs["dir"]
    png, a, b, c = d / "x.png", d / "a.npy", d / "b.npy", d / "c.npy"
    for name in ("sample_png", "sample_a", "sample_b", "sample_c"):
        assert "Wrote 8 samples" in _result(jobs, name)[1]
    _check_png(png)
    xa, xb, xc = np.load(a), np.load(b), np.load(c)
    assert xa.shape == (8, 1, 8, 8)
    assert xa.dtype.kind == "f" and np.isfinite(xa).all()
    assert xa.min() >= 0.0 and xa.max() <= 1.0
    assert np.array_equal(xa, xb), "same seed must give identical samples"
    assert not np.array_equal(xa, xc), "a different seed must give different samples"


def test_reconstruct_png(jobs: dict) -> None:
    out = jobs["dir"] / "r.png"
    assert "Wrote 4 reconstructions" in _result(jobs, "recon_png")[1]
    img = _check_png(out)
    # 4 originals next to 4 reconstructions in one row of 8 (8x8 images scaled by 14).
    assert img.size[0] < 5 * 8 * 14 and img.size[1] > 2 * 8 * 14  # a row of 4 inputs above their 4 reconstructions


# ------------------------------------------------------------------------- interpolate
def test_interpolate_png_gif_lerp(jobs: dict) -> None:
    d = jobs["dir"]
    png, gif, lerp = d / "i.png", d / "i.gif", d / "lerp.npy"
    assert "5-step slerp interpolation" in _result(jobs, "interp_png")[1]
    _result(jobs, "interp_gif")
    assert "5-step lerp interpolation" in _result(jobs, "interp_lerp")[1]
    img = _check_png(png)
    assert img.size[0] > img.size[1]  # one row of 5 frames
    with Image.open(gif) as g:
        assert g.format == "GIF"
        assert getattr(g, "n_frames", 1) >= 5, "the GIF should animate through the steps"
    frames = np.load(lerp)
    assert frames.shape == (5, 1, 8, 8) and frames.min() >= 0 and frames.max() <= 1
    assert not np.array_equal(frames[0], frames[-1])


# ------------------------------------------------------------------------------- embed
def test_embed_npy_and_csv(jobs: dict, tiny_run: Path) -> None:
    npy, csv = jobs["dir"] / "e.npy", jobs["dir"] / "e.csv"
    npy_out = _result(jobs, "embed_npy")[1]
    _result(jobs, "embed_csv")
    n_test = json.loads((tiny_run / "dataset.json").read_text())["n_test"]
    z = np.load(npy)
    assert z.shape == (n_test, 4 + 1)  # latent means + label as the last column
    assert "last column: label" in npy_out
    labels = z[:, -1]
    assert np.array_equal(labels, np.round(labels)) and labels.min() >= 0 and labels.max() <= 9
    lines = csv.read_text().splitlines()
    assert lines[0] == "z0,z1,z2,z3,label"
    assert len(lines) == n_test + 1
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert np.array_equal(table[:, -1], labels)
    assert np.allclose(table[:, :-1], z[:, :-1], rtol=1e-4, atol=1e-5)


# ----------------------------------------------------- info / datasets / recipes / help
def test_info_datasets_recipes(jobs: dict, tiny_run: Path) -> None:
    info, ds, rec = (_result(jobs, name)[1] for name in ("info", "datasets", "recipes"))
    assert str(tiny_run) in info and "digits" in info and "(1, 8, 8)" in info and "parameters" in info
    assert '"latent_dim": 4' in info
    assert "Metrics" in info
    assert re.search(r"^\W*1\W", info, re.M) and re.search(r"^\W*2\W", info, re.M), "epoch rows missing"
    for name in ("digits", "fashion-mnist", "mnist", "npy:PATH"):
        assert name in ds
    assert re.search(r"\bvae\b", rec) and re.search(r"\biwae\b", rec)


def test_help_and_version() -> None:
    for cmd in (["vaekit", "--help"], [sys.executable, "-m", "vaekit", "--help"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=60)
        assert proc.returncode == 0, proc.stderr
        for sub in ("train", "evaluate", "sample", "reconstruct", "interpolate", "embed", "info", "datasets", "recipes"):
            assert sub in proc.stdout
    proc = subprocess.run(["vaekit", "train", "--help"], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert proc.returncode == 0 and "--resume" in proc.stdout and "--set" in proc.stdout
    proc = subprocess.run(["vaekit", "--version"], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert proc.returncode == 0 and "vaekit 0.1.0" in proc.stdout


# ---------------------------------------------------------------------------- Python API
def test_python_api_train_load_evaluate(tiny_run: Path) -> None:
    import vaekit  # tiny_run itself was made with the API's train()

    run = vaekit.load(tiny_run)
    assert run.config.model["latent_dim"] == 4 and run.config.model["net"]["hidden"] == [32]
    assert run.shape == (1, 8, 8)
    assert not run.model.training
    # The loaded weights are exactly the stored ones.
    stored = load_file(str(tiny_run / "model.safetensors"))
    state = run.model.state_dict()
    assert set(stored) == set(state)
    assert all(torch.equal(stored[k], state[k]) for k in stored)

    m = vaekit.evaluate(tiny_run, k=5, limit=30, write=False)
    assert m["n_examples"] == 30 and m["k"] == 5
    assert m["nll"] <= -m["elbo"] + 0.05
    assert not (tiny_run / "eval.json").exists()
    # Same seed -> same numbers (the evaluation is reproducible).
    assert vaekit.evaluate(run, k=5, limit=30, write=False)["nll"] == m["nll"]


def test_python_api_train_returns_run_dir(tmp_path: Path) -> None:
    from vaekit.api import train

    lines: list[str] = []
    out = train(epochs=1, out=tmp_path / "api", overrides=list(TINY), echo=lines.append, progress=False,
                       report=False)
    assert Path(out) == tmp_path / "api"
    assert lines and lines[0].startswith("Epoch 1/1  loss ")
    assert (out / "model.safetensors").is_file() and (out / "checkpoint.safetensors").is_file()
    assert not (out / "report.md").exists()  # report=False
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_set_none_word() -> None:
    # `none` is both a legal literal (data.binarize) and the way to switch optional values off.
    from vaekit.api import resolve_config

    cfg = resolve_config("vae", overrides=["data.binarize=none", "train.clip_grad=none", "train.early_stopping=null"])
    assert cfg.data.binarize == "none"
    assert cfg.train.clip_grad is None and cfg.train.early_stopping is None


def test_vaekit_train_stays_callable() -> None:
    # A fresh interpreter, as a user would have it: the README's load-then-train sequence.
    code = "import vaekit; vaekit.load; assert callable(vaekit.train), type(vaekit.train)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
