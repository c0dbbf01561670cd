"""One function per subcommand. Imports are inside the functions so that parsing (and
``--help``) never loads torch."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.core.errors import VaekitError  # torch-free


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
              overrides=args.overrides or None, resume=args.resume, device=args.device, parent=args.parent)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    if args.fid:
        return _evaluate_fid(args)
    if args.feature_net:
        raise _usage("--feature-net goes with --fid")
    from vaekit.api import evaluate as run_eval

    m = run_eval(_load(args), split=args.split, k=args.k, limit=args.limit, seed=args.seed, data=args.data)
    if "accuracy" in m:  # a classifier run
        rows = [["accuracy", f"{m['accuracy']:.4f}", "fraction of examples classified correctly"],
                ["cross-entropy", f"{m['cross_entropy']:.4f}", "nats/example, -log p(y|x)"],
                ["per-class accuracy", " ".join(f"{v:.2f}" for v in m["per_class_accuracy"]), "classes 0, 1, ..."],
                ["examples", f"{m['n_examples']:,}", f"{m['split']} split of {m['dataset']}"]]
        _console().print(_table(f"Evaluation of {args.run}", ["metric", "value", "meaning"], rows))
        print(f"Wrote {Path(args.run) / 'eval.json'}")
        return 0
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


def _evaluate_fid(args: argparse.Namespace) -> int:
    import json

    from vaekit.core.atomic import write_text_atomic
    from vaekit.tasks.fid import load_feature_net, run_sample_quality

    if not args.feature_net:
        raise _usage("--fid needs --feature-net DIR: a classifier run on the same data, e.g. "
                     "`vaekit train --recipe classifier --data fashion-mnist --out runs/classifier` (no pretrained "
                     "Inception network is downloaded)")
    run = _load(args)
    m = run_sample_quality(run, load_feature_net(args.feature_net), n=args.fid_samples, seed=args.seed, split=args.split)
    rows = [["FID", f"{m['fid']:.3f}", "Fréchet distance of the feature Gaussians (lower is better)"],
            ["precision", f"{m['precision']:.3f}", f"samples inside the real data's {m['k']}-NN balls"],
            ["recall", f"{m['recall']:.3f}", f"real examples inside the samples' {m['k']}-NN balls"],
            ["examples", f"{m['n_generated']:,} / {m['n_real']:,}", f"samples ({m['samples']}) / {m['split']} split"]]
    _console().print(_table(f"Sample quality of {args.run} — features of classifier {args.feature_net}, not Inception",
                            ["metric", "value", "meaning"], rows))
    write_text_atomic(Path(args.run) / "fid.json", json.dumps(m, indent=2) + "\n")
    print(f"Wrote {Path(args.run) / 'fid.json'}")
    return 0


def _save_images(images, output: Path, nrow: int | None = None) -> None:
    from vaekit.artifacts.images import save_array, save_grid

    if output.suffix.lower() == ".npy":
        save_array(images, output)
    else:
        save_grid(images, output, nrow=nrow)


class UsageError(VaekitError):
    """Arguments that do not fit the run they are given (exit code 2, nothing written)."""

    exit_code = 2


def _usage(message: str) -> UsageError:
    return UsageError(message)


def _kind(run) -> str:
    """``image``, ``vector`` or ``table``: what the run was trained on."""
    kind = run.dataset.get("kind") or (run.dataset.get("preprocessing") or {}).get("kind")
    if kind:
        return str(kind)
    return "image" if len(run.shape) == 3 else "vector"


TABLE_SUFFIXES = {".csv", ".npy"}


def _check_kind(run, output: Path, command: str) -> bool:
    """True when ``output`` is a CSV of a table run; refuses suffixes that do not fit the run's data."""
    suffix, kind = output.suffix.lower(), _kind(run)
    if kind == "table":
        if suffix not in TABLE_SUFFIXES:
            raise _usage(
                f"cannot write {output}: {run.path} was trained on a table, so `vaekit {command}` writes rows, not "
                f"pictures; use FILE.csv (original column names and units) or FILE.npy (the encoded rows the model sees)"
            )
        return suffix == ".csv"
    if suffix == ".csv":
        other = ".png, .gif or .npy" if command == "interpolate" else ".png or .npy"
        raise _usage(
            f"cannot write {output}: .csv is for runs trained on a table (csv:PATH, breast-cancer); "
            f"{run.path} was trained on {kind} data, so write {other}"
        )
    return False


def _pre(run):
    return run.dataset.get("preprocessing")


def _split_labels(run, y):
    """The split's labels when the run is conditional (the model needs them), else None."""
    if not getattr(run.model, "cond_dim", 0):
        return None
    if y is None:
        from vaekit.core.errors import DataError

        raise DataError(f"{run.path} is a conditional run but this split has no labels; use the run's own data")
    return y


def _label_index(run, text: str) -> int:
    """``--label`` as a class index: an index 0..K-1 or, for text labels, a class name."""
    k = int(getattr(run.model, "cond_dim", 0))
    if not k:
        raise _usage(
            f"--label needs a conditional run (trained with --set model.conditional=true); {run.path} is not "
            "conditional, so its samples cannot be asked for a label"
        )
    classes = ((_pre(run) or {}).get("label") or {}).get("classes") or []
    names = [str(c) for c in classes]
    if text in names:
        return names.index(text)
    try:
        index = int(text)
    except ValueError:
        known = f" or one of the class names {', '.join(names)}" if names else ""
        raise _usage(f"--label {text!r} is not a class index (0 .. {k - 1}){known}") from None
    if not 0 <= index < k:
        raise _usage(f"--label {index} is out of range: {run.path} has {k} classes, labels 0 .. {k - 1}")
    return index


def sample(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output
    from vaekit.core.errors import VaekitError

    output = check_output(Path(args.output), {".png", ".npy", ".csv"})
    if args.n < 1 or args.temperature <= 0:
        raise VaekitError("-n must be at least 1 and --temperature positive")
    import torch

    from vaekit.tasks.generate import generate

    run = _load(args)
    as_csv = _check_kind(run, output, "sample")
    labels, note = None, ""
    if args.label is not None:
        labels = torch.full((args.n,), _label_index(run, args.label), dtype=torch.long)
        note = f", all conditioned on label {int(labels[0])}"
    elif getattr(run.model, "cond_dim", 0):
        labels = torch.arange(args.n) % run.model.cond_dim
        note = f" (conditional run: labels cycle through 0 .. {run.model.cond_dim - 1}; pick one with --label)"
    gen = torch.Generator().manual_seed(args.seed)
    if as_csv:
        from vaekit.tasks.tabular import free_name, generate_rows, label_values, write_csv

        table, _ = generate_rows(run.model, args.n, _pre(run), generator=gen, temperature=args.temperature,
                                 mean=args.mean, cond=labels)
        extra = {}
        if labels is not None:
            name, values = label_values(_pre(run), labels)
            extra[free_name(name, table.names)] = values
        write_csv(output, table, extra)
        how = "decoder means, most probable categories" if args.mean else "draws from p(x|z), seeded"
        print(f"Wrote {args.n} generated rows ({how}) to {output}{note}")
        return 0
    images = generate(run.model, args.n, temperature=args.temperature, generator=gen, cond=labels)
    _save_images(images, output)
    print(f"Wrote {args.n} samples to {output}{note}")
    return 0


def reconstruct(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output
    from vaekit.core.errors import VaekitError

    output = check_output(Path(args.output), {".png", ".npy", ".csv"})
    if args.n < 1:
        raise VaekitError("-n must be at least 1")
    from vaekit.tasks.data import split_data
    from vaekit.tasks.reconstruct import reconstruct as rec, side_by_side

    run = _load(args)
    as_csv = _check_kind(run, output, "reconstruct")
    x, y = split_data(run, args.split)
    x, y = x[: args.n], (None if y is None else y[: args.n])
    recon = rec(run.model, x, cond=_split_labels(run, y))
    if as_csv:
        from vaekit.tasks.tabular import free_name, interleave, label_values, lead_csv, to_table
        from vaekit.core.atomic import write_text_atomic

        inputs, outputs = to_table(x, _pre(run)), to_table(recon, _pre(run))
        table = interleave(inputs, outputs)
        n = x.shape[0]
        lead = {free_name("row", table.names): [i for i in range(n) for _ in (0, 1)],
                free_name("which", table.names): ["input", "reconstruction"] * n}
        extra = {}
        if y is not None:
            name, values = label_values(_pre(run), y)
            extra[free_name(name, [*table.names, *lead])] = [v for v in values for _ in (0, 1)]
        write_text_atomic(output, lead_csv(lead, table, extra))
        print(f"Wrote {n} inputs and their reconstructions to {output} "
              f"(two lines per {args.split} row: which=input, then which=reconstruction: decoder means, most probable categories)")
        return 0
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

    output = check_output(Path(args.output), {".png", ".gif", ".npy", ".csv"})
    if args.steps < 2:
        raise VaekitError("--steps must be at least 2")
    from vaekit.artifacts.images import save_gif
    from vaekit.tasks.data import split_data
    from vaekit.tasks.interpolate import interpolate as interp

    run = _load(args)
    as_csv = _check_kind(run, output, "interpolate")
    x, y = split_data(run, "test")
    for name, idx in (("--from", args.source), ("--to", args.target)):
        if not 0 <= idx < x.shape[0]:
            raise VaekitError(f"{name} {idx} is outside the test split (0 .. {x.shape[0] - 1})")
    y = _split_labels(run, y)
    cond = None if y is None else y[[args.source, args.target]]
    frames = interp(run.model, x[args.source], x[args.target], steps=args.steps, path=args.path, cond=cond)
    if as_csv:
        from vaekit.core.atomic import write_text_atomic
        from vaekit.tasks.tabular import free_name, lead_csv, to_table

        table = to_table(frames, _pre(run))
        lead = {free_name("step", table.names): list(range(args.steps)),
                free_name("t", table.names): [f"{i / (args.steps - 1):.4g}" for i in range(args.steps)]}
        write_text_atomic(output, lead_csv(lead, table))
    elif output.suffix.lower() == ".gif":
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
    z = emb(run.model, x, cond=_split_labels(run, y)).numpy()
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


def disentanglement(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output

    output = None if args.output is None else check_output(Path(args.output), {".png"})
    if args.n is not None and args.n < 2:
        raise _usage("-n must be at least 2")
    import json

    from vaekit.artifacts.datasets import eval_view, load_splits, saved_preprocessing
    from vaekit.artifacts.rundir import DATASET
    from vaekit.core.atomic import write_text_atomic
    from vaekit.tasks.disentanglement import all_metrics, traversal
    from vaekit.tasks.embed import embed as emb

    run = _load(args)
    cfg = run.config.data
    splits = load_splits(cfg, preprocessing=saved_preprocessing(run.dataset, run.path / DATASET))
    part = getattr(splits, args.split)
    if part.factors is None:
        raise _usage(
            f"{run.path} was trained on {cfg.name!r}, which has no known generative factors; `vaekit disentanglement` "
            "needs a run on data with factors, e.g. `vaekit train --data shapes`"
        )
    n = len(part) if args.n is None else min(args.n, len(part))
    x, y, factors = eval_view(part.x, cfg)[:n], (None if part.y is None else part.y[:n]), part.factors[:n]
    cond = _split_labels(run, y)
    codes = emb(run.model, x, cond=cond).numpy()
    names = None
    if cfg.name.strip().lower() == "shapes":
        from vaekit.data.shapes import FACTOR_NAMES as names
    m = all_metrics(codes, factors.numpy(), seed=args.seed, factor_names=names)
    m.update(split=args.split, dataset=cfg.name)
    target = run.path / "disentanglement.json"
    write_text_atomic(target, json.dumps(m, indent=2) + "\n")
    rows = [
        ["MIG", f"{m['mig']:.3f}", "mean over factors of the gap between the two most informative dims, I/H (0..1)"],
        ["FactorVAE score", f"{m['factor_vae_score']:.3f}",
         f"majority-vote accuracy from least-variance dim to fixed factor (chance ~{1 / len(m['factors']):.2f})"],
        ["DCI disentanglement", f"{m['dci_disentanglement']:.3f}",
         f"completeness {m['dci_completeness']:.3f}, informativeness {m['dci_informativeness']:.3f} (random forests)"],
        ["examples", f"{n:,}", f"{args.split} split of {cfg.name}, {m['latent_dim']} latent dims, "
                               f"{m['active_dims']} active"],
    ]
    _console().print(_table(f"Disentanglement of {args.run}", ["metric", "value", "meaning"], rows))
    print(f"Wrote {target}")
    if output is not None:
        from vaekit.artifacts.images import save_grid

        steps = 9
        pic = traversal(run.model, x[0], steps=steps, cond=None if cond is None else cond[0])
        save_grid(pic, output, nrow=steps)
        print(f"Wrote a latent traversal to {output} (row d: dimension d from -3 to 3, {steps} steps)")
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
