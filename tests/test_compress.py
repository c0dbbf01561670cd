"""Lossless compression (issue 12), what the one-latent-layer coder's streams and files add to the
coder contract (tests/contracts/test_coders.py): the container's refusals, data off the model's
grid, IDX / PNG files through the CLI, the coding tables, lossy streams.

The shared one-layer run of tests/coder_runs.py (digits, 17 grey levels, 1 epoch) and a BCE run —
compression quality is the benchmark's job (bench/bench_compression.py), exactness is this file's."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

import vaekit
from vaekit.cli.main import main
from vaekit.core.errors import DataError, VaekitError
from vaekit.tasks.compress import ContainerError, compress, decompress, read_header
from vaekit.tasks.compress.container import MAGIC


@pytest.fixture(scope="module")
def run_dir(coder_runs) -> Path:
    return coder_runs.dir("bbans")  # a one-latent-layer logistic run (tests/coder_runs.py); read-only here


@pytest.fixture(scope="module")
def run(run_dir: Path):
    return vaekit.load(run_dir)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits().images.astype(np.uint8)  # (1797, 8, 8), values 0..16


def test_refuses_data_off_the_grid(run, digits: np.ndarray) -> None:
    with pytest.raises(DataError, match="0..16"):
        compress(run, digits[:3].astype(np.int32) * 16)
    with pytest.raises(DataError, match="0..16"):
        compress(run, digits[:3] + np.float32(0.5))
    with pytest.raises(DataError, match="bit for bit"):
        compress(run, np.full((1, 8, 8), -0.0, dtype=np.float32))
    with pytest.raises(DataError, match="does not fit"):
        compress(run, np.zeros((2, 28, 28), np.uint8))


def test_refuses_runs_without_a_discrete_likelihood(tmp_path: Path, digits: np.ndarray) -> None:
    run_dir = vaekit.train("vae", data="digits", epochs=1, out=tmp_path / "bce",
                           overrides=["data.binarize=none", "model.latent_dim=4", "model.net.hidden=[32]"], echo=None,
                           progress=False, report=False)
    with pytest.raises(VaekitError, match="grey levels"):
        compress(vaekit.load(run_dir), digits[:2])


def _repack(data: bytes, version: int) -> bytes:
    """Change the format version and fix the header CRC (a well-formed newer stream)."""
    length = struct.unpack_from("<I", data, 10)[0]
    end = 78 + length
    body = struct.pack("<H", version) + data[10:end]
    return MAGIC + body + struct.pack("<I", zlib.crc32(body)) + data[end + 4:]


def test_container_refusals(run, run_dir: Path, digits: np.ndarray, tmp_path: Path) -> None:
    data = compress(run, digits[:10])
    with pytest.raises(ContainerError, match="newer than this vaekit reads"):
        decompress(run, _repack(data, 2))
    with pytest.raises(ContainerError, match="truncated"):
        decompress(run, data[:-3])
    damaged = bytearray(data)
    damaged[-5] ^= 0x10
    with pytest.raises(ContainerError, match="payload is damaged"):
        decompress(run, bytes(damaged))
    damaged = bytearray(data)
    damaged[90] ^= 0x01
    with pytest.raises(ContainerError, match="header is damaged"):
        decompress(run, bytes(damaged))
    with pytest.raises(ContainerError, match="not a vaekit compressed stream"):
        decompress(run, b"PK\x03\x04" + data)


def test_cli_files_come_back_identical(run_dir: Path, digits: np.ndarray, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", digits[:20])
    assert main(["compress", str(run_dir), str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.vkz")]) == 0
    out = capsys.readouterr().out
    assert "bits/dim" in out and "-ELBO" in out
    assert main(["decompress", str(run_dir), str(tmp_path / "x.vkz"), "-o", str(tmp_path / "y.npy")]) == 0
    assert (tmp_path / "y.npy").read_bytes() == (tmp_path / "x.npy").read_bytes()
    # IDX (raw and gzipped input) back as a byte-identical raw IDX file.
    idx = bytes([0, 0, 8, 3]) + np.asarray((20, 8, 8), ">u4").tobytes() + digits[:20].tobytes()
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(idx))
    assert main(["compress", str(run_dir), str(tmp_path / "x-idx3-ubyte.gz"), "-o", str(tmp_path / "i.vkz"),
                 "--no-elbo"]) == 0
    assert main(["decompress", str(run_dir), str(tmp_path / "i.vkz"), "-o", str(tmp_path / "back-idx3-ubyte")]) == 0
    assert (tmp_path / "back-idx3-ubyte").read_bytes() == idx
    # A folder of PNGs back as a folder of the same names and pixels; one image back as one image.
    (tmp_path / "imgs").mkdir()
    for i in range(5):
        Image.fromarray(digits[i]).save(tmp_path / "imgs" / f"digit{i}.png")
    assert main(["compress", str(run_dir), str(tmp_path / "imgs"), "-o", str(tmp_path / "f.vkz"), "--no-elbo"]) == 0
    assert main(["decompress", str(run_dir), str(tmp_path / "f.vkz"), "-o", str(tmp_path / "restored")]) == 0
    assert sorted(p.name for p in (tmp_path / "restored").iterdir()) == [f"digit{i}.png" for i in range(5)]
    for i in range(5):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "restored" / f"digit{i}.png")), digits[i])
    assert main(["compress", str(run_dir), str(tmp_path / "imgs" / "digit2.png"), "-o", str(tmp_path / "one.vkz"),
                 "--no-elbo"]) == 0
    assert main(["decompress", str(run_dir), str(tmp_path / "one.vkz"), "-o", str(tmp_path / "one.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "one.png")), digits[2])


def test_cli_damaged_stream_is_an_error_and_writes_nothing(run_dir: Path, digits: np.ndarray, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", digits[:5])
    assert main(["compress", str(run_dir), str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.vkz"), "--no-elbo"]) == 0
    blob = bytearray((tmp_path / "x.vkz").read_bytes())
    blob[-1] ^= 0xFF
    (tmp_path / "bad.vkz").write_bytes(bytes(blob))
    (tmp_path / "keep.npy").write_bytes(b"a good file")
    capsys.readouterr()
    assert main(["decompress", str(run_dir), str(tmp_path / "bad.vkz"), "-o", str(tmp_path / "keep.npy")]) == 1
    assert capsys.readouterr().err.startswith("vaekit: error: the payload is damaged")
    assert (tmp_path / "keep.npy").read_bytes() == b"a good file"


def test_benchmark_quick_mode(tmp_path: Path) -> None:
    """bench/bench_compression.py --quick (toy sizes) runs end to end and writes its tables."""
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    results, docs = tmp_path / "q.jsonl", tmp_path / "q.md"
    out = subprocess.run([sys.executable, str(root / "bench" / "bench_compression.py"), "--quick", "--only", "digits",
                          "--results", str(results), "--docs", str(docs)], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-3000:]
    table = docs.read_text()
    assert "vaekit BB-ANS" in table and "lzma -9e" in table and "WebP lossless" in table
    records = [json.loads(line) for line in results.read_text().splitlines()]
    coded = [r for r in records if r["bench"] == "compression-code"]
    assert len(coded) == 1 and coded[0]["split"] == "test"
    for row in coded[0]["figures"]["rows"]:
        assert 0 < row["payload_bits_per_dim"] <= row["bits_per_dim"] and row["neg_elbo_bits_per_dim"] > 0


def test_coding_tables_match_the_training_likelihood_and_posterior() -> None:
    """The coder's discretised-logistic table is the training likelihood's probability of every grey
    level, and the latent buckets carry the posterior's mass (both to ~1e-9)."""
    import torch
    from scipy.special import ndtr

    from vaekit.parts.likelihoods.logistic import DiscretizedLogistic
    from vaekit.tasks.compress.discretise import bucket_edges, logistic_table, posterior_buckets

    rng = np.random.default_rng(0)
    loc, log_scale = rng.uniform(-0.1, 1.1, 300), rng.normal(-3.0, 1.5, 300)
    table = logistic_table(loc, log_scale, 256)  # (300, 256)
    grid = torch.arange(256, dtype=torch.float64).expand(300, 256) / 255
    dist = DiscretizedLogistic(torch.tensor(loc)[:, None].expand(300, 256),
                               torch.tensor(log_scale)[:, None].expand(300, 256), 256)
    expected = dist.log_prob(grid).exp().numpy()
    assert np.allclose(table, expected, rtol=1e-9, atol=2e-12)
    mu, sigma = rng.normal(0, 1, 8), np.exp(rng.normal(-2, 1, 8))
    buckets = posterior_buckets(mu, sigma, 10)  # (8, 1024)
    edges = bucket_edges(10)
    direct = ndtr((edges[None, 1:] - mu[:, None]) / sigma[:, None]) - ndtr((edges[None, :-1] - mu[:, None]) / sigma[:, None])
    assert np.allclose(buckets, np.maximum(direct, 1e-12), rtol=1e-6, atol=1e-12)
    assert np.allclose(buckets.sum(1), 1.0, atol=1e-8)


def test_lossy_streams_rate_and_reconstruction(run, run_dir: Path, digits: np.ndarray, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--lossy: quantised latents; more quality costs more bits; the reconstruction is the decoder's
    mean on the grid, the same at every decode (its hash is in the header)."""
    import torch

    x = digits[:60]
    with torch.no_grad():  # the model's own reconstruction at the unquantised posterior mean
        xin = torch.from_numpy(x[:, None].astype(np.float32) / 16)
        exact = np.rint(run.model.decode(run.model.encode(xin).mean).mean.numpy()[:, 0] * 16)
    sizes, errors = [], []
    for quality in (1, 5, 10):
        data = compress(run, x, lossy=True, quality=quality)
        assert read_header(data).mode == "lossy"
        y = decompress(run, data)
        assert y.dtype == x.dtype and y.shape == x.shape and y.max() <= 16
        assert decompress(run, data).tobytes() == y.tobytes()
        sizes.append(len(data))
        errors.append(float(np.abs(y.astype(float) - exact).mean()))
    assert sizes[0] < sizes[1] < sizes[2]
    # Finer latents come closer to the unquantised reconstruction (to float32-vs-float64 rounding).
    assert errors[2] <= errors[0] and errors[2] < 0.05
    assert sizes[2] < len(compress(run, x))  # far fewer bits than lossless
    with pytest.raises(VaekitError, match="quality"):
        compress(run, x, lossy=True, quality=11)
    np.save(tmp_path / "x.npy", x)
    assert main(["compress", str(run_dir), str(tmp_path / "x.npy"), "-o", str(tmp_path / "l.vkz"), "--lossy",
                 "--quality", "4"]) == 0
    assert "PSNR" in capsys.readouterr().out
    assert main(["decompress", str(run_dir), str(tmp_path / "l.vkz"), "-o", str(tmp_path / "l.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "l.npy"), decompress(run, compress(run, x, lossy=True, quality=4)))
