"""The ``.vkz`` container: everything needed to refuse a stream that would decode wrongly.

Layout (all integers little-endian)::

    offset  size  field
    0       8     magic  89 56 4B 5A 0D 0A 1A 0A ("\\x89VKZ\\r\\n\\x1a\\n", PNG-style: catches text-mode
                  mangling)
    8       2     format version (uint16)            -> a newer one is refused with "upgrade vaekit"
    10      4     length H of the packed header (uint32) -> at most MAX_HEADER bytes
    14      32    sha256 of the run's model.safetensors -> another run is refused
    46      16    hash of the original data (first 128 bits of sha256, :func:`data_digest`)
    62      16    hash of the payload (first 128 bits of its sha256)
    78      H     the rest of the header (:class:`Header`): zlib-compressed UTF-8 JSON
    78+H    4     CRC-32 of bytes 8 .. 78+H           -> a damaged header is refused before it is parsed
    82+H    P     payload (P = header.payload_bytes)

The decoder checks the data hash after decoding, so even a coder desync can never hand back
different data silently. The payload's hash is checked *before* decoding: garbage is rejected in
microseconds, which is what keeps the fuzzing test (10,000 corrupted streams) within seconds.
Hashes are stored in binary and the JSON compressed because the container's ~200 bytes matter
for small inputs (the 180 `digits` test images are 11,520 values).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vaekit.core.errors import DataError

MAGIC = b"\x89VKZ\r\n\x1a\n"
FORMAT_VERSION = 1
MAX_HEADER = 1 << 24  # 16 MiB: a folder of many file names still fits; anything larger is damage
_PREFIX = struct.Struct("<HI32s16s16s")  # version, header length, model / data / payload hashes
MODES = ("lossless", "lossy")
BINARY_FIELDS = ("model_sha256", "data_hash", "payload_hash")


class ContainerError(DataError):
    """A ``.vkz`` stream that cannot be decoded (damaged, truncated, newer, or made with another run)."""


@dataclass
class Header:
    """What a ``.vkz`` stream promises about its content (JSON in the file)."""

    mode: str                      # "lossless" or "lossy"
    model_sha256: str              # sha256 of the run's model.safetensors (64 hex digits)
    shape: list[int]               # the original array's shape (count first)
    dtype: str                     # numpy dtype string with byte order, e.g. "|u1", "<f4"
    count: int                     # number of examples coded
    data_hash: str                 # 128-bit hash of the original array (:func:`data_digest`, 32 hex digits)
    payload_bytes: int
    payload_hash: str              # 128-bit hash of the payload (:func:`payload_digest`)
    coder: dict[str, Any]          # the coder's settings: latent_bits, init_symbols
    source: dict[str, Any] = field(default_factory=dict)  # how the CLI read the input (kind, file names)


def data_digest(x: np.ndarray) -> str:
    """First 128 bits of sha256 over dtype (with byte order), shape and the C-order bytes: equal
    digests mean the same array bit for bit, dtype and shape included."""
    digest = hashlib.sha256()
    digest.update(x.dtype.str.encode())
    digest.update(json.dumps(list(x.shape)).encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    return digest.hexdigest()[:32]


def payload_digest(payload: bytes) -> str:
    """First 128 bits of the payload's sha256 (32 hex digits)."""
    return hashlib.sha256(payload).hexdigest()[:32]


def pack(header: Header, payload: bytes) -> bytes:
    """Header + payload -> the bytes of a ``.vkz`` stream."""
    if header.payload_bytes != len(payload) or header.payload_hash != payload_digest(payload):
        raise ValueError("header does not describe this payload")  # a bug, never user input
    rest = {k: v for k, v in asdict(header).items() if k not in BINARY_FIELDS and not (k == "source" and not v)}
    blob = zlib.compress(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode(), 9)
    prefix = _PREFIX.pack(FORMAT_VERSION, len(blob), bytes.fromhex(header.model_sha256),
                          bytes.fromhex(header.data_hash), bytes.fromhex(header.payload_hash))
    crc = struct.pack("<I", zlib.crc32(prefix + blob))
    return MAGIC + prefix + blob + crc + payload


def _need(data: bytes, end: int, what: str) -> None:
    if len(data) < end:
        raise ContainerError(f"the stream is truncated ({len(data)} bytes, too short to hold its {what}); "
                             "the file was cut off: copy it again from its source")


def _check_header(obj: Any) -> Header:
    """Types and ranges of every header field (a CRC-valid header can still be hand-made)."""
    if not isinstance(obj, dict):
        raise ContainerError("the header is not a JSON object; the file is damaged")
    try:
        header = Header(**obj)
    except TypeError:
        raise ContainerError(f"the header has unexpected fields {sorted(obj)}; the file is damaged or from another "
                             "program") from None
    ok = (
        header.mode in MODES and isinstance(header.dtype, str)
        and isinstance(header.shape, list) and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in header.shape)
        and isinstance(header.count, int) and header.count >= 0 and isinstance(header.payload_bytes, int)
        and header.payload_bytes >= 0 and isinstance(header.coder, dict) and isinstance(header.source, dict)
    )
    if not ok:
        raise ContainerError("the header's fields have wrong types or values; the file is damaged")
    try:
        np.dtype(header.dtype)
    except TypeError:
        raise ContainerError(f"the header names an unknown dtype {header.dtype!r}; the file is damaged") from None
    return header


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Bytes of a ``.vkz`` stream -> (header, payload), or a :class:`ContainerError` saying why not.

    Checks in order: magic, format version, header length, header CRC-32, header fields,
    payload length, payload hash. The model and the decoded data are checked by the caller."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ContainerError(f"expected the bytes of a .vkz stream, got {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            _need(data, len(MAGIC) + 1, "signature")
        raise ContainerError("not a vaekit compressed stream (.vkz): the signature is missing; "
                             "give a file written by `vaekit compress`")
    _need(data, len(MAGIC) + 2, "format version")
    (version,) = struct.unpack_from("<H", data, len(MAGIC))
    if version > FORMAT_VERSION:
        raise ContainerError(f"this stream has format version {version}, newer than this vaekit reads "
                             f"(up to {FORMAT_VERSION}); upgrade vaekit")
    if version < 1:
        raise ContainerError(f"format version {version} is not valid; the file is damaged")
    _need(data, len(MAGIC) + _PREFIX.size, "header")
    _, length, model_sha, data_hash, payload_hash = _PREFIX.unpack_from(data, len(MAGIC))
    if length > MAX_HEADER:
        raise ContainerError(f"the header claims {length} bytes (more than {MAX_HEADER}); the file is damaged")
    start = len(MAGIC) + _PREFIX.size
    _need(data, start + length + 4, "header")
    blob = data[start:start + length]
    (crc,) = struct.unpack_from("<I", data, start + length)
    if zlib.crc32(data[len(MAGIC):start + length]) != crc:
        raise ContainerError("the header is damaged (CRC-32 mismatch); the file was corrupted in storage or transfer")
    try:
        obj = json.loads(zlib.decompress(blob).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, ValueError):
        raise ContainerError("the header is not valid compressed JSON; the file is damaged") from None
    if isinstance(obj, dict):
        if any(k in obj for k in BINARY_FIELDS):
            raise ContainerError("the header's JSON repeats a binary field; the file is damaged")
        obj.update(model_sha256=model_sha.hex(), data_hash=data_hash.hex(), payload_hash=payload_hash.hex())
    header = _check_header(obj)
    payload = data[start + length + 4:]
    if len(payload) != header.payload_bytes:
        what = "truncated" if len(payload) < header.payload_bytes else "longer than its header says"
        raise ContainerError(f"the payload is {what} ({len(payload)} bytes, the header says {header.payload_bytes}); "
                             "the file is damaged or was cut off")
    if payload_digest(payload) != header.payload_hash:
        raise ContainerError("the payload is damaged (hash mismatch); the file was corrupted in storage or transfer")
    return header, payload
