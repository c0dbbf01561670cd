"""Bits-back coding for the ladder VAE's hierarchy of latents: BB-ANS over the joint latent
(Townsend, Bird & Barber, ICLR 2019), in the only order the ladder's factorisation allows.

Why not Bit-Swap (Kingma, Abbeel & Ho, ICML 2019)? Bit-Swap interleaves: it decodes z_1 ~ q(z_1|x),
encodes x under p(x|z_1), decodes z_2 ~ q(z_2|z_1), encodes z_1 under p(z_1|z_2), ... so the stack
never has to lend more than the largest single step, not the sum. That needs the inference model to
be a Markov chain *upwards*, q(z_1|x) q(z_2|z_1) ..., so that z_1 exists before z_2 is drawn. The
ladder's inference runs the other way: q(z_T|x) q(z_{T-1}|z_T, x) ... q(z_1|z_2, x), z_1 last.
Every encoder-side push needs its conditioning variable: x needs z_1 (drawn last of all), z_i needs
z_{i+1}; and the decoder must be able to undo each step in reverse order, which forces z_T to be
pushed last (only p(z_T) needs nothing). So every latent must be popped before x can be pushed,
and the only exactly decodable order per example is

    encoder: pop z_T ~ q(z_T|x), pop z_{T-1} ~ q(.|z_T, x), ..., pop z_1 ~ q(.|z_2, x);
             push x under p(x|z_1); push z_1 under p(z_1|z_2), ..., z_{T-1} under p(.|z_T); push z_T under p(z_T)
    decoder: the inverse in reverse order: pop z_T (uniform), z_{T-1}, ..., z_1 under the priors,
             pop x under p(x|z_1), then push z_1 ... z_T back under q (given x and the parents).

The cost per example is the same -ELBO as Bit-Swap's; what differs is the one-off initial bits: the
first example borrows sum_i -log2 q(z_i|.) bits (every layer at once) where Bit-Swap would borrow
about the largest layer's share.

Discretisation (K = 2**latent_bits buckets per dimension, :mod:`.discretise`): the top layer uses
the equal-mass buckets of N(0, 1), so p(z_T) is uniform over them; the lower layers use K - 2
equal-width bins over [-R, R] (R = ``lower_radius``, 16) and two open tails, because their
conditional priors are narrow (a trained 32-16-8 ladder on `digits`: posterior sd ~0.02 on z_1) and
sit anywhere (|z_1| up to ~13), where N(0, 1)'s equal-mass buckets are coarse or one open tail. The
Gaussians p(z_i|z_{i+1}) and q(z_i|...) give each bucket its mass by
:func:`~.discretise.posterior_buckets`. Networks see bucket centres (the top layer's prior medians,
the lower layers' bin midpoints). Latents are popped from posterior tables cut to mu +- 7 sigma
(:meth:`LadderCoder._window`): the 24-bit quantiser's minimum mass on thousands of far buckets would
otherwise send one latent in ~4,000 to a wild value, which the layers below pay for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import constriction
import numpy as np

from vaekit.tasks.compress.bbans import INIT_BITS_PER_SYMBOL, BitsBackCoder, DesyncError
from vaekit.tasks.compress.discretise import bucket_edges, posterior_buckets, uniform_centres, uniform_edges
from vaekit.tasks.compress.ladder_nets import HierarchyCodingNets, merge

SCHEME = "bbans-ladder"
Q_WINDOW = 7.0  # posterior standard deviations kept in each sampling table (see LadderCoder._window)


@dataclass(frozen=True)
class LadderSettings:
    """What the header records for a ladder stream; ``scheme`` and ``latent_dims`` let the decoder
    refuse a run of another shape with a clear message (the model sha256 already pins the run)."""

    latent_bits: int = 12
    init_symbols: int = 0
    scheme: str = SCHEME
    latent_dims: tuple[int, ...] = ()
    lower_radius: float = 16.0  # the lower layers' grid: equal-width bins over [-R, R] and two tails
    q_window: float = Q_WINDOW  # posterior standard deviations kept in each sampling table


def ladder_init_symbols(latent_dims: tuple[int, ...], latent_bits: int) -> int:
    """Initial 16-bit symbols: all layers are popped before anything is pushed, so the first
    example borrows ~ latent_bits bits per latent dimension of *every* layer (+ 4 for the state)."""
    return math.ceil(latent_bits * sum(latent_dims) / INIT_BITS_PER_SYMBOL) + 4


class HierarchicalCoder(BitsBackCoder):
    """What the hierarchical coders share (this module's :class:`LadderCoder` and
    :class:`~.bitswap.BitSwapCoder`): the two latent grids, the posterior tables cut to a window,
    popping and pushing one layer, and p(x | z_1) fed the lower grid's bin centres."""

    def __init__(self, nets: HierarchyCodingNets, settings: LadderSettings) -> None:
        super().__init__(nets, int(sum(settings.latent_dims)), settings)  # type: ignore[arg-type]
        self.dims = tuple(settings.latent_dims)
        self.top = constriction.stream.model.Uniform(self.k)
        self.lower_edges = uniform_edges(settings.latent_bits, settings.lower_radius)  # (K + 1,)
        self.lower_centres = uniform_centres(settings.latent_bits, settings.lower_radius)  # (K,)
        self.edges_top = bucket_edges(settings.latent_bits)  # (K + 1,)

    def _buckets(self, mu: np.ndarray, sigma: np.ndarray, top: bool = False) -> np.ndarray:
        """(L_i, K) bucket masses of N(mu, sigma^2) on the top layer's or the lower layers' grid."""
        return posterior_buckets(mu, sigma, self.settings.latent_bits, None if top else self.lower_edges)

    def _window(self, mu: np.ndarray, sigma: np.ndarray, top: bool) -> tuple[np.ndarray, np.ndarray]:
        """The posterior's table restricted to the buckets within mu +- Q_WINDOW sigma: (start (L_i,),
        table (L_i, W)), W the widest window of the layer, each row's window shifted into 0..K-1.

        Why: constriction's quantiser gives every bucket of a table at least one unit of 2**-24, so
        a full 4,096-bucket posterior table puts ~4096 x 2**-24 = 2.4e-4 of its mass on buckets many
        standard deviations away, and popping z from it lands there about once per 4,000 latent
        dimensions. One such z in a layer of a ladder costs hundreds of bits in the layers below and
        in p(x|z_1) (measured: +5 % of the payload on `digits`). Posterior buckets beyond Q_WINDOW
        sigma (Q_WINDOW = 7: mass < 1e-11) are left out of the sampling table instead; encoder and decoder compute
        the same window from the same mu and sigma. Priors (pushes only) keep the whole grid."""
        edges = self.edges_top if top else self.lower_edges
        lo = np.clip(np.searchsorted(edges, mu - self.settings.q_window * sigma, side="right") - 1, 0, self.k - 1)  # (L_i,)
        hi = np.clip(np.searchsorted(edges, mu + self.settings.q_window * sigma, side="left") - 1, 0, self.k - 1)  # (L_i,)
        width = int((hi - lo).max()) + 1
        start = np.clip(lo, 0, self.k - width)  # (L_i,)
        full = self._buckets(mu, sigma, top)  # (L_i, K)
        return start, full[np.arange(len(mu))[:, None], start[:, None] + np.arange(width)[None, :]]  # (L_i, W)

    def _pop_q(self, coder: "constriction.stream.stack.AnsCoder", mu: np.ndarray, sigma: np.ndarray,
               top: bool = False) -> np.ndarray:
        """Decode bucket indices (L_i,) from the stack under the windowed posterior (bits back)."""
        start, table = self._window(mu, sigma, top)
        return start + coder.decode(self.categorical, np.ascontiguousarray(table))

    def _push_q(self, coder: "constriction.stream.stack.AnsCoder", z: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                top: bool = False) -> None:
        """The inverse of :meth:`_pop_q` (the decoder gives the bits back)."""
        start, table = self._window(mu, sigma, top)
        j = z.astype(np.int64) - start
        if (j < 0).any() or (j >= table.shape[1]).any():
            raise DesyncError("a decoded latent lies outside its posterior's window")
        coder.encode_reverse(j.astype(np.int32), self.categorical, np.ascontiguousarray(table))

    def _values(self, z: np.ndarray, level: int) -> np.ndarray:
        """Bucket indices of layer ``level`` (0 = bottom) -> the values the networks are fed."""
        return self.centres[z] if level == len(self.dims) - 1 else self.lower_centres[z]

    def _encode_x(self, coder: "constriction.stream.stack.AnsCoder", symbols: np.ndarray, z: np.ndarray) -> None:
        super()._encode_x(coder, symbols, z, self.lower_centres if len(self.dims) > 1 else self.centres)

    def _decode_x(self, coder: "constriction.stream.stack.AnsCoder", z: np.ndarray) -> np.ndarray:
        return super()._decode_x(coder, z, self.lower_centres if len(self.dims) > 1 else self.centres)

    def _prior(self, z_above: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """p(z_level | z_level+1) from the parent's bucket indices: (mean, log-variance), each (L_level,)."""
        return self.nets.prior_below(self._values(z_above, level + 1), level)

    def _push_p(self, coder: "constriction.stream.stack.AnsCoder", z: np.ndarray,
                prior: tuple[np.ndarray, np.ndarray]) -> None:
        """Push a lower layer's bucket indices (L_i,) under p(z_i | z_{i+1}) = N(mean, exp(log-variance)), whole grid."""
        mu_p, lv_p = prior
        coder.encode_reverse(z.astype(np.int32), self.categorical, self._buckets(mu_p, np.exp(0.5 * lv_p)))

    def _pop_p(self, coder: "constriction.stream.stack.AnsCoder", prior: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The inverse of :meth:`_push_p`: bucket indices (L_i,)."""
        mu_p, lv_p = prior
        return coder.decode(self.categorical, self._buckets(mu_p, np.exp(0.5 * lv_p)))


class LadderCoder(HierarchicalCoder):
    """BB-ANS over a ladder run's joint latent; same interface as :class:`BitsBackCoder`."""

    def _encode_example(self, coder: "constriction.stream.stack.AnsCoder", x: np.ndarray,
                        note: Callable[[str], None]) -> None:
        """Pop every layer top-down (bits back), push x, push every layer under its prior; ``note``
        names each step ("start", "q<i>" pops, "x", "p<i>" pushes): the measure of how many bits
        each layer borrows."""
        top = len(self.dims) - 1
        note("start")
        est = self.nets.bottom_up(x)  # [(mu_hat_i, logvar_hat_i) (L_i,)], bottom first
        z: list[np.ndarray] = [np.empty(0, np.int32)] * len(self.dims)
        priors: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0), np.empty(0))] * top
        mu, lv = est[top]
        z[top] = self._pop_q(coder, mu, np.exp(0.5 * lv), top=True)  # (L_T,) bits back
        note(f"q{top + 1}")
        for level in reversed(range(top)):
            priors[level] = self._prior(z[level + 1], level)
            z[level] = self._pop_q(coder, *merge(*est[level], *priors[level]))
            note(f"q{level + 1}")
        self._encode_x(coder, x, z[0])
        note("x")
        for level in range(top):
            self._push_p(coder, z[level], priors[level])
            note(f"p{level + 1}")
        coder.encode_reverse(z[top].astype(np.int32), self.top)  # p(z_T) = N(0, 1): uniform buckets
        note(f"p{top + 1}")

    def _decode_example(self, coder: "constriction.stream.stack.AnsCoder") -> np.ndarray:
        top = len(self.dims) - 1
        z: list[np.ndarray] = [np.empty(0, np.int32)] * len(self.dims)
        priors: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0), np.empty(0))] * top
        z[top] = coder.decode(self.top, self.dims[top])  # (L_T,)
        for level in reversed(range(top)):
            priors[level] = self._prior(z[level + 1], level)
            z[level] = self._pop_p(coder, priors[level])
        x = self._decode_x(coder, z[0]).astype(np.int32)  # (D,)
        est = self.nets.bottom_up(x)
        for level in range(top):  # give the bits back, z_1 first (the encoder popped it last)
            self._push_q(coder, z[level], *merge(*est[level], *priors[level]))
        mu, lv = est[top]
        self._push_q(coder, z[top], mu, np.exp(0.5 * lv), top=True)
        return x
