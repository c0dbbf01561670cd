"""Errors a user can act on.

Every error raised for bad input derives from :class:`VaekitError`; the CLI prints its
message on one line and exits with :attr:`VaekitError.exit_code`. Messages say what was
wrong *and* what to do next.
"""

from __future__ import annotations


class VaekitError(Exception):
    """Base class for user-facing errors (bad input, missing files, bad config)."""

    exit_code: int = 1


class ConfigError(VaekitError):
    """Unknown config key, wrong type or bad value (exit code 2, nothing written)."""

    exit_code = 2


class DataError(VaekitError):
    """A dataset is unknown, missing, corrupt, or does not fit the model."""


class RunDirError(VaekitError):
    """A run directory is missing files, is corrupt, or cannot be resumed."""


class TrainingError(VaekitError):
    """Training had to stop (e.g. too many non-finite steps in a row)."""
