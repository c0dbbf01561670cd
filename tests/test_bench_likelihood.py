"""bench/bench_likelihood.py (issue 9, likelihood per CPU-minute): its selection and goal rules,
the pythae settings it derives from vaekit's recipes, the docs section it writes, and a --quick
run on real Fashion-MNIST. The quick run uses the pythae side venv when it exists
(bench/setup_pythae.sh, or $PYTHAE_PYTHON) and runs the vaekit side only otherwise (and says so)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
from bench_support import finished, needs_fashion, pythae_python, start_in_background  # noqa: E402

import bench_likelihood as bl  # noqa: E402
from harness import ProtocolError, Stat  # noqa: E402


# --------------------------------------------------------------------------- rules
def test_top_two_picks_the_two_best_validation_nlls_and_refuses_test_figures():
    def e(nll, split="val"):
        return [{"split": split, "neg_nll": -nll, "train_s": 300.0}]

    picked = bl.top_two({"a": e(260.0), "b": e(250.0), "c": e(255.0), "d": e(270.0)})
    assert [name for name, _ in picked] == ["b", "c"]
    assert all(sel.token for _, sel in picked)  # the tickets the test-split jobs need
    assert [n for n, _ in bl.top_two({"only": e(300.0)})] == ["only"]
    with pytest.raises(ProtocolError, match="validation split only"):
        bl.top_two({"a": e(260.0), "b": e(250.0, split="test")})


def test_offset_goal_is_judged_by_the_claim_rule():
    vk = Stat.of([240.0, 241.0, 239.0])
    assert bl.offset_goal(vk, Stat.of([250.0, 251.0, 249.0]), 5.0) == "MET"        # 10 nats better
    assert bl.offset_goal(vk, Stat.of([241.0, 242.0, 240.0]), 5.0) == "MISSED"     # 1 nat better
    assert bl.offset_goal(vk, Stat.of([245.5, 246.5, 244.5]), 5.0).startswith("at the line")
    assert bl.offset_goal(Stat.of([240.0]), Stat.of([300.0]), 5.0).startswith("at the line")  # n=1: no claim


def test_speed_uses_full_epochs_after_the_first_one_value_per_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"seconds": 9}\n{"seconds": 5}\n{"seconds": 2, "budget_cut_after_steps": 3}\n')
    old_vaekit = {"figures": {"epoch_s": [9.0, 5.0, 2.0], "run": str(run)}}  # cut read from the run's metrics
    pythae_cut = {"figures": {"epoch_s": [8.0, 4.0, 6.0, 1.0], "stopped_by_budget": True}}
    vaekit_full = {"figures": {"epoch_s": [7.0, 3.0, 5.0], "last_epoch_cut": False}}
    assert bl.full_epoch_s(old_vaekit) == [5.0]
    gone = {"figures": {"epoch_s": [9.0, 5.0, 2.0], "run": str(tmp_path / "deleted")}}  # a fresh clone: assume cut
    assert bl.full_epoch_s(gone) == [5.0]
    assert bl.full_epoch_s(pythae_cut) == [4.0, 6.0]
    assert bl.full_epoch_s(vaekit_full) == [3.0, 5.0]
    assert bl.run_speed([old_vaekit, pythae_cut, vaekit_full]).values == (5.0, 5.0, 4.0)  # medians, one per run


def test_pythae_same_net_settings_come_from_the_matching_recipe():
    for model, rec in bl.PAIRS.items():
        s = bl.pythae_settings(model, "same")
        with open(bl.RECIPES_DIR / f"{rec}.toml", "rb") as f:
            r = tomllib.load(f)
        assert s["hp"]["hidden"] == list(r["model"]["net"]["hidden"])
        assert s["hp"]["latent_dim"] == r["model"]["latent_dim"]
        assert (s["batch_size"], s["lr"]) == (r["train"]["batch_size"], r["train"]["lr"])
    assert bl.pythae_settings("IWAE", "same")["hp"]["number_samples"] == 5
    assert bl.pythae_settings("VAMP", "same")["hp"]["number_components"] == 500
    assert bl.pythae_settings("VAE_LinNF", "same")["hp"]["flows"] == ["Planar"] * 8
    assert bl.pythae_settings("VAE_IAF", "same")["hp"]["n_made_blocks"] == 2
    assert bl.pythae_settings("BetaVAE", "default") == {"model": "BetaVAE", "net": "default", "hp": {},
                                                        "batch_size": 64, "lr": None}
    full = bl.candidates(quick=False, only=None, with_pythae=True)
    assert len([c for c in full if c.side == "vaekit"]) == 11 and len([c for c in full if c.side == "pythae"]) == 16
    with pytest.raises(SystemExit, match="unknown candidate"):
        bl.candidates(quick=True, only=["vaekit:nope"], with_pythae=False)


def test_status_lists_missing_runs_and_keeps_the_other_section(tmp_path):
    docs = tmp_path / "variants.md"
    docs.write_text("# V\n\n<!-- bench:disentanglement -->\nTHEIR TABLE\n<!-- /bench:disentanglement -->\n")
    assert bl.main(["--status", "--no-pythae", "--results", str(tmp_path / "r.jsonl"), "--docs", str(docs)]) == 0
    text = docs.read_text()
    assert "THEIR TABLE" in text
    section = text.split("<!-- bench:likelihood -->")[1].split("<!-- /bench:likelihood -->")[0]
    assert "Not generated yet" in section
    assert "22 of 22 jobs below still missing" in section  # 11 recipes x (training, validation NLL)
    assert "vaekit:ladder seed 0" in section
    assert not (tmp_path / "r.jsonl").exists()  # nothing was run


# --------------------------------------------------------------------------- the quick run
def plan_cli_jobs(cli_pool, tiny_run: Path, d: Path):
    """The quick run, twice (the second must resume), from the start of the session."""
    py = pythae_python()
    only = ["vaekit:vae"] + (["pythae:VAE/same"] if py else [])
    cmd = [sys.executable, str(BENCH / "bench_likelihood.py"), "--quick", "--threads", "1", "--budget", "2",
           "--results", str(d / "lk.jsonl"), "--docs", str(d / "lk.md"), "--only", *only]
    cmd += ["--pythae-python", py] if py else ["--no-pythae"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VAEKIT_OFFLINE": "1"}
    # twice (the second must resume), then --status, which on a complete results file renders the table
    return {"dir": d, "future": start_in_background(cmd, cmd, [*cmd, "--status"], env=env, results=d / "lk.jsonl")}


@needs_fashion
def test_quick_run_resumes_and_scores_both_libraries_on_the_same_images(prefetched: dict):
    job = prefetched[__name__]
    py = pythae_python()
    results, docs = job["dir"] / "lk.jsonl", job["dir"] / "lk.md"
    first, second, status = finished(job, 3)
    recs = [json.loads(ln) for ln in results.read_text().splitlines()]
    scores = [r for r in recs if r["bench"] == "likelihood-score"]
    assert {(r["side"], r["split"]) for r in scores} == {(s, sp) for s in (["vaekit", "pythae"] if py else ["vaekit"])
                                                         for sp in ("val", "test")}
    for r in scores:  # a Bernoulli NLL of 784 binary pixels: positive, finite, below the uniform 784 ln 2
        assert 0 < r["figures"]["nll"] < 784 * 0.6932, r["figures"]
    trains = [r for r in recs if r["bench"] == "likelihood-train"]
    for r in trains:  # the budget stopped every run after at least one epoch past 2 s of training
        assert r["figures"]["n_epochs"] >= 1 and r["figures"]["train_s"] >= 2.0
    speed = [r for r in trains if r["settings"].get("stage") == "speed"]
    assert {r["side"] for r in speed} == ({"vaekit", "pythae"} if py else set())  # pairs need both libraries
    check = next(r for r in recs if r["bench"] == "likelihood-crosscheck")["figures"]
    assert abs(check["diff"]) < 1.0, check  # two implementations of Burda et al.'s estimator agree
    text = docs.read_text()
    assert "Screening" in text and "`vae`" in text and "--quick: toy sizes" in text
    if py:
        assert "`VAE/same`" in text and "`vae` ↔ `VAE`" in text
        assert any(r["figures"].get("estimator") == "bench/worker.py iw_nll" for r in scores)
    else:
        assert "only one library has a final candidate" in text
    assert "] run " not in second.proc.stderr  # every run was found in the results file
    assert second.lines == first.lines == status.lines == len(recs)
    assert "] run " not in status.proc.stderr and "Not generated yet" not in text
    if not py:
        pytest.skip("pythae side venv missing (run bench/setup_pythae.sh): only the vaekit side was run")


# --------------------------------------------------------------------------- the pythae-side estimator
PYTHAE_PARTS = r'''
import json, math, sys, torch
sys.path.insert(0, sys.argv[1])
import worker as w
torch.manual_seed(0)
out = {}
vamp = w.lk_build_pythae("VAMP", "same", {"hidden": [32, 16], "latent_dim": 4, "number_components": 7}).eval()
with torch.no_grad():
    z = torch.randn(50, 4) * 2
    fast = w.LogPrior(vamp)(z)
    e = vamp.encoder(vamp.pseudo_inputs(torch.eye(7)).reshape(7, 1, 28, 28))
    direct = torch.logsumexp(w.lk_gauss_logpdf(z.unsqueeze(1), e.embedding, e.log_covariance), -1) - math.log(7)
    out["vamp_diff"] = float((fast - direct).abs().max())
    std = w.lk_build_pythae("VAE", "same", {"hidden": [32, 16], "latent_dim": 4})
    out["normal_diff"] = float((w.LogPrior(std)(z) - torch.distributions.Normal(0, 1).log_prob(z).sum(-1)).abs().max())
x = torch.bernoulli(torch.full((6, 1, 28, 28), 0.3))
for name, hp in [("VAE_IAF", {"n_made_blocks": 2, "hidden_size": 8, "n_hidden_in_made": 1}),
                 ("VAE_LinNF", {"flows": ["Planar"] * 3})]:
    m = w.lk_build_pythae(name, "same", {"hidden": [32, 16], "latent_dim": 4, **hp})
    flow = m.iaf_flow if name == "VAE_IAF" else m.net
    for p in flow.parameters():  # away from the identity, so the log-dets are not all zero
        torch.nn.init.normal_(p, std=0.5)
    out[name] = w.lk_check_logdet(m, x)
    nll = w.iw_nll(m, x, 7, batch=4, generator=torch.Generator().manual_seed(0))
    out[name + "_finite"] = bool(torch.isfinite(nll).all()) and nll.shape == (6,)
print(json.dumps(out))
'''


def test_pythae_side_prior_and_flow_densities():
    """In the pythae venv, on pythae's own model classes: the VampPrior by matrix products equals the
    direct mixture, and every flow log-det equals the autograd Jacobian's (lk_check_logdet raises
    otherwise), including planar layers pushed away from the identity."""
    py = pythae_python()
    if not py:
        pytest.skip("pythae side venv missing (run bench/setup_pythae.sh)")
    p = subprocess.run([py, "-c", PYTHAE_PARTS, str(BENCH)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["vamp_diff"] < 1e-4 and out["normal_diff"] < 1e-4
    assert out["VAE_IAF"] < 1e-3 and out["VAE_LinNF"] < 1e-3
    assert out["VAE_IAF_finite"] and out["VAE_LinNF_finite"]


# --------------------------------------------------------------------------- failures are reported, not fatal
MACHINE = {"cpu_model": "test", "cores": 2, "threads": 1, "torch": {"vaekit": "x"}, "python": "3", "platform": "t"}


def test_a_failed_run_is_recorded_and_reported_without_stopping_the_rest(tmp_path):
    from harness import Harness, Job

    h = Harness(tmp_path / "r.jsonl", threads=1, pythons={"vaekit": sys.executable}, quick=True, machine=MACHINE,
                work=tmp_path / "w")
    job = Job("likelihood-train", "pythae", 0, {"cand": "pythae:VAE/same"}, fn=lambda ctx: None,
              artifacts=[str(tmp_path / "never-written.pt")])
    job.fn = bl.tolerant(job, lambda ctx: ctx.process([sys.executable, "-c", "raise SystemExit('diverged: NaN')"]))
    rec = h.run(job, need_artifacts=True)
    assert "diverged: NaN" in rec["figures"]["failed"] and rec["artifacts"] == []
    assert h.run(job, need_artifacts=True) is rec and h.ran == 1  # not re-run in the same or a later invocation
    assert bl.failed(rec) and not bl.failed({"figures": {"nll": 1.0}})

    def run(label, seed, **fig):
        return {"key": f"{label}-{seed}", "seed": seed, "figures": fig, "load_before": [1.0], "load_after": [1.2]}

    train_ok = {"n_epochs": 3, "epoch_s": [2.0, 1.0, 1.1], "train_s": 4.1}
    plan = bl.Plan(h, 5.0, 10, 50, 50, 512, 1, None)
    cands = [bl.Candidate("vaekit", "vae"), bl.Candidate("pythae", "VAE/same"), bl.Candidate("pythae", "VAE_LinNF/same")]
    screen_train = {"vaekit:vae": run("a", 0, **train_ok), "pythae:VAE/same": run("b", 0, failed="NaN loss"),
                    "pythae:VAE_LinNF/same": run("c", 0, **train_ok, diverged="NaN detected (in epoch 3)")}
    screen_val = {"vaekit:vae": run("d", 0, nll=300.0, split="val"),
                  "pythae:VAE_LinNF/same": run("e", 0, nll=290.0, split="val", planar_noninvertible_layers=2)}
    sel = bl.top_two({"vaekit:vae": [{"split": "val", "neg_nll": -300.0, "train_s": 4.1}]})
    finals = dict(sel)
    final_train = {"vaekit:vae": [run("a", 0, **train_ok), run("f", 1, failed="killed")]}
    final_test = {"vaekit:vae": [run("g", 0, nll=301.0, split="test")]}
    speed = {"`vae` ↔ `VAE`": ([run("s", 0, **train_ok, last_epoch_cut=False)], [run("t", 0, failed="killed")])}
    text = bl.render(plan, cands, screen_train, screen_val, finals, final_train, final_test, None, "cmd", 2, speed)
    assert "| `vae` ↔ `VAE` | – | – | – | a side failed every run | – |" in text
    assert "**failed** (below)" in text and "`pythae:VAE/same` (training): NaN loss" in text
    assert "† pythae's planar flows" in text and "‡ pythae stopped these runs" in text
    assert "(1 seed(s) failed)" in text and "301.00" in text
    assert "only one library has a final candidate" in text  # pythae: none eligible, no headline
