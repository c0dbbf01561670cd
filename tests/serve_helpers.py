"""Runs for the explorer's tests, trained once per session (shared by the API and browser tests
through a folder under pytest's session temp dir)."""

from __future__ import annotations

from pathlib import Path

import pytest

# digits: enough epochs for some active latent dims (the sliders must move the picture);
# a conditional run (label picker, restyle); a table (rows, not pictures). report=False: seconds.
PLANS = {
    "digits": dict(epochs=25, overrides=["objective.warmup_epochs=1"]),
    "cvae": dict(epochs=10, overrides=["model.conditional=true", "model.latent_dim=8"]),
    "table": dict(data="breast-cancer", epochs=10, overrides=["model.latent_dim=4"]),
}


def serve_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> run directory (trained on first call in the session, then reused)."""
    from vaekit.api import train

    root = tmp_path_factory.getbasetemp() / "serve-runs"
    out = {}
    for name, plan in PLANS.items():
        path = root / name
        if not (path / "model.safetensors").is_file():
            plan = dict(plan)
            train("vae", data=plan.pop("data", "digits"), out=path, echo=None, progress=False, report=False,
                  seed=0, **plan)
        out[name] = path
    return out
