"""The Python API: ``train``, ``load``, ``evaluate`` — the same operations the CLI offers."""

from vaekit.api.evaluate import evaluate
from vaekit.api.train import resolve_config, train
from vaekit.artifacts.load import load

__all__ = ["evaluate", "load", "resolve_config", "train"]
