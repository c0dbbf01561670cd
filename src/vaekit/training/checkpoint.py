"""Resume checkpoints in safetensors (no pickle): tensors for weights, optimiser moments and
RNG states; JSON in the metadata for everything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vaekit.artifacts import rundir
from vaekit.core.errors import RunDirError


def save_checkpoint(
    path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, shuffle_gen: torch.Generator,
    state: dict[str, Any],
) -> None:
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in opt["state"].items():
        for name, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{name}"] = value
            else:
                scalars.setdefault(str(pid), {})[name] = value
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = shuffle_gen.get_state()
    meta = {
        "state": state,
        "optim_param_groups": opt["param_groups"],
        "optim_scalars": scalars,
    }
    rundir.save_tensors(path, tensors, metadata={"vaekit": json.dumps(meta)})


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        raise RunDirError(f"{path} is missing: the run never finished an epoch, so there is nothing to resume; start it again")
    tensors = rundir.load_tensors(path)
    try:
        meta = json.loads(rundir.read_metadata(path)["vaekit"])
    except (KeyError, json.JSONDecodeError):
        raise RunDirError(f"{path} has no vaekit resume metadata; it is not a vaekit checkpoint") from None
    return tensors, meta


def restore(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], *, model: torch.nn.Module,
    optimizer: torch.optim.Optimizer, shuffle_gen: torch.Generator, path: Path,
) -> dict[str, Any]:
    model_state = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_state, strict=True)
    except RuntimeError as err:
        raise RunDirError(
            f"{path} does not fit the model described by config.json ({str(err).splitlines()[0]}); "
            "the run is incompatible and cannot be resumed"
        ) from None
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, extra in meta.get("optim_scalars", {}).items():
        state.setdefault(int(pid), {}).update(extra)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": meta["optim_param_groups"]})
    except (ValueError, KeyError) as err:
        raise RunDirError(f"{path}: optimiser state does not fit ({err}); the run cannot be resumed") from None
    torch.set_rng_state(tensors["rng.torch"])
    shuffle_gen.set_state(tensors["rng.shuffle"])
    return meta["state"]
