"""Read ``.npy`` and ``.npz`` files into raw (x, y) numpy arrays, and ``.csv`` files into tables."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from vaekit.core.errors import DataError
from vaekit.data.table import Table


def existing_file(path_text: str, kind: str) -> Path:
    """Return the path if it is a non-empty file, else a :class:`DataError` saying what to do."""
    path = Path(path_text).expanduser()
    if not path_text:
        raise DataError(f"no path given; write the spec as {kind}:PATH")
    if not path.exists():
        raise DataError(f"{kind} file {path} does not exist; check the path in the spec '{kind}:PATH'")
    if not path.is_file():
        raise DataError(f"{path} is not a file; give the path of a .{kind} file")
    if path.stat().st_size == 0:
        raise DataError(f"{kind} file {path} is empty (0 bytes); regenerate it")
    return path


def read_npy(path_text: str) -> tuple[np.ndarray, None]:
    """Load an ``.npy`` array (no pickles) as unlabelled data."""
    path = existing_file(path_text, "npy")
    try:
        return np.load(path, allow_pickle=False), None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {path} as a .npy array ({exc}); save it with numpy.save") from None


def read_npz(path_text: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Load arrays ``x`` and optional ``y`` from an ``.npz``; a lone array is taken as ``x``."""
    path = existing_file(path_text, "npz")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {path} as a .npz archive ({exc}); save it with numpy.savez") from None
    if len(arrays) == 1:
        return next(iter(arrays.values())), None
    if "x" not in arrays:
        raise DataError(
            f"{path} holds arrays {sorted(arrays)} but none is named 'x'; "
            "save it as numpy.savez(path, x=data, y=labels)"
        )
    return arrays["x"], arrays.get("y")


def _parse_cell(text: str) -> float:
    text = text.strip()
    return float("nan") if text == "" else float(text)


def _is_numeric_row(row: list[str]) -> bool:
    try:
        [_parse_cell(cell) for cell in row]
    except ValueError:
        return False
    return True


def _label_index(label: str, header: list[str] | None, n_cols: int, path: Path) -> int:
    if header is not None and label in header:
        return header.index(label)
    if label.lstrip("-").isdigit():
        index = int(label)
        if -n_cols <= index < n_cols:
            return index % n_cols
        raise DataError(f"{path}: label column index {index} is out of range for {n_cols} columns")
    names = ", ".join(header) if header else "(no header row)"
    raise DataError(f"{path}: no column named {label!r}; columns are: {names}. Use #label=NAME or #label=INDEX")


def _check_separator(rows: list[list[str]], path: Path) -> None:
    """A file written with ``;`` (or tabs) reads as one text column per row: say so plainly."""
    sample = rows[:5]
    for sep, name in ((";", "semicolons (;)"), ("\t", "tabs")):
        if sample and all(len(row) == 1 and sep in row[0] for row in sample):
            raise DataError(
                f"{path} looks separated by {name}, not commas; use commas: save it as comma-separated CSV "
                "(and '.' as the decimal point)"
            )


def _check_header(header: list[str], rows: list[list[str]], path: Path) -> None:
    """A first row taken as header whose text also appears below it, in the same text column,
    is data: a file with text columns needs a header row."""
    for j, name in enumerate(header):
        below = {row[j].strip() for row in rows}
        if name and name in below and not _is_numeric_row([name]):
            raise DataError(
                f"{path}: the first row looks like data, not a header ({name!r} also appears in column {j} below); "
                "files with text columns need a header row naming the columns — add one"
            )


def read_csv(path_text: str, *, allow_missing: bool = False) -> tuple[Table, bool]:
    """Read a CSV with numeric and text columns into a :class:`Table` of cell strings.

    The first row is a header when any of its cells is not a number; without a header the
    columns are named ``x0, x1, ...``. Rows must all have the same number of cells. An empty
    cell is an error naming its column and row (missing values are not imputed). Which columns
    are numeric and which categorical is decided later, by :mod:`vaekit.data.table`.
    ``allow_missing``: keep empty cells as ``""`` (``data.missing = "mask"``).
    Returns ``(table, has_header)``.
    """
    path = existing_file(path_text, "csv")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [row for row in csv.reader(fh) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path} as CSV ({exc}); save it as UTF-8 comma-separated text") from None
    _check_separator(rows, path)
    header = None
    if rows and not _is_numeric_row(rows[0]):
        header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    if not rows:
        raise DataError(f"{path} has no data rows; add at least 3 rows of numbers")
    n_cols = len(header) if header else len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != n_cols:
            raise DataError(f"{path}: data row {i} has {len(row)} columns, expected {n_cols}; fix the row")
    names = [name or f"x{j}" for j, name in enumerate(header)] if header else [f"x{j}" for j in range(n_cols)]
    if header:
        _check_header(header, rows, path)
    columns = []
    for j, name in enumerate(names):
        cells = [row[j].strip() for row in rows]
        empty = [i for i, cell in enumerate(cells) if cell == ""]
        if empty and not allow_missing:
            raise DataError(
                f"{path}: column {name!r} has {len(empty)} empty cell(s), first in data row index {empty[0]}; "
                "fill in or remove those rows, or train with --set data.missing=mask (or --recipe miwae) to learn "
                "from the observed cells only (MIWAE)"
            )
        columns.append(np.asarray(cells, dtype=str))
    return Table(tuple(names), tuple(columns)), header is not None


def pop_label(table: Table, label: str | None, has_header: bool, path: str) -> tuple[Table, np.ndarray | None, str | None]:
    """Split the label column (``label`` = a name, or an index) off a table.

    Labels that are all numbers are returned as float64, otherwise as strings.
    Returns ``(features, labels, label_name)``."""
    if label is None:
        return table, None, None
    header = list(table.names) if has_header else None
    index = _label_index(label, header, len(table.names), Path(path))
    name = table.names[index]
    cells = table.columns[index]
    y: np.ndarray = np.asarray(cells)
    if _is_numeric_row([str(c) for c in cells]):
        y = np.asarray([float(c) for c in cells])
    rest = table.without(name)
    if not rest.names:
        raise DataError(f"{path}: no feature columns remain after removing the label column")
    return rest, y, name
