"""Inpainting: fill the unobserved part of an example from a trained VAE, keeping the observed
part exactly.

Two samplers over the missing values x_m given the observed x_o, both run as ``n`` independent
chains in one batch (one chain per completion):

* ``"pseudo-gibbs"`` (Rezende et al. 2014, "Stochastic Backpropagation and Approximate Inference
  in Deep Generative Models", sec. 5.3): repeat z ~ q(z | x_o, x_m), x_m <- E[x_m | z]. It uses the
  encoder as if it were the exact posterior, so its stationary distribution is only approximately
  p(x_m | x_o).
* ``"metropolis-within-gibbs"`` (alias ``"mwg"``) (Mattei & Frellsen 2018, "Leveraging the Exact Likelihood of Deep Latent
  Variable Models", sec. 4): the encoder becomes a Metropolis-Hastings proposal for z with target
  p(z | x_o) ∝ p(x_o | z) p(z): propose z' ~ q(z | x_o, x_m), accept with probability

      min(1, [p(x_o|z') p(z') q(z_t | x_o, x_m)] / [p(x_o|z_t) p(z_t) q(z' | x_o, x_m)]),

  then x_m <- E[x_m | z_{t+1}]. Only the observed part enters the acceptance ratio, so the chain
  targets the model's own conditional p(z | x_o) (asymptotically exact in z).

Why the missing values are refreshed with the decoder's *mean* E[x_m | z] rather than a draw: for
grey-level images under a Bernoulli ("BCE") likelihood a draw is a binary speckle far from any
training image, which the encoder has never seen; the mean keeps the encoder's input on the data
manifold. The diversity of the ``n`` completions comes from the draws of z. ``fill="sample"``
draws instead (what the papers do for binary data).

The missing values start at the decoder's mean at the prior's mean latent (z = 0): the model's
"average example", a neutral start for every data kind (images, vectors, encoded table rows).

Shapes: ``x`` (*shape) one example as the model sees it; ``observed`` bool (*shape); the result
(n, *shape) with ``result[i][observed] == x[observed]`` exactly.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Distribution, Independent

from vaekit.core.errors import VaekitError

METHODS = ("pseudo-gibbs", "metropolis-within-gibbs")
ALIASES = {"mwg": "metropolis-within-gibbs", "metropolis-gibbs": "metropolis-within-gibbs", "pg": "pseudo-gibbs"}
FILLS = ("mean", "sample")
DEFAULT_STEPS = {"pseudo-gibbs": 50, "metropolis-within-gibbs": 200}


class InpaintError(VaekitError):
    """Input that does not fit the run (shape, mask, method, labels): exit code 2, nothing written."""

    exit_code = 2


def _model(run: Any) -> torch.nn.Module:
    """The model of a :class:`~vaekit.artifacts.load.LoadedRun` (or a bare model)."""
    return getattr(run, "model", run)


def check_example(model: torch.nn.Module, x: torch.Tensor, observed: torch.Tensor, *, batched: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``x`` and ``observed`` against the model's data shape; returns float / bool copies.

    ``batched``: leading batch dimension (B, *shape) instead of one example (*shape)."""
    shape = tuple(model.shape)
    x = torch.as_tensor(x)
    observed = torch.as_tensor(observed)
    want = ("B", *shape) if batched else shape
    got = tuple(x.shape[1:]) if batched else tuple(x.shape)
    if got != shape or (batched and x.dim() != len(shape) + 1):
        raise InpaintError(f"the input has shape {tuple(x.shape)} but the run's model takes {want} (its data shape {shape})")
    if tuple(observed.shape) != tuple(x.shape):
        raise InpaintError(f"the mask has shape {tuple(observed.shape)} but the input has shape {tuple(x.shape)}; give one mask value per input value")
    if observed.dtype != torch.bool:
        if not torch.all((observed == 0) | (observed == 1)):
            raise InpaintError("the mask must be boolean (True / 1 = observed, kept exactly; False / 0 = to fill)")
        observed = observed.bool()
    x = x.float()
    if not torch.isfinite(x[observed]).all():
        raise InpaintError("observed values must be finite numbers (mark NaN / missing values as not observed)")
    return x, observed


def _cond(model: torch.nn.Module, cond: Any, n: int) -> torch.Tensor | None:
    """Labels (n,) for a conditional model (required), None for an unconditional one."""
    k = int(getattr(model, "cond_dim", 0))
    if not k:
        return None
    if cond is None:
        raise InpaintError("this run is conditional (a cvae): give the example's label (cond=, --label)")
    c = torch.as_tensor(cond, dtype=torch.long).reshape(-1)
    if c.numel() == 1:
        c = c.expand(n)
    if c.numel() != n or c.min() < 0 or c.max() >= k:
        raise InpaintError(f"labels must be class indices 0 .. {k - 1}, one per example")
    return c.to(model.device)


def observed_log_prob(px: Distribution, x: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """log p(x_o | z) in nats: the likelihood summed over the observed elements only.

    ``px`` has batch shape (B,) and event shape = the data shape; ``x`` and ``observed`` are
    (B, *shape). Needs a likelihood that factorises over elements (Bernoulli, Gaussian,
    discretised logistic) or over table columns (a categorical column counts when all of its
    one-hot slice is observed)."""
    from vaekit.parts.likelihoods.bernoulli import BernoulliImage
    from vaekit.parts.likelihoods.tabular import TabularDistribution

    b = x.shape[0]
    obs = observed.to(x.dtype)
    if isinstance(px, BernoulliImage):
        per = -F.binary_cross_entropy_with_logits(px.logits, x.expand_as(px.logits), reduction="none")
        return (per * obs).reshape(b, -1).sum(-1)
    if isinstance(px, Independent):
        per = px.base_dist.log_prob(x)  # (B, *shape)
        return torch.where(observed, per, torch.zeros_like(per)).reshape(b, -1).sum(-1)
    if isinstance(px, TabularDistribution):
        return px.log_prob_observed(x, observed)  # (B,)
    raise InpaintError(
        f"method 'metropolis-within-gibbs' needs a likelihood that factorises over the data's elements; this run's "
        f"{type(px).__name__} does not: use method 'pseudo-gibbs'"
    )


def _start(model: torch.nn.Module, x: torch.Tensor, observed: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """(B, *shape): observed values, missing ones at the decoder's mean for z = 0."""
    z0 = torch.zeros(x.shape[0], model.latent_dim, device=model.device)
    guess = model.decode(z0, c).mean.to(x.dtype)
    return torch.where(observed, x, guess)


def _refresh(px: Distribution, x: torch.Tensor, observed: torch.Tensor, fill: str) -> torch.Tensor:
    new = px.mean if fill == "mean" else px.sample()
    return torch.where(observed, x, new.to(x.dtype))


def _draw(q: Distribution, gen: torch.Generator) -> torch.Tensor:
    """z ~ q (B, L), from ``gen`` for a diagonal Gaussian; a flow posterior draws from torch's
    global generator (its rsample takes none)."""
    if isinstance(q, Independent):
        eps = torch.randn(q.mean.shape, generator=gen).to(q.mean.device)
        return q.mean + q.stddev * eps
    return q.rsample()


@torch.no_grad()
def complete(
    model: torch.nn.Module, x: torch.Tensor, observed: torch.Tensor, *, method: str = "pseudo-gibbs",
    steps: int | None = None, fill: str = "mean", cond: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Run one chain per row of ``x`` (B, *shape) with mask ``observed`` (B, *shape); returns the
    completed batch (B, *shape) (observed values exactly as given) and statistics (for
    ``metropolis-within-gibbs`` the acceptance rate over all chains and steps)."""
    method = ALIASES.get(method, method)
    if method not in METHODS:
        raise InpaintError(f"unknown inpainting method {method!r}; choose one of: {', '.join(METHODS)}")
    if fill not in FILLS:
        raise InpaintError(f"unknown fill {fill!r}; choose one of: {', '.join(FILLS)}")
    steps = DEFAULT_STEPS[method] if steps is None else int(steps)
    if steps < 1:
        raise InpaintError(f"steps must be at least 1 (got {steps})")
    gen = generator or torch.Generator().manual_seed(0)
    device = model.device
    x, observed = x.to(device), observed.to(device)
    b = x.shape[0]
    c = None if cond is None else cond.to(device)
    xh = _start(model, x, observed, c)
    if method == "pseudo-gibbs":
        for _ in range(steps):
            q = model.encode(xh, c)
            z = _draw(q, gen)
            xh = _refresh(model.decode(z, c), x, observed, fill)
        return xh.cpu(), {"steps": steps}
    # Metropolis-within-Gibbs. State: z (B, L) and the log-target log p(x_o|z) + log p(z) at z.
    prior = model.prior(model.condition(c))
    q = model.encode(xh, c)
    if not isinstance(q, Independent):
        raise InpaintError("method 'metropolis-within-gibbs' needs a Gaussian posterior without flows (its density at the "
                           "current state); use method 'pseudo-gibbs' for this run")
    z = _draw(q, gen)
    px = model.decode(z, c)
    log_target = observed_log_prob(px, x, observed) + prior.log_prob(z)
    accepted = 0
    for _ in range(steps):
        q = model.encode(xh, c)
        prop = _draw(q, gen)  # (B, L)
        px_prop = model.decode(prop, c)
        log_target_prop = observed_log_prob(px_prop, x, observed) + prior.log_prob(prop)
        log_ratio = log_target_prop - log_target + q.log_prob(z) - q.log_prob(prop)  # (B,)
        u = torch.rand(b, generator=gen).to(device)
        accept = torch.log(u) < log_ratio  # (B,)
        accepted += int(accept.sum())
        z = torch.where(accept[:, None], prop, z)
        log_target = torch.where(accept, log_target_prop, log_target)
        px = model.decode(z, c)
        xh = _refresh(px, x, observed, fill)
    return xh.cpu(), {"steps": steps, "acceptance": accepted / (steps * b)}


def inpaint(
    run: Any, x: torch.Tensor, observed: torch.Tensor, *, n: int = 8, method: str = "pseudo-gibbs",
    steps: int | None = None, seed: int = 0, fill: str = "mean", cond: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """``n`` plausible completions (n, *x.shape) of one example ``x`` (as the model sees it, e.g.
    an image in [0, 1] of the run's data shape); ``observed`` (bool, same shape; True = kept
    exactly). ``method``: ``"pseudo-gibbs"`` (default, 50 steps) or ``"metropolis-within-gibbs"`` (alias ``"mwg"``) (200
    steps); ``cond``: the example's label for a conditional run. Deterministic for a ``seed``."""
    model = _model(run)
    if n < 1:
        raise InpaintError(f"n must be at least 1 (got {n})")
    x, observed = check_example(model, x, observed)
    xs = x.expand(n, *x.shape).clone()
    obs = observed.expand(n, *observed.shape).clone()
    c = _cond(model, cond, n)
    out, _ = complete(model, xs, obs, method=method, steps=steps, fill=fill, cond=c,
                      generator=torch.Generator().manual_seed(seed))
    return out


def inpaint_batch(
    run: Any, x: torch.Tensor, observed: torch.Tensor, *, n: int = 8, method: str = "pseudo-gibbs",
    steps: int | None = None, seed: int = 0, fill: str = "mean", cond: torch.Tensor | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """``n`` completions of each of B examples: (B, *shape) -> (n, B, *shape). Every example gets
    its own mask; ``cond``: labels (B,) for a conditional run."""
    model = _model(run)
    if n < 1:
        raise InpaintError(f"n must be at least 1 (got {n})")
    x, observed = check_example(model, x, observed, batched=True)
    b = x.shape[0]
    c_all = _cond(model, cond, b)
    gen = torch.Generator().manual_seed(seed)
    out = torch.empty(n, *x.shape)
    rows = max(1, batch_size // n)  # examples per pass; each pass holds rows * n chains
    for start in range(0, b, rows):
        xs = x[start : start + rows]
        m = xs.shape[0]
        xr = xs.unsqueeze(0).expand(n, *xs.shape).reshape(n * m, *xs.shape[1:])
        orr = observed[start : start + rows].unsqueeze(0).expand(n, m, *xs.shape[1:]).reshape(n * m, *xs.shape[1:])
        cr = None if c_all is None else c_all[start : start + rows].repeat(n)
        done, _ = complete(model, xr, orr, method=method, steps=steps, fill=fill, cond=cr, generator=gen)
        out[:, start : start + m] = done.reshape(n, m, *xs.shape[1:])
    return out


def mask_of_kind(kind: str, shape: tuple[int, ...], *, seed: int = 0) -> torch.Tensor:
    """An ``observed`` mask (bool, ``shape``) of a named kind, for images (C, H, W) and vectors (D,):

    * ``center``: the central half-height x half-width block is missing (a quarter of the image);
    * ``half``: the bottom half of the rows is missing (for vectors: the second half);
    * ``random[:p]``: each element missing independently with probability p (default 0.5), seeded.
    """
    name, _, arg = kind.partition(":")
    if name == "random":
        try:
            p = float(arg) if arg else 0.5
        except ValueError:
            raise InpaintError(f"mask kind {kind!r}: p must be a number in (0, 1), e.g. random:0.5") from None
        if not 0 < p < 1:
            raise InpaintError(f"mask kind {kind!r}: p must be in (0, 1)")
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(shape, generator=gen) >= p
    if arg:
        raise InpaintError(f"mask kind {name!r} takes no parameter (got {kind!r})")
    observed = torch.ones(shape, dtype=torch.bool)
    if name == "half":
        if len(shape) == 3:
            observed[:, shape[1] // 2 :, :] = False
        else:
            observed.reshape(-1)[observed.numel() // 2 :] = False
        return observed
    if name == "center":
        if len(shape) != 3:
            raise InpaintError("mask kind 'center' needs image data (C, H, W); use half or random:p for vectors")
        _, h, w = shape
        observed[:, h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2] = False
        return observed
    raise InpaintError(f"unknown mask kind {kind!r}; choose center, half or random[:p] (e.g. random:0.5)")
