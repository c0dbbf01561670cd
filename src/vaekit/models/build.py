"""Build a model from the ``model`` section of a config through the part registries."""

from __future__ import annotations

from vaekit.core.config import ModelConfig
from vaekit.models.vae import VAE
from vaekit.parts import DECODERS, ENCODERS, LIKELIHOODS, POSTERIORS, PRIORS


def build_model(cfg: ModelConfig, shape: tuple[int, ...], levels: int | None = None) -> VAE:
    """``shape`` is one example's shape, ``levels`` the number of discrete values of the data
    (``None`` if continuous); both come from the dataset."""
    shape = tuple(shape)
    likelihood = LIKELIHOODS.get(cfg.likelihood)(shape, variance=cfg.variance, levels=levels)
    encoder = ENCODERS.get(cfg.net)(shape, cfg.hidden, cfg.activation)
    decoder = DECODERS.get(cfg.net)(shape, cfg.hidden, cfg.latent_dim, likelihood.params_per_element, cfg.activation)
    posterior = POSTERIORS.get(cfg.posterior)(encoder.out_features, cfg.latent_dim)
    prior = PRIORS.get(cfg.prior)(cfg.latent_dim)
    return VAE(encoder, posterior, prior, decoder, likelihood, shape)
