"""Turn a raw (x, y) array pair into reproducible, scaled :class:`Splits`."""

from __future__ import annotations

import numpy as np
import torch

from vaekit.core.errors import DataError
from vaekit.data.resize import resize_images
from vaekit.data.scaling import fit_scaler
from vaekit.data.splitting import three_way_split
from vaekit.data.types import ArrayData, DatasetInfo, LoadOptions, Splits
from vaekit.data.validate import check_finite, to_class_labels, to_example_shape


def _split(x: torch.Tensor, y: torch.Tensor | None, idx: np.ndarray) -> ArrayData:
    index = torch.from_numpy(np.asarray(idx, dtype=np.int64))
    return ArrayData(x=x[index].contiguous(), y=None if y is None else y[index].contiguous())


def finish_splits(
    *, name: str, x: torch.Tensor, y: torch.Tensor | None, train: np.ndarray, val: np.ndarray,
    test: np.ndarray, levels: int | None, n_classes: int | None, scaling: str, is_image: bool,
    opts: LoadOptions,
) -> Splits:
    """Index already-scaled data into splits, resize images if asked, and apply ``limit``."""
    if opts.image_size is not None:
        if not is_image:
            raise DataError(f"{name} is tabular data; image_size applies only to images, so leave it unset")
        if opts.image_size < 1:
            raise DataError(f"image_size={opts.image_size} must be a positive number of pixels")
        if tuple(x.shape[-2:]) != (opts.image_size, opts.image_size):
            x = resize_images(x, opts.image_size, levels)
            scaling += f"; resized to {opts.image_size}x{opts.image_size} (antialiased bilinear)"
    if opts.limit is not None:
        if opts.limit < 1:
            raise DataError(f"limit={opts.limit} must be at least 1 (or None for all training examples)")
        train = train[: opts.limit]
    info = DatasetInfo(
        name=name, shape=tuple(int(s) for s in x.shape[1:]), levels=levels,
        n_classes=n_classes, scaling=scaling, is_image=is_image,
    )
    return Splits(train=_split(x, y, train), val=_split(x, y, val), test=_split(x, y, test), info=info)


def splits_from_arrays(name: str, x_raw: np.ndarray, y_raw: np.ndarray | None, opts: LoadOptions) -> Splits:
    """Validate, split (seeded), scale with train statistics, and wrap raw arrays as tensors."""
    x_raw, is_image = to_example_shape(np.asarray(x_raw), name)
    if not (np.issubdtype(x_raw.dtype, np.number) or x_raw.dtype == np.bool_):
        raise DataError(f"{name}: data has non-numeric dtype {x_raw.dtype}; save numbers only")
    check_finite(x_raw, name)
    y, n_classes = (None, None) if y_raw is None else to_class_labels(y_raw, len(x_raw), name)
    train, val, test = three_way_split(
        len(x_raw), seed=opts.split_seed, val_fraction=opts.val_fraction,
        test_fraction=opts.test_fraction, what=name,
    )
    scaler = fit_scaler(x_raw[np.sort(train)], is_image=is_image)
    x = torch.from_numpy(scaler(x_raw))
    return finish_splits(
        name=name, x=x, y=None if y is None else torch.from_numpy(y), train=train, val=val, test=test,
        levels=scaler.levels, n_classes=n_classes, scaling=scaler.description, is_image=is_image, opts=opts,
    )
