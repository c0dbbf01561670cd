"""The unpacked copy of gzipped IDX files: used only when it matches the gzip trailer."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from vaekit.core.errors import DataError
from vaekit.data.idx import read_idx


def _idx(images: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, images.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    return header + images.astype(np.uint8).tobytes()


def test_unpacked_copy_is_made_used_and_rebuilt_when_damaged(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path / "cache"))
    images = np.random.default_rng(0).integers(0, 256, (7, 4, 5), dtype=np.uint8)
    gz = tmp_path / "imgs-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(_idx(images)))
    assert np.array_equal(read_idx(gz, 3), images)
    copies = list((tmp_path / "cache" / "unpacked").iterdir())
    assert len(copies) == 1 and copies[0].read_bytes() == _idx(images)
    assert np.array_equal(read_idx(gz, 3), images)  # from the copy
    # A damaged copy (one byte changed) fails the trailer's CRC: the .gz is inflated again.
    damaged = bytearray(copies[0].read_bytes())
    damaged[-1] ^= 0xFF
    copies[0].write_bytes(bytes(damaged))
    assert np.array_equal(read_idx(gz, 3), images)
    assert copies[0].read_bytes() == _idx(images)
    # A replaced .gz (new size/mtime) gets its own copy: never the old file's data.
    other = images[:3]
    gz.write_bytes(gzip.compress(_idx(other)))
    os.utime(gz, ns=(1, 1))
    assert np.array_equal(read_idx(gz, 3), other)
    assert len(list((tmp_path / "cache" / "unpacked").iterdir())) == 1  # the old copy is gone


def test_a_damaged_gzip_is_an_error_and_caches_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path / "cache"))
    gz = tmp_path / "imgs-idx3-ubyte.gz"
    packed = bytearray(gzip.compress(_idx(np.zeros((3, 2, 2), dtype=np.uint8))))
    packed[12] ^= 0xFF
    gz.write_bytes(bytes(packed))
    with pytest.raises(DataError, match="corrupt dataset file"):
        read_idx(gz, 3)
    assert not (tmp_path / "cache" / "unpacked").exists() or not any((tmp_path / "cache" / "unpacked").iterdir())


def test_an_unwritable_cache_only_costs_speed(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("VAEKIT_CACHE", str(blocker))
    images = np.ones((2, 3, 3), dtype=np.uint8)
    gz = tmp_path / "imgs-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(_idx(images)))
    assert np.array_equal(read_idx(gz, 3), images)
