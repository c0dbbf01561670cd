"""Write model outputs for tabular data back in the table's own names and units.

Samples and reconstructions of a table model are encoded rows (N, D): standardised numbers and,
per categorical column, a slice of probabilities (the decoder mean) or a one-hot (a sample).
:func:`to_table` inverts the run's saved preprocessing (``run.dataset["preprocessing"]``):
numeric columns are un-standardised (rounded where the training column held whole numbers);
a categorical column becomes the category with the highest probability or, with
``sample=True``, one drawn from those probabilities. :func:`write_csv` writes a table with its
original header (plus optional extra columns such as latent codes or labels), atomically.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from vaekit.core.atomic import write_text_atomic
from vaekit.core.errors import VaekitError
from vaekit.data import Preprocessing, Table


def table_preprocessing(preprocessing: Preprocessing | Mapping[str, Any] | None) -> Preprocessing:
    """The saved preprocessing as an object; it must be a table's."""
    if preprocessing is None:
        raise VaekitError("this run's dataset.json has no saved preprocessing (an old run); retrain it to write tables")
    pre = Preprocessing.from_json(dict(preprocessing)) if not isinstance(preprocessing, Preprocessing) else preprocessing
    if pre.kind != "table":
        raise VaekitError(f"the run was trained on {pre.kind} data, not a table; write images or arrays instead")
    return pre


def to_table(
    x_encoded: torch.Tensor | np.ndarray, preprocessing: Preprocessing | Mapping[str, Any], *,
    sample: bool = False, generator: torch.Generator | None = None,
) -> Table:
    """Encoded rows (N, D) -> a :class:`~vaekit.data.Table` with the original column names and units.

    ``sample=False``: each categorical column takes its most probable category;
    ``sample=True``: a category drawn with the slice's probabilities (seeded by ``generator``)."""
    return table_preprocessing(preprocessing).invert(x_encoded, sample=sample, generator=generator)


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value) and value == round(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    return str(value)


def table_csv(table: Table, extra: Mapping[str, Sequence[Any]] | None = None) -> str:
    """CSV text: the header (table columns, then ``extra`` columns), then one line per row."""
    extra = dict(extra or {})
    for name, values in extra.items():
        if len(values) != len(table):
            raise VaekitError(f"extra column {name!r} has {len(values)} values for {len(table)} rows")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*table.names, *extra])
    columns = [*(c.tolist() for c in table.columns), *(list(v) for v in extra.values())]
    for row in zip(*columns):
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def write_csv(path: str | Path, table: Table, extra: Mapping[str, Sequence[Any]] | None = None) -> Path:
    """Write :func:`table_csv` to ``path`` atomically (a good file is never half-replaced)."""
    path = Path(path)
    write_text_atomic(path, table_csv(table, extra))
    return path


def numeric_positions(preprocessing: Preprocessing | Mapping[str, Any]) -> list[int]:
    """Positions of the numeric columns in an encoded row."""
    pre = table_preprocessing(preprocessing)
    return [int(c["slice"][0]) for c in pre.to_json()["columns"] if c["kind"] == "numeric"]


@torch.no_grad()
def generate_rows(
    model: torch.nn.Module, n: int, preprocessing: Preprocessing | Mapping[str, Any], *,
    generator: torch.Generator | None = None, temperature: float = 1.0, mean: bool = False,
    cond: torch.Tensor | None = None,
) -> tuple[Table, torch.Tensor]:
    """``n`` generated rows in original names and units, and the encoded rows they came from.

    z ~ p(z) (standard deviation scaled by ``temperature``), then per row, with ``mean=False``, a
    draw from p(x|z): numeric values from the decoder's Gaussian (its mean plus its predicted sd
    times a standard normal), categories from its softmax; with ``mean=True`` the decoder's means
    and each column's most probable category. All randomness comes from ``generator``. ``cond``:
    labels (n,) for a conditional model."""
    if n < 1:
        raise ValueError("n must be at least 1")
    pre = table_preprocessing(preprocessing)
    c = None
    if cond is not None and getattr(model, "cond_dim", 0):
        c = torch.as_tensor(cond).to(model.device)
    z = model.sample_codes(n, generator=generator, temperature=temperature, cond=model.condition(c))
    encoded = []
    numeric = numeric_positions(pre)
    for start in range(0, n, 2_000):
        cc = None if c is None else c[start : start + 2_000]
        px = model.decode(z[start : start + 2_000], cc)
        rows = px.mean.reshape(px.mean.shape[0], -1).cpu().to(torch.float64)
        scale = getattr(px, "scale", None)
        if not mean and numeric and scale is not None:
            scale = scale.reshape(rows.shape[0], -1).cpu().to(torch.float64)
            noise = torch.randn(rows.shape[0], len(numeric), generator=generator, dtype=torch.float64)
            rows[:, numeric] += scale[:, numeric] * noise
        encoded.append(rows)
    x = torch.cat(encoded)
    return to_table(x, pre, sample=not mean, generator=generator), x


def label_values(preprocessing: Preprocessing | Mapping[str, Any], y: torch.Tensor | np.ndarray) -> tuple[str, list[Any]]:
    """(column name, values) of labels: the label column's own name and class names when the run
    saved them (text labels), else ``label`` and the class indices."""
    pre = table_preprocessing(preprocessing)
    info = pre.label or {}
    classes = info.get("classes")
    idx = [int(v) for v in np.asarray(torch.as_tensor(y).cpu()).reshape(-1)]
    values = [classes[i] for i in idx] if classes else idx
    return str(info.get("name") or "label"), values


def free_name(wanted: str, taken: Sequence[str]) -> str:
    """``wanted``, or ``_wanted``, ``__wanted`` ... whichever is not a column name already."""
    name = wanted
    while name in taken:
        name = "_" + name
    return name


def interleave(a: Table, b: Table) -> Table:
    """Rows a[0], b[0], a[1], b[1], ... of two tables with the same columns and length."""
    if a.names != b.names or len(a) != len(b):
        raise VaekitError("interleave: the two tables need the same columns and the same number of rows")
    columns = []
    for ca, cb in zip(a.columns, b.columns):
        out = np.empty(2 * len(a), dtype=object)
        out[0::2], out[1::2] = list(ca), list(cb)
        columns.append(out)
    return Table(a.names, tuple(columns))


def lead_csv(lead: Mapping[str, Sequence[Any]], table: Table, extra: Mapping[str, Sequence[Any]] | None = None) -> str:
    """Like :func:`table_csv` but with ``lead`` columns first (e.g. ``row``, ``which``)."""
    merged = Table((*lead, *table.names), (*(np.asarray(list(v), dtype=object) for v in lead.values()), *table.columns))
    return table_csv(merged, extra)
