"""Disentanglement on `shapes` (issue 9): `beta-tcvae` and `factor-vae` against the plain `vae`.

    python3 bench/bench_disentanglement.py            # 3 seeds x 3 recipes, rewrites its table in docs/variants.md
    python3 bench/bench_disentanglement.py --quick    # toy size (seconds), writes bench/results/quick-disentanglement.md

Every run goes through bench/harness.py (fresh subprocesses, resumable results file
bench/results/disentanglement.jsonl, machine and load recorded). Each recipe trains with its own
defaults (`vae` is given the same latent size, batch size and learning rate as the other two, so
only the objective differs) for the same number of epochs on the same data; `vaekit
disentanglement RUN --split val` scores every run on the validation split, the harness's
validation-only selection makes the (single) choice per recipe, and only then each run is scored
once on the test split. Figures are mean ± sd over seeds; the claim rule is the harness's (a
difference is claimed only when it exceeds the sum of the two standard deviations).
"""

from __future__ import annotations

import argparse
import os
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (BENCH, Harness, Job, Stat, claim, load_note, log, md_table, require_seeds,  # noqa: E402
                     select_on_validation)
from docs_sections import put_section  # noqa: E402
from run_all import vaekit_cli  # noqa: E402

DOCS = BENCH.parent / "docs" / "variants.md"
SAME = ["model.latent_dim=10", "train.batch_size=128", "train.lr=1e-3"]
RECIPES = {"vae": SAME, "beta-tcvae": [], "factor-vae": []}
METRICS = [("mig", "MIG"), ("factor_vae_score", "FactorVAE score"), ("dci_disentanglement", "DCI disentanglement")]


def train_job(h: Harness, recipe: str, seed: int, epochs: int, limit: int | None, threads: int) -> Job:
    sets = ["data.name=shapes", f"train.threads={threads}", *RECIPES[recipe], *([f"data.limit={limit}"] if limit else [])]
    job = Job("disent-train", recipe, seed, {"recipe": recipe, "epochs": epochs, "sets": sets}, purpose="train",
              fn=lambda ctx: None, label=recipe)
    out = h.artifact_dir(job) / "run"
    job.artifacts = [str(out / "model.safetensors")]

    def fn(ctx):
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [*vaekit_cli(sys.executable), "train", "--recipe", recipe, "--epochs", str(epochs), "--seed", str(seed),
               "--out", str(out)]
        for s in sets:
            cmd += ["--set", s]
        p = ctx.process(cmd)
        return {"wall_s": p.wall_s, "run": str(out)}

    job.fn = fn
    return job


def score_job(h: Harness, train: Job, split: str, selection=None, n: int | None = None) -> Job:
    run = train.artifacts[0].rsplit("/", 1)[0]
    settings = {"train_key": h.key(train), "split": split, **({"n": n} if n else {})}  # keys of full runs unchanged
    job = Job("disent-score", train.side, train.seed, settings, split=split,
              purpose="quality", selection=selection, fn=lambda ctx: None, label=f"{train.side} {split}")

    def fn(ctx):
        h.run(train, need_artifacts=True)
        ctx.process([*vaekit_cli(sys.executable), "disentanglement", run, "--split", split,
                     *(["-n", str(n)] if n else [])])
        m = json.loads((Path(run) / "disentanglement.json").read_text())
        return {"split": m["split"], **{k: m[k] for k, _ in METRICS}, "active_dims": m["active_dims"],
                "cost_s": h.store.get(h.key(train))["figures"]["wall_s"]}

    job.fn = fn
    return job


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="toy size; never writes docs/variants.md")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per recipe (default 3; quick 1)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs per run (default 30; quick 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results", type=Path, default=None, help="results JSONL (default bench/results/disentanglement.jsonl)")
    ap.add_argument("--docs", type=Path, default=None, help="markdown file to write the section into")
    args = ap.parse_args(argv)
    seeds = range(args.seeds or (1 if args.quick else 3))
    epochs = args.epochs or (1 if args.quick else 30)
    limit = 512 if args.quick else None
    score_n = 400 if args.quick else None  # examples scored per split (None: the whole split)
    results = args.results or BENCH / "results" / ("quick-disentanglement.jsonl" if args.quick else "disentanglement.jsonl")
    docs = args.docs or (BENCH / "results" / "quick-disentanglement.md" if args.quick else DOCS)
    h = Harness(results, threads=args.threads, pythons={"vaekit": sys.executable}, quick=args.quick)
    trains = {r: {s: train_job(h, r, s, epochs, limit, args.threads) for s in seeds} for r in RECIPES}
    for s in seeds:  # interleaved: every recipe's seed s before any recipe's seed s + 1
        for r in RECIPES:
            h.run(trains[r][s], need_artifacts=True)
    val = {r: [h.run(score_job(h, trains[r][s], "val", n=score_n)) for s in seeds] for r in RECIPES}
    require_seeds({r: len(v) for r, v in val.items()}, h.quick, "disentanglement (validation)")
    entries = {r: [{"split": "val", "mig": e["figures"]["mig"], "cost_s": e["figures"]["cost_s"]} for e in v]
               for r, v in val.items()}
    # One setting per recipe, so each selection is trivial; it still goes through the harness, which
    # refuses any test-split figure not backed by a validation-only selection.
    selections = {r: select_on_validation({r: entries[r]}, entries["vae"], quality="mig") for r in RECIPES}
    test = {r: [h.run(score_job(h, trains[r][s], "test", selections[r], n=score_n)) for s in seeds] for r in RECIPES}
    require_seeds({r: len(v) for r, v in test.items()}, h.quick, "disentanglement (test)")

    stats = {(r, k): Stat.of(e["figures"][k] for e in test[r]) for r in RECIPES for k, _ in METRICS}
    vstats = {(r, k): Stat.of(e["figures"][k] for e in val[r]) for r in RECIPES for k, _ in METRICS}
    rows = [[f"`{r}`", *[stats[(r, k)].fmt(3) for k, _ in METRICS],
             ", ".join(str(e["figures"]["active_dims"]) for e in test[r])] for r in RECIPES]
    text = md_table(["recipe (test split)", *[n for _, n in METRICS], "active dims per seed"], rows)
    text += "\n\nValidation split (the figures the selection saw):\n\n" + md_table(
        ["recipe (val split)", *[n for _, n in METRICS]], [[f"`{r}`", *[vstats[(r, k)].fmt(3) for k, _ in METRICS]]
                                                            for r in RECIPES])
    verdicts = []
    for r in ("beta-tcvae", "factor-vae"):
        for k, name in METRICS[:2]:
            a, b = stats[(r, k)], stats[("vae", k)]
            beat = "beats" if a.mean > b.mean else "does not beat"
            verdicts.append(f"`{r}` {beat} `vae` on {name} by the mean ({a.mean:.3f} vs {b.mean:.3f}; claim rule: "
                            f"{claim(a, b, a_name=r, b_name='vae')})")
    goal_met = all(stats[(r, k)].mean > stats[("vae", k)].mean for r in ("beta-tcvae", "factor-vae") for k, _ in METRICS[:2])
    strict = all(stats[(r, k)].mean - stats[(r, k)].sd > stats[("vae", k)].mean + stats[("vae", k)].sd
                 for r in ("beta-tcvae", "factor-vae") for k, _ in METRICS[:2])
    all_recs = [e for v in test.values() for e in v] + [h.store.get(h.key(trains[r][s])) for r in RECIPES for s in seeds]
    cmd = ("python3 bench/bench_disentanglement.py" + (" --quick" if args.quick else "")
           + (f" --threads {args.threads}" if args.threads != 2 else ""))
    text += ("\n\n" + ";\n".join(f"- {v}" for v in verdicts) + ".\n\n"
             f"**Goal (both beat `vae` on MIG and FactorVAE score, mean over {len(seeds)} seeds): "
             f"{'MET' if goal_met else 'MISSED'}**"
             f"{' (and every difference exceeds the spread)' if strict else ' (not every difference exceeds the spread: see the claims)' if goal_met else ''}.\n\n"
             f"Setting: `shapes` ({f'{limit}-example training subset, {score_n} scored, ' if limit else ''}train/val/test as vaekit splits it), "
             f"{epochs} epochs per run, recipe defaults (`vae` with {', '.join(SAME)}), {args.threads} threads; "
             f"metrics of the posterior means by `vaekit disentanglement RUN --split val|test` (MIG with 20-bin "
             f"histograms, FactorVAE score by majority vote, DCI with random forests). {load_note(all_recs)}. "
             f"Command: `{cmd}` ({time.strftime('%Y-%m-%d')}, results in `{os.path.relpath(results, BENCH.parent)}`).")
    if args.quick:
        text += "\n\n*--quick: toy sizes; these numbers say nothing about disentanglement.*"
    put_section(docs, "disentanglement", text, new_doc="# quick disentanglement table\n")
    log(f"wrote {docs}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
