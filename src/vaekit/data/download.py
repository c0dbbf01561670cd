"""Download one file over HTTP(S) and keep it only if its checksum matches."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from vaekit.core.atomic import atomic_path
from vaekit.core.errors import DataError
from vaekit.data.checksums import Checksum, verify


class ChecksumError(DataError):
    """A downloaded file did not match its expected checksum (it was deleted)."""


def fetch(url: str, target: Path, expected: tuple[Checksum, ...], *, timeout: float = 60.0) -> Path:
    """Download ``url`` to a temporary file beside ``target``; rename it into place only if a
    checksum matches. Network errors propagate as ``OSError`` (``URLError`` is one)."""
    with atomic_path(target) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
        ok, detail = verify(tmp, expected)
        if not ok:
            raise ChecksumError(
                f"checksum mismatch for {url}: {detail}; the download was discarded — retry later, "
                "or fetch the file from the official source and put it in VAEKIT_DATA"
            )
    return target
