"""One function per subcommand. Imports are inside the functions so that parsing (and
``--help``) never loads torch."""

from __future__ import annotations

import argparse
from pathlib import Path


def _console():
    import sys

    from rich.console import Console

    # Not a terminal (a pipe, a file, a test): no width limit, so no table is wrapped or cut at
    # rich's default of 80 columns. In a terminal, rich fits the terminal and wraps cells.
    return Console() if sys.stdout.isatty() else Console(width=100_000)


def _table(title: str, columns: list[str], rows: list[list[str]]):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title), title_justify="left")
    for col in columns:
        table.add_column(escape(col), overflow="fold")  # wrap long cells, never cut them with "…"
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))  # formulas contain [brackets]
    return table


def _load(args: argparse.Namespace):
    from vaekit.artifacts.load import load
    from vaekit.core.devices import resolve_device

    return load(args.run, device=resolve_device(args.device or "cpu"))


def train(args: argparse.Namespace) -> int:
    if args.epochs is not None and args.epochs < 1:
        from vaekit.core.errors import ConfigError

        raise ConfigError(f"--epochs must be at least 1 (got {args.epochs})")
    from vaekit.api import train as run_train

    run_train(args.recipe, data=args.data, epochs=args.epochs, seed=args.seed, out=args.out,
              overrides=args.overrides or None, resume=args.resume, device=args.device)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from vaekit.api import evaluate as run_eval

    m = run_eval(_load(args), split=args.split, k=args.k, limit=args.limit, seed=args.seed, data=args.data)
    rows = [
        ["ELBO", f"{m['elbo']:.3f}", "nats/example, k-sample estimate of E_q[log p(x,z) - log q(z|x)]"],
        ["recon", f"{m['recon']:.3f}", "nats/example, E_q[-log p(x|z)]"],
        ["KL", f"{m['kl']:.3f}", "nats/example, KL(q(z|x) || p(z))"],
        ["NLL", f"{m['nll']:.3f}", f"nats/example, importance-weighted -log p(x), k={m['k']}"],
        ["bits/dim", f"{m['bits_per_dim']:.4f}", f"NLL / (D ln 2), D={m['dims']}"],
        ["active units", f"{m['active_units']} / {m['latent_dim']}", "Cov_x(E_q[z_d]) > 0.01"],
        ["examples", f"{m['n_examples']:,}", f"{m['split']} split of {m['dataset']}"],
    ]
    _console().print(_table(f"Evaluation of {args.run}", ["metric", "value", "meaning"], rows))
    if m.get("note"):
        print(f"Note: {m['note']}.")
    print(f"Wrote {Path(args.run) / 'eval.json'}")
    return 0


def _save_images(images, output: Path, nrow: int | None = None) -> None:
    from vaekit.artifacts.images import save_array, save_grid

    if output.suffix.lower() == ".npy":
        save_array(images, output)
    else:
        save_grid(images, output, nrow=nrow)


def sample(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output
    from vaekit.core.errors import VaekitError

    output = check_output(Path(args.output), {".png", ".npy"})
    if args.n < 1 or args.temperature <= 0:
        raise VaekitError("-n must be at least 1 and --temperature positive")
    import torch

    from vaekit.tasks.generate import generate

    run = _load(args)
    images = generate(run.model, args.n, temperature=args.temperature, generator=torch.Generator().manual_seed(args.seed))
    _save_images(images, output)
    print(f"Wrote {args.n} samples to {output}")
    return 0


def reconstruct(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output
    from vaekit.core.errors import VaekitError

    output = check_output(Path(args.output), {".png", ".npy"})
    if args.n < 1:
        raise VaekitError("-n must be at least 1")
    from vaekit.tasks.data import split_data
    from vaekit.tasks.reconstruct import reconstruct as rec, side_by_side

    run = _load(args)
    x, _ = split_data(run, args.split)
    x = x[: args.n]
    recon = rec(run.model, x)
    if output.suffix.lower() == ".npy":
        _save_images(recon, output)
    else:
        images, ncol = side_by_side(x, recon, cols=8)
        _save_images(images, output, nrow=ncol)
    layout = "" if output.suffix.lower() == ".npy" else " (rows in pairs: top row: input, bottom row: reconstruction)"
    print(f"Wrote {x.shape[0]} reconstructions to {output}{layout}")
    return 0


def interpolate(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output
    from vaekit.core.errors import VaekitError

    output = check_output(Path(args.output), {".png", ".gif", ".npy"})
    if args.steps < 2:
        raise VaekitError("--steps must be at least 2")
    from vaekit.artifacts.images import save_gif
    from vaekit.tasks.data import split_data
    from vaekit.tasks.interpolate import interpolate as interp

    run = _load(args)
    x, _ = split_data(run, "test")
    for name, idx in (("--from", args.source), ("--to", args.target)):
        if not 0 <= idx < x.shape[0]:
            raise VaekitError(f"{name} {idx} is outside the test split (0 .. {x.shape[0] - 1})")
    frames = interp(run.model, x[args.source], x[args.target], steps=args.steps, path=args.path)
    if output.suffix.lower() == ".gif":
        save_gif(frames[:, None], output)
    else:
        _save_images(frames, output, nrow=args.steps)
    print(f"Wrote a {args.steps}-step {args.path} interpolation to {output}")
    return 0


def embed(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output

    output = check_output(Path(args.output), {".npy", ".csv"})
    import numpy as np

    from vaekit.artifacts.images import save_array
    from vaekit.core.atomic import write_text_atomic
    from vaekit.tasks.data import split_data
    from vaekit.tasks.embed import embed as emb

    run = _load(args)
    x, y = split_data(run, args.split)
    z = emb(run.model, x).numpy()
    if output.suffix.lower() == ".npy":
        # With labels: a structured array is awkward for users; store labels as the last column.
        data = np.concatenate([z, y.numpy()[:, None].astype(z.dtype)], axis=1) if y is not None else z
        save_array(data, output)
    else:
        header = [f"z{i}" for i in range(z.shape[1])] + (["label"] if y is not None else [])
        lines = [",".join(header)]
        for i, row in enumerate(z):
            cells = [f"{v:.6g}" for v in row] + ([str(int(y[i]))] if y is not None else [])
            lines.append(",".join(cells))
        write_text_atomic(output, "\n".join(lines) + "\n")
    label_note = " (last column: label)" if y is not None and output.suffix.lower() == ".npy" else ""
    print(f"Wrote {z.shape[0]} x {z.shape[1]} posterior means to {output}{label_note}")
    return 0


def info(args: argparse.Namespace) -> int:
    import json

    from rich.markup import escape

    from vaekit.artifacts import rundir

    run = _load(args)
    params = sum(p.numel() for p in run.model.parameters())
    console = _console()
    console.print(f"[bold]{escape(str(run.path))}[/bold]  dataset {escape(run.dataset['name'])} shape {tuple(run.dataset['shape'])}, "
                  f"{params:,} parameters")
    console.print_json(json.dumps(run.config.to_dict()))
    history = rundir.read_metrics(run.path)
    rows = [[str(m["epoch"]), f"{m['train_loss']:.2f}", f"{m['train_recon']:.2f}", f"{m['train_kl']:.2f}",
             f"{m['val_loss']:.2f}", f"{m['seconds']:.1f}"] for m in history]
    console.print(_table("Metrics (nats per example)", ["epoch", "loss", "recon", "KL", "val loss", "seconds"], rows))
    if (run.path / rundir.EVAL).is_file():
        ev = rundir.read_json(run.path / rundir.EVAL)
        stale = rundir.eval_staleness(run.path, ev)
        if stale:
            console.print(f"eval.json is stale ({escape(stale)}); run `vaekit evaluate {escape(str(run.path))}` again",
                          markup=True)
        else:
            console.print(f"eval.json: NLL {ev['nll']:.3f} nats (k={ev['k']}), ELBO {ev['elbo']:.3f}, "
                          f"bits/dim {ev['bits_per_dim']:.4f}, active units {ev['active_units']}")
            if ev.get("note"):
                console.print(f"Note: {escape(ev['note'])}.")
    return 0


def report(args: argparse.Namespace) -> int:
    from vaekit.api.report import write_report
    from vaekit.api.train import format_test_metrics
    from vaekit.artifacts.lock import RunLock, lock_applies
    from vaekit.artifacts.load import build_from_run

    run_dir = Path(args.run)
    build_from_run(run_dir)  # a clear error for a folder that is not a run, before the lock touches it
    lock = RunLock(run_dir, action="report")
    if lock_applies():
        lock.acquire()
    try:
        metrics = write_report(run_dir, echo=print)
    except KeyboardInterrupt:
        raise _Interrupted(f"interrupted; the report of {run_dir} is incomplete: run `vaekit report {run_dir}` again") from None
    finally:
        lock.release()
    if metrics is not None:
        print(format_test_metrics(metrics))
    return 0


class _Interrupted(KeyboardInterrupt):
    def __init__(self, advice: str) -> None:
        super().__init__(advice)
        self.advice = advice


def datasets(args: argparse.Namespace) -> int:
    from vaekit.data import list_datasets

    rows = [[d["name"], "" if d.get("shape") is None else str(tuple(d["shape"])),
             "" if d.get("n_examples") is None else f"{d['n_examples']:,}",
             "yes" if d.get("available") else "no", str(d.get("description", "")), str(d.get("where", ""))]
            for d in list_datasets()]
    _console().print(_table("Datasets (vaekit train --data NAME)", ["name", "shape", "examples", "available", "what", "where"], rows))
    return 0


def recipes(args: argparse.Namespace) -> int:
    from vaekit.core.config import read_recipe, recipe_names

    rows = [[name, read_recipe(name)[1]] for name in recipe_names()]
    _console().print(_table("Recipes (vaekit train --recipe NAME)", ["name", "description"], rows))
    return 0
