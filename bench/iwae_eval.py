"""IWAE NLL (k=1000) on Fashion-MNIST test images: vaekit evaluate vs pythae `get_nll`, same weights.

    python3 bench/iwae_eval.py                      # trains reference-mlp 3 epochs, 1000 images, 3 repeats
    python3 bench/iwae_eval.py --run runs/X --n 200 # use an existing vaekit reference-mlp run

The vaekit-trained reference weights are copied into the identical pythae model (the posterior
head's 32 outputs split into pythae's mu / log-variance layers; decoder logits -> sigmoid), so both
estimate -log p(x) of the same model. pythae's get_nll returns the mean *log*-likelihood (negative);
its NLL is minus that. pythae is called under torch.no_grad() (its get_nll does not disable autograd
itself) with batch_size = k, its fastest setting (one decoder pass of k samples per image).
FLOPs per image: k decoder forwards + one encoder forward (what vaekit executes); pythae repeats the
encoder k times, so the `k x (encoder + decoder)` count is given too.
"""

from __future__ import annotations

import argparse
import tempfile

from common import add_common_args, log, machine_info, md_table, median, run_worker, save_results

ENC_FWD = 2 * (784 * 512 + 512 * 256 + 256 * 32)
DEC_FWD = 2 * (16 * 256 + 256 * 512 + 512 * 784)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--run", default=None, help="existing vaekit reference-mlp run dir (else one is trained)")
    ap.add_argument("--train-epochs", type=int, default=3)
    ap.add_argument("--n", type=int, default=1000, help="test images")
    ap.add_argument("--k", type=int, default=1000, help="importance samples")
    ap.add_argument("--pythae-batch-size", type=int, default=None, help="get_nll batch_size (default k)")
    ap.add_argument("--vaekit-chunk", type=int, default=None, help="evaluate_run chunk (default: vaekit's own)")
    ap.add_argument("--vaekit-batch-size", type=int, default=None, help="evaluate_run batch_size (default: vaekit's own)")
    args = ap.parse_args()

    tmp = None
    run = args.run
    if run is None:
        tmp = tempfile.TemporaryDirectory()
        run = f"{tmp.name}/ref"
        log(f"training reference-mlp for {args.train_epochs} epochs into {run} ...")
        code = (f"import torch; torch.set_num_threads({args.threads}); from vaekit.api import train; "
                f"train('reference-mlp', epochs={args.train_epochs}, out={run!r}, echo=None, progress=False, report=False, "
                f"overrides=['train.threads={args.threads}'])")
        import subprocess

        subprocess.run([args.vaekit_python, "-c", code], check=True)
    roof = run_worker(args.vaekit_python, "roofline", {"threads": args.threads})["best_gflops"]
    systems = {
        "vaekit": (args.vaekit_python, "vaekit_iwae", {"threads": args.threads, "run": run, "n": args.n, "k": args.k,
                                                       "chunk": args.vaekit_chunk, "batch_size": args.vaekit_batch_size}),
        "pythae": (args.pythae_python, "pythae_iwae", {"threads": args.threads, "run": run, "n": args.n, "k": args.k,
                                                       "batch_size": args.pythae_batch_size or args.k, "no_grad": True}),
    }
    raw: dict[str, list] = {k: [] for k in systems}
    names = list(systems)
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            py, task, targs = systems[name]
            log(f"repeat {r + 1}/{args.repeats}: {name}")
            res = run_worker(py, task, dict(targs, seed=r))
            raw[name].append(res)
            log(f"  {res['images_per_s']:.1f} images/s, NLL {res['nll']:.2f} (load {res['loadavg_end'][0]:.1f})")

    useful = args.k * DEC_FWD + ENC_FWD
    naive = args.k * (DEC_FWD + ENC_FWD)
    base = median([x["images_per_s"] for x in raw["pythae"]])
    rows, summary = [], {}
    for name in names:
        ips = [x["images_per_s"] for x in raw[name]]
        med = median(ips)
        nll = median([x["nll"] for x in raw[name]])
        summary[name] = {"median_images_per_s": med, "all": ips, "median_nll": nll, "ratio_vs_pythae": med / base,
                         "roofline_fraction_executed": med * useful / (roof * 1e9),
                         "roofline_fraction_naive": med * naive / (roof * 1e9)}
        rows.append([name, med, f"{min(ips):.1f}–{max(ips):.1f}", f"{med / base:.2f}×", nll,
                     f"{100 * summary[name]['roofline_fraction_executed']:.1f}%",
                     f"{100 * summary[name]['roofline_fraction_naive']:.1f}%"])
    table = md_table(["system", "median images/s", "range", "vs pythae", "IWAE NLL (nats)",
                      "roofline (k·dec + enc FLOPs)", "roofline (k·(enc+dec) FLOPs)"], rows)
    diff = summary["vaekit"]["median_nll"] - summary["pythae"]["median_nll"]
    extra = (f"\nk={args.k}, {args.n} test images, same weights; roofline {roof:.1f} GFLOP/s; "
             f"NLL difference vaekit - pythae = {diff:+.3f} nats. "
             f"Goal ≥ 2.5×: {'MET' if summary['vaekit']['ratio_vs_pythae'] >= 2.5 else 'MISSED'} "
             f"({summary['vaekit']['ratio_vs_pythae']:.2f}×).")
    print(table + "\n" + extra)
    path = save_results("iwae_eval", {"machine": machine_info(args.vaekit_python, args.threads), "args": vars(args),
                                      "roofline_gflops": roof, "flops_per_image_executed": useful,
                                      "flops_per_image_naive": naive, "summary": summary, "raw": raw,
                                      "table": table + "\n" + extra}, args.tag)
    log(f"wrote {path}")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
