"""Missing cells of a table: which cells are missing, and the encoded rows with their mask.

A cell is missing when it is empty, a float NaN, or one of :data:`MISSING` (``NA``, ``N/A``,
``NaN``, ``null``, ``none``, ``?``, ``-``; any case). With ``data.missing = "mask"`` a table is
encoded as MIWAE needs it (Mattei & Frellsen 2019, "MIWAE: Deep Generative Modelling and
Imputation of Incomplete Data Sets", sec. 3): the preprocessing is fitted on the observed cells
only, a missing cell is fed to the encoder as the neutral value 0 (a numeric column's observed
mean after standardisation; an all-zero one-hot slice for a categorical column), and a bool mask
(N, D_encoded), True where observed, goes with the rows (``ArrayData.mask`` -> ``Batch.mask``).
All one-hot elements of a categorical column share the column's mask.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from vaekit.core.errors import DataError
from vaekit.data.table import Table, TablePreprocessing

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})


def is_missing(cell: object) -> bool:
    """True for an empty / NA-like cell or a float NaN."""
    if isinstance(cell, (float, np.floating)):
        return bool(np.isnan(cell))
    return str(cell).strip().lower() in MISSING


def missing_cells(table: Table) -> np.ndarray:
    """bool (N, columns): True where a cell is missing."""
    out = np.zeros((len(table), len(table.names)), dtype=bool)
    for j, values in enumerate(table.columns):
        if values.dtype.kind == "f":
            out[:, j] = np.isnan(values)
        else:
            out[:, j] = [is_missing(v) for v in values]
    return out


def drop_empty_rows(table: Table, y: np.ndarray | None, missing: np.ndarray, where: str) -> tuple[Table, np.ndarray | None, np.ndarray]:
    """Rows whose every feature cell is missing carry no information for training: they are
    dropped with a warning on stderr (the same rows every time the file is loaded, so the seeded
    split stays reproducible). A table with no row left is an error."""
    empty = missing.all(axis=1)
    if not empty.any():
        return table, y, missing
    keep = ~empty
    if not keep.any():
        raise DataError(f"{where}: every row has every cell missing; there is nothing to learn from")
    first = int(np.flatnonzero(empty)[0])
    print(f"vaekit: warning: {where}: dropped {int(empty.sum())} row(s) with every cell missing (first: data row "
          f"index {first}); they carry nothing to learn from", file=sys.stderr)
    table = Table(table.names, tuple(np.asarray(c)[keep] for c in table.columns))
    return table, None if y is None else np.asarray(y)[keep], missing[keep]


def check_columns_observed(table: Table, missing: np.ndarray, train: np.ndarray, where: str) -> None:
    """Every column needs observed cells in the training split to fit its statistics."""
    for j, name in enumerate(table.names):
        if missing[:, j].all():
            raise DataError(f"{where}: column {name!r} is missing in every row; drop the column (nothing to learn from)")
        if missing[np.asarray(train), j].all():
            raise DataError(
                f"{where}: column {name!r} has no observed cell in the training split (data.split_seed), so its "
                "scaling cannot be fitted; drop the column or give it observed values"
            )


def encode_with_missing(pre: TablePreprocessing, table: Table, missing: np.ndarray, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode ``table`` with ``pre`` (its saved statistics, never re-fitted) when the cells marked in
    ``missing`` (N, columns, in ``pre``'s column order) are absent.

    Returns x float32 (N, D) with 0 in every missing element, and the observed mask bool (N, D)."""
    names = list(pre.names)
    filled = []
    for j, col in enumerate(pre.columns):
        cells = np.asarray(table.column(col["name"]), dtype=object)
        # A placeholder the preprocessing can encode; the element is zeroed and masked below.
        placeholder = col["mean"] if col["kind"] == "numeric" else col["categories"][0]
        filled.append(np.asarray([placeholder if m else c for c, m in zip(cells, missing[:, j])], dtype=object))
    x = pre.apply(Table(tuple(names), tuple(filled)), where=where)  # (N, D); raises on bad observed cells
    observed = torch.ones_like(x, dtype=torch.bool)
    for j, col in enumerate(pre.columns):
        start, stop = col["slice"]
        observed[torch.from_numpy(missing[:, j]), start:stop] = False
    return torch.where(observed, x, torch.zeros_like(x)), observed
