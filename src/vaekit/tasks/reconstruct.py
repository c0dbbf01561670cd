"""Reconstruction: x -> posterior mean -> decoder mean."""

from __future__ import annotations

import torch

from vaekit.models import VAE


@torch.no_grad()  # not inference_mode: results are handed to users, who may feed them to autograd
def reconstruct(model: VAE, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
    """(B, *shape) -> (B, *shape): the decoder's mean at the posterior mean of each example.

    ``cond``: the examples' labels (B,) for a conditional model (they condition the encoder and
    the decoder); ignored by an unconditional one."""
    c = _cond(model, cond)
    return model.decode(model.encode(x.to(model.device), c).mean, c).mean.cpu()


def _cond(model: VAE, cond: torch.Tensor | None) -> torch.Tensor | None:
    """Labels on the model's device for a conditional model; None for an unconditional one."""
    if cond is None or not getattr(model, "cond_dim", 0):
        return None
    return torch.as_tensor(cond).to(model.device)


def side_by_side(x: torch.Tensor, recon: torch.Tensor, cols: int = 8) -> tuple[torch.Tensor, int]:
    """Lay originals and reconstructions out in pairs of rows: a row of up to ``cols`` inputs,
    then the row of their reconstructions below it, and so on.

    Returns ``(images, ncol)``: save ``images`` as a grid with ``nrow=ncol`` columns. A last,
    short pair of rows is filled up with blank (mid-grey) tiles.
    """
    n = x.shape[0]
    ncol = max(1, min(cols, n))
    blocks = []
    for start in range(0, n, ncol):
        a, b = x[start : start + ncol], recon[start : start + ncol]
        short = ncol - a.shape[0]
        if short:
            blank = torch.full((short, *x.shape[1:]), 0.5, dtype=x.dtype)
            a, b = torch.cat([a, blank]), torch.cat([b.to(x.dtype), blank])
        blocks += [a, b.to(x.dtype)]
    images = torch.cat(blocks) if blocks else x[:0]
    return images, ncol
