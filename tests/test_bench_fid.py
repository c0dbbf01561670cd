"""bench/bench_fid.py --quick: the classifier stage, three candidates at one time budget, FID on
validation then test through the harness, the table with its feature net named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_quick_fid_benchmark(tmp_path) -> None:
    results, docs = tmp_path / "r.jsonl", tmp_path / "d.md"
    cmd = [sys.executable, str(BENCH / "bench_fid.py"), "--quick", "--threads", "1", "--results", str(results),
           "--docs", str(docs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = docs.read_text()
    assert "not an Inception FID" in text and "| vae-gan |" in text and "pythae side" in text
    scores = [json.loads(line) for line in results.read_text().splitlines()]
    splits = {(r["side"], r["split"]) for r in scores if r["bench"] == "fid-score"}
    assert len(splits) == 6  # three candidates x (val, test)
