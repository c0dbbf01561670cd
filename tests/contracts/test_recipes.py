"""Every built-in recipe, and every task, through the same contract (a new recipe is tested by
being registered): train 2 epochs as "1 epoch, stop (as if killed), resume" and compare with a
straight run tensor for tensor; load; evaluate (finite, ELBO <= IW-k bound); sample; and each
task's smallest call. Recipes run on the embedded digits data, shrunk to seconds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaekit.core.config import recipe_names

SHRINK = ["data.name=digits", "data.limit=150", "train.batch_size=50", "train.early_stopping=none"]


@pytest.fixture(scope="module", params=recipe_names())
def recipe_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from vaekit.api import train

    from vaekit.core.config import load_recipe
    from vaekit.models import MODELS

    name = request.param
    base = tmp_path_factory.mktemp(f"recipe-{name}")
    kwargs = dict(overrides=SHRINK, echo=None, progress=False, report=False)
    first = getattr(MODELS.get(load_recipe(name).model["name"]), "PARENT_RECIPE", None)
    if first is not None:  # a second stage: train the first stage it builds on
        kwargs["parent"] = train(first, epochs=1, out=base / "parent", **kwargs)
    straight = train(name, epochs=2, out=base / "straight", **kwargs)
    split = train(name, epochs=2, out=base / "split", stop_after=1, **kwargs)
    train(resume=split, echo=None, progress=False, report=False)
    a, b = load_file(str(straight / "checkpoint.safetensors")), load_file(str(split / "checkpoint.safetensors"))
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), f"{name}: {key} differs after stop + resume"
    return name, straight


def test_recipe_loads_evaluates_and_samples(recipe_run: tuple[str, Path]) -> None:
    from vaekit import evaluate, load

    name, run_dir = recipe_run
    run = load(run_dir)
    ev = evaluate(run, k=64, write=False)
    if not getattr(run.model, "GENERATIVE", True):  # a classifier stage: accuracy, no samples
        assert 0.0 <= ev["accuracy"] <= 1.0 and math.isfinite(ev["cross_entropy"]), ev
        return
    assert all(math.isfinite(ev[key]) for key in ("nll", "elbo", "recon", "kl", "bits_per_dim")), ev
    assert -ev["nll"] >= ev["elbo"] - 0.05, f"{name}: IW-64 bound below the ELBO"
    samples = run.model.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, *run.shape) and torch.isfinite(samples).all()


TASKS = ["generate", "reconstruct", "interpolate", "embed", "evaluate"]


@pytest.mark.parametrize("task", TASKS)
def test_every_task_smallest_call(recipe_run: tuple[str, Path], task: str) -> None:
    from vaekit import load
    from vaekit.tasks.data import split_data
    from vaekit.tasks.embed import embed
    from vaekit.tasks.evaluate import evaluate_tensor
    from vaekit.tasks.generate import generate
    from vaekit.tasks.interpolate import interpolate
    from vaekit.tasks.reconstruct import reconstruct

    run = load(recipe_run[1])
    if not getattr(run.model, "GENERATIVE", True):
        pytest.skip(f"{recipe_run[0]} is not a generative model: it has no {task}")
    x, y = split_data(run, "test")
    x = x[:4]
    c = y[:4] if getattr(run.model, "cond_dim", 0) else None  # conditional recipes get the labels
    result = {
        "generate": lambda: generate(run.model, 2, generator=torch.Generator().manual_seed(0)),
        "reconstruct": lambda: reconstruct(run.model, x, cond=c),
        "interpolate": lambda: interpolate(run.model, x[0], x[1], steps=3, cond=None if c is None else c[:2]),
        "embed": lambda: embed(run.model, x, cond=c),
        "evaluate": lambda: torch.tensor(evaluate_tensor(run.model, x, y=c, k=2)["nll"]),
    }[task]()
    assert torch.is_tensor(result) and torch.isfinite(result).all()
