"""Turn raw arrays or tables into reproducible, preprocessed :class:`Splits`.

Every loader ends here. The split is seeded and depends only on the number of examples; the
preprocessing is either *fitted* on the training split (a fresh dataset) or, when
``LoadOptions.preprocessing`` holds a saved one (a trained run's ``dataset.json``), *applied* as it is.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from vaekit.core.errors import DataError
from vaekit.data.array_prep import ArrayPreprocessing, detect_layout, fit_array, with_resize
from vaekit.data.missing import check_columns_observed, drop_empty_rows, encode_with_missing, is_missing, missing_cells
from vaekit.data.preprocessing import Preprocessing
from vaekit.data.splitting import three_way_split
from vaekit.data.table import Table, TablePreprocessing, fit_table, label_classes
from vaekit.data.types import ArrayData, DatasetInfo, LoadOptions, Splits
from vaekit.data.validate import to_class_labels

Split = tuple[np.ndarray, np.ndarray, np.ndarray]


def _split(
    x: torch.Tensor | Callable[[np.ndarray], torch.Tensor], y: torch.Tensor | None, idx: np.ndarray,
    factors: torch.Tensor | None = None, mask: torch.Tensor | None = None,
) -> Callable[[], ArrayData]:
    """The split at ``idx``, built when first used; ``x`` is the preprocessed data (N, *shape) or
    a function giving the preprocessed examples at given indices."""
    idx = np.asarray(idx, dtype=np.int64)

    def build() -> ArrayData:
        index = torch.from_numpy(idx)
        pick = lambda t: None if t is None else t[index].contiguous()  # noqa: E731
        xs = x(idx) if callable(x) else x[index].contiguous()
        return ArrayData(x=xs, y=pick(y), factors=pick(factors), mask=pick(mask))

    return build


def _seeded_split(n: int, name: str, opts: LoadOptions) -> Split:
    return three_way_split(
        n, seed=opts.split_seed, val_fraction=opts.val_fraction, test_fraction=opts.test_fraction, what=name,
    )


def finish_splits(
    *, name: str, x: torch.Tensor | Callable[[np.ndarray], torch.Tensor], shape: tuple[int, ...],
    y: torch.Tensor | None, split: Split, n_classes: int | None, pre: Preprocessing, opts: LoadOptions,
    factors: torch.Tensor | None = None, mask: torch.Tensor | None = None,
) -> Splits:
    """Index preprocessed data (and the known ``factors`` (N, K) and observed ``mask`` (N, *shape),
    if any) into splits, apply ``limit`` and describe the dataset. ``x`` is the preprocessed data
    or a function preprocessing the examples at given indices (each split is then built on first
    use); ``shape`` is one example's."""
    train, val, test = split
    if opts.limit is not None:
        if opts.limit < 1:
            raise DataError(f"limit={opts.limit} must be at least 1 (or None for all training examples)")
        train = train[: opts.limit]
    info = DatasetInfo(
        name=name, shape=tuple(int(s) for s in shape), levels=pre.levels, n_classes=n_classes,
        scaling=pre.description, is_image=pre.kind == "image", kind=pre.kind, preprocessing=pre,
    )
    return Splits(train=_split(x, y, train, factors, mask), val=_split(x, y, val, factors, mask),
                  test=_split(x, y, test, factors, mask), info=info)


def _wrong_kind(name: str, saved: Preprocessing, got: str) -> DataError:
    return DataError(
        f"{name} is {got} data but the run was trained on {saved.kind} data ({saved.description}); "
        "use data of the kind the run was trained on"
    )


def _saved_array(name: str, opts: LoadOptions) -> ArrayPreprocessing | None:
    saved = opts.preprocessing
    if saved is None:
        return None
    if not isinstance(saved, ArrayPreprocessing):
        raise _wrong_kind(name, saved, "array")
    if opts.image_size is not None and (saved.kind != "image" or tuple(saved.shape[-2:]) != (opts.image_size,) * 2):
        raise DataError(
            f"image_size={opts.image_size} disagrees with the run's saved preprocessing, which gives examples of shape "
            f"{saved.shape}; leave image_size unset"
        )
    return saved


def splits_from_arrays(
    name: str, x_raw: np.ndarray, y_raw: np.ndarray | None, opts: LoadOptions, *,
    fixed: ArrayPreprocessing | None = None, split: Split | None = None, n_classes: int | None = None,
    factors: np.ndarray | None = None,
) -> Splits:
    """Validate, split (seeded, unless ``split`` is given), preprocess and wrap a raw array.

    The preprocessing is the saved one in ``opts``, else ``fixed`` (a named dataset's rule),
    else fitted on the training split (:func:`vaekit.data.array_prep.fit_array`). ``factors``
    (N, K) integers, the known generative factors, are split alongside (``ArrayData.factors``)."""
    x_raw = np.asarray(x_raw)
    if opts.missing == "mask" and np.issubdtype(x_raw.dtype, np.floating) and np.isnan(x_raw).any():
        raise DataError(
            f"{name}: data.missing=mask learns from tables with missing cells (csv:PATH, breast-cancer); {name} is "
            "an unnamed array (image or vector), whose NaN values it does not mask. Save it as a CSV with a header "
            "row to train on it with missing cells, or impute the NaN values first"
        )
    detect_layout(x_raw, name)
    y, classes = (None, None) if y_raw is None else to_class_labels(y_raw, len(x_raw), name)
    split = split or _seeded_split(len(x_raw), name, opts)
    pre = _saved_array(name, opts)
    if pre is None:
        pre = with_resize(fixed or fit_array(x_raw, split[0], where=name), opts.image_size, name)
    pre.check_raw(x_raw, name)  # the whole array's problems are reported now, whichever split is used

    def preprocess(idx: np.ndarray) -> torch.Tensor:  # one split's rows, when that split is first used
        return pre.apply(x_raw[idx], where=name, checked=True)

    return finish_splits(
        name=name, x=preprocess, shape=tuple(pre.shape), y=None if y is None else torch.from_numpy(y), split=split,
        n_classes=n_classes if n_classes is not None else classes, pre=pre, opts=opts,
        factors=None if factors is None else torch.from_numpy(np.asarray(factors, dtype=np.int64)),
    )


def splits_from_table(
    name: str, table: Table, y_raw: np.ndarray | None, opts: LoadOptions, *, label_name: str | None = None,
    categorical: Sequence[str] = (), numeric: Sequence[str] = (),
) -> Splits:
    """Split (seeded), encode (:mod:`vaekit.data.table`) and wrap a table with optional labels."""
    if opts.image_size is not None:
        raise DataError(f"{name} is tabular data; image_size applies only to images, so leave it unset")
    missing = None
    if opts.missing == "mask":
        missing = missing_cells(table)  # (N, columns)
        if y_raw is not None and any(is_missing(v) for v in np.asarray(y_raw, dtype=object).reshape(-1)):
            raise DataError(f"{name}: the label column {label_name!r} has missing cells; labels must be complete "
                            "(drop those rows, or train without #label=)")
        table, y_raw, missing = drop_empty_rows(table, y_raw, missing, name)
    split = _seeded_split(len(table), name, opts)
    pre = opts.preprocessing
    if pre is None:
        label = None if label_name is None else {"name": label_name, "classes": label_classes(y_raw)}
        if missing is not None:
            check_columns_observed(table, missing, split[0], name)
        pre = fit_table(table, split[0], where=name, categorical=categorical, numeric=numeric, label=label,
                        observed=None if missing is None else ~missing)
    elif not isinstance(pre, TablePreprocessing):
        raise _wrong_kind(name, pre, "table")
    mask = None
    if missing is not None and missing.any():
        pre._check_columns(table, name)
        order = [table.names.index(n) for n in pre.names]  # missing-cell columns in the encoding's order
        x, mask = encode_with_missing(pre, table, missing[:, order], name)
    else:
        x = pre.apply(table, where=name)
    y, n_classes = pre.encode_labels(y_raw, name)
    return finish_splits(
        name=name, x=x, shape=x.shape[1:], y=None if y is None else torch.from_numpy(y), split=split,
        n_classes=n_classes, pre=pre, opts=opts, mask=mask,
    )
