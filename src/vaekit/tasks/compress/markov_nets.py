"""The coding distributions of a Markov hierarchical VAE (the `bitswap` recipe,
src/vaekit/models/markov_hierarchy.py), computed as deterministically as the one-layer VAE's and
the ladder's (:mod:`.numerics`: float64 copy, one example, one thread, outputs snapped to the
2**-20 grid), for Bit-Swap coding (:mod:`.bitswap`; Kingma, Abbeel & Ho, ICML 2019).

    inference   q(z_1 | x) q(z_2 | z_1) ... q(z_T | z_{T-1})
    generative  p(z_T) p(z_{T-1} | z_T) ... p(z_1 | z_2) p(x | z_1)

``prior_below`` (p(z_i | z_{i+1}) from ``model.down``) and ``likelihood_params`` (p(x | z_1)) are
the hierarchy's shared ones (:class:`~.ladder_nets.HierarchyCodingNets`); this class adds the
bottom-up Markov posteriors. The model's own ``.float()`` casts are left out, as for the ladder.
"""

from __future__ import annotations

import numpy as np
import torch

from vaekit.parts.prior_normal import StandardNormalPrior
from vaekit.tasks.compress.ladder_nets import HierarchyCodingNets
from vaekit.tasks.compress.numerics import UnsupportedRun

MODEL_CLASS = "MarkovHierarchyVAE"


def check_markov(model: torch.nn.Module) -> None:
    """Refuse runs Bit-Swap coding does not implement, saying what works."""
    if type(model).__name__ != MODEL_CLASS:
        raise UnsupportedRun(f"Bit-Swap coding needs a `bitswap` run (model.name='markov_hierarchy'); this run's model "
                             f"is {type(model).__name__}")
    if not isinstance(model.prior, StandardNormalPrior):  # the model fixes it; a guard against edited checkpoints
        raise UnsupportedRun(f"Bit-Swap coding needs the standard-normal top prior; this run's is "
                             f"{type(model.prior).__name__}")


class MarkovCodingNets(HierarchyCodingNets):
    """A float64 copy of a Markov hierarchy run evaluated one example at a time."""

    def check(self, model: torch.nn.Module) -> None:
        check_markov(model)

    @torch.no_grad()
    def posterior_first(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grey-level indices (D,) -> q(z_1 | x): snapped mean and log-variance, each (L_1,)."""
        h = self.model.encoder(self.inputs(symbols), None)  # (1, F) float64
        return self._gaussian(self.model.q_head(h))

    @torch.no_grad()
    def posterior_up(self, z_below: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """q(z_level | z_level-1) for the values of the layer below (L_{level-1},) -> snapped mean and
        log-variance, each (L_level,); ``level`` counts from 0 (so 1..T-1 here)."""
        params = self.model.up[level - 1](torch.from_numpy(np.ascontiguousarray(z_below)).reshape(1, -1))  # (1, 2 L)
        return self._gaussian(params)
