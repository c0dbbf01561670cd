"""Reconstruction: x -> posterior mean -> decoder mean."""

from __future__ import annotations

import torch

from vaekit.models import VAE


@torch.no_grad()  # not inference_mode: results are handed to users, who may feed them to autograd
def reconstruct(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """(B, *shape) -> (B, *shape): the decoder's mean at the posterior mean of each example."""
    return model.decode(model.encode(x.to(model.device)).mean).mean.cpu()


def side_by_side(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Interleave originals and reconstructions: (2B, *shape), pairs next to each other."""
    return torch.stack([x, recon], dim=1).flatten(0, 1)
