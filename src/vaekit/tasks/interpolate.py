"""Interpolation between the posterior means of two examples (linear or spherical).

Spherical interpolation (slerp; White 2016, "Sampling Generative Networks") follows the great
circle between the two codes, so intermediate codes keep a norm typical of a Gaussian prior
instead of shrinking towards the origin as a straight line does.
"""

from __future__ import annotations

import torch

from vaekit.models import VAE


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return (1 - t)[:, None] * a + t[:, None] * b  # (T, L)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    na, nb = a.norm(), b.norm()
    cos = torch.dot(a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:  # (nearly) parallel: the great circle is a line
        return lerp(a, b, t)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


PATHS = {"lerp": lerp, "slerp": slerp}


@torch.no_grad()  # not inference_mode: results are handed to users, who may feed them to autograd
def interpolate(model: VAE, x_from: torch.Tensor, x_to: torch.Tensor, *, steps: int = 10, path: str = "slerp",
                cond: torch.Tensor | int | None = None) -> torch.Tensor:
    """Two examples (*shape) -> (steps, *shape) decoder means along the path, endpoints included.

    ``cond`` (conditional models; ignored otherwise): one label for both ends, or the two ends'
    labels (2,). Each end is encoded with its own label; along the path the decoder is conditioned
    on the one-hot labels mixed linearly (``(1 - t) onehot(a) + t onehot(b)``), so with equal labels
    it sees that label throughout."""
    if steps < 2:
        raise ValueError("steps must be at least 2")
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose lerp or slerp")
    t = torch.linspace(0, 1, steps, device=model.device)
    ends, c_path = None, None
    if cond is not None and getattr(model, "cond_dim", 0):
        labels = torch.as_tensor(cond, dtype=torch.long).reshape(-1).to(model.device)
        if labels.numel() == 1:
            labels = labels.repeat(2)
        if labels.numel() != 2:
            raise ValueError(f"cond: give one label or the two ends' labels, not {labels.numel()}")
        ends = labels
        onehot = model.condition(labels)  # (2, C); checks the range
        c_path = lerp(onehot[0], onehot[1], t)  # (steps, C)
    mu = model.encode(torch.stack([x_from, x_to]).to(model.device), ends).mean  # (2, L)
    z = PATHS[path](mu[0], mu[1], t)  # (steps, L)
    return model.decode(z, c_path).mean.cpu()
