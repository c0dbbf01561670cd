"""Encoder and decoder networks (MLP and convolutional)."""

from vaekit.parts.nets import conv, mlp  # noqa: F401  (registration)
