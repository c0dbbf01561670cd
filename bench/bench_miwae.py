#!/usr/bin/env python3
"""MIWAE benchmark (issue 11, part 1): imputing a table whose *training data* has missing cells.

Data: scikit-learn's breast-cancer table (569 rows x 30 numeric columns), each column z-scored
with its mean and sd over the complete table (RMSE is in these standardised units). Per seed s and
rate p, every cell is hidden completely at random (MCAR) with probability p (a row left with no
cell gets one back); the hidden cells are split at random, half *validation cells* (used only to
choose each side's setting) and half *test cells* (scored once, with the chosen setting). This is
MIWAE's setting (Mattei & Frellsen 2019, sec. 5): the incomplete table is all the data there is;
every side fits on it and fills its own holes (transductive).

Sides (each (side, rate, seed) fit is one fresh process through bench/harness.py):

* ``miwae``: ``vaekit.train("miwae", data="csv:holes.csv", seed=s)`` (recipe defaults: MLP
  128-128-128 tanh, 10-d latent, K = 20, data.missing = mask, 300 epochs with early stopping
  on vaekit's own validation rows), then ``impute_table`` with each candidate method:
  ``importance`` (1000 draws), ``pseudo-gibbs`` or ``metropolis-within-gibbs`` (8 chains).
* ``vaekit-complete``: the complete-data path that existed before: the holes mean-filled, the
  default recipe ``vae`` trained on that table, then ``impute_table`` on the holes with the same
  candidate methods.
* ``mean``: the observed column mean.
* ``knn``: scikit-learn ``KNNImputer``, k in {3, 5, 10, 20}.
* ``iterative``: scikit-learn ``IterativeImputer`` (BayesianRidge), ``max_iter`` 10 with all
  features or with ``n_nearest_features=10``.

One setting per (side, rate) is chosen on the validation cells over all seeds
(``select_on_validation``: the best mean), then each seed's test cells are scored once with it.
Figures: mean ± sd over seeds; claims by the harness's rule (difference of means > sd_a + sd_b).

    python3 bench/bench_miwae.py            # 3 seeds -> docs/tasks.md block "miwae"
    python3 bench/bench_miwae.py --quick    # 1 seed, p = 0.5, 3 epochs: seconds; never writes docs/tasks.md

The script is also its own worker: ``bench_miwae.py TASK '{json}'`` (started only by the harness).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (BENCH, Harness, Job, Stat, claim, load_note, log, md_table, require_seeds,  # noqa: E402
                     select_on_validation)

DOCS = BENCH.parent / "docs" / "tasks.md"
SCRIPT = Path(__file__).resolve()
RATES = (0.2, 0.5)
SIDES = ("miwae", "vaekit-complete", "mean", "knn", "iterative")
NAMES = {"miwae": "vaekit MIWAE (trained on the incomplete table)",
         "vaekit-complete": "vaekit `vae` on the mean-filled table + `impute`",
         "mean": "mean fill", "knn": "KNNImputer", "iterative": "IterativeImputer"}
VAE_METHODS = ("importance", "pseudo-gibbs", "metropolis-within-gibbs")
CANDIDATES = {"miwae": VAE_METHODS, "vaekit-complete": VAE_METHODS, "mean": ("mean",),
              "knn": ("k3", "k5", "k10", "k20"), "iterative": ("all-features", "nearest-10")}
QUICK_CANDIDATES = {**CANDIDATES, "knn": ("k5",), "iterative": ("all-features",)}


# ----------------------------------------------------------------------------- data
def make_data(folder: Path, rate: float, seed: int) -> Path:
    """Write holes.csv (hidden cells empty), mean.csv (hidden cells mean-filled) and truth.npz
    (the standardised table, hidden / val / test cell masks) into ``folder``; returns it."""
    from sklearn.datasets import load_breast_cancer

    if (folder / "truth.npz").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    b = load_breast_cancer()
    raw = np.asarray(b.data, dtype=np.float64)
    x = (raw - raw.mean(0)) / raw.std(0)  # (569, 30) z-scores
    rng = np.random.default_rng([seed, round(rate * 1000)])
    hidden = rng.random(x.shape) < rate
    for i in np.flatnonzero(hidden.all(1)):  # keep one observed cell per row
        hidden[i, rng.integers(x.shape[1])] = False
    val = hidden & (rng.random(x.shape) < 0.5)
    test = hidden & ~val
    header = [str(n) for n in b.feature_names]
    mean = np.nanmean(np.where(hidden, np.nan, x), 0)
    for name, fill in (("holes.csv", None), ("mean.csv", mean)):
        with open(folder / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for i in range(len(x)):
                w.writerow([("" if fill is None else repr(float(fill[j]))) if hidden[i, j] else repr(float(x[i, j]))
                            for j in range(x.shape[1])])
    np.savez(folder / "truth.npz", x=x, hidden=hidden, val=val, test=test, header=np.asarray(header))
    return folder


def rmse(filled: np.ndarray, truth: np.ndarray, cells: np.ndarray) -> float:
    return float(np.sqrt(np.mean((filled[cells] - truth[cells]) ** 2)))


# ----------------------------------------------------------------------------- worker tasks (fresh processes)
def task_sklearn(a: dict[str, Any]) -> dict[str, Any]:
    """Fit every candidate of a scikit-learn side on the incomplete table; save the filled tables."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    t = np.load(Path(a["data"]) / "truth.npz")
    holes = np.where(t["hidden"], np.nan, t["x"])
    out: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for cand in a["candidates"]:
        t0 = time.perf_counter()
        if a["side"] == "mean":
            imp = SimpleImputer(strategy="mean")
        elif a["side"] == "knn":
            imp = KNNImputer(n_neighbors=int(cand[1:]))
        else:
            imp = IterativeImputer(max_iter=10, random_state=a["seed"],
                                   n_nearest_features=10 if cand == "nearest-10" else None)
        out[cand] = imp.fit_transform(holes)
        seconds[cand] = time.perf_counter() - t0
    np.savez(a["out"], **out)
    return {"seconds": seconds}


def task_vaekit(a: dict[str, Any]) -> dict[str, Any]:
    """Train a vaekit run on the side's CSV, then fill holes.csv with every candidate method."""
    import torch

    import vaekit
    from vaekit.tasks.impute import impute_table, read_table_with_missing

    torch.set_num_threads(a["threads"])
    data = Path(a["data"])
    csv_name = "holes.csv" if a["side"] == "miwae" else "mean.csv"
    recipe = "miwae" if a["side"] == "miwae" else "vae"
    t0 = time.perf_counter()
    run_dir = vaekit.train(recipe, data=f"csv:{data / csv_name}", seed=a["seed"], out=a["run"], echo=None,
                           progress=False, report=False, overrides=a["overrides"])
    train_s = time.perf_counter() - t0
    run = vaekit.load(run_dir)
    metrics = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line]
    table = read_table_with_missing(data / "holes.csv")
    t = np.load(data / "truth.npz")
    out, seconds, stats = {}, {}, {}
    for method in a["candidates"]:
        n = a["importance_n"] if method == "importance" else a["chains"]
        t1 = time.perf_counter()
        result = impute_table(run, table, method=method, n=n, steps=a["steps"] if method != "importance" else None,
                              seed=a["seed"])
        seconds[method] = time.perf_counter() - t1
        stats[method] = {k: v for k, v in result.stats.items() if isinstance(v, (int, float, str))}
        out[method] = np.stack([np.asarray(result.table.column(str(name)), dtype=np.float64) for name in t["header"]], 1)
    np.savez(a["out"], **out)
    return {"train_s": train_s, "epochs": len(metrics), "seconds": seconds, "stats": stats}


def task_score(a: dict[str, Any]) -> dict[str, Any]:
    """RMSE of each named candidate on the validation or test cells."""
    t = np.load(Path(a["data"]) / "truth.npz")
    filled = np.load(a["filled"])
    cells = t[a["split"]]
    return {"split": a["split"], "cells": int(cells.sum()),
            "rmse": {c: rmse(filled[c], t["x"], cells) for c in a["candidates"]}}


TASKS = {"sklearn": task_sklearn, "vaekit": task_vaekit, "score": task_score}


# ----------------------------------------------------------------------------- jobs
class Plan:
    """Settings of one invocation (full or --quick)."""

    def __init__(self, args: argparse.Namespace):
        self.quick = args.quick
        self.seeds = list(range(args.seeds or (1 if args.quick else 3)))
        self.rates = tuple(args.rates or ((0.5,) if args.quick else RATES))
        self.threads = args.threads
        self.candidates = QUICK_CANDIDATES if args.quick else CANDIDATES
        self.overrides = ["train.epochs=3"] if args.quick else []
        self.importance_n, self.chains, self.steps = (100, 2, 5) if args.quick else (1000, 8, None)


def fit_job(h: Harness, plan: Plan, side: str, rate: float, seed: int) -> Job:
    settings = {"side": side, "rate": rate, "candidates": list(plan.candidates[side]), "overrides": plan.overrides,
                "importance_n": plan.importance_n, "chains": plan.chains, "steps": plan.steps}
    job = Job("miwae-fit", side, seed, settings, purpose="train", fn=lambda ctx: {}, label=f"p={rate}")
    folder = h.artifact_dir(job)
    data = h.work / "miwae" / f"data-p{rate}-s{seed}"
    job.artifacts = [str(folder / "filled.npz")]

    def fn(ctx) -> dict[str, Any]:
        make_data(data, rate, seed)
        folder.mkdir(parents=True, exist_ok=True)
        args = {"side": side, "data": str(data), "out": str(folder / "filled.npz"), "seed": seed,
                "candidates": settings["candidates"]}
        if side in ("miwae", "vaekit-complete"):
            import shutil

            shutil.rmtree(folder / "run", ignore_errors=True)
            args.update(run=str(folder / "run"), threads=h.threads, overrides=plan.overrides,
                        importance_n=plan.importance_n, chains=plan.chains, steps=plan.steps)
            result, _ = ctx.worker(sys.executable, "vaekit", args, script=SCRIPT)
        else:
            result, _ = ctx.worker(sys.executable, "sklearn", args, script=SCRIPT)
        return {**result, "data": str(data), "filled": str(folder / "filled.npz")}

    job.fn = fn
    return job


def score_job(h: Harness, fit: Job, split: str, candidates: list[str], selection=None) -> Job:
    settings = {"fit": h.key(fit), "split": split, "candidates": candidates}
    job = Job("miwae-score", fit.side, fit.seed, settings, split=split, purpose="quality", selection=selection,
              fn=lambda ctx: {}, label=f"{split} p={fit.settings['rate']}")

    def fn(ctx) -> dict[str, Any]:
        rec = h.run(fit, need_artifacts=True)
        args = {"data": rec["figures"]["data"], "filled": rec["figures"]["filled"], "split": split,
                "candidates": candidates}
        result, _ = ctx.worker(sys.executable, "score", args, script=SCRIPT)
        return result

    job.fn = fn
    return job


# ----------------------------------------------------------------------------- the table
def render(h: Harness, plan: Plan, test: dict, chosen: dict, val_stats: dict, fits: dict, cmd: str) -> str:
    stats = {(side, r): Stat.of(e["figures"]["rmse"][chosen[(side, r)]] for e in test[(side, r)])
             for side in SIDES for r in plan.rates}
    cols = [f"MCAR {round(r * 100)}%" for r in plan.rates]
    rows = [[NAMES[s], *[stats[(s, r)].fmt(3) for r in plan.rates]] for s in SIDES]
    fit_recs = [h.store.get(h.key(job)) for job in fits.values()]
    text = (f"Command: `{cmd}` ({len(plan.seeds)} seed(s); {load_note(fit_recs + [e for v in test.values() for e in v])}; "
            f"{plan.threads} thread(s)).\n\n"
            "**breast-cancer, MCAR cells in the training data too: RMSE over the hidden test cells, standardised "
            "units (lower is better), mean ± sd over seeds**\n\n" + md_table(["side", *cols], rows))
    claims = []
    for r in plan.rates:
        peers = [s for s in SIDES if s != "miwae"]
        best = min(peers, key=lambda s: stats[(s, r)].mean)
        verdict = claim(stats[("miwae", r)], stats[(best, r)], a_name="MIWAE", b_name=NAMES[best],
                        higher_is_better=False)
        vs_complete = claim(stats[("miwae", r)], stats[("vaekit-complete", r)], a_name="MIWAE",
                            b_name="the complete-data path", higher_is_better=False)
        claims.append([f"MCAR {round(r * 100)}%", NAMES[best], verdict, vs_complete])
    text += "\n\n" + md_table(["cells", "best other side", "MIWAE vs it (claim rule)", "MIWAE vs `vae` + impute"], claims)
    picked = "; ".join(f"{s} p={r}: {chosen[(s, r)]}" for s in SIDES for r in plan.rates if len(plan.candidates[s]) > 1)
    val_rows = [[f"{s} / {c}", *[val_stats[(s, r)][c].fmt(3) for r in plan.rates]]
                for s in SIDES for c in plan.candidates[s] if len(plan.candidates[s]) > 1]
    text += (f"\n\nSettings chosen on the validation cells (one per side and rate, over all seeds): {picked}.\n\n"
             "Validation cells (what the selection saw; RMSE):\n\n" + md_table(["side / setting", *cols], val_rows))
    epochs = {s: [h.store.get(h.key(fits[(s, r, seed)]))["figures"] for r in plan.rates for seed in plan.seeds]
              for s in ("miwae", "vaekit-complete")}
    text += "\n\n" + "; ".join(
        f"{s} training: {Stat.of(f['train_s'] for f in figs).fmt(1)} s, "
        f"{Stat.of(f['epochs'] for f in figs).fmt(0)} epochs run (of 300, early stopping)" for s, figs in epochs.items()) + "."
    ess = [f["stats"]["importance"]["ess"] for f in epochs["miwae"] if "importance" in f["stats"]]
    if ess:
        text += f" MIWAE importance imputation: mean effective sample size {Stat.of(ess).fmt(1)} of {plan.importance_n} draws."
    if plan.quick:
        text += "\n\n*--quick: toy sizes; these numbers say nothing about imputation quality.*"
    return text


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] in TASKS:  # a worker process
        result = TASKS[sys.argv[1]](json.loads(sys.argv[2]))
        print("RESULT " + json.dumps(result, default=float), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 seed, p = 0.5, 3 epochs; never writes docs/tasks.md")
    ap.add_argument("--seeds", type=int, default=None, help="seeds (default 3; quick 1)")
    ap.add_argument("--rates", type=float, nargs="+", default=None, help="MCAR rates (default 0.2 0.5; quick 0.5)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the vaekit processes (default 1)")
    ap.add_argument("--results", type=Path, default=None, help="results JSONL (default bench/results/tasks/miwae.jsonl)")
    ap.add_argument("--docs", type=Path, default=None, help="markdown file to write the section into")
    args = ap.parse_args(argv)
    plan = Plan(args)
    results = args.results or BENCH / "results" / "tasks" / ("quick-miwae.jsonl" if args.quick else "miwae.jsonl")
    docs = args.docs or (BENCH / "results" / "tasks" / "quick-miwae.md" if args.quick else DOCS)
    results.parent.mkdir(parents=True, exist_ok=True)
    h = Harness(results, threads=args.threads, pythons={"vaekit": sys.executable}, quick=args.quick)

    fits = {(s, r, seed): fit_job(h, plan, s, r, seed) for s in SIDES for r in plan.rates for seed in plan.seeds}
    for seed in plan.seeds:  # interleaved: every side's seed before the next seed
        for r in plan.rates:
            for s in SIDES:
                h.run(fits[(s, r, seed)], need_artifacts=True)
    val = {(s, r): [h.run(score_job(h, fits[(s, r, seed)], "val", list(plan.candidates[s]))) for seed in plan.seeds]
           for s in SIDES for r in plan.rates}
    require_seeds({f"{s} p={r}": len(v) for (s, r), v in val.items()}, h.quick, "miwae (validation)")
    chosen, selections, val_stats = {}, {}, {}
    for (s, r), entries in val.items():
        per = {c: [{"split": "val", "quality": -e["figures"]["rmse"][c], "cost_s": 0.0} for e in entries]
               for c in plan.candidates[s]}
        val_stats[(s, r)] = {c: Stat.of(-v["quality"] for v in per[c]) for c in per}
        best = min(per, key=lambda c: val_stats[(s, r)][c].mean)
        selections[(s, r)] = select_on_validation(per, per[best], quality="quality", cost="cost_s")
        chosen[(s, r)] = selections[(s, r)].chosen
    test = {(s, r): [h.run(score_job(h, fits[(s, r, seed)], "test", [chosen[(s, r)]], selections[(s, r)]))
                     for seed in plan.seeds] for s in SIDES for r in plan.rates}
    require_seeds({f"{s} p={r}": len(v) for (s, r), v in test.items()}, h.quick, "miwae (test)")

    cmd = "python3 bench/bench_miwae.py" + (" --quick" if args.quick else "")
    text = render(h, plan, test, chosen, val_stats, fits, cmd)
    from docs_sections import put_section

    put_section(docs, "miwae", text, new_doc="# quick MIWAE table\n")
    log(f"wrote {docs} ({os.path.relpath(results, BENCH.parent)})")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
