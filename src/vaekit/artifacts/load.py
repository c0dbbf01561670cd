"""Rebuild a trained model from a run directory through the registries.

A run directory describes itself: ``config.json`` (the complete config), ``dataset.json`` (the
data's shape and the fitted preprocessing) and ``model.safetensors``. A second stage names its
parent run in ``config.parent`` with the sha256 of the parent's weights; loading composes the
chain and refuses a parent whose weights changed since the child was trained.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaekit.artifacts import rundir
from vaekit.artifacts.datasets import check_dataset_version
from vaekit.artifacts.feature_net import FeatureNet, read_feature_net_file
from vaekit.core.build import BuildContext
from vaekit.core.config import FORMAT_VERSION, Config, ParentLink
from vaekit.core.errors import RunDirError, VaekitError
from vaekit.models import build_model


@dataclass
class LoadedRun:
    path: Path
    config: Config
    dataset: dict[str, Any]
    model: torch.nn.Module
    parent: "LoadedRun | None" = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dataset["shape"])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parent_weights(path: Path) -> Path:
    """The file a parent link pins: a run's ``model.safetensors``, or a feature-net file itself
    (:mod:`vaekit.artifacts.feature_net`: a classifier brought as one ``.safetensors`` file)."""
    return path if path.suffix == ".safetensors" else path / rundir.MODEL


def pin_parent(link: ParentLink) -> ParentLink:
    """Resolve the parent's path and record the sha256 of its weights (at training time)."""
    path = Path(link.run).expanduser().resolve()
    weights = parent_weights(path)
    if not weights.is_file():
        raise RunDirError(f"parent run {path} has no {rundir.MODEL}; train it first or give another --parent")
    actual = sha256_file(weights)
    if link.sha256 is not None and link.sha256 != actual:
        raise RunDirError(f"parent run {path} changed: its weights' sha256 is {actual[:12]}…, expected {link.sha256[:12]}…")
    return ParentLink(run=str(path), sha256=actual)


def load_parent(config: Config, *, device: str | torch.device = "cpu", child: Path | None = None) -> "LoadedRun | FeatureNet | None":
    """The parent stage named in ``config.parent`` (verified against its recorded sha256), or None;
    a feature-net file parent gives a :class:`~vaekit.artifacts.feature_net.FeatureNet`."""
    link = config.parent
    if link is None:
        return None
    path = Path(link.run)
    weights = parent_weights(path)
    if not weights.is_file():
        raise RunDirError(f"{child or 'this run'} builds on parent run {path}, which is missing ({weights} not found); restore it")
    if link.sha256 is not None:
        actual = sha256_file(weights)
        if actual != link.sha256:
            raise RunDirError(
                f"{child or 'this run'} was trained on parent run {path} with weights sha256 {link.sha256[:12]}…, "
                f"but they are now {actual[:12]}…: the parent changed, so this stage no longer fits it; "
                "restore the parent's model.safetensors or retrain this stage"
            )
    if weights == path:
        return read_feature_net_file(path, device)
    return load(path, device=device)


def read_dataset(path: Path) -> dict[str, Any]:
    dataset = rundir.read_json(path / rundir.DATASET)
    check_dataset_version(dataset, path / rundir.DATASET)
    return dataset


def build_from_run(path: Path, *, device: str | torch.device = "cpu") -> tuple[Config, dict[str, Any], torch.nn.Module, "LoadedRun | None"]:
    if not path.is_dir():
        raise RunDirError(f"run directory {path} does not exist; give the folder `vaekit train` printed")
    try:
        config = Config.from_dict(rundir.read_json(path / rundir.CONFIG), source=str(path / rundir.CONFIG))
    except VaekitError as err:
        raise RunDirError(str(err)) from None
    dataset = read_dataset(path)
    parent = load_parent(config, device=device, child=path)
    model = build_model(config.model, BuildContext.from_dataset(dataset, parent=parent))
    return config, dataset, model, parent


def load(path: str | Path, *, weights: str = rundir.MODEL, device: str | torch.device = "cpu") -> LoadedRun:
    """Load a run directory: the config, the dataset description, the model (eval mode) and its
    parent stage if it has one.

    ``weights`` picks the file: ``model.safetensors`` (best validation loss) by default, or
    ``checkpoint.safetensors`` (the last epoch); ``device`` is where the model is placed.
    """
    path = Path(path)
    config, dataset, model, parent = build_from_run(path, device=device)
    tensors = rundir.load_tensors(path / weights)
    version = rundir.read_metadata(path / weights).get("format_version")
    if version is not None and int(version) > FORMAT_VERSION:
        raise RunDirError(f"{path / weights} has format {version}, newer than this vaekit reads; upgrade vaekit")
    state = {k.removeprefix("model."): v for k, v in tensors.items() if weights == rundir.MODEL or k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        raise RunDirError(
            f"{path / weights} does not match the model in config.json "
            f"({rundir.state_dict_mismatch(model.state_dict(), state)}); the weights belong to another model"
        ) from None
    model.to(device).eval()
    return LoadedRun(path=path, config=config, dataset=dataset, model=model, parent=parent)
