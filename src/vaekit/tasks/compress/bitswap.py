"""Bit-Swap: recursive bits-back coding of a Markov hierarchy (Kingma, Abbeel & Ho, ICML 2019,
Algorithm 2), for `bitswap` runs (src/vaekit/models/markov_hierarchy.py).

The model's inference chain runs bottom-up, q(z_1|x) q(z_2|z_1) ... q(z_T|z_{T-1}), so each layer's
posterior is known as soon as the layer below is. Per example x, on the one ANS stack:

    encoder: pop z_1 ~ q(z_1|x); push x under p(x|z_1);
             for i = 2..T: pop z_i ~ q(z_i|z_{i-1}); push z_{i-1} under p(z_{i-1}|z_i);
             push z_T under p(z_T)
    decoder: pop z_T under p(z_T) (uniform buckets);
             for i = T..2: pop z_{i-1} under p(z_{i-1}|z_i); push z_i back under q(z_i|z_{i-1});
             pop x under p(x|z_1); push z_1 back under q(z_1|x)

Every step of the decoder needs only what it has already decoded, and it undoes the encoder's
steps in reverse order, so the stream is exactly decodable. The cost per example is the same
discretised -ELBO as BB-ANS over the joint latent (:mod:`.hierarchy`),

    -log p(x|z_1) - sum_{i<T} log p(z_i|z_{i+1}) - log p(z_T) + sum_i log q(z_i|z_{i-1}),

but the stack is refilled after every pop (x's bits before z_2 is popped, z_1's before z_3 ...),
so the first example borrows about one layer's share from the initial bits instead of every
layer's: the initial bits are sized for the largest layer (:func:`bitswap_init_symbols`), where
BB-ANS over the joint latent needs all layers' sum.

Discretisation, numerics and sampling windows are the hierarchical coder's (shared in
:class:`~.hierarchy.HierarchicalCoder`): the top layer on N(0, 1)'s equal-mass buckets (p(z_T)
uniform), the lower layers on equal-width bins over [-16, 16] with two tails, posterior tables cut
to mu +- 7 sigma, networks as :mod:`.markov_nets` evaluates them.
"""

from __future__ import annotations

import math
from typing import Callable

import constriction
import numpy as np

from vaekit.tasks.compress.bbans import INIT_BITS_PER_SYMBOL
from vaekit.tasks.compress.hierarchy import HierarchicalCoder, LadderSettings
from vaekit.tasks.compress.markov_nets import MarkovCodingNets

SCHEME = "bitswap"


def bitswap_settings(dims: tuple[int, ...], latent_bits: int) -> LadderSettings:
    """The header's coder settings of a Bit-Swap stream (same fields as a ladder stream's, scheme "bitswap")."""
    return LadderSettings(latent_bits=latent_bits, init_symbols=bitswap_init_symbols(dims, latent_bits),
                          scheme=SCHEME, latent_dims=tuple(dims))


def bitswap_init_symbols(latent_dims: tuple[int, ...], latent_bits: int) -> int:
    """Initial 16-bit symbols: Bit-Swap pops one layer at a time between pushes, so the first example
    borrows about ``latent_bits`` bits per dimension of one layer: sized for the largest (+ 4 for
    the state). (Should a pop need more, decoding is still exact; only that latent is not a fair
    sample, which costs rate, not data; see :mod:`.bbans`.)"""
    return math.ceil(latent_bits * max(latent_dims) / INIT_BITS_PER_SYMBOL) + 4


class BitSwapCoder(HierarchicalCoder):
    """Bit-Swap over a Markov hierarchy run; same interface as :class:`~.bbans.BitsBackCoder`."""

    nets: MarkovCodingNets

    def _q_up(self, z_below: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """q(z_level | z_level-1) from the bucket indices of the layer below: (mean, sd), each (L_level,)."""
        mu, lv = self.nets.posterior_up(self._values(z_below, level - 1), level)
        return mu, np.exp(0.5 * lv)

    def _q_first(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, lv = self.nets.posterior_first(x)
        return mu, np.exp(0.5 * lv)

    def _encode_example(self, coder: "constriction.stream.stack.AnsCoder", x: np.ndarray,
                        note: Callable[[str], None]) -> None:
        """Algorithm 2 for one example: pop z_1, push x, then per layer pop z_{i+1} and push z_i
        under p(z_i|z_{i+1}); ``note`` names each step as :class:`~.hierarchy.LadderCoder` does."""
        top = len(self.dims) - 1
        note("start")
        z = self._pop_q(coder, *self._q_first(x), top=top == 0)  # (L_1,): bits back
        note("q1")
        self._encode_x(coder, x, z)
        note("x")
        for level in range(1, top + 1):
            z_next = self._pop_q(coder, *self._q_up(z, level), top=level == top)  # (L_level,)
            note(f"q{level + 1}")
            self._push_p(coder, z, self._prior(z_next, level - 1))  # z_{level-1} under p(.|z_level)
            note(f"p{level}")
            z = z_next
        coder.encode_reverse(z.astype(np.int32), self.top)  # p(z_T) = N(0, 1): uniform buckets
        note(f"p{top + 1}")

    def _decode_example(self, coder: "constriction.stream.stack.AnsCoder") -> np.ndarray:
        top = len(self.dims) - 1
        z = coder.decode(self.top, self.dims[top])  # (L_T,)
        for level in range(top, 0, -1):
            z_below = self._pop_p(coder, self._prior(z, level - 1))  # (L_{level-1},)
            self._push_q(coder, z, *self._q_up(z_below, level), top=level == top)  # give z_level's bits back
            z = z_below
        x = self._decode_x(coder, z).astype(np.int32)  # (D,)
        self._push_q(coder, z, *self._q_first(x), top=top == 0)
        return x
