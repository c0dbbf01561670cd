"""Sample quality at one wall-clock budget (issue 10): `vqvae` + `pixelcnn-prior` and `vae-gan`
against the continuous `fashion` recipe on Fashion-MNIST, FID / precision / recall in the features
of a vaekit-trained classifier (not Inception: no pretrained network is downloaded here).

    python3 bench/bench_fid.py                # budget 300 s per run (VQ: half for each stage), 3 seeds, 10k samples
    python3 bench/bench_fid.py --quick        # toy sizes on digits -> bench/results/quick-fid.md

Every run goes through bench/harness.py (fresh processes, resumable bench/results/fid.jsonl, load
recorded). The classifier (the feature net) is trained once, seed 0, and named in the table. Each
candidate's FID is first measured against the validation split; the (single, fixed) setting per
candidate goes through the harness's validation-only selection before the test split is scored once.
The pythae side of the issue's goal (its VQVAE with PixelCNN sampler and its VAEGAN at the same
budget) is not built yet: the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (BENCH, Harness, Job, Stat, claim, load_note, log, md_table, require_seeds,  # noqa: E402
                     select_on_validation)
from run_all import replace_section, vaekit_cli  # noqa: E402

DOCS = BENCH.parent / "docs" / "samples.md"
# name -> list of (recipe, share of the budget, extra sets); a second entry trains on the first as --parent
CANDIDATES = {
    "fashion (continuous)": [("fashion", 1.0, [])],
    "vqvae + pixelcnn-prior": [("vqvae", 0.5, []), ("pixelcnn-prior", 0.5, [])],
    "vae-gan": [("vae-gan", 1.0, ["data.binarize=none"])],
}


def train_job(h: Harness, name: str, seed: int, budget: float, data_sets: list[str], threads: int) -> Job:
    settings = {"candidate": name, "budget": budget, "data": data_sets, "threads": threads}
    job = Job("fid-train", name, seed, settings, purpose="train", fn=lambda ctx: None, label=name)
    base = h.artifact_dir(job)
    stages = CANDIDATES[name]
    job.artifacts = [str(base / f"stage{len(stages) - 1}" / "model.safetensors")]

    def fn(ctx):
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True, exist_ok=True)
        parent, wall = None, 0.0
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
            parent = out
        return {"wall_s": wall, "run": str(parent)}

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


def score_job(h: Harness, train: Job, feature_net: str, split: str, n: int, selection=None) -> Job:
    run = train.artifacts[0].rsplit("/", 1)[0]
    job = Job("fid-score", train.side, train.seed, {"train_key": h.key(train), "split": split, "n": n,
                                                    "feature_net": feature_net},
              split=split, purpose="quality", selection=selection, fn=lambda c: None, label=f"{train.side} {split}")

    def fn(ctx):
        h.run(train, need_artifacts=True)
        ctx.process([*vaekit_cli(sys.executable), "evaluate", run, "--fid", "--feature-net", feature_net,
                     "--fid-samples", str(n), "--split", split, "--seed", str(train.seed)])
        m = json.loads((Path(run) / "fid.json").read_text())
        return {k: m[k] for k in ("fid", "precision", "recall", "n_generated", "n_real", "split")}

    job.fn = fn
    return job


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--budget", type=float, default=None, help="training seconds per candidate (default 300; quick 4)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per candidate (default 3; quick 1)")
    ap.add_argument("--samples", type=int, default=None, help="samples per FID (default 10000; quick 300)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results", type=Path, default=None)
    ap.add_argument("--docs", type=Path, default=None)
    args = ap.parse_args(argv)
    quick = args.quick
    budget = args.budget or (2.0 if quick else 300.0)
    seeds = range(args.seeds or (1 if quick else 3))
    n = args.samples or (200 if quick else 10_000)
    # quick: the embedded digits (8x8; its 180 test images exceed the classifier's 128 features)
    data_sets = ["data.name=digits", "data.binarize=none"] if quick else ["data.name=fashion-mnist"]
    results = args.results or BENCH / "results" / ("quick-fid.jsonl" if quick else "fid.jsonl")
    docs = args.docs or (BENCH / "results" / "quick-fid.md" if quick else DOCS)
    h = Harness(results, threads=args.threads, pythons={"vaekit": sys.executable}, quick=quick)

    clf = h.run(classifier_job(h, data_sets, 5 if quick else 15, args.threads), need_artifacts=True)
    feature_net = clf["figures"]["run"]
    trains = {c: {s: train_job(h, c, s, budget, data_sets, args.threads) for s in seeds} for c in CANDIDATES}
    for s in seeds:
        for c in CANDIDATES:
            h.run(trains[c][s], need_artifacts=True)
    val = {c: [h.run(score_job(h, trains[c][s], feature_net, "val", n)) for s in seeds] for c in CANDIDATES}
    require_seeds({c: len(v) for c, v in val.items()}, quick, "FID (validation)")
    entries = {c: [{"split": "val", "fid": -e["figures"]["fid"], "cost_s": 0.0} for e in v] for c, v in val.items()}
    reference = entries["fashion (continuous)"]
    selections = {c: select_on_validation({c: entries[c]}, reference, quality="fid") for c in CANDIDATES}
    test = {c: [h.run(score_job(h, trains[c][s], feature_net, "test", n, selections[c])) for s in seeds]
            for c in CANDIDATES}
    require_seeds({c: len(v) for c, v in test.items()}, quick, "FID (test)")

    stat = {(c, k): Stat.of(e["figures"][k] for e in test[c]) for c in CANDIDATES for k in ("fid", "precision", "recall")}
    rows = [[c, stat[(c, "fid")].fmt(2), stat[(c, "precision")].fmt(3), stat[(c, "recall")].fmt(3)] for c in CANDIDATES]
    text = md_table(["candidate (test split)", "FID ↓", "precision ↑", "recall ↑"], rows)
    base = stat[("fashion (continuous)", "fid")]
    verdicts = []
    for c in ("vqvae + pixelcnn-prior", "vae-gan"):
        a = stat[(c, "fid")]
        verdicts.append(f"`{c}` vs the continuous recipe: FID {a.mean:.2f} vs {base.mean:.2f} — "
                        f"{'lower' if a.mean < base.mean else 'NOT lower'} by the mean; claim rule: "
                        f"{claim(a, base, a_name=c, b_name='fashion', higher_is_better=False)}")
    all_recs = [e for v in test.values() for e in v] + [h.store.get(h.key(trains[c][s])) for c in CANDIDATES for s in seeds]
    cmd = "python3 bench/bench_fid.py" + (" --quick" if quick else "") + (f" --threads {args.threads}" if args.threads != 2 else "")
    text += ("\n\n" + "\n".join(f"- {v}" for v in verdicts) +
             f"\n\nFeature net: the vaekit classifier `{os.path.relpath(feature_net, BENCH.parent)}` (test accuracy "
             f"{clf['figures']['accuracy']:.4f}), penultimate layer — **not an Inception FID**; compare only with "
             f"figures in the same feature space. {n:,} samples (decoder means; grey data) against the split. "
             f"Budget {budget:g} s of training per candidate (`train.time_budget`; the VQ candidate gives half to "
             f"each stage), {len(seeds)} seed(s), {args.threads} thread(s); {load_note(all_recs)}. "
             "**pythae side (VQVAE + PixelCNN sampler, VAEGAN at the same budget): not built yet — that part of the "
             f"goal is unmeasured.** Command: `{cmd}` ({time.strftime('%Y-%m-%d')}, results in "
             f"`{os.path.relpath(results, BENCH.parent)}`).")
    if quick:
        text += "\n\n*--quick: toy sizes; these numbers say nothing about sample quality.*"
    body = docs.read_text() if docs.exists() else "# Sample quality\n\n<!-- bench:fid -->\n<!-- /bench:fid -->\n"
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(replace_section(body, "fid", text))
    log(f"wrote {docs}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
