"""Discrete coding distributions for bits-back coding (Townsend et al. 2019, BB-ANS, sec. 3).

Latents: each latent dimension's prior N(0, 1) is cut into K = 2**latent_bits buckets of equal
prior mass, with edges e_i = Phi^-1(i / K), i = 0..K. Under the prior every bucket then has
probability exactly 1/K (coded with a uniform model), and the posterior N(mu, sigma^2) gives
bucket i the mass Phi((e_{i+1} - mu) / sigma) - Phi((e_i - mu) / sigma). The decoder network sees
the bucket's centre c_i = Phi^-1((i + 1/2) / K) (the median of the prior inside the bucket).

Data: the discretised logistic of :mod:`vaekit.parts.likelihoods.logistic` over ``levels`` grey
values (edge bins take the tails), or a Bernoulli per element.

Every function here works on float64 numpy arrays and uses only element-wise operations
(no reductions whose order could change with threads or vector width except the row sums of
:func:`normalise`, which numpy computes in a fixed pairwise order), so the same inputs give the
same bits in any process. The tables are quantised to integers by ``constriction``'s
deterministic fixed-point quantiser (24-bit precision) on both sides.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import expit, ndtr, ndtri

# Every table entry is floored here before constriction's own floor (one 2**-24 unit): a
# probability that underflows to 0 in float64 must still be codable, and 1e-12 costs nothing.
FLOOR = 1e-12
WINDOW = 9.0  # posterior standard deviations evaluated on each side of the mean


@lru_cache(maxsize=8)
def bucket_edges(latent_bits: int) -> np.ndarray:
    """(K + 1,) equal-prior-mass edges, -inf and +inf at the ends."""
    k = 1 << latent_bits
    return ndtri(np.arange(k + 1, dtype=np.float64) / k)


@lru_cache(maxsize=8)
def bucket_centres(latent_bits: int) -> np.ndarray:
    """(K,) the prior median of each bucket: what the decoder network is fed."""
    k = 1 << latent_bits
    return ndtri((np.arange(k, dtype=np.float64) + 0.5) / k)


@lru_cache(maxsize=8)
def uniform_edges(latent_bits: int, radius: float) -> np.ndarray:
    """(K + 1,) edges of K - 2 equal-width bins over [-radius, radius] and the two open tails
    (-inf at the start, +inf at the end): the grid of a ladder's lower layers (:mod:`.hierarchy`),
    whose conditional priors are narrow and need not stay where N(0, 1) has its mass."""
    k = 1 << latent_bits
    inner = np.linspace(-radius, radius, k - 1)
    return np.concatenate([[-np.inf], inner, [np.inf]])


@lru_cache(maxsize=8)
def uniform_centres(latent_bits: int, radius: float) -> np.ndarray:
    """(K,) bin midpoints of :func:`uniform_edges`; a tail bin's 'centre' is half a width beyond its edge."""
    edges = uniform_edges(latent_bits, radius)
    width = edges[2] - edges[1]
    inner = 0.5 * (edges[1:-2] + edges[2:-1])
    return np.concatenate([[-radius - 0.5 * width], inner, [radius + 0.5 * width]])


def normalise(p: np.ndarray) -> np.ndarray:
    """Floor at :data:`FLOOR` (in place). Rows need not sum to one: constriction rescales each
    table exactly (in integer arithmetic) when it quantises it."""
    return np.maximum(p, FLOOR, out=p)


def posterior_buckets(mu: np.ndarray, sigma: np.ndarray, latent_bits: int,
                      edges: np.ndarray | None = None) -> np.ndarray:
    """(L, K) posterior mass of every bucket, for mu, sigma of shape (L,); ``edges``: the (K + 1,)
    bucket edges, by default the equal-prior-mass ones (:func:`bucket_edges`).

    Only the edges within mu +- WINDOW sigma (plus one on each side) are evaluated: a bucket
    wholly outside has mass below Phi(-WINDOW) ~ 1e-19, which the :data:`FLOOR` replaces anyway
    (this makes a 4,096-bucket table cost about as much as the ~50 buckets that matter).
    The mass is a difference of two CDF values; in the upper tail both are near 1 and the
    difference cancels, so there the mirror identity Phi(b) - Phi(a) = Phi(-a) - Phi(-b) is used
    (both terms small)."""
    edges = bucket_edges(latent_bits) if edges is None else edges  # (K + 1,)
    k = len(edges) - 1
    out = np.zeros((len(mu), k))
    first = np.searchsorted(edges, mu - WINDOW * sigma, side="left") - 1
    last = np.searchsorted(edges, mu + WINDOW * sigma, side="right") + 1
    for d in range(len(mu)):
        a, b = max(int(first[d]), 0), min(int(last[d]), k + 1)  # edges a .. b-1
        t = (edges[a:b] - mu[d]) / sigma[d]  # standardised edges
        below, above = ndtr(t), ndtr(-t)
        # t[:-1] > 0: the bucket lies above the mean, use the mirrored (small) tail values.
        out[d, a:b - 1] = np.where(t[:-1] > 0, above[:-1] - above[1:], below[1:] - below[:-1])
    return normalise(out)


def logistic_table(loc: np.ndarray, log_scale: np.ndarray, levels: int) -> np.ndarray:
    """(D, levels) probabilities of each grey level under the discretised logistic with
    location ``loc`` and log-scale ``log_scale`` (both (D,), on the [0, 1] grid k / (levels - 1)).

    Bin k spans [(k - 1/2)/(levels - 1), (k + 1/2)/(levels - 1)]; the first and last bins take
    the tails, exactly as :class:`vaekit.parts.likelihoods.logistic.DiscretizedLogistic`."""
    inner = (np.arange(levels - 1, dtype=np.float64) + 0.5) / (levels - 1)  # (levels - 1,) bin boundaries
    inv_s = np.exp(-log_scale)[:, None]
    t = (inner[None, :] - loc[:, None]) * inv_s  # (D, levels - 1) standardised boundaries, increasing in k
    # s = sigmoid(-|t|) <= 1/2: the CDF at boundaries below the location, 1 - CDF above it. Bins
    # with both boundaries on one side are differences of two such small tail values (no
    # cancellation); the one bin straddling the location is 1 - s_lower - s_upper.
    e = np.exp(-np.abs(t))
    small = e / (1.0 + e)
    mass = np.empty((t.shape[0], levels))
    mass[:, 0] = np.where(t[:, 0] < 0, small[:, 0], 1.0 - small[:, 0])      # bottom bin: CDF(upper boundary)
    mass[:, -1] = np.where(t[:, -1] >= 0, small[:, -1], 1.0 - small[:, -1])  # top bin: 1 - CDF(lower boundary)
    mid = np.abs(small[:, 1:] - small[:, :-1])  # (D, levels - 2)
    straddle = (t[:, :-1] < 0) & (t[:, 1:] >= 0)
    mass[:, 1:-1] = np.where(straddle, 1.0 - small[:, :-1] - small[:, 1:], mid)
    return normalise(mass)


def bernoulli_table(logits: np.ndarray) -> np.ndarray:
    """(D,) probability of a one for each element."""
    return np.clip(expit(logits), FLOOR, 1.0 - FLOOR)
