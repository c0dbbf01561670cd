"""Building blocks of a VAE, each registered by name.

* ``ENCODERS`` / ``DECODERS`` (``vaekit.parts.nets``): deterministic networks.
* ``POSTERIORS``: feature vector -> ``torch.distributions`` object q(z|x).
* ``PRIORS``: p(z) as a ``torch.distributions`` object.
* ``LIKELIHOODS``: decoder output -> ``torch.distributions`` object p(x|z).

Importing this package registers every built-in part.
"""

from vaekit.parts.registries import DECODERS, ENCODERS, LIKELIHOODS, POSTERIORS, PRIORS
from vaekit.parts import nets, likelihoods, posterior_gaussian, prior_normal  # noqa: F401  (registration)
from vaekit.parts.kl import kl_divergence_per_dim, kl_divergence_total

__all__ = [
    "DECODERS", "ENCODERS", "LIKELIHOODS", "POSTERIORS", "PRIORS",
    "kl_divergence_per_dim", "kl_divergence_total",
]
