"""The file-based spec forms: ``npy:PATH``, ``npz:PATH``, ``csv:PATH[#label=COL&categorical=A,B&numeric=C]``,
``folder:PATH``."""

from __future__ import annotations

import re

from vaekit.core.errors import DataError
from vaekit.data.array_files import pop_label, read_csv, read_npy, read_npz
from vaekit.data.array_prep import ArrayPreprocessing
from vaekit.data.assemble import splits_from_arrays, splits_from_table
from vaekit.data.catalog import SPEC_FORMS, SpecForm
from vaekit.data.folder import read_folder
from vaekit.data.table import TablePreprocessing
from vaekit.data.types import LoadOptions, Splits

CSV_OPTIONS = ("label", "categorical", "numeric")
_OPTIONS_MARK = re.compile(r"#(?=(?:label|categorical|numeric)=)")


def parse_csv_spec(arg: str) -> tuple[str, dict[str, str]]:
    """``PATH#label=COL&categorical=A,B&numeric=C`` -> (PATH, {option: value}).

    Options start at the last ``#`` followed by a known option name, so paths may contain ``#``."""
    marks = list(_OPTIONS_MARK.finditer(arg))
    if not marks:
        return arg, {}
    path, fragment = arg[: marks[-1].start()], arg[marks[-1].end():]
    options: dict[str, str] = {}
    for item in fragment.split("&"):
        key, sep, value = item.partition("=")
        if not sep or key not in CSV_OPTIONS:
            raise DataError(
                f"csv option {item!r} is not understood; write csv:PATH#label=COL&categorical=A,B&numeric=C"
            )
        options[key] = value
    return path, options


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def _load_npy(spec: str, arg: str, opts: LoadOptions) -> Splits:
    x, y = read_npy(arg)
    return splits_from_arrays(spec, x, y, opts)


def _load_npz(spec: str, arg: str, opts: LoadOptions) -> Splits:
    x, y = read_npz(arg)
    return splits_from_arrays(spec, x, y, opts)


def _load_csv(spec: str, arg: str, opts: LoadOptions) -> Splits:
    """Mixed-type CSV -> a table (rules in :mod:`vaekit.data.table`). With a saved table
    preprocessing that had a label column, a column of that name is used as the label again."""
    path, options = parse_csv_spec(arg)
    table, has_header = read_csv(path, allow_missing=opts.missing == "mask")
    label = options.get("label")
    saved = opts.preprocessing
    if label is None and isinstance(saved, TablePreprocessing) and saved.label and saved.label["name"] in table.names:
        label = saved.label["name"]
    features, y, label_name = pop_label(table, label, has_header, path)
    return splits_from_table(
        spec, features, y, opts, label_name=label_name,
        categorical=_names(options.get("categorical")), numeric=_names(options.get("numeric")),
    )


def _load_folder(spec: str, arg: str, opts: LoadOptions) -> Splits:
    """With a saved preprocessing, images are read at its raw size and channel count."""
    size, saved = opts.image_size, opts.preprocessing
    if isinstance(saved, ArrayPreprocessing) and saved.kind == "image" and saved.layout in ("NHW", "NHWC"):
        size = saved.raw_shape[:2]
    x, y, _ = read_folder(arg, size)
    return splits_from_arrays(spec, x, y, opts)


SPEC_FORMS.register("npy")(SpecForm(
    "npy:PATH", "a .npy array: (N, D) tabular, (N, H, W) / (N, H, W, C) / (N, C, H, W) images; unlabelled",
    _load_npy,
))
SPEC_FORMS.register("npz")(SpecForm(
    "npz:PATH", "a .npz with arrays x and optional y (labels); a lone array is used as x", _load_npz,
))
SPEC_FORMS.register("csv")(SpecForm(
    "csv:PATH[#label=COLUMN]",
    "table with numeric and text columns, header optional; #label=NAME or #label=INDEX picks the label column; "
    "&categorical=A,B / &numeric=C override the column kinds",
    _load_csv,
))
SPEC_FORMS.register("folder")(SpecForm(
    "folder:PATH", "image folder; one sub-folder per class gives labels; grayscale unless any image is colour",
    _load_folder,
))
