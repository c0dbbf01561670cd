"""The comparative benchmarks (vaekit vs pythae 0.1.2), each built on bench/harness.py.

Each ``bench_*`` function makes its jobs, runs what the results file does not hold yet (both
sides interleaved) and returns its markdown section. vaekit is driven only through its public
paths: the ``vaekit`` CLI (``train``, ``evaluate``, ``--help``) and ``vaekit.train`` /
``vaekit.load`` / ``vaekit.evaluate`` (bench/worker.py).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (Harness, Job, ProtocolError, Stat, claim, distinguishable, fmt_num, goal, interleave, load_note, md_table,
                     records_by_side, require_seeds, select_on_validation)

PARAMS = 1_079_600  # reference model: 784-512-256 -> 2x16, 16-256-512-784
ENC_FWD = 2 * (784 * 512 + 512 * 256 + 256 * 32)
DEC_FWD = 2 * (16 * 256 + 256 * 512 + 512 * 784)


@dataclass
class Config:
    quick: bool
    threads: int
    seeds: int  # quality benchmarks (>= 3 unless quick)
    speed_seeds: int  # speed benchmarks (repeats, each a seed)
    vaekit_python: str
    vaekit_cli: list[str]
    pythae_python: str | None = None  # None: vaekit side only (quick checks without the side venv)
    dataset: str = "fashion-mnist"
    # sizes: full run / --quick
    limit: int | None = None  # training examples (None: all 54,000)
    tp_epochs: int = 3  # throughput: epochs per run, the first is the excluded warm-up
    tp_warmup: int = 1
    pythae_epochs: int = 50  # time to quality: pythae's epochs (the target)
    candidates: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # name: (recipe, epochs)
    score_k: int = 10  # ELBO estimator samples
    score_limit: int | None = None  # examples of val/test scored (None: whole split)
    iwae_ref_epochs: int = 3
    iwae_n: int = 1000
    iwae_k: int = 1000
    sample_n: int = 10000
    help_runs: int = 5

    @classmethod
    def make(cls, *, quick: bool, **kw) -> "Config":
        if quick:
            sizes = dict(limit=512, tp_epochs=2, pythae_epochs=1, score_k=2, score_limit=500, iwae_ref_epochs=1,
                         iwae_n=50, iwae_k=10, sample_n=500, help_runs=1,
                         candidates={"fashion-1ep": ("fashion", 1), "fashion-2ep": ("fashion", 2)})
        else:
            sizes = dict(candidates={"fashion (20 ep)": ("fashion", None), "fashion, 24 ep": ("fashion", 24),
                                     "fashion, 28 ep": ("fashion", 28)})
        sizes.update({k: v for k, v in kw.items() if v is not None})
        return cls(quick=quick, **sizes)

    @property
    def sides(self) -> list[str]:
        return ["vaekit", "pythae"] if self.pythae_python else ["vaekit"]

    def limit_sets(self) -> list[str]:
        return [f"data.limit={self.limit}"] if self.limit else []


def _run_with_roofline(h, jobs, name: str) -> list:
    """Run (or reuse) the jobs, measuring the matmul roofline before and after any new run, so
    roofline percentages quote a reference measured in the same invocation."""
    if h.pending(jobs):
        h.roofline(f"before {name}")
    records = h.run_all(jobs)
    if not h.quick and any(r["invocation"] == h.invocation for r in records):
        h.roofline(f"after {name}")
    return records


def _need_seeds(h: Harness, cfg: Config, records: list[dict[str, Any]], what: str) -> dict[str, list]:
    by = records_by_side(records)
    require_seeds({s: len(by.get(s, [])) for s in cfg.sides}, h.quick, what)
    return by


def _pending_note(cfg: Config) -> str:
    return "" if cfg.pythae_python else "\n\n*pythae side skipped (no pythae interpreter): vaekit side only, no comparison.*"


def _quick_note(h: Harness) -> str:
    return "\n\n*--quick: toy sizes; these numbers say nothing about performance.*" if h.quick else ""


# --------------------------------------------------------------------------- shared set-up jobs
def splits_file(h: Harness, cfg: Config) -> str:
    """The dataset's splits as vaekit makes them, exported once for the pythae side."""
    out = h.work / "data" / f"{cfg.dataset}.npz"
    job = Job("setup", "splits", 0, {"dataset": cfg.dataset}, purpose="setup", artifacts=[str(out)],
              fn=lambda ctx: (out.parent.mkdir(parents=True, exist_ok=True),
                              ctx.worker(cfg.vaekit_python, "export_splits", {"dataset": cfg.dataset, "out": str(out)})[0])[1])
    h.run(job, need_artifacts=True)
    return str(out)


def vaekit_run(h: Harness, cfg: Config, name: str, recipe: str, epochs: int | None, seed: int,
               extra: list[str] | None = None, bench: str = "setup") -> tuple[Job, str]:
    """A vaekit training run through vaekit.train (no report), its run dir kept as an artifact."""
    settings = {"recipe": recipe, "epochs": epochs, "sets": [*cfg.limit_sets(), *(extra or [])], "name": name,
                "threads": cfg.threads}
    job = Job(bench, "vaekit", seed, settings, purpose="train", label=name, fn=lambda ctx: None)
    out = h.artifact_dir(job) / "run"
    job.artifacts = [str(out / "model.safetensors")]

    def fn(ctx):
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        res, p = ctx.worker(cfg.vaekit_python, "vaekit_train",
                            {"recipe": recipe, "epochs": epochs, "seed": seed, "out": str(out),
                             "overrides": [f"train.threads={cfg.threads}", *settings["sets"]]})
        return {"wall_s": p.wall_s, "train_call_s": res["train_call_s"], "epochs": res["epochs"],
                "peak_rss_mb": p.peak_rss_mb, "run": str(out)}

    job.fn = fn
    return job, str(out)


def template_run(h: Harness, cfg: Config) -> str:
    """A tiny reference-mlp run: the vaekit model that pythae weights are loaded into for scoring."""
    job, out = vaekit_run(h, cfg, "template", "reference-mlp", 1, 0, ["data.limit=256"])
    h.run(job, need_artifacts=True)
    return out


def pythae_weights_of(h: Harness, cfg: Config, run: str, run_key: str) -> str:
    job = Job("setup", "pythae-weights", 0, {"run_key": run_key}, purpose="setup", fn=lambda ctx: None)
    out = h.artifact_dir(job) / "pythae.pt"
    job.artifacts = [str(out)]

    def fn(ctx):
        out.parent.mkdir(parents=True, exist_ok=True)
        return ctx.worker(cfg.vaekit_python, "vaekit_export_pythae", {"run": run, "out": str(out)})[0]

    job.fn = fn
    h.run(job, need_artifacts=True)
    return str(out)


# --------------------------------------------------------------------------- 1. training throughput
def bench_throughput(h: Harness, cfg: Config) -> str:
    """Samples/s of the training loop, epochs after the first (warm-up, excluded on both sides)."""
    n_train = cfg.limit or 54000
    splits = splits_file(h, cfg) if cfg.pythae_python else None
    settings = {"recipe": "reference-mlp", "epochs": cfg.tp_epochs, "warmup": cfg.tp_warmup, "limit": cfg.limit,
                "threads": cfg.threads}

    def timed(epochs: list[dict[str, Any]]) -> float:
        kept = epochs[cfg.tp_warmup:]
        if not kept:
            raise ProtocolError("throughput needs at least one epoch after the warm-up")
        return sum(e["samples_per_s"] * e["seconds"] for e in kept) / sum(e["seconds"] for e in kept)

    def vaekit_job(seed: int) -> Job:
        job = Job("throughput", "vaekit", seed, settings, fn=lambda ctx: None)

        def fn(ctx):
            out = h.artifact_dir(job) / "run"
            shutil.rmtree(out, ignore_errors=True)
            if h.quick:  # the function `vaekit train` calls, without its report (~15 s): same samples/s
                res, p = ctx.worker(cfg.vaekit_python, "vaekit_train", {
                    "recipe": "reference-mlp", "epochs": cfg.tp_epochs, "seed": seed, "out": str(out),
                    "overrides": [f"train.threads={cfg.threads}", *cfg.limit_sets()]})
                shutil.rmtree(out.parent, ignore_errors=True)
                return {"samples_per_s": timed(res["epochs"]), "epochs": res["epochs"], "wall_s": p.wall_s,
                        "threads_used": sorted({r.get("threads") for r in res["epochs"]}, key=str), "path": "vaekit.train"}
            cmd = [*cfg.vaekit_cli, "train", "--recipe", "reference-mlp", "--epochs", str(cfg.tp_epochs), "--seed",
                   str(seed), "--out", str(out), "--device", "cpu", "--set", f"train.threads={cfg.threads}"]
            for s in cfg.limit_sets():
                cmd += ["--set", s]
            p = ctx.process(cmd)
            rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines() if ln.strip()]
            shutil.rmtree(out.parent, ignore_errors=True)
            return {"samples_per_s": timed(rows), "epochs": rows, "wall_s": p.wall_s,
                    "threads_used": sorted({r.get("threads") for r in rows}, key=str), "path": "vaekit train"}

        job.fn = fn
        return job

    def pythae_job(seed: int) -> Job:
        def fn(ctx):
            res, p = ctx.worker(cfg.pythae_python, "pythae_train", {"threads": cfg.threads, "epochs": cfg.tp_epochs,
                                                                   "seed": seed, "limit": cfg.limit, "splits": splits})
            return {"samples_per_s": timed(res["epochs"]), "epochs": res["epochs"], "wall_s": p.wall_s,
                    "threads_used": [res["torch_threads"]]}

        return Job("throughput", "pythae", seed, settings, fn=fn)

    rounds = [[vaekit_job(s), *([pythae_job(s)] if cfg.pythae_python else [])] for s in range(cfg.speed_seeds)]
    records = _run_with_roofline(h, interleave(rounds), "throughput")
    by = _need_seeds(h, cfg, records, "throughput")
    roof, roof_stat = h.roofline_for(records)
    stats, fracs = {}, {}
    for side in cfg.sides:
        stats[side] = Stat.of(r["figures"]["samples_per_s"] for r in by[side])
        fracs[side] = Stat.of(r["figures"]["samples_per_s"] * 6 * PARAMS / (roof[r["invocation"]] * 1e9) for r in by[side])
    rows = []
    for side in cfg.sides:
        rows.append([side, stats[side].fmt(0), ", ".join(fmt_num(v, 0) for v in stats[side].values),
                     f"{100 * fracs[side].mean:.1f} ± {100 * fracs[side].sd:.1f} %" if fracs[side].n > 1
                     else f"{100 * fracs[side].mean:.1f} %", load_note(by[side]).replace("1-min load average around the runs ", "")])
    text = md_table(["side", "samples/s, mean ± sd", "per seed", "of fp32 matmul roofline", "load avg"], rows)
    text += (f"\n\nTraining samples/s over epochs {cfg.tp_warmup + 1}–{cfg.tp_epochs} of {cfg.tp_epochs} "
             f"(epoch 1..{cfg.tp_warmup} = warm-up, excluded on both sides), {n_train:,} training examples, "
             f"{cfg.threads} thread(s). vaekit: `vaekit train --recipe reference-mlp` (--quick: `vaekit.train`, no report), "
             f"samples/s from metrics.jsonl; "
             f"pythae: TrainingPipeline, training loop timed per epoch by a callback. "
             f"Roofline: 6 × {PARAMS:,} FLOPs per sample against the fp32 matmul measured in the same invocation "
             f"({', '.join(fmt_num(v) for v in roof.values())} GFLOP/s; all matmul runs {roof_stat.fmt()}).")
    if cfg.pythae_python:
        v, p = stats["vaekit"], stats["pythae"]
        pairs = [a / b for a, b in zip(v.values, p.values)]
        text += (f"\n\n**vaekit / pythae = {v.mean / p.mean:.2f}×** (ratio of means; per-seed ratios "
                 f"{min(pairs):.2f}–{max(pairs):.2f}). Claim: **{claim(v, p, better='faster')}**. "
                 f"Goal ≥ 1.3× pythae: **{goal(v, p, 1.3)}**.")
    return text + _pending_note(cfg) + _quick_note(h)


# --------------------------------------------------------------------------- 2. time to quality
def bench_time_to_quality(h: Harness, cfg: Config) -> str:
    """pythae 50 epochs (target) vs vaekit candidates chosen on validation ELBO; test once."""
    if not cfg.pythae_python:
        return "*needs the pythae side (the target is pythae's ELBO); skipped.*" + _quick_note(h)
    splits = splits_file(h, cfg)
    template = template_run(h, cfg)
    seeds = range(cfg.seeds)

    def pythae_train_job(seed: int) -> Job:
        settings = {"epochs": cfg.pythae_epochs, "limit": cfg.limit, "threads": cfg.threads}
        job = Job("ttq", "pythae", seed, settings, purpose="train", label=f"{cfg.pythae_epochs} epochs", fn=lambda c: None)
        out = h.artifact_dir(job) / "pythae.pt"
        job.artifacts = [str(out)]

        def fn(ctx):
            out.parent.mkdir(parents=True, exist_ok=True)
            res, p = ctx.worker(cfg.pythae_python, "pythae_train", {"threads": cfg.threads, "epochs": cfg.pythae_epochs,
                                                                   "seed": seed, "limit": cfg.limit, "splits": splits,
                                                                   "out": str(out)})
            return {"wall_s": p.wall_s, "train_call_s": res["train_call_s"], "epochs": res["epochs"],
                    "weights": str(out)}

        job.fn = fn
        return job

    trains: dict[str, dict[int, Job]] = {"pythae": {s: pythae_train_job(s) for s in seeds}}
    runs: dict[str, dict[int, str]] = {"pythae": {}}
    for name, (recipe, epochs) in cfg.candidates.items():
        trains[name], runs[name] = {}, {}
        for s in seeds:
            job, out = vaekit_run(h, cfg, name, recipe, epochs, s, bench="ttq")
            trains[name][s], runs[name][s] = job, out
    for s in seeds:
        runs["pythae"][s] = trains["pythae"][s].artifacts[0]
    names = list(trains)
    train_recs = {n: {} for n in names}
    for job in interleave([[trains[n][s] for n in names] for s in seeds]):
        train_recs[job.label if job.side == "vaekit" else "pythae"][job.seed] = h.run(job)

    def score(name: str, seed: int, split: str, selection=None) -> dict[str, Any]:
        train = trains[name][seed]
        args = {"split": split, "k": cfg.score_k, "limit": cfg.score_limit, "seed": 0, "threads": cfg.threads}
        if name == "pythae":
            args.update(run=template, pythae_weights=runs[name][seed])
        else:
            args.update(run=runs[name][seed])
        job = Job("ttq-score", "pythae" if name == "pythae" else "vaekit", seed,
                  {"candidate": name, "train_key": h.key(train), "split": split, "k": cfg.score_k,
                   "limit": cfg.score_limit}, fn=lambda c: None, split=split, purpose="quality", selection=selection,
                  label=f"{name} {split}")

        def fn(ctx):
            h.run(train, need_artifacts=True)  # re-trains only if its artifacts were deleted
            return ctx.worker(cfg.vaekit_python, "vaekit_score", args)[0]

        job.fn = fn
        rec = h.run(job)
        return {"seed": seed, "split": rec["figures"]["split"], "elbo": rec["figures"]["elbo"],
                "cost_s": h.store.get(h.key(train))["figures"]["wall_s"], "record": rec}

    val = {n: [score(n, s, "val") for s in seeds] for n in names}
    require_seeds({n: len(v) for n, v in val.items()}, h.quick, "time to quality (validation)")
    selection = select_on_validation({n: v for n, v in val.items() if n != "pythae"}, val["pythae"])
    sel_rows = [["pythae, reference (target)", Stat.of(e["elbo"] for e in val["pythae"]).fmt(2),
                 Stat.of(e["cost_s"] for e in val["pythae"]).fmt(1), "—", ""]]
    for name, q, c, ok in selection.rows:
        sel_rows.append([f"vaekit {name}", q.fmt(2), c.fmt(1), "yes" if ok else "no",
                         "**chosen**" if name == selection.chosen else ""])
    text = ("Selection (validation split only):\n\n" +
            md_table(["run", "val ELBO (nats), mean ± sd", "wall s (whole process), mean ± sd",
                      "mean ≥ target?", ""], sel_rows))
    text += ("\n\nRule: the fastest candidate (mean wall time) whose mean validation ELBO is at least pythae's "
             "mean validation ELBO; if none is, the candidate with the best validation ELBO "
             f"({'reached' if selection.reached else 'none reached the target'}).")

    test = {n: [score(n, s, "test", selection) for s in seeds] for n in ("pythae", selection.chosen)}
    require_seeds({n: len(v) for n, v in test.items()}, h.quick, "time to quality (test)")
    pe, ve = Stat.of(e["elbo"] for e in test["pythae"]), Stat.of(e["elbo"] for e in test[selection.chosen])
    pt, vt = Stat.of(e["cost_s"] for e in test["pythae"]), Stat.of(e["cost_s"] for e in test[selection.chosen])
    rows = [[f"pythae, {cfg.pythae_epochs} epochs", pe.fmt(2), pt.fmt(1), "1.00"],
            [f"vaekit {selection.chosen}", ve.fmt(2), vt.fmt(1), f"{vt.mean / pt.mean:.2f}"]]
    text += "\n\nFinal (test split, evaluated once, for the chosen candidate and pythae):\n\n" + md_table(
        ["run", "test ELBO (nats), mean ± sd", "wall s (whole process), mean ± sd", "time / pythae's"], rows)
    reached = ve.mean >= pe.mean
    time_goal = goal(vt, pt, 1 / 3, higher_is_better=False)
    overall = "MET" if reached and time_goal == "MET" else ("MISSED" if not reached or time_goal == "MISSED"
                                                             else "at the line (not distinguishable)")
    all_recs = [e["record"] for v in test.values() for e in v] + [h.store.get(h.key(trains[n][s])) for n in
                                                                   ("pythae", selection.chosen) for s in seeds]
    text += (f"\n\nELBO: vaekit mean {ve.mean:.2f} vs pythae mean {pe.mean:.2f} → target "
             f"{'reached' if reached else 'NOT reached'} by the mean of vaekit's seeds; claim: "
             f"**{claim(ve, pe)}**. Time: vaekit {vt.mean:.1f} s vs pythae/3 = {pt.mean / 3:.1f} s → {time_goal}. "
             f"**Goal (mean test ELBO ≥ pythae's, time ≤ 1/3 of pythae's): {overall}.** "
             f"Wall time = the whole training process (interpreter start, imports, data loading, training with its "
             f"per-epoch validation; vaekit via `vaekit.train(..., report=False)`, pythae via `TrainingPipeline`); "
             f"ELBO by one estimator for both (vaekit.evaluate, k={cfg.score_k}, pythae weights loaded into the "
             f"identical vaekit model); {load_note(all_recs)}.")
    return text + _quick_note(h)


# --------------------------------------------------------------------------- 3. IWAE evaluation
def iwae_reference(h: Harness, cfg: Config) -> tuple[str, Job]:
    if h.quick:  # the scoring template is the same tiny reference-mlp run: one training less
        job, run = vaekit_run(h, cfg, "template", "reference-mlp", 1, 0, ["data.limit=256"])
    else:
        job, run = vaekit_run(h, cfg, "iwae-reference", "reference-mlp", cfg.iwae_ref_epochs, 0)
    h.run(job, need_artifacts=True)
    return run, job


def bench_iwae(h: Harness, cfg: Config) -> str:
    """IWAE NLL (k importance samples) on the first n test images: whole `vaekit evaluate`
    process vs a whole process calling pythae's get_nll (its data and model loading included)."""
    run, ref_job = iwae_reference(h, cfg)
    splits = splits_file(h, cfg) if cfg.pythae_python else None
    weights = pythae_weights_of(h, cfg, run, h.key(ref_job)) if cfg.pythae_python else None
    settings = {"n": cfg.iwae_n, "k": cfg.iwae_k, "ref": h.key(ref_job), "threads": cfg.threads}

    def vaekit_job(seed: int) -> Job:
        def fn(ctx):
            p = ctx.process([*cfg.vaekit_cli, "evaluate", run, "--k", str(cfg.iwae_k), "--limit", str(cfg.iwae_n),
                             "--split", "test", "--seed", str(seed), "--device", "cpu"])
            ev = json.loads((Path(run) / "eval.json").read_text())
            return {"seconds": p.wall_s, "images_per_s": cfg.iwae_n / p.wall_s, "nll": ev["nll"]}

        return Job("iwae", "vaekit", seed, settings, fn=fn, split="test")

    def pythae_job(seed: int) -> Job:
        def fn(ctx):
            res, p = ctx.worker(cfg.pythae_python, "pythae_iwae", {"weights": weights, "splits": splits, "n": cfg.iwae_n,
                                                                  "k": cfg.iwae_k, "batch_size": cfg.iwae_k,
                                                                  "seed": seed, "threads": cfg.threads})
            return {"seconds": p.wall_s, "images_per_s": cfg.iwae_n / p.wall_s, "nll": res["nll"],
                    "get_nll_s": res["get_nll_s"]}

        return Job("iwae", "pythae", seed, settings, fn=fn, split="test")

    jobs = interleave([[vaekit_job(s), *([pythae_job(s)] if cfg.pythae_python else [])] for s in range(cfg.speed_seeds)])
    records = _run_with_roofline(h, jobs, "iwae")
    by = _need_seeds(h, cfg, records, "IWAE")
    roof, roof_stat = h.roofline_for(records)
    flops = cfg.iwae_k * DEC_FWD + ENC_FWD
    stats, rows = {}, []
    for side in cfg.sides:
        s = stats[side] = Stat.of(r["figures"]["images_per_s"] for r in by[side])
        nll = Stat.of(r["figures"]["nll"] for r in by[side])
        frac = Stat.of(r["figures"]["images_per_s"] * flops / (roof[r["invocation"]] * 1e9) for r in by[side])
        inner = Stat.of(cfg.iwae_n / r["figures"]["get_nll_s"] for r in by[side] if "get_nll_s" in r["figures"])
        rows.append([side, s.fmt(1), Stat.of(r["figures"]["seconds"] for r in by[side]).fmt(2), nll.fmt(2),
                     f"{100 * frac.mean:.1f} %", inner.fmt(1) if inner.n else "—"])
    text = md_table(["side", "images/s (whole process), mean ± sd", "seconds", "IWAE NLL (nats)",
                     "of fp32 roofline (k·dec + enc FLOPs)", "images/s of the get_nll call alone"], rows)
    text += (f"\n\nk = {cfg.iwae_k}, first {cfg.iwae_n} test images, the same weights on both sides (a "
             f"{cfg.iwae_ref_epochs}-epoch reference-mlp run; the seed is the importance-sampling seed). vaekit: "
             f"`vaekit evaluate RUN --k {cfg.iwae_k} --limit {cfg.iwae_n}` as a user runs it; pythae: a fresh process "
             f"that loads the same test images (.npz) and the converted weights and calls `get_nll(x, n_samples=k, "
             f"batch_size=k)` under no_grad; both timed from process start to exit, no warm-up on either side. "
             f"Roofline: {flops / 1e9:.2f} GFLOP per image (what vaekit executes) against the matmul measured in the "
             f"same invocation ({', '.join(fmt_num(v) for v in roof.values())} GFLOP/s).")
    if cfg.pythae_python:
        v, p = stats["vaekit"], stats["pythae"]
        vn = Stat.of(r["figures"]["nll"] for r in by["vaekit"])
        pn = Stat.of(r["figures"]["nll"] for r in by["pythae"])
        text += (f"\n\nSame model, two estimators: NLL vaekit − pythae = {vn.mean - pn.mean:+.3f} nats "
                 f"({'consistent' if not distinguishable(vn, pn) else 'DIFFERENT: check the weight conversion'}).")
        text += (f"\n\n**vaekit / pythae = {v.mean / p.mean:.2f}×** (ratio of means). Claim: "
                 f"**{claim(v, p, better='faster')}**. Goal ≥ 2.5× through `vaekit evaluate`: **{goal(v, p, 2.5)}**.")
    return text + _pending_note(cfg) + _quick_note(h)


# --------------------------------------------------------------------------- 4. misc
def bench_misc(h: Harness, cfg: Config) -> str:
    run, ref_job = iwae_reference(h, cfg)
    weights = pythae_weights_of(h, cfg, run, h.key(ref_job)) if cfg.pythae_python else None
    splits = splits_file(h, cfg) if cfg.pythae_python else None
    sections = []

    # prior sampling, same weights
    settings = {"n": cfg.sample_n, "ref": h.key(ref_job), "threads": cfg.threads}

    def sample_job(side: str, seed: int) -> Job:
        if side == "vaekit":
            fn = lambda ctx: ctx.worker(cfg.vaekit_python, "vaekit_sample",  # noqa: E731
                                        {"run": run, "n": cfg.sample_n, "threads": cfg.threads})[0]
        else:
            fn = lambda ctx: ctx.worker(cfg.pythae_python, "pythae_sample",  # noqa: E731
                                        {"weights": weights, "n": cfg.sample_n, "batch_size": 500,
                                         "threads": cfg.threads})[0]
        return Job("sampling", side, seed, settings, fn=fn)

    recs = h.run_all(interleave([[sample_job(side, s) for side in cfg.sides] for s in range(cfg.speed_seeds)]))
    by = _need_seeds(h, cfg, recs, "sampling")
    st = {side: Stat.of(r["figures"]["images_per_s"] for r in by[side]) for side in cfg.sides}
    rows = [[side, st[side].fmt(0), by[side][0]["figures"]["how"]] for side in cfg.sides]
    text = md_table(["side", f"prior samples/s (N={cfg.sample_n}), mean ± sd", "call"], rows)
    if cfg.pythae_python:
        text += (f"\n\nvaekit / pythae = {st['vaekit'].mean / st['pythae'].mean:.2f}×; claim: "
                 f"**{claim(st['vaekit'], st['pythae'], better='faster')}**. Goal ≥ pythae: "
                 f"**{goal(st['vaekit'], st['pythae'], 1.0)}**. Timed in-process after a 100-image warm-up, same weights.")
    sections.append("Prior sampling:\n\n" + text)

    # start-up: median of help_runs process walls after one untimed run, per seed
    def startup_job(name: str, side: str, cmd: list[str], seed: int) -> Job:
        def fn(ctx):
            if not h.quick:
                ctx.process(cmd)  # page cache
            walls = sorted(ctx.process(cmd).wall_s for _ in range(cfg.help_runs))
            return {"median_s": walls[len(walls) // 2], "walls": walls}

        return Job("startup", side, seed, {"what": name, "runs": cfg.help_runs}, fn=fn, label=name)

    cmds = [("vaekit --help", "vaekit", [*cfg.vaekit_cli, "--help"]),
            ("python -c 'import torch'", "vaekit", [cfg.vaekit_python, "-c", "import torch"])]
    if cfg.pythae_python:
        cmds.append(("python -c 'from pythae.models import VAE'", "pythae",
                     [cfg.pythae_python, "-c", "from pythae.models import VAE"]))
    rounds = [[startup_job(n, side, c, s) for n, side, c in cmds] for s in range(cfg.speed_seeds)]
    recs = h.run_all(interleave(rounds))
    rows = []
    for name, _, _ in cmds:
        r = [x for x in recs if x["settings"]["what"] == name]
        require_seeds({name: len(r)}, h.quick, "start-up")
        rows.append([f"`{name}`", Stat.of(x["figures"]["median_s"] for x in r).fmt(3)])
    help_s = Stat.of(x["figures"]["median_s"] for x in recs if x["settings"]["what"] == "vaekit --help")
    sections.append("Start-up (wall s of a fresh process; per seed the median of "
                    f"{cfg.help_runs} runs after one untimed run (--quick: no untimed run)):\n\n" + md_table(["command", "wall s, mean ± sd"], rows)
                    + f"\n\nGoal `vaekit --help` ≤ 0.3 s: **{goal(help_s, Stat.of([0.3] * max(2, help_s.n)), 1.0, higher_is_better=False)}**.")

    # peak RSS of a 1-epoch training run
    def rss_job(side: str, seed: int) -> Job:
        st = {"epochs": 1, "limit": cfg.limit, "threads": cfg.threads}
        if side == "vaekit":
            job, _ = vaekit_run(h, cfg, "rss", "reference-mlp", 1, seed, bench="rss")
            inner = job.fn
            job.fn = lambda ctx: {**inner(ctx), "epochs": None}
            return job
        fn = lambda ctx: {"peak_rss_mb": ctx.worker(cfg.pythae_python, "pythae_train",  # noqa: E731
                                                    {**st, "seed": seed, "splits": splits})[1].peak_rss_mb}
        return Job("rss", side, seed, st, fn=fn)

    recs = h.run_all(interleave([[rss_job(side, s) for side in cfg.sides] for s in range(cfg.speed_seeds)]))
    by = _need_seeds(h, cfg, recs, "peak RSS")
    st = {side: Stat.of(r["figures"]["peak_rss_mb"] for r in by[side]) for side in cfg.sides}
    text = md_table(["side", "peak RSS MB (1-epoch training process), mean ± sd"],
                    [[side, st[side].fmt(0)] for side in cfg.sides])
    if cfg.pythae_python:
        text += (f"\n\nClaim: **{claim(st['vaekit'], st['pythae'], higher_is_better=False, better='smaller')}**; "
                 f"goal ≤ pythae's: **{goal(st['vaekit'], st['pythae'], 1.0, higher_is_better=False)}**. ru_maxrss of "
                 "the whole process (`wait4`): vaekit via `vaekit.train(..., report=False)`, pythae via TrainingPipeline.")
    sections.append("Peak memory:\n\n" + text)
    return "\n\n".join(sections) + _pending_note(cfg) + _quick_note(h)


BENCHES = {"throughput": bench_throughput, "ttq": bench_time_to_quality, "iwae": bench_iwae, "misc": bench_misc}
