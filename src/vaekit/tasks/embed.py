"""Embeddings: posterior means E_q[z|x] for dimensionality reduction and downstream use."""

from __future__ import annotations

import torch

from vaekit.models import VAE


@torch.no_grad()  # not inference_mode: results are handed to users, who may feed them to autograd
def embed(model: VAE, x: torch.Tensor, cond: torch.Tensor | None = None, batch_size: int = 1024) -> torch.Tensor:
    """(N, *shape) -> (N, L) posterior means. ``cond``: the examples' labels (N,) for a
    conditional model (the encoder sees them); ignored by an unconditional one."""
    if cond is not None and not getattr(model, "cond_dim", 0):
        cond = None
    out = []
    for i in range(0, x.shape[0], batch_size):
        c = None if cond is None else torch.as_tensor(cond)[i : i + batch_size].to(model.device)
        out.append(model.encode(x[i : i + batch_size].to(model.device), c).mean.cpu())
    return torch.cat(out) if out else torch.zeros(0, model.latent_dim)
