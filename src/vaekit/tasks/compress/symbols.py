"""Raw arrays <-> the integer symbols the coder codes, for one run.

A run with a discrete likelihood models every data element as one of ``levels`` values:

* discretised logistic: grey level k in 0..levels-1, i.e. the raw whole number k of 8-bit
  (0..255) or 17-level (``digits``, 0..16) data — the run's saved preprocessing maps raw k to
  k / (levels - 1);
* Bernoulli on binary data (a run trained on bool data, or with ``data.binarize``): 0 or 1.

:func:`to_symbols` checks that the array fits the run (values, example shape) and that
:func:`from_symbols` gives back exactly the same bytes — dtype, byte order and shape included
(e.g. a float -0.0 could not survive, and is refused up front instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vaekit.artifacts.load import LoadedRun
from vaekit.core.errors import DataError
from vaekit.data.array_prep import from_model_layout, to_model_layout
from vaekit.tasks.compress.numerics import UnsupportedRun


@dataclass(frozen=True)
class Alphabet:
    """What one data element can be: ``levels`` symbols under ``likelihood``; ``layout`` is the
    raw layout of the run's data (``NHW``, ``NCHW``, ``NHWC``, ``ND``) with ``raw_shape``."""

    likelihood: str
    levels: int
    shape: tuple[int, ...]       # one example as the model sees it
    layout: str
    raw_shape: tuple[int, ...]   # one example as the run's raw data holds it

    @property
    def dim(self) -> int:
        return math.prod(self.shape)


def alphabet(run: LoadedRun) -> Alphabet:
    """The symbols of ``run``'s likelihood, or :class:`UnsupportedRun` when it has none."""
    spec = run.config.model.get("likelihood", {})
    name = spec.get("name") if isinstance(spec, dict) else spec
    pre = run.dataset.get("preprocessing") or {}
    levels = run.dataset.get("levels")
    binary = run.config.data.binarize != "none" or levels == 2
    if pre.get("kind") not in ("image", "vector"):
        raise UnsupportedRun(f"lossless coding needs array data (images or vectors); run {run.path} was trained on "
                             f"{pre.get('kind') or 'data without saved preprocessing'}")
    if pre.get("resize") is not None:
        raise UnsupportedRun(f"run {run.path} resizes its images, so it cannot code the originals losslessly")
    layout, raw_shape = str(pre["layout"]), tuple(int(s) for s in pre["raw_shape"])
    if name == "bernoulli":
        if not binary:
            raise UnsupportedRun(
                f"run {run.path} has a Bernoulli likelihood on grey levels (the BCE loss), which is not a distribution "
                "over its data; lossless coding needs binary data or a discretised logistic "
                "(`vaekit train --recipe compress`)")
        return Alphabet("bernoulli", 2, run.shape, layout, raw_shape)
    if name == "logistic":
        if levels is None or levels < 2:
            raise UnsupportedRun(f"run {run.path} was trained on continuous data; nothing to code losslessly")
        if binary and levels != 2:
            raise UnsupportedRun(
                f"run {run.path} was trained on binarised data (data.binarize={run.config.data.binarize}) with a "
                "grey-level likelihood; train with --set data.binarize=none to code grey levels")
        return Alphabet("logistic", int(levels), run.shape, layout, raw_shape)
    raise UnsupportedRun(
        f"run {run.path} has likelihood {name!r}; lossless coding needs a discrete one: 'logistic' (grey levels) "
        "or 'bernoulli' (binary data), e.g. `vaekit train --recipe compress`")


def _examples(x: np.ndarray, a: Alphabet) -> np.ndarray:
    """(N, *model shape) view of ``x``: a batch in the run's raw layout, one raw example, or a
    batch already in the model's layout."""
    if x.shape[1:] == a.raw_shape and x.ndim >= 2:
        return to_model_layout(x, a.layout) if a.layout != "ND" else x
    if x.shape == a.raw_shape:
        return _examples(x[None], a)
    if x.shape[1:] == a.shape:
        return x
    raise DataError(
        f"an array of shape {x.shape} does not fit this run, whose examples have shape {a.raw_shape} "
        f"(give (N, {', '.join(map(str, a.raw_shape))}) or one example)")


def to_symbols(x: np.ndarray, a: Alphabet) -> np.ndarray:
    """Raw array -> int32 symbols (N, D); refuses anything :func:`from_symbols` would not restore."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"cannot code an array of dtype {x.dtype}: give booleans, integers or whole-number floats")
    if x.size == 0:
        raise DataError(f"the array of shape {x.shape} is empty: nothing to compress")
    ex = _examples(x, a)
    values = ex.reshape(ex.shape[0], -1)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) if x.dtype.kind == "f" else np.zeros(values.shape, bool)
        bad |= (values < 0) | (values > a.levels - 1)
        if x.dtype.kind == "f":
            bad |= values != np.round(values)
    if bad.any():
        first = values[bad][0]
        what = "0 or 1" if a.levels == 2 else f"whole numbers 0..{a.levels - 1}"
        raise DataError(
            f"value {first!r} cannot be coded by this run, whose likelihood covers {what} "
            f"({int(bad.sum())} such value(s)); give data on the scale the run was trained on")
    symbols = values.astype(np.int32)
    restored = from_symbols(symbols, a, x.shape, x.dtype.str)
    if restored.tobytes() != np.ascontiguousarray(x).tobytes():
        raise DataError("this array would not come back bit for bit (e.g. negative zeros in a float array); "
                        "convert it to integers first")
    return symbols


def from_symbols(symbols: np.ndarray, a: Alphabet, shape: tuple[int, ...] | list[int], dtype: str) -> np.ndarray:
    """int symbols (N, D) -> the original array (``shape``, ``dtype``), undoing :func:`_examples`."""
    shape = tuple(shape)
    ex = symbols.reshape(symbols.shape[0], *a.shape).astype(np.dtype(dtype))
    if shape[1:] == a.raw_shape and len(shape) >= 2:
        out = from_model_layout(ex, a.layout) if a.layout != "ND" else ex
    elif shape == a.raw_shape:
        out = (from_model_layout(ex, a.layout) if a.layout != "ND" else ex)[0]
    else:
        out = ex
    return np.ascontiguousarray(out.reshape(shape))
