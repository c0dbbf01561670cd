"""The registries every part registers itself in. Each entry is a class built as
``Part(ctx: BuildContext, **settings)``; its keyword arguments are its settings."""

from vaekit.core.registry import Registry

NETS: Registry = Registry("net")
"""Encoder/decoder families: an entry builds ``.encoder`` and ``.decoder`` modules that match."""
POSTERIORS: Registry = Registry("posterior")
PRIORS: Registry = Registry("prior")
LIKELIHOODS: Registry = Registry("likelihood")
FLOWS: Registry = Registry("flow")
"""Invertible maps applied to posterior samples, each returning its log|det J|."""
PERCEPTUAL: Registry = Registry("perceptual term")
"""Perceptual reconstruction terms an objective may add (``objective.perceptual``)."""
