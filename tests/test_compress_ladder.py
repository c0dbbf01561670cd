"""Lossless compression of hierarchical (``ladder``) runs (issue 12): BB-ANS over the ladder's
layers (Townsend et al. 2019; why not Bit-Swap's interleaving, Kingma et al. 2019: see
src/vaekit/tasks/compress/hierarchy.py). What the coder contract (tests/contracts/test_coders.py:
round trips, rate, Bernoulli runs, damaged and other runs' streams) does not cover: streams of
one-layer runs and ladder streams forged to pass as each other, and lossy coding refused.

The shared tiny ladder run of tests/coder_runs.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vaekit.core.errors import VaekitError
from vaekit.tasks.compress import ContainerError, compress, decompress
from vaekit.tasks.compress.api import model_sha256
from vaekit.tasks.compress.container import pack, unpack
from coder_runs import digits as load_digits  # noqa: E402


@pytest.fixture(scope="module")
def run(coder_runs):
    return coder_runs.load("ladder")


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits()


def test_one_layer_and_ladder_streams_are_not_interchangeable(run, coder_runs, digits: np.ndarray) -> None:
    data = compress(run, digits[:10])
    vae = coder_runs.load("bbans")
    with pytest.raises(ContainerError, match="another model"):
        decompress(vae, data)
    with pytest.raises(ContainerError, match="another model"):
        decompress(run, compress(vae, digits[:10]))
    # A header forged to carry the right model hash but another coding scheme or layer sizes is
    # refused by name, before any decoding.
    header, payload = unpack(data)
    for coder, match in (({**header.coder, "scheme": "bbans"}, "one-latent-layer"),
                         ({**header.coder, "latent_dims": [6, 4, 3]}, "layers")):
        with pytest.raises(ContainerError, match=match):
            decompress(run, pack(dataclasses.replace(header, coder=coder), payload))
    vae_header, vae_payload = unpack(compress(vae, digits[:3]))
    forged = dataclasses.replace(vae_header, model_sha256=model_sha256(run))
    with pytest.raises(ContainerError, match="one-latent-layer"):
        decompress(run, pack(forged, vae_payload))


def test_lossy_is_refused_on_a_ladder(run, digits: np.ndarray) -> None:
    with pytest.raises(VaekitError, match="ladder"):
        compress(run, digits[:3], lossy=True)
