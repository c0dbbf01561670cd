"""CLI parsers for the jobs over a trained run: inpaint, impute, anomaly, blend, augment (issue 11).

Parsing stays torch-free (``vaekit --help`` is instant): handlers import what they need when run."""

from __future__ import annotations

import argparse
from typing import Callable


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
             add_run: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's subcommands to ``sub``; ``add_run`` adds the run-directory and --device arguments."""
