"""Style blending and latent arithmetic over posterior means.

* :func:`blend`: decode (1 - α) μ(a) + α μ(b) for a grid of α (α outside [0, 1] extrapolates);
  μ = E_q[z|x]. The straight line is the arithmetic users ask for ("70 % of a, 30 % of b");
  :func:`vaekit.tasks.interpolate.interpolate` has the spherical path for animations.
* :func:`attribute_vector` / :func:`apply_attribute`: latent arithmetic with attribute vectors
  (the mean code of the examples with label j minus the mean code of those with label i, as in
  Larsen et al. 2016 and White 2016), added to any input's code with a strength s.
* :func:`restyle` (conditional runs, CVAE of Sohn et al. 2015): keep an input's z — what the
  label does not explain, its "style" — and decode it with another label.

Shapes: one example (*shape); results (T, *shape) decoder means.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from vaekit.core.errors import VaekitError


class BlendError(VaekitError):
    """Input that does not fit the run (shape, labels, kind): exit code 2, nothing written."""

    exit_code = 2


def _model(run: Any) -> torch.nn.Module:
    return getattr(run, "model", run)


def _one(model: torch.nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).float()
    if tuple(x.shape) != tuple(model.shape):
        raise BlendError(f"{name} has shape {tuple(x.shape)} but the run's examples have shape {tuple(model.shape)}")
    return x


def _labels(model: torch.nn.Module, labels: Any, n: int, what: str) -> torch.Tensor | None:
    k = int(getattr(model, "cond_dim", 0))
    if not k:
        return None
    if labels is None:
        raise BlendError(f"this run is conditional (a cvae): give {what}")
    c = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if c.numel() == 1:
        c = c.expand(n)
    if c.numel() != n or int(c.min()) < 0 or int(c.max()) >= k:
        raise BlendError(f"{what} must be class indices 0 .. {k - 1}")
    return c.to(model.device)


@torch.no_grad()
def codes(run: Any, x: torch.Tensor, cond: Any = None) -> torch.Tensor:
    """(B, *shape) -> (B, L) posterior means (the labels condition a conditional run's encoder)."""
    model = _model(run)
    return model.encode(x.to(model.device), _labels(model, cond, x.shape[0], "the examples' labels")).mean


@torch.no_grad()
def blend(run: Any, a: torch.Tensor, b: torch.Tensor, alphas: Sequence[float], *, cond_a: Any = None,
          cond_b: Any = None) -> torch.Tensor:
    """(len(alphas), *shape): decoder means at (1 - α) μ(a) + α μ(b). A conditional run's decoder
    sees the labels mixed the same way ((1 - α) onehot(a) + α onehot(b))."""
    model = _model(run)
    if len(alphas) < 1:
        raise BlendError("give at least one alpha")
    a, b = _one(model, a, "--a"), _one(model, b, "--b")
    t = torch.as_tensor([float(v) for v in alphas], device=model.device)[:, None]  # (T, 1)
    ends = None
    if getattr(model, "cond_dim", 0):
        ca, cb = _labels(model, cond_a, 1, "the label of --a"), _labels(model, cond_b, 1, "the label of --b")
        ends = torch.cat([ca, cb])
    mu = codes(model, torch.stack([a, b]), ends)  # (2, L)
    z = (1 - t) * mu[0] + t * mu[1]  # (T, L)
    c = None if ends is None else (1 - t) * model.condition(ends[:1]) + t * model.condition(ends[1:])
    return model.decode(z, c).mean.cpu()


@torch.no_grad()
def attribute_vector(run: Any, x: torch.Tensor, y: torch.Tensor, source: int, target: int) -> torch.Tensor:
    """(L,): mean posterior code of the examples labelled ``target`` minus that of ``source``."""
    model = _model(run)
    y = torch.as_tensor(y).reshape(-1)
    for name, lab in (("source", source), ("target", target)):
        if not bool((y == lab).any()):
            raise BlendError(f"no example has the {name} label {lab}; labels present: {sorted(set(y.tolist()))}")
    z = torch.cat([codes(model, x[i : i + 1000], None if not getattr(model, "cond_dim", 0) else y[i : i + 1000])
                   for i in range(0, x.shape[0], 1000)])
    return (z[y == target].mean(0) - z[y == source].mean(0)).cpu()


@torch.no_grad()
def apply_attribute(run: Any, x: torch.Tensor, vector: torch.Tensor, strengths: Sequence[float], *,
                    cond: Any = None) -> torch.Tensor:
    """(len(strengths), *shape): decoder means at μ(x) + s · vector."""
    model = _model(run)
    x = _one(model, x, "the input")
    c = _labels(model, cond, 1, "the input's label")
    mu = codes(model, x[None], c)[0]
    s = torch.as_tensor([float(v) for v in strengths], device=model.device)[:, None]
    z = mu + s * vector.to(model.device)
    return model.decode(z, None if c is None else c.expand(len(strengths))).mean.cpu()


@torch.no_grad()
def restyle(run: Any, x: torch.Tensor, source_labels: Any, target_labels: Any) -> torch.Tensor:
    """A conditional run: (B, *shape) inputs with their labels -> (B, *shape) decoded with the
    target labels from the inputs' own z (posterior means)."""
    model = _model(run)
    if not getattr(model, "cond_dim", 0):
        raise BlendError("restyling needs a conditional run (`vaekit train --recipe cvae`, or --set model.conditional=true): "
                         "an unconditional model has no label to change")
    x = torch.as_tensor(x).float()
    if x.dim() != len(model.shape) + 1 or tuple(x.shape[1:]) != tuple(model.shape):
        raise BlendError(f"the inputs have shape {tuple(x.shape)} but the run takes (B, {', '.join(map(str, model.shape))})")
    src = _labels(model, source_labels, x.shape[0], "the inputs' labels")
    tgt = _labels(model, target_labels, x.shape[0], "the target label")
    out = []
    for i in range(0, x.shape[0], 1000):
        z = codes(model, x[i : i + 1000], src[i : i + 1000])
        out.append(model.decode(z, tgt[i : i + 1000]).mean.cpu())
    return torch.cat(out)
