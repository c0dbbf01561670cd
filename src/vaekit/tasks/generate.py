"""Generation: decode draws from the prior."""

from __future__ import annotations

import torch

from vaekit.models import VAE


@torch.no_grad()  # not inference_mode: results are handed to users, who may feed them to autograd
def generate(model: VAE, n: int = 64, *, temperature: float = 1.0, generator: torch.Generator | None = None,
             mean: bool = True, cond: torch.Tensor | None = None) -> torch.Tensor:
    """(n, *shape) decoder means (``mean=True``) or samples of p(x|z), z ~ p(z) with its standard
    deviation scaled by ``temperature`` (< 1 trades diversity for typicality). ``cond``: labels
    (n,) for a conditional model (required there); ignored by an unconditional one."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if cond is not None and not getattr(model, "cond_dim", 0):
        cond = None
    if cond is not None:
        cond = torch.as_tensor(cond).to(model.device)
    return model.sample(n, generator=generator, temperature=temperature, mean=mean, cond=cond).cpu()
