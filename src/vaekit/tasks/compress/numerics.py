"""The network half of the coding distributions, computed so that encoder and decoder agree bit
for bit in any process (the desync CompressAI's users hit across machines).

Choices, each for a reason:

* **float64, one example at a time, one thread.** A float32 matrix product can change in its
  last bits with the thread count (the reduction is split differently) or the batch size (a
  different kernel is picked). The coder therefore evaluates a float64 copy of the networks
  on batches of exactly one example, inside ``torch.set_num_threads(1)`` (the caller's thread
  count is restored afterwards), so encoding under 2 threads and decoding under 1 thread run
  the very same floating-point operations in the same order.
* **Outputs rounded to a 2**-20 grid.** The network outputs that define the distributions
  (posterior mean and log-variance, logistic location and log-scale, Bernoulli logits) are
  rounded to multiples of 2**-20 before any table is built. Within one machine and torch build
  the rounding changes nothing (the values are identical already); across machines whose
  float64 kernels differ in the last bit (~1e-16) the rounded values can only differ when a
  value falls within ~1e-16 of a grid boundary, about one value in 10**10.
* **Tables quantised by constriction** (24-bit fixed point, deterministic) from identical
  float64 tables, so both sides code with identical integer frequencies.

Whatever happens, the container's hash of the original data is checked after decoding: a
desync can only ever surface as an error, never as different data.

The small transformations after the networks mirror
:class:`vaekit.parts.posterior_gaussian.GaussianPosterior` (log-variance clamp) and the
likelihood parts' ``forward`` (logistic: location offset 0.5 and log-scale floor; Bernoulli:
logits), recomputed here in float64 because those modules cast to float32.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from vaekit.core.errors import VaekitError
from vaekit.parts.posterior_gaussian import GaussianPosterior
from vaekit.parts.prior_normal import StandardNormalPrior

GRID = 2.0 ** -20


class UnsupportedRun(VaekitError):
    """The run's model cannot be used for bits-back coding (exit code 2: choose another run)."""

    exit_code = 2


def snap(v: torch.Tensor) -> np.ndarray:
    """float64 tensor -> numpy, rounded to multiples of :data:`GRID`."""
    return np.round(v.detach().cpu().numpy().astype(np.float64) / GRID) * GRID


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, restoring the caller's setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class CodingNets:
    """A float64 copy of a run's VAE evaluated one example at a time (see the module docstring).

    ``likelihood``: "logistic" or "bernoulli"; ``levels``: grey levels of the logistic."""

    def __init__(self, model: torch.nn.Module, likelihood: str, levels: int) -> None:
        self.check(model)
        self.model = copy.deepcopy(model).cpu().double().eval()
        self.shape = tuple(int(s) for s in model.shape)
        self.likelihood, self.levels = likelihood, levels
        self.logvar_range = GaussianPosterior.LOGVAR_RANGE
        # The logistic part's floor on the log-scale: a tenth of a bin width.
        self.min_log_scale = math.log(0.1 / (levels - 1)) if levels > 1 else 0.0

    def check(self, model: torch.nn.Module) -> None:
        """Refuse a model this class cannot evaluate (overridden for other model families)."""
        check_model(model)

    def inputs(self, symbols: np.ndarray) -> torch.Tensor:
        """Grey-level indices (D,) -> the float64 batch of one example the networks see, (1, *shape):
        level k -> k / (levels - 1), the run's saved preprocessing."""
        scale = 1.0 / (self.levels - 1)
        return torch.from_numpy(symbols.astype(np.float64) * scale).reshape(1, *self.shape)  # (1, C, H, W)

    @torch.no_grad()
    def posterior(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grey-level indices (D,) -> posterior mean and standard deviation, each (L,)."""
        h = self.model.encoder(self.inputs(symbols), None)  # (1, F)
        mu, logvar = self.model.posterior.head(h).chunk(2, dim=-1)  # (1, L) each
        mu, logvar = snap(mu[0]), snap(logvar[0].clamp(*self.logvar_range))
        return mu, np.exp(0.5 * logvar)

    @torch.no_grad()
    def likelihood_params(self, z: np.ndarray) -> tuple[np.ndarray, ...]:
        """Latent (L,) -> the likelihood's parameters per data element: (loc, log_scale) for
        the logistic, (logits,) for the Bernoulli; each (D,)."""
        params = self.model.decoder(torch.from_numpy(z).reshape(1, -1), None)[0]  # (P, C, H, W)
        if self.likelihood == "bernoulli":
            return (snap(params[0].reshape(-1)),)
        loc = snap(params[0].reshape(-1) + 0.5)
        log_scale = snap(params[1].reshape(-1).clamp(min=self.min_log_scale))
        return loc, log_scale


def check_model(model: torch.nn.Module) -> None:
    """Refuse models the coder does not implement, saying what works."""
    what = ("bits-back coding needs a `vae` run with a plain Gaussian posterior and the standard-normal prior "
            "(or a hierarchical `ladder` or `bitswap` run, see vaekit.tasks.compress.ladder_nets and .markov_nets)")
    if type(model).__name__ != "VAE" or not hasattr(model, "posterior"):
        raise UnsupportedRun(f"{what}; this run's model is {type(model).__name__}")
    if not isinstance(model.posterior, GaussianPosterior) or len(model.posterior.flows):
        raise UnsupportedRun(f"{what}; this run's posterior has flows, whose bucket masses have no closed form")
    if not isinstance(model.prior, StandardNormalPrior):
        raise UnsupportedRun(f"{what}; this run's prior is {type(model.prior).__name__} "
                             "(train with model.prior=normal, e.g. `vaekit train --recipe compress`)")
    if getattr(model, "cond_dim", 0):
        raise UnsupportedRun(f"{what}; this run is conditional (labels would have to be coded too): train it "
                             "without model.conditional")
