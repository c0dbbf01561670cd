"""Bytes in, bytes out: PNG/GIF for image runs, rows for table runs, and parsing of uploads.

Images travel at the model's own resolution (an 8x8 digit is a 8x8 PNG; the page scales it up
with nearest-neighbour CSS), so a slider move costs ~100 bytes. A model value v in [0, 1] is the
grey level round(255 v). Uploaded PNG/JPEG pixels p are mapped back by p / 255 and rounded onto
the run's grey levels (``levels`` in dataset.json, e.g. 17 for digits) — the values the model was
trained on.
"""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from vaekit.artifacts.images import to_uint8_grid
from vaekit.core.errors import DataError
from vaekit.data import Preprocessing, Table
from vaekit.serve.slots import RunSlot

MAX_ROWS = 256  # rows of one uploaded CSV
MAX_PIXELS = 4096 * 4096  # of one uploaded image (before it is decoded)


class BadInput(DataError):
    """Input that does not fit the run (HTTP 422 with this message)."""


# --- out ---------------------------------------------------------------------------------------
def png_bytes(image: torch.Tensor, scale: int = 1) -> bytes:
    """(C, H, W) in [0, 1] -> PNG bytes (grey for C = 1, RGB for C = 3)."""
    if scale == 1:  # the slider path: one small picture, no grid to lay out
        x = image.detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8)  # (C, H, W)
        arr = x[0].numpy() if x.shape[0] == 1 else x[:3].permute(1, 2, 0).contiguous().numpy()
    else:
        arr = to_uint8_grid(image[None], nrow=1, pad=0, scale=scale)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)  # speed over bytes: images are tiny
    return buf.getvalue()


def data_url(image: torch.Tensor) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def gif_bytes(frames: torch.Tensor, ms_per_frame: int = 120) -> bytes:
    """(T, C, H, W) -> an animated GIF bouncing back and forth, enlarged to >= 112 px."""
    scale = max(1, 112 // max(1, frames.shape[-1]))
    pics = [Image.fromarray(to_uint8_grid(f[None], nrow=1, pad=0, scale=scale)) for f in frames]
    pics = pics + pics[-2:0:-1]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)
    return buf.getvalue()


def _json_value(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        f = float(v)
        if not np.isfinite(f):
            return None
        return int(f) if f.is_integer() and abs(f) < 1e15 else float(f"{f:.6g}")  # 6 significant digits
    if isinstance(v, np.integer):
        return int(v)
    return str(v)


def rows(slot: RunSlot, x: torch.Tensor) -> tuple[list[str], list[list[Any]]]:
    """Model-space rows (N, D) -> (column names, rows in the table's original units).

    Tables: numeric columns un-standardised, categorical ones as their most probable category
    (:meth:`TablePreprocessing.invert`). Vectors: the saved scaling inverted, columns x0, x1 ..."""
    pre = Preprocessing.from_json(slot.run.dataset["preprocessing"])
    if slot.kind == "table":
        table = pre.invert(x.detach().cpu())
        names = list(table.names)
        cols = [c.tolist() for c in table.columns]
    else:
        values = pre.invert(x.detach().cpu().reshape(x.shape[0], -1))
        names = [f"x{j}" for j in range(values.shape[1])]
        cols = [values[:, j].tolist() for j in range(values.shape[1])]
    return names, [[_json_value(v) for v in row] for row in zip(*cols)]


def item(slot: RunSlot, x: torch.Tensor) -> dict[str, Any]:
    """One example (*shape) as the page shows it: ``{"png": data URL}`` or ``{"row": [...]}``."""
    if slot.kind == "image":
        return {"png": data_url(x)}
    return {"row": rows(slot, x[None])[1][0]}


# --- in ----------------------------------------------------------------------------------------
def _levels_round(x: torch.Tensor, levels: int | None) -> torch.Tensor:
    if levels and levels >= 2:
        return torch.round(x * (levels - 1)) / (levels - 1)
    return x


def parse_image(slot: RunSlot, data: bytes, *, fit: bool = False) -> torch.Tensor:
    """Image file bytes -> (1, C, H, W) in the model's space.

    Strict by default: the picture must have the run's size and channels (a clear
    :class:`BadInput` otherwise). ``fit=True`` converts the colour mode and resizes (Lanczos) instead."""
    c, h, w = slot.shape
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
        if img.width * img.height > MAX_PIXELS:  # a small file can unpack to gigabytes: refuse before decoding
            raise BadInput(f"the image is {img.width}x{img.height} pixels; send at most {MAX_PIXELS:,} pixels")
        img.load()
    except UnidentifiedImageError:
        raise BadInput("the upload is not an image (PNG, JPEG, GIF, BMP ... that Pillow can read)") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadInput(f"the uploaded image is damaged or too large to read ({type(exc).__name__})") from None
    want_mode = "L" if c == 1 else "RGB"
    grey_modes = {"L", "1", "LA", "I", "I;16", "F"}
    channels = 1 if img.mode in grey_modes or (img.mode == "P" and _grey_palette(img)) else (4 if "A" in img.mode else 3)
    if not fit:
        if (img.width, img.height) != (w, h):
            raise BadInput(
                f"the image is {img.width}x{img.height} pixels but this run's model takes {w}x{h}; "
                "resize it, or send fit=true to have it resized"
            )
        if c == 1 and channels != 1:
            raise BadInput(
                f"the image has {channels} channels ({img.mode}) but this run's model takes 1 (greyscale); "
                "convert it to greyscale, or send fit=true"
            )
        if c == 3 and channels == 1:
            raise BadInput("the image is greyscale but this run's model takes 3 channels (RGB); send fit=true to convert it")
    if img.mode in ("I", "I;16", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255, 0, 255).astype(np.uint8), mode="L")
    img = img.convert(want_mode)
    if (img.width, img.height) != (w, h):
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    x = torch.from_numpy(arr.reshape(h, w, c).transpose(2, 0, 1).copy())[None]
    return _levels_round(x, slot.run.dataset.get("levels"))


def _grey_palette(img: Image.Image) -> bool:
    pal = np.asarray(img.getpalette() or [], dtype=np.int64).reshape(-1, 3)
    return bool(len(pal)) and bool(np.all(pal[:, 0] == pal[:, 1]) and np.all(pal[:, 1] == pal[:, 2]))


def parse_csv(slot: RunSlot, data: bytes) -> tuple[torch.Tensor, list[Any] | None]:
    """CSV bytes -> (rows (N, D) in the model's space, the label column's values or None).

    Table runs: a header naming exactly the run's columns (in any order; the label column may be
    added). Vector runs: D numbers per row, a header optional. At most :data:`MAX_ROWS` rows."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput("the upload is not UTF-8 text; send a comma-separated CSV file") from None
    try:
        lines = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    except csv.Error as exc:
        raise BadInput(f"the upload is not valid CSV ({exc})") from None
    if not lines:
        raise BadInput("the CSV upload is empty; send a header row and at least one data row")
    pre = Preprocessing.from_json(slot.run.dataset["preprocessing"])
    if slot.kind == "table":
        header, body = [c.strip() for c in lines[0]], lines[1:]
    else:
        header, body = None, lines
        try:
            [float(v) for v in lines[0]]
        except ValueError:
            header, body = [c.strip() for c in lines[0]], lines[1:]
    if not body:
        raise BadInput("the CSV upload has a header but no data rows")
    if len(body) > MAX_ROWS:
        raise BadInput(f"the CSV upload has {len(body)} rows; send at most {MAX_ROWS}")
    width = len(header) if header else len(body[0])
    for i, r in enumerate(body):
        if len(r) != width:
            raise BadInput(f"CSV data row {i} has {len(r)} cells, the first row has {width}")
    if slot.kind != "table":
        d = int(np.prod(slot.shape))
        if width != d:
            raise BadInput(f"the CSV rows have {width} columns but this run's model takes {d} numbers per row")
        try:
            raw = np.asarray([[float(v) for v in r] for r in body], dtype=np.float64)
        except ValueError as exc:
            raise BadInput(f"the CSV holds a value that is not a number ({exc})") from None
        if not np.isfinite(raw).all():
            raise BadInput("the CSV holds NaN or infinite values; send finite numbers")
        return pre.apply(raw.astype(pre.dtype) if pre.levels else raw, where="upload"), None
    label_name = str((pre.label or {}).get("name") or "")
    labels = None
    columns = {name: np.asarray([r[j].strip() for r in body], dtype=object) for j, name in enumerate(header)}
    if label_name and label_name in columns:
        labels = list(columns.pop(label_name))
    table = Table(tuple(columns), tuple(columns.values()))
    return pre.apply(table, where="the uploaded CSV"), labels
