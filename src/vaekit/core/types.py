"""Small types passed between layers: what a batch holds, what a model returns, what an
objective returns, and where training is (for schedules)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch.distributions import Distribution

from vaekit.core.errors import ConfigError


@dataclass
class Batch:
    """One batch from the data layer: ``x`` (B, *shape); optional labels ``y`` (B,) int64 (or any
    conditioning tensor (B, C)); optional ``mask`` (B, *shape) bool, True where x is observed."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> "Batch":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(self.x.to(device), move(self.y), move(self.mask))

    def __getitem__(self, index: torch.Tensor | slice) -> "Batch":
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return Batch(self.x[index], pick(self.y), pick(self.mask))


@dataclass(frozen=True)
class StepContext:
    """Where training is, read by every schedule (KL warm-up, capacity, temperatures).

    ``epoch`` is fractional epochs done (``inf`` outside training, i.e. "warm-up finished");
    ``step`` counts optimisation steps; ``generator`` is the run's seeded CPU generator.
    """

    step: int = 0
    epoch: float = math.inf
    total_steps: int = 0
    steps_per_epoch: int = 0
    n_train: int = 0
    generator: torch.Generator | None = None

    @classmethod
    def evaluation(cls, n_train: int = 0) -> "StepContext":
        return cls(n_train=n_train)


@dataclass
class Latent:
    """One stochastic layer: posterior q, prior p, the sample z drawn from q, and the
    log-densities computed *where z was drawn* (a flow knows its log-det there):

    ``z`` (S, B, L); ``log_q`` = log q(z|x) (S, B); ``log_p`` = log p(z) (S, B), nats.
    ``analytic_kl`` is KL(q || p) per example (B,) when a closed form exists, else ``None``
    (objectives then use the Monte-Carlo estimate mean_S(log_q - log_p)).
    """

    q: Distribution
    p: Distribution
    z: torch.Tensor
    log_q: torch.Tensor
    log_p: torch.Tensor
    analytic_kl: torch.Tensor | None = None
    kl_per_dim: torch.Tensor | None = None  # (B, L) when q and p factorise analytically
    # (B,) an unbiased KL estimate with part of it in closed form (e.g. a flow posterior's base
    # KL plus the Monte-Carlo change along the flows), lower-variance than mean_S(log_q - log_p).
    kl_estimate: torch.Tensor | None = None

    def kl(self) -> torch.Tensor:
        """KL per example (B,): analytic where available, else the partly analytic estimate,
        else the S-sample estimate mean_S(log q - log p)."""
        if self.analytic_kl is not None:
            return self.analytic_kl
        if self.kl_estimate is not None:
            return self.kl_estimate
        return (self.log_q - self.log_p).mean(0)


@dataclass
class Output:
    """What ``model(x, cond=y, samples=S)`` returns: never a loss, only the pieces objectives need.

    ``px`` is the likelihood p(x|z) for all S*B samples (batch shape (S, B)); ``log_px(x)``
    evaluates it on the data (broadcast over S, no copy of x) and returns (S, B).
    ``latents`` lists every stochastic layer (top last for hierarchical models); ``aux`` holds
    auxiliary losses the model reports (e.g. a VQ commitment term), each (B,) nats or a scalar,
    which every objective adds to what it minimises.
    """

    px: Distribution
    latents: list[Latent]
    samples: int
    aux: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, torch.Tensor] = field(default_factory=dict)
    """Figures logged with the epoch's terms but never minimised (e.g. codebook perplexity)."""

    def log_px(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x|z) (S, B) nats; x (B, *shape) broadcasts over the S samples. With ``mask``
        (B, *shape) bool, True where observed: log p(x_o|z), the likelihood summed over the
        observed elements only (MIWAE, Mattei & Frellsen 2019), which the likelihood provides
        as ``log_prob_observed(x, mask)``."""
        if mask is None:
            return self.px.log_prob(x)
        masked = getattr(self.px, "log_prob_observed", None)
        if masked is None:
            raise ConfigError(
                f"the data has missing cells (data.missing=mask) but this likelihood ({type(self.px).__name__}) cannot "
                "leave them out; use model.likelihood=tabular (the miwae recipe does)"
            )
        return masked(x, mask)

    def kl(self) -> torch.Tensor:
        """Sum over every latent layer of its KL per example (B,); zeros for a model without latents."""
        if not self.latents:
            return torch.zeros(self.px.batch_shape[-1], device=self.px.mean.device)
        return torch.stack([latent.kl() for latent in self.latents]).sum(0)

    def aux_total(self) -> torch.Tensor | float:
        """Sum of the auxiliary losses, averaged over the batch where per-example."""
        return sum((v.mean() for v in self.aux.values()), 0.0)

    def logged(self) -> dict[str, torch.Tensor]:
        """What objectives add to their terms: each auxiliary loss (batch mean) and each stat, detached."""
        return {**{name: v.mean().detach() for name, v in self.aux.items()},
                **{name: v.detach() for name, v in self.stats.items()}}


def log_weights(
    output: Output, x: torch.Tensor, log_px: torch.Tensor | None = None, mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Importance log-weights (S, B): log p(x|z) + sum over layers of (log p(z) - log q(z|x)).

    The one place they are computed: IWAE training, the NLL estimate, anomaly scores and
    compression rates all read them from here (Burda et al. 2015, eq. 8). ``log_px``: the
    caller's already computed ``output.log_px(x)``, so it is not evaluated twice. ``mask``
    (B, *shape), True where observed: log p(x_o|z) replaces log p(x|z) (MIWAE, Mattei &
    Frellsen 2019, eq. 5); the encoder saw the zero-filled x.
    """
    log_w = output.log_px(x, mask) if log_px is None else log_px
    for latent in output.latents:
        log_w = log_w + latent.log_p - latent.log_q
    return log_w


@dataclass
class Loss:
    """``total`` is the scalar to minimise (mean over the batch); ``terms`` are batch means in
    nats per example, detached, for logging (``loss``, ``recon``, ``kl`` at least)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
