"""Contract tests every lossless coder passes (issue 12): BB-ANS on one latent layer, BB-ANS over
the layers of a ladder, Bit-Swap on a Markov hierarchy (the coders of tests/coder_runs.py).

Bit-exact round trips of values, dtype and shape (API and CLI), the stream's scheme and initial
bits, the rate against the model's -ELBO, Bernoulli runs on binary data, refusals of damaged,
re-hashed (forged) and other runs' streams. What only one coder does is tested in its own file
(tests/test_compress*.py); the cross-process determinism of all of them in
tests/test_compress_determinism.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import vaekit
from vaekit.cli.main import main
from vaekit.core.errors import DataError
from vaekit.tasks.compress import ContainerError, compress, decompress, read_header
from vaekit.tasks.compress.container import MAGIC, pack, payload_digest, unpack
from coder_runs import CODERS, CoderSpec, digits as load_digits, train  # noqa: E402

NAMES = list(CODERS)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits()


@pytest.fixture(params=NAMES)
def coder(request: pytest.FixtureRequest, coder_runs) -> tuple[CoderSpec, Path]:
    return CODERS[request.param], coder_runs.dir(request.param)


def test_round_trip_keeps_values_dtype_and_shape(coder, digits: np.ndarray) -> None:
    spec, run_dir = coder
    run = vaekit.load(run_dir)
    for x in (digits[:50], digits[:7].astype(np.float32), digits[:4].astype(">i2"), digits[7], digits[:6, None]):
        data = compress(run, x)
        assert isinstance(data, bytes) and data.startswith(MAGIC)
        y = decompress(run, data)
        assert y.dtype == x.dtype and y.shape == x.shape and y.tobytes() == x.tobytes()
    header = read_header(compress(run, digits[:3]))
    assert header.coder.get("scheme", "bbans") == spec.scheme  # one-layer streams carry no scheme (the first format)
    assert header.coder.get("latent_dims") == spec.latent_dims
    assert header.coder["init_symbols"] == spec.init_symbols
    # Compressed, not just stored: 50 images of 64 values in 0..16 take well under a byte per value.
    assert len(compress(run, digits[:50])) < 50 * 64


def test_rate_is_the_elbo_plus_the_initial_bits(coder, digits: np.ndarray) -> None:
    from vaekit.tasks.compress.rate import negative_elbo_bits_per_dim

    spec, run_dir = coder
    run = vaekit.load(run_dir)
    x = digits[:300]
    header = read_header(compress(run, x))
    payload_bpd = 8 * header.payload_bytes / x.size
    init_bpd = 16 * header.coder["init_symbols"] / x.size
    elbo_bpd = negative_elbo_bits_per_dim(run, x, k=50)
    # Each image costs the discretised model's -ELBO (every layer's KL given its parents) plus the
    # one-off initial bits; the model's ELBO and its 4,096-bucket discretisation agree within a few %.
    assert abs(payload_bpd - init_bpd - elbo_bpd) / elbo_bpd < 0.05, (spec.name, payload_bpd, init_bpd, elbo_bpd)


def test_bernoulli_run_on_binary_data(coder, digits: np.ndarray, tmp_path: Path) -> None:
    spec, _ = coder
    binary = digits[:300] > 7  # bool (300, 8, 8)
    np.save(tmp_path / "bin.npy", binary)
    run = vaekit.load(train(spec, tmp_path / "bern", binary_data=tmp_path / "bin.npy"))
    data = compress(run, binary[:60])
    assert read_header(data).coder.get("scheme", "bbans") == spec.scheme
    y = decompress(run, data)
    assert y.dtype == np.bool_ and np.array_equal(y, binary[:60])
    with pytest.raises(DataError, match="0 or 1"):
        compress(run, digits[:2])  # grey levels cannot be coded by a Bernoulli run


def test_cli_round_trip(coder, digits: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, run_dir = coder
    np.save(tmp_path / "x.npy", digits[:30])
    assert main(["compress", str(run_dir), str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.vkz")]) == 0
    out = capsys.readouterr().out
    assert "bits/dim" in out and "Model -ELBO on the same data" in out
    assert main(["decompress", str(run_dir), str(tmp_path / "x.vkz"), "-o", str(tmp_path / "y.npy")]) == 0
    assert (tmp_path / "y.npy").read_bytes() == (tmp_path / "x.npy").read_bytes()


def test_damaged_and_forged_streams_are_refused(coder, digits: np.ndarray) -> None:
    _, run_dir = coder
    run = vaekit.load(run_dir)
    data = bytearray(compress(run, digits[:20]))
    data[-5] ^= 0x10
    with pytest.raises(ContainerError, match="payload is damaged"):
        decompress(run, bytes(data))
    # A payload damaged *and* re-hashed gets past the container: the bits-back decoder refuses it.
    header, payload = unpack(compress(run, digits[:20]))
    refused = 0
    for i in range(0, len(payload), max(1, len(payload) // 12)):
        bad = bytearray(payload)
        bad[i] ^= 0x01
        forged = dataclasses.replace(header, payload_hash=payload_digest(bytes(bad)))
        with pytest.raises(ContainerError, match="does not decode|does not match"):
            decompress(run, pack(forged, bytes(bad)))
        refused += 1
    assert refused >= 10
    with pytest.raises(ContainerError, match="coder settings"):  # a header forged to other coder settings
        decompress(run, pack(dataclasses.replace(header, coder={**header.coder, "q_window": 6.0}), payload))


def test_another_seeds_run_is_refused(coder, digits: np.ndarray, tmp_path: Path) -> None:
    spec, run_dir = coder
    data = compress(vaekit.load(run_dir), digits[:10])
    other = vaekit.load(train(spec, tmp_path / "other", seed=1))  # same settings, another seed
    with pytest.raises(ContainerError, match="another model"):
        decompress(other, data)
