"""Embeddings: posterior means E_q[z|x] for dimensionality reduction and downstream use."""

from __future__ import annotations

import torch

from vaekit.models import VAE


@torch.no_grad()  # not inference_mode: results are handed to users, who may feed them to autograd
def embed(model: VAE, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """(N, *shape) -> (N, L) posterior means."""
    return torch.cat([model.encode(x[i : i + batch_size].to(model.device)).mean.cpu() for i in range(0, x.shape[0], batch_size)])
