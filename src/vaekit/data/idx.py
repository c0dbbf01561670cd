"""Read IDX files (the MNIST format), gzipped or raw, with strict header checks."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from vaekit.core.errors import DataError

_UBYTE = 0x08


def read_bytes(path: Path) -> bytes:
    """Return the file's payload, decompressing ``.gz`` files; corrupt gzip -> DataError."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise corrupt(path, f"cannot be read ({exc})") from None


def corrupt(path: Path, why: str) -> DataError:
    """The error for a damaged dataset file: what is wrong and how to recover."""
    return DataError(f"corrupt dataset file {path}: {why}; delete it and download it again")


def parse_idx(data: bytes, path: Path, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX payload with ``ndim`` dimensions into a uint8 array."""
    if len(data) < 4 + 4 * ndim:
        raise corrupt(path, f"only {len(data)} bytes, shorter than an IDX header")
    if data[0] != 0 or data[1] != 0 or data[2] != _UBYTE or data[3] != ndim:
        raise corrupt(
            path, f"bad IDX magic number {data[:4].hex()} (expected 0000{_UBYTE:02x}{ndim:02x})"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    header = 4 + 4 * ndim
    expected = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != expected:
        raise corrupt(path, f"header promises {dims} = {expected} bytes but the file holds {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) holding ``ndim``-dimensional unsigned bytes."""
    return parse_idx(read_bytes(path), path, ndim)


def read_image_label_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image (N, H, W) and label (N,) IDX files; counts must agree."""
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise corrupt(labels_path, f"{len(labels)} labels but {images_path.name} has {len(images)} images")
    if len(images) == 0:
        raise corrupt(images_path, "it holds no images")
    return images, labels
