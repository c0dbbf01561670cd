"""The file-based spec forms: ``npy:PATH``, ``npz:PATH``, ``csv:PATH[#label=COL]``, ``folder:PATH``."""

from __future__ import annotations

from vaekit.data.array_files import read_csv, read_npy, read_npz
from vaekit.data.assemble import splits_from_arrays
from vaekit.data.catalog import SPEC_FORMS, SpecForm
from vaekit.data.folder import read_folder
from vaekit.data.types import LoadOptions, Splits

_LABEL_MARK = "#label="


def _load_npy(spec: str, arg: str, opts: LoadOptions) -> Splits:
    x, y = read_npy(arg)
    return splits_from_arrays(spec, x, y, opts)


def _load_npz(spec: str, arg: str, opts: LoadOptions) -> Splits:
    x, y = read_npz(arg)
    return splits_from_arrays(spec, x, y, opts)


def _load_csv(spec: str, arg: str, opts: LoadOptions) -> Splits:
    path, label = arg, None
    if _LABEL_MARK in arg:
        path, label = arg.rsplit(_LABEL_MARK, 1)
    x, y = read_csv(path, label)
    return splits_from_arrays(spec, x, y, opts)


def _load_folder(spec: str, arg: str, opts: LoadOptions) -> Splits:
    x, y, _ = read_folder(arg, opts.image_size)
    return splits_from_arrays(spec, x, y, opts)


SPEC_FORMS.register("npy")(SpecForm(
    "npy:PATH", "a .npy array: (N, D) tabular, (N, H, W) / (N, H, W, C) / (N, C, H, W) images; unlabelled",
    _load_npy,
))
SPEC_FORMS.register("npz")(SpecForm(
    "npz:PATH", "a .npz with arrays x and optional y (labels); a lone array is used as x", _load_npz,
))
SPEC_FORMS.register("csv")(SpecForm(
    "csv:PATH[#label=COLUMN]", "numeric CSV, header optional; #label=NAME or #label=INDEX picks the label column",
    _load_csv,
))
SPEC_FORMS.register("folder")(SpecForm(
    "folder:PATH", "image folder; one sub-folder per class gives labels; grayscale unless any image is colour",
    _load_folder,
))
