"""Fitted preprocessing of numeric arrays (images and unnamed feature vectors) into [0, 1].

The scaling rule is chosen from the *training* split's dtype and range (:func:`fit_array`):

* ``bool`` -> {0, 1} (2 levels);
* integers within 0..255 -> value / 255 (256 levels);
* floats already within [0, 1] -> kept (continuous);
* anything else -> min-max to [0, 1] with the training split's minimum and maximum: one range
  over all pixels for images, one range per feature for vectors (a constant feature maps to 0).

Named datasets fix their rule instead (``digits``: value / 16, 17 levels; MNIST-style IDX files:
value / 255, 256 levels). Values of other splits or of new data outside the fitted range are
clipped to [0, 1]. Images are then resized (antialiased bilinear, rounded back onto the grey
levels) when ``image_size`` asks for it. Everything — rule, parameters, clip, levels, channel
layout, raw and final shapes, resize — is recorded, so :meth:`ArrayPreprocessing.apply` maps new
raw data exactly as the training data was mapped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from vaekit.core.errors import DataError
from vaekit.data.preprocessing import Preprocessing
from vaekit.data.resize import resize_images
from vaekit.data.validate import check_finite

RULES = ("bool", "divide", "keep", "minmax")
# Raw array layouts: (N, D) vectors; (N, H, W) grey images; channels last or first.
LAYOUTS = {"ND": 2, "NHW": 3, "NHWC": 4, "NCHW": 4}


def detect_layout(x: np.ndarray, where: str) -> str:
    """The layout of a raw array: (N, D) -> ``ND``; (N, H, W) -> ``NHW``; 4-d arrays are
    channels-first when axis 1 has 1, 3 or 4 entries, else channels-last when the last axis has."""
    if x.ndim == 0 or x.size == 0 or len(x) == 0:
        raise DataError(f"{where}: the array is empty; provide at least 3 examples")
    if x.ndim == 2:
        return "ND"
    if x.ndim == 3:
        return "NHW"
    if x.ndim == 4:
        if x.shape[1] in (1, 3, 4):
            return "NCHW"
        if x.shape[3] in (1, 3, 4):
            return "NHWC"
        raise DataError(
            f"{where}: 4-d array of shape {x.shape} has no channel axis of size 1, 3 or 4; "
            "save images as (N, C, H, W) or (N, H, W, C)"
        )
    raise DataError(
        f"{where}: array has {x.ndim} dimension(s) {x.shape}; expected (N, D) tabular data "
        "or (N, H, W) / (N, H, W, C) / (N, C, H, W) images"
    )


def to_model_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """(N, D) stays; images become channels-first (N, C, H, W)."""
    if layout == "NHW":
        return x[:, None, :, :]
    if layout == "NHWC":
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def from_model_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """The inverse of :func:`to_model_layout`."""
    if layout == "NHW":
        return x[:, 0]
    if layout == "NHWC":
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x


def _tuple_or_float(value: Any) -> float | tuple[float, ...]:
    return tuple(float(v) for v in value) if isinstance(value, (list, tuple, np.ndarray)) else float(value)


def _json_number(value: float | tuple[float, ...]) -> float | list[float]:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class ArrayPreprocessing(Preprocessing):
    """A fitted affine map ``(x - low) / span`` (clipped to [0, 1]) plus layout and resize.

    ``layout`` / ``raw_shape`` / ``dtype`` describe one raw example as read; ``shape`` is what the
    model sees; ``resize`` is the (H, W) target of a resize applied after scaling, or ``None``.
    """

    kind: str
    layout: str
    raw_shape: tuple[int, ...]
    dtype: str
    rule: str
    low: float | tuple[float, ...]
    span: float | tuple[float, ...]
    clip: bool
    levels: int | None
    resize: tuple[int, int] | None
    shape: tuple[int, ...]
    description: str

    # --- JSON -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "layout": self.layout, "raw_shape": list(self.raw_shape), "dtype": self.dtype,
            "rule": self.rule, "low": _json_number(self.low), "span": _json_number(self.span), "clip": self.clip,
            "levels": self.levels, "resize": None if self.resize is None else list(self.resize),
            "shape": list(self.shape), "description": self.description,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ArrayPreprocessing":
        try:
            out = cls(
                kind=str(data["kind"]), layout=str(data["layout"]), raw_shape=tuple(int(s) for s in data["raw_shape"]),
                dtype=str(data["dtype"]), rule=str(data["rule"]), low=_tuple_or_float(data["low"]),
                span=_tuple_or_float(data["span"]), clip=bool(data["clip"]),
                levels=None if data.get("levels") is None else int(data["levels"]),
                resize=None if data.get("resize") is None else (int(data["resize"][0]), int(data["resize"][1])),
                shape=tuple(int(s) for s in data["shape"]), description=str(data.get("description", "")),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(f"saved {data.get('kind')} preprocessing is incomplete or malformed ({exc!r})") from None
        if out.rule not in RULES or out.layout not in LAYOUTS:
            raise DataError(
                f"saved preprocessing uses rule {out.rule!r} / layout {out.layout!r}, unknown to this vaekit; upgrade vaekit"
            )
        return out

    # --- apply / invert ---------------------------------------------------------------------
    def _check_raw(self, raw: np.ndarray, where: str) -> None:
        expected = f"raw examples of shape {self.raw_shape} (layout {self.layout})"
        if raw.ndim != LAYOUTS[self.layout] or len(raw) == 0:
            raise DataError(
                f"{where}: array of shape {raw.shape} does not fit the saved preprocessing, which expects {expected}; "
                "use data laid out like the data the run was trained on"
            )
        got = tuple(int(s) for s in raw.shape[1:])
        if self.kind == "vector" or self.resize is None:
            ok = got == self.raw_shape
        else:  # images that are resized anyway: only the channel count must match
            channel_axis = {"NHW": None, "NHWC": 2, "NCHW": 0}[self.layout]
            ok = channel_axis is None or got[channel_axis] == self.raw_shape[channel_axis]
        if not ok:
            raise DataError(
                f"{where}: examples have shape {got} but the saved preprocessing expects {expected}; "
                "use data of the same shape as the run's training data"
            )
        if not (np.issubdtype(raw.dtype, np.number) or raw.dtype == np.bool_):
            raise DataError(f"{where}: data has non-numeric dtype {raw.dtype}; save numbers only")
        check_finite(raw, where)
        if self.levels is not None and self.rule in ("bool", "divide") and np.issubdtype(raw.dtype, np.floating):
            if not np.all(raw == np.round(raw)):
                raise DataError(
                    f"{where}: the saved preprocessing maps whole numbers onto {self.levels} grey levels "
                    f"({self.description}) but this data holds fractional values; give data on the same scale"
                )

    def check_raw(self, raw: np.ndarray, where: str = "data") -> None:
        """Raise a :class:`DataError` saying what is wrong if ``raw`` cannot be given to :meth:`apply`."""
        self._check_raw(np.asarray(raw), where)

    def apply(self, raw: Any, where: str = "data", *, checked: bool = False) -> torch.Tensor:
        """Raw array (in :attr:`layout`) -> float32 tensor (N, *shape), never re-fitted;
        ``checked``: the caller has run :meth:`check_raw` on it (or on an array it was taken from)."""
        raw = np.asarray(raw)
        if not checked:
            self._check_raw(raw, where)
        x = to_model_layout(raw, self.layout)
        if self.rule == "minmax":
            low = np.asarray(self.low, dtype=np.float64)
            span = np.asarray(self.span, dtype=np.float64)
            out = (x.astype(np.float64) - low) / span
        else:  # bool / divide / keep: low is 0; float32 division is correctly rounded
            out = x.astype(np.float32)  # a copy, so the in-place steps below leave raw alone
            out /= np.float32(self.span)
        if self.clip:
            np.clip(out, 0.0, 1.0, out=out)
        tensor = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
        if self.resize is not None and tuple(tensor.shape[-2:]) != self.resize:
            tensor = resize_images(tensor, self.resize, self.levels)
        return tensor

    def invert(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """Model values (N, *shape) -> raw units and layout (a resize is not undone).

        Level-quantised rules round back onto the integer grid and return the raw dtype;
        continuous rules return float64."""
        values = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        values = values.astype(np.float64)
        if self.rule == "minmax":
            out = values * np.asarray(self.span) + np.asarray(self.low)
        else:
            out = values * float(self.span)
        out = from_model_layout(out, self.layout)
        if self.levels is not None and self.rule in ("bool", "divide"):
            out = np.clip(np.round(out), 0, float(self.span)).astype(self.dtype)
        return out


def _describe(rule: str, is_image: bool, low: Any = None, high: Any = None) -> str:
    if rule == "bool":
        return "bool -> {0, 1}"
    if rule == "divide":
        return "integer value / 255 -> [0, 1]"
    if rule == "keep":
        return "float values already in [0, 1], kept as they are"
    if is_image:
        return f"min-max over all pixels of the train split ({low:g}..{high:g}) -> [0, 1], val/test clipped"
    return (
        "per-feature min-max using the train split's min and max -> [0, 1], val/test clipped "
        "(constant features -> 0)"
    )


def fit_array(x_raw: np.ndarray, train: np.ndarray, *, where: str) -> ArrayPreprocessing:
    """Fit the scaling rule of the module docstring on the training rows ``train`` of ``x_raw``."""
    layout = detect_layout(x_raw, where)
    is_image = layout != "ND"
    if not (np.issubdtype(x_raw.dtype, np.number) or x_raw.dtype == np.bool_):
        raise DataError(f"{where}: data has non-numeric dtype {x_raw.dtype}; save numbers only")
    check_finite(x_raw, where)
    fit_rows = to_model_layout(x_raw[np.sort(train)], layout)
    low, high = float(fit_rows.min()), float(fit_rows.max())
    rule, lo, span, levels = "minmax", low, (high - low if high > low else 1.0), None
    if x_raw.dtype == np.bool_:
        rule, lo, span, levels = "bool", 0.0, 1.0, 2
    elif np.issubdtype(x_raw.dtype, np.integer) and low >= 0 and high <= 255:
        rule, lo, span, levels = "divide", 0.0, 255.0, 256
    elif np.issubdtype(x_raw.dtype, np.floating) and low >= 0.0 and high <= 1.0:
        rule, lo, span, levels = "keep", 0.0, 1.0, None
    elif not is_image:
        flat = fit_rows.astype(np.float64)
        mins, maxs = flat.min(axis=0), flat.max(axis=0)
        lo = tuple(float(v) for v in mins)
        span = tuple(float(v) for v in np.where(maxs > mins, maxs - mins, 1.0))
    shape = tuple(int(s) for s in to_model_layout(x_raw[:1], layout).shape[1:])
    return ArrayPreprocessing(
        kind="image" if is_image else "vector", layout=layout, raw_shape=tuple(int(s) for s in x_raw.shape[1:]),
        dtype=str(x_raw.dtype), rule=rule, low=lo, span=span, clip=True, levels=levels, resize=None,
        shape=shape, description=_describe(rule, is_image, low, high),
    )


def fixed_divide(x_raw: np.ndarray, *, span: float, levels: int, description: str, where: str) -> ArrayPreprocessing:
    """A preprocessing with a fixed rule ``value / span`` on ``levels`` grey levels (named datasets)."""
    layout = detect_layout(x_raw, where)
    shape = tuple(int(s) for s in to_model_layout(x_raw[:1], layout).shape[1:])
    return ArrayPreprocessing(
        kind="image" if layout != "ND" else "vector", layout=layout, raw_shape=tuple(int(s) for s in x_raw.shape[1:]),
        dtype=str(x_raw.dtype), rule="divide", low=0.0, span=float(span), clip=True, levels=levels, resize=None,
        shape=shape, description=description,
    )


def with_resize(pre: ArrayPreprocessing, image_size: int | None, where: str) -> ArrayPreprocessing:
    """Add a square resize to ``image_size`` (images only) when it changes the size."""
    if image_size is None:
        return pre
    if pre.kind != "image":
        raise DataError(f"{where} is tabular data; image_size applies only to images, so leave it unset")
    if image_size < 1:
        raise DataError(f"image_size={image_size} must be a positive number of pixels")
    if tuple(pre.shape[-2:]) == (image_size, image_size):
        return pre
    return replace(
        pre, resize=(image_size, image_size), shape=(pre.shape[0], image_size, image_size),
        description=pre.description + f"; resized to {image_size}x{image_size} (antialiased bilinear)",
    )
