"""``mnist`` and ``fashion-mnist``: IDX files found on disk or downloaded with checksums."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.core.errors import DataError
from vaekit.data.array_prep import fixed_divide
from vaekit.data.assemble import splits_from_arrays
from vaekit.data.catalog import DATASETS, NamedSource
from vaekit.data.checksums import Checksum
from vaekit.data.download import fetch
from vaekit.data.idx import read_image_label_pair
from vaekit.data.locate import cache_dir, offline, search_dirs
from vaekit.data.splitting import two_way_split
from vaekit.data.types import LoadOptions, Splits

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class IdxDataset:
    """An IDX dataset: where to download it (``url_env`` overrides the base URL) and checksums
    per ``.gz`` file name (any one matching checksum accepts the file)."""

    name: str
    description: str
    base_url: str
    url_env: str
    checksums: dict[str, tuple[Checksum, ...]]
    apt_package: str | None = None

    def url(self, base_url: str | None = None) -> str:
        base = base_url or os.environ.get(self.url_env) or self.base_url
        return base if base.endswith("/") else base + "/"


# Fashion-MNIST: the Debian package (dataset-fashion-mnist) re-compresses the official files, so
# its .gz bytes differ from the official download while the IDX content is identical. We therefore
# check the SHA-256 of the *decompressed* content (computed from /usr/share/datasets/fashion-mnist),
# and also accept the official .gz MD5s published by Zalando Research (and used by torchvision).
FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    description="Zalando Fashion-MNIST, 70,000 28x28 grayscale clothing images, 10 classes (official 10k test)",
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    url_env="VAEKIT_FASHION_MNIST_URL",
    apt_package="dataset-fashion-mnist",
    checksums={
        "train-images-idx3-ubyte.gz": (
            Checksum("sha256", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", "payload"),
            Checksum("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ),
        "train-labels-idx1-ubyte.gz": (
            Checksum("sha256", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", "payload"),
            Checksum("md5", "25c81989df183df01b3e8a0aad5dffbe"),
        ),
        "t10k-images-idx3-ubyte.gz": (
            Checksum("sha256", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", "payload"),
            Checksum("md5", "bef4ecab320f06d8554ea6380940ec79"),
        ),
        "t10k-labels-idx1-ubyte.gz": (
            Checksum("sha256", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", "payload"),
            Checksum("md5", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    },
)

# MNIST: SHA-256 of the official .gz files (as widely published), plus the official MD5s
# used by torchvision. Note the train-images MD5 is f68b3c2dcbeaaa9fbdd348bbdeb94873.
MNIST = IdxDataset(
    name="mnist",
    description="LeCun et al. MNIST, 70,000 28x28 grayscale handwritten digits, 10 classes (official 10k test)",
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    url_env="VAEKIT_MNIST_URL",
    checksums={
        "train-images-idx3-ubyte.gz": (
            Checksum("sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            Checksum("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ),
        "train-labels-idx1-ubyte.gz": (
            Checksum("sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            Checksum("md5", "d53e105ee54ea40749a09fcbcd1e9432"),
        ),
        "t10k-images-idx3-ubyte.gz": (
            Checksum("sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            Checksum("md5", "9fb629c4189551a2d022fa330f9573f3"),
        ),
        "t10k-labels-idx1-ubyte.gz": (
            Checksum("sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
            Checksum("md5", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    },
)


def _find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def find_files(ds: IdxDataset) -> dict[str, Path] | None:
    """The first search directory holding all four files (gzipped or raw), else ``None``."""
    for directory in search_dirs(ds.name):
        found = {stem: _find_file(directory, stem) for stem in FILES}
        if all(found.values()):
            return found  # type: ignore[return-value]
    return None


def _how_to_get(ds: IdxDataset) -> str:
    hints = [f"set VAEKIT_DATA to a folder holding the four files (or a '{ds.name}' sub-folder)"]
    if ds.apt_package:
        hints.append(f"run `apt-get install {ds.apt_package}`")
    hints.append(f"download them from {ds.url()} into {cache_dir(ds.name)}")
    return "; or ".join(hints)


def missing_error(ds: IdxDataset, reason: str) -> DataError:
    """The error for a dataset that is neither on disk nor downloadable right now."""
    places = ", ".join(str(d) for d in search_dirs(ds.name))
    return DataError(
        f"dataset {ds.name!r} not found ({reason}); looked in: {places}. To fix: {_how_to_get(ds)}"
    )


def download(ds: IdxDataset, target_dir: Path | None = None, base_url: str | None = None) -> dict[str, Path]:
    """Download missing ``.gz`` files into ``target_dir`` (default ``~/.cache/vaekit/<name>``),
    verifying each checksum before it is kept."""
    target_dir = target_dir or cache_dir(ds.name)
    paths: dict[str, Path] = {}
    for stem in FILES:
        file_name = f"{stem}.gz"
        target = target_dir / file_name
        if not target.is_file():
            try:
                fetch(ds.url(base_url) + file_name, target, ds.checksums[file_name])
            except OSError as exc:
                raise missing_error(ds, f"download of {ds.url(base_url) + file_name} failed: {exc}") from None
        paths[stem] = target
    return paths


def ensure_files(ds: IdxDataset) -> dict[str, Path]:
    """Find the files on disk, or download them unless ``VAEKIT_OFFLINE`` is set."""
    found = find_files(ds)
    if found is not None:
        return found
    if offline():
        raise missing_error(ds, "VAEKIT_OFFLINE is set, so it was not downloaded")
    return download(ds)


def load_idx_dataset(ds: IdxDataset, spec: str, opts: LoadOptions) -> Splits:
    """Official 10k test set; validation is a seeded ``val_fraction`` of the training set."""
    files = ensure_files(ds)
    train_x, train_y = read_image_label_pair(files[FILES[0]], files[FILES[1]])
    test_x, test_y = read_image_label_pair(files[FILES[2]], files[FILES[3]])
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(
            f"{ds.name}: train images are {train_x.shape[1:]} but test images are {test_x.shape[1:]}; "
            "the files come from different datasets — replace them with one matching set"
        )
    train, val = two_way_split(len(train_x), seed=opts.split_seed, val_fraction=opts.val_fraction, what=spec)
    x = np.concatenate([train_x, test_x])  # uint8 (N, H, W)
    y = np.concatenate([train_y, test_y]).astype(np.int64)
    test = np.arange(len(train_x), len(train_x) + len(test_x))
    rule = fixed_divide(x, span=255.0, levels=256, description="uint8 / 255 -> [0, 1]", where=spec)
    return splits_from_arrays(
        spec, x, y, opts, fixed=rule, split=(train, val, test), n_classes=max(10, int(y.max()) + 1),
    )


def _register(ds: IdxDataset) -> None:
    def probe() -> tuple[bool, str]:
        found = find_files(ds)
        if found is not None:
            return True, str(next(iter(found.values())).parent)
        if offline():
            return False, "not on disk and VAEKIT_OFFLINE is set"
        return False, f"not on disk yet; downloaded on first use from {ds.url()}"

    DATASETS.register(ds.name)(
        NamedSource(
            description=ds.description, shape=(1, 28, 28), n_examples=70000, probe=probe,
            load=lambda spec, opts: load_idx_dataset(ds, spec, opts),
        )
    )


_register(FASHION_MNIST)
_register(MNIST)
