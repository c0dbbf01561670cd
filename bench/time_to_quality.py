"""Time to quality: how long vaekit needs to reach the test ELBO pythae reaches in 50 epochs.

    python3 bench/time_to_quality.py                          # pythae 50 epochs, then vaekit `fashion`
    python3 bench/time_to_quality.py --recipe reference-mlp --set train.batch_size=256 --set train.lr=2e-3 \
        --set train.schedule=cosine --set train.warmup_steps=200 --epochs 20
    python3 bench/time_to_quality.py --candidates             # try the built-in candidate settings
    python3 bench/time_to_quality.py --pythae-result bench/results/pythae_50ep.json   # reuse a pythae run

pythae trains the reference model (MLP 784-512-256 / 16 / 256-512-784, BCE, batch 128, Adam 1e-3,
50 epochs) through its TrainingPipeline; its wall time is the whole pipeline call (its own
per-epoch evaluation included, as a user experiences it). Its best-on-validation weights are
then scored on the 10,000-image test split. vaekit trains the chosen recipe; after every epoch its
saved weights are scored on the same test split with the same estimator (vaekit's
evaluate_arrays, analytic KL + log p(x|z) averaged over 10 samples), and that scoring time is
excluded from vaekit's clock. Both numbers are ELBOs in nats per example (higher is better).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import add_common_args, log, machine_info, md_table, run_worker, save_results

CANDIDATES = {  # name: (overrides on reference-mlp, epochs)
    "b256-lr2e-3-cos": (["train.batch_size=256", "train.lr=2e-3", "train.schedule=cosine", "train.warmup_steps=200",
                         "train.clip_grad=5.0"], 20),
    "b512-lr3e-3-cos": (["train.batch_size=512", "train.lr=3e-3", "train.schedule=cosine", "train.warmup_steps=100",
                         "train.clip_grad=5.0"], 24),
    "b512-lr3e-3-cos-z32": (["train.batch_size=512", "train.lr=3e-3", "train.schedule=cosine",
                             "train.warmup_steps=100", "train.clip_grad=5.0", "model.latent_dim=32"], 20),
    "b256-lr2e-3-cos-z32": (["train.batch_size=256", "train.lr=2e-3", "train.schedule=cosine",
                             "train.warmup_steps=200", "train.clip_grad=5.0", "model.latent_dim=32"], 20),
}


def recipe_exists(python: str, name: str) -> bool:
    import subprocess

    code = f"from vaekit.api import resolve_config; resolve_config({name!r})"
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--pythae-epochs", type=int, default=50)
    ap.add_argument("--pythae-result", type=Path, help="JSON from an earlier pythae run (worker output) to reuse")
    ap.add_argument("--recipe", default=None, help="vaekit recipe (default: `fashion` if it exists)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="vaekit --set override, repeatable")
    ap.add_argument("--epochs", type=int, default=None, help="vaekit epochs (default: the recipe's)")
    ap.add_argument("--candidates", action="store_true", help="try the built-in candidate settings on reference-mlp")
    ap.add_argument("--candidate-epochs", type=int, default=None, help="override the candidates' epochs")
    ap.add_argument("--only", action="append", default=[], help="with --candidates: run only this one (repeatable)")
    ap.add_argument("--limit", type=int, default=None, help="pythae: training subset (quick checks only)")
    args = ap.parse_args()

    if args.pythae_result:
        pythae = json.loads(args.pythae_result.read_text())
        pythae = pythae.get("pythae", pythae)
        log(f"reusing pythae result from {args.pythae_result}")
    else:
        log(f"pythae: {args.pythae_epochs} epochs of the reference model ...")
        pythae = run_worker(args.pythae_python, "pythae_train",
                            {"threads": args.threads, "epochs": args.pythae_epochs, "test_elbo": True, "limit": args.limit})
        save_results("time_to_quality-pythae", {"pythae": pythae}, args.tag)  # reusable with --pythae-result
    target = pythae["test_elbo"]
    log(f"pythae: test ELBO {target:.2f} nats in {pythae['wall_s']:.0f} s")

    runs: dict[str, tuple[str, list[str], int | None]] = {}
    if args.candidates:
        for name, (sets, epochs) in CANDIDATES.items():
            if args.only and name not in args.only:
                continue
            runs[name] = ("reference-mlp", sets, args.candidate_epochs or epochs)
    else:
        recipe = args.recipe or ("fashion" if recipe_exists(args.vaekit_python, "fashion") else None)
        if recipe is None:  # no `fashion` recipe yet: its proposed settings as overrides on reference-mlp
            log("no `fashion` recipe: using reference-mlp + the proposed fashion settings (b256-lr2e-3-cos, 32 epochs)")
            runs["proposed-fashion"] = ("reference-mlp", CANDIDATES["b256-lr2e-3-cos"][0] + args.sets, args.epochs or 32)
        else:
            runs[recipe + ("+" + ",".join(args.sets) if args.sets else "")] = (recipe, args.sets, args.epochs)

    results = {}
    for name, (recipe, sets, epochs) in runs.items():
        log(f"vaekit: {name} ({epochs or 'recipe'} epochs) ...")
        res = run_worker(args.vaekit_python, "vaekit_ttq", {"threads": args.threads, "recipe": recipe, "overrides": sets,
                                                            "epochs": epochs, "target": target})
        results[name] = res
        log(f"  final test ELBO {res['final_test_elbo']:.2f} in {res['wall_s']:.0f} s; target reached at epoch "
            f"{res['reached_epoch']} ({res['reached_s']} s)")

    rows = [["pythae (reference, 50 ep)", pythae["test_elbo"], pythae["wall_s"], "—", "1.00", "—"]]
    for name, res in results.items():
        reached = res["reached_s"]
        rows.append([f"vaekit {name} ({len(res['epochs'])} ep)", res["final_test_elbo"], res["wall_s"],
                     f"ep {res['reached_epoch']}, {reached:.0f} s" if reached else "not reached",
                     f"{res['wall_s'] / pythae['wall_s']:.2f}",
                     f"{reached / pythae['wall_s']:.2f}" if reached else "—"])
    table = md_table(["run", "test ELBO (nats)", "wall s (whole run)", "target first reached",
                      "whole run / pythae", "first reach / pythae"], rows)
    ok = [r for r in results.values() if r["final_test_elbo"] >= target and r["wall_s"] <= pythae["wall_s"] / 3]
    extra = (f"\nTarget = pythae's test ELBO after {pythae['epochs'][-1]['epoch'] if pythae.get('epochs') else '?'} epochs: "
             f"{target:.2f} nats/example (pythae's own loss on test: {pythae.get('test_elbo_pythae_loss', float('nan')):.2f}). "
             f"Goal whole vaekit run ≤ 1/3 of pythae's time with ELBO ≥ target: {'MET' if ok else 'MISSED'}.")
    print(table + "\n" + extra)
    path = save_results("time_to_quality", {"machine": machine_info(args.vaekit_python, args.threads), "args": vars(args),
                                            "pythae": pythae, "vaekit": results, "target": target,
                                            "table": table + "\n" + extra}, args.tag)
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
