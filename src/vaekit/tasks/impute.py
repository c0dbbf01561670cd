"""Tabular imputation: fill the missing cells of a table with a trained VAE (on complete rows,
or a MIWAE run trained on rows with missing cells), keeping every other cell exactly as given.

A missing cell is an empty cell or one of :data:`MISSING` (``NA``, ``NaN``, ``null``, ``?`` ...,
any case). Rows are encoded with the run's *saved* preprocessing (``dataset.json``; never
re-fitted): numeric columns standardised with the training split's mean and sd, categorical
columns one-hot. A missing numeric cell hides one encoded element, a missing categorical cell
its whole one-hot slice. The hidden elements are then filled by the samplers of
:mod:`vaekit.tasks.inpaint` (pseudo-Gibbs, Rezende et al. 2014; Metropolis-within-Gibbs, Mattei
& Frellsen 2018), ``n`` chains per row. The filled value of a cell is the average over the ``n``
chains' decoder means (for a numeric column: an estimate of E[x_m | x_o], the value that
minimises the expected squared error; for a categorical column: the category with the highest
average probability), mapped back to the column's original units (whole numbers where the
training column held whole numbers).

``method="importance"`` (:mod:`vaekit.tasks.impute_importance`; Mattei & Frellsen 2019, sec. 4)
fills a cell with the self-normalised importance-sampling estimate of E[x_m | x_o] over ``n``
(default 1000) draws of the encoder instead of chains; it is the default for runs trained with
``data.missing = "mask"`` (the ``miwae`` recipe), whose encoder was trained as that proposal.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.core.errors import DataError
from vaekit.data import Table
from vaekit.data.missing import MISSING, encode_with_missing, is_missing  # noqa: F401  (MISSING re-exported)
from vaekit.tasks.impute_importance import DEFAULT_K, importance_impute
from vaekit.tasks.inpaint import ALIASES, METHODS, InpaintError, complete
from vaekit.tasks.tabular import table_csv, table_preprocessing

IMPUTE_METHODS = ("importance", *METHODS)
DEFAULT_CHAINS = 8


@dataclass(frozen=True)
class Imputed:
    """The filled table (original column names, observed cells exactly as read), which cells were
    missing (N, columns) and the sampler's statistics."""

    table: Table
    missing: np.ndarray
    stats: dict[str, Any]


def default_method(run: Any) -> str:
    """``importance`` for a run trained on rows with missing cells (MIWAE), else ``pseudo-gibbs``."""
    data = getattr(getattr(run, "config", None), "data", None)
    return "importance" if getattr(data, "missing", "refuse") == "mask" else "pseudo-gibbs"


def read_table_with_missing(path: str | Path) -> Table:
    """A CSV with a header row into a :class:`Table` of cell strings, missing cells allowed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file; give the CSV to impute")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [row for row in csv.reader(fh) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path} as CSV ({exc}); save it as UTF-8 comma-separated text") from None
    if len(rows) < 2:
        raise DataError(f"{path} needs a header row naming the columns and at least one data row")
    header = [c.strip() for c in rows[0]]
    for i, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise DataError(f"{path}: data row {i} has {len(row)} cells, the header has {len(header)}; fix the row")
    columns = tuple(np.asarray([row[j].strip() for row in rows[1:]], dtype=object) for j in range(len(header)))
    return Table(tuple(header), columns)


def _encode(pre, table: Table, where: str) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(x (N, D) encoded with missing elements 0, observed (N, D) bool, missing cells (N, C) bool)."""
    names = list(pre.names)
    extra = [n for n in table.names if n not in names and n != (pre.label or {}).get("name")]
    absent = [n for n in names if n not in table.names]
    if absent or extra:
        parts = ([f"missing column(s) {absent}"] if absent else []) + ([f"unexpected column(s) {extra}"] if extra else [])
        raise DataError(f"{where}: the columns do not match the run's ({'; '.join(parts)}); it expects: {', '.join(names)}")
    missing = np.zeros((len(table), len(names)), dtype=bool)
    for j, name in enumerate(names):
        missing[:, j] = [is_missing(c) for c in np.asarray(table.column(name), dtype=object)]
    x, observed = encode_with_missing(pre, table, missing, where)  # (N, D) zero-filled, (N, D) bool
    return x, observed, missing


def impute_encoded(
    run: Any, x: torch.Tensor, observed: torch.Tensor, *, n: int | None = None, method: str = "pseudo-gibbs",
    steps: int | None = None, seed: int = 0, cond: torch.Tensor | None = None, batch_size: int = 2048,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Encoded rows (N, D) with a mask (N, D) -> the rows with their unobserved elements replaced
    by the average of ``n`` chains' decoder means (default 8) or, with ``method="importance"``, by
    the importance-weighted average over ``n`` encoder draws (default 1000); observed elements
    unchanged (bit for bit). ``x`` must hold 0 in unobserved elements for ``importance`` (the
    input MIWAE's encoder is trained on)."""
    model = getattr(run, "model", run)
    method = ALIASES.get(method, method)
    if method not in IMPUTE_METHODS:
        raise InpaintError(f"unknown imputation method {method!r}; choose one of: {', '.join(IMPUTE_METHODS)}")
    if n is None:
        n = DEFAULT_K if method == "importance" else DEFAULT_CHAINS
    if n < 1:
        raise InpaintError(f"n must be at least 1 (got {n})")
    if x.dim() != 2 or tuple(x.shape[1:]) != tuple(model.shape):
        raise InpaintError(f"encoded rows must have shape (N, {model.shape[0]}); got {tuple(x.shape)}")
    if getattr(model, "cond_dim", 0) and cond is None:
        raise InpaintError("this run is conditional (a cvae): the table needs its label column to impute")
    if method == "importance":
        if steps is not None:
            raise InpaintError("--steps belongs to the chain samplers; importance sampling takes -n draws per row")
        filled, st = importance_impute(model, x.float(), observed, k=n, seed=seed, cond=cond)
        return filled, st
    gen = torch.Generator().manual_seed(seed)
    out = x.clone().float()
    per_pass = max(1, batch_size // n)
    stats: dict[str, Any] = {}
    accept = []
    for start in range(0, x.shape[0], per_pass):
        xs, os_ = x[start : start + per_pass].float(), observed[start : start + per_pass]
        m = xs.shape[0]
        xr, orr = xs.repeat(n, 1), os_.repeat(n, 1)  # (n * m, D): chain i of row r at i * m + r
        cr = None if cond is None else torch.as_tensor(cond)[start : start + per_pass].repeat(n)
        done, st = complete(model, xr, orr, method=method, steps=steps, cond=cr, generator=gen)
        avg = done.reshape(n, m, -1).mean(0)
        out[start : start + m] = torch.where(os_, xs, avg)
        stats["steps"] = st["steps"]
        if "acceptance" in st:
            accept.append(st["acceptance"])
    if accept:
        stats["acceptance"] = float(np.mean(accept))
    return out, stats


def impute_table(
    run: Any, table: Table, *, n: int | None = None, method: str | None = None, steps: int | None = None, seed: int = 0,
    where: str = "data",
) -> Imputed:
    """Fill the missing cells of ``table`` (a :class:`Table` with the run's column names; cells
    as text or numbers, missing = :func:`is_missing`). Observed cells come back exactly as given;
    a label column of a conditional run conditions the model and is passed through. ``method``:
    ``importance``, ``pseudo-gibbs`` or ``metropolis-within-gibbs`` (default: :func:`default_method`)."""
    method = ALIASES.get(method, method) if method else default_method(run)
    pre = table_preprocessing(run.dataset.get("preprocessing"))
    if len(table) == 0:
        raise DataError(f"{where} has no rows to impute")
    x, observed, missing = _encode(pre, table, where)
    cond = None
    label_name = (pre.label or {}).get("name")
    if getattr(run.model, "cond_dim", 0):
        if not label_name or label_name not in table.names:
            raise InpaintError(f"{run.path} is a conditional run: {where} needs its label column {label_name or 'label'!r}")
        labels = np.asarray(table.column(label_name), dtype=object)
        if any(is_missing(v) for v in labels):
            raise DataError(f"{where}: the label column {label_name!r} of a conditional run may not have missing cells")
        y, _ = pre.encode_labels(labels, where)
        cond = torch.as_tensor(y, dtype=torch.long)
    filled, stats = impute_encoded(run, x, observed, n=n, method=method, steps=steps, seed=seed, cond=cond)
    decoded = pre.invert(filled)
    columns = []
    for name in table.names:
        given = np.asarray(table.column(name), dtype=object)
        if name not in pre.names:
            columns.append(given)
            continue
        j = pre.names.index(name)
        values = np.asarray(decoded.column(name), dtype=object)
        columns.append(np.where(missing[:, j], values, given))
    n_used = stats.get("k", n if n is not None else DEFAULT_CHAINS)
    stats.update(cells=int(missing.sum()), rows=int(missing.any(1).sum()), method=method, n=n_used)
    return Imputed(Table(table.names, tuple(columns)), missing, stats)


def impute_csv(run: Any, path: str | Path, **kw: Any) -> tuple[Imputed, str]:
    """Read ``path`` (missing cells allowed), impute it; returns the result and its CSV text."""
    if run.dataset.get("kind") != "table" and (run.dataset.get("preprocessing") or {}).get("kind") != "table":
        raise InpaintError(
            f"{run.path} was trained on {run.dataset.get('kind') or 'array'} data, not a table; `vaekit impute` fills "
            "table cells (use `vaekit inpaint` for images and vectors)"
        )
    result = impute_table(run, read_table_with_missing(path), where=str(path), **kw)
    return result, table_csv(result.table)

