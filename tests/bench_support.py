"""What the tests of bench/ scripts share: bench/ on the import path, the pythae side's interpreter
(bench/setup_pythae.sh's venv, or $PYTHAE_PYTHON), a skip mark for machines without
Fashion-MNIST (found where vaekit looks: $VAEKIT_DATA, its cache, /usr/share/datasets), and the
toy-size (--quick) benchmark runs started in the background at the start of the session."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Finished:
    """One finished invocation: the process, and the results file's line count right after it."""

    proc: subprocess.CompletedProcess
    lines: int | None


# One worker: the toy-size benchmarks run one after another beside this process's tests, and never
# hold up the CLI pool (tests/conftest.py CliPool) that other tests wait on.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quick-bench")


def shutdown() -> None:
    """Drop the benchmarks not yet started (the session is over)."""
    _POOL.shutdown(wait=False, cancel_futures=True)


def _run(cmds: tuple[list[str], ...], env: dict[str, str] | None, results: Path | None) -> list[Finished]:
    done: list[Finished] = []
    for cmd in cmds:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        lines = len(results.read_text().splitlines()) if results is not None and results.exists() else None
        done.append(Finished(proc, lines))
        if proc.returncode != 0:
            break  # the test reports this failure; a repeat would only hide it
    return done


def start_in_background(*cmds: list[str], env: dict[str, str] | None = None, results: Path | None = None,
                        fashion: bool = True) -> "Future[list[Finished]] | None":
    """Run a toy-size (--quick) benchmark's ``cmds`` one after another in the background from the
    start of the session (a module's ``plan_cli_jobs``, tests/conftest.py ``prefetched``), so it
    overlaps with the tests running in this process; ``results``: the results file whose line
    count each :class:`Finished` records (a resumed run must add nothing). ``None`` for a benchmark
    on Fashion-MNIST (``fashion``) on a machine without it (its tests are then skipped)."""
    if fashion and find_files(FASHION_MNIST) is None:
        return None
    return _POOL.submit(_run, cmds, env, results)


def run_twice(d: Path, cmd: list[str], results: Path, *, env: dict[str, str] | None = None,
              fashion: bool = True) -> dict:
    """A module's ``plan_cli_jobs`` result for a quick benchmark run twice in the background (the
    second invocation must resume from ``results``, running nothing): ``{"dir", "future"}``."""
    return {"dir": d, "future": start_in_background(cmd, cmd, env=env, results=results, fashion=fashion)}


def finished(job: dict, count: int) -> list[Finished]:
    """The ``count`` invocations of a module's background job, each checked to have exited 0."""
    done = job["future"].result()
    for run in done:
        assert run.proc.returncode == 0, run.proc.stderr[-4000:]
    assert len(done) == count
    return done
