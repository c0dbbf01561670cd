"""Resume checkpoints: one flat, named state in safetensors (no pickle).

Tensors: ``model.*`` and ``objective.*`` (state dicts), ``optim.<step>.<param index>.<name>``
(each named step's optimiser moments), ``rng.torch``, ``rng.shuffle``, ``rng.cuda.<device>``.
JSON in the metadata: the format version, the trainer's state (epoch, step, best validation
loss ...), each optimiser's param groups and non-tensor entries, and the gradient scaler.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vaekit.artifacts import rundir
from vaekit.core.config import FORMAT_VERSION
from vaekit.core.errors import RunDirError


def save_checkpoint(
    path: Path, *, model: torch.nn.Module, objective: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
    shuffle_gen: torch.Generator, scaler: torch.amp.GradScaler | None, state: dict[str, Any],
) -> None:
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"objective.{k}": v for k, v in objective.state_dict().items()})
    optim_meta: dict[str, Any] = {}
    for step, optimizer in optimizers.items():
        opt = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for pid, pstate in opt["state"].items():
            for name, value in pstate.items():
                if torch.is_tensor(value):
                    tensors[f"optim.{step}.{pid}.{name}"] = value
                else:
                    scalars.setdefault(str(pid), {})[name] = value
        optim_meta[step] = {"param_groups": opt["param_groups"], "scalars": scalars}
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = shuffle_gen.get_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    meta = {
        "format_version": FORMAT_VERSION, "state": state, "optim": optim_meta,
        "scaler": scaler.state_dict() if scaler is not None else None,
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
    version = meta.get("format_version", 1)
    if version != FORMAT_VERSION:
        newer = version > FORMAT_VERSION
        raise RunDirError(
            f"{path} has checkpoint format {version}, "
            + ("newer than this vaekit understands; upgrade vaekit to resume it" if newer else
               f"from an older vaekit (this one writes {FORMAT_VERSION}); it cannot be resumed, but its "
               "model.safetensors still loads for evaluation and sampling")
        )
    return tensors, meta


def _load_module(module: torch.nn.Module, prefix: str, tensors: dict[str, torch.Tensor], path: Path) -> None:
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError:
        raise RunDirError(
            f"{path} does not fit the {prefix.rstrip('.')} described by config.json "
            f"({rundir.state_dict_mismatch(module.state_dict(), state)}); the run is incompatible and cannot be resumed"
        ) from None


def restore(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], *, model: torch.nn.Module, objective: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer], shuffle_gen: torch.Generator,
    scaler: torch.amp.GradScaler | None, path: Path,
) -> dict[str, Any]:
    _load_module(model, "model.", tensors, path)
    _load_module(objective, "objective.", tensors, path)
    saved = meta.get("optim", {})
    if sorted(saved) != sorted(optimizers):
        raise RunDirError(f"{path} holds optimiser steps {sorted(saved)} but the objective has {sorted(optimizers)}")
    for step, optimizer in optimizers.items():
        state: dict[int, dict[str, Any]] = {}
        prefix = f"optim.{step}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                pid, name = key[len(prefix):].split(".", 1)
                state.setdefault(int(pid), {})[name] = value
        for pid, extra in saved[step]["scalars"].items():
            state.setdefault(int(pid), {}).update(extra)
        try:
            optimizer.load_state_dict({"state": state, "param_groups": saved[step]["param_groups"]})
        except (ValueError, KeyError) as err:
            raise RunDirError(f"{path}: optimiser state of step {step!r} does not fit ({err}); the run cannot be resumed") from None
    if scaler is not None and meta.get("scaler"):
        scaler.load_state_dict(meta["scaler"])
    torch.set_rng_state(tensors["rng.torch"])
    shuffle_gen.set_state(tensors["rng.shuffle"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    return meta["state"]
