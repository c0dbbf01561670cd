#!/usr/bin/env python3
"""Inpainting and imputation benchmark (issue 11): vaekit's samplers vs the imputers a user would
otherwise pick, on the same masks, in one invocation.

Images (Fashion-MNIST; --quick: digits 8x8): masked-pixel PSNR = 10 log10(1 / MSE), the MSE pooled
over every missing pixel of every scored test image (pixels in [0, 1], peak 1), for three mask
kinds: ``center`` (middle quarter), ``half`` (bottom half), ``random`` (each pixel missing with
p = 0.5, a fresh seeded mask per image). Sides:

* ``vaekit``: a run of the ``fashion`` recipe per seed (trained here, seeded), ``inpaint`` with 8
  chains per image; the score is the average of the 8 completions (the estimate of E[x_m | x_o],
  which minimises the expected squared error). The sampler (pseudo-Gibbs, 50 steps, or
  Metropolis-within-Gibbs, 200 steps) is chosen per mask kind on validation images.
* ``mean``: the per-pixel mean of the training split.
* ``knn``: scikit-learn ``KNNImputer`` (nan-Euclidean distances, uniform weights) fitted on
  ``--fit-images`` training images; k in {5, 20} chosen on validation images.
* ``iterative``: scikit-learn ``IterativeImputer`` (BayesianRidge, ``n_nearest_features=50``,
  ``max_iter=5``) fitted on ``--iter-fit-images`` training images (it fits one regression per
  pixel, so it gets fewer), output clipped to [0, 1].
* ``biharmonic``: scikit-image ``inpaint_biharmonic`` per image (no training data, no settings).

Tables (breast-cancer, 30 numeric columns): cells of the test split hidden completely at random
(MCAR) with p = 0.2 and 0.5; RMSE over the hidden cells in standardised units (each column
divided by its training sd, the run's saved preprocessing). vaekit: a default-recipe run per seed,
``impute_encoded`` with 8 chains, sampler chosen on the validation split; mean (0 in standardised
units), KNNImputer (k in {3, 5, 10} on validation) and IterativeImputer (BayesianRidge, default
settings) fitted on the training split.

Seeds: seed s trains the vaekit runs with seed s and draws the scored test images and the random
masks; every side sees the same images and masks. Mean ± sd over the seeds. Each finished
(side, seed, task) is appended at once to ``bench/results/tasks/inpaint.jsonl``; a killed run
resumes. ``--quick``: digits, 2 epochs, 60 images, 1 seed: seconds; never writes docs/tasks.md.

    python3 bench/bench_inpaint.py                 # the full benchmark -> docs/tasks.md
    python3 bench/bench_inpaint.py --quick         # toy sizes, -> bench/results/tasks/quick-inpaint.md
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from docs_sections import put_section  # noqa: E402
from harness import Stat, Store, claim, fingerprint, loadavg, log, machine_info, md_table  # noqa: E402

RESULTS = BENCH / "results" / "tasks"
DOCS = BENCH.parent / "docs" / "tasks.md"
MASKS = ("center", "half", "random")
MCAR = (0.2, 0.5)
IMAGE_SIDES = ("vaekit", "mean", "knn", "iterative", "biharmonic")
TABLE_SIDES = ("vaekit", "mean", "knn", "iterative")
VAE_METHODS = {"pseudo-gibbs": 50, "metropolis-within-gibbs": 200}


# ----------------------------------------------------------------------------- shared helpers
class Recorder:
    """A resumable results file: ``measure(side, seed, task, settings, fn)`` runs ``fn`` once per
    key and stores its dict result with the load average, wall and CPU time."""

    def __init__(self, path: Path, bench: str, quick: bool) -> None:
        self.store = Store(path)
        self.bench, self.quick = bench, quick
        self.machine = machine_info(int(os.environ.get("OMP_NUM_THREADS", "1") or 1), {"vaekit": sys.executable})
        self.fp = fingerprint(self.machine)

    def measure(self, side: str, seed: int, task: str, settings: dict[str, Any], fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        key = Store.key(self.bench, side, seed, {"task": task, **settings}, self.fp, self.quick)
        old = self.store.get(key)
        if old is not None:
            return old["result"]
        before, t0, c0 = loadavg(), time.perf_counter(), time.process_time()
        result = fn()
        rec = {"key": key, "bench": self.bench, "side": side, "seed": seed, "task": task, "settings": settings,
               "quick": self.quick, "result": result, "wall_s": time.perf_counter() - t0,
               "cpu_s": time.process_time() - c0, "load_before": before, "load_after": loadavg(),
               "machine": self.machine, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.store.append(rec)
        log(f"{self.bench} {task} {side} seed {seed}: {result}")
        return result

    def load_note(self) -> str:
        loads = [r["load_before"][0] for r in self.store.records if r.get("load_before") and r.get("bench") == self.bench]
        if not loads:
            return ""
        return (f"1-minute load average during the runs {min(loads):.1f}–{max(loads):.1f} on {self.machine['cores']} cores "
                "(timings measured under load; quality figures are unaffected)")


def train_run(out: Path, recipe: str, data: str, seed: int, epochs: int | None, overrides: list[str]) -> Path:
    """Train (or finish) a vaekit run in ``out``; a finished one (report written) is reused."""
    import vaekit

    if (out / "report.md").is_file() and (out / "model.safetensors").is_file():
        return out
    if (out / "checkpoint.safetensors").is_file():
        vaekit.train(recipe, resume=str(out), epochs=epochs)
    else:
        vaekit.train(recipe, data=data, seed=seed, epochs=epochs, out=str(out), overrides=overrides or None)
    return out


def psnr(pred: np.ndarray, truth: np.ndarray, missing: np.ndarray) -> float:
    """10 log10(1 / MSE), MSE pooled over the missing pixels (values in [0, 1])."""
    mse = float(np.mean((np.clip(pred, 0, 1)[missing] - truth[missing]) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def rmse(pred: np.ndarray, truth: np.ndarray, missing: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred[missing] - truth[missing]) ** 2)))


# ----------------------------------------------------------------------------- masks
def image_masks(kind: str, n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """(n, *shape) bool, True = observed."""
    import torch

    from vaekit.tasks.inpaint import mask_of_kind

    if kind == "random":
        gen = torch.Generator().manual_seed(10_000 + seed)
        return (torch.rand((n, *shape), generator=gen) >= 0.5).numpy()
    return np.broadcast_to(mask_of_kind(kind, shape).numpy(), (n, *shape)).copy()


# ----------------------------------------------------------------------------- image sides
def fill_images(side: str, setting: Any, x: np.ndarray, observed: np.ndarray, ctx: dict[str, Any]) -> np.ndarray:
    """Completed images (n, *shape) by one side."""
    n = x.shape[0]
    flat_x, flat_o = x.reshape(n, -1), observed.reshape(n, -1)
    if side == "mean":
        return np.where(observed, x, ctx["train_mean"][None])
    if side in ("knn", "iterative"):
        holes = np.where(flat_o, flat_x, np.nan)
        imp = ctx["imputers"][(side, setting)]
        out = imp.transform(holes)
        return np.where(flat_o, flat_x, np.clip(out, 0, 1)).reshape(x.shape)
    if side == "biharmonic":
        from skimage.restoration import inpaint_biharmonic

        out = np.empty_like(x)
        for i in range(n):
            img, hole = x[i, 0], ~observed[i, 0]
            out[i, 0] = inpaint_biharmonic(np.where(hole, 0.0, img), hole)
        return np.where(observed, x, np.clip(out, 0, 1))
    if side == "vaekit":
        import torch

        from vaekit.tasks.inpaint import inpaint_batch

        done = inpaint_batch(ctx["run"], torch.from_numpy(x), torch.from_numpy(observed), n=8, method=setting,
                             steps=VAE_METHODS[setting], seed=ctx["seed"])
        return done.mean(0).numpy()
    raise ValueError(side)


def image_imputers(train: np.ndarray, args: argparse.Namespace, seed: int) -> dict[tuple[str, Any], Any]:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer

    rng = np.random.default_rng(seed)
    flat = train.reshape(len(train), -1)
    fit = flat[rng.choice(len(flat), min(args.fit_images, len(flat)), replace=False)]
    out: dict[tuple[str, Any], Any] = {}
    for k in (5, 20):
        out[("knn", k)] = KNNImputer(n_neighbors=k).fit(fit)
    it_fit = flat[rng.choice(len(flat), min(args.iter_fit_images, len(flat)), replace=False)]
    out[("iterative", "br")] = IterativeImputer(n_nearest_features=min(50, flat.shape[1]), max_iter=5, random_state=seed,
                                                skip_complete=False).fit(it_fit)
    return out


class LazyImputers:
    """:func:`image_imputers`, fitted on first use (a resumed run whose results are all stored fits nothing)."""

    def __init__(self, train: np.ndarray, args: argparse.Namespace, seed: int) -> None:
        self.train, self.args, self.seed, self.fitted = train, args, seed, None

    def __getitem__(self, key: tuple[str, Any]) -> Any:
        if self.fitted is None:
            self.fitted = image_imputers(self.train, self.args, self.seed)
        return self.fitted[key]


def bench_images(rec: Recorder, args: argparse.Namespace, seeds: list[int],
                 scores: dict[tuple[str, str], list[float]]) -> dict[tuple[str, str], list[float]]:
    import torch

    import vaekit
    from vaekit.tasks.data import split_data

    for seed in seeds:
        if args.quick:
            run_dir = train_run(RESULTS / "runs" / f"quick-digits-seed{seed}", "vae", "digits", seed, 2, ["data.binarize=none"])
        else:
            run_dir = train_run(RESULTS / "runs" / f"fashion-seed{seed}", "fashion", "fashion-mnist", seed, None, [])
        run = vaekit.load(run_dir)
        torch.set_num_threads(1)
        xtr, _ = split_data(run, "train")
        xval, _ = split_data(run, "val")
        xte, _ = split_data(run, "test")
        rng = np.random.default_rng(seed)
        val = xval.numpy()[rng.choice(len(xval), min(args.val_images, len(xval)), replace=False)]
        test = xte.numpy()[rng.choice(len(xte), min(args.test_images, len(xte)), replace=False)]
        ctx: dict[str, Any] = {"run": run, "seed": seed, "train_mean": xtr.numpy().mean(0)}
        ctx["imputers"] = LazyImputers(xtr.numpy(), args, seed)  # fitted only if a side still has to run
        for kind in MASKS:
            o_val = image_masks(kind, len(val), run.shape, seed + 100)
            o_test = image_masks(kind, len(test), run.shape, seed)
            choices = {"vaekit": list(VAE_METHODS), "knn": [5, 20], "mean": [None], "iterative": ["br"], "biharmonic": [None]}
            for side in IMAGE_SIDES:
                options = choices[side]
                if len(options) > 1:  # choose on validation images
                    val_scores = {}
                    for opt in options:
                        r = rec.measure(side, seed, f"val-{kind}", {"setting": opt, "n": len(val)},
                                        lambda: {"split": "val", "psnr": psnr(fill_images(side, opt, val, o_val, ctx), val, ~o_val)})
                        val_scores[opt] = r["psnr"]
                    best = max(val_scores, key=val_scores.get)
                else:
                    best = options[0]
                r = rec.measure(side, seed, f"test-{kind}", {"setting": best, "n": len(test)},
                                lambda: {"split": "test", "psnr": psnr(fill_images(side, best, test, o_test, ctx), test, ~o_test),
                                         "setting": best})
                scores.setdefault((side, kind), []).append(r["psnr"])
    return scores


# ----------------------------------------------------------------------------- table sides
def fill_table(side: str, setting: Any, x: np.ndarray, observed: np.ndarray, ctx: dict[str, Any]) -> np.ndarray:
    if side == "mean":
        return np.where(observed, x, 0.0)  # standardised with the training split: its mean is 0
    if side in ("knn", "iterative"):
        out = ctx["imputers"][(side, setting)].transform(np.where(observed, x, np.nan))
        return np.where(observed, x, out)
    if side == "vaekit":
        import torch

        from vaekit.tasks.impute import impute_encoded

        xt, ot = torch.from_numpy(x).float(), torch.from_numpy(observed)
        filled, _ = impute_encoded(ctx["run"], torch.where(ot, xt, torch.zeros_like(xt)), ot, n=8, method=setting,
                                   steps=VAE_METHODS[setting], seed=ctx["seed"])
        return filled.numpy()
    raise ValueError(side)


def bench_tables(rec: Recorder, args: argparse.Namespace, seeds: list[int],
                 scores: dict[tuple[str, float], list[float]]) -> dict[tuple[str, float], list[float]]:
    import torch

    import vaekit
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer
    from vaekit.tasks.data import split_data

    for seed in seeds:
        epochs = 5 if args.quick else None
        run_dir = train_run(RESULTS / "runs" / f"{'quick-' if args.quick else ''}breast-cancer-seed{seed}", "vae",
                            "breast-cancer", seed, epochs, [])
        run = vaekit.load(run_dir)
        torch.set_num_threads(1)
        xtr, xval, xte = (split_data(run, s)[0].numpy().astype(np.float64) for s in ("train", "val", "test"))
        ctx: dict[str, Any] = {"run": run, "seed": seed, "imputers": {}}
        for k in (3, 5, 10):
            ctx["imputers"][("knn", k)] = KNNImputer(n_neighbors=k).fit(xtr)
        ctx["imputers"][("iterative", "br")] = IterativeImputer(max_iter=10, random_state=seed).fit(xtr)
        choices = {"vaekit": list(VAE_METHODS), "knn": [3, 5, 10], "mean": [None], "iterative": ["br"]}
        for p in MCAR:
            o_val = np.random.default_rng(500 + seed).random(xval.shape) >= p
            o_test = np.random.default_rng(seed).random(xte.shape) >= p
            for side in TABLE_SIDES:
                options = choices[side]
                if len(options) > 1:
                    val_scores = {}
                    for opt in options:
                        r = rec.measure(side, seed, f"val-mcar{p}", {"setting": opt},
                                        lambda: {"split": "val", "rmse": rmse(fill_table(side, opt, xval, o_val, ctx), xval, ~o_val)})
                        val_scores[opt] = r["rmse"]
                    best = min(val_scores, key=val_scores.get)
                else:
                    best = options[0]
                r = rec.measure(side, seed, f"test-mcar{p}", {"setting": best},
                                lambda: {"split": "test", "rmse": rmse(fill_table(side, best, xte, o_test, ctx), xte, ~o_test),
                                         "setting": best})
                scores.setdefault((side, p), []).append(r["rmse"])
    return scores


# ----------------------------------------------------------------------------- report
NAMES = {"vaekit": "vaekit inpaint / impute (mean of 8 chains)", "mean": "mean fill", "knn": "KNNImputer",
         "iterative": "IterativeImputer", "biharmonic": "skimage inpaint_biharmonic"}


def render(images: dict, tables: dict, rec: Recorder, args: argparse.Namespace, command: str) -> str:
    img_rows, goal_img = [], []
    for side in IMAGE_SIDES:
        img_rows.append([NAMES[side], *(Stat.of(images[(side, k)]).fmt(2) for k in MASKS)])
    for k in MASKS:
        best_peer = max((s for s in IMAGE_SIDES if s != "vaekit"), key=lambda s: Stat.of(images[(s, k)]).mean)
        verdict = claim(Stat.of(images[("vaekit", k)]), Stat.of(images[(best_peer, k)]), b_name=NAMES[best_peer])
        goal_img.append([k, NAMES[best_peer], verdict])
    tab_rows, goal_tab = [], []
    for side in TABLE_SIDES:
        tab_rows.append([NAMES[side], *(Stat.of(tables[(side, p)]).fmt(3) for p in MCAR)])
    for p in MCAR:
        best_peer = min((s for s in TABLE_SIDES if s != "vaekit"), key=lambda s: Stat.of(tables[(s, p)]).mean)
        verdict = claim(Stat.of(tables[("vaekit", p)]), Stat.of(tables[(best_peer, p)]), b_name=NAMES[best_peer],
                        higher_is_better=False)
        goal_tab.append([f"MCAR {p:.0%}", NAMES[best_peer], verdict])
    chosen = sorted({(r["task"], r["result"].get("setting")) for r in rec.store.records
                     if r.get("bench") == rec.bench and r.get("side") == "vaekit" and r["task"].startswith("test-")
                     and r.get("quick") == args.quick}, key=str)
    data = "digits (8x8, --quick)" if args.quick else "Fashion-MNIST"
    done = min(len(v) for v in images.values())
    partial = "" if done >= args.seeds else f" — **partial: {done} of {args.seeds} seeds finished so far; no claim is made with fewer than 2 seeds per side**"
    lines = [
        f"Command: `{command}` ({done} seed(s){partial}; {args.test_images} test images and {args.val_images} validation "
        f"images per seed; {rec.load_note()}).",
        "",
        f"**Images ({data}): masked-pixel PSNR in dB (higher is better), mean ± sd over seeds**",
        "",
        md_table(["side", *MASKS], img_rows),
        "",
        md_table(["mask", "best peer", "vaekit vs best peer (claim rule: difference of means > sd_a + sd_b)"], goal_img),
        "",
        "**Breast-cancer (test split, MCAR cells): RMSE over the hidden cells in standardised units (lower is better)**",
        "",
        md_table(["side", *(f"MCAR {p:.0%}" for p in MCAR)], tab_rows),
        "",
        md_table(["cells", "best peer", "vaekit vs best peer"], goal_tab),
        "",
        "Sampler chosen on validation (per seed): " + ", ".join(f"{t.removeprefix('test-')}: {s}" for t, s in chosen) + ".",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="toy sizes (digits, 2 epochs), seconds; never writes docs/tasks.md")
    p.add_argument("--seeds", type=int, default=None, help="seeds (default 3; --quick 1)")
    p.add_argument("--test-images", type=int, default=None, help="scored test images per seed (default 500; --quick 60)")
    p.add_argument("--val-images", type=int, default=None, help="validation images for the choices (default 200; --quick 40)")
    p.add_argument("--fit-images", type=int, default=10_000, help="training images KNNImputer is fitted on")
    p.add_argument("--iter-fit-images", type=int, default=2_000, help="training images IterativeImputer is fitted on")
    p.add_argument("--results", type=Path, default=None, help="JSONL results file")
    p.add_argument("--docs", type=Path, default=None, help="markdown file whose <!-- bench:inpaint --> block is rewritten")
    args = p.parse_args(argv)
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.test_images = args.test_images or (60 if args.quick else 500)
    args.val_images = args.val_images or (40 if args.quick else 200)
    results = args.results or RESULTS / ("quick-inpaint.jsonl" if args.quick else "inpaint.jsonl")
    docs = args.docs or (RESULTS / "quick-inpaint.md" if args.quick else DOCS)
    rec = Recorder(results, "inpaint", args.quick)
    command = "python3 bench/bench_inpaint.py" + (" --quick" if args.quick else "") + (
        f" --seeds {args.seeds}" if args.seeds != (1 if args.quick else 3) else "")
    images: dict[tuple[str, str], list[float]] = {}
    tables: dict[tuple[str, float], list[float]] = {}
    for seed in range(args.seeds):  # one whole seed at a time: a killed run leaves a table of whole seeds
        bench_images(rec, args, [seed], images)
        bench_tables(rec, args, [seed], tables)
        body = render(images, tables, rec, args, command)
        put_section(docs, "inpaint", body)
    print(body)
    print(f"\nWrote {docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
