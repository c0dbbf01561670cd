"""Tests for vaekit.data: real files on disk, a real local HTTP server, no mocks."""

from __future__ import annotations

import functools
import gzip
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.core.errors import DataError
from vaekit.data import Splits, batch_indices, binarize, list_datasets, load_dataset
from vaekit.data.download import ChecksumError
from vaekit.data.idx_datasets import FASHION_MNIST, download

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not (SYSTEM_FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist is not installed",
)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty HOME, VAEKIT_DATA and system data dirs so nothing outside tmp_path is found."""
    for name in ("home", "data", "system"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAEKIT_SYSTEM_DATA", str(tmp_path / "system"))
    monkeypatch.delenv("VAEKIT_OFFLINE", raising=False)
    monkeypatch.delenv("VAEKIT_FASHION_MNIST_URL", raising=False)
    return tmp_path


@pytest.fixture
def http_dir(tmp_path: Path):
    """A real http.server on localhost serving a fresh directory; yields (directory, base_url)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args, **kwargs: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def _sorted_rows(x: torch.Tensor) -> np.ndarray:
    flat = x.reshape(len(x), -1).numpy()
    return flat[np.lexsort(flat.T[::-1])]


def _all_x(s: Splits) -> torch.Tensor:
    return torch.cat([s.train.x, s.val.x, s.test.x])


# --- digits -----------------------------------------------------------------------------

def test_digits_shapes_levels_and_partition() -> None:
    from sklearn.datasets import load_digits

    s = load_dataset("digits")
    assert s.info.shape == (1, 8, 8) and s.info.levels == 17 and s.info.n_classes == 10 and s.info.is_image
    assert (len(s.train), len(s.val), len(s.test)) == (1437, 180, 180)
    assert s.train.x.dtype == torch.float32 and s.train.y is not None and s.train.y.dtype == torch.int64
    assert float(s.train.x.min()) == 0.0 and float(s.train.x.max()) == 1.0
    # the three splits together are exactly the dataset (a partition, no overlap, nothing lost)
    full = torch.from_numpy(load_digits().images.astype(np.float32)[:, None] / 16)
    np.testing.assert_array_equal(_sorted_rows(_all_x(s)), _sorted_rows(full))


def test_digits_deterministic_per_seed_and_limit() -> None:
    a, b, c = load_dataset("digits"), load_dataset("digits"), load_dataset("digits", split_seed=1)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.test.x, c.test.x)
    small = load_dataset("digits", limit=50)
    assert len(small.train) == 50 and len(small.val) == 180
    assert torch.equal(small.train.x, a.train.x[:50])


def test_unknown_name_lists_known_names_and_forms() -> None:
    with pytest.raises(DataError) as info:
        load_dataset("cifar-99")
    for word in ("digits", "fashion-mnist", "mnist", "npy:PATH", "npz:PATH", "csv:PATH", "folder:PATH"):
        assert word in str(info.value)


def test_list_datasets_rows() -> None:
    rows = {row["name"]: row for row in list_datasets()}
    assert rows["digits"]["available"] is True and rows["digits"]["shape"] == (1, 8, 8)
    assert {"name", "shape", "n_examples", "available", "where", "description"} <= set(rows["mnist"])
    assert all(rows[form]["available"] for form in ("npy:PATH", "npz:PATH", "folder:PATH"))


# --- Fashion-MNIST / IDX --------------------------------------------------------------------

@needs_fashion
def test_fashion_mnist_from_system_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAEKIT_DATA", raising=False)
    monkeypatch.setenv("VAEKIT_OFFLINE", "1")
    s = load_dataset("fashion-mnist")
    assert (len(s.train), len(s.val), len(s.test)) == (54000, 6000, 10000)
    assert s.info.shape == (1, 28, 28) and s.info.levels == 256 and s.info.n_classes == 10
    assert s.test.y is not None and sorted(s.test.y.unique().tolist()) == list(range(10))
    values = torch.unique(s.test.x[:50])
    assert torch.allclose(values * 255, torch.round(values * 255))  # on the 256-level grid


def _write_idx(path: Path, array: np.ndarray, *, magic: bytes | None = None) -> None:
    header = magic or bytes([0, 0, 8, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_small_idx_set(directory: Path, n_train: int = 40, n_test: int = 10) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    _write_idx(directory / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)))
    _write_idx(directory / "train-labels-idx1-ubyte", rng.integers(0, 10, n_train))
    _write_idx(directory / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)))
    _write_idx(directory / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test))


def test_raw_idx_files_from_vaekit_data(isolated: Path) -> None:
    _write_small_idx_set(isolated / "data" / "mnist")
    s = load_dataset("mnist", val_fraction=0.25)
    assert (len(s.train), len(s.val), len(s.test)) == (30, 10, 10)


def test_idx_truncated_file_is_corrupt(isolated: Path) -> None:
    target = isolated / "data" / "fashion-mnist"
    _write_small_idx_set(target)
    images = target / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-7])
    with pytest.raises(DataError, match=r"corrupt.*train-images-idx3-ubyte.*delete it"):
        load_dataset("fashion-mnist")


def test_idx_bad_magic_and_count_mismatch(isolated: Path) -> None:
    target = isolated / "data"  # VAEKIT_DATA itself is accepted too
    _write_small_idx_set(target)
    _write_idx(target / "t10k-labels-idx1-ubyte", np.zeros(9))  # 9 labels for 10 images
    with pytest.raises(DataError, match=r"corrupt.*t10k-labels.*9 labels.*10 images"):
        load_dataset("mnist")
    _write_idx(target / "t10k-labels-idx1-ubyte", np.zeros(10), magic=b"\x00\x00\x09\x01")
    with pytest.raises(DataError, match="magic"):
        load_dataset("mnist")


def test_offline_missing_names_every_place(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAEKIT_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist")
    message = str(info.value)
    for place in (
        isolated / "data" / "fashion-mnist", isolated / "data",
        isolated / "home" / ".cache" / "vaekit" / "fashion-mnist", isolated / "system" / "fashion-mnist",
    ):
        assert str(place) in message
    assert "VAEKIT_DATA" in message and "apt-get install dataset-fashion-mnist" in message
    assert "http://fashion-mnist.s3-website" in message


@needs_fashion
def test_download_from_local_server_verifies(isolated: Path, http_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    served, url = http_dir
    for path in SYSTEM_FASHION.glob("*.gz"):
        shutil.copy(path, served / path.name)
    monkeypatch.setenv("VAEKIT_FASHION_MNIST_URL", url)
    s = load_dataset("fashion-mnist", limit=100)
    cache = isolated / "home" / ".cache" / "vaekit" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(p.name for p in served.iterdir())
    assert len(s.train) == 100 and len(s.test) == 10000


def test_download_rejects_tampered_file(tmp_path: Path, http_dir) -> None:
    served, url = http_dir
    with gzip.open(served / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(b"\x00\x00\x08\x03" + b"not the real images" * 10)
    target = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download(FASHION_MNIST, target, base_url=url)
    assert not target.exists() or list(target.iterdir()) == []


def test_download_network_failure_is_data_error(isolated: Path, http_dir) -> None:
    _, url = http_dir  # serves nothing: 404
    with pytest.raises(DataError, match=r"download of .* failed.*looked in"):
        download(FASHION_MNIST, isolated / "cache", base_url=url)
    assert list((isolated / "cache").glob("*")) == []


# --- file-based specs ---------------------------------------------------------------------------

def test_npy_uint8_images(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 256, (50, 6, 5, 3), dtype=np.uint8)
    np.save(tmp_path / "a.npy", x)
    s = load_dataset(f"npy:{tmp_path / 'a.npy'}")
    assert s.info.shape == (3, 6, 5) and s.info.levels == 256 and s.info.is_image and s.train.y is None
    assert (len(s.train), len(s.val), len(s.test)) == (40, 5, 5)
    assert "255" in s.info.scaling
    resized = load_dataset(f"npy:{tmp_path / 'a.npy'}", image_size=4)
    assert resized.info.shape == (3, 4, 4)
    assert torch.allclose(resized.train.x * 255, torch.round(resized.train.x * 255))


def test_npy_tabular_minmax_uses_train_stats_and_splits_disjoint(tmp_path: Path) -> None:
    x = np.stack([np.arange(100) * 3.0 - 50, np.linspace(5, 9, 100)], axis=1)
    np.save(tmp_path / "t.npy", x)
    s = load_dataset(f"npy:{tmp_path / 't.npy'}", split_seed=3)
    assert s.info.shape == (2,) and not s.info.is_image and s.info.levels is None
    assert "min-max" in s.info.scaling
    assert torch.equal(s.train.x.min(0).values, torch.zeros(2)) and torch.equal(s.train.x.max(0).values, torch.ones(2))
    assert float(_all_x(s).min()) >= 0 and float(_all_x(s).max()) <= 1
    rows = [set(map(tuple, part.x.tolist())) for part in (s.train, s.val, s.test)]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    assert sum(map(len, rows)) == 100


def test_npz_with_labels_and_single_array(tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((30, 7)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(30) % 3)
    s = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert s.info.n_classes == 3 and s.train.y is not None and s.train.y.dtype == torch.int64
    assert "kept" in s.info.scaling  # floats already in [0, 1]
    np.savez(tmp_path / "one.npz", images=x.reshape(30, 7, 1))
    assert load_dataset(f"npz:{tmp_path / 'one.npz'}").info.shape == (1, 7, 1)
    np.savez(tmp_path / "bad.npz", a=x, b=x)
    with pytest.raises(DataError, match="named 'x'"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def test_csv_with_header_and_label_column(tmp_path: Path) -> None:
    lines = ["f1,f2,kind"] + [f"{i},{i * 0.5},{'cat' if i % 2 else 'dog'}" for i in range(20)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    s = load_dataset(f"csv:{tmp_path / 'd.csv'}#label=kind")
    assert s.info.shape == (2,) and s.info.n_classes == 2
    by_index = load_dataset(f"csv:{tmp_path / 'd.csv'}#label=2")
    assert torch.equal(by_index.train.y, s.train.y)
    (tmp_path / "plain.csv").write_text("\n".join(f"{i},{i % 4}" for i in range(12)))
    plain = load_dataset(f"csv:{tmp_path / 'plain.csv'}")
    assert plain.train.y is None and plain.info.shape == (2,)
    with pytest.raises(DataError, match="no column named 'nope'"):
        load_dataset(f"csv:{tmp_path / 'd.csv'}#label=nope")


def test_image_splits_are_built_when_first_used_and_bad_values_reported_at_load(tmp_path: Path) -> None:
    """A command that reads one split (``vaekit evaluate`` on the test split) preprocesses only that
    split; the splits together are the whole array preprocessed at once (divide, min-max and
    resize rules); a bad value anywhere in the array is still reported when the data is loaded."""
    from sklearn.datasets import load_digits

    from vaekit.data.types import ArrayData

    s = load_dataset("digits")
    built = lambda: {name for name, part in s._parts.items() if isinstance(part, ArrayData)}  # noqa: E731
    assert built() == set()
    test = s.test
    assert built() == {"test"} and s.test is test  # kept, not rebuilt
    raw_digits = load_digits().images.astype(np.uint8)
    vectors = np.random.default_rng(3).normal(5.0, 2.0, (40, 5))  # min-max scaled per feature
    np.save(tmp_path / "ok.npy", vectors)
    for splits, raw in ((s, raw_digits), (load_dataset("digits", image_size=12), raw_digits),
                        (load_dataset(f"npy:{tmp_path / 'ok.npy'}"), vectors)):
        whole = splits.info.preprocessing.apply(raw)  # every example at once, the way it was done before
        assert tuple(whole.shape[1:]) == splits.info.shape
        np.testing.assert_array_equal(_sorted_rows(_all_x(splits)), _sorted_rows(whole))
    # Applying a run's saved preprocessing to new data: a NaN in whichever split is refused at load.
    saved = load_dataset(f"npy:{tmp_path / 'ok.npy'}").info.preprocessing
    vectors[-1, 2] = np.nan
    np.save(tmp_path / "bad.npy", vectors)
    with pytest.raises(DataError, match="NaN"):
        load_dataset(f"npy:{tmp_path / 'bad.npy'}", preprocessing=saved)


def test_nan_reports_count_and_first_row(tmp_path: Path) -> None:
    x = np.random.default_rng(2).random((20, 3))
    x[7, 1] = np.nan
    x[12, 0] = np.inf
    np.save(tmp_path / "n.npy", x)
    with pytest.raises(DataError, match=r"2 NaN/inf value\(s\).*first at row index 7"):
        load_dataset(f"npy:{tmp_path / 'n.npy'}")
    (tmp_path / "n.csv").write_text("1,2\n3,\n5,6\n")
    with pytest.raises(DataError, match="row index 1"):
        load_dataset(f"csv:{tmp_path / 'n.csv'}")


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"npy:{tmp_path / 'missing.npy'}")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_dataset(f"npy:{tmp_path / 'empty.npy'}")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(DataError, match="cannot read"):
        load_dataset(f"npy:{tmp_path / 'junk.npy'}")
    np.save(tmp_path / "5d.npy", np.zeros((4, 2, 2, 2, 2)))
    with pytest.raises(DataError, match="5 dimension"):
        load_dataset(f"npy:{tmp_path / '5d.npy'}")
    np.save(tmp_path / "tiny.npy", np.zeros((2, 3)))
    with pytest.raises(DataError, match="too few"):
        load_dataset(f"npy:{tmp_path / 'tiny.npy'}")


def test_folder_with_classes_and_unlabelled(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for cls in ("b_cats", "a_dogs"):
        (tmp_path / "lab" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (10, 12), dtype=np.uint8)).save(tmp_path / "lab" / cls / f"{i}.png")
    (tmp_path / "lab" / "a_dogs" / "notes.txt").write_text("skipped")
    s = load_dataset(f"folder:{tmp_path / 'lab'}")
    assert s.info.shape == (1, 10, 12) and s.info.n_classes == 2 and s.info.levels == 256
    assert len(s.train) + len(s.val) + len(s.test) == 12
    (tmp_path / "flat").mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(tmp_path / "flat" / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(tmp_path / "flat" / "gray.png")
    flat = load_dataset(f"folder:{tmp_path / 'flat'}", image_size=8)
    assert flat.info.shape == (3, 8, 8) and flat.train.y is None
    (tmp_path / "flat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        load_dataset(f"folder:{tmp_path / 'flat'}")


# --- binarize and batching -----------------------------------------------------------------------

def test_binarize_modes() -> None:
    x = torch.rand(200, 5, generator=torch.Generator().manual_seed(0))
    assert binarize(x, "none") is x
    a = binarize(x, "static", generator=torch.Generator().manual_seed(1))
    b = binarize(x, "static", generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0} and a.dtype == x.dtype
    assert not torch.equal(binarize(x, "dynamic"), binarize(x, "dynamic"))
    with pytest.raises(DataError, match="unknown binarize mode"):
        binarize(x, "sometimes")


def test_batch_indices_single_process_covers_once() -> None:
    batches = batch_indices(103, 10, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert len(batches) == 11 and len(batches[-1]) == 3
    assert sorted(torch.cat(batches).tolist()) == list(range(103))
    assert len(batch_indices(103, 10, shuffle=False, drop_last=True)) == 10
    assert torch.equal(batch_indices(5, 2, shuffle=False)[0], torch.tensor([0, 1]))


def test_batch_indices_ranks_match_single_process() -> None:
    single = batch_indices(96, 16, shuffle=True, generator=torch.Generator().manual_seed(5))
    shards = [
        batch_indices(96, 16, shuffle=True, generator=torch.Generator().manual_seed(5), rank=r, world_size=2)
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == len(single)
    for whole, part0, part1 in zip(single, *shards):
        assert torch.equal(torch.cat([part0, part1]), whole)
    uneven = [batch_indices(101, 16, shuffle=False, rank=r, world_size=2) for r in range(2)]
    assert [len(b) for b in uneven[0]] == [len(b) for b in uneven[1]]
    assert set(torch.cat(uneven[0] + uneven[1]).tolist()) == set(range(101))
    with pytest.raises(DataError, match="divisible"):
        batch_indices(10, 5, shuffle=False, rank=0, world_size=2)
