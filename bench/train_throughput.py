"""Training throughput: vaekit `reference-mlp` vs pythae 0.1.2 with the identical model.

    python3 bench/train_throughput.py            # 3 alternating repeats, 1 warm-up + 2 timed epochs
    python3 bench/train_throughput.py --limit 10000 --repeats 1   # quick check

Each repeat runs every system in its own fresh process; the order alternates between repeats.
Throughput = training-loop samples/s over the timed epochs (evaluation, checkpointing and start-up
excluded on both sides); the end-to-end wall time of the whole training call is reported too.
Also measures the fp32 matmul roofline (2048x2048 torch.matmul, same thread count) and the
fraction of it the training reaches (6 x params FLOPs per sample: forward + backward).
"""

from __future__ import annotations

import argparse

from common import (add_common_args, log, machine_info, md_table, median, run_worker, save_results)


def timed(epochs: list[dict], warmup: int) -> tuple[float, float]:
    """(samples/s over the timed epochs, seconds per timed epoch)."""
    kept = epochs[warmup:] or epochs
    samples = sum(e["samples_per_s"] * e["seconds"] for e in kept)
    seconds = sum(e["seconds"] for e in kept)
    return samples / seconds, seconds / len(kept)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per run (default 2)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed warm-up epochs per run (default 1)")
    ap.add_argument("--limit", type=int, default=None, help="use only this many training examples")
    ap.add_argument("--plain", action="store_true", help="also time a hand-written PyTorch loop (context)")
    args = ap.parse_args()

    total_epochs = args.epochs + args.warmup
    systems = {
        "vaekit": (args.vaekit_python, "vaekit_train",
                   {"threads": args.threads, "epochs": total_epochs, "recipe": "reference-mlp",
                    "overrides": [f"data.limit={args.limit}"] if args.limit else []}),
        "pythae": (args.pythae_python, "pythae_train",
                   {"threads": args.threads, "epochs": total_epochs, "limit": args.limit}),
    }
    if args.plain:
        systems["plain-pytorch"] = (args.vaekit_python, "plain_train", {"threads": args.threads, "epochs": total_epochs})

    roof = []
    raw: dict[str, list[dict]] = {k: [] for k in systems}
    names = list(systems)
    roof.append(run_worker(args.vaekit_python, "roofline", {"threads": args.threads}))
    for r in range(args.repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            py, task, targs = systems[name]
            log(f"repeat {r + 1}/{args.repeats}: {name}")
            res = run_worker(py, task, targs)
            res["samples_per_s_timed"], res["seconds_per_epoch_timed"] = timed(res["epochs"], args.warmup)
            raw[name].append(res)
            log(f"  {res['samples_per_s_timed']:,.0f} samples/s (load {res['loadavg_end'][0]:.1f})")
    roof.append(run_worker(args.vaekit_python, "roofline", {"threads": args.threads}))

    roof_gflops = median([x["best_gflops"] for x in roof])
    params = raw["vaekit"][0]["params"]
    flops_per_sample = 6 * params
    rows, summary = [], {}
    base = median([x["samples_per_s_timed"] for x in raw["pythae"]])
    for name in names:
        sps = [x["samples_per_s_timed"] for x in raw[name]]
        med = median(sps)
        cpu_per_sample = median([x["cpu_s"] / (total_epochs * (args.limit or 54000)) * 1e6 for x in raw[name]])
        wall = median([x.get("wall_s", float("nan")) for x in raw[name]])
        frac = med * flops_per_sample / (roof_gflops * 1e9)
        summary[name] = {"median_samples_per_s": med, "all_samples_per_s": sps, "ratio_vs_pythae": med / base,
                         "roofline_fraction": frac, "median_wall_s": wall, "median_peak_rss_mb":
                         median([x["peak_rss_mb"] for x in raw[name]])}
        rows.append([name, med, f"{min(sps):,.0f}–{max(sps):,.0f}", f"{med / base:.2f}×", f"{100 * frac:.1f}%",
                     wall, cpu_per_sample])
    table = md_table(["system", "median samples/s", "range", "vs pythae", "of matmul roofline",
                      f"wall s ({total_epochs} ep, whole call)", "CPU µs/sample (all threads, whole process)"], rows)
    extra = (f"\nfp32 matmul roofline ({roof[0]['n']}², {roof[0]['threads']} threads): {roof_gflops:.1f} GFLOP/s "
             f"(best of 10, median of before/after runs); FLOPs per training sample = 6 × {params:,} params = "
             f"{flops_per_sample / 1e6:.2f} MFLOP.\n"
             f"Goal vaekit ≥ 1.3× pythae: {'MET' if summary['vaekit']['ratio_vs_pythae'] >= 1.3 else 'MISSED'} "
             f"({summary['vaekit']['ratio_vs_pythae']:.2f}×).")
    print(table + "\n" + extra)
    path = save_results("train_throughput", {"machine": machine_info(args.vaekit_python, args.threads), "args": vars(args),
                                             "roofline": roof, "flops_per_sample": flops_per_sample, "summary": summary,
                                             "raw": raw, "table": table + "\n" + extra}, args.tag)
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
