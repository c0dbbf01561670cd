"""Likelihood per CPU-minute (issue 9): vaekit's variant zoo against pythae 0.1.2 on dynamically
binarised Fashion-MNIST, every run given the same wall-clock training budget.

    python3 bench/bench_likelihood.py               # the full table (~4 h on 2 idle cores); resumes; rewrites docs/variants.md
    python3 bench/bench_likelihood.py --status      # runs nothing: writes which runs are still missing (or, when none is, the table)
    python3 bench/bench_likelihood.py --quick       # toy size (~1-2 min), writes bench/results/quick-likelihood.md

Protocol (bench/harness.py; docs/benchmarks.md "Protocol"):

1. Screening, one seed each, validation split: every vaekit recipe of the zoo (``vaekit train
   --recipe R --data fashion-mnist --set train.time_budget=B --set train.threads=T``; the recipe's
   own dynamic binarisation) and pythae's VAE, IWAE, VAMP, BetaVAE, BetaTCVAE, FactorVAE, VAE_IAF,
   VAE_LinNF twice: with vaekit's net and the matching recipe's settings ("same") and with pythae's
   default MLP and default hyper-parameters ("default"), trained by its ``TrainingPipeline`` with a
   budget callback (bench/worker.py ``pythae_train_budget``). The training images are drawn
   afresh from their grey levels every epoch on both sides (seeded).
2. Quality: the IW-k estimate of the NLL (Burda et al. 2015), k = 1000, in nats per image, on the
   same binarised images for both libraries (vaekit's fixed evaluation binarisation, exported to
   the pythae side): ``vaekit evaluate`` for vaekit's runs; for pythae's models
   ``worker.iw_nll``, written for this benchmark from the paper (log q, log p of flows and the
   VampPrior from the model's own flows and pseudo-inputs, every log-det checked against an
   autograd Jacobian), itself checked against ``vaekit evaluate`` on a vaekit run
   (``vaekit_iw_crosscheck``).
3. Selection on validation only: the two best candidates of each library by mean validation NLL
   (the harness's ``select_on_validation`` with the reference set to the best remaining
   candidate), then 3 seeds each (mean ± sd) and the test split once.
4. Speed: s/epoch of the training loop of each matching pair (vaekit recipe <-> pythae model with
   the same net, batch size and learning rate), in a stage of its own: 3 runs per side of
   ``--speed-budget`` seconds (default 60; vaekit through ``vaekit.train`` without the report),
   the sides interleaved; per run the median over its full epochs after the first (epoch 1 is
   warm-up; the epoch the budget cuts short is dropped), then mean ± sd over the runs. The
   screening and final runs are not used for speed: one run per candidate, made at different
   times, cannot separate the libraries from the machine's slow spells.

Every finished run (data export, training, scoring) is appended to the results file at once,
so a killed invocation resumes where it stopped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import statistics
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (BENCH, Harness, Job, ProtocolError, RunFailed, Selection, Stat, claim, distinguishable, fmt_num,  # noqa: E402
                     goal, interleave, load_note, log, md_table, require_seeds, select_on_validation)
from docs_sections import put_section  # noqa: E402
from run_all import default_pythae_python, vaekit_cli  # noqa: E402

ROOT = BENCH.parent
DOCS = ROOT / "docs" / "variants.md"
RECIPES_DIR = ROOT / "src" / "vaekit" / "recipes"
SECTION = "likelihood"
DATASET = "fashion-mnist"
VAEKIT_RECIPES = ["vae", "iwae", "beta-vae", "beta-vae-capacity", "beta-tcvae", "factor-vae", "vamp", "mog-prior",
                  "planar", "iaf", "ladder"]
# pythae model -> the vaekit recipe with the same model family (its net and settings for "same")
PAIRS = {"VAE": "vae", "IWAE": "iwae", "VAMP": "vamp", "BetaVAE": "beta-vae", "BetaTCVAE": "beta-tcvae",
         "FactorVAE": "factor-vae", "VAE_IAF": "iaf", "VAE_LinNF": "planar"}
NETS = ("same", "default")
QUICK_VAEKIT = ["vae", "iaf"]
QUICK_PYTHAE = ["VAE/same", "VAE_IAF/default"]
# Published context (dynamically binarised MNIST, not Fashion-MNIST: not directly comparable).
CONTEXT = ("Published context (dynamically binarised **MNIST**, test NLL in nats; a different dataset, so "
           "only an order of magnitude): 1-layer VAE 86.76 and IWAE k = 50 84.78 (Burda et al. 2015, "
           "Table 1, k = 5000 evaluation); ladder VAE 81.74 (Sønderby et al. 2016).")


# --------------------------------------------------------------------------- candidates
@dataclass(frozen=True)
class Candidate:
    side: str  # "vaekit" | "pythae"
    name: str  # recipe, or "Model/net"
    settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        return f"{self.side}:{self.name}"


def recipe(name: str) -> dict[str, Any]:
    with open(RECIPES_DIR / f"{name}.toml", "rb") as f:
        return tomllib.load(f)


def pythae_settings(model: str, net: str) -> dict[str, Any]:
    """What the pythae worker builds. "same": vaekit's net (the matching recipe's MLP widths and
    latent size), its batch size and learning rate, and the recipe's main hyper-parameters in
    pythae's names; "default": pythae's default MLP, model config and trainer config untouched
    (only ``reconstruction_loss = "bce"``, which a Bernoulli likelihood needs, in both)."""
    if net == "default":
        return {"model": model, "net": "default", "hp": {}, "batch_size": 64, "lr": None}  # pythae's trainer defaults
    r = recipe(PAIRS[model])
    m, o, t = r["model"], r["objective"], r["train"]
    hp: dict[str, Any] = {"hidden": list(m["net"]["hidden"]), "latent_dim": m["latent_dim"]}
    flows = m.get("posterior", {}).get("flows", [])
    if model == "IWAE":
        hp["number_samples"] = o["k"]
    elif model == "VAMP":
        hp["number_components"] = m["prior"]["components"]
    elif model == "BetaVAE":
        hp["beta"] = o["beta"]
    elif model == "BetaTCVAE":
        hp.update(alpha=o["alpha"], beta=o["beta"], gamma=o["gamma"], use_mss=o["estimator"] == "mss")
    elif model == "FactorVAE":
        hp["gamma"] = o["gamma"]
    elif model == "VAE_IAF":
        hp.update(n_made_blocks=len(flows), hidden_size=flows[0]["hidden"][0], n_hidden_in_made=len(flows[0]["hidden"]))
    elif model == "VAE_LinNF":
        hp["flows"] = ["Planar"] * len(flows)
    out = {"model": model, "net": "same", "hp": hp, "batch_size": t["batch_size"], "lr": t["lr"]}
    if model == "FactorVAE":
        out["disc_lr"] = o.get("disc_lr")
    return out


def candidates(quick: bool, only: list[str] | None, with_pythae: bool) -> list[Candidate]:
    vk = QUICK_VAEKIT if quick else VAEKIT_RECIPES
    py = QUICK_PYTHAE if quick else [f"{m}/{n}" for m in PAIRS for n in NETS]
    out = [Candidate("vaekit", r, {"recipe": r}) for r in vk]
    if with_pythae:
        out += [Candidate("pythae", p, pythae_settings(*p.split("/"))) for p in py]
    if only:
        known = {c.label for c in out} | {c.name for c in out}
        bad = [o for o in only if o not in known]
        if bad:
            raise SystemExit(f"bench_likelihood: unknown candidate(s) {bad}; known: {sorted(c.label for c in out)}")
        out = [c for c in out if c.label in only or c.name in only]
    return out


# --------------------------------------------------------------------------- jobs
def tolerant(job: Job, body):
    """A job body whose failed process is recorded as the run's result ({"failed": why}) instead of
    stopping the invocation: a model that diverges or cannot be scored is reported as such, and the
    other runs go on. ``--retry-failed`` runs such records again."""
    def fn(ctx):
        try:
            return body(ctx)
        except RunFailed as err:
            if not ctx.procs:
                raise
            job.artifacts = []  # nothing to keep: the failure is the record
            log(f"  FAILED: {str(err).strip().splitlines()[-1][:300]}")
            return {"failed": "\n".join(str(err).strip().splitlines()[-6:])[-1500:]}
    return fn


def failed(rec: dict[str, Any] | None) -> bool:
    return rec is not None and "failed" in rec["figures"]


@dataclass
class Plan:
    h: Harness
    budget: float
    k: int
    val_limit: int | None
    test_limit: int | None
    limit: int | None  # training examples (quick)
    threads: int
    pythae_python: str | None
    speed_budget: float = 60.0  # training seconds of each run of the speed stage

    def data_job(self) -> Job:
        job = Job("likelihood-data", "data", 0, {"dataset": DATASET, "limit": self.limit}, fn=lambda ctx: None,
                  purpose="data", label="export binarised splits")
        out = self.h.artifact_dir(job) / "data.npz"
        job.artifacts = [str(out)]

        def fn(ctx):
            out.parent.mkdir(parents=True, exist_ok=True)
            res, _ = ctx.worker(sys.executable, "vaekit_export_binarised",
                                {"dataset": DATASET, "limit": self.limit, "out": str(out)})
            return {"sizes": res["sizes"], "path": str(out)}

        job.fn = fn
        return job

    def train_job(self, c: Candidate, seed: int, *, speed: bool = False) -> Job:
        """A training run of ``c`` under the budget; ``speed``: a run of the speed stage instead (its
        own shorter budget, ``speed_budget``; only its s/epoch is read, so vaekit's side calls
        ``vaekit.train`` - the function `vaekit train` runs - without the report)."""
        # budget_rule "cut": both sides stop at the first step past the budget (vaekit's train.time_budget
        # cuts the epoch in progress; pythae's callback raises at the step) - records made under the
        # older epoch-end rule no longer match.
        budget = self.speed_budget if speed else self.budget
        settings = {"cand": c.label, **c.settings, "budget": budget, "limit": self.limit, "threads": self.threads,
                    "dataset": DATASET, "budget_rule": "cut", **({"stage": "speed"} if speed else {})}
        job = Job("likelihood-train", c.side, seed, settings, fn=lambda ctx: None, purpose="train",
                  label=f"{c.label} seed {seed}" + (f" (speed, {budget:g} s)" if speed else ""))
        d = self.h.artifact_dir(job)
        if c.side == "vaekit":
            out = d / "run"
            job.artifacts = [str(out / "model.safetensors")]

            def body(ctx):
                shutil.rmtree(out, ignore_errors=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                sets = [f"train.time_budget={budget:g}", f"train.threads={self.threads}",
                        *([f"data.limit={self.limit}"] if self.limit else [])]
                if self.h.quick or speed:  # vaekit.train, the function `vaekit train` calls, without the
                    # report (its k = 100 NLL of the 10,000 test images would be most of a short run's time)
                    _, p = ctx.worker(sys.executable, "vaekit_train", {
                        "recipe": c.name, "seed": seed, "out": str(out),
                        "overrides": [f"data.name={DATASET}", *sets]}, timeout=budget * 4 + 1800)
                else:  # what a user runs
                    cmd = [*vaekit_cli(sys.executable), "train", "--recipe", c.name, "--data", DATASET, "--seed",
                           str(seed), "--out", str(out)]
                    for item in sets:
                        cmd += ["--set", item]
                    p = ctx.process(cmd, timeout=budget * 4 + 1800)
                rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if ln.strip()]
                return {"run": str(out), "n_epochs": len(rows), "epoch_s": [r["seconds"] for r in rows],
                        "train_s": rows[-1]["elapsed_s"], "wall_s": p.wall_s, "threads": rows[-1].get("threads"),
                        "last_epoch_cut": rows[-1].get("budget_cut_after_steps") is not None}
        else:
            weights = d / "weights.pt"
            job.artifacts = [str(weights)]

            def body(ctx):
                if not self.pythae_python:
                    raise SystemExit("bench_likelihood: no pythae venv (bench/setup_pythae.sh); use --no-pythae")
                d.mkdir(parents=True, exist_ok=True)
                data = self.h.run(self.data_job(), need_artifacts=True)["figures"]["path"]
                args = {**c.settings, "data": data, "seed": seed, "budget": budget, "limit": self.limit,
                        "threads": self.threads, "out": str(weights)}
                res, p = ctx.worker(self.pythae_python, "pythae_train_budget", args, timeout=budget * 4 + 1800)
                return {"weights": str(weights), "n_epochs": res["n_epochs"],
                        "epoch_s": [e["seconds"] for e in res["epochs"]], "train_s": res["train_s"],
                        "stopped_by_budget": res["stopped_by_budget"], "diverged": res["diverged"],
                        "wall_s": p.wall_s, "threads": res["torch_threads"], "batch_size": res["batch_size"],
                        "lr": res["lr"]}

        job.fn = tolerant(job, body)
        return job

    def score_job(self, c: Candidate, train: Job, split: str, selection: Selection | None = None) -> Job:
        limit = self.val_limit if split == "val" else self.test_limit
        job = Job("likelihood-score", c.side, train.seed,
                  {"train_key": self.h.key(train), "split": split, "k": self.k, "limit": limit}, fn=lambda ctx: None,
                  split=split, purpose="quality", selection=selection, label=f"{c.label} seed {train.seed} {split}")

        def body(ctx):
            tr = self.h.run(train, need_artifacts=True)["figures"]
            if "failed" in tr:
                raise ProtocolError(f"{c.label}: its training failed; it has nothing to score")
            if c.side == "vaekit":
                cmd = [*vaekit_cli(sys.executable), "evaluate", tr["run"], "--split", split, "--k", str(self.k),
                       "--seed", "0"]
                if limit:
                    cmd += ["--limit", str(limit)]
                p = ctx.process(cmd)
                m = json.loads((Path(tr["run"]) / "eval.json").read_text())
                if m.get("split") != split:
                    raise RuntimeError(f"eval.json of {tr['run']} is for split {m.get('split')!r}, not {split!r}")
                res = {"split": split, "nll": float(m["nll"]), "elbo": float(m["elbo"]), "score_wall_s": p.wall_s,
                       "estimator": "vaekit evaluate"}
            else:
                data = self.h.run(self.data_job(), need_artifacts=True)["figures"]["path"]
                args = {**c.settings, "data": data, "weights": tr["weights"], "split": split, "k": self.k,
                        "limit": limit, "seed": 0, "threads": self.threads}
                r, p = ctx.worker(self.pythae_python, "pythae_score_iw", args)
                res = {"split": split, "nll": r["nll"], "score_wall_s": p.wall_s, "logdet_check": r["logdet_check"],
                       "planar_noninvertible_layers": r["planar_noninvertible_layers"],
                       "estimator": "bench/worker.py iw_nll"}
            res.update(neg_nll=-res["nll"], train_s=tr["train_s"], n_epochs=tr["n_epochs"], k=self.k, n=limit)
            return res

        job.fn = tolerant(job, body)
        return job

    def crosscheck_job(self, train: Job) -> Job:
        """iw_nll vs `vaekit evaluate` on one vaekit run (plain posterior and prior)."""
        k, n = (100, 100) if self.h.quick else (1000, 500)
        job = Job("likelihood-crosscheck", "vaekit", train.seed, {"train_key": self.h.key(train), "k": k, "n": n},
                  fn=lambda ctx: None, split="val", purpose="check", label="estimator cross-check")

        def fn(ctx):
            tr = self.h.run(train, need_artifacts=True)["figures"]
            r, _ = ctx.worker(sys.executable, "vaekit_iw_crosscheck",
                              {"run": tr["run"], "split": "val", "k": k, "limit": n, "threads": self.threads})
            return r

        job.fn = fn
        return job


# --------------------------------------------------------------------------- selection
def top_two(entries: dict[str, list[dict[str, Any]]]) -> list[tuple[str, Selection]]:
    """The two best candidates by mean validation NLL, each through ``select_on_validation`` (which
    refuses any non-validation figure and issues the ticket a test-split job needs): with the
    reference set to the best remaining candidate, the rule "cheapest candidate reaching the
    reference" picks the best one (ties: the cheaper)."""
    remaining, out = dict(entries), []
    while remaining and len(out) < 2:
        best = max(remaining, key=lambda n: Stat.of(e["neg_nll"] for e in remaining[n]).mean)
        sel = select_on_validation(remaining, remaining[best], quality="neg_nll", cost="train_s")
        out.append((sel.chosen, sel))
        del remaining[sel.chosen]
    return out


# --------------------------------------------------------------------------- rendering
def full_epoch_s(train: dict[str, Any]) -> list[float]:
    """Training-loop seconds of a run's full epochs after the first (epoch 1 = warm-up): the last
    epoch is dropped when the budget cut it short (pythae's ``stopped_by_budget``; vaekit's last
    metrics row has ``budget_cut_after_steps`` - read from the run for records made before the
    train job recorded ``last_epoch_cut``)."""
    f = train["figures"]
    cut = f.get("stopped_by_budget", f.get("last_epoch_cut"))
    rows = Path(f["run"], "metrics.jsonl") if f.get("run") else None
    if cut is None and rows is not None and rows.exists():  # a fresh clone has no runs: cut stays unknown
        cut = "budget_cut_after_steps" in rows.read_text().strip().splitlines()[-1]
    seconds = f["epoch_s"][:-1] if cut or cut is None else f["epoch_s"]  # unknown: assume cut (budget runs)
    return seconds[1:]


def run_speed(trains: list[dict[str, Any]]) -> Stat:
    """s/epoch of each run (the median of its full epochs 2+), one value per run."""
    return Stat.of(statistics.median(e) for t in trains if (e := full_epoch_s(t)))


def offset_goal(a: Stat, b: Stat, nats: float) -> str:
    """Goal 'a's NLL at least ``nats`` lower than b's', judged by the claim rule against b - nats."""
    line = Stat.of(v - nats for v in b.values)
    if not distinguishable(a, line):
        return "at the line (not distinguishable)"
    return "MET" if a.mean < line.mean else "MISSED"


def status_text(plan: Plan, jobs: dict[str, list[Job]], cmd: str) -> str:
    done = {name: [j for j in js if plan.h.store.get(plan.h.key(j))] for name, js in jobs.items()}
    missing = {name: [j for j in js if not plan.h.store.get(plan.h.key(j))] for name, js in jobs.items()}
    n_missing = sum(len(v) for v in missing.values())
    later = "" if any(name.startswith("final") for name in jobs) else \
        "; the final 3-seed runs and the test split come after the screening"
    lines = [f"**Not generated yet: the full run is not complete** ({n_missing} of "
             f"{sum(len(v) for v in jobs.values())} jobs below still missing in "
             f"`{os.path.relpath(plan.h.store.path, ROOT)}`{later}). No figure here is a result. "
             f"Command (on an idle machine; it resumes): `{cmd}`.", "",
             "What it measures: every vaekit recipe of the variant zoo and pythae 0.1.2's VAE, IWAE, VAMP, BetaVAE, "
             "BetaTCVAE, FactorVAE, VAE_IAF and VAE_LinNF (each with vaekit's net and with pythae's defaults) get the "
             "same wall-clock training budget on dynamically binarised Fashion-MNIST; the IW-k NLL of the "
             "best-on-validation weights is measured on the same binarised images for both libraries (`vaekit "
             "evaluate`; for pythae a Burda et al. 2015 estimator in `bench/worker.py`, checked against `vaekit "
             "evaluate`); the two best of each library on validation get 3 seeds and the test split once; the headline "
             "goal is vaekit's best ≥ 5 nats better than pythae's best, and each matching pair's s/epoch ≥ 1.2× pythae's "
             "(bench/bench_likelihood.py, docstring).", ""]
    rows = []
    for name, js in jobs.items():
        rows.append([name, f"{len(done[name])} / {len(js)}", ", ".join(j.label for j in missing[name]) or "—"])
    lines.append(md_table(["stage", "finished", "missing"], rows))
    lines += ["", f"Settings: {plan.budget:g} s of training per run on {plan.threads} threads, IW-k with k = {plan.k}, "
              f"validation NLL on the first {plan.val_limit or 'all'} validation images, test NLL on "
              f"{plan.test_limit or 'all'} test images; 3 seeds for the best two of each library. Expected duration of the "
              f"whole at the defaults: about 4 h on 2 idle cores (an estimate, not measured: 27 screening runs of 300 s "
              f"plus start-up and vaekit's report, 8 more final runs, IW-1000 scoring of 27 × 2,000 validation and "
              f"12 × 10,000 test images), then about 1 h for the speed stage (8 pairs × 2 sides × 3 runs of "
              f"{plan.speed_budget:g} s plus start-up).", "", CONTEXT]
    return "\n".join(lines)


def render(plan: Plan, cands: list[Candidate], screen_train: dict, screen_val: dict, finals: dict, final_train: dict,
           final_test: dict, crosscheck: dict | None, cmd: str, seeds: int,
           speed: dict[str, tuple[list[dict], list[dict]]]) -> str:
    h = plan.h
    out: list[str] = []
    n_val = plan.val_limit or "all"
    out.append(f"Screening (1 seed, validation split, IW-{plan.k} NLL in nats on the first {n_val} validation images; "
               f"{plan.budget:g} s of training each):\n")
    rows, failures = [], []

    def val_nll(c: Candidate) -> float:
        r = screen_val.get(c.label)
        return math.inf if r is None or failed(r) else r["figures"]["nll"]

    for c in sorted(cands, key=val_nll):
        t, v = screen_train[c.label]["figures"], (screen_val.get(c.label) or {"figures": {}})["figures"]
        if "failed" in t or "failed" in v:
            failures.append(f"`{c.label}` ({'training' if 'failed' in t else 'scoring'}): "
                            + (t.get("failed") or v.get("failed")).splitlines()[-1][:300])
            rows.append([c.side, f"`{c.name}`", "**failed** (below)", t.get("n_epochs", "–"), "–", "–", ""])
            continue
        spe = Stat.of(full_epoch_s(screen_train[c.label]))
        chosen = "**chosen**" if c.label in finals else ""
        flag = " †" if v.get("planar_noninvertible_layers") else ""
        flag += " ‡" if t.get("diverged") else ""
        rows.append([c.side, f"`{c.name}`{flag}", f"{v['nll']:.2f}", t["n_epochs"],
                     fmt_num(spe.mean, 2) if spe.n else "–", f"{t['train_s']:.0f}", chosen])
    out.append(md_table(["library", "candidate", "val NLL", "epochs in budget", "s/epoch (full epochs 2+)",
                         "training s", "top two"], rows))
    diverged = {lab: r["figures"]["diverged"] for lab, r in screen_train.items() if r["figures"].get("diverged")}
    if diverged:
        out.append("\n‡ pythae stopped these runs with a NaN loss (pythae then returns no model); the benchmark scores "
                   "the best-on-validation model before the NaN: " +
                   "; ".join(f"`{lab}`: {why}" for lab, why in diverged.items()) + ".")
    if failures:
        out.append("\nFailed runs (recorded as such; `--retry-failed` runs them again): " + "; ".join(failures) + ".")
    flagged = {lab: r["figures"]["planar_noninvertible_layers"] for lab, r in screen_val.items()
               if r["figures"].get("planar_noninvertible_layers")}
    flagged.update({f"{lab} seed {r['seed']} (test)": r["figures"]["planar_noninvertible_layers"]
                    for lab, rs in final_test.items() for r in rs if r["figures"].get("planar_noninvertible_layers")})
    if flagged:
        out.append("\n† pythae's planar flows do not enforce Rezende & Mohamed's invertibility condition w·u ≥ −1 "
                   "(their appendix A); in these models some layers violate it (" +
                   ", ".join(f"`{lab}`: {n} of its layers" for lab, n in flagged.items()) +
                   "), so log q0(z0) − log|det J| is not the density of their posterior and their NLL figure is not a "
                   "valid IW estimate (reported, not trusted, and not eligible for the selection).")
    out.append("")
    # finals
    out.append(f"Final (the two best of each library on validation, {seeds} seed(s) each, test split once, IW-{plan.k} "
               f"NLL on {plan.test_limit or 'all'} test images, nats; bits/dim = NLL / (784 ln 2)):\n")
    rows, best = [], {}
    for label in finals:
        ok = [r for r in final_test[label] if not failed(r)]
        lost = len(final_train[label]) - len(ok)
        if not ok:
            rows.append([label.split(":", 1)[0], f"`{label.split(':', 1)[1]}`", "every seed failed", "–", "–", "–"])
            continue
        st = Stat.of(r["figures"]["nll"] for r in ok)
        side = label.split(":", 1)[0]
        if side not in best or st.mean < best[side][1].mean:
            best[side] = (label, st)
        rows.append([side, f"`{label.split(':', 1)[1]}`" + (f" ({lost} seed(s) failed)" if lost else ""), st.fmt(2),
                     fmt_num(st.mean / (784 * math.log(2)), 4), ", ".join(f"{r['figures']['nll']:.2f}" for r in ok),
                     ", ".join(str(t["figures"].get("n_epochs", "failed")) for t in final_train[label])])
    out.append(md_table(["library", "candidate", "test NLL mean ± sd", "bits/dim", "per seed", "epochs per seed"], rows))
    out.append("")
    if "vaekit" in best and "pythae" in best:
        (la, a), (lb, b) = best["vaekit"], best["pythae"]
        out.append(f"Best of each: vaekit `{la.split(':', 1)[1]}` {a.fmt(2)} vs pythae `{lb.split(':', 1)[1]}` "
                   f"{b.fmt(2)}: vaekit − pythae = {a.mean - b.mean:+.2f} nats; claim: "
                   f"**{claim(a, b, higher_is_better=False)}**. **Goal (vaekit's best ≥ 5 nats better than pythae's "
                   f"best, mean over seeds): {offset_goal(a, b, 5.0)}.**\n")
    else:
        out.append("Headline goal not judged: only one library has a final candidate (the other did not run - "
                   "--no-pythae or no pythae venv - or all its runs failed or were ineligible).\n")
    # speed pairs: the speed stage's runs (both sides interleaved, one machine, the same budget)
    rows = []
    for pair, (runs_a, runs_b) in speed.items():
        a, b = run_speed([t for t in runs_a if not failed(t)]), run_speed([t for t in runs_b if not failed(t)])
        if not (a.n and b.n):
            rows.append([pair, "–", "–", "–", "a side failed every run", "–"])
            continue
        ra, rb = Stat.of(1 / v for v in a.values), Stat.of(1 / v for v in b.values)  # epochs per second
        rows.append([pair, a.fmt(3), b.fmt(3), f"{b.mean / a.mean:.2f}×", claim(ra, rb, better="faster"),
                     goal(ra, rb, 1.2)])
    n_runs = max((len(v[0]) for v in speed.values()), default=0)
    out.append(f"Training speed of each matching pair (vaekit recipe and pythae model with the same net, batch size "
               f"and learning rate; the speed stage: {n_runs} run(s) per side of {plan.speed_budget:g} s of training "
               f"each, the two sides interleaved; per run the median s/epoch of its full epochs after the first, then "
               f"mean ± sd over the runs; pythae / vaekit > 1 means vaekit is faster):\n")
    out.append(md_table(["pair", "vaekit s/epoch", "pythae s/epoch", "pythae / vaekit", "claim",
                         "goal ≥ 1.2× pythae"], rows) if rows else "(no matching pair ran)")
    out.append("")
    if crosscheck:
        f = crosscheck["figures"]
        out.append(f"Estimator check: on a vaekit `vae` run, `worker.iw_nll` (the pythae side's estimator) gives "
                   f"{f['iw_nll_bench']:.2f} and `vaekit evaluate` {f['vaekit_evaluate_nll']:.2f} nats (k = {f['k']}, "
                   f"{f['n']} validation images, independent draws; difference {f['diff']:+.2f}).\n")
    recs = [r for d in (screen_train, screen_val) for r in d.values()] + \
        [r for d in (final_train, final_test) for rs in d.values() for r in rs] + \
        [r for sides in speed.values() for rs in sides for r in rs]
    m = h.machine
    out.append(
        f"Setting: {DATASET} ({'first ' + str(plan.limit) + ' training images, ' if plan.limit else ''}vaekit's "
        f"splits: 54,000 train / 6,000 validation / 10,000 test), training images dynamically binarised (a fresh seeded "
        f"Bernoulli draw per epoch on both sides), validation and test images in vaekit's one fixed binarisation (the "
        f"same images for both libraries). Each run: {plan.budget:g} s of training (vaekit `train.time_budget`, which cuts the epoch in "
        f"progress at the step past the budget and validates it; pythae a callback raising at that step, keeping its "
        f"best of the finished epochs), the "
        f"best-on-validation weights scored, {plan.threads} thread(s). vaekit recipes as committed (their cosine schedules "
        f"span `train.epochs`, so under a budget they stop mid-schedule); pythae \"same\": vaekit's MLP, latent size, "
        f"batch size, learning rate and the recipe's β/γ/k/components/flows in pythae's names, constant learning rate "
        f"(pythae's FactorVAE keeps its default 256-unit discriminator, IAF its MADE without context h); pythae "
        f"\"default\": its default MLP (784-512 → 10 → 512-784), model and trainer defaults (Adam 1e-4, batch 64), "
        f"only `reconstruction_loss=\"bce\"` set. NLL estimators: `vaekit evaluate` (vaekit) and `bench/worker.py` "
        f"`iw_nll` (pythae; Burda et al. 2015 with normalised densities, flows' log-dets checked against autograd "
        f"Jacobians, VampPrior from the model's pseudo-inputs). vaekit's `train` also writes its report (a k = 100 test "
        f"NLL the benchmark never reads; --quick calls `vaekit.train(report=False)` instead). Machine: {m['cpu_model']}, {m['cores']} cores, torch "
        f"{', '.join(f'{s} {v}' for s, v in m['torch'].items())}; {load_note(recs)}. Command: `{cmd}` "
        f"({time.strftime('%Y-%m-%d')}, results in `{os.path.relpath(h.store.path, ROOT)}`).")
    out.append("")
    out.append(CONTEXT)
    return "\n".join(out)


def write_section(docs: Path, text: str) -> None:
    """Replace only this benchmark's section (write, then rename); a new docs/variants.md gets the
    page's other headings, a --quick or --docs file of its own just this section."""
    new_doc = "# likelihood per CPU-minute\n"
    if docs.resolve() == DOCS.resolve():
        new_doc = ("# Variants: benchmarks\n\nTables written by the `bench/` scripts of issue 9; each section is "
                   "regenerated by the command it names.\n\n## Disentanglement on `shapes`\n\n"
                   "<!-- bench:disentanglement -->\n*Not generated yet: `python3 bench/bench_disentanglement.py`.*\n"
                   "<!-- /bench:disentanglement -->\n")
    put_section(docs, SECTION, text, new_doc=new_doc, heading="## Likelihood per CPU-minute")


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="toy sizes; writes bench/results/quick-likelihood.md only")
    ap.add_argument("--status", action="store_true", help="run nothing; write which runs are still missing (when none "
                    "is: the table, from the results file)")
    ap.add_argument("--budget", type=float, default=None, help="training seconds per run (default 300; quick 5)")
    ap.add_argument("--k", type=int, default=None, help="importance samples (default 1000; quick 10)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds for the final runs (default 3; quick 1)")
    ap.add_argument("--val-limit", type=int, default=None,
                    help="validation images scored in screening (default 2000 of 6000; quick 50)")
    ap.add_argument("--test-limit", type=int, default=None, help="test images scored (default all 10000; quick 50)")
    ap.add_argument("--speed-budget", type=float, default=None,
                    help="training seconds of each run of the speed stage (default 60; quick: --budget)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="+", default=None, help="candidates to run (e.g. vaekit:vae pythae:VAE/same)")
    ap.add_argument("--no-pythae", action="store_true", help="vaekit side only")
    ap.add_argument("--retry-failed", action="store_true", help="run again the runs recorded as failed")
    ap.add_argument("--pythae-python", default=None, help="default: $PYTHAE_PYTHON, bench/.pythae-venv")
    ap.add_argument("--results", default=None, help="results JSONL (default bench/results/likelihood.jsonl)")
    ap.add_argument("--docs", default=None, help="where the table goes (default docs/variants.md; quick: "
                    "bench/results/quick-likelihood.md)")
    args = ap.parse_args(argv)
    q = args.quick
    budget = args.budget or (5.0 if q else 300.0)
    k = args.k or (10 if q else 1000)
    seeds = args.seeds or (1 if q else 3)
    val_limit = args.val_limit or (50 if q else 2000)
    test_limit = args.test_limit or (50 if q else None)
    if min(budget, k, seeds, val_limit, test_limit or 1, args.threads, args.speed_budget or 1) <= 0:
        raise SystemExit("bench_likelihood: --budget, --speed-budget, --k, --seeds, --val-limit, --test-limit and "
                         "--threads must be positive")
    if not q and seeds < 3:
        raise SystemExit("bench_likelihood: the protocol needs >= 3 seeds for the final runs (only --quick may use fewer)")
    pythae_py = None if args.no_pythae else (args.pythae_python or default_pythae_python())
    if not args.no_pythae and not pythae_py:
        raise SystemExit("bench_likelihood: no pythae venv found (run bench/setup_pythae.sh, set $PYTHAE_PYTHON, "
                         "or pass --no-pythae for the vaekit side only)")
    results = Path(args.results) if args.results else BENCH / "results" / ("quick-likelihood.jsonl" if q else "likelihood.jsonl")
    docs = Path(args.docs) if args.docs else (BENCH / "results" / "quick-likelihood.md" if q else DOCS)
    pythons = {"vaekit": sys.executable, **({"pythae": pythae_py} if pythae_py else {})}
    h = Harness(results, threads=args.threads, pythons=pythons, quick=q)
    if args.retry_failed:  # forget the failure records (they stay in the file; the new record wins)
        for key in [k for k, r in h.store.by_key.items() if r["bench"].startswith("likelihood") and failed(r)]:
            del h.store.by_key[key]
    plan = Plan(h, budget, k, val_limit, test_limit, 512 if q else None, args.threads, pythae_py,
                args.speed_budget or (budget if q else 60.0))
    cands = candidates(q, args.only, pythae_py is not None)
    cmd = "python3 bench/bench_likelihood.py" + (" --quick" if q else "") + (" --no-pythae" if args.no_pythae else "")
    if args.budget:
        cmd += f" --budget {budget:g}"

    trains = {c.label: plan.train_job(c, 0) for c in cands}
    vals = {c.label: plan.score_job(c, trains[c.label], "val") for c in cands}
    def get(job: Job, need_artifacts: bool = False) -> dict[str, Any] | None:
        """The job's record: run when missing, except under --status, which runs nothing (and does
        not need the runs' files, which a fresh clone lacks)."""
        return h.store.get(h.key(job)) if args.status else h.run(job, need_artifacts=need_artifacts)

    def status_only(stages: dict[str, list[Job]]) -> bool:
        """Write what is missing of ``stages`` (the docs never show a partial table as complete);
        True when --status must stop here (something is missing). A complete run under --status
        goes on to render its table from the results file, running nothing."""
        if not q:
            write_section(docs, status_text(plan, stages, cmd))
            log(f"wrote the status of {sum(len(v) for v in stages.values())} jobs to {docs}")
        return args.status and any(h.store.get(h.key(j)) is None for js in stages.values() for j in js)

    if status_only({"screening: training": list(trains.values()), "screening: validation NLL": list(vals.values())}):
        return 0

    # 1. screening: interleaved A B, B A ... across the libraries
    by_side = [[c for c in cands if c.side == s] for s in ("vaekit", "pythae")]
    rounds = [[c for c in pair if c is not None] for pair in itertools.zip_longest(*by_side)]
    for c in interleave(rounds):
        get(trains[c.label], need_artifacts=True)
    screen_train = {c.label: h.store.get(h.key(trains[c.label])) for c in cands}
    screen_val = {c.label: get(vals[c.label]) for c in interleave(rounds) if not failed(screen_train[c.label])}
    crosscheck = None
    if "vaekit:vae" in screen_val:
        crosscheck = get(plan.crosscheck_job(trains["vaekit:vae"]))

    # 2. selection on validation only, per library
    finals: dict[str, Selection] = {}
    for side in ("vaekit", "pythae"):
        # Failed runs, and figures that are not valid IW estimates (a non-invertible planar flow, see
        # render), are not eligible.
        entries = {lab: [dict(r["figures"])] for lab, r in screen_val.items()
                   if lab.startswith(side + ":") and not failed(r) and not r["figures"].get("planar_noninvertible_layers")}
        if entries:
            finals.update(dict(top_two(entries)))
    by_label = {c.label: c for c in cands}

    # 3. final: seeds 0..n-1 (seed 0 is the screening run), the test split once each
    chosen = {s: [lab for lab in finals if lab.startswith(s + ":")] for s in ("vaekit", "pythae")}
    rounds = [[lab for lab in pair if lab is not None] for pair in itertools.zip_longest(*chosen.values())]
    final_jobs = {lab: [plan.train_job(by_label[lab], s) for s in range(seeds)] for lab in finals}
    test_jobs = {lab: [plan.score_job(by_label[lab], j, "test", finals[lab]) for j in js] for lab, js in final_jobs.items()}
    if status_only({  # the selection is made: what is still missing of the final stage
            "final: training (chosen on validation: " + ", ".join(finals) + ")": [j for js in final_jobs.values() for j in js],
            "final: test NLL": [j for js in test_jobs.values() for j in js]}):
        return 0
    for s in range(seeds):
        for lab in interleave(rounds):
            get(final_jobs[lab][s], need_artifacts=True)
    final_train = {lab: [h.store.get(h.key(j)) for j in js] for lab, js in final_jobs.items()}
    final_test = {lab: [get(j) for j, t in zip(js, final_train[lab]) if not failed(t)] for lab, js in test_jobs.items()}
    require_seeds({lab: len(v) for lab, v in final_jobs.items()}, q, "likelihood (test)")

    # 4. speed: each matching pair (vaekit recipe, pythae model with the same net) trained `seeds` times
    # per side for the speed budget, interleaved (A B, B A, ...) so slow spells of the machine hit both
    pairs = {f"`{rec}` ↔ `{model}`": (by_label[f"vaekit:{rec}"], by_label[f"pythae:{model}/same"])
             for model, rec in PAIRS.items() if f"vaekit:{rec}" in by_label and f"pythae:{model}/same" in by_label}
    speed_jobs = {pair: ([plan.train_job(a, s, speed=True) for s in range(seeds)],
                         [plan.train_job(b, s, speed=True) for s in range(seeds)]) for pair, (a, b) in pairs.items()}
    if status_only({"speed: matching pairs": [j for js in speed_jobs.values() for side in js for j in side]}):
        return 0
    rounds = [[js[0][s], js[1][s]] for s in range(seeds) for js in speed_jobs.values()]
    for job in interleave(rounds):
        get(job)
    speed = {pair: ([h.store.get(h.key(j)) for j in js[0]], [h.store.get(h.key(j)) for j in js[1]])
             for pair, js in speed_jobs.items()}

    text = render(plan, cands, screen_train, screen_val, finals, final_train, final_test, crosscheck, cmd, seeds, speed)
    if q:
        text += "\n\n*--quick: toy sizes (512 training images, a few seconds of training, k and image counts tiny): " \
                "these numbers say nothing about the libraries.*"
    write_section(docs, text)
    log(f"wrote {docs}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
