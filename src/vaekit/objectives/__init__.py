"""Objectives call the model and return a :class:`~vaekit.core.types.Loss`.

An objective is an ``nn.Module`` built from the ``objective`` spec through ``OBJECTIVES`` and
called as ``objective(model, batch, step_context, step=name)`` for each of its named steps; the
step context drives schedules such as KL warm-up. Every objective reports, in nats per example
averaged over the batch: ``loss`` (the bound being reported, e.g. -ELBO), ``recon``
(-log p(x|z)), ``kl`` (summed over all latent layers) and ``objective`` (what is minimised).
"""

from vaekit.objectives.registry import MAIN_STEP, OBJECTIVES, Objective, StepSpec, build_objective
from vaekit.objectives import capacity, classification, elbo, factor, iwae, tc, vae_gan  # noqa: F401  (registration)

__all__ = ["MAIN_STEP", "OBJECTIVES", "Objective", "StepSpec", "build_objective"]
