"""``vaekit`` command line. Parsing is torch-free so ``vaekit --help`` is instant; each
command imports what it needs when it runs."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from vaekit.cli import commands, compress_commands, serve_commands, task_commands

EPILOG = "Numbers are nats per example (images also in bits/dim). Docs: README.md."


def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="DIR", help="a run directory made by `vaekit train`")
    _add_device(p)


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, metavar="auto|cpu|cuda|mps",
                   help="where to run (default: train.device of the config, i.e. auto, for train; cpu otherwise)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaekit", description="Variational autoencoders: train, evaluate, use.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version="vaekit 0.1.0", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="what to do (`vaekit COMMAND --help` for its options)")

    p = sub.add_parser("train", help="train a VAE (default: recipe 'vae' on the embedded digits data)")
    p.add_argument("--data", metavar="NAME", help="dataset name or spec (see `vaekit datasets`)")
    p.add_argument("--recipe", default="vae", metavar="NAME|PATH", help="recipe name or .toml path (see `vaekit recipes`)")
    p.add_argument("--epochs", type=int, metavar="N", help="number of epochs to train (at least 1; default: the recipe's)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed for initialisation and shuffling (default: the recipe's)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<recipe>-<data>-<time>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-3 (repeatable)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    p.add_argument("--parent", metavar="DIR",
                   help="train a second stage on the finished run in DIR (same as --set parent.run=DIR): the sha256 of "
                        "its model.safetensors is recorded, and loading this run later refuses a changed parent; a "
                        "classifier feature-net .safetensors file also works as the parent of a perceptual 'features' term")
    _add_device(p)
    p.set_defaults(func=commands.train)

    p = sub.add_parser("evaluate", help="ELBO, IWAE NLL, bits/dim, active units; writes DIR/eval.json")
    _add_run(p)
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split to evaluate (default test)")
    p.add_argument("--k", type=int, default=1000, help="importance samples for the NLL (default 1000)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate the first N examples only")
    p.add_argument("--data", metavar="NAME", help="evaluate on another dataset of the same shape")
    p.add_argument("--seed", type=int, default=0, help="random seed of the importance samples (default 0)")
    p.add_argument("--fid", action="store_true",
                   help="sample quality instead: Fréchet distance, precision and recall (Kynkäänniemi et al. 2019) "
                        "between --fid-samples samples and the split, in the features of --feature-net; writes DIR/fid.json")
    p.add_argument("--feature-net", metavar="DIR|FILE.safetensors",
                   help="with --fid: a classifier run on the same data (`vaekit train --recipe classifier --data D`), or "
                        "a feature-net file written by vaekit.tasks.fid.save_feature_net")
    p.add_argument("--fid-samples", type=int, default=10_000, metavar="N", help="with --fid: samples drawn (default 10000)")
    p.set_defaults(func=commands.evaluate)

    p = sub.add_parser("sample", help="generate from the prior",
                       description="Generate from the prior. Image runs: decoder means as a .png grid or .npy array. "
                                   "Table runs: .csv rows with the original header and units (numeric columns "
                                   "un-standardised, categories by name) or .npy encoded rows (decoder means).")
    _add_run(p)
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the prior's standard deviation")
    p.add_argument("--seed", type=int, default=0, help="random seed of all draws (default 0)")
    p.add_argument("--label", metavar="L",
                   help="conditional runs only: condition every sample on class L (an index 0..K-1, or a class name "
                        "for text labels); without it a conditional run's samples cycle through the classes")
    p.add_argument("--mean", action="store_true",
                   help="table runs, .csv: write the decoder's means and each column's most probable category; by "
                        "default every row is a draw from p(x|z): numeric values from the decoder's Gaussian, "
                        "categories from its softmax, seeded by --seed (image samples are always decoder means)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png|.npy|.csv",
                   help="where to write the image grid (.png), the array (.npy) or, for table runs, the rows (.csv)")
    p.set_defaults(func=commands.sample)

    p = sub.add_parser("reconstruct", help="originals next to their reconstructions (test split)")
    _add_run(p)
    p.add_argument("-n", type=int, default=16, help="number of examples to reconstruct (default 16)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split to take them from (default test)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png|.npy|.csv",
                   help="where to write them (.png: rows of inputs, each above its row of reconstructions; table "
                        "runs: .csv with columns row, which (input|reconstruction) and the original columns, "
                        "reconstructions being decoder means with the most probable category)")
    p.set_defaults(func=commands.reconstruct)

    p = sub.add_parser("interpolate", help="decode a path between two test examples' codes")
    _add_run(p)
    p.add_argument("--from", dest="source", type=int, required=True, metavar="I", help="index into the test split")
    p.add_argument("--to", dest="target", type=int, required=True, metavar="J", help="index into the test split")
    p.add_argument("--steps", type=int, default=10, help="number of decoded points, ends included (default 10)")
    p.add_argument("--path", default="slerp", choices=["slerp", "lerp"], help="spherical or straight-line path (default slerp)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png|.gif|.npy|.csv",
                   help="where to write the strip, animation or array (table runs: .csv rows with columns step, t "
                        "and the original columns, or .npy)")
    p.set_defaults(func=commands.interpolate)

    p = sub.add_parser("embed", help="posterior means (with labels when known)")
    _add_run(p)
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split to embed (default test)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.npy|.csv", help="where to write the codes (one row per example)")
    p.set_defaults(func=commands.embed)

    p = sub.add_parser("disentanglement", help="MIG, FactorVAE score and DCI on data with known factors",
                       description="Disentanglement of a run trained on data with known factors (e.g. shapes): MIG "
                                   "(Chen et al. 2018), FactorVAE score (Kim & Mnih 2018) and DCI (Eastwood & Williams "
                                   "2018) of the posterior means; writes DIR/disentanglement.json.")
    _add_run(p)
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split to score (default test)")
    p.add_argument("-n", type=int, metavar="N", help="use the first N examples of the split only (default all)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the FactorVAE votes and the DCI split (default 0)")
    p.add_argument("-o", "--output", metavar="FILE.png",
                   help="also write a latent traversal: one row per latent dimension, swept from -3 to 3 with the "
                        "others fixed at the first example's posterior mean")
    p.set_defaults(func=commands.disentanglement)

    # Commands that live in their own modules (each `register(sub, add_run)`, torch-free at import).
    for module in (task_commands, compress_commands, serve_commands):
        module.register(sub, _add_run)

    p = sub.add_parser("info", help="config, parameter count and metrics of a run")
    _add_run(p)
    p.set_defaults(func=commands.info)

    p = sub.add_parser("report", help="(re)build the pictures and report.md of a trained run")
    p.add_argument("run", metavar="DIR", help="a run directory made by `vaekit train`")
    p.set_defaults(func=commands.report)

    p = sub.add_parser("datasets", help="list datasets and whether each is available here")
    p.set_defaults(func=commands.datasets)

    p = sub.add_parser("recipes", help="list the built-in recipes")
    p.set_defaults(func=commands.recipes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    func: Callable[[argparse.Namespace], int | None] = args.func
    from vaekit.core.errors import VaekitError

    try:
        return int(func(args) or 0)
    except VaekitError as err:
        print(f"vaekit: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt as exc:
        # api.train raises a KeyboardInterrupt subclass that knows the phase (training or report).
        advice = getattr(exc, "advice", None) or "interrupted"
        print(f"vaekit: {advice}", file=sys.stderr)
        return 130
