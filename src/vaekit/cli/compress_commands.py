"""CLI parsers for compress / decompress (issue 12).

Parsing stays torch-free (``vaekit --help`` is instant): handlers import what they need when run."""

from __future__ import annotations

import argparse
from typing import Callable


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
             add_run: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's subcommands to ``sub``; ``add_run`` adds the run-directory and --device arguments."""
