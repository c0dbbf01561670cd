"""Encoder and decoder compute identical coding distributions in different processes with
different thread counts (issue 12; the desync CompressAI's users hit across machines), for every
lossless coder: one latent layer (MLP and conv nets), the ladder's BB-ANS, Bit-Swap.

Real subprocesses: one encodes with 2 torch/OpenMP threads, another with 1 thread, a third
decodes with 1 thread. The two encodings must be the same bytes, and the decoding the input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import vaekit
from coder_runs import CODERS, digits
from coding_child import run_child as _child  # noqa: E402


def test_encode_two_threads_decode_one_thread_other_process(tmp_path: Path, coder_runs) -> None:
    base = ["data.binarize=none", "model.likelihood=logistic", "model.latent_dim=6"]
    runs = {name: coder_runs.dir(name) for name in CODERS}
    # Wider one-layer nets too: larger products take torch's multi-threaded paths.
    for name, net in (("mlp", "model.net.hidden=[64, 32]"), ("conv", "model.net={name='conv', channels=[8, 16]}")):
        runs[name] = vaekit.train("compress", data="digits", epochs=1, out=tmp_path / name, overrides=[*base, net],
                                  echo=None, progress=False, report=False)
    x = digits()[:60]
    np.save(tmp_path / "x.npy", x)

    def triples(src: str, dst: str) -> list[str]:
        return [a for name, run in runs.items() for a in (str(run), str(tmp_path / src.format(name)),
                                                           str(tmp_path / dst.format(name)))]

    _child(2, "encode", *triples("x.npy", "{}-two.vkz"))
    _child(1, "encode", *triples("x.npy", "{}-one.vkz"))
    _child(1, "decode", *triples("{}-two.vkz", "{}-back.npy"))
    for name in runs:
        assert (tmp_path / f"{name}-two.vkz").read_bytes() == (tmp_path / f"{name}-one.vkz").read_bytes(), name
        back = np.load(tmp_path / f"{name}-back.npy")
        assert back.dtype == x.dtype and back.tobytes() == x.tobytes(), name
