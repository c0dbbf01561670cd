"""Read an image folder (optionally one sub-folder per class) into uint8 arrays."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vaekit.core.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _images_in(directory: Path, recursive: bool) -> list[Path]:
    pattern = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(
        p for p in pattern
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image {path} ({exc}); delete or replace the file") from None


def collect(root: Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """Image paths, their class indices (or ``None``) and class names.

    Sub-folders that contain images are classes (sorted names -> 0..K-1); otherwise the
    images directly in ``root`` form an unlabelled set.
    """
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and _images_in(d, True))
    if not class_dirs:
        paths = _images_in(root, False)
        if not paths:
            raise DataError(f"no images found in {root}; put .png/.jpg files there or in one sub-folder per class")
        return paths, None, []
    if _images_in(root, False):
        raise DataError(
            f"{root} has images both at the top level and in class sub-folders; "
            "move the top-level images into a class sub-folder (or remove the sub-folders)"
        )
    paths, labels = [], []
    for index, directory in enumerate(class_dirs):
        found = _images_in(directory, True)
        paths += found
        labels += [index] * len(found)
    return paths, labels, [d.name for d in class_dirs]


def read_folder(
    path_text: str, image_size: int | tuple[int, int] | None,
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Load every image as uint8 (N, H, W) grayscale or (N, H, W, 3) RGB, resized to
    ``image_size`` (a square side, or ``(H, W)``; default: the first image's size).
    Returns (x, y, description)."""
    root = Path(path_text).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder; check the spec 'folder:PATH'")
    paths, labels, classes = collect(root)
    images = [_open(p) for p in paths]
    n_colour = sum(img.mode not in _GRAY_MODES for img in images)
    colour = n_colour > 0
    mode = "RGB" if colour else "L"
    if 0 < n_colour < len(images):
        print(
            f"vaekit: warning: {root} mixes colour and grey images ({n_colour} colour, {len(images) - n_colour} grey); "
            "converting all of them to RGB",
            file=sys.stderr,
        )
    if isinstance(image_size, int):
        size = (image_size, image_size)
    elif image_size is not None:
        size = (int(image_size[1]), int(image_size[0]))  # PIL sizes are (W, H)
    else:
        size = images[0].size
    arrays = []
    for img in images:
        img = img.convert(mode)
        if img.size != size:
            img = img.resize(size, Image.Resampling.BILINEAR)
        arrays.append(np.asarray(img, dtype=np.uint8))
    x = np.stack(arrays)
    sizes = Counter(img.size for img in images)
    note = f"{len(images)} images, mode {mode}, resized to {size[0]}x{size[1]}"
    if len(sizes) > 1:
        note += f" (source sizes varied: {len(sizes)} distinct)"
    if classes:
        note += f", classes {classes}"
    return x, None if labels is None else np.asarray(labels, dtype=np.int64), note
