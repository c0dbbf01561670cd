"""Read ``.npy``, ``.npz`` and ``.csv`` files into raw (x, y) numpy arrays."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from vaekit.core.errors import DataError


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


def _text_cell_error(row: list[str], i: int, header: list[str] | None, label_col: int | None, path: Path) -> DataError:
    """Name the column holding text, and say how to use it as labels."""
    for j, cell in enumerate(row):
        if j == label_col:
            continue
        try:
            _parse_cell(cell)
        except ValueError:
            column = f"column {header[j]!r}" if header else f"column {j}"
            ref = header[j] if header else str(j)
            return DataError(
                f"{path}: {column} holds text ({cell.strip()!r} in data row {i}); only numbers are allowed in feature "
                f"columns; drop the column or, if it holds labels, add #label={ref} to the spec"
            )
    return DataError(f"{path}: data row {i} has a non-numeric value; only numbers are allowed")


def read_csv(path_text: str, label: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a numeric CSV (header row optional); ``label`` names or indexes the label column.

    Empty cells become NaN (and are then reported); whole-number data is returned as int64.
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
    label_col = None if label is None else _label_index(label, header, n_cols, path)
    features, labels = [], []
    for i, row in enumerate(rows):
        if len(row) != n_cols:
            raise DataError(f"{path}: data row {i} has {len(row)} columns, expected {n_cols}; fix the row")
        try:
            features.append([_parse_cell(c) for j, c in enumerate(row) if j != label_col])
        except ValueError:
            raise _text_cell_error(row, i, header, label_col, path) from None
        if label_col is not None:
            labels.append(row[label_col].strip())
    x = np.asarray(features, dtype=np.float64)
    if x.shape[1] == 0:
        raise DataError(f"{path}: no feature columns remain after removing the label column")
    finite = np.isfinite(x).all()
    if finite and np.all(x == np.round(x)):
        x = x.astype(np.int64)
    y = None
    if label_col is not None:
        y_arr = np.asarray(labels)
        if _is_numeric_row(labels) and all(label != "" for label in labels):
            y_arr = np.asarray([float(label) for label in labels])
        y = y_arr
    return x, y
