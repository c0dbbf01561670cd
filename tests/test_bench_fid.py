"""bench/bench_fid.py --quick on real Fashion-MNIST (1,000 training images): the classifier stage,
vaekit's three candidates and - when the pythae side venv exists (bench/setup_pythae.sh, which
.ci/run runs) - pythae's VQVAE + PixelCNN sampler and its VAEGAN (two settings screened on
validation) at one time budget, FID on validation then test through the harness, the table with
its feature net named and a sample grid per candidate. (--quick screens only pythae's VAEGAN with
its MLP nets, best-on-validation vs last weights: one training.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench_support import BENCH, finished, needs_fashion, pythae_python, start_in_background


def plan_cli_jobs(cli_pool, tiny_run: Path, d: Path):
    """The quick run starts at the start of the session (tests/conftest.py ``prefetched``)."""
    cmd = [sys.executable, str(BENCH / "bench_fid.py"), "--quick", "--threads", "1", "--results", str(d / "r.jsonl"),
           "--docs", str(d / "d.md")] + ([] if pythae_python() else ["--no-pythae"])
    return {"dir": d, "future": start_in_background(cmd)}


@needs_fashion
def test_quick_fid_benchmark(prefetched: dict) -> None:
    job = prefetched[__name__]
    results, docs = job["dir"] / "r.jsonl", job["dir"] / "d.md"
    pythae = pythae_python()
    finished(job, 1)
    text = docs.read_text()
    assert "not an Inception FID" in text and "| vaekit vae-gan |" in text
    scores = [json.loads(line) for line in results.read_text().splitlines()]
    pairs = {(r["side"], r["split"]) for r in scores if r["bench"] == "fid-score"}
    vaekit_pairs = {(s, sp) for s in ("fashion (continuous)", "vqvae + pixelcnn-prior", "vae-gan") for sp in ("val", "test")}
    assert vaekit_pairs <= pairs
    grids = sorted((docs.parent / "quick-fid-images").glob("*.png"))
    if pythae:
        pythae_scores = [r for r in scores if r["bench"] == "fid-score" and r["side"].startswith("pythae")]
        # VQVAE val + test; the VAEGAN's two kept weights (best on validation loss, last) on val, the chosen one on test
        assert len(pythae_scores) == 5 and {r["split"] for r in pythae_scores} == {"val", "test"}
        assert all(0 < r["figures"]["fid"] < 1e4 for r in pythae_scores)
        assert "| pythae VAEGAN |" in text and "screened on validation" in text and len(grids) == 5
    else:
        assert "pythae side not run" in text and len(grids) == 3
