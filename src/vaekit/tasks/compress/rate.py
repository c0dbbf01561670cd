"""Estimated rate (the model's -ELBO) next to actual bits, CompressAI style: nobody is fooled.

-ELBO in bits/dim = -ELBO (nats per example, mean over the examples) / (D ln 2), D = values per
example; actual bits/dim = 8 x bytes of the stream / (N D) (with or without the container header).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from vaekit.artifacts.load import LoadedRun
from vaekit.tasks.compress.symbols import alphabet, to_symbols


def model_inputs(run: LoadedRun, x: np.ndarray) -> torch.Tensor:
    """The float32 tensor (N, *shape) the model sees for raw ``x`` (grey level k -> k / (levels - 1))."""
    a = alphabet(run)
    symbols = to_symbols(np.asarray(x), a)
    scale = 1.0 / (a.levels - 1)
    return torch.from_numpy((symbols * scale).astype(np.float32)).reshape(-1, *a.shape)


def negative_elbo_bits_per_dim(run: LoadedRun, x: np.ndarray, *, k: int = 10, seed: int = 0) -> float:
    """The model's -ELBO on ``x`` in bits/dim (``k``-sample estimate of E_q[log p(x|z)] - KL)."""
    from vaekit.tasks.evaluate import evaluate_tensor

    inputs = model_inputs(run, x)
    result = evaluate_tensor(run.model, inputs, k=k, seed=seed)
    return -float(result["elbo"]) / (math.prod(inputs.shape[1:]) * math.log(2))


def rate_table(run: LoadedRun, x: np.ndarray, counts: tuple[int, ...] = (1, 100, -1), *, k: int = 10,
               latent_bits: int = 12) -> list[dict[str, Any]]:
    """For the first n examples of ``x`` (n in ``counts``; -1 = all): actual bits/dim of the whole
    stream and of the payload, the -ELBO in bits/dim on the same examples, their ratio, and the
    coding speed (examples/s, this process)."""
    from vaekit.tasks.compress.api import compress, decompress, read_header

    rows = []
    for n in counts:
        n = len(x) if n == -1 else min(n, len(x))
        part = x[:n]
        t0 = time.perf_counter()
        data = compress(run, part, latent_bits=latent_bits)
        t1 = time.perf_counter()
        back = decompress(run, data)
        t2 = time.perf_counter()
        if back.tobytes() != part.tobytes():
            raise AssertionError("round trip differs")  # decompress checks the data hash itself; belt and braces
        header = read_header(data)
        dims = math.prod(header.shape)  # N x D values
        elbo = negative_elbo_bits_per_dim(run, part, k=k)
        rows.append({
            "n": n, "bytes": len(data), "bits_per_dim": 8 * len(data) / dims,
            "payload_bits_per_dim": 8 * header.payload_bytes / dims, "neg_elbo_bits_per_dim": elbo,
            "ratio": 8 * len(data) / dims / elbo, "encode_per_s": n / (t1 - t0), "decode_per_s": n / (t2 - t1),
        })
    return rows
