"""The training loop: the only code that holds optimisers, devices and process groups."""

from vaekit.training.trainer import fit

__all__ = ["fit"]
