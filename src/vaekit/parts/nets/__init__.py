"""Encoder/decoder families (MLP and convolutional), registered in ``NETS``."""

from vaekit.parts.nets import conv, mlp  # noqa: F401  (registration)
