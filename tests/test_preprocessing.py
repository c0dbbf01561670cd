"""Fitted preprocessing is saved in dataset.json and applied (never re-fitted) to later data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.core.errors import DataError, VaekitError
from vaekit.data import Preprocessing, load_dataset


def _roundtrip(pre: Preprocessing) -> Preprocessing:
    return Preprocessing.from_json(json.loads(json.dumps(pre.to_json())))


def _all_x(s) -> torch.Tensor:
    return torch.cat([s.train.x, s.val.x, s.test.x])


def test_npy_vector_saved_preprocessing_is_applied_not_refitted(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(3.0, 2.0, (60, 4))
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "a10.npy", x * 10)
    s = load_dataset(f"npy:{tmp_path / 'a.npy'}")
    pre = _roundtrip(s.info.preprocessing)
    assert pre == s.info.preprocessing and pre.kind == "vector" and s.info.kind == "vector"
    again = load_dataset(f"npy:{tmp_path / 'a.npy'}", preprocessing=pre.to_json())
    assert torch.equal(_all_x(again), _all_x(s))  # exactly the same tensors
    refit = load_dataset(f"npy:{tmp_path / 'a10.npy'}")
    applied = load_dataset(f"npy:{tmp_path / 'a10.npy'}", preprocessing=pre)
    assert torch.allclose(refit.train.x, s.train.x, atol=1e-6)  # min-max re-fitting hides the x10
    assert not torch.allclose(applied.train.x, s.train.x, atol=1e-3)  # the saved ranges do not
    train_rows = np.random.default_rng(0).permutation(60)[12:]  # seeded split: 6 test, 6 val first
    np.testing.assert_allclose(pre.invert(s.train.x), x[train_rows], rtol=1e-5, atol=1e-5)  # original units


def test_image_preprocessing_records_layout_levels_and_resize(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 256, (30, 6, 5, 3), dtype=np.uint8)
    np.save(tmp_path / "i.npy", x)
    s = load_dataset(f"npy:{tmp_path / 'i.npy'}", image_size=4)
    pre = _roundtrip(s.info.preprocessing)
    j = pre.to_json()
    assert (j["kind"], j["layout"], j["raw_shape"], j["levels"], j["resize"], j["shape"]) == (
        "image", "NHWC", [6, 5, 3], 256, [4, 4], [3, 4, 4]
    )
    again = load_dataset(f"npy:{tmp_path / 'i.npy'}", preprocessing=pre, image_size=4)
    assert torch.equal(_all_x(again), _all_x(s))
    plain = load_dataset(f"npy:{tmp_path / 'i.npy'}").info.preprocessing
    assert np.array_equal(plain.invert(plain.apply(x)), x)  # exact: /255 rounds back to uint8
    with pytest.raises(DataError, match="image_size=5 disagrees"):
        load_dataset(f"npy:{tmp_path / 'i.npy'}", preprocessing=pre, image_size=5)


def test_mismatched_shape_kind_and_scale_are_clear_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "v3.npy", np.random.default_rng(0).random((20, 3)) * 7)
    np.save(tmp_path / "v4.npy", np.random.default_rng(0).random((20, 4)) * 7)
    np.save(tmp_path / "img.npy", np.zeros((20, 8, 8), dtype=np.uint8))
    pre = load_dataset(f"npy:{tmp_path / 'v3.npy'}").info.preprocessing
    with pytest.raises(DataError, match=r"shape \(4,\).*expects raw examples of shape \(3,\)"):
        load_dataset(f"npy:{tmp_path / 'v4.npy'}", preprocessing=pre)
    with pytest.raises(DataError, match="does not fit the saved preprocessing"):
        load_dataset(f"npy:{tmp_path / 'img.npy'}", preprocessing=pre)
    digits = load_dataset("digits").info.preprocessing
    assert digits.to_json()["span"] == 16.0 and digits.levels == 17
    with pytest.raises(DataError, match="fractional values"):
        np.save(tmp_path / "frac.npy", np.full((20, 8, 8), 0.5))
        load_dataset(f"npy:{tmp_path / 'frac.npy'}", preprocessing=digits)
    with pytest.raises(DataError, match="trained on vector data"):
        load_dataset("breast-cancer", preprocessing=pre)
    with pytest.raises(DataError, match="upgrade"):
        load_dataset("digits", preprocessing={"kind": "hologram"})


def test_named_images_keep_their_scaling_through_saved_preprocessing() -> None:
    s = load_dataset("digits")
    pre = _roundtrip(s.info.preprocessing)
    assert pre.description == "value / 16 -> [0, 1]" and s.info.scaling == pre.description
    assert torch.equal(_all_x(load_dataset("digits", preprocessing=pre)), _all_x(s))


def test_folder_reads_new_images_at_the_saved_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for name, size in (("a", (10, 12)), ("b", (20, 24))):
        (tmp_path / name).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    pre = load_dataset(f"folder:{tmp_path / 'a'}").info.preprocessing
    other = load_dataset(f"folder:{tmp_path / 'b'}", preprocessing=pre)
    assert other.info.shape == (1, 10, 12)


# --- dataset.json and a trained run ---------------------------------------------------------------

def test_dataset_json_versions(tmp_path: Path) -> None:
    from vaekit.artifacts.datasets import FORMAT_VERSION, dataset_description, saved_preprocessing

    d = dataset_description(load_dataset("digits", limit=20))
    json.dumps(d)
    assert d["format_version"] == FORMAT_VERSION == 2 and d["kind"] == "image"
    assert d["preprocessing"]["levels"] == 17 and d["n_train"] == 20
    old = {k: v for k, v in d.items() if k not in ("format_version", "preprocessing", "kind")}
    assert saved_preprocessing(old, "old/dataset.json") is None  # falls back to fitting
    with pytest.raises(VaekitError, match="written by a newer vaekit.*upgrade"):
        saved_preprocessing({**d, "format_version": FORMAT_VERSION + 1}, "new/dataset.json")


def test_trained_run_embeds_through_its_saved_preprocessing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The brief's acceptance test: data x10 must not embed like the data (min-max is not re-fitted)."""
    import vaekit
    from vaekit.tasks.data import split_data
    from vaekit.tasks.embed import embed

    x = np.random.default_rng(0).normal(2.0, 1.0, (80, 5))
    np.save(tmp_path / "t.npy", x)
    np.save(tmp_path / "t10.npy", x * 10)
    # data and binarize in one override: the same section, so neither can drop the other
    run_dir = vaekit.train(
        "vae", epochs=1, out=tmp_path / "run", echo=None, progress=False, report=False,
        overrides={"data": {"name": f"npy:{tmp_path / 't.npy'}", "binarize": "none"}},
    )
    run = vaekit.load(run_dir)
    saved = json.loads((Path(run_dir) / "dataset.json").read_text())
    assert saved["format_version"] == 2 and saved["preprocessing"]["kind"] == "vector"
    pre = Preprocessing.from_json(saved["preprocessing"])
    own_x, _ = split_data(run, "train")
    train_tensor = load_dataset(f"npy:{tmp_path / 't.npy'}").train.x
    assert torch.equal(own_x, train_tensor)
    rows = np.random.default_rng(0).permutation(80)[16:]  # the seeded train rows (split_seed 0)
    assert torch.equal(pre.apply(x)[torch.from_numpy(rows)], train_tensor)
    x10, _ = split_data(run, "train", data=f"npy:{tmp_path / 't10.npy'}")
    assert not torch.allclose(embed(run.model, x10), embed(run.model, own_x), atol=1e-3)

    # a run directory from before preprocessing was saved still works (re-fitted, with a note)
    old = {k: v for k, v in saved.items() if k not in ("format_version", "preprocessing", "kind")}
    (Path(run_dir) / "dataset.json").write_text(json.dumps(old))
    capsys.readouterr()
    old_x, _ = split_data(vaekit.load(run_dir), "train")
    assert torch.equal(old_x, own_x) and "predates saved preprocessing" in capsys.readouterr().err
