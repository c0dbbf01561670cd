"""Lossy coding with a trained VAE: quantised latents under a factorised entropy model, in the
spirit of Ballé, Laparra & Simoncelli (ICLR 2017) — but applied to a VAE trained for likelihood,
with the entropy model *fitted* afterwards rather than trained jointly with the transform.

    x --encoder--> posterior mean mu (L,) --round(mu / step)--> q (L,) integers
    q --ANS under a factorised entropy model--> bits
    q * step --decoder--> the likelihood's mean --round onto the grey levels--> x_hat

Quality Q in 1..10 sets the step: step = 2**(1 - Q/2) prior standard deviations (Q = 1: 1.41,
Q = 10: 0.0625). The entropy model is one Gaussian per latent dimension, N(m_d, s_d^2), fitted to
the posterior means of (up to) 2,000 training examples, quantised onto the step's bins
(constriction's ``QuantizedGaussian``); its 2 L parameters travel in the header as float16, so the
decoder needs nothing but the run. Dimensions the model does not use (s_d tiny) cost ~0 bits.

Numerics as in :mod:`.numerics` (float64, one example at a time, one thread); the header carries
the hash of the reconstruction, which the decoder verifies.
"""

from __future__ import annotations

import base64
import math

import constriction
import numpy as np
import torch

from vaekit.artifacts.load import LoadedRun
from vaekit.core.errors import ConfigError
from vaekit.tasks.compress.container import ContainerError
from vaekit.tasks.compress.numerics import CodingNets, one_thread
from vaekit.tasks.compress.symbols import Alphabet, from_symbols

QUALITIES = range(1, 11)
RANGE = 8.0  # latents are clipped to +-8 prior standard deviations
FIT_EXAMPLES = 2_000
MIN_SCALE = 1e-3


def step_for(quality: int) -> float:
    if quality not in QUALITIES:
        raise ConfigError(f"--quality must be a whole number from 1 (smallest files) to 10 (best images); got {quality}")
    return 2.0 ** (1.0 - quality / 2.0)


def fit_entropy_model(run: LoadedRun) -> bytes:
    """float16 bytes of (m_1..m_L, s_1..s_L): per-dimension mean and sd of the posterior means of
    up to :data:`FIT_EXAMPLES` training examples (fitted once per stream, stored in its header)."""
    from vaekit.tasks.data import split_data

    x, _ = split_data(run, "train")
    with torch.no_grad():
        mu = torch.cat([run.model.encode(c).mean for c in x[:FIT_EXAMPLES].split(500)]).double().numpy()  # (n, L)
    loc, scale = mu.mean(0), np.maximum(mu.std(0), MIN_SCALE)
    return np.concatenate([loc, scale]).astype("<f2").tobytes()


def _entropy_params(blob: bytes, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    params = np.frombuffer(blob, dtype="<f2").astype(np.float64)
    if params.shape != (2 * latent_dim,) or not np.all(np.isfinite(params)) or np.any(params[latent_dim:] <= 0):
        raise ContainerError("the stream's entropy model is damaged or belongs to another model")
    return params[:latent_dim], params[latent_dim:]


class LossyCoder:
    """Quantised-latent coding of one run at one quality."""

    def __init__(self, nets: CodingNets, alphabet: Alphabet, latent_dim: int, quality: int) -> None:
        self.nets, self.alphabet, self.latent_dim = nets, alphabet, latent_dim
        self.step = step_for(quality)
        self.bound = math.ceil(RANGE / self.step)  # symbols in -bound..bound
        self.model = constriction.stream.model.QuantizedGaussian(-self.bound, self.bound)

    def _tables(self, blob: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
        loc, scale = _entropy_params(blob, self.latent_dim)
        return np.tile(loc / self.step, n), np.tile(scale / self.step, n)  # (n L,) in bin units

    def quantise(self, symbols: np.ndarray) -> np.ndarray:
        """Grey-level symbols (N, D) -> latent bin indices (N, L)."""
        with one_thread():
            mus = np.stack([self.nets.posterior(s)[0] for s in symbols])
        return np.clip(np.rint(mus / self.step), -self.bound, self.bound).astype(np.int32)

    def reconstruct(self, q: np.ndarray) -> np.ndarray:
        """Bin indices (N, L) -> grey-level symbols (N, D) of the decoder's mean."""
        levels = self.alphabet.levels
        out = np.empty((len(q), self.alphabet.dim), dtype=np.int32)
        with one_thread():
            for i, qi in enumerate(q):
                params = self.nets.likelihood_params(qi * self.step)
                mean = 1.0 / (1.0 + np.exp(-params[0])) if self.nets.likelihood == "bernoulli" else params[0]
                out[i] = np.rint(np.clip(mean, 0.0, 1.0) * (levels - 1)).astype(np.int32)
        return out

    def encode(self, q: np.ndarray, blob: bytes) -> np.ndarray:
        coder = constriction.stream.stack.AnsCoder()
        means, stds = self._tables(blob, len(q))
        coder.encode_reverse(q.ravel(), self.model, means, stds)
        return coder.get_compressed()

    def decode(self, words: np.ndarray, n: int, blob: bytes) -> np.ndarray:
        means, stds = self._tables(blob, n)
        try:
            coder = constriction.stream.stack.AnsCoder(words)
            q = coder.decode(self.model, means, stds).reshape(n, self.latent_dim)
        except (ValueError, RuntimeError) as exc:
            raise ContainerError(f"the payload does not decode ({exc}); the file is damaged") from None
        if not coder.is_empty():
            raise ContainerError("the payload holds more than its header says; the file is damaged")
        return q


def encode_entropy_blob(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def decode_entropy_blob(text: object) -> bytes:
    if not isinstance(text, str):
        raise ContainerError("the stream's entropy model is missing; the file is damaged")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ContainerError("the stream's entropy model is damaged") from None


def restore(symbols: np.ndarray, alphabet: Alphabet, shape: list[int], dtype: str) -> np.ndarray:
    return from_symbols(symbols, alphabet, shape, dtype)
