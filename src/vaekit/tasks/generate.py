"""Generation: decode draws from the prior."""

from __future__ import annotations

import torch

from vaekit.models import VAE


@torch.no_grad()  # not inference_mode: results are handed to users, who may feed them to autograd
def generate(model: VAE, n: int = 64, *, temperature: float = 1.0, generator: torch.Generator | None = None,
             mean: bool = True) -> torch.Tensor:
    """(n, *shape) decoder means (``mean=True``) or samples of p(x|z), z ~ p(z) with its standard
    deviation scaled by ``temperature`` (< 1 trades diversity for typicality)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return model.sample(n, generator=generator, temperature=temperature, mean=mean).cpu()
