"""Complete a config: validate the model and objective specs against their registered classes
and fill in every default, so ``config.json`` records exactly what was built."""

from __future__ import annotations

from vaekit.core.config import Config
from vaekit.models import MODELS
from vaekit.objectives import OBJECTIVES


def complete_config(config: Config) -> Config:
    """The same config with ``model`` and ``objective`` resolved (raises ConfigError on bad specs)."""
    model = MODELS.resolve(config.model, "model")
    objective = OBJECTIVES.resolve(config.objective, "objective")
    return config.model_copy(update={"model": model, "objective": objective})
