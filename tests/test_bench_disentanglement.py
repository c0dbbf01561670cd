"""bench/bench_disentanglement.py --quick: trains the three recipes at toy size through the
harness, scores validation then test, renders the table; a second run starts nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_quick_disentanglement_benchmark(tmp_path) -> None:
    results, docs = tmp_path / "r.jsonl", tmp_path / "d.md"
    cmd = [sys.executable, str(BENCH / "bench_disentanglement.py"), "--quick", "--threads", "1",
           "--results", str(results), "--docs", str(docs)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    text = docs.read_text()
    assert "<!-- bench:disentanglement -->" in text and "| `beta-tcvae` |" in text and "Goal" in text
    records = [json.loads(line) for line in results.read_text().splitlines()]
    splits = {(r["side"], r.get("split")) for r in records if r["bench"] == "disent-score"}
    assert {(s, "val") for s in ("vae", "beta-tcvae", "factor-vae")} <= splits
    assert {(s, "test") for s in ("vae", "beta-tcvae", "factor-vae")} <= splits
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and " run disent" not in again.stderr  # everything came from the results file
