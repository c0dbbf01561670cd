"""bench/bench_disentanglement.py --quick: trains the three recipes at toy size through the
harness, scores validation then test, renders the table; a second run starts nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench_support import BENCH, finished, run_twice


def plan_cli_jobs(cli_pool, tiny_run: Path, d: Path):
    """The quick run, twice (the second must start nothing), from the start of the session."""
    cmd = [sys.executable, str(BENCH / "bench_disentanglement.py"), "--quick", "--threads", "1",
           "--results", str(d / "r.jsonl"), "--docs", str(d / "d.md")]
    return run_twice(d, cmd, d / "r.jsonl", fashion=False)


def test_quick_disentanglement_benchmark(prefetched: dict) -> None:
    job = prefetched[__name__]
    results, docs = job["dir"] / "r.jsonl", job["dir"] / "d.md"
    first, again = finished(job, 2)
    text = docs.read_text()
    assert "<!-- bench:disentanglement -->" in text and "| `beta-tcvae` |" in text and "Goal" in text
    records = [json.loads(line) for line in results.read_text().splitlines()]
    splits = {(r["side"], r.get("split")) for r in records if r["bench"] == "disent-score"}
    assert {(s, "val") for s in ("vae", "beta-tcvae", "factor-vae")} <= splits
    assert {(s, "test") for s in ("vae", "beta-tcvae", "factor-vae")} <= splits
    assert " run disent" not in again.proc.stderr and again.lines == first.lines  # all from the results file
