"""The registries every part registers itself in."""

from vaekit.core.registry import Registry

ENCODERS: Registry = Registry("encoder net")
DECODERS: Registry = Registry("decoder net")
POSTERIORS: Registry = Registry("posterior")
PRIORS: Registry = Registry("prior")
LIKELIHOODS: Registry = Registry("likelihood")
