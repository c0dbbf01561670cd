#!/usr/bin/env python3
"""Restyling benchmark (issue 11): does ``vaekit restyle`` (a cvae run: keep the input's z, decode
with another label) produce the target class, and how much of the input's style is kept?

Per seed: a ``cvae`` run on Fashion-MNIST (grey pixels, ``data.binarize=none``, --epochs, seeded)
and, as the judge, a scikit-learn ``LogisticRegression`` trained here on the run's training split
(pixels in [0, 1]; its own test accuracy is reported next to the figures — a vaekit classifier
stage arrives with issue 10). The first --n test images are each restyled to a seeded random
*other* class.

* **target rate** (%): restyled images the judge labels as the target class. Goal ≥ 90 %.
* **style kept**: cosine similarity between the input's code z = E_q[z | x, y] and the restyled
  image's code E_q[z | x', target]; **chance** is the same similarity against the code of another,
  random input (a value near chance would mean the style was lost).

``--quick``: digits, 15 epochs, 1 seed: seconds; never writes docs/tasks.md.

    python3 bench/bench_blend.py
    python3 bench/bench_blend.py --quick
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from docs_sections import put_section  # noqa: E402
from bench_inpaint import DOCS, RESULTS, Recorder, train_run  # noqa: E402
from harness import Stat, md_table  # noqa: E402


def measure(run_dir: Path, n: int, seed: int) -> dict[str, Any]:
    import torch
    from sklearn.linear_model import LogisticRegression

    import vaekit
    from vaekit.tasks.blend import codes, restyle
    from vaekit.tasks.data import split_data

    torch.set_num_threads(1)
    run = vaekit.load(run_dir)
    xtr, ytr = split_data(run, "train")
    judge = LogisticRegression(max_iter=300).fit(xtr.reshape(len(xtr), -1).numpy(), ytr.numpy())
    x, y = split_data(run, "test")
    judge_acc = 100 * judge.score(x.reshape(len(x), -1).numpy(), y.numpy())
    n = min(n, len(x))
    x, y = x[:n], y[:n]
    k = run.model.cond_dim
    gen = torch.Generator().manual_seed(seed)
    target = (y + torch.randint(1, k, y.shape, generator=gen)) % k  # never the input's own class
    out = restyle(run, x, y, target)
    rate = 100 * float((judge.predict(out.reshape(n, -1).numpy()) == target.numpy()).mean())
    z_in, z_out = codes(run, x, y), codes(run, out, target)
    other = z_in[torch.randperm(n, generator=gen)]
    cos = torch.nn.functional.cosine_similarity
    return {"split": "test", "target_rate": rate, "style_kept": float(cos(z_in, z_out).mean()),
            "chance": float(cos(other, z_out).mean()), "judge_accuracy": judge_acc, "n": n}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=None, help="default 3 (--quick 1)")
    p.add_argument("--epochs", type=int, default=None, help="cvae epochs (default 20; --quick 15)")
    p.add_argument("--n", type=int, default=1000, help="test images restyled per seed (default 1000)")
    p.add_argument("--results", type=Path, default=None)
    p.add_argument("--docs", type=Path, default=None)
    args = p.parse_args(argv)
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.epochs = args.epochs or (15 if args.quick else 20)
    data = "digits" if args.quick else "fashion-mnist"
    rec = Recorder(args.results or RESULTS / ("quick-blend.jsonl" if args.quick else "blend.jsonl"), "blend", args.quick)
    docs = args.docs or (RESULTS / "quick-blend.md" if args.quick else DOCS)
    got: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        run_dir = train_run(RESULTS / "runs" / f"{'quick-' if args.quick else ''}cvae-{data}-seed{seed}", "cvae", data, seed,
                            args.epochs, ["data.binarize=none"])
        r = rec.measure("vaekit", seed, "restyle", {"epochs": args.epochs, "n": args.n, "data": data},
                        lambda: measure(run_dir, args.n, seed))
        for key in ("target_rate", "style_kept", "chance", "judge_accuracy", "n"):
            got.setdefault(key, []).append(r[key])
    s = {k: Stat.of(v) for k, v in got.items()}
    verdict = "MET" if s["target_rate"].n >= 3 and s["target_rate"].mean - s["target_rate"].sd >= 90 else (
        "not judged (fewer than 3 seeds)" if s["target_rate"].n < 3 else "MISSED")
    body = "\n".join([
        f"Command: `python3 bench/bench_blend.py{' --quick' if args.quick else ''}` ({s['target_rate'].n} seed(s), "
        f"{int(got['n'][0])} {data} test images each; {rec.load_note()}).", "",
        md_table(["measure", "value (mean ± sd over seeds)"], [
            ["restyled images labelled as the target class (%)", s["target_rate"].fmt(1)],
            ["style kept: cos(z_input, z_restyled)", s["style_kept"].fmt(3)],
            ["chance: cos(z_other input, z_restyled)", s["chance"].fmt(3)],
            ["the judge's own test accuracy on real images (%)", s["judge_accuracy"].fmt(1)],
        ]), "",
        f"Goal: ≥ 90 % labelled as the target class: **{verdict}**.",
    ])
    put_section(docs, "blend", body)
    print(body)
    print(f"\nWrote {docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
