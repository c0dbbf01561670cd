"""Sample quality at one wall-clock budget (issue 10): vaekit's `vqvae` + `pixelcnn-prior` and `vae-gan`
against vaekit's continuous `fashion` recipe and against pythae 0.1.2's VQVAE with its PixelCNN
sampler and its VAEGAN, on Fashion-MNIST; FID / precision / recall in the features of a
vaekit-trained classifier (not Inception: no pretrained network is downloaded here).

    python3 bench/bench_fid.py                # budget 300 s per run (two-stage runs: half for each stage), 3 seeds, 10k samples
    python3 bench/bench_fid.py --quick        # toy sizes (1,000 training images) -> bench/results/quick-fid.md
    python3 bench/bench_fid.py --no-pythae    # vaekit's candidates only

Every run goes through bench/harness.py (fresh processes, resumable bench/results/fid.jsonl, load
recorded). The classifier (the feature net) is trained once, seed 0, and named in the table. Both
libraries' samples are scored by the same code (``vaekit.tasks.fid.score_samples``, which
``vaekit evaluate --fid`` also uses) against the same split, 10k samples each (decoder outputs).
Each candidate's FID is first measured on the validation split; pythae's VAEGAN comes in two
settings (its MNIST benchmark nets, its default MLP nets) screened with seed 0 on validation, the
better one getting all seeds; the test split is scored once, after that selection.
pythae's side (bench/worker_fid.py): see that module's docstring for the nets and settings.
Training time: both sides stop at the first training step past the budget (vaekit's
``train.time_budget`` cuts the epoch in progress, then validates and saves it; pythae's callback
raises at that step, keeping its best model of the finished epochs or, if none finished - one
epoch of its VAEGAN with the MNIST nets takes ~17 min on 2 cores - the weights as they stand);
each side's actual training seconds are in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (BENCH, Harness, Job, Stat, claim, load_note, log, md_table, require_seeds,  # noqa: E402
                     select_on_validation)
from docs_sections import put_section  # noqa: E402
from run_all import default_pythae_python, vaekit_cli  # noqa: E402

DOCS = BENCH.parent / "docs" / "samples.md"
WORKER_FID = BENCH / "worker_fid.py"
CONTINUOUS = "vaekit fashion (continuous)"
# vaekit: name -> list of (recipe, share of the budget, extra sets); a second entry trains on the first as --parent
CANDIDATES = {
    CONTINUOUS: [("fashion", 1.0, [])],
    "vaekit vqvae + pixelcnn-prior": [("vqvae", 0.5, []), ("pixelcnn-prior", 0.5, [])],
    "vaekit vae-gan": [("vae-gan", 1.0, ["data.binarize=none"])],
}
# pythae: name -> {setting name: worker_fid.pythae_fid_train arguments}; several settings are screened on validation
PYTHAE = {
    "pythae VQVAE + PixelCNNSampler": {
        # pythae's MNIST config without EMA diverged here (loss ~1e5 and rising within 3 epochs at lr 1e-3 and
        # 1e-4, 2026-11-30); use_ema=True (decay 0.99, the update vaekit's vqvae uses) trains stably.
        "ResNet MNIST nets, EMA codebook": {"model": "VQVAE", "ema": True, "lr": 1e-3, "share": 0.5},
    },
    # Each VAEGAN training keeps two weights: pythae's best on its validation loss (which mixes in the
    # adversarial terms; it kept epoch 1 of the MLP nets here) and the last ones - screened as settings.
    "pythae VAEGAN": {
        f"{nets}, {keep} weights": {"model": "VAEGAN", "net": net, "keep": keep}
        for nets, net in (("ResNet/conv MNIST nets", "mnist"), ("default MLP nets", "default"))
        for keep in ("best-on-validation", "last")
    },
}
TRAIN_ONLY = ("keep",)  # settings of the scoring, not of the training: one training serves both


def train_job(h: Harness, name: str, seed: int, budget: float, data_sets: list[str], threads: int) -> Job:
    # budget_rule "cut": train.time_budget cuts the epoch in progress (runs made under the older epoch-end
    # rule overshot by up to an epoch per stage and no longer match)
    settings = {"candidate": name.removeprefix("vaekit "), "budget": budget, "data": data_sets, "threads": threads,
                "budget_rule": "cut"}
    job = Job("fid-train", name.removeprefix("vaekit "), seed, settings, purpose="train", fn=lambda ctx: None, label=name)
    base = h.artifact_dir(job)
    stages = CANDIDATES[name]
    job.artifacts = [str(base / f"stage{len(stages) - 1}" / "model.safetensors")]

    def fn(ctx):
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True, exist_ok=True)
        parent, wall, train_s = None, 0.0, 0.0
        for i, (recipe, share, extra) in enumerate(stages):
            out = base / f"stage{i}"
            overrides = [f"train.time_budget={share * budget:g}", f"train.threads={threads}", "train.early_stopping=none",
                         *data_sets, *extra]
            # vaekit.train (what `vaekit train` calls) without the report: its test-set NLL is not used here
            code = ("import sys, json, vaekit; a = json.loads(sys.argv[1]); vaekit.train(a['recipe'], epochs=1000, "
                    "seed=a['seed'], out=a['out'], overrides=a['overrides'], parent=a['parent'], echo=None, "
                    "progress=False, report=False)")
            args = {"recipe": recipe, "seed": seed, "out": str(out), "overrides": overrides,
                    "parent": None if parent is None else str(parent)}
            wall += ctx.process([sys.executable, "-c", code, json.dumps(args)]).wall_s
            rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
            train_s += float(rows[-1].get("elapsed_s", 0.0)) if rows else 0.0
            parent = out
        return {"wall_s": wall, "train_s": train_s, "run": str(parent)}

    job.fn = fn
    return job


def pythae_train_job(h: Harness, name: str, setting: str, seed: int, budget: float, data: Job, limit: int | None,
                     threads: int) -> Job:
    full = PYTHAE[name][setting]
    spec = {k: v for k, v in full.items() if k not in TRAIN_ONLY}
    trained_as = ", ".join(f"{k}={v}" for k, v in spec.items())
    settings = {"candidate": name, "spec": spec, "saves": "best+last", "budget": budget, "limit": limit,
                "threads": threads}
    job = Job("fid-train", f"{name} - {trained_as}", seed, settings, purpose="train", fn=lambda ctx: None,
              label=f"{name} ({trained_as})")
    job.keep, job.setting = full.get("keep", "best-on-validation"), setting
    base = h.artifact_dir(job)
    job.artifacts = [str(base / "models.pt")]

    def fn(ctx):
        data_npz = h.run(data, need_artifacts=True)["artifacts"][0]
        args = {**spec, "data": data_npz, "seed": seed, "budget": budget, "limit": limit, "threads": threads,
                "out": str(base)}
        res, _ = ctx.worker(h.pythons["pythae"], "pythae_fid_train", args, timeout=budget * 4 + 1800, script=WORKER_FID)
        return {**res, "run": str(base)}

    job.fn = fn
    return job


def export_job(h: Harness, limit: int | None) -> Job:
    """Fashion-MNIST's splits as vaekit makes them, for pythae's side (grey levels, uint8)."""
    job = Job("fid-setup", "data", 0, {"dataset": "fashion-mnist", "limit": limit}, purpose="setup", fn=lambda c: None)
    out = h.artifact_dir(job) / "data.npz"
    job.artifacts = [str(out)]

    def fn(ctx):
        out.parent.mkdir(parents=True, exist_ok=True)
        res, _ = ctx.worker(sys.executable, "export_splits", {"dataset": "fashion-mnist", "out": str(out)})
        return res

    job.fn = fn
    return job


def classifier_job(h: Harness, data_sets: list[str], epochs: int, threads: int) -> Job:
    job = Job("fid-setup", "classifier", 0, {"epochs": epochs, "data": data_sets}, purpose="setup", fn=lambda c: None)
    out = h.artifact_dir(job) / "run"
    job.artifacts = [str(out / "model.safetensors")]

    def fn(ctx):
        shutil.rmtree(out, ignore_errors=True)
        cmd = [*vaekit_cli(sys.executable), "train", "--recipe", "classifier", "--epochs", str(epochs), "--seed", "0",
               "--out", str(out), "--set", f"train.threads={threads}"]
        for s in data_sets:
            cmd += ["--set", s]
        ctx.process(cmd)
        ctx.process([*vaekit_cli(sys.executable), "evaluate", str(out)])  # test accuracy -> eval.json
        ev = json.loads((out / "eval.json").read_text())
        return {"accuracy": ev["accuracy"], "run": str(out)}

    job.fn = fn
    return job


def score_job(h: Harness, train: Job, feature_net: str, split: str, n: int, selection=None, grid: Path | None = None) -> Job:
    """FID of ``n`` samples of a trained candidate of either library against ``split``. vaekit:
    ``vaekit evaluate RUN --fid``; pythae: its sampler writes the samples (pythae venv), scored by
    the same ``vaekit.tasks.fid.score_samples`` (worker_fid.vaekit_fid_samples)."""
    pythae = train.settings.get("spec") is not None
    keep = getattr(train, "keep", "best-on-validation")
    settings = {"train_key": h.key(train), "split": split, "n": n, "feature_net": feature_net,
                **({"keep": keep} if pythae else {})}
    side = f"{train.side.split(' - ')[0]} / {train.setting}" if pythae else train.side
    job = Job("fid-score", side, train.seed, settings, split=split, purpose="quality", selection=selection,
              fn=lambda c: None, label=f"{side} {split}")

    def fn(ctx):
        trained = h.run(train, need_artifacts=True)
        run = trained["figures"]["run"]
        if pythae:
            samples = Path(run) / f"samples-n{n}-s{train.seed}-{keep}.npy"
            if not samples.exists():
                ctx.worker(h.pythons["pythae"], "pythae_fid_sample", {"run": run, "n": n, "seed": train.seed,
                           "keep": "last" if keep == "last" else "best", "threads": h.threads, "out": str(samples)},
                           script=WORKER_FID)
            m, _ = ctx.worker(sys.executable, "vaekit_fid_samples", {"samples": str(samples), "feature_net": feature_net,
                              "split": split, "threads": h.threads, "grid": str(grid) if grid else None},
                              script=WORKER_FID)
        else:
            ctx.process([*vaekit_cli(sys.executable), "evaluate", run, "--fid", "--feature-net", feature_net,
                         "--fid-samples", str(n), "--split", split, "--seed", str(train.seed)])
            m = json.loads((Path(run) / "fid.json").read_text())
            if grid:
                ctx.process([*vaekit_cli(sys.executable), "sample", run, "-n", "64", "--seed", str(train.seed), "-o",
                             str(grid)])
        return {k: m[k] for k in ("fid", "precision", "recall", "n_generated", "n_real", "split")}

    job.fn = fn
    return job


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--budget", type=float, default=None, help="training seconds per run (default 300; quick 2)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per candidate (default 3; quick 1)")
    ap.add_argument("--samples", type=int, default=None, help="samples per FID (default 10000; quick 200)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-pythae", action="store_true", help="vaekit's candidates only")
    ap.add_argument("--pythae-python", default=None, help="the pythae venv's python (default: bench/setup_pythae.sh's)")
    ap.add_argument("--results", type=Path, default=None)
    ap.add_argument("--docs", type=Path, default=None)
    args = ap.parse_args(argv)
    quick = args.quick
    budget = args.budget or (2.0 if quick else 300.0)
    seeds = list(range(args.seeds or (1 if quick else 3)))
    n = args.samples or (200 if quick else 10_000)
    limit = 1000 if quick else None  # quick: the first 1,000 training images (val/test stay whole)
    data_sets = ["data.name=fashion-mnist"] + ([f"data.limit={limit}"] if limit else [])
    results = args.results or BENCH / "results" / ("quick-fid.jsonl" if quick else "fid.jsonl")
    docs = args.docs or (BENCH / "results" / "quick-fid.md" if quick else DOCS)
    grids = docs.parent / "images" / "samples" if not quick else docs.parent / "quick-fid-images"
    pythae_python = None if args.no_pythae else (args.pythae_python or default_pythae_python())
    if not args.no_pythae and not pythae_python:
        raise SystemExit("bench_fid: no pythae venv (bench/setup_pythae.sh); use --no-pythae for vaekit's side only")
    pythons = {"vaekit": sys.executable, **({"pythae": pythae_python} if pythae_python else {})}
    h = Harness(results, threads=args.threads, pythons=pythons, quick=quick)

    clf = h.run(classifier_job(h, data_sets, 5 if quick else 15, args.threads), need_artifacts=True)
    feature_net = clf["figures"]["run"]
    trains: dict[str, dict[int, Job]] = {c: {s: train_job(h, c, s, budget, data_sets, args.threads) for s in seeds}
                                         for c in CANDIDATES}
    data = export_job(h, limit) if pythae_python else None
    screened: dict[str, dict[str, float]] = {}
    if pythae_python:
        h.run(data, need_artifacts=True)
        for name, settings in PYTHAE.items():  # screen the settings on validation, seed 0
            if quick:  # toy size: one VAEGAN training (MLP nets; its two kept weights still screened)
                settings = {k: v for k, v in settings.items() if v.get("net") != "mnist"}
            if len(settings) > 1:
                screened[name] = {}
                for setting in settings:
                    job = pythae_train_job(h, name, setting, seeds[0], budget, data, limit, args.threads)
                    screened[name][setting] = h.run(score_job(h, job, feature_net, "val", n))["figures"]["fid"]
                pick = min(screened[name], key=screened[name].get)
            else:
                pick = next(iter(settings))
            trains[name] = {s: pythae_train_job(h, name, pick, s, budget, data, limit, args.threads) for s in seeds}
    for s in seeds:  # interleaved: every candidate of both libraries, seed by seed
        for c in trains:
            h.run(trains[c][s], need_artifacts=True)
    val = {c: [h.run(score_job(h, trains[c][s], feature_net, "val", n)) for s in seeds] for c in trains}
    require_seeds({c: len(v) for c, v in val.items()}, quick, "FID (validation)")
    entries = {c: [{"split": "val", "fid": -e["figures"]["fid"], "cost_s": 0.0} for e in v] for c, v in val.items()}
    selections = {c: select_on_validation({c: entries[c]}, entries[c], quality="fid") for c in trains}
    grid_paths = {c: grids / f"{slug(c)}.png" for c in trains}
    grids.mkdir(parents=True, exist_ok=True)
    test = {c: [h.run(score_job(h, trains[c][s], feature_net, "test", n, selections[c],
                                grid=grid_paths[c] if s == seeds[0] else None)) for s in seeds] for c in trains}
    require_seeds({c: len(v) for c, v in test.items()}, quick, "FID (test)")

    train_recs = {c: [h.store.get(h.key(trains[c][s])) for s in seeds] for c in trains}
    stat = {(c, k): Stat.of(e["figures"][k] for e in test[c]) for c in trains for k in ("fid", "precision", "recall")}
    train_s = {c: Stat.of(r["figures"].get("train_s") or 0.0 for r in train_recs[c]) for c in trains}
    val_fid = {c: Stat.of(e["figures"]["fid"] for e in val[c]) for c in trains}
    setting_of = {c: getattr(trains[c][seeds[0]], "setting", "the recipe's defaults") for c in trains}
    rows = [[c, setting_of[c], stat[(c, "fid")].fmt(2), stat[(c, "precision")].fmt(3), stat[(c, "recall")].fmt(3),
             val_fid[c].fmt(2), train_s[c].fmt(0)] for c in trains]
    text = md_table(["candidate", "setting", "FID ↓ (test)", "precision ↑", "recall ↑", "FID (val)",
                     "training s"], rows)
    verdicts = []
    for c in ("vaekit vqvae + pixelcnn-prior", "vaekit vae-gan"):
        a = stat[(c, "fid")]
        for other in [CONTINUOUS, *PYTHAE] if pythae_python else [CONTINUOUS]:
            b = stat[(other, "fid")]
            verdicts.append(f"`{c}` vs `{other}`: FID {a.mean:.2f} vs {b.mean:.2f} — "
                            f"{'lower' if a.mean < b.mean else 'NOT lower'} by the mean; claim rule: "
                            f"{claim(a, b, a_name=c, b_name=other, higher_is_better=False, better='lower')}")
    screen_note = "".join(
        f" pythae {name.removeprefix('pythae ')} settings screened on validation (seed 0): " +
        ", ".join(f"{k} FID {v:.2f}" for k, v in res.items()) + f" → {min(res, key=res.get)}." for name, res in screened.items())
    all_recs = [e for v in test.values() for e in v] + [r for v in train_recs.values() for r in v]
    cmd = "python3 bench/bench_fid.py" + (" --quick" if quick else "") + (f" --threads {args.threads}" if args.threads != 2 else "")
    cmd += " --no-pythae" if args.no_pythae else ""
    text += ("\n\n" + "\n".join(f"- {v}" for v in verdicts) +
             f"\n\nFeature net: the vaekit classifier `{os.path.relpath(feature_net, BENCH.parent)}` (test accuracy "
             f"{clf['figures']['accuracy']:.4f}), penultimate layer — **not an Inception FID**; compare only with "
             f"figures in the same feature space. {n:,} samples per run (decoder outputs: vaekit's decoder means, pythae's "
             f"decoder output) against the whole split; mean ± sd over {len(seeds)} seed(s); the claim rule: a "
             f"difference counts only where it exceeds the two sds' sum. Budget {budget:g} s of training per run "
             f"(two-stage runs give half to each stage), {args.threads} thread(s); {load_note(all_recs)}." + screen_note +
             ("" if pythae_python else " **pythae side not run (--no-pythae): that part of the goal is unmeasured.**") +
             f" Command: `{cmd}` ({time.strftime('%Y-%m-%d')}, results in `{os.path.relpath(results, BENCH.parent)}`).")
    text += "\n\nSamples (seed 0, first 64; the grids the test FID's runs make):\n\n" + "\n".join(
        f"- {c}: ![{c}]({os.path.relpath(grid_paths[c], docs.parent)})" for c in trains)
    if quick:
        text += "\n\n*--quick: toy sizes; these numbers say nothing about sample quality.*"
    put_section(docs, "fid", text, new_doc="# Sample quality\n")
    log(f"wrote {docs}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
