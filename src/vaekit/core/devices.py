"""Pick a torch device by name: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps``."""

from __future__ import annotations

import torch

from vaekit.core.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an unavailable device is a clear error."""
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but no CUDA device is available; use --device cpu (or auto)")
    if device.type == "mps" and not mps_ok:
        raise ConfigError("device 'mps' asked for, but Apple's MPS backend is not available; use --device cpu (or auto)")
    if device.type not in {"cpu", "cuda", "mps"}:
        raise ConfigError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device
