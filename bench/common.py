"""Shared helpers for the benchmark drivers (run under the system Python, no torch import here).

Every measurement runs in a fresh subprocess (``bench/worker.py``), so the two systems never
share a process, a thread pool or an allocator, and each worker reports its own peak RSS.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
WORKER = BENCH / "worker.py"
PYTHAE_PY_DEFAULT = os.environ.get("PYTHAE_PYTHON", "/work/pythae-venv/bin/python")
VAEKIT_PY_DEFAULT = os.environ.get("VAEKIT_PYTHON", sys.executable)
THREADS_DEFAULT = int(os.environ.get("BENCH_THREADS", "2"))


def add_common_args(parser) -> None:
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats per system (default 3)")
    parser.add_argument("--threads", type=int, default=THREADS_DEFAULT, help="torch intra-op threads, both sides")
    parser.add_argument("--vaekit-python", default=VAEKIT_PY_DEFAULT, help="interpreter with vaekit installed")
    parser.add_argument("--pythae-python", default=PYTHAE_PY_DEFAULT, help="interpreter with pythae installed")
    parser.add_argument("--tag", default="", help="suffix for the results JSON file name")


def run_worker(python: str, task: str, args: dict[str, Any], *, timeout: float = 3600) -> dict[str, Any]:
    """Run ``worker.py TASK --json ARGS`` in a fresh process; return its result dict plus wall time."""
    cmd = [python, str(WORKER), task, json.dumps(args)]
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.perf_counter() - t0
    result_line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or result_line is None:
        sys.stderr.write(proc.stdout[-3000:] + "\n" + proc.stderr[-5000:] + "\n")
        raise RuntimeError(f"worker {task} failed (exit {proc.returncode})")
    out = json.loads(result_line[len("RESULT "):])
    out["process_wall_s"] = wall
    return out


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            if abs(v) >= 1000:
                return f"{v:,.0f}"
            if abs(v) >= 10:
                return f"{v:.1f}"
            return f"{v:.3g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info(python: str | None = None, threads: int = THREADS_DEFAULT) -> dict[str, Any]:
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    torch_version = subprocess.run(
        [python or VAEKIT_PY_DEFAULT, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu_model": model, "cpus": os.cpu_count(), "torch": torch_version, "threads": threads,
        "python": platform.python_version(), "platform": platform.platform(), "loadavg_at_start": load,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def save_results(name: str, payload: dict[str, Any], tag: str = "") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}{('-' + tag) if tag else ''}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
