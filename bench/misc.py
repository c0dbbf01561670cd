"""Small measurements: prior sampling, CLI/import start-up, peak memory of a training run.

    python3 bench/misc.py              # all parts
    python3 bench/misc.py --skip-rss   # without the (1-epoch) training runs

* prior sampling: z ~ N(0, I) -> decoder mean, N images (vaekit `model.sample`, pythae NormalSampler)
  on the same weights (a 1-epoch reference-mlp run), alternating, medians.
* `vaekit --help` wall time (subprocess, median of --startup-runs), `python -c "import vaekit"`,
  `python -c "import torch"`, `python -c "import pythae"` and the bare interpreter for reference.
* peak RSS (ru_maxrss of the worker process) of a 1-epoch Fashion-MNIST training run, both systems.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time

from common import add_common_args, log, machine_info, md_table, median, run_worker, save_results


def wall_of(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--n", type=int, default=10000, help="images to sample")
    ap.add_argument("--startup-runs", type=int, default=7)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--rss-epochs", type=int, default=1)
    args = ap.parse_args()
    out: dict = {"machine": machine_info(args.vaekit_python, args.threads), "args": vars(args)}
    sections = []

    # --- start-up ---------------------------------------------------------------------------
    from pathlib import Path

    # the console script next to the interpreter (not a version-manager shim, which adds its own start-up)
    beside = Path(args.vaekit_python).parent / "vaekit"
    vaekit_cli = str(beside) if beside.exists() else (shutil.which("vaekit") or "vaekit")
    out["vaekit_cli"] = vaekit_cli
    cmds = {
        "vaekit --help": [vaekit_cli, "--help"],
        "python -c 'import vaekit'": [args.vaekit_python, "-c", "import vaekit"],
        "python -c 'import torch'": [args.vaekit_python, "-c", "import torch"],
        "python -c 'import pythae'": [args.pythae_python, "-c", "import pythae"],  # imports no submodule
        "python -c 'from pythae.models import VAE'": [args.pythae_python, "-c", "from pythae.models import VAE"],
        "python -c 'pass' (interpreter)": [args.vaekit_python, "-c", "pass"],
    }
    startup = {}
    for name, cmd in cmds.items():
        wall_of(cmd, 1)  # warm the page cache
        startup[name] = wall_of(cmd, args.startup_runs)
        log(f"{name}: {median(startup[name]):.3f} s")
    out["startup"] = startup
    help_med = median(startup["vaekit --help"])
    sections.append(md_table(["command", f"median wall s ({args.startup_runs} runs)", "min", "max"],
                             [[k, median(v), min(v), max(v)] for k, v in startup.items()])
                    + f"\n\nGoal `vaekit --help` ≤ 0.3 s: {'MET' if help_med <= 0.3 else 'MISSED'} ({help_med:.3f} s).")

    # --- prior sampling ---------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        run = f"{tmp}/ref"
        code = (f"import torch; torch.set_num_threads({args.threads}); from vaekit.api import train; "
                f"train('reference-mlp', epochs=1, out={run!r}, echo=None, progress=False, report=False, "
                f"overrides=['train.threads={args.threads}', 'data.limit=5000'])")
        subprocess.run([args.vaekit_python, "-c", code], check=True)
        systems = {"vaekit": (args.vaekit_python, "vaekit_sample", {"threads": args.threads, "run": run, "n": args.n}),
                   "pythae": (args.pythae_python, "pythae_sample",
                              {"threads": args.threads, "run": run, "n": args.n, "batch_size": 500})}
        raw = {k: [] for k in systems}
        for r in range(args.repeats):
            for name in list(systems) if r % 2 == 0 else list(systems)[::-1]:
                py, task, targs = systems[name]
                raw[name].append(run_worker(py, task, targs))
        out["sampling"] = raw
    base = median([x["images_per_s"] for x in raw["pythae"]])
    sections.append(md_table(["system", f"median images/s (N={args.n})", "vs pythae"],
                             [[k, median([x["images_per_s"] for x in v]),
                               f"{median([x['images_per_s'] for x in v]) / base:.2f}×"] for k, v in raw.items()])
                    + "\n\n(pythae: NormalSampler.sample(batch_size=500); vaekit: model.sample(N) in one call.)")

    # --- peak RSS of a training run ----------------------------------------------------------
    if not args.skip_rss:
        rss = {"vaekit": [], "pythae": []}
        for r in range(max(1, min(args.repeats, 2))):
            for name in ["vaekit", "pythae"] if r % 2 == 0 else ["pythae", "vaekit"]:
                if name == "vaekit":
                    res = run_worker(args.vaekit_python, "vaekit_train", {"threads": args.threads, "epochs": args.rss_epochs})
                else:
                    res = run_worker(args.pythae_python, "pythae_train", {"threads": args.threads, "epochs": args.rss_epochs})
                rss[name].append(res["peak_rss_mb"])
                log(f"{name}: peak RSS {res['peak_rss_mb']:.0f} MB")
        out["peak_rss_mb"] = rss
        sections.append(md_table(["system", f"peak RSS MB ({args.rss_epochs}-epoch Fashion-MNIST run, median)", "runs"],
                                 [[k, median(v), ", ".join(f"{x:.0f}" for x in v)] for k, v in rss.items()]))

    text = "\n\n".join(sections)
    print(text)
    out["table"] = text
    log(f"wrote {save_results('misc', out, args.tag)}")


if __name__ == "__main__":
    main()
