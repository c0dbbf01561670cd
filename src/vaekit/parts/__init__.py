"""Building blocks of a VAE, each registered by name and built from a spec with a
:class:`~vaekit.core.build.BuildContext`.

* ``NETS`` (``vaekit.parts.nets``): encoder/decoder families.
* ``POSTERIORS``: features -> ``torch.distributions`` object q(z|x); ``FLOWS`` refine it.
* ``PRIORS``: p(z) as a ``torch.distributions`` object.
* ``LIKELIHOODS``: decoder output -> ``torch.distributions`` object p(x|z).

Importing this package registers every built-in part.
"""

from vaekit.parts.registries import FLOWS, LIKELIHOODS, NETS, PERCEPTUAL, POSTERIORS, PRIORS
from vaekit.parts import flows, nets, likelihoods, posterior_gaussian, prior_normal  # noqa: F401  (registration)
from vaekit.parts import perceptual, prior_mog, prior_vamp  # noqa: F401  (registration)
from vaekit.parts.kl import analytic_kl, kl_divergence_per_dim

REGISTRIES = {"net": NETS, "posterior": POSTERIORS, "prior": PRIORS, "likelihood": LIKELIHOODS, "flow": FLOWS,
              "perceptual": PERCEPTUAL}

__all__ = [
    "FLOWS", "LIKELIHOODS", "NETS", "PERCEPTUAL", "POSTERIORS", "PRIORS", "REGISTRIES", "analytic_kl", "kl_divergence_per_dim",
]
