"""The ladder VAE's coding distributions (Sønderby et al. 2016), computed as deterministically as
:class:`~.numerics.CodingNets` computes the one-layer VAE's (float64 copy, one example, one
thread, outputs snapped to the 2**-20 grid), for hierarchical bits-back coding (:mod:`.hierarchy`).

The ladder (src/vaekit/models/ladder.py) factorises as

    generative  p(z_T) p(z_{T-1} | z_T) ... p(z_1 | z_2) p(x | z_1)
    inference   q(z_T | x) q(z_{T-1} | z_T, x) ... q(z_1 | z_2, x)

where q(z_T | x) = N(mu_hat_T, s_hat_T^2) is the top bottom-up estimate and, for i < T, q(z_i | z_{i+1}, x)
is the precision-weighted merge (paper, eq. 17-18) of the bottom-up estimate N(mu_hat_i, s_hat_i^2)
with the top-down prior N(mu_p_i, s_p_i^2) = p(z_i | z_{i+1}).

The model's own forward pass casts to float32 (``.float()``); here the same modules are run on a
float64 copy without those casts, and the merge is done in numpy float64 on snapped values, so the
encoder and the decoder (which only ever calls these methods with the same arguments) compute the
same bits.
"""

from __future__ import annotations

import numpy as np
import torch

from vaekit.models.ladder import LOGVAR_RANGE
from vaekit.parts.prior_normal import StandardNormalPrior
from vaekit.tasks.compress.numerics import GRID, CodingNets, UnsupportedRun, snap


def check_ladder(model: torch.nn.Module) -> None:
    """Refuse ladder runs the hierarchical coder does not implement, saying what works."""
    what = "hierarchical bits-back coding needs a `ladder` run with the standard-normal top prior"
    if type(model).__name__ != "LadderVAE":
        raise UnsupportedRun(f"{what}; this run's model is {type(model).__name__}")
    if not isinstance(model.prior, StandardNormalPrior):
        raise UnsupportedRun(f"{what}; this run's prior is {type(model.prior).__name__} (train with model.prior=normal)")
    if getattr(model, "cond_dim", 0):
        raise UnsupportedRun(f"{what}; this run is conditional (labels would have to be coded too): train it "
                             "without model.conditional")


def merge(mu_hat: np.ndarray, lv_hat: np.ndarray, mu_p: np.ndarray, lv_p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ladder's precision-weighted posterior (Sønderby et al. 2016, eq. 17-18), element-wise in
    float64 on snapped inputs; returns (mean, standard deviation), each (L_i,), the mean and the
    log-variance snapped again."""
    prec_hat, prec_p = np.exp(-lv_hat), np.exp(-lv_p)
    var = 1.0 / (prec_hat + prec_p)
    mu = np.round((mu_hat * prec_hat + mu_p * prec_p) * var / GRID) * GRID
    logvar = np.round(np.log(var) / GRID) * GRID
    return mu, np.exp(0.5 * logvar)


class HierarchyCodingNets(CodingNets):
    """What every hierarchical run's coding networks share (the ladder's and the Markov
    hierarchy's, :mod:`.markov_nets`): the layer sizes, Gaussian heads snapped to the grid, and the
    top-down conditionals p(z_i | z_{i+1}) (both models keep them in ``model.down``).
    ``likelihood_params`` (p(x | z_1) from the bottom layer's latent) is inherited: the decoder and
    likelihood part are the same modules as a VAE's."""

    @property
    def dims(self) -> tuple[int, ...]:
        """(L_1, ..., L_T), bottom first."""
        return tuple(int(d) for d in self.model.dims)

    @staticmethod
    def _gaussian(params: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(1, 2L) head output -> snapped mean (L,), snapped clamped log-variance (L,)."""
        mu, logvar = params[0].chunk(2, dim=-1)
        return snap(mu), snap(logvar.clamp(*LOGVAR_RANGE))

    @torch.no_grad()
    def prior_below(self, z_above: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """p(z_level | z_level+1) for the parent's latent values (L_{level+1},) -> snapped mean and
        log-variance, each (L_level,); ``level`` counts from 0 (the bottom layer)."""
        params = self.model.down[level](torch.from_numpy(np.ascontiguousarray(z_above)).reshape(1, -1))  # (1, 2 L)
        return self._gaussian(params)


class LadderCodingNets(HierarchyCodingNets):
    """A float64 copy of a ladder run evaluated one example at a time."""

    def check(self, model: torch.nn.Module) -> None:
        check_ladder(model)

    @torch.no_grad()
    def bottom_up(self, symbols: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Grey-level indices (D,) -> [(mu_hat_i, logvar_hat_i), each (L_i,), for i = 1..T]."""
        d = self.model.encoder(self.inputs(symbols), None)  # (1, F) float64 (the model's .float() cast left out)
        out = [self._gaussian(self.model.up_heads[0](d))]
        for block, head in zip(self.model.up, self.model.up_heads[1:]):
            d = block(d)  # (1, H_i)
            out.append(self._gaussian(head(d)))
        return out
