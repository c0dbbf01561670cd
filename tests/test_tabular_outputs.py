"""Outputs of table runs in original names and units, the table report, `train --parent`, and
conditional runs through the tasks and the CLI. Real subprocess CLI calls, real files."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_ARGS, CliPool, run_cli
from test_tabular import COLOURS, _mixed_csv

SMALL = ["--set", "model.net.hidden=[32]", "--set", "model.latent_dim=4"]


def _ok(result: tuple[int, str, str]) -> str:
    rc, out, err = result
    assert rc == 0 and "Traceback" not in err, err
    return out


def _usage_error(result: tuple[int, str, str], *words: str) -> str:
    rc, _, err = result
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    return err


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _png(path: Path) -> None:
    assert path.is_file(), path
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG" and min(img.size) > 100
        lo, hi = img.convert("L").getextrema()
        assert lo != hi, f"{path} is a flat colour"


# --- fixtures: a conditional mixed-CSV run, a breast-cancer run, a conditional digits run ------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, cli_pool: CliPool) -> dict:
    d = tmp_path_factory.mktemp("tabout")
    raw = _mixed_csv(d / "mixed.csv", n=120)
    jobs = {
        "mixed": cli_pool.submit("train", "--data", f"csv:{d / 'mixed.csv'}#label=kind", "--epochs", "3",
                                 "--out", d / "mixed", "--set", "model.conditional=true", *SMALL),
        "bc": cli_pool.submit("train", "--data", "breast-cancer", "--epochs", "3", "--out", d / "bc", *SMALL),
    }
    for job in jobs.values():
        _ok(job.result())
    return {"dir": d, "raw": raw, "mixed": d / "mixed", "bc": d / "bc"}


@pytest.fixture(scope="module")
def cvae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cvae") / "run"
    _ok(run_cli("train", "--epochs", "1", "--out", out, *TINY_ARGS, "--set", "model.conditional=true"))
    return out


# --- 1. tabular outputs in original names and units -----------------------------------------------


def test_table_sample_reconstruct_embed_write_original_columns(runs: dict, cli_pool: CliPool) -> None:
    d, run = runs["dir"], runs["mixed"]
    pre = json.loads((run / "dataset.json").read_text())["preprocessing"]
    names = [c["name"] for c in pre["columns"]]
    calls = {
        "a": ["sample", run, "-n", "50", "-o", d / "a.csv"],
        "b": ["sample", run, "-n", "50", "-o", d / "b.csv"],
        "c": ["sample", run, "-n", "50", "--seed", "1", "-o", d / "c.csv"],
        "mean": ["sample", run, "-n", "50", "--mean", "-o", d / "mean.csv"],
        "recon": ["reconstruct", run, "-n", "10", "-o", d / "recon.csv"],
        "interp": ["interpolate", run, "--from", "0", "--to", "1", "--steps", "4", "-o", d / "walk.csv"],
        "embed": ["embed", run, "-o", d / "codes.csv"],
        "npy": ["sample", run, "-n", "5", "-o", d / "enc.npy"],
        "png": ["sample", run, "-n", "5", "-o", d / "no.png"],
        "recon_png": ["reconstruct", run, "-n", "5", "-o", d / "no-recon.png"],
    }
    futures = {k: cli_pool.submit(*v) for k, v in calls.items()}
    res = {k: f.result() for k, f in futures.items()}

    # sample: the original header (+ the label column of this conditional run), original units
    assert "50 generated rows" in _ok(res["a"])
    header, rows = _rows(d / "a.csv")
    assert header == [*names, "kind"] and len(rows) == 50
    assert {r["colour"] for r in rows} <= set(COLOURS) and {r["grade"] for r in rows} <= {"1", "2", "5"}
    assert {r["flag"] for r in rows} <= {"0", "1"} and {r["kind"] for r in rows} <= {"cat", "dog"}
    heights = np.array([float(r["height"]) for r in rows])
    assert 120 < heights.mean() < 220 and heights.std() > 0.5  # centimetres, not standardised values
    incomes = [r["income"] for r in rows]
    assert all(v.lstrip("-").isdigit() for v in incomes)  # a whole-number column stays whole
    assert 10_000 < np.mean([float(v) for v in incomes]) < 90_000
    # seeded: same seed, same file; another seed, other rows
    assert (d / "a.csv").read_bytes() == (d / "b.csv").read_bytes() != (d / "c.csv").read_bytes()
    # --mean: decoder means and most probable categories (deterministic, narrower than draws)
    _ok(res["mean"])
    _, mean_rows = _rows(d / "mean.csv")
    assert {r["colour"] for r in mean_rows} <= set(COLOURS)
    assert np.std([float(r["height"]) for r in mean_rows]) < heights.std()
    assert "--mean" in run_cli("sample", "--help")[1]
    np.testing.assert_equal(np.load(d / "enc.npy").shape, (5, pre["shape"][0]))  # .npy: the encoded rows

    # reconstruct: two lines per test row; inputs are rows of the original file, in its units
    _ok(res["recon"])
    header, rows = _rows(d / "recon.csv")
    assert header[:2] == ["row", "which"] and header[2 : 2 + len(names)] == names and len(rows) == 20
    assert [r["which"] for r in rows[:4]] == ["input", "reconstruction", "input", "reconstruction"]
    assert [r["row"] for r in rows[:4]] == ["0", "0", "1", "1"]
    raw = runs["raw"]
    originals = {tuple(raw[n][i] for n in ("colour", "grade", "flag", "children", "income")): float(raw["height"][i])
                 for i in range(len(raw["height"]))}
    for r in rows[0::2]:
        key = tuple(r[n] for n in ("colour", "grade", "flag", "children", "income"))
        assert key in originals, r
        assert abs(float(r["height"]) - originals[key]) < 1e-3
    for r in rows[1::2]:
        assert r["colour"] in COLOURS and 100 < float(r["height"]) < 250

    _ok(res["interp"])
    header, rows = _rows(d / "walk.csv")
    assert header[:2] == ["step", "t"] and header[2:] == names and len(rows) == 4

    # embed keeps working: latent columns + label
    _ok(res["embed"])
    header, rows = _rows(d / "codes.csv")
    assert header == ["z0", "z1", "z2", "z3", "label"] and rows

    # pictures of a table are refused, clearly, and nothing is written
    _usage_error(res["png"], "trained on a table", ".csv")
    _usage_error(res["recon_png"], "trained on a table", ".csv")
    assert not (d / "no.png").exists() and not (d / "no-recon.png").exists()


def test_csv_is_refused_for_image_runs(tiny_run: Path, tmp_path: Path, cli_pool: CliPool) -> None:
    a = cli_pool.submit("sample", tiny_run, "-n", "4", "-o", tmp_path / "s.csv")
    b = cli_pool.submit("reconstruct", tiny_run, "-n", "4", "-o", tmp_path / "r.csv")
    _usage_error(a.result(), ".csv is for runs trained on a table", "image", ".png")
    _usage_error(b.result(), ".csv is for runs trained on a table", "image")
    assert not list(tmp_path.iterdir())


# --- 2. the report of a table run ----------------------------------------------------------------


def test_table_report_compares_columns_and_correlations(runs: dict) -> None:
    run = runs["bc"]
    report = (run / "report.md").read_text()
    assert "![columns](columns.png)" in report and "![correlations](correlations.png)" in report
    _png(run / "columns.png")
    _png(run / "correlations.png")
    assert "| column | real mean | real sd | generated mean | generated sd |" in report
    assert "| mean radius |" in report and "| worst fractal dimension |" in report
    for strip in ("samples.png", "reconstructions.png", "interpolation.png"):
        assert not (run / strip).exists(), strip
        assert strip not in report, strip
    assert "one-pixel-high strip" not in report
    _png(run / "latent_map.png")
    # The mixed (categorical) run's report has the category table too.
    mixed = (runs["mixed"] / "report.md").read_text()
    assert "| colour |" in mixed and "most common category" in mixed


def test_table_report_rebuilds_and_drops_old_strips(runs: dict, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "bc"
    shutil.copytree(runs["bc"], run)
    (run / "samples.png").write_bytes((run / "curves.png").read_bytes())  # an old report's strip
    (run / "columns.png").unlink()
    out = _ok(run_cli("report", run))
    assert "generated rows vs the test split" in out
    _png(run / "columns.png")
    assert not (run / "samples.png").exists()


# --- 3. train --parent ---------------------------------------------------------------------------


def test_train_parent_flag_records_the_parent(tiny_run: Path, tmp_path: Path, cli_pool: CliPool) -> None:
    child, missing = tmp_path / "child", tmp_path / "orphan"
    job = cli_pool.submit("train", "--parent", tiny_run, "--epochs", "1", "--out", child, *TINY_ARGS)
    bad = cli_pool.submit("train", "--parent", tmp_path / "nowhere", "--epochs", "1", "--out", missing, *TINY_ARGS)
    resume = cli_pool.submit("train", "--resume", tiny_run, "--parent", tiny_run)
    _ok(job.result())
    link = json.loads((child / "config.json").read_text())["parent"]
    assert link["run"] == str(tiny_run.resolve())
    assert link["sha256"] == hashlib.sha256((tiny_run / "model.safetensors").read_bytes()).hexdigest()
    _usage_error(bad.result(), "--parent", "does not exist")
    assert not missing.exists()
    _usage_error(resume.result(), "--resume")
    help_text = run_cli("train", "--help")[1]
    assert "--parent DIR" in help_text and "parent.run" in help_text


# --- 4. conditional runs -------------------------------------------------------------------------


def test_conditional_tasks_use_the_labels(cvae: Path) -> None:
    from vaekit import load
    from vaekit.tasks.data import split_data
    from vaekit.tasks.embed import embed
    from vaekit.tasks.generate import generate
    from vaekit.tasks.interpolate import interpolate
    from vaekit.tasks.reconstruct import reconstruct

    run = load(cvae)
    assert run.model.cond_dim == 10
    x, y = split_data(run, "test")
    x, y = x[:6], y[:6]
    other = (y + 1) % 10
    assert reconstruct(run.model, x, cond=y).shape == x.shape
    assert not torch.allclose(reconstruct(run.model, x, cond=y), reconstruct(run.model, x, cond=other))
    assert not torch.allclose(embed(run.model, x, cond=y), embed(run.model, x, cond=other))
    one = interpolate(run.model, x[0], x[1], steps=5, cond=3)
    both = interpolate(run.model, x[0], x[1], steps=5, cond=torch.tensor([3, 7]))
    same = interpolate(run.model, x[0], x[1], steps=5, cond=torch.tensor([3, 3]))
    assert one.shape == (5, 1, 8, 8) and torch.allclose(one, same) and not torch.allclose(one, both)
    g = lambda label: generate(run.model, 4, generator=torch.Generator().manual_seed(0), cond=torch.full((4,), label))
    assert not torch.allclose(g(3), g(4))
    with pytest.raises(Exception, match="labels"):
        reconstruct(run.model, x)  # a conditional model without labels: a clear error


def test_conditional_cli(cvae: Path, tiny_run: Path, tmp_path: Path, cli_pool: CliPool) -> None:
    d = tmp_path
    calls = {
        "three": ["sample", cvae, "-n", "8", "--label", "3", "-o", d / "three.npy"],
        "three_again": ["sample", cvae, "-n", "8", "--label", "3", "-o", d / "three2.npy"],
        "four": ["sample", cvae, "-n", "8", "--label", "4", "-o", d / "four.npy"],
        "cycle": ["sample", cvae, "-n", "8", "-o", d / "cycle.png"],
        "recon": ["reconstruct", cvae, "-n", "4", "-o", d / "r.png"],
        "interp": ["interpolate", cvae, "--from", "0", "--to", "1", "--steps", "4", "-o", d / "i.gif"],
        "embed": ["embed", cvae, "-o", d / "e.csv"],
        "out_of_range": ["sample", cvae, "-n", "4", "--label", "10", "-o", d / "bad1.png"],
        "not_a_label": ["sample", cvae, "-n", "4", "--label", "three", "-o", d / "bad2.png"],
        "not_conditional": ["sample", tiny_run, "-n", "4", "--label", "3", "-o", d / "bad3.png"],
    }
    futures = {k: cli_pool.submit(*v) for k, v in calls.items()}
    res = {k: f.result() for k, f in futures.items()}
    assert "conditioned on label 3" in _ok(res["three"])
    _ok(res["three_again"]), _ok(res["four"])
    assert np.array_equal(np.load(d / "three.npy"), np.load(d / "three2.npy"))
    assert not np.allclose(np.load(d / "three.npy"), np.load(d / "four.npy"))
    assert "cycle through" in _ok(res["cycle"])
    for name in ("recon", "interp", "embed"):
        _ok(res[name])
    assert (d / "r.png").is_file() and (d / "i.gif").is_file()
    assert _rows(d / "e.csv")[0][-1] == "label"
    _usage_error(res["out_of_range"], "--label 10", "0 .. 9")
    _usage_error(res["not_a_label"], "--label 'three'")
    _usage_error(res["not_conditional"], "--label", "not conditional")
    assert not any((d / f"bad{i}.png").exists() for i in (1, 2, 3))
    # the report of a conditional run is written (samples one row per label)
    report = (cvae / "report.md").read_text()
    assert "conditioned on one label" in report and (cvae / "samples.png").is_file()
