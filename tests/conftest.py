"""Shared fixtures for the end-to-end tests: one tiny trained run and a CLI runner.

Everything is real: real subprocesses for the CLI, real files in temporary directories.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

# One intra-op thread everywhere (this process and every CLI subprocess, see cli_env): the tests
# run several torch processes at once on two cores, and multi-threaded torch processes competing
# for the same cores slow each other down many times over. Same thread count everywhere also
# keeps "resumed" and "uninterrupted" runs bit-for-bit comparable across processes.
torch.set_num_threads(1)

# The smallest configuration that still exercises the whole pipeline on the embedded digits data.
TINY = ["data.limit=200", "model.net.hidden=[32]", "model.latent_dim=4"]
TINY_ARGS = [a for item in TINY for a in ("--set", item)]

CLI_TIMEOUT = 120


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for CLI subprocesses: offline, wide (so rich tables are not cut), no colour,
    one intra-op thread (see above)."""
    env = dict(os.environ)
    env.update(VAEKIT_OFFLINE="1", COLUMNS="200", NO_COLOR="1", TERM="dumb", PYTHONUNBUFFERED="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update(extra)
    return env


def run_cli(*args: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None,
            env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``python -m vaekit ARGS`` in a real subprocess; return (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "vaekit", *map(str, args)], cwd=cwd, env=env or cli_env(),
        capture_output=True, text=True, timeout=CLI_TIMEOUT,
    )
    return proc.returncode, proc.stdout, proc.stderr


class CliPool:
    """Runs independent CLI subprocesses two at a time in the background, so the ~2-3 s of
    torch/sklearn start-up per command overlaps on two cores."""

    def __init__(self, workers: int = 2) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers)

    def submit(self, *args: str | os.PathLike[str], env: dict[str, str] | None = None,
               cwd: str | os.PathLike[str] | None = None) -> "Future[tuple[int, str, str]]":
        return self._executor.submit(run_cli, *args, env=env, cwd=cwd)

    def call(self, fn, *args, **kwargs) -> Future:
        """Run an arbitrary function (e.g. several dependent CLI calls) in the pool."""
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def cli_pool() -> CliPool:
    pool = CliPool()
    yield pool
    pool.shutdown()
    if "bench_support" in sys.modules:  # its toy-size benchmarks not started yet: the session is over
        sys.modules["bench_support"].shutdown()


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """name -> (sha256 of the bytes, mtime_ns) for every file under ``directory``."""
    snap = {}
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file():
            snap[str(path.relative_to(directory))] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return snap


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of modules whose commands run in the background (``plan_cli_jobs``, below) go last,
    in file order: the jobs start with the session, and this process runs every other test
    while they work instead of waiting for them."""
    items.sort(key=lambda item: hasattr(getattr(item, "module", None), "plan_cli_jobs"))


@pytest.fixture(scope="session", autouse=True)
def prefetched(request: pytest.FixtureRequest, cli_pool: CliPool, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Start the background CLI jobs of every collected module that defines
    ``plan_cli_jobs(pool, tiny_run, folder)`` at the start of the session, so they overlap with
    the tests that train in this process. Module fixtures pick their jobs up by module name."""
    modules = list(dict.fromkeys(
        item.module for item in request.session.items if hasattr(getattr(item, "module", None), "plan_cli_jobs")
    ))
    if not modules:
        return {}
    tiny = request.getfixturevalue("tiny_run")
    return {m.__name__: m.plan_cli_jobs(cli_pool, tiny, tmp_path_factory.mktemp(m.__name__.rsplit(".", 1)[-1]))
            for m in modules}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch run directory on digits, trained once per session. Treat it as read-only
    (copy it with ``run_copy`` before anything that writes into the run directory)."""
    from vaekit.api import train

    out = tmp_path_factory.mktemp("shared") / "tiny"
    run_dir = train(epochs=2, out=out, overrides=list(TINY), echo=None, progress=False)
    assert Path(run_dir) == out
    before = snapshot(out)
    yield out
    # Guard: the read-only tests really did leave the shared run alone.
    assert snapshot(out) == before, "a test wrote into the shared tiny run directory"


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny run that a test may modify."""
    dest = tmp_path / "run"
    shutil.copytree(tiny_run, dest)
    return dest


@pytest.fixture(scope="session")
def coder_runs(tmp_path_factory: pytest.TempPathFactory):
    """One tiny real run per lossless coder (tests/coder_runs.py), trained on first use."""
    from coder_runs import CoderRuns

    return CoderRuns(tmp_path_factory.mktemp("coders"))
