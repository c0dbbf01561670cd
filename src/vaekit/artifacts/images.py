"""Save image tensors as PNG grids, GIF animations or .npy arrays (Pillow + numpy, atomic)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaekit.core.atomic import atomic_path
from vaekit.core.errors import VaekitError

IMAGE_SUFFIXES = {".png", ".gif", ".npy"}


def check_output(path: Path, allowed: set[str]) -> Path:
    """Fail early, with the allowed suffixes, before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise VaekitError(f"cannot write {path}: the file name must end in one of {', '.join(sorted(allowed))}")
    if path.is_dir():
        raise VaekitError(f"cannot write {path}: it is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise VaekitError(f"cannot write {path}: folder {parent} does not exist")
    return path


def to_uint8_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 1, scale: int = 1) -> np.ndarray:
    """(N, C, H, W) or (N, D) in [0, 1] -> (rows*H, cols*W[, 3]) uint8 with ``pad`` pixel gutters.

    Tabular (N, D) rows are shown as 1-pixel-high strips. ``scale`` enlarges each pixel.
    """
    x = images.detach().float().cpu().clamp(0, 1)
    if x.dim() == 2:
        x = x[:, None, None, :]
    n, c, h, w = x.shape
    cols = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.ones(c, rows * (h + pad) + pad, cols * (w + pad) + pad) * 0.5
    for i in range(n):
        r, col = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i]
    arr = (grid.numpy() * 255).round().astype(np.uint8)
    arr = arr[0] if c == 1 else np.moveaxis(arr[:3], 0, -1)
    if scale > 1:
        arr = arr.repeat(scale, axis=0).repeat(scale, axis=1)
    return arr


def _auto_scale(images: torch.Tensor) -> int:
    side = images.shape[-1]
    return max(1, 112 // max(1, side)) if images.dim() == 4 else 1


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    arr = to_uint8_grid(images, nrow, scale=_auto_scale(images))
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


def save_gif(frames: torch.Tensor, path: Path, nrow: int | None = None, ms_per_frame: int = 120) -> None:
    """``frames``: (T, N, C, H, W) -> an animated GIF of T grids, bouncing back and forth."""
    scale = _auto_scale(frames[0])
    pics = [Image.fromarray(to_uint8_grid(f, nrow, scale=scale)) for f in frames]
    pics = pics + pics[-2:0:-1]
    with atomic_path(path) as tmp:
        pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)


def save_array(array: torch.Tensor | np.ndarray, path: Path) -> None:
    data = array.detach().cpu().numpy() if torch.is_tensor(array) else array
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, data)
