"""VAE-GAN's three named steps: each moves only its own parameters; bad combinations are refused.
(Exact resume of all three optimisers runs in the recipe contract suite.)"""

from __future__ import annotations

import pytest
import torch

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import Batch, StepContext
from vaekit.models import build_model
from vaekit.objectives import build_objective

CTX = BuildContext(shape=(1, 8, 8))


def _setup():
    torch.manual_seed(0)
    model = build_model({"name": "vae", "latent_dim": 4, "net": {"name": "conv", "channels": [4, 8]}}, CTX)
    objective = build_objective({"name": "vae-gan", "disc_channels": [4, 8]}, CTX.but(latent_dim=4))
    return model, objective


@pytest.mark.parametrize("step", ["model", "decoder", "disc"])
def test_each_step_reaches_only_its_parameters(step: str) -> None:
    model, objective = _setup()
    steps = objective.steps(model)
    assert set(steps) == {"model", "decoder", "disc"}
    owned = {id(p) for p in steps[step].params}
    everything = [*model.parameters(), *objective.parameters()]
    assert {id(p) for s in steps.values() for p in s.params} == {id(p) for p in everything}  # a partition
    x = torch.rand(6, 1, 8, 8).bernoulli()
    loss = objective(model, Batch(x), StepContext(epoch=1.0), step=step)
    assert torch.isfinite(loss.total)
    for p in everything:
        p.grad = None
    loss.total.backward()
    moved = {id(p) for p in everything if p.grad is not None and p.grad.abs().sum() > 0}
    # Other steps' parameters may receive gradients (the trainer's optimiser for this step only
    # updates its own), but this step's own parameters must be reached.
    assert owned & moved, f"step {step} has no gradient on its own parameters"
    if step == "disc":
        assert moved <= owned  # reconstructions and samples are detached for the discriminator


def test_vae_gan_refuses_tables_and_ladders() -> None:
    with pytest.raises(ConfigError, match="needs image data"):
        build_objective({"name": "vae-gan"}, BuildContext(shape=(30,), latent_dim=4))
    ladder = build_model({"name": "ladder", "latent_dims": [4, 2], "hidden": [8], "net": {"name": "conv", "channels": [4, 8]}}, CTX)
    objective = build_objective({"name": "vae-gan", "disc_channels": [4, 8]}, CTX.but(latent_dim=6))
    with pytest.raises(ConfigError, match="one latent layer"):
        objective(ladder, Batch(torch.rand(4, 1, 8, 8).bernoulli()), StepContext(epoch=1.0), step="model")
