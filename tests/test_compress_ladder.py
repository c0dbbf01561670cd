"""Lossless compression of hierarchical (``ladder``) runs (issue 12): BB-ANS over the ladder's
layers (Townsend et al. 2019; why not Bit-Swap's interleaving, Kingma et al. 2019: see
src/vaekit/tasks/compress/hierarchy.py). Bit-exact round trips (discretised logistic on grey
levels, Bernoulli on binary data, API and CLI), refusals of damaged streams and of mismatched
runs, and the same bytes from processes with 2 and 1 threads.

Tiny real ladder runs on `digits` (a few seconds of training each)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import vaekit
from vaekit.cli.main import main
from vaekit.core.errors import VaekitError
from vaekit.tasks.compress import ContainerError, compress, decompress, read_header
from vaekit.tasks.compress.container import pack, payload_digest, unpack
from coding_child import run_child as _child  # noqa: E402

LADDER = ["data.binarize=none", "model.likelihood=logistic", "model.latent_dims=[6, 4, 2]", "model.hidden=[16, 8]",
          "model.net.hidden=[32, 16]", "objective.free_bits=0", "objective.warmup_epochs=1"]


def _train(out: Path, overrides: list[str], seed: int = 0, data: str = "digits") -> Path:
    return vaekit.train("ladder", data=data, epochs=3, seed=seed, out=out, overrides=overrides, echo=None,
                        progress=False, report=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("ladder") / "run", LADDER)


@pytest.fixture(scope="module")
def run(run_dir: Path):
    return vaekit.load(run_dir)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits().images.astype(np.uint8)  # (1797, 8, 8), values 0..16


def test_ladder_round_trip_is_bit_exact(run, digits: np.ndarray) -> None:
    for x in (digits[:50], digits[:4].astype(">i2"), digits[7]):
        data = compress(run, x)
        y = decompress(run, data)
        assert y.dtype == x.dtype and y.shape == x.shape and y.tobytes() == x.tobytes()
    header = read_header(compress(run, digits[:3]))
    assert header.coder["scheme"] == "bbans-ladder" and header.coder["latent_dims"] == [6, 4, 2]
    # BB-ANS borrows every layer's bits for the first image: 12 bits x (6 + 4 + 2) latents / 16 + 4.
    assert header.coder["init_symbols"] == 9 + 4


def test_ladder_rate_is_its_elbo_plus_the_initial_bits(run, digits: np.ndarray) -> None:
    from vaekit.tasks.compress.rate import negative_elbo_bits_per_dim

    x = digits[:300]
    header = read_header(compress(run, x))
    payload_bpd = 8 * header.payload_bytes / x.size
    init_bpd = 16 * header.coder["init_symbols"] / x.size
    elbo_bpd = negative_elbo_bits_per_dim(run, x, k=50)
    # Each image costs the discretised hierarchy's -ELBO (all layers' KL terms, given their parents).
    assert abs(payload_bpd - init_bpd - elbo_bpd) / elbo_bpd < 0.05, (payload_bpd, init_bpd, elbo_bpd)


def test_ladder_bernoulli_on_binary_data(tmp_path: Path, digits: np.ndarray) -> None:
    binary = digits[:300] > 7  # bool (300, 8, 8)
    np.save(tmp_path / "bin.npy", binary)
    over = ["model.latent_dims=[6, 2]", "model.hidden=[8]", "model.net.hidden=[32]", "model.likelihood=bernoulli"]
    run = vaekit.load(_train(tmp_path / "bern", over, data=f"npy:{tmp_path / 'bin.npy'}"))
    y = decompress(run, compress(run, binary[:60]))
    assert y.dtype == np.bool_ and np.array_equal(y, binary[:60])


def test_ladder_cli_round_trip(run_dir: Path, digits: np.ndarray, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", digits[:30])
    assert main(["compress", str(run_dir), str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.vkz")]) == 0
    assert "Model -ELBO on the same data" in capsys.readouterr().out
    assert main(["decompress", str(run_dir), str(tmp_path / "x.vkz"), "-o", str(tmp_path / "y.npy")]) == 0
    assert (tmp_path / "y.npy").read_bytes() == (tmp_path / "x.npy").read_bytes()


def test_damaged_ladder_streams_are_refused(run, digits: np.ndarray) -> None:
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


def test_mismatched_runs_are_refused(run, tmp_path: Path, digits: np.ndarray) -> None:
    data = compress(run, digits[:10])
    other = vaekit.load(_train(tmp_path / "other", LADDER, seed=1))  # same settings, another seed
    with pytest.raises(ContainerError, match="another model"):
        decompress(other, data)
    vae = vaekit.load(vaekit.train("compress", data="digits", epochs=1, out=tmp_path / "vae", echo=None, progress=False,
                                   report=False, overrides=["model.latent_dim=4", "model.net.hidden=[32]"]))
    with pytest.raises(ContainerError, match="another model"):
        decompress(vae, data)
    with pytest.raises(ContainerError, match="another model"):
        decompress(run, compress(vae, digits[:10]))
    # A header forged to carry the right model hash but another coding scheme or layer sizes is
    # refused by name, before any decoding.
    header, payload = unpack(data)
    for coder, match in (({**header.coder, "scheme": "bbans"}, "one-latent-layer"),
                         ({**header.coder, "latent_dims": [6, 4, 3]}, "layers"),
                         ({**header.coder, "q_window": 6.0}, "coder settings")):
        with pytest.raises(ContainerError, match=match):
            decompress(run, pack(dataclasses.replace(header, coder=coder), payload))
    vae_header, vae_payload = unpack(compress(vae, digits[:3]))
    from vaekit.tasks.compress.api import model_sha256

    forged = dataclasses.replace(vae_header, model_sha256=model_sha256(run))
    with pytest.raises(ContainerError, match="one-latent-layer"):
        decompress(run, pack(forged, vae_payload))


def test_lossy_is_refused_on_a_ladder(run, digits: np.ndarray) -> None:
    with pytest.raises(VaekitError, match="ladder"):
        compress(run, digits[:3], lossy=True)


def test_ladder_encode_two_threads_decode_one_thread_other_process(run_dir: Path, digits: np.ndarray,
                                                                   tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", digits[:60])
    _child(2, "encode", str(run_dir), str(tmp_path / "x.npy"), str(tmp_path / "two.vkz"))
    _child(1, "encode", str(run_dir), str(tmp_path / "x.npy"), str(tmp_path / "one.vkz"))
    _child(1, "decode", str(run_dir), str(tmp_path / "two.vkz"), str(tmp_path / "back.npy"))
    assert (tmp_path / "two.vkz").read_bytes() == (tmp_path / "one.vkz").read_bytes()
    back = np.load(tmp_path / "back.npy")
    assert back.dtype == np.uint8 and back.tobytes() == digits[:60].tobytes()
