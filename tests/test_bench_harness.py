"""The benchmark harness (bench/harness.py) and its protocol rules, plus a --quick run of every
benchmark so the harness cannot rot. The quick run uses the pythae side venv when it exists
(bench/setup_pythae.sh, or $PYTHAE_PYTHON) and the vaekit side only otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
from bench_support import finished, needs_fashion, pythae_python, run_twice  # noqa: E402

import harness as hz  # noqa: E402
from harness import Harness, Job, ProtocolError, Stat  # noqa: E402
from docs_sections import put_section, put_sections  # noqa: E402

MACHINE = {"cpu_model": "test", "cores": 2, "threads": 1, "torch": {"vaekit": "x"}, "python": "3", "platform": "t"}


def trivial(value: float):
    """A job body: one real (cheap) subprocess, as the harness requires, and a figure."""
    def fn(ctx):
        ctx.process([sys.executable, "-c", "pass"])
        return {"value": value}
    return fn


def make_harness(path: Path, quick: bool = False) -> Harness:
    return Harness(path, threads=1, pythons={"vaekit": sys.executable}, quick=quick, machine=MACHINE,
                   work=path.parent / "work")


# --------------------------------------------------------------------------- protocol rules
def test_refuses_fewer_than_three_seeds_unless_quick():
    with pytest.raises(ProtocolError, match="fewer than 3 seeds"):
        hz.require_seeds({"vaekit": 3, "pythae": 2}, quick=False)
    hz.require_seeds({"vaekit": 3, "pythae": 3}, quick=False)
    hz.require_seeds({"vaekit": 1, "pythae": 1}, quick=True)


def test_selection_refuses_test_split_figures():
    ref = [{"split": "val", "elbo": -240.0, "cost_s": 200.0}] * 3
    cands = {"a": [{"split": "val", "elbo": -239.0, "cost_s": 60.0}] * 3,
             "b": [{"split": "test", "elbo": -238.0, "cost_s": 50.0}] * 3}
    with pytest.raises(ProtocolError, match="validation split only"):
        hz.select_on_validation(cands, ref)
    with pytest.raises(ProtocolError, match="validation split only"):
        hz.select_on_validation({"a": cands["a"]}, [{"split": "test", "elbo": -240.0, "cost_s": 1.0}])


def test_selection_picks_the_fastest_candidate_reaching_the_validation_target():
    ref = [{"split": "val", "elbo": e, "cost_s": 200.0} for e in (-240.0, -239.0, -241.0)]  # mean -240
    cands = {
        "fast-but-short": [{"split": "val", "elbo": -242.0, "cost_s": 40.0}] * 3,
        "slow": [{"split": "val", "elbo": -238.0, "cost_s": 90.0}] * 3,
        "mid": [{"split": "val", "elbo": -239.9, "cost_s": 60.0}] * 3,
    }
    sel = hz.select_on_validation(cands, ref)
    assert sel.chosen == "mid" and sel.reached
    sel = hz.select_on_validation({"fast-but-short": cands["fast-but-short"]}, ref)
    assert sel.chosen == "fast-but-short" and not sel.reached


def test_test_split_quality_job_needs_a_validation_selection(tmp_path):
    h = make_harness(tmp_path / "r.jsonl")
    job = Job("ttq-score", "vaekit", 0, {"c": "a"}, trivial(1.0), split="test", purpose="quality")
    with pytest.raises(ProtocolError, match="validation split"):
        h.run(job)
    forged = hz.Selection(chosen="a", reached=True, target=Stat.of([0.0]), rows=(), token="forged")
    job.selection = forged
    with pytest.raises(ProtocolError, match="validation split"):
        h.run(job)
    job.selection = hz.select_on_validation({"a": [{"split": "val", "elbo": 0.0, "cost_s": 1.0}]},
                                            [{"split": "val", "elbo": 0.0, "cost_s": 1.0}])
    assert h.run(job)["figures"] == {"value": 1.0, "split": "test"}


def test_every_run_must_be_a_subprocess(tmp_path):
    h = make_harness(tmp_path / "r.jsonl")
    with pytest.raises(ProtocolError, match="fresh subprocess"):
        h.run(Job("b", "vaekit", 0, {}, lambda ctx: {"value": 1.0}))


def test_claim_rule_and_goals():
    a, b = Stat.of([10.0, 11.0, 12.0]), Stat.of([5.0, 6.0, 7.0])  # sds 1 and 1, difference 5 > 2
    assert hz.claim(a, b, better="faster") == "vaekit faster"
    assert hz.claim(b, a) == "pythae better"
    assert hz.claim(a, b, higher_is_better=False, better="smaller") == "pythae smaller"
    close = Stat.of([6.5, 7.5, 8.5])  # difference 1.5 < 1 + 1
    assert hz.claim(close, b) == "not distinguishable"
    assert hz.claim(Stat.of([10.0]), Stat.of([1.0])) == "not distinguishable"  # one value: no spread, no claim
    assert hz.goal(a, b, 1.3) == "MET"  # 11 vs 7.8 +- 1.3
    assert hz.goal(Stat.of([6.9, 7.0, 7.1]), b, 1.3) == "at the line (not distinguishable)"
    assert hz.goal(b, a, 1.3) == "MISSED"
    assert hz.goal(Stat.of([20.0, 21.0, 22.0]), Stat.of([90.0, 91.0, 92.0]), 1 / 3, higher_is_better=False) == "MET"


def test_interleave_alternates_sides():
    assert hz.interleave([["A0", "B0"], ["A1", "B1"], ["A2", "B2"]]) == ["A0", "B0", "B1", "A1", "A2", "B2"]


def test_resume_after_a_kill_skips_finished_runs(tmp_path):
    path = tmp_path / "r.jsonl"
    calls = []

    def body(i):
        def fn(ctx):
            calls.append(i)
            if i == 2 and len(calls) == 3:
                raise KeyboardInterrupt  # killed during the third run
            ctx.process([sys.executable, "-c", "pass"])
            return {"value": float(i)}
        return fn

    jobs = [Job("b", "vaekit" if i % 2 == 0 else "pythae", i, {"x": 1}, body(i)) for i in range(4)]
    h = make_harness(path)
    with pytest.raises(KeyboardInterrupt):
        h.run_all(jobs)
    with open(path, "a") as f:
        f.write('{"key": "torn')  # a line cut short by the kill
    assert len(path.read_text().splitlines()) == 3
    h2 = make_harness(path)
    recs = h2.run_all(jobs)
    assert calls == [0, 1, 2, 2, 3]  # finished runs were not repeated
    assert [r["figures"]["value"] for r in recs] == [0.0, 1.0, 2.0, 3.0]
    rec = recs[0]
    assert rec["machine"]["cpu_model"] == "test" and rec["load_before"] is not None and rec["processes"][0]["wall_s"] > 0
    # another machine (or thread count) does not reuse these results
    other = Harness(path, threads=2, pythons={"vaekit": sys.executable}, machine={**MACHINE, "threads": 2},
                    work=tmp_path / "work")
    assert other.pending(jobs) == 4


def test_docs_sections_replace_only_their_block_and_append_missing_ones(tmp_path):
    page = tmp_path / "page.md"
    put_section(page, "a", "first", new_doc="# Title\n")  # a new page from new_doc, markers appended
    assert page.read_text() == "# Title\n\n<!-- bench:a -->\nfirst\n<!-- /bench:a -->\n"
    page.write_text(page.read_text() + "\nhand-written prose\n")
    put_sections(page, {"a": "second", "b": "new"})  # a replaced in place, b appended, prose kept
    text = page.read_text()
    assert "first" not in text and text.index("second") < text.index("hand-written prose") < text.index("new")
    put_section(page, "c", "x", heading="## C")
    assert text.rstrip() + "\n\n## C\n\n<!-- bench:c -->\nx\n<!-- /bench:c -->\n" == page.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.md"]  # written by rename: no temporary left


def test_cpu_model_comes_from_proc_cpuinfo():
    assert hz.cpu_model()


# --------------------------------------------------------------------------- every benchmark at toy size
def _quick_cmd(d: Path) -> list[str]:
    py = pythae_python()
    cmd = [sys.executable, str(BENCH / "run_all.py"), "--quick", "--threads", "1", "--speed-seeds", "1",
           "--results", str(d / "quick.jsonl"), "--docs", str(d / "quick.md")]
    return cmd + (["--pythae-python", py] if py else ["--no-pythae"])


def plan_cli_jobs(cli_pool, tiny_run: Path, d: Path):
    """The quick run, twice (the second must resume, running nothing), from the start of the session."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return run_twice(d, _quick_cmd(d), d / "quick.jsonl", env=env)


@needs_fashion
def test_quick_run_of_every_benchmark(prefetched: dict):
    job = prefetched[__name__]
    py = pythae_python()
    results, docs = job["dir"] / "quick.jsonl", job["dir"] / "quick.md"
    first, second = finished(job, 2)
    text = docs.read_text()
    for marker in ("throughput", "ttq", "iwae", "misc", "machine"):
        assert f"<!-- bench:{marker} -->" in text
    assert "samples/s, mean ± sd" in text and "images/s (whole process)" in text and "Start-up" in text
    recs = [json.loads(ln) for ln in results.read_text().splitlines()]
    assert all(r["quick"] and r["machine"]["cpu_model"] for r in recs)
    if py:
        assert "vaekit / pythae" in text and "Selection (validation split only)" in text
        assert {r["side"] for r in recs if r["bench"] == "throughput"} == {"vaekit", "pythae"}
        splits = {(r["settings"].get("candidate"), r["split"]) for r in recs if r["bench"] == "ttq-score"}
        assert ("pythae", "val") in splits and ("pythae", "test") in splits
        assert "consistent" in text  # same weights, both IWAE estimators agree
    else:
        assert "pythae side skipped" in text
    # a second invocation resumes from the results file: nothing is run again
    assert second.lines == first.lines == len(recs)
    assert " run " not in second.proc.stderr
    if not py:
        pytest.skip("pythae side venv missing (run bench/setup_pythae.sh): only the vaekit side was run")


def test_full_run_refuses_without_pythae(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--no-pythae", "--results",
                          str(tmp_path / "r.jsonl")], capture_output=True, text=True)
    assert out.returncode != 0 and "--quick checks only" in out.stderr
