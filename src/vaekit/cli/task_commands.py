"""CLI parsers for the jobs over a trained run: inpaint, impute, anomaly, blend, augment (issue 11).

Parsing stays torch-free (``vaekit --help`` is instant): handlers import what they need when run."""

from __future__ import annotations

import argparse
from typing import Any, Callable


def _handler(name: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports :mod:`vaekit.cli.task_handlers` (and torch) only when it runs."""

    def run(args: argparse.Namespace) -> int:
        from vaekit.cli import task_handlers

        return getattr(task_handlers, name)(args)

    return run


def _sampler_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default="pseudo-gibbs", choices=["pseudo-gibbs", "metropolis-within-gibbs", "mwg"],
                   help="pseudo-gibbs (Rezende et al. 2014; default) or metropolis-within-gibbs / mwg (Mattei & "
                        "Frellsen 2018: the encoder as a Metropolis-Hastings proposal, exact in the limit)")
    p.add_argument("--steps", type=int, metavar="T", help="sampler steps (default 50 pseudo-gibbs, 200 metropolis-within-gibbs)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the chains (default 0)")


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
             add_run: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's subcommands to ``sub``; ``add_run`` adds the run-directory and --device arguments."""
    p: Any = sub.add_parser(
        "inpaint", help="fill the missing part of an image (or vector): several completions, observed pixels kept",
        description="Inpainting with a trained run: the pixels outside the mask are kept exactly, the ones inside are "
                    "filled by n independent chains. The input is a picture (.png/.jpg, the run's size), a .npy "
                    "array (the run's data shape, values as the model sees them, e.g. [0, 1]) or --index I of "
                    "the test split. The region to fill is --mask FILE (white / nonzero / True = fill, like "
                    "OpenCV's inpainting masks) or --mask-kind center | half | random[:p].")
    add_run(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="IMG|NPY", help="the example to complete (.png, .jpg or .npy)")
    src.add_argument("--index", type=int, metavar="I", help="use example I of the --split instead of a file")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="split for --index (default test)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--mask", metavar="IMG|NPY", help="the region to fill: white / nonzero / True = fill")
    which.add_argument("--mask-kind", metavar="center|half|random[:p]",
                       help="a built-in mask: center (the middle quarter), half (the bottom half), random:p (each "
                            "pixel missing with probability p, default 0.5, seeded by --seed)")
    p.add_argument("-n", type=int, default=8, help="number of completions (default 8)")
    p.add_argument("--label", metavar="L", help="conditional runs: the example's class (index or name)")
    _sampler_args(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.png|.npy",
                   help=".png: one row (original if known, masked input with the hole grey, then the n completions); "
                        ".npy: the completions (n, *shape)")
    p.set_defaults(func=_handler("inpaint"))

    p = sub.add_parser(
        "impute", help="fill the missing cells (empty, NA, NaN, ?) of a table, other cells kept as written",
        description="Tabular imputation with a run trained on a table (csv:PATH, breast-cancer; complete rows, or rows "
                    "with missing cells under --recipe miwae). DATA.csv has the "
                    "run's columns (header row; a label column is passed through); missing cells are empty or "
                    "NA, N/A, NaN, null, none, ?, - (any case). Cells are encoded with the run's saved "
                    "preprocessing, filled with E[x_m | x_o] estimated by importance sampling (MIWAE sec. 4; the "
                    "default for runs trained with data.missing=mask) or by the average of -n chains' decoder means "
                    "(categorical: the most probable category) and written in the original units; every other cell "
                    "is copied as written.")
    add_run(p)
    p.add_argument("data", metavar="DATA.csv", help="the table with missing cells")
    p.add_argument("-n", type=int, default=None,
                   help="importance draws per row (default 1000) or chains averaged per row (default 8)")
    p.add_argument("--method", default=None, choices=["importance", "pseudo-gibbs", "metropolis-within-gibbs", "mwg"],
                   help="importance (Mattei & Frellsen 2019, sec. 4: sum_k w_k E[x_m|z_k] with self-normalised weights "
                        "w_k ∝ p(x_o|z_k)p(z_k)/q(z_k|x_o); the default for runs trained with data.missing=mask), "
                        "pseudo-gibbs (Rezende et al. 2014; the default otherwise) or metropolis-within-gibbs / mwg "
                        "(Mattei & Frellsen 2018)")
    p.add_argument("--steps", type=int, metavar="T", help="chain steps (default 50 pseudo-gibbs, 200 metropolis-within-gibbs)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the draws (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.csv", help="where to write the filled table")
    p.set_defaults(func=_handler("impute"))

    p = sub.add_parser(
        "anomaly", help="anomaly scores of a split (IW-k NLL, recon, likelihood ratio) -> CSV; AUROC/AUPRC with labels",
        description="Score examples with a trained run: higher = more anomalous, nats per example. Data go through the "
                    "run's saved preprocessing (never re-fitted). Scores: iwae (importance-weighted -log p(x), k "
                    "samples; default), elbo (-ELBO), recon (-log p(x|z=E[z|x])), excess (iwae minus -log p(x|x), the input's binary entropy under a "
                    "Bernoulli decoder: removes the input-complexity confound, Serra et al. 2020), ratio (Ren et al. 2019: iwae "
                    "minus the iwae of a --background run trained on perturbed inputs). With --normal L,... the "
                    "examples whose label is listed are normal and the others anomalous; with --ood every example "
                    "of --data is an anomaly and the run's own --split is scored with them as the normal set; "
                    "either way AUROC and AUPRC (anomaly = positive) are printed.")
    add_run(p)
    p.add_argument("--data", metavar="NAME", help="score another dataset of the same shape (default: the run's own)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split (default test)")
    p.add_argument("--score", default="iwae", choices=["iwae", "elbo", "recon", "excess", "ratio"],
                   help="the score (default iwae; excess = iwae minus the input's Bernoulli entropy, for grey images "
                        "under a Bernoulli decoder)")
    p.add_argument("--k", type=int, default=100, help="importance samples for iwae / elbo / ratio (default 100)")
    p.add_argument("--background", metavar="DIR", help="the background run for --score ratio")
    p.add_argument("--limit", type=int, metavar="N", help="score the first N examples only")
    p.add_argument("--seed", type=int, default=0, help="random seed of the importance samples (default 0)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--normal", metavar="L,...", help="labels of the normal class(es); the rest are anomalies")
    g.add_argument("--ood", action="store_true", help="--data is out-of-distribution: all anomalies, the run's own "
                                                      "--split the normal set")
    p.add_argument("-o", "--output", required=True, metavar="FILE.csv",
                   help="CSV with columns source (own|data), index, score, label (when known), anomaly (when known)")
    p.set_defaults(func=_handler("anomaly"))

    p = sub.add_parser(
        "blend", help="blends of two examples' codes (a grid of alphas), or an attribute vector added to one",
        description="Latent arithmetic on posterior means. With --b: decode (1 - alpha) z(a) + alpha z(b) for each "
                    "--alpha (outside [0, 1] extrapolates). With --attribute I:J instead: add alpha times the "
                    "attribute vector (mean code of the training examples labelled J minus that of label I) to "
                    "z(a). Examples are an index into --split or a file (.png/.jpg of the run's size, or .npy).")
    add_run(p)
    p.add_argument("--a", required=True, metavar="I|FILE", help="the first example: an index into --split, or a file")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--b", metavar="J|FILE", help="the second example")
    g.add_argument("--attribute", metavar="I:J", help="labels I:J: move --a along mean code(J) - mean code(I)")
    p.add_argument("--alpha", default="0,0.25,0.5,0.75,1", metavar="A,...",
                   help="comma-separated alphas (default 0,0.25,0.5,0.75,1)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="split for indices (default test)")
    p.add_argument("--label-a", metavar="L", help="conditional runs, --a given as a file: its label")
    p.add_argument("--label-b", metavar="L", help="conditional runs, --b given as a file: its label")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png|.npy",
                   help=".png: one row (a, the blends, b when given); .npy: the blends (T, *shape)")
    p.set_defaults(func=_handler("blend"))

    p = sub.add_parser(
        "restyle", help="conditional runs: keep an input's style (its z), decode it as another class",
        description="With a conditional run (a cvae): encode the input with its own label, keep its posterior mean "
                    "z (what the label does not explain: its style) and decode z with each --label.")
    add_run(p)
    p.add_argument("--input", required=True, metavar="I|FILE", help="an index into --split, or a file (.png/.jpg/.npy)")
    p.add_argument("--from-label", metavar="L", help="the input's own label (needed for a file; an index has its split label)")
    p.add_argument("--label", required=True, metavar="L,...", help="the target class(es): indices or class names, comma-separated, or 'all'")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="split for --input I (default test)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png|.npy",
                   help=".png: one row (the input, then one image per target label); .npy: the restyled images")
    p.set_defaults(func=_handler("restyle"))

    p = sub.add_parser(
        "augment", help="new labelled examples: conditional samples, or posterior jitter of real ones",
        description="Data augmentation. --mode prior (conditional runs): samples from the prior decoded with labels "
                    "cycling through the classes; --mode posterior: real labelled examples of --split re-encoded and "
                    "decoded from z ~ q(z|x) with its sd scaled by --scale, keeping their labels. .npz: arrays x "
                    "(the examples as the model sees data, e.g. images in [0, 1]) and y (labels); .csv (table runs): "
                    "rows in the table's own columns and units plus the label column.")
    add_run(p)
    p.add_argument("-n", type=int, required=True, help="number of new examples")
    p.add_argument("--mode", default=None, choices=["prior", "posterior"],
                   help="prior (default for conditional runs) or posterior (default otherwise)")
    p.add_argument("--split", default="train", choices=["train", "val", "test"], help="examples to jitter (default train)")
    p.add_argument("--scale", type=float, default=1.0, help="posterior mode: scale of q's sd (default 1)")
    p.add_argument("--temperature", type=float, default=1.0, help="prior mode: scale of the prior's sd (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.npz|.csv", help="where to write them")
    p.set_defaults(func=_handler("augment"))
