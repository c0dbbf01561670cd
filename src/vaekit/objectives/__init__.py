"""Objectives call the model and return a :class:`~vaekit.core.types.Loss`.

An objective is built from the ``objective`` config section through ``OBJECTIVES`` and called
as ``objective(model, x, progress=epochs_done)``; ``progress`` (fractional epochs) drives
schedules such as KL warm-up. Every objective reports, in nats per example averaged over the
batch: ``loss`` (the bound being reported, e.g. -ELBO), ``recon`` (-log p(x|z)), ``kl``.
"""

from vaekit.objectives.registry import OBJECTIVES, build_objective
from vaekit.objectives import elbo, iwae  # noqa: F401  (registration)

__all__ = ["OBJECTIVES", "build_objective"]
