"""Models compose parts; ``forward`` returns an :class:`~vaekit.core.types.Output`, never a loss."""

from vaekit.models.registry import MODELS, build_model
from vaekit.models.vae import VAE
from vaekit.models import classifier, ladder, markov_hierarchy, pixelcnn_prior, vq  # noqa: F401  (registration)

__all__ = ["MODELS", "VAE", "build_model"]
