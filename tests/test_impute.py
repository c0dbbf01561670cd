"""Tabular imputation (vaekit.tasks.impute and `vaekit impute`) on a real breast-cancer run."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from conftest import run_cli
from vaekit.cli.main import main
from vaekit.core.errors import DataError
from vaekit.tasks.data import split_data
from vaekit.tasks.impute import impute_encoded, impute_table, read_table_with_missing
from vaekit.tasks.inpaint import InpaintError


@pytest.fixture(scope="module")
def bc_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("impute") / "run"
    vaekit.train("vae", data="breast-cancer", epochs=40, out=str(out))
    return out


@pytest.fixture(scope="module")
def loaded(bc_run):
    return vaekit.load(bc_run)


def _write_holes(path: Path, n_rows: int = 12, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    rng = np.random.default_rng(seed)
    header = [str(n) for n in b.feature_names]
    rows = []
    for i in range(n_rows):
        cells = [repr(float(v)) for v in b.data[i]]
        for j in rng.choice(len(cells), 6, replace=False):
            cells[j] = ["", "NA", "nan", "?"][i % 4]
        rows.append(cells)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return header, rows


def test_csv_cells_kept_and_filled(loaded, tmp_path):
    header, rows = _write_holes(tmp_path / "holes.csv")
    result = impute_table(loaded, read_table_with_missing(tmp_path / "holes.csv"), n=4, steps=20)
    assert result.missing.sum() == 6 * len(rows) and result.stats["cells"] == 6 * len(rows)
    pre = loaded.dataset["preprocessing"]["columns"]
    for j, name in enumerate(header):
        col = result.table.column(name)
        for i, row in enumerate(rows):
            if result.missing[i, j]:
                value = float(col[i])
                assert np.isfinite(value)
                # Filled values land in the column's plausible range (within 6 training sd of its mean).
                assert abs(value - pre[j]["mean"]) < 6 * pre[j]["sd"], (name, value)
            else:
                assert col[i] == row[j]  # the given text, exactly


def test_imputation_beats_mean_fill(loaded):
    """On held-out rows with 30 % of cells hidden, the VAE's fill has a lower RMSE (standardised
    units) than the training mean (0 in those units): it uses the observed cells."""
    x, _ = split_data(loaded, "test")
    observed = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) > 0.3
    for method in ("pseudo-gibbs", "mwg"):
        filled, stats = impute_encoded(loaded, torch.where(observed, x, torch.zeros_like(x)), observed, n=4,
                                       method=method, steps=40, seed=0)
        assert torch.equal(filled[observed], x[observed])
        rmse = ((filled - x)[~observed] ** 2).mean().sqrt()
        assert rmse < 0.8 * (x[~observed] ** 2).mean().sqrt(), (method, rmse)


def test_wrong_tables_are_refused(loaded, tmp_path):
    (tmp_path / "cols.csv").write_text("a,b\n1,\n")
    with pytest.raises(DataError, match="columns do not match"):
        impute_table(loaded, read_table_with_missing(tmp_path / "cols.csv"))
    header, rows = _write_holes(tmp_path / "text.csv", n_rows=2)
    rows[1][0] = "big"
    with open(tmp_path / "text.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    with pytest.raises(DataError, match="numeric"):
        impute_table(loaded, read_table_with_missing(tmp_path / "text.csv"))
    (tmp_path / "ragged.csv").write_text("a,b\n1\n")
    with pytest.raises(DataError, match="cells"):
        read_table_with_missing(tmp_path / "ragged.csv")
    with pytest.raises(DataError, match="does not exist"):
        read_table_with_missing(tmp_path / "none.csv")
    with pytest.raises(InpaintError):
        impute_encoded(loaded, torch.zeros(3, 7), torch.ones(3, 7, dtype=torch.bool))


def test_cli_impute(bc_run, tmp_path, capsys):
    _write_holes(tmp_path / "holes.csv")
    out = tmp_path / "filled.csv"
    code, stdout, err = run_cli("impute", bc_run, tmp_path / "holes.csv", "-o", out, "-n", "2", "--steps", "10")
    assert code == 0, err
    assert "Filled 72 missing cell(s)" in stdout
    with open(out, newline="") as fh:
        got = list(csv.reader(fh))
    assert len(got) == 13 and all(cell.strip() for row in got for cell in row)
    # Wrong inputs (in-process main): exit code 2 or 1 with a one-line error; a good file stays.
    before = out.read_bytes()
    for args in ([str(tmp_path / "holes.csv"), "-o", str(tmp_path / "f.png")],
                 [str(tmp_path / "holes.csv"), "-o", str(out), "-n", "0"],
                 [str(tmp_path / "nothere.csv"), "-o", str(out)]):
        code = main(["impute", str(bc_run), *args])
        err = capsys.readouterr().err
        assert code in (1, 2) and "vaekit: error:" in err, (args, err)
    assert out.read_bytes() == before


def test_categorical_cells_get_a_known_category(tmp_path):
    """A table with a text column: missing categories are filled with one of the column's own
    categories, here predictable from a numeric column (red rows are large, blue rows small)."""
    rng = np.random.default_rng(0)
    n = 300
    colour = rng.choice(["red", "blue"], n)
    size = np.where(colour == "red", 10.0, -10.0) + rng.normal(0, 1, n)
    other = rng.normal(0, 1, n)
    lines = ["size,colour,other"] + [f"{s:.4f},{c},{o:.4f}" for s, c, o in zip(size, colour, other)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    run_dir = tmp_path / "run"
    vaekit.train("vae", data=f"csv:{tmp_path / 't.csv'}", epochs=30, out=str(run_dir), echo=None, progress=False,
                 report=False, overrides=["model.latent_dim=2"])
    run = vaekit.load(run_dir)
    holes = ["size,colour,other", "9.5,,0.1", "-10.2,NA,1.0", ",red,0.3", "11.0,?,"]
    (tmp_path / "h.csv").write_text("\n".join(holes) + "\n")
    result = impute_table(run, read_table_with_missing(tmp_path / "h.csv"), n=8, steps=30)
    filled = result.table
    assert list(filled.column("colour")[:2]) == ["red", "blue"]
    assert filled.column("colour")[2] == "red" and float(filled.column("size")[2]) > 3  # red rows are large
    assert result.stats["cells"] == 5
