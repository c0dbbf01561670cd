"""Checksums for downloaded files, of the file bytes or of the decompressed payload."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Checksum:
    """An expected digest. ``of="file"`` hashes the bytes on disk; ``of="payload"`` hashes the
    gzip-decompressed content, which stays the same when a mirror re-compresses the file."""

    algorithm: str
    hexdigest: str
    of: str = "file"

    def actual(self, path: Path) -> str:
        """The digest of ``path`` computed the way this checksum was (``""`` if unreadable)."""
        digest = hashlib.new(self.algorithm)
        try:
            opener = gzip.open if self.of == "payload" and path.name.endswith(".gz") else open
            with opener(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        except (OSError, EOFError, zlib.error):
            return ""
        return digest.hexdigest()


def verify(path: Path, expected: tuple[Checksum, ...]) -> tuple[bool, str]:
    """True if any expected checksum matches; the message lists what was computed."""
    seen = []
    for checksum in expected:
        actual = checksum.actual(path)
        if actual == checksum.hexdigest:
            return True, f"{checksum.algorithm} of {checksum.of} matches"
        seen.append(f"{checksum.algorithm} of {checksum.of} is {actual or 'unreadable'}, expected {checksum.hexdigest}")
    return False, "; ".join(seen)
