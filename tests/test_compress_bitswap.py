"""Bit-Swap (Kingma, Abbeel & Ho 2019) on Markov hierarchical runs (the `bitswap` recipe, issue 12),
what the coder contract (tests/contracts/test_coders.py: round trips, rate, Bernoulli runs, damaged
and other runs' streams) and tests/test_compress_determinism.py do not cover: the model's bound,
streams forged to another scheme or layer sizes, ladder streams, lossy coding refused, and the
initial bits measured on the stack against BB-ANS over all layers of a ladder with the same layer
sizes.

The shared tiny bitswap and ladder runs of tests/coder_runs.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from vaekit.cli.main import main
from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import log_weights
from vaekit.models import build_model
from vaekit.tasks.compress import ContainerError, compress, decompress
from vaekit.tasks.compress.container import pack, unpack
from coder_runs import digits as load_digits  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(coder_runs) -> Path:
    return coder_runs.dir("bitswap")  # tests/coder_runs.py: latents 6-4-2, 3 epochs on digits


@pytest.fixture(scope="module")
def run(run_dir: Path):
    return vaekit.load(run_dir)


@pytest.fixture(scope="module")
def ladder(coder_runs):
    """A ladder run with the same layer sizes, coded by BB-ANS over all its layers."""
    return coder_runs.load("ladder")


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_digits()


# --- the model --------------------------------------------------------------------------------
def test_model_is_markov_both_ways_and_its_weights_are_exact() -> None:
    ctx = BuildContext(shape=(1, 8, 8), n_train=100)
    spec = {"name": "markov_hierarchy", "latent_dims": [6, 4, 2], "hidden": [16, 8],
            "net": {"name": "mlp", "hidden": [32, 16]}, "likelihood": "bernoulli"}
    torch.manual_seed(0)
    model = build_model(spec, ctx)
    x = torch.bernoulli(torch.full((5, 1, 8, 8), 0.3), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    out = model(x, samples=3)
    assert [latent.z.shape for latent in out.latents] == [(3, 5, 6), (3, 5, 4), (3, 5, 2)]  # bottom first
    z1, z2, z3 = (latent.z for latent in out.latents)
    # log q and log p at the draws are the Markov conditionals, recomputed here from the modules.
    from vaekit.models.ladder import _normal

    assert torch.allclose(out.latents[1].log_q, _normal(*model.posterior_up(z1, 1)).log_prob(z2), atol=1e-5)
    assert torch.allclose(out.latents[2].log_q, _normal(*model.posterior_up(z2, 2)).log_prob(z3), atol=1e-5)
    assert torch.allclose(out.latents[0].log_p, _normal(*model.prior_below(z2, 0)).log_prob(z1), atol=1e-5)
    assert torch.allclose(out.latents[2].log_p, torch.distributions.Normal(0.0, 1.0).log_prob(z3).sum(-1), atol=1e-5)
    w = log_weights(out, x)  # (3, 5): log p(x|z1) + sum log p - sum log q
    manual = out.log_px(x) + sum(latent.log_p - latent.log_q for latent in out.latents)
    assert w.shape == (3, 5) and torch.allclose(w, manual)
    # The per-dimension KL estimates (free bits work on them) average to E_q[log q - log p] per layer.
    torch.manual_seed(3)
    many = model(x, samples=4000)
    for latent in many.latents:
        mc = (latent.log_q - latent.log_p).mean(0)  # (B,)
        assert torch.allclose(latent.kl_estimate, mc, rtol=0.05, atol=0.1), (latent.kl_estimate, mc)
        assert torch.allclose(latent.kl_per_dim.sum(-1), latent.kl_estimate)


def test_one_layer_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 2 stochastic layers.*model.name='vae'"):
        build_model({"name": "markov_hierarchy", "latent_dims": [8], "hidden": []}, BuildContext(shape=(1, 8, 8), n_train=10))


# --- coding (round trips, rate, Bernoulli runs, damaged streams: the coder contract) ---------------
def test_lossy_is_refused(run_dir: Path, digits: np.ndarray, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", digits[:30])
    assert main(["compress", str(run_dir), str(tmp_path / "x.npy"), "-o", str(tmp_path / "l.vkz"), "--lossy"]) == 2
    assert "Markov hierarchy" in capsys.readouterr().err and not (tmp_path / "l.vkz").exists()


def test_forged_scheme_and_layer_sizes_are_refused(run, digits: np.ndarray) -> None:
    header, payload = unpack(compress(run, digits[:20]))
    for coder, match in (({**header.coder, "scheme": "bbans-ladder"}, "ladder"),
                         ({**header.coder, "latent_dims": [6, 4, 3]}, "layers"),
                         ({**header.coder, "init_symbols": 17}, "coder settings")):
        with pytest.raises(ContainerError, match=match):
            decompress(run, pack(dataclasses.replace(header, coder=coder), payload))


def test_ladder_and_bitswap_streams_are_not_interchangeable(run, ladder, digits: np.ndarray) -> None:
    from vaekit.tasks.compress.api import model_sha256

    data = compress(run, digits[:10])
    with pytest.raises(ContainerError, match="another model"):
        decompress(ladder, data)
    # A ladder stream forged to carry this run's model hash is refused by its scheme, and vice versa.
    lh, lp = unpack(compress(ladder, digits[:3]))
    with pytest.raises(ContainerError, match="hierarchical `ladder` run"):
        decompress(run, pack(dataclasses.replace(lh, model_sha256=model_sha256(run)), lp))
    bh, bp = unpack(data)
    with pytest.raises(ContainerError, match="Markov hierarchical `bitswap` run"):
        decompress(ladder, pack(dataclasses.replace(bh, model_sha256=model_sha256(ladder)), bp))


def _borrowed(run, x: np.ndarray) -> tuple[int, dict[str, int]]:
    """Bits the first example takes from the initial bits, measured on the encoder's stack: the
    stack size at its start minus the lowest size after any step of it; and the reservation."""
    from vaekit.tasks.compress.api import _coder
    from vaekit.tasks.compress.numerics import one_thread
    from vaekit.tasks.compress.symbols import alphabet, to_symbols

    a = alphabet(run)
    coder = _coder(run, a, 12)
    sizes: list[tuple[str, int]] = []
    with one_thread():
        coder.encode(to_symbols(x, a), trace=lambda i, step, bits: sizes.append((step, bits)) if i == 0 else None)
    start = dict(sizes)["start"]
    pops = sum(before - after for (_, before), (step, after) in zip(sizes, sizes[1:]) if step.startswith("q"))
    return start - min(bits for _, bits in sizes), {"reserved": 16 * coder.settings.init_symbols, "pops": pops}


def test_initial_bits_below_bbans_over_all_layers(run, ladder, digits: np.ndarray) -> None:
    # The ladder has the same layer sizes 6-4-2; both trained 3 epochs on digits.
    borrowed, reserve = [], []
    for model_run in (run, ladder):
        measured = [_borrowed(model_run, digits[i : i + 1]) for i in range(5)]
        borrowed.append(max(b for b, _ in measured))
        reserve.append(measured[0][1]["reserved"])
        if model_run is run:
            # The same model's pops summed are what BB-ANS over all its layers would need: Bit-Swap
            # needs less, because x and z_1 are pushed between the pops.
            assert all(b < info["pops"] for b, info in measured), measured
    bitswap_b, ladder_b = borrowed
    assert 0 < bitswap_b < ladder_b, borrowed  # measured: one layer's share vs every layer's
    assert bitswap_b <= reserve[0] and ladder_b <= reserve[1]
    assert reserve == [16 * (5 + 4), 16 * (9 + 4)]  # what each coder reserves for it: 144 vs 208 bits
