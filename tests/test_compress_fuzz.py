"""Fuzzing ``decompress`` (issue 12): 10,000+ corrupted streams — bit flips, truncations, random
bytes, spliced headers, overwritten and appended bytes — each must end in a clear error
(:class:`ContainerError`) within a bounded time; none may crash, hang, or return data that
differs from the original without saying so.

A tiny model and small payloads keep it fast: almost every corruption is rejected by the
container's checks (magic, version, header CRC-32, payload hash) before any network runs. A
second set forges streams whose *payload* is corrupted but whose payload hash is recomputed, so
the container accepts them and the bits-back decoder itself must notice (the decoded data's
hash, or the initial bits at the bottom of the stack)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from sklearn.datasets import load_digits

from vaekit.tasks.compress import ContainerError, compress, decompress
from vaekit.tasks.compress.container import pack, payload_digest, unpack

N_STREAMS = 10_000
N_FORGED = 150
MAX_SECONDS_PER_STREAM = 2.0


@pytest.fixture(scope="module")
def setup(coder_runs):
    run = coder_runs.load("bbans")  # the shared one-latent-layer run (tests/coder_runs.py)
    images = load_digits().images.astype(np.uint8)
    originals = [images[:2], images[2:5].astype(np.float32), images[5]]  # small payloads, different headers
    pairs = [(x, compress(run, x)) for x in originals]
    lossy = compress(run, images[6:9], lossy=True, quality=5)
    return run, pairs, (decompress(run, lossy), lossy)


def _corrupt(rng: np.random.Generator, streams: list[bytes]) -> bytes:
    """One corrupted stream, built from one or two valid ones, different from every valid one
    (a splice of a stream with itself, or flips that cancel, would be the valid stream)."""
    while True:
        data = _corrupt_once(rng, streams)
        if data not in streams:
            return data


def _corrupt_once(rng: np.random.Generator, streams: list[bytes]) -> bytes:
    a = bytearray(streams[rng.integers(len(streams))])
    b = streams[rng.integers(len(streams))]
    kind = rng.integers(7)
    if kind == 0:  # 1-8 bit flips anywhere
        for pos in rng.integers(0, len(a) * 8, size=rng.integers(1, 9)):
            a[pos // 8] ^= 1 << (pos % 8)
    elif kind == 1:  # truncated
        del a[rng.integers(0, len(a)):]
    elif kind == 2:  # random bytes (sometimes behind a valid magic)
        junk = rng.integers(0, 256, size=rng.integers(0, 400), dtype=np.uint8).tobytes()
        a = bytearray((bytes(a[:8]) if rng.random() < 0.5 else b"") + junk)
    elif kind == 3:  # spliced: the start of one stream, the rest of another
        cut = int(rng.integers(1, min(len(a), len(b))))
        a = a[:cut] + b[cut:]
    elif kind == 4:  # a burst of overwritten bytes
        start = int(rng.integers(0, len(a)))
        n = int(rng.integers(1, 17))
        a[start:start + n] = rng.integers(0, 256, size=len(a[start:start + n]), dtype=np.uint8).tobytes()
    elif kind == 5:  # appended garbage
        a += rng.integers(0, 256, size=rng.integers(1, 64), dtype=np.uint8).tobytes()
    else:  # a byte dropped or duplicated in the middle
        pos = int(rng.integers(0, len(a)))
        a = a[:pos] + a[pos + 1:] if rng.random() < 0.5 else a[:pos] + a[pos:pos + 1] + a[pos:]
    return bytes(a)


def _check(run, data: bytes, originals: dict[bytes, np.ndarray], worst: list[float]) -> str:
    t0 = time.perf_counter()
    try:
        x = decompress(run, data)
    except ContainerError as err:
        outcome = "error"
        assert str(err)  # a message a user can read
    else:
        # Only a valid stream may decode (the generators never produce one; this names the failure).
        assert data in originals, "a corrupted stream decoded without an error"
        assert x.tobytes() == originals[data].tobytes()
        outcome = "valid"
    worst[0] = max(worst[0], time.perf_counter() - t0)
    return outcome


def test_ten_thousand_corrupted_streams_fail_cleanly(setup) -> None:
    run, pairs, lossy = setup
    streams = [data for _, data in pairs + [lossy]]
    originals = {data: x for x, data in pairs + [lossy]}
    rng = np.random.default_rng(12)
    worst = [0.0]
    outcomes = [_check(run, _corrupt(rng, streams), originals, worst) for _ in range(N_STREAMS)]
    assert outcomes.count("error") == N_STREAMS
    assert worst[0] < MAX_SECONDS_PER_STREAM


def test_forged_payloads_are_caught_by_the_decoder(setup) -> None:
    """Corrupt the payload *and* fix its hash: the container passes it, the coder must not."""
    run, pairs, _ = setup
    rng = np.random.default_rng(7)
    worst = [0.0]
    caught = 0
    for i in range(N_FORGED):
        x, data = pairs[i % len(pairs)]
        header, payload = unpack(data)
        p = bytearray(payload)
        if i % 3 == 0:
            p[rng.integers(len(p))] ^= 1 << int(rng.integers(8))
        elif i % 3 == 1:
            p = p[: 4 * int(rng.integers(1, max(2, len(p) // 4)))]
        else:
            p = bytearray(rng.integers(0, 256, size=len(p), dtype=np.uint8).tobytes())
        p = bytes(p)
        forged = pack(dataclasses.replace(header, payload_bytes=len(p), payload_hash=payload_digest(p)), p)
        caught += _check(run, forged, {data: x}, worst) == "error"
    assert caught == N_FORGED
    assert worst[0] < MAX_SECONDS_PER_STREAM
