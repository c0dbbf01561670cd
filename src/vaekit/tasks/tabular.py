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
