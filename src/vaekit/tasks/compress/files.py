"""What ``vaekit compress`` reads and ``vaekit decompress`` writes.

Inputs: ``.npy``, ``.npz`` (array ``x`` or a lone array), IDX files (the MNIST format, raw or
``.gz``; recognised by ``.idx`` or ``-ubyte`` in the name), one image file, or a folder of
images (top level, sorted by name, all of one size and mode). Images are read as stored (no
conversion): 8-bit grey -> uint8 (H, W), 1-bit -> bool, RGB -> (H, W, 3), 16-bit -> its integer
type, so what is coded is exactly the pixels in the file.

Outputs, chosen by the suffix of ``-o``: ``.npy`` / ``.npz`` / IDX give the array back bit for bit
(an ``.npy`` or raw IDX input comes back as the identical file); an image suffix writes one
image; a path without a suffix (or a folder input) writes a folder with one PNG per image under
the original names. Every output is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from vaekit.core.atomic import atomic_path, current_umask, file_mode
from vaekit.core.errors import DataError
from vaekit.data.array_files import read_npy, read_npz
from vaekit.data.folder import IMAGE_SUFFIXES
from vaekit.data.idx import parse_idx

LOSSLESS_IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"}


def is_idx(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(".idx") or "-ubyte" in name or "idx1" in name or "idx3" in name


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img).copy()
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image {path} ({exc}); give a readable image file") from None


def _read_idx(path: Path) -> np.ndarray:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path} ({exc})") from None
    if len(raw) < 4:
        raise DataError(f"{path} is too short to be an IDX file")
    return parse_idx(raw, path, raw[3]).copy()


def read_input(path_text: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The array in ``path_text`` and a description of the source (recorded in the header)."""
    path = Path(path_text).expanduser()
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not names:
            raise DataError(f"no images in folder {path}; put .png files there (sub-folders are not read)")
        images = [_read_image(path / n) for n in names]
        kinds = {(im.shape, im.dtype.str) for im in images}
        if len(kinds) > 1:
            raise DataError(f"the images in {path} differ in size or mode ({sorted(kinds)[:3]} ...); "
                            "compress folders of images of one size and mode")
        return np.stack(images), {"kind": "folder", "names": names}
    if not path.is_file():
        raise DataError(f"input {path} does not exist; give an .npy/.npz/IDX file, an image or a folder of images")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return read_npy(str(path))[0], {"kind": "npy", "name": path.name}
    if suffix == ".npz":
        return read_npz(str(path))[0], {"kind": "npz", "name": path.name}
    if is_idx(path):
        return _read_idx(path), {"kind": "idx", "name": path.name}
    if suffix in IMAGE_SUFFIXES:
        return _read_image(path), {"kind": "image", "name": path.name}
    raise DataError(f"cannot tell what {path} holds from its name; give .npy, .npz, an IDX file (*-ubyte, .idx), "
                    f"an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or a folder of images")


def idx_bytes(x: np.ndarray) -> bytes:
    """An unsigned-byte IDX file holding ``x``."""
    if x.dtype != np.uint8 or not 1 <= x.ndim <= 255:
        raise DataError(f"IDX output holds unsigned bytes; this array is {x.dtype} — write .npy instead")
    head = bytes([0, 0, 0x08, x.ndim]) + np.asarray(x.shape, dtype=">u4").tobytes()
    return head + np.ascontiguousarray(x).tobytes()


def _png_bytes(image: np.ndarray, name: str) -> bytes:
    try:
        img = Image.fromarray(image)
    except (TypeError, ValueError) as exc:
        raise DataError(f"an array of shape {image.shape} and dtype {image.dtype} is not an image ({exc}); "
                        "write .npy instead") from None
    buf = io.BytesIO()
    fmt = {".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".pgm": "PPM", ".ppm": "PPM", ".pbm": "PPM"}.get(
        Path(name).suffix.lower(), "PNG")
    img.save(buf, format=fmt)
    return buf.getvalue()


def _folder_names(source: dict[str, Any], n: int) -> list[str]:
    names = source.get("names") if source.get("kind") == "folder" else None
    if not (isinstance(names, list) and len(names) == n and all(isinstance(s, str) for s in names)):
        names = [f"{i:06d}.png" for i in range(n)]
    out = []
    for name in names:
        base = Path(name).name  # never a path: the header is data, not instructions
        if Path(base).suffix.lower() not in LOSSLESS_IMAGE_SUFFIXES:
            base = Path(base).stem + ".png"
        out.append(base)
    if len(set(out)) != len(out):
        out = [f"{i:06d}.png" for i in range(n)]
    return out


def write_output(x: np.ndarray, out_text: str, source: dict[str, Any]) -> str:
    """Write the decoded array to ``out_text`` (format by suffix, see the module docstring);
    returns a one-word description of what was written."""
    out = Path(out_text).expanduser()
    suffix = out.suffix.lower()
    if suffix == ".npy":
        with atomic_path(out) as tmp:
            np.save(tmp, x, allow_pickle=False)
        return "array"
    if suffix == ".npz":
        with atomic_path(out) as tmp:
            np.savez(tmp, x=x)
        return "array"
    if is_idx(out):
        data = idx_bytes(x)
        with atomic_path(out) as tmp:
            tmp.write_bytes(gzip.compress(data, mtime=0) if suffix == ".gz" else data)
        return "IDX file"
    if suffix in IMAGE_SUFFIXES:
        if suffix not in LOSSLESS_IMAGE_SUFFIXES:
            raise DataError(f"{suffix} is a lossy image format; write .png (or .npy) to get the pixels back exactly")
        image = x[0] if source.get("kind") == "folder" and len(x) == 1 else x
        with atomic_path(out) as tmp:
            tmp.write_bytes(_png_bytes(image, out.name))
        return "image"
    if suffix == "":
        return _write_folder(x, out, source)
    raise DataError(f"cannot tell which format to write from {out.name!r}; use .npy, .npz, .idx / -ubyte, .png, "
                    "or a folder name without a suffix")


def _write_folder(x: np.ndarray, out: Path, source: dict[str, Any]) -> str:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out} already exists and is not an empty folder; choose a new output folder")
    images = x if source.get("kind") == "folder" or x.ndim >= 3 else x[None]
    names = _folder_names(source, len(images))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for image, name in zip(images, names):
            (tmp / name).write_bytes(_png_bytes(image, name))
            os.chmod(tmp / name, file_mode())
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700 folders
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return f"folder of {len(names)} images"
