"""MIWAE (Mattei & Frellsen 2019): training on tables with missing cells (data.missing = mask),
the masked likelihood, the masked IW-k evaluation, importance-sampling imputation, and the errors
for input it cannot use. Real data (scikit-learn's breast-cancer table, with MCAR holes punched
in), real files, real training runs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from conftest import run_cli
from vaekit.core.errors import ConfigError, DataError
from vaekit.core.types import Batch, log_weights
from vaekit.data import load_dataset
from vaekit.tasks.impute import impute_encoded, impute_table, read_table_with_missing

FAST = ["train.epochs=40", "train.early_stopping=none"]


def _breast_cancer() -> tuple[list[str], np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    return [str(n) for n in b.feature_names], np.asarray(b.data, dtype=np.float64)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _holes(path: Path, rate: float, seed: int = 0) -> tuple[Path, np.ndarray, np.ndarray]:
    """breast-cancer with each cell missing with probability ``rate`` (empty / NA cells), plus a
    text column ``grade`` derived from mean radius (so it is predictable from the rest)."""
    header, data = _breast_cancer()
    rng = np.random.default_rng(seed)
    hidden = rng.random(data.shape) < rate
    hidden[hidden.all(1), 0] = False  # keep every row with at least one observed cell
    grade = np.where(data[:, 0] > 15, "high", np.where(data[:, 0] > 12, "mid", "low"))
    rows = []
    for i in range(len(data)):
        cells = ["" if hidden[i, j] else repr(float(data[i, j])) for j in range(data.shape[1])]
        cells.append("NA" if rng.random() < rate else str(grade[i]))
        rows.append(cells)
    return _write(path, header + ["grade"], rows), data, hidden


@pytest.fixture(scope="module")
def holes(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    return _holes(tmp_path_factory.mktemp("miwae") / "holes.csv", 0.2)


@pytest.fixture(scope="module")
def miwae_run(holes, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("miwae-run") / "run"
    return vaekit.train("miwae", data=f"csv:{holes[0]}", out=out, overrides=FAST, echo=None, progress=False, report=False)


# -- data -----------------------------------------------------------------------------------
def test_mask_travels_with_every_split_and_one_hot_slots_share_it(holes) -> None:
    path, data, hidden = holes
    splits = load_dataset(f"csv:{path}", missing="mask")
    pre = splits.info.preprocessing
    grade = next(c for c in pre.columns if c["name"] == "grade")
    a, b = grade["slice"]
    assert grade["kind"] == "categorical" and grade["categories"] == ["high", "low", "mid"]  # "NA" is not a category
    for part in (splits.train, splits.val, splits.test):
        assert part.mask is not None and part.mask.shape == part.x.shape and part.mask.dtype == torch.bool
        assert torch.all(part.x[~part.mask] == 0)  # missing elements hold the neutral 0
        block = part.mask[:, a:b]
        assert torch.all(block == block[:, :1])  # the one-hot slots of a column share its mask
        assert torch.all(part.x[:, a:b].sum(1)[~block[:, 0]] == 0)  # a missing category is an all-zero slice
    # Standardisation fitted on the observed training cells only.
    x, m = splits.train.x[:, 0], splits.train.mask[:, 0]
    assert abs(float(x[m].mean())) < 1e-4 and abs(float(x[m].std(unbiased=False)) - 1) < 1e-3
    assert 0.75 < float(splits.train.mask.float().mean()) < 0.85


def test_complete_table_with_mask_option_has_no_mask() -> None:
    splits = load_dataset("breast-cancer", missing="mask")
    assert splits.train.mask is None  # nothing missing: nothing to mask, identical to today's data


# -- the masked likelihood and bound ------------------------------------------------------------
def test_masked_log_prob_leaves_out_exactly_the_missing_columns(miwae_run, holes) -> None:
    run = vaekit.load(miwae_run)
    splits = load_dataset(f"csv:{holes[0]}", missing="mask", preprocessing=run.dataset["preprocessing"])
    x, mask = splits.test.x[:16], splits.test.mask[:16]
    torch.manual_seed(0)
    out = run.model(x, samples=3)
    full = out.log_px(x)  # (3, 16)
    assert torch.allclose(out.log_px(x, torch.ones_like(mask)), full, atol=1e-5)
    # Hide one numeric column by hand: the masked value drops exactly that Normal term.
    only = mask.clone()
    only[:, 0] = False
    px = out.px
    term = torch.distributions.Normal(px.loc[..., 0], px.scale[..., 0]).log_prob(x[:, 0])
    expected = out.log_px(x, mask) - torch.where(mask[:, 0], term, torch.zeros_like(term))
    assert torch.allclose(out.log_px(x, only), expected, atol=1e-4)
    # log_weights with a mask do not depend on what the missing elements hold.
    noisy = torch.where(mask, x, torch.randn_like(x) * 100)
    assert torch.equal(log_weights(out, x, mask=mask), log_weights(out, noisy, mask=mask))
    assert out.log_px(x, mask).shape == (3, 16)


def test_miwae_run_trains_and_evaluates_masked(miwae_run) -> None:
    run = vaekit.load(miwae_run)
    assert run.config.data.missing == "mask" and run.config.objective["name"] == "iwae" and run.config.objective["k"] == 20
    ev = vaekit.evaluate(run, k=200, write=False)
    assert 0.75 < ev["observed_fraction"] < 0.85
    assert all(math.isfinite(ev[key]) for key in ("nll", "elbo", "recon", "kl")), ev
    assert -ev["nll"] >= ev["elbo"] - 0.05  # IW-k bound above the ELBO, over observed cells too
    assert "nats per row over the observed cells" in ev["note"]
    metrics = [line for line in (miwae_run / "metrics.jsonl").read_text().splitlines() if line]
    assert len(metrics) == 40


def test_anomaly_scores_of_rows_with_missing_cells_use_the_observed_cells(miwae_run, holes, tmp_path) -> None:
    from vaekit.tasks.anomaly import AnomalyError, anomaly_scores

    run = vaekit.load(miwae_run)
    splits = load_dataset(f"csv:{holes[0]}", missing="mask", preprocessing=run.dataset["preprocessing"])
    x, mask = splits.test.x[:20], splits.test.mask[:20]
    assert not bool(mask.all())
    scores = anomaly_scores(run, x, k=50, mask=mask)
    noisy = torch.where(mask, x, torch.randn_like(x) * 100)  # whatever the missing cells hold
    assert np.array_equal(anomaly_scores(run, noisy, k=50, mask=mask), scores)
    assert np.isfinite(scores).all() and not np.array_equal(anomaly_scores(run, x, k=50), scores)
    # The same IW-k estimate of -log p(x_o) as evaluation's (independent draws: agree within noise).
    from vaekit.artifacts.metrics import importance_stats

    torch.manual_seed(1)
    reference = -importance_stats(run.model, Batch(x, None, mask), 1000, 100)["log_mean_w"].numpy()
    assert abs(float(np.mean(anomaly_scores(run, x, k=1000, mask=mask) - reference))) < 0.3
    assert np.array_equal(anomaly_scores(run, x, k=50, mask=torch.ones_like(mask)), anomaly_scores(run, x, k=50))
    with pytest.raises(AnomalyError, match="cannot leave missing cells out"):
        anomaly_scores(run, x, score="recon", mask=mask)
    # The CLI reads the mask with the data: its scores are the masked ones.
    code, out, err = run_cli("anomaly", str(miwae_run), "--k", "50", "--limit", "20", "-o", str(tmp_path / "s.csv"))
    assert code == 0, err
    with open(tmp_path / "s.csv") as fh:
        cli = np.array([float(r["score"]) for r in csv.DictReader(fh)])
    assert np.allclose(cli, scores, atol=1e-3)


def test_report_scores_the_observed_cells(miwae_run) -> None:
    from vaekit.api.report import write_report

    metrics = write_report(miwae_run)
    assert 0.75 < metrics["observed_fraction"] < 0.85 and "over the observed cells only" in metrics["note"]
    assert "over the observed cells only" in (miwae_run / "report.md").read_text()


def test_masked_run_resumes_exactly(holes, tmp_path) -> None:
    from safetensors.torch import load_file

    kw = dict(data=f"csv:{holes[0]}", echo=None, progress=False, report=False, overrides=["train.early_stopping=none"])
    straight = vaekit.train("miwae", epochs=3, out=tmp_path / "straight", **kw)
    split = vaekit.train("miwae", epochs=3, out=tmp_path / "split", stop_after=1, **kw)
    vaekit.train(resume=split, echo=None, progress=False, report=False)
    a, b = load_file(str(straight / "checkpoint.safetensors")), load_file(str(split / "checkpoint.safetensors"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_elbo_objective_trains_masked_as_the_k1_case(holes, tmp_path) -> None:
    out = vaekit.train("miwae", data=f"csv:{holes[0]}", out=tmp_path / "elbo", echo=None, progress=False,
                       report=False, overrides=["objective.name=elbo", "train.epochs=3"])
    assert math.isfinite(vaekit.evaluate(out, k=10, write=False)["nll"])


# -- imputation ---------------------------------------------------------------------------------
def test_importance_imputation_beats_the_column_mean(miwae_run, holes) -> None:
    """On breast-cancer with 20 % MCAR cells the MIWAE run's importance-sampling estimate must be
    clearly better than filling the observed column mean (RMSE in standardised units)."""
    path, data, hidden = holes
    run = vaekit.load(miwae_run)
    result = impute_table(run, read_table_with_missing(path), seed=0)
    assert result.stats["method"] == "importance" and result.stats["n"] == 1000  # the default for MIWAE runs
    header = list(result.table.names)
    filled = np.stack([np.asarray(result.table.column(n), dtype=float) for n in header[:-1]], 1)
    observed = np.where(hidden, np.nan, data)
    mean, sd = np.nanmean(observed, 0), np.nanstd(observed, 0)
    err = ((filled - data) / sd)[hidden]
    err_mean = ((mean - data) / sd)[hidden]
    rmse, rmse_mean = float(np.sqrt((err**2).mean())), float(np.sqrt((err_mean**2).mean()))
    assert rmse < 0.75 * rmse_mean, (rmse, rmse_mean)
    # Observed cells come back exactly as written; categorical cells get a known category.
    with open(path) as fh:
        rows = list(csv.reader(fh))[1:]
    for i in range(0, len(rows), 37):
        for j, cell in enumerate(rows[i][:-1]):
            if cell:
                assert float(cell) == float(result.table.column(header[j])[i])
    assert set(result.table.column("grade")) <= {"high", "low", "mid"}


def test_importance_method_works_for_a_complete_data_run_and_keeps_observed_bits(tmp_path) -> None:
    out = vaekit.train("vae", data="breast-cancer", epochs=3, out=tmp_path / "bc", echo=None, progress=False, report=False)
    run = vaekit.load(out)
    x = load_dataset("breast-cancer", preprocessing=run.dataset["preprocessing"]).test.x[:20]
    observed = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) > 0.3
    zeroed = torch.where(observed, x, torch.zeros_like(x))
    a, st = impute_encoded(run, zeroed, observed, method="importance", n=50, seed=3)
    b, _ = impute_encoded(run, zeroed, observed, method="importance", n=50, seed=3)
    assert torch.equal(a, b) and torch.equal(a[observed], x[observed]) and torch.isfinite(a).all()
    assert 1.0 <= st["ess"] <= 50.0
    assert not torch.equal(a[~observed], zeroed[~observed])


def test_cli_impute_defaults_to_importance_for_miwae_runs(miwae_run, holes, tmp_path) -> None:
    code, stdout, stderr = run_cli("impute", miwae_run, holes[0], "-n", "100", "-o", tmp_path / "filled.csv")
    assert code == 0, stderr
    assert "importance sampling, 100 draws per row" in stdout
    with open(tmp_path / "filled.csv") as fh:
        rows = list(csv.reader(fh))
    assert all(cell.strip() for row in rows for cell in row)  # every cell filled
    code, stdout, stderr = run_cli("impute", miwae_run, holes[0], "--method", "pseudo-gibbs", "-n", "2", "--steps", "5",
                                   "-o", tmp_path / "pg.csv")
    assert code == 0 and "pseudo-gibbs, 2 chains" in stdout, stderr


# -- bad input ----------------------------------------------------------------------------------
def test_refuse_is_still_the_default_and_says_how_to_mask(holes, tmp_path) -> None:
    with pytest.raises(DataError, match=r"empty cell\(s\).*data\.missing=mask"):
        load_dataset(f"csv:{holes[0]}")
    with pytest.raises(DataError, match="data.missing=mask"):
        vaekit.train("vae", data=f"csv:{holes[0]}", epochs=1, out=tmp_path / "r", echo=None, progress=False, report=False)


def test_column_entirely_missing_is_refused(tmp_path) -> None:
    rows = [[str(i), str(i * 2.5), ""] for i in range(30)]
    path = _write(tmp_path / "c.csv", ["a", "b", "c"], rows)
    with pytest.raises(DataError, match="column 'c' is missing in every row; drop the column"):
        load_dataset(f"csv:{path}", missing="mask")


def test_rows_with_every_cell_missing_are_dropped_with_a_warning(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    rows = [[f"{v:.4f}" for v in rng.normal(size=3)] for _ in range(40)]
    rows[5] = ["", "NA", "?"]
    rows[17] = ["", "", ""]  # a line of empty cells is skipped like a blank line, as before
    path = _write(tmp_path / "r.csv", ["a", "b", "c"], rows)
    splits = load_dataset(f"csv:{path}", missing="mask")
    assert len(splits.train) + len(splits.val) + len(splits.test) == 38
    assert "dropped 1 row(s) with every cell missing (first: data row index 5)" in capsys.readouterr().err


def test_mask_on_array_data_with_nan_is_refused(tmp_path) -> None:
    x = np.random.default_rng(0).random((50, 4))
    x[3, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match=r"data.missing=mask learns from tables .*Save it as a CSV with a header"):
        load_dataset(f"npy:{tmp_path / 'x.npy'}", missing="mask")


def test_missing_label_is_refused(tmp_path) -> None:
    rows = [[f"{i * 0.5}", f"{i % 3}", "yes" if i % 2 else "no"] for i in range(30)]
    rows[4][2] = ""
    path = _write(tmp_path / "l.csv", ["a", "b", "y"], rows)
    with pytest.raises(DataError, match="label column 'y' has missing cells"):
        load_dataset(f"csv:{path}#label=y", missing="mask")


@pytest.mark.parametrize("override, message", [
    ("objective.name=beta-tcvae", "would score them as zeros"),
    ("model.likelihood=gaussian", "likelihood cannot leave them out"),
])
def test_objectives_and_likelihoods_that_ignore_the_mask_are_refused(holes, tmp_path, override, message) -> None:
    with pytest.raises(ConfigError, match=message):
        vaekit.train("miwae", data=f"csv:{holes[0]}", epochs=1, out=tmp_path / "x", overrides=[override],
                     echo=None, progress=False, report=False)
    assert not (tmp_path / "x" / "config.json").exists()  # refused before anything was written


def test_batch_mask_survives_slicing_and_moves() -> None:
    b = Batch(torch.zeros(4, 3), None, torch.tensor([[True, False, True]] * 4))
    assert torch.equal(b[1:3].mask, b.mask[1:3]) and b.to("cpu").mask is not None


# -- the benchmark's --quick mode ----------------------------------------------------------------
def test_bench_miwae_quick(tmp_path) -> None:
    """bench/bench_miwae.py --quick through the harness: every side fitted on the incomplete table,
    settings chosen on validation cells, test cells scored once, the table written; a second run
    starts nothing (everything comes from the results file)."""
    import json
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "bench" / "bench_miwae.py"
    results, docs = tmp_path / "r.jsonl", tmp_path / "d.md"
    cmd = [sys.executable, str(bench), "--quick", "--results", str(results), "--docs", str(docs)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    text = docs.read_text()
    assert "<!-- bench:miwae -->" in text and "| vaekit MIWAE (trained on the incomplete table) |" in text
    records = [json.loads(line) for line in results.read_text().splitlines()]
    scored = {(r["side"], r["split"]) for r in records if r["bench"] == "miwae-score"}
    sides = ("miwae", "vaekit-complete", "mean", "knn", "iterative")
    assert {(s, "val") for s in sides} | {(s, "test") for s in sides} == scored
    for r in records:
        if r["bench"] == "miwae-score":
            assert all(0.0 < v < 3.0 for v in r["figures"]["rmse"].values()), r["figures"]
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and " run miwae" not in again.stderr
