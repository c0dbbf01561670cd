"""Where named datasets are looked for on disk, in order."""

from __future__ import annotations

import os
from pathlib import Path

# System-wide dataset roots (Debian's dataset-* packages install into /usr/share/datasets).
# Override with VAEKIT_SYSTEM_DATA (os.pathsep-separated; empty string = none).
SYSTEM_DATA_DIRS: tuple[str, ...] = ("/usr/share/datasets",)


def cache_root() -> Path:
    """vaekit's per-user cache: ``$VAEKIT_CACHE`` if set, else ``~/.cache/vaekit``."""
    env = os.environ.get("VAEKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "vaekit"


def cache_dir(name: str) -> Path:
    """The per-user download directory for dataset ``name``: ``<cache root>/<name>``."""
    return cache_root() / name


def system_dirs() -> list[Path]:
    """System dataset roots, from ``VAEKIT_SYSTEM_DATA`` if set, else :data:`SYSTEM_DATA_DIRS`."""
    env = os.environ.get("VAEKIT_SYSTEM_DATA")
    roots = SYSTEM_DATA_DIRS if env is None else tuple(p for p in env.split(os.pathsep) if p)
    return [Path(p) for p in roots]


def search_dirs(name: str) -> list[Path]:
    """Directories to search for ``name``'s files: $VAEKIT_DATA/<name>, $VAEKIT_DATA,
    ~/.cache/vaekit/<name>, then <system root>/<name>."""
    dirs: list[Path] = []
    env = os.environ.get("VAEKIT_DATA")
    if env:
        dirs += [Path(env) / name, Path(env)]
    dirs.append(cache_dir(name))
    dirs += [root / name for root in system_dirs()]
    return dirs


def offline() -> bool:
    """True when ``VAEKIT_OFFLINE`` is set to a true value (no downloads)."""
    return os.environ.get("VAEKIT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
