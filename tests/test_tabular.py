"""Tabular data: mixed-type CSV rules, the table preprocessing, the tabular likelihood, writing back."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.core.build import BuildContext
from vaekit.core.errors import DataError
from vaekit.data import Preprocessing, default_overrides, load_dataset
from vaekit.data.array_files import read_csv
from vaekit.parts import LIKELIHOODS

COLOURS = ["red", "green", "blue"]


def _mixed_csv(path: Path, n: int = 60, seed: int = 0) -> dict[str, list]:
    """numeric float, text category, integer codes with gaps, a 0/1 flag, a 0..3 count, a label."""
    rng = np.random.default_rng(seed)
    cols = {
        "height": [f"{v:.3f}" for v in rng.normal(170, 10, n)],
        "colour": [COLOURS[i] for i in rng.integers(0, 3, n)],
        "grade": [str(v) for v in rng.choice([1, 2, 5], n)],
        "flag": [str(v) for v in rng.integers(0, 2, n)],
        "children": [str(v) for v in rng.integers(0, 4, n)],
        "income": [str(v) for v in rng.integers(10_000, 90_000, n)],
        "kind": [("cat", "dog")[i] for i in rng.integers(0, 2, n)],
    }
    lines = [",".join(cols)] + [",".join(row) for row in zip(*cols.values())]
    path.write_text("\n".join(lines) + "\n")
    return cols


def _column(pre: Preprocessing, name: str) -> dict:
    return next(c for c in pre.to_json()["columns"] if c["name"] == name)


# --- reading and column kinds --------------------------------------------------------------------

def test_mixed_csv_column_kinds(tmp_path: Path) -> None:
    cols = _mixed_csv(tmp_path / "m.csv")
    s = load_dataset(f"csv:{tmp_path / 'm.csv'}#label=kind")
    pre = s.info.preprocessing
    kinds = {c["name"]: c["kind"] for c in pre.to_json()["columns"]}
    assert kinds == {
        "height": "numeric", "colour": "categorical", "grade": "categorical", "flag": "categorical",
        "children": "numeric",  # 0..3 fills its range: a count, kept numeric
        "income": "numeric",
    }
    assert _column(pre, "colour")["categories"] == sorted(COLOURS)
    assert _column(pre, "grade")["categories"] == [1, 2, 5] and _column(pre, "flag")["categories"] == [0, 1]
    assert s.info.kind == "table" and not s.info.is_image and s.info.levels is None
    assert s.info.shape == (1 + 3 + 3 + 2 + 1 + 1,) and s.info.n_classes == 2
    assert pre.label == {"name": "kind", "classes": ["cat", "dog"]}
    height = _column(pre, "height")
    train_rows = np.random.default_rng(0).permutation(60)[12:]
    values = np.asarray(cols["height"], dtype=float)[train_rows]
    assert math.isclose(height["mean"], values.mean()) and math.isclose(height["sd"], values.std())
    # the training split is standardised with its own mean and sd
    z = s.train.x[:, height["slice"][0]]
    assert abs(float(z.mean())) < 1e-5 and abs(float(z.std(unbiased=False)) - 1) < 1e-4
    forced = load_dataset(f"csv:{tmp_path / 'm.csv'}#label=kind&categorical=children&numeric=grade")
    assert _column(forced.info.preprocessing, "children")["kind"] == "categorical"
    assert _column(forced.info.preprocessing, "grade")["kind"] == "numeric"


def test_csv_rules_and_errors(tmp_path: Path) -> None:
    (tmp_path / "gap.csv").write_text("a,b\n" + "".join(f"{i}.5,{'x' if i % 2 else ''}\n" for i in range(10)))
    with pytest.raises(DataError, match=r"column 'b' has 5 empty cell\(s\), first in data row index 0"):
        load_dataset(f"csv:{tmp_path / 'gap.csv'}")
    (tmp_path / "nan.csv").write_text("a,b\n" + "".join(f"{i},{'nan' if i == 4 else i * 1.5}\n" for i in range(10)))
    with pytest.raises(DataError, match=r"column 'b'.*NaN.*row index 4"):
        load_dataset(f"csv:{tmp_path / 'nan.csv'}")
    (tmp_path / "nohead.csv").write_text("red,1.5\nblue,2.5\nred,3.5\nblue,4.5\n")
    with pytest.raises(DataError, match="first row looks like data.*header row"):
        load_dataset(f"csv:{tmp_path / 'nohead.csv'}")
    (tmp_path / "ids.csv").write_text("id,v\n" + "".join(f"user{i},{i * 0.1}\n" for i in range(150)))
    with pytest.raises(DataError, match="'id' has 150 distinct values.*#label=id"):
        load_dataset(f"csv:{tmp_path / 'ids.csv'}")
    assert load_dataset(f"csv:{tmp_path / 'ids.csv'}#label=id").info.shape == (1,)
    (tmp_path / "dup.csv").write_text("a,a\n1,2\n3,4\n5,6\n")
    with pytest.raises(DataError, match="more than once"):
        load_dataset(f"csv:{tmp_path / 'dup.csv'}")
    with pytest.raises(DataError, match="no column named 'zzz'"):
        _mixed_csv(tmp_path / "m.csv")
        load_dataset(f"csv:{tmp_path / 'm.csv'}#categorical=zzz")
    with pytest.raises(DataError, match="not understood"):
        load_dataset(f"csv:{tmp_path / 'm.csv'}#label=kind&colour=blue")
    table, has_header = read_csv(str(tmp_path / "m.csv"))
    assert has_header and table.names[0] == "height" and len(table) == 60


# --- the table preprocessing ------------------------------------------------------------------------

def test_table_preprocessing_round_trip(tmp_path: Path) -> None:
    cols = _mixed_csv(tmp_path / "m.csv")
    s = load_dataset(f"csv:{tmp_path / 'm.csv'}#label=kind")
    pre = Preprocessing.from_json(json.loads(json.dumps(s.info.preprocessing.to_json())))
    assert pre == s.info.preprocessing
    table, _ = read_csv(str(tmp_path / "m.csv"))
    features = table.without("kind")
    x = pre.apply(features)
    assert x.dtype == torch.float32 and x.shape == (60, s.info.shape[0])
    for name in ("colour", "grade", "flag"):
        a, b = _column(pre, name)["slice"]
        assert torch.equal(x[:, a:b].sum(1), torch.ones(60))  # one-hot: each slice sums to 1
    back = pre.invert(x)
    assert back.names == features.names
    np.testing.assert_allclose(back.column("height"), np.asarray(cols["height"], dtype=float), rtol=1e-6)
    for name in ("colour", "grade", "flag", "children", "income"):
        assert [str(v) for v in back.column(name)] == cols[name]  # categories and whole numbers exactly
    # applying the saved preprocessing to the same file reproduces the tensors exactly
    again = load_dataset(f"csv:{tmp_path / 'm.csv'}", preprocessing=pre.to_json())  # label found by name
    assert torch.equal(again.train.x, s.train.x) and torch.equal(again.train.y, s.train.y)


def test_table_mismatches_are_clear_errors(tmp_path: Path) -> None:
    _mixed_csv(tmp_path / "m.csv")
    pre = load_dataset(f"csv:{tmp_path / 'm.csv'}#label=kind").info.preprocessing
    text = (tmp_path / "m.csv").read_text()
    (tmp_path / "purple.csv").write_text(text.replace(",red,", ",purple,", 1))
    with pytest.raises(DataError, match="'colour' holds 'purple' in data row index .*never saw"):
        load_dataset(f"csv:{tmp_path / 'purple.csv'}", preprocessing=pre)
    lines = text.splitlines()
    (tmp_path / "fewer.csv").write_text("\n".join(",".join(line.split(",")[1:]) for line in lines))
    with pytest.raises(DataError, match=r"missing column\(s\) \['height'\]"):
        load_dataset(f"csv:{tmp_path / 'fewer.csv'}", preprocessing=pre)
    (tmp_path / "words.csv").write_text(text.replace(lines[1].split(",")[0], "tall", 1))
    with pytest.raises(DataError, match="'height' was numeric.*'tall'"):
        load_dataset(f"csv:{tmp_path / 'words.csv'}", preprocessing=pre)
    with pytest.raises(DataError, match="trained on table data"):
        load_dataset("digits", preprocessing=pre)


def test_breast_cancer_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAEKIT_OFFLINE", "1")
    s = load_dataset("breast-cancer")
    assert s.info.shape == (30,) and s.info.kind == "table" and s.info.n_classes == 2
    assert len(s.train) + len(s.val) + len(s.test) == 569 and s.train.y is not None
    columns = s.info.preprocessing.to_json()["columns"]
    assert columns[0]["name"] == "mean radius" and all(c["kind"] == "numeric" for c in columns)
    assert default_overrides(s.info) == {"data": {"binarize": "none"}, "model": {"likelihood": {"name": "tabular"}}}
    assert default_overrides(load_dataset("digits", limit=10).info) == {}
    assert default_overrides({"kind": "table"})["model"]["likelihood"]["name"] == "tabular"


# --- the tabular likelihood ----------------------------------------------------------------------

def _likelihood(tmp_path: Path):
    _mixed_csv(tmp_path / "m.csv")
    s = load_dataset(f"csv:{tmp_path / 'm.csv'}#label=kind")
    from vaekit.artifacts.datasets import dataset_description

    dataset = dataset_description(s)
    return s, dataset, LIKELIHOODS.build("tabular", BuildContext.from_dataset(dataset), "model.likelihood")


def test_tabular_likelihood_categorical_slices_are_proper(tmp_path: Path) -> None:
    s, dataset, lik = _likelihood(tmp_path)
    pre = s.info.preprocessing
    d_enc = s.info.shape[0]
    params = torch.randn(4, 7, lik.params_per_element, d_enc, generator=torch.Generator().manual_seed(0)) * 3
    px = lik(params)
    assert px.batch_shape == (4, 7) and px.event_shape == (d_enc,)
    mean = px.mean
    for name in ("colour", "grade", "flag"):
        a, b = _column(pre, name)["slice"]
        assert torch.allclose(mean[..., a:b].sum(-1), torch.ones(4, 7), atol=1e-6)
        assert (mean[..., a:b] > 0).all()
    torch.manual_seed(0)
    draw = px.sample()
    assert draw.shape == (4, 7, d_enc)
    for name in ("colour", "grade"):
        a, b = _column(pre, name)["slice"]
        assert torch.equal(draw[..., a:b].sum(-1), torch.ones(4, 7)) and set(draw[..., a:b].unique().tolist()) <= {0.0, 1.0}
    x = s.train.x[:7]
    lp = px.log_prob(x)  # x broadcasts over the leading sample dimension
    assert lp.shape == (4, 7) and torch.isfinite(lp).all()


def test_tabular_log_prob_by_hand() -> None:
    """One numeric column and one 3-way categorical column, computed by hand in float64."""
    dataset = {"preprocessing": {"kind": "table", "columns": [
        {"name": "v", "kind": "numeric", "mean": 0.0, "sd": 1.0, "slice": [0, 1]},
        {"name": "c", "kind": "categorical", "categories": ["a", "b", "c"], "slice": [1, 4]},
    ]}}
    lik = LIKELIHOODS.build("tabular", BuildContext(shape=(4,), dataset=dataset), "model.likelihood")
    params = torch.tensor([[[0.3, 1.0, 2.0, -1.0], [0.2, 9.0, 9.0, 9.0]]], dtype=torch.float64)  # (1, P=2, 4)
    x = torch.tensor([[1.5, 0.0, 1.0, 0.0]], dtype=torch.float64)  # v = 1.5, c = "b"
    sd = math.log1p(math.exp(0.2)) + 1e-3
    gauss = -0.5 * ((1.5 - 0.3) / sd) ** 2 - math.log(sd) - 0.5 * math.log(2 * math.pi)
    cat = 2.0 - math.log(math.exp(1.0) + math.exp(2.0) + math.exp(-1.0))
    assert math.isclose(float(lik(params).log_prob(x)[0]), gauss + cat, rel_tol=1e-12)
    probs = lik(params).mean[0, 1:]
    assert torch.allclose(probs, torch.softmax(torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64), 0))
    assert float(lik(params).mean[0, 0]) == 0.3


# --- writing back and an end-to-end run ------------------------------------------------------------

def test_to_table_and_csv_round_trip(tmp_path: Path) -> None:
    from vaekit.tasks.tabular import to_table, write_csv

    cols = _mixed_csv(tmp_path / "m.csv")
    s = load_dataset(f"csv:{tmp_path / 'm.csv'}#label=kind")
    saved = s.info.preprocessing.to_json()
    table, _ = read_csv(str(tmp_path / "m.csv"))
    x = Preprocessing.from_json(saved).apply(table.without("kind"))
    out = write_csv(tmp_path / "out.csv", to_table(x, saved), extra={"kind": cols["kind"]})
    assert out.read_text().splitlines()[0] == ",".join(cols)
    back = load_dataset(f"csv:{out}", preprocessing=saved)
    assert torch.equal(back.train.y, s.train.y)
    torch.testing.assert_close(back.train.x, s.train.x, rtol=0, atol=1e-5)
    soft = x.clone()
    a, b = _column(s.info.preprocessing, "colour")["slice"]
    soft[:, a:b] = torch.tensor([0.2, 0.5, 0.3])
    assert set(to_table(soft, saved).column("colour")) == {sorted(COLOURS)[1]}
    drawn = to_table(soft, saved, sample=True, generator=torch.Generator().manual_seed(0)).column("colour")
    assert set(drawn) == set(COLOURS)


def test_tiny_tabular_run_end_to_end(tmp_path: Path) -> None:
    import vaekit
    from vaekit.tasks.data import split_data
    from vaekit.tasks.tabular import to_table

    _mixed_csv(tmp_path / "m.csv", n=120)
    run_dir = vaekit.train(
        "vae", epochs=2, out=tmp_path / "run", echo=None, progress=False, report=False,
        overrides={"data": {"name": f"csv:{tmp_path / 'm.csv'}#label=kind", "binarize": "none"},
                   "model": {"latent_dim": 2, "likelihood": {"name": "tabular"}}},
    )
    run = vaekit.load(run_dir)
    x, y = split_data(run, "test")
    px = run.model.decode(run.model.encode(x).mean)
    assert torch.isfinite(px.log_prob(x)).all()
    rows = to_table(px.mean, run.dataset["preprocessing"])
    assert rows.names[:2] == ("height", "colour") and set(rows.column("colour")) <= set(COLOURS)
