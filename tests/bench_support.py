"""What the tests of bench/ scripts share: bench/ on the import path, the pythae side's interpreter
(bench/setup_pythae.sh's venv, or $PYTHAE_PYTHON) and a skip mark for machines without
Fashion-MNIST (found where vaekit looks: $VAEKIT_DATA, its cache, /usr/share/datasets)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vaekit.data.idx_datasets import FASHION_MNIST, find_files

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from run_all import default_pythae_python as pythae_python  # noqa: E402,F401

needs_fashion = pytest.mark.skipif(
    find_files(FASHION_MNIST) is None,
    reason="Fashion-MNIST is not available to vaekit (apt-get install dataset-fashion-mnist, as .ci/run does)")
