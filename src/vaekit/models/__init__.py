"""Models compose parts; ``forward`` returns an :class:`~vaekit.core.types.Output`, never a loss."""

from vaekit.models.build import build_model
from vaekit.models.vae import VAE

__all__ = ["VAE", "build_model"]
