"""Data augmentation with a trained VAE: new labelled examples for a downstream model.

Two modes:

* ``"prior"`` — conditional runs (CVAE, Sohn et al. 2015): z ~ p(z) at ``temperature``, decoded
  with labels that cycle through the classes (or the labels given), so every sample comes with
  the label it was generated for.
* ``"posterior"`` — any run with labelled data: each new example is a real one, re-encoded and
  decoded from a draw z ~ q(z|x) whose standard deviation is scaled by ``scale`` ("posterior
  jitter"); it keeps the label of the example it came from. A conditional run's encoder and
  decoder both see that label.

Returns ``(x_new (n, *shape) decoder means as the model sees data, y_new (n,) or None)``; all
randomness from ``seed``.
"""

from __future__ import annotations

from typing import Any

import torch

from vaekit.core.errors import VaekitError

MODES = ("prior", "posterior")


class AugmentError(VaekitError):
    """A mode or input that does not fit the run (exit code 2, nothing written)."""

    exit_code = 2


@torch.no_grad()
def augment(run: Any, n: int, *, mode: str = "prior", x: torch.Tensor | None = None, y: torch.Tensor | None = None,
            labels: torch.Tensor | None = None, temperature: float = 1.0, scale: float = 1.0,
            seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` new examples and their labels (see the module docstring)."""
    model = getattr(run, "model", run)
    if mode not in MODES:
        raise AugmentError(f"unknown augmentation mode {mode!r}; choose prior or posterior")
    if n < 1:
        raise AugmentError(f"n must be at least 1 (got {n})")
    if temperature <= 0 or scale < 0:
        raise AugmentError("temperature must be positive and scale at least 0")
    gen = torch.Generator().manual_seed(seed)
    k = int(getattr(model, "cond_dim", 0))
    if mode == "prior":
        if not k:
            raise AugmentError("mode 'prior' makes labelled samples only with a conditional run (a cvae); "
                               "use mode 'posterior' (jitter of real labelled examples) for this run")
        lab = torch.arange(n) % k if labels is None else torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if lab.numel() != n or int(lab.min()) < 0 or int(lab.max()) >= k:
            raise AugmentError(f"labels must be n = {n} class indices 0 .. {k - 1}")
        z = model.prior.sample(n, generator=gen, temperature=temperature, cond=model.condition(lab.to(model.device)))
        out = torch.cat([model.decode(z[i : i + 2000], lab[i : i + 2000].to(model.device)).mean.cpu()
                         for i in range(0, n, 2000)])
        return out, lab
    if x is None or y is None:
        raise AugmentError("mode 'posterior' needs labelled examples to jitter (x and y)")
    x = torch.as_tensor(x).float()
    y = torch.as_tensor(y, dtype=torch.long).reshape(-1)
    if x.dim() != len(model.shape) + 1 or tuple(x.shape[1:]) != tuple(model.shape) or len(x) != len(y) or len(x) == 0:
        raise AugmentError(f"x must be (N, {', '.join(map(str, model.shape))}) with one label each; got {tuple(x.shape)} "
                           f"and {tuple(y.shape)} labels")
    pick = torch.arange(n) % len(x)  # every example in turn, so the class balance is kept
    pick = pick[torch.randperm(n, generator=gen)]
    xs, ys = x[pick], y[pick]
    out = []
    for i in range(0, n, 2000):
        c = ys[i : i + 2000].to(model.device) if k else None
        q = model.encode(xs[i : i + 2000].to(model.device), c)
        eps = torch.randn(q.mean.shape, generator=gen).to(model.device)
        z = q.mean + scale * q.stddev * eps  # (b, L)
        out.append(model.decode(z, c).mean.cpu())
    return torch.cat(out), ys
