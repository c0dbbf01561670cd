"""``compress(run, x) -> bytes`` and ``decompress(run, data) -> x``, CompressAI's shape.

Lossless: the bytes are a ``.vkz`` stream (:mod:`.container`) whose payload is BB-ANS
(:mod:`.bbans`) under the run's VAE; ``decompress`` returns the original numpy array bit for
bit (values, dtype with byte order, shape) or raises a :class:`~.container.ContainerError`
saying why it cannot (another run, a newer format, damage).

Lossy (``compress(..., lossy=True, quality=Q)``): quantised latents (:mod:`.lossy`);
``decompress`` returns the model's reconstruction, verified against the hash recorded at
compression.

The float64 copy of a run's networks is cached per model object (one at a time), so repeated
calls on one loaded run (the fuzzing test's 10,000) do not copy the model each time."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vaekit.artifacts import rundir
from vaekit.artifacts.load import LoadedRun, load, sha256_file
from vaekit.tasks.compress.bbans import BitsBackCoder, CoderSettings, DesyncError, init_symbols_for
from vaekit.tasks.compress.container import ContainerError, Header, data_digest, pack, payload_digest, unpack
from vaekit.tasks.compress.numerics import CodingNets, UnsupportedRun, one_thread
from vaekit.tasks.compress.symbols import Alphabet, alphabet, from_symbols, to_symbols

_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_CODER_CACHE: dict[int, tuple[Any, BitsBackCoder]] = {}


def model_sha256(run: LoadedRun) -> str:
    """sha256 of the run's ``model.safetensors`` (cached per path, size and mtime)."""
    path = Path(run.path) / rundir.MODEL
    st = os.stat(path)
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def _as_run(run: LoadedRun | str | os.PathLike[str]) -> LoadedRun:
    return run if isinstance(run, LoadedRun) else load(run)


def is_ladder(run: LoadedRun) -> bool:
    """A hierarchical (``ladder``) run, coded by :mod:`.hierarchy` instead of :mod:`.bbans`."""
    return type(run.model).__name__ == "LadderVAE"


def is_markov(run: LoadedRun) -> bool:
    """A Markov hierarchy (``bitswap`` recipe) run, coded by Bit-Swap (:mod:`.bitswap`)."""
    return type(run.model).__name__ == "MarkovHierarchyVAE"


def _build_coder(run: LoadedRun, a: Alphabet, latent_bits: int) -> BitsBackCoder:
    if is_markov(run):
        from vaekit.tasks.compress.bitswap import BitSwapCoder, bitswap_settings
        from vaekit.tasks.compress.markov_nets import MarkovCodingNets

        mnets = MarkovCodingNets(run.model, a.likelihood, a.levels)
        return BitSwapCoder(mnets, bitswap_settings(mnets.dims, latent_bits))
    if is_ladder(run):
        from vaekit.tasks.compress.hierarchy import LadderCoder, LadderSettings, ladder_init_symbols
        from vaekit.tasks.compress.ladder_nets import LadderCodingNets

        lnets = LadderCodingNets(run.model, a.likelihood, a.levels)
        lsettings = LadderSettings(latent_bits=latent_bits, init_symbols=ladder_init_symbols(lnets.dims, latent_bits),
                                   latent_dims=lnets.dims)
        return LadderCoder(lnets, lsettings)
    nets = CodingNets(run.model, a.likelihood, a.levels)
    settings = CoderSettings(latent_bits=latent_bits, init_symbols=init_symbols_for(run.model.latent_dim, latent_bits))
    return BitsBackCoder(nets, run.model.latent_dim, settings)


def _coder(run: LoadedRun, a: Alphabet, latent_bits: int) -> BitsBackCoder:
    """The coder of ``run`` (its float64 copy of the nets is kept per model object)."""
    cached = _CODER_CACHE.get(id(run.model))
    if cached is None or cached[0] is not run.model or cached[1].settings.latent_bits != latent_bits:
        cached = (run.model, _build_coder(run, a, latent_bits))
        _CODER_CACHE.clear()  # one model at a time: the cache is for repeated calls, not a registry
        _CODER_CACHE[id(run.model)] = cached
    return cached[1]


def compress(run: LoadedRun | str | os.PathLike[str], x: Any, *, latent_bits: int = 12,
             source: dict[str, Any] | None = None, progress: Callable[[int], None] | None = None,
             lossy: bool = False, quality: int = 6) -> bytes:
    """Losslessly compress ``x`` (an array of N examples, or one example, on the run's grid)
    into ``.vkz`` bytes. ``latent_bits``: log2 of the buckets per latent dimension (4..16);
    ``source``: how the input was read (recorded for ``vaekit decompress``).

    ``lossy=True``: code quantised latents instead (:mod:`.lossy`, ``quality`` 1..10); then
    :func:`decompress` returns the reconstruction (same dtype and shape), not ``x``."""
    from vaekit.core.errors import ConfigError

    if not 4 <= latent_bits <= 16:
        raise ConfigError(f"latent_bits must be within 4..16 (got {latent_bits}); 12 is the default")
    run = _as_run(run)
    a = alphabet(run)
    x = np.asarray(x)
    symbols = to_symbols(x, a)  # (N, D)
    if lossy:
        return _compress_lossy(run, a, x, symbols, quality, source)
    coder = _coder(run, a, latent_bits)
    with one_thread():
        words = coder.encode(symbols, progress)
    payload = words.astype("<u4").tobytes()
    header = Header(
        mode="lossless", model_sha256=model_sha256(run), shape=[int(s) for s in x.shape], dtype=x.dtype.str,
        count=int(symbols.shape[0]), data_hash=data_digest(x), payload_bytes=len(payload),
        payload_hash=payload_digest(payload),
        # Only what the run does not fix: the model sha256 pins the run, and the data hash catches
        # anything else that would make the run decode differently.
        coder=asdict(coder.settings),
        source=dict(source or {}),
    )
    return pack(header, payload)


def _compress_lossy(run: LoadedRun, a: Alphabet, x: np.ndarray, symbols: np.ndarray, quality: int,
                    source: dict[str, Any] | None) -> bytes:
    from vaekit.tasks.compress import lossy

    if is_ladder(run) or is_markov(run):
        kind = "a ladder" if is_ladder(run) else "a Markov hierarchy (bitswap)"
        raise UnsupportedRun(f"lossy coding (--lossy) is implemented for one-latent-layer `vae` runs; run {run.path} "
                             f"is {kind} (code it losslessly, or use a `compress`-recipe run for --lossy)")
    coder = lossy.LossyCoder(_coder(run, a, 12).nets, a, int(run.model.latent_dim), quality)
    blob = lossy.fit_entropy_model(run)
    q = coder.quantise(symbols)  # (N, L)
    recon = lossy.restore(coder.reconstruct(q), a, list(x.shape), x.dtype.str)
    payload = coder.encode(q, blob).astype("<u4").tobytes()
    header = Header(
        mode="lossy", model_sha256=model_sha256(run), shape=[int(s) for s in x.shape], dtype=x.dtype.str,
        count=int(symbols.shape[0]), data_hash=data_digest(recon), payload_bytes=len(payload),
        payload_hash=payload_digest(payload),
        coder={"quality": int(quality), "entropy": lossy.encode_entropy_blob(blob)}, source=dict(source or {}),
    )
    return pack(header, payload)


def _decode_lossy(run: LoadedRun, a: Alphabet, header: Header, payload: bytes) -> np.ndarray:
    from vaekit.core.errors import ConfigError
    from vaekit.tasks.compress import lossy

    try:
        coder = lossy.LossyCoder(_coder(run, a, 12).nets, a, int(run.model.latent_dim), header.coder.get("quality"))
    except ConfigError:
        raise ContainerError("the stream's quality setting is out of range; the file is damaged") from None
    blob = lossy.decode_entropy_blob(header.coder.get("entropy"))
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    q = coder.decode(words, header.count, blob)
    try:
        return lossy.restore(coder.reconstruct(q), a, header.shape, header.dtype)
    except ValueError as exc:
        raise ContainerError(f"the stream does not fit this run ({exc}); the file is damaged") from None


def read_header(data: bytes) -> Header:
    """The checked header of a ``.vkz`` stream (no model needed)."""
    return unpack(data)[0]


def decompress(run: LoadedRun | str | os.PathLike[str], data: bytes, *,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The inverse of :func:`compress`: the original array, bit for bit, or a
    :class:`ContainerError` (damaged, truncated, newer format, another run)."""
    header, payload = unpack(data)
    return decode_checked(_as_run(run), header, payload, progress=progress)


def decode_checked(run: LoadedRun, header: Header, payload: bytes, *,
                   progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Decode a payload whose container checks passed; every promise of the header is verified."""
    sha = model_sha256(run)
    if header.model_sha256 != sha:
        raise ContainerError(
            f"this stream was compressed with another model (sha256 {header.model_sha256[:12]}…), not with run "
            f"{run.path} (sha256 {sha[:12]}…); decompress it with the run that compressed it")
    a = alphabet(run)
    n = header.count
    if len(header.shape) < 1 or int(np.prod(header.shape, dtype=np.int64)) != n * a.dim or n < 1:
        raise ContainerError(f"the header's shape {header.shape} does not hold {n} example(s) of {a.dim} values; "
                             "the file is damaged")
    if header.payload_bytes % 4:
        raise ContainerError("the payload is not a whole number of 32-bit words; the file is damaged")
    if header.mode == "lossy":
        x = _decode_lossy(run, a, header, payload)
        if data_digest(x) != header.data_hash:
            raise ContainerError("the decoded reconstruction does not match the hash recorded at compression; "
                                 "nothing was returned (the file is damaged, or the numerics differ on this machine)")
        return x
    coder_info = header.coder
    latent_bits, init = coder_info.get("latent_bits"), coder_info.get("init_symbols")
    if not (isinstance(latent_bits, int) and 4 <= latent_bits <= 16):
        raise ContainerError("the stream's coder settings are out of range; the file is damaged")
    coder = _coder(run, a, latent_bits)
    _check_scheme(run, coder_info, asdict(coder.settings))
    if init != coder.settings.init_symbols:
        raise ContainerError("the stream's coder settings are out of range; the file is damaged")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    try:
        with one_thread():
            symbols = coder.decode(words, n, a.dim, progress)
        x = from_symbols(symbols, a, header.shape, header.dtype)
    except (DesyncError, ValueError, RuntimeError, OverflowError, IndexError) as exc:
        raise ContainerError(f"the payload does not decode under this run ({exc}); the file is damaged") from None
    if data_digest(x) != header.data_hash:
        raise ContainerError("the decoded data does not match the hash recorded at compression; nothing was "
                             "returned (the file is damaged, or the coder's numerics differ on this machine)")
    return x


def _check_scheme(run: LoadedRun, got: dict[str, Any], want: dict[str, Any]) -> None:
    """The header's coding scheme (one-layer BB-ANS, BB-ANS over a ladder's layers, or Bit-Swap) and layer
    sizes must be what ``run`` codes with; the model sha256 normally refuses another run first,
    this says what kind of run the stream needs."""
    scheme, expected = got.get("scheme", "bbans"), want.get("scheme", "bbans")
    if scheme != expected:
        kinds = {"bbans": "a one-latent-layer `vae` run", "bbans-ladder": "a hierarchical `ladder` run",
                 "bitswap": "a Markov hierarchical `bitswap` run (Bit-Swap)"}
        raise ContainerError(f"this stream was coded for {kinds.get(str(scheme), f'scheme {scheme!r}')}, but run "
                             f"{run.path} is {kinds[expected]}; decompress it with the run that compressed it")
    if list(got.get("latent_dims", [])) != list(want.get("latent_dims", [])):
        raise ContainerError(f"this stream was coded for a hierarchy with layers {got.get('latent_dims')}, but run "
                             f"{run.path} has layers {list(want.get('latent_dims', []))}; decompress it with the run "
                             "that compressed it")
    if json.dumps(got, sort_keys=True, default=list) != json.dumps(want, sort_keys=True, default=list):
        raise ContainerError(f"the stream's coder settings {got} are not this vaekit's for run {run.path} ({want}); "
                             "the file is damaged or was written by another version")
