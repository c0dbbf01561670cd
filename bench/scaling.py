"""How vaekit's training cost grows: seconds per epoch and peak RSS vs data size, width, latent size.

    python3 bench/scaling.py                 # reference-mlp, 2 epochs per point (the 2nd is timed)
    python3 bench/scaling.py --epochs 1      # quicker (first epoch includes warm-up)

One axis varies at a time around the reference model (54k examples, hidden [512,256], latent 16).
Writes bench/results/scaling.json and bench/results/scaling.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import RESULTS, add_common_args, log, machine_info, md_table, run_worker, save_results

AXES = {
    "train examples": [("10k", ["data.limit=10000"]), ("20k", ["data.limit=20000"]), ("40k", ["data.limit=40000"]),
                       ("54k (all)", [])],
    "hidden": [("[256,128]", ["model.hidden=[256,128]"]), ("[512,256]", []), ("[1024,512]", ["model.hidden=[1024,512]"])],
    "latent": [("8", ["model.latent_dim=8"]), ("16", []), ("64", ["model.latent_dim=64"])],
}


def plot(results: dict, threads: int, epochs: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for j, (axis, pts) in enumerate(results.items()):
        labels = [p["label"] for p in pts]
        for i, (key, title, style) in enumerate([("seconds_per_epoch", "s / epoch", "o-"), ("peak_rss_mb", "peak RSS (MB)", "s-")]):
            values = [p[key] for p in pts]
            a = axes[i, j]
            a.plot(labels, values, style, color=f"C{i}")
            a.set_title(f"{title} vs {axis}")
            a.grid(alpha=0.3)
            a.set_ylim(0, 1.15 * max(values))
    fig.suptitle(f"vaekit reference-mlp scaling ({threads} thread(s); epoch {epochs} of {epochs} timed)")
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "scaling.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--plot-only", type=Path, help="re-draw results/scaling.png from a scaling JSON")
    args = ap.parse_args()
    if args.plot_only:
        data = json.loads(args.plot_only.read_text())
        plot(data["results"], data["args"]["threads"], data["args"]["epochs"])
        return

    cache: dict[str, dict] = {}
    results: dict[str, list] = {}
    rows = []
    for axis, points in AXES.items():
        results[axis] = []
        for label, sets in points:
            key = ",".join(sets) or "reference"
            if key not in cache:
                log(f"{axis} = {label}")
                cache[key] = run_worker(args.vaekit_python, "vaekit_epoch",
                                        {"threads": args.threads, "epochs": args.epochs, "overrides": sets})
            res = cache[key]
            last = res["epochs"][-1]
            point = {"label": label, "overrides": sets, "seconds_per_epoch": last["seconds"],
                     "samples_per_s": last["samples_per_s"], "peak_rss_mb": res["peak_rss_mb"], "params": res["params"],
                     "loadavg_end": res["loadavg_end"]}
            results[axis].append(point)
            rows.append([axis, label, res["params"], last["seconds"], last["samples_per_s"], res["peak_rss_mb"]])
    table = md_table(["axis", "value", "params", "s / epoch", "samples/s", "peak RSS MB"], rows)
    print(table)

    plot(results, args.threads, args.epochs)
    path = save_results("scaling", {"machine": machine_info(args.vaekit_python, args.threads), "args": vars(args),
                                    "results": results, "table": table}, args.tag)
    log(f"wrote {path} and {RESULTS / 'scaling.png'}")


if __name__ == "__main__":
    main()
