"""Tables with named, mixed-type columns, and their fitted tabular preprocessing.

Column kinds (decided once, when the preprocessing is fitted, over *all* rows of the file):

* a column holding any cell that is not a number is **categorical** (text categories);
* a column of whole numbers is **categorical** (integer codes) when it has at most
  :data:`MAX_INTEGER_CATEGORIES` (10) distinct values, each seen on average at least twice
  (``n_distinct <= n_rows / 2``), *and* either only two values (a flag such as 0/1) or values that
  leave gaps in their range (codes such as 1, 2, 5, 9). Whole numbers that fill their whole range
  min..max without gaps (0, 1, 2, 3: a count or a rating scale) look like a discretised continuous
  quantity and stay **numeric** (keeping their order), as do columns with more distinct values
  or with almost one value per row;
* every other numeric column (floats, wide-ranging integers) is **numeric**;
* ``csv:PATH#categorical=A,B&numeric=C`` overrides the rule for the named columns.

A text column with more than :data:`MAX_TEXT_CATEGORIES` (100) distinct values is refused (it is an
identifier or free text, not a category). Missing cells are an error naming the column and row,
unless the table is loaded with ``data.missing = "mask"`` (:mod:`vaekit.data.missing`: the
encoding is then fitted on the observed cells).

Encoding (the vector the model sees, ``(N, D_encoded)`` float32): numeric columns are
standardised with the *training split's* mean and standard deviation (population sd; a constant
column gets sd = 1); a categorical column becomes a one-hot slice over its categories, whose
vocabulary is taken from all rows (it is part of the schema, not a fitted statistic, and a value
first seen in the test split must still be encodable). This is the plain version of the TVAE
preprocessing (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN"; SDV's TVAE), which
additionally uses mode-specific normalisation of numeric columns; we standardise instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from vaekit.core.errors import DataError
from vaekit.data.preprocessing import Preprocessing

MAX_INTEGER_CATEGORIES = 10
MAX_TEXT_CATEGORIES = 100


@dataclass(frozen=True)
class Table:
    """Named columns of equal length: numeric numpy arrays, or arrays of cell strings."""

    names: tuple[str, ...]
    columns: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.columns):
            raise DataError(f"a table needs one name per column ({len(self.names)} names, {len(self.columns)} columns)")
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise DataError(f"column name(s) {dup} appear more than once; give every column its own name")
        if len({len(c) for c in self.columns}) > 1:
            raise DataError("table columns have different lengths")

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def column(self, name: str) -> np.ndarray:
        return self.columns[self.names.index(name)]

    def without(self, name: str) -> "Table":
        keep = [i for i, n in enumerate(self.names) if n != name]
        return Table(tuple(self.names[i] for i in keep), tuple(self.columns[i] for i in keep))

    def rows(self) -> list[list[Any]]:
        """The table as a list of rows of Python values (for CSV writing)."""
        return [list(row) for row in zip(*(c.tolist() for c in self.columns))] if self.columns else []


def _is_text(values: np.ndarray) -> bool:
    return values.dtype.kind in ("U", "S", "O")


def parse_numbers(values: np.ndarray) -> np.ndarray | None:
    """Cells as float64, or ``None`` if any cell is not a number (bools count as 0/1)."""
    if not _is_text(values):
        return values.astype(np.float64)
    try:
        return np.asarray([float(str(v).strip()) for v in values], dtype=np.float64)
    except ValueError:
        return None


def _check_finite_column(numbers: np.ndarray, name: str, where: str) -> None:
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        raise DataError(
            f"{where}: column {name!r} holds {len(bad)} NaN/inf or missing value(s), first in data row index {int(bad[0])}; "
            "remove or impute them before loading, or train with --set data.missing=mask (or --recipe miwae) to learn "
            "from the observed cells only (MIWAE)"
        )


def infer_kind(values: np.ndarray, name: str, where: str) -> str:
    """``"numeric"`` or ``"categorical"`` by the rule in the module docstring."""
    numbers = parse_numbers(values)
    if numbers is None:
        n_distinct = len(set(str(v) for v in values))
        if n_distinct > MAX_TEXT_CATEGORIES:
            raise DataError(
                f"{where}: text column {name!r} has {n_distinct} distinct values (more than {MAX_TEXT_CATEGORIES}); "
                "it looks like an identifier or free text, not a category — drop the column, or use it as "
                f"the label with #label={name}"
            )
        return "categorical"
    _check_finite_column(numbers, name, where)
    if values.dtype == np.bool_:
        return "categorical"
    if np.all(numbers == np.round(numbers)):
        distinct = np.unique(numbers)
        n_distinct = len(distinct)
        fills_range = n_distinct == int(distinct[-1] - distinct[0]) + 1
        if n_distinct <= MAX_INTEGER_CATEGORIES and 2 * n_distinct <= len(numbers) and (n_distinct <= 2 or not fills_range):
            return "categorical"
    return "numeric"


def _category_key(value: Any) -> Any:
    """Cells compare as numbers when they are numbers ("3", 3 and 3.0 are one category)."""
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return text


def _category_value(key: Any) -> Any:
    """A JSON-able category: whole numbers as int, other numbers as float, text as str."""
    if isinstance(key, float):
        return int(key) if key == round(key) and math.isfinite(key) else key
    return key


def _sort_categories(keys: set) -> list:
    numbers = sorted(k for k in keys if isinstance(k, float))
    texts = sorted(k for k in keys if not isinstance(k, float))
    return numbers + texts


@dataclass(frozen=True)
class TablePreprocessing(Preprocessing):
    """Fitted tabular encoding: ``columns`` is a list of dicts, one per input column, e.g.
    ``{"name": "age", "kind": "numeric", "mean": 41.2, "sd": 12.9, "integer": true, "slice": [0, 1]}`` or
    ``{"name": "colour", "kind": "categorical", "categories": ["blue", "red"], "slice": [1, 3]}``;
    ``slice`` is the [start, stop) range of the column in the encoded vector. ``label`` is
    ``{"name": ..., "classes": [...] | None}`` when a label column was split off."""

    columns: tuple[dict[str, Any], ...]
    label: dict[str, Any] | None = None
    description: str = ""
    kind: str = "table"
    levels: None = None

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return (int(self.columns[-1]["slice"][1]) if self.columns else 0,)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c["name"] for c in self.columns)

    # --- JSON -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "table", "columns": [dict(c) for c in self.columns], "label": self.label,
            "shape": list(self.shape), "levels": None, "description": self.description,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TablePreprocessing":
        try:
            columns = tuple(dict(c) for c in data["columns"])
            for c in columns:
                if c["kind"] not in ("numeric", "categorical"):
                    raise DataError(
                        f"saved table column {c['name']!r} has kind {c['kind']!r}, unknown to this vaekit; upgrade vaekit"
                    )
                c["slice"] = [int(c["slice"][0]), int(c["slice"][1])]
        except (KeyError, TypeError, IndexError) as exc:
            raise DataError(f"saved table preprocessing is incomplete or malformed ({exc!r})") from None
        return cls(columns=columns, label=data.get("label"), description=str(data.get("description", "")))

    # --- apply / invert ---------------------------------------------------------------------
    def _check_columns(self, table: Table, where: str) -> None:
        expected, got = list(self.names), list(table.names)
        missing = [n for n in expected if n not in got]
        extra = [n for n in got if n not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing column(s) {missing}")
            if extra:
                parts.append(f"unexpected column(s) {extra}")
            raise DataError(
                f"{where}: the columns do not match the run's saved preprocessing ({'; '.join(parts)}); "
                f"it expects exactly: {', '.join(expected)}"
            )

    def apply(self, raw: Any, where: str = "data") -> torch.Tensor:
        """A :class:`Table` -> float32 (N, D_encoded), with the saved statistics and categories."""
        if not isinstance(raw, Table):
            raise DataError(
                f"{where}: the run was trained on a table with named columns ({', '.join(self.names)}); "
                "give it a table (csv:PATH or a named table), not an array"
            )
        self._check_columns(raw, where)
        out = np.zeros((len(raw), self.shape[0]), dtype=np.float32)
        for col in self.columns:
            values = raw.column(col["name"])
            start, stop = col["slice"]
            if col["kind"] == "numeric":
                numbers = parse_numbers(values)
                if numbers is None:
                    bad = next(i for i, v in enumerate(values) if parse_numbers(np.asarray([str(v)])) is None)
                    raise DataError(
                        f"{where}: column {col['name']!r} was numeric in the run's training data but data row index "
                        f"{bad} holds {str(values[bad])!r}; give numbers in that column"
                    )
                _check_finite_column(numbers, col["name"], where)
                out[:, start] = (numbers - col["mean"]) / col["sd"]
            else:
                index = {_category_key(c): i for i, c in enumerate(col["categories"])}
                for row, value in enumerate(values):
                    key = _category_key(value)
                    if key not in index:
                        known = ", ".join(repr(c) for c in col["categories"][:10])
                        more = " ..." if len(col["categories"]) > 10 else ""
                        raise DataError(
                            f"{where}: column {col['name']!r} holds {str(value).strip()!r} in data row index {row}, "
                            f"a category the run never saw (known: {known}{more})"
                        )
                    out[row, start + index[key]] = 1.0
        return torch.from_numpy(out)

    def invert(
        self, x: torch.Tensor | np.ndarray, *, sample: bool = False, generator: torch.Generator | None = None,
    ) -> Table:
        """Encoded values (N, D) -> a :class:`Table` in original names and units.

        Numeric: ``z * sd + mean`` (rounded to int64 for columns that were whole numbers). Categorical:
        the category with the largest value in its slice (a probability or one-hot), or with
        ``sample=True`` a category drawn with the slice's probabilities (normalised)."""
        x = torch.as_tensor(x).detach().cpu().to(torch.float64)
        if x.ndim != 2 or x.shape[1] != self.shape[0]:
            raise DataError(f"expected encoded rows of shape (N, {self.shape[0]}); got {tuple(x.shape)}")
        columns = []
        for col in self.columns:
            start, stop = col["slice"]
            if col["kind"] == "numeric":
                values = x[:, start].numpy() * col["sd"] + col["mean"]
                columns.append(np.round(values).astype(np.int64) if col.get("integer") else values)
                continue
            block = x[:, start:stop]
            if sample:
                probs = block.clamp_min(0)
                probs = torch.where(probs.sum(1, keepdim=True) > 0, probs, torch.ones_like(probs))
                idx = torch.multinomial(probs, 1, generator=generator)[:, 0]
            else:
                idx = block.argmax(1)
            cats = np.asarray(col["categories"], dtype=object)
            columns.append(cats[idx.numpy()])
        return Table(self.names, tuple(columns))

    def encode_labels(self, y_raw: np.ndarray | None, where: str) -> tuple[np.ndarray | None, int | None]:
        """Labels as int64 class indices with the saved class list (text labels), else as given."""
        from vaekit.data.validate import to_class_labels

        if y_raw is None:
            return None, None
        classes = (self.label or {}).get("classes")
        if classes is None:
            return to_class_labels(y_raw, len(y_raw), where)
        index = {_category_key(c): i for i, c in enumerate(classes)}
        out = np.empty(len(y_raw), dtype=np.int64)
        for row, value in enumerate(np.asarray(y_raw).reshape(-1)):
            key = _category_key(value)
            if key not in index:
                raise DataError(f"{where}: label {str(value)!r} in data row index {row} is a class the run never saw ({classes})")
            out[row] = index[key]
        return out, len(classes)


def label_classes(y_raw: np.ndarray | None) -> list | None:
    """The class list to save for labels that are not already indices 0..K-1 (e.g. text)."""
    if y_raw is None:
        return None
    y = np.asarray(y_raw).reshape(-1)
    numbers = parse_numbers(y)
    if numbers is not None and np.all(numbers == np.round(numbers)) and (len(numbers) == 0 or numbers.min() >= 0):
        return None
    return [_category_value(k) for k in _sort_categories({_category_key(v) for v in y})]


def fit_table(
    table: Table, train: np.ndarray, *, where: str, categorical: Sequence[str] = (), numeric: Sequence[str] = (),
    label: dict[str, Any] | None = None, observed: np.ndarray | None = None,
) -> TablePreprocessing:
    """Fit the encoding of the module docstring: kinds and vocabularies from all rows, numeric
    mean / sd from the training rows ``train``. ``observed`` (N, columns) bool: fit on the
    observed cells only (``data.missing = "mask"``, :mod:`vaekit.data.missing`)."""
    for forced in (*categorical, *numeric):
        if forced not in table.names:
            raise DataError(f"{where}: no column named {forced!r} to override; columns are: {', '.join(table.names)}")
    both = set(categorical) & set(numeric)
    if both:
        raise DataError(f"{where}: column(s) {sorted(both)} are listed as both categorical and numeric; pick one")
    if not table.names:
        raise DataError(f"{where}: no feature columns remain after removing the label column")
    train = np.sort(np.asarray(train))
    in_train = np.zeros(len(table), dtype=bool)
    in_train[train] = True
    columns, start, n_num, n_cat = [], 0, 0, 0
    for j, (name, values) in enumerate(zip(table.names, table.columns)):
        if observed is not None:  # kinds, vocabulary and statistics from the observed cells
            values = np.asarray(values)[observed[:, j]]
            train = np.flatnonzero(in_train[observed[:, j]])
        if name in categorical:
            kind = "categorical"
        elif name in numeric:
            kind = "numeric"
        else:
            kind = infer_kind(values, name, where)
        if kind == "numeric":
            numbers = parse_numbers(values)
            if numbers is None:
                raise DataError(f"{where}: column {name!r} holds text, so it cannot be numeric; remove it from #numeric=")
            _check_finite_column(numbers, name, where)
            fit = numbers[train]
            sd = float(fit.std())
            columns.append({
                "name": name, "kind": "numeric", "mean": float(fit.mean()), "sd": sd if sd > 0 else 1.0,
                "integer": bool(np.all(numbers == np.round(numbers))), "slice": [start, start + 1],
            })
            start, n_num = start + 1, n_num + 1
        else:
            if not _is_text(values):
                _check_finite_column(values.astype(np.float64), name, where)
            cats = [_category_value(k) for k in _sort_categories({_category_key(v) for v in values})]
            columns.append({"name": name, "kind": "categorical", "categories": cats, "slice": [start, start + len(cats)]})
            start, n_cat = start + len(cats), n_cat + 1
    description = (
        f"table of {len(columns)} columns -> {start} features: {n_num} numeric column(s) standardised with the train "
        f"split's mean and sd, {n_cat} categorical column(s) one-hot encoded"
    )
    return TablePreprocessing(columns=tuple(columns), label=label, description=description)
