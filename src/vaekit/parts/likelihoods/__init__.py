"""Likelihoods p(x|z): turn decoder outputs (B, P, *shape) into a distribution over x.

Each likelihood is an ``nn.Module`` (it may own parameters, e.g. a shared variance) with a
class attribute ``params_per_element`` (P) and ``forward(params (..., P, *shape)) -> Distribution`` whose
event shape is the data shape, so ``log_prob(x)`` is the per-example log-likelihood in nats,
summed over every data element.
"""

from vaekit.parts.likelihoods import bernoulli, gaussian, logistic, tabular  # noqa: F401  (registration)
