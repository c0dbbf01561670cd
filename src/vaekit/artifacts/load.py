"""Rebuild a trained model from a run directory through the registries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaekit.artifacts import rundir
from vaekit.core.config import Config
from vaekit.core.errors import RunDirError, VaekitError
from vaekit.models import VAE, build_model


@dataclass
class LoadedRun:
    path: Path
    config: Config
    dataset: dict[str, Any]
    model: VAE

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dataset["shape"])


def build_from_run(path: Path) -> tuple[Config, dict[str, Any], VAE]:
    if not path.is_dir():
        raise RunDirError(f"run directory {path} does not exist; give the folder `vaekit train` printed")
    try:
        config = Config.from_dict(rundir.read_json(path / rundir.CONFIG), source=str(path / rundir.CONFIG))
    except VaekitError as err:
        raise RunDirError(str(err)) from None
    dataset = rundir.read_json(path / rundir.DATASET)
    model = build_model(config.model, tuple(dataset["shape"]), dataset.get("levels"))
    return config, dataset, model


def load(path: str | Path, *, weights: str = rundir.MODEL, device: str | torch.device = "cpu") -> LoadedRun:
    """Load a run directory: the config, the dataset description and the model (eval mode).

    ``weights`` picks the file: ``model.safetensors`` (best validation loss) by default;
    ``device`` is where the model is placed.
    """
    path = Path(path)
    config, dataset, model = build_from_run(path)
    tensors = rundir.load_tensors(path / weights)
    state = {k.removeprefix("model."): v for k, v in tensors.items() if weights == rundir.MODEL or k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise RunDirError(f"{path / weights} does not match the model in config.json ({first})") from None
    model.to(device).eval()
    return LoadedRun(path=path, config=config, dataset=dataset, model=model)
