"""Bits-back coding with asymmetric numeral systems (BB-ANS; Townsend, Bird & Barber, ICLR 2019).

One ANS stack (``constriction``'s ``AnsCoder``, last in first out) holds everything. For each
example x (in order 0..N-1) the encoder

    1. *decodes* latent buckets z ~ Q(z|x) from the stack     (takes ~ -log2 Q(z|x) bits back)
    2. encodes x under P(x|z)                                  (adds  -log2 P(x|z) bits)
    3. encodes z under the uniform prior P(z) = K**-L          (adds  L log2 K bits)

so each example costs -log2 P(x|z) - log2 P(z) + log2 Q(z|x) bits: the negative ELBO of the
discretised model, in expectation. The decoder runs the exact inverse in reverse order
(N-1..0): decode z under P(z), decode x under P(x|z), then encode z under Q(z|x) to give the
borrowed bits back.

Step 1 of the first example needs bits on the stack to decode from: the stack starts with
``init_symbols`` pseudo-random 16-bit symbols (a fixed seed, so the decoder knows them). Their
16 bits each are the *initial-bits overhead* of bits-back coding, paid once per stream and
amortised over the examples; at the end the decoder pops them and checks them, one more
integrity check. A latent dimension takes about log2 K bits back when its posterior is as wide
as the prior and fewer when it is narrower, so ``init_symbols`` = ceil(L log2 K / 16) + 4
(the + 4: the coder's 64-bit state). Should an unusual posterior take more, correctness is
unaffected (ANS decoding from a nearly empty stack is still exactly inverted by the decoder);
only that first example's latent is then not a fair sample, which costs rate, not data.

Distributions: :mod:`.discretise` (equal-mass latent buckets, discretised logistic / Bernoulli
tables) from networks evaluated as described in :mod:`.numerics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import constriction
import numpy as np

from vaekit.tasks.compress.discretise import (
    bernoulli_table, bucket_centres, logistic_table, posterior_buckets,
)
from vaekit.tasks.compress.numerics import CodingNets

INIT_SEED = 0x564B5A  # "VKZ": the pseudo-random initial bits, known to both sides
INIT_BITS_PER_SYMBOL = 16


class DesyncError(RuntimeError):
    """The decoder did not end where the encoder started (caught and reported by the caller)."""


def init_symbols_for(latent_dim: int, latent_bits: int) -> int:
    return math.ceil(latent_bits * latent_dim / INIT_BITS_PER_SYMBOL) + 4


def initial_symbols(n: int) -> np.ndarray:
    return np.random.default_rng(INIT_SEED).integers(0, 1 << INIT_BITS_PER_SYMBOL, size=n).astype(np.int32)


@dataclass(frozen=True)
class CoderSettings:
    latent_bits: int = 12   # K = 4096 buckets per latent dimension
    init_symbols: int = 0   # filled in from the latent size


class BitsBackCoder:
    """BB-ANS over one run's networks. ``nets``: a :class:`CodingNets`; ``latent_dim``: L."""

    def __init__(self, nets: CodingNets, latent_dim: int, settings: CoderSettings) -> None:
        self.nets, self.latent_dim, self.settings = nets, latent_dim, settings
        self.k = 1 << settings.latent_bits
        self.centres = bucket_centres(settings.latent_bits)
        self.categorical = constriction.stream.model.Categorical(perfect=False)
        self.bernoulli = constriction.stream.model.Bernoulli(perfect=False)
        self.uniform = constriction.stream.model.Uniform(self.k)
        self.init = constriction.stream.model.Uniform(1 << INIT_BITS_PER_SYMBOL)

    # -- the three distributions ------------------------------------------------------------
    def _q(self, symbols: np.ndarray) -> np.ndarray:
        mu, sigma = self.nets.posterior(symbols)
        return posterior_buckets(mu, sigma, self.settings.latent_bits)  # (L, K)

    def _encode_x(self, coder: "constriction.stream.stack.AnsCoder", symbols: np.ndarray, z: np.ndarray,
                  centres: np.ndarray | None = None) -> None:
        """Push x under P(x|z); ``centres``: the values of z's buckets (default: the prior medians)."""
        params = self.nets.likelihood_params((self.centres if centres is None else centres)[z])
        if self.nets.likelihood == "bernoulli":
            coder.encode_reverse(symbols, self.bernoulli, bernoulli_table(params[0]))
        else:
            coder.encode_reverse(symbols, self.categorical, logistic_table(*params, self.nets.levels))

    def _decode_x(self, coder: "constriction.stream.stack.AnsCoder", z: np.ndarray,
                  centres: np.ndarray | None = None) -> np.ndarray:
        params = self.nets.likelihood_params((self.centres if centres is None else centres)[z])
        if self.nets.likelihood == "bernoulli":
            return coder.decode(self.bernoulli, bernoulli_table(params[0]))
        return coder.decode(self.categorical, logistic_table(*params, self.nets.levels))

    # -- coding --------------------------------------------------------------------------------
    # The stream loop every bits-back coder shares (the ladder's and Bit-Swap's override only the
    # per-example steps): initial bits, examples 0..N-1 pushed, decoded N-1..0, initial bits checked.
    def encode(self, symbols: np.ndarray, progress: Callable[[int], None] | None = None,
               trace: Callable[[int, str, int], None] | None = None) -> np.ndarray:
        """int32 symbols (N, D) -> the compressed uint32 words. ``trace(example, step, bits)``, if
        given, sees the stack's size in bits after each step of an example: "start", "q<i>" pops, "x",
        "p<i>" pushes (i = 1 is the bottom layer; one layer here)."""
        coder = constriction.stream.stack.AnsCoder()
        coder.encode_reverse(initial_symbols(self.settings.init_symbols), self.init)
        for i, x in enumerate(symbols):
            note = (lambda step, i=i: trace(i, step, int(coder.num_valid_bits()))) if trace else (lambda step: None)
            self._encode_example(coder, np.ascontiguousarray(x, dtype=np.int32), note)
            if progress:
                progress(i + 1)
        return coder.get_compressed()

    def decode(self, words: np.ndarray, count: int, dim: int,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """The inverse of :meth:`encode`: words -> int32 symbols (count, D)."""
        coder = constriction.stream.stack.AnsCoder(words)
        out = np.empty((count, dim), dtype=np.int32)
        for j, i in enumerate(range(count - 1, -1, -1)):
            out[i] = self._decode_example(coder)
            if progress:
                progress(j + 1)
        init = coder.decode(self.init, self.settings.init_symbols)
        if not np.array_equal(init, initial_symbols(self.settings.init_symbols)) or not coder.is_empty():
            raise DesyncError("the stream did not end with its initial bits")
        return out

    def _encode_example(self, coder: "constriction.stream.stack.AnsCoder", x: np.ndarray,
                        note: Callable[[str], None]) -> None:
        """Steps 1-3 of the module docstring for one example's int32 symbols x (D,)."""
        note("start")
        z = coder.decode(self.categorical, self._q(x))          # (L,) bucket indices: bits back
        note("q1")
        self._encode_x(coder, x, z)
        note("x")
        coder.encode_reverse(z.astype(np.int32), self.uniform)  # under the prior
        note("p1")

    def _decode_example(self, coder: "constriction.stream.stack.AnsCoder") -> np.ndarray:
        """The inverse of :meth:`_encode_example`: one example's int32 symbols (D,)."""
        z = coder.decode(self.uniform, self.latent_dim)        # (L,)
        x = self._decode_x(coder, z).astype(np.int32)          # (D,)
        coder.encode_reverse(z.astype(np.int32), self.categorical, self._q(x))  # give the bits back
        return x
