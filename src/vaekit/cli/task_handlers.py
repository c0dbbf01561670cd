"""Handlers of the task subcommands (inpaint, impute, ...); torch is imported here, never at parse time."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from vaekit.cli.commands import _kind, _label_index, _load, _usage
from vaekit.core.errors import DataError


# ----------------------------------------------------------------------------- reading examples
def _read_picture(path: Path, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A picture file -> float (C, H, W) in [0, 1] with the run's channel count (8-bit / 255)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            c, h, w = shape
            pic = img.convert("L" if c == 1 else "RGB")
            if pic.size != (w, h):
                raise _usage(f"{what} {path} is {pic.size[0]}x{pic.size[1]} pixels but the run's images are {w}x{h}; "
                             "resize it first")
            arr = np.asarray(pic, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read {what} {path} as a picture ({exc}); give a .png / .jpg or a .npy array") from None
    return arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)


def _read_array(path: Path, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A .npy -> an array of the run's data shape (a single-channel image may omit the channel axis)."""
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {what} {path} as a .npy array ({exc})") from None
    if len(shape) == 3 and shape[0] == 1 and arr.shape == shape[1:]:
        arr = arr[None]
    if tuple(arr.shape) != tuple(shape):
        raise _usage(f"{what} {path} has shape {tuple(arr.shape)} but the run's examples have shape {tuple(shape)}")
    return arr


def _read_example(path: Path, shape: tuple[int, ...], what: str) -> np.ndarray:
    if not path.exists():
        raise DataError(f"{what} {path} does not exist")
    if path.suffix.lower() == ".npy":
        return _read_array(path, shape, what)
    if len(shape) != 3:
        raise _usage(f"{what} {path}: the run was trained on vectors of shape {tuple(shape)}; give a .npy array")
    return _read_picture(path, shape, what)


# ----------------------------------------------------------------------------- inpaint
def inpaint(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output, save_array, save_grid
    from vaekit.tasks.inpaint import inpaint as run_inpaint, mask_of_kind

    output = check_output(Path(args.output), {".png", ".npy"})
    if args.n < 1:
        raise _usage(f"-n must be at least 1 (got {args.n})")
    if args.steps is not None and args.steps < 1:
        raise _usage(f"--steps must be at least 1 (got {args.steps})")
    run = _load(args)
    kind = _kind(run)
    if kind == "table":
        raise _usage(f"{run.path} was trained on a table; fill its missing cells with `vaekit impute {run.path} DATA.csv -o FILLED.csv`")
    if output.suffix.lower() == ".png" and kind != "image":
        raise _usage(f"cannot write {output}: {run.path} was trained on {kind} data; write .npy")
    shape = run.shape
    original, label = None, None
    if args.index is not None:
        from vaekit.tasks.data import split_data

        xs, ys = split_data(run, args.split)
        if not 0 <= args.index < xs.shape[0]:
            raise _usage(f"--index {args.index} is outside the {args.split} split (0 .. {xs.shape[0] - 1})")
        x = xs[args.index]
        original = x
        if ys is not None and getattr(run.model, "cond_dim", 0):
            label = int(ys[args.index])
    else:
        x = torch.from_numpy(np.ascontiguousarray(_read_example(Path(args.input), shape, "--input"), dtype=np.float32))
    if args.mask is not None:
        hole = _read_example(Path(args.mask), shape, "--mask")
        observed = torch.from_numpy(~(np.asarray(hole) > 0.5 if hole.dtype != np.bool_ else hole))
    else:
        observed = mask_of_kind(args.mask_kind, shape, seed=args.seed)
    if args.label is not None:
        label = _label_index(run, args.label)
    if observed.all():
        raise _usage("the mask marks nothing to fill (no white / nonzero / True value); nothing to inpaint")
    out = run_inpaint(run, x, observed, n=args.n, method=args.method, steps=args.steps, seed=args.seed, cond=label)
    if output.suffix.lower() == ".npy":
        save_array(out, output)
    else:
        shown = torch.where(observed, x, torch.full_like(x, 0.5))
        row = [shown[None], out] if original is None else [original[None], shown[None], out]
        save_grid(torch.cat(row), output, nrow=sum(r.shape[0] for r in row))
    missing = int((~observed).sum())
    layout = "" if output.suffix.lower() == ".npy" else (
        " (one row: " + ("the original, " if original is not None else "") + "the masked input with the hole grey, then the completions)")
    print(f"Wrote {args.n} completions of {missing} missing values ({args.method}) to {output}{layout}")
    return 0


# ----------------------------------------------------------------------------- impute
def impute(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output
    from vaekit.core.atomic import write_text_atomic
    from vaekit.tasks.impute import impute_csv

    output = check_output(Path(args.output), {".csv"})
    if args.n is not None and args.n < 1:
        raise _usage(f"-n must be at least 1 (got {args.n})")
    if args.steps is not None and args.steps < 1:
        raise _usage(f"--steps must be at least 1 (got {args.steps})")
    run = _load(args)
    if _kind(run) != "table":
        raise _usage(f"{run.path} was trained on {_kind(run)} data, not a table; `vaekit impute` fills table cells "
                     f"(use `vaekit inpaint {run.path} ...` for images and vectors)")
    result, text = impute_csv(run, args.data, n=args.n, method=args.method, steps=args.steps, seed=args.seed)
    write_text_atomic(output, text)
    st = result.stats
    if st["method"] == "importance":
        how = f"importance sampling, {st['n']} draws per row, mean effective sample size {st['ess']:.1f}"
    else:
        how = f"{st['method']}, {st['n']} chains" + (f", acceptance {st['acceptance']:.2f}" if "acceptance" in st else "")
    print(f"Filled {st['cells']} missing cell(s) in {st['rows']} of {len(result.table)} rows ({how}); wrote {output}")
    return 0


# ----------------------------------------------------------------------------- anomaly
def anomaly(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output
    from vaekit.core.atomic import write_text_atomic
    from vaekit.tasks.anomaly import anomaly_scores, detection_metrics
    from vaekit.tasks.data import split_batch

    output = check_output(Path(args.output), {".csv"})
    if args.k < 1:
        raise _usage(f"--k must be at least 1 (got {args.k})")
    if args.limit is not None and args.limit < 1:
        raise _usage(f"--limit must be at least 1 (got {args.limit})")
    if args.ood and not args.data:
        raise _usage("--ood needs --data NAME: the out-of-distribution data scored against the run's own split")
    if args.score == "ratio" and not args.background:
        raise _usage("--score ratio needs --background DIR: a run trained on perturbed inputs (Ren et al. 2019)")
    if args.background and args.score != "ratio":
        raise _usage("--background is only used by --score ratio")
    run = _load(args)
    background = None
    if args.background:
        from vaekit.artifacts.load import load

        background = load(args.background)
    normal = None
    if args.normal is not None:
        try:
            normal = {int(v) for v in args.normal.split(",") if v.strip()}
        except ValueError:
            raise _usage(f"--normal {args.normal!r}: give class indices separated by commas, e.g. --normal 0,3") from None

    def score(data: str | None):
        batch = split_batch(run, args.split, data)
        if args.limit is not None:
            batch = batch[: args.limit]
        x, y = batch.x, batch.y
        cond = y if getattr(run.model, "cond_dim", 0) else None
        s = anomaly_scores(run, x, score=args.score, k=args.k, seed=args.seed, cond=cond, background=background,
                           mask=batch.mask)
        return s, (None if y is None else y.numpy())

    parts = []  # (source, scores, labels, anomaly flags or None)
    if args.ood:
        s_own, y_own = score(None)
        s_ood, y_ood = score(args.data)
        parts = [("own", s_own, y_own, np.zeros(len(s_own), bool)), ("data", s_ood, y_ood, np.ones(len(s_ood), bool))]
    else:
        s, y = score(args.data)
        flags = None
        if normal is not None:
            if y is None:
                raise _usage("--normal needs labelled data; this split has no labels (use --ood with --data instead)")
            flags = ~np.isin(y, list(normal))
        parts = [("own" if args.data is None else "data", s, y, flags)]
    lines = ["source,index,score" + (",label" if any(p[2] is not None for p in parts) else "")
             + (",anomaly" if parts[0][3] is not None else "")]
    for source, s, y, flags in parts:
        for i, v in enumerate(s):
            cells = [source, str(i), f"{v:.6g}"]
            if "label" in lines[0]:
                cells.append("" if y is None else str(int(y[i])))
            if flags is not None:
                cells.append(str(int(flags[i])))
            lines.append(",".join(cells))
    write_text_atomic(output, "\n".join(lines) + "\n")
    n = sum(len(p[1]) for p in parts)
    print(f"Wrote {n} {args.score} scores (nats; higher = more anomalous) to {output}")
    if parts[0][3] is not None:
        scores = np.concatenate([p[1] for p in parts])
        flags = np.concatenate([p[3] for p in parts])
        m = detection_metrics(scores, flags)
        print(f"AUROC {m['auroc']:.4f}  AUPRC {m['auprc']:.4f}  ({m['anomalies']} anomalies among {m['n']} examples; "
              "anomaly = positive class)")
    return 0


# ----------------------------------------------------------------------------- blend / restyle
def _example(run, spec: str, split: str, what: str):
    """(x (*shape), label or None) from an index into ``split`` or a file."""
    from vaekit.tasks.data import split_data

    if spec.lstrip("-").isdigit():
        xs, ys = split_data(run, split)
        i = int(spec)
        if not 0 <= i < xs.shape[0]:
            raise _usage(f"{what} {i} is outside the {split} split (0 .. {xs.shape[0] - 1})")
        return xs[i], (None if ys is None else int(ys[i]))
    arr = _read_example(Path(spec), run.shape, what)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)), None


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise _usage(f"{what} {text!r}: give numbers separated by commas, e.g. 0,0.5,1") from None
    if not values:
        raise _usage(f"{what}: give at least one number")
    return values


def _image_output(run, output: Path) -> None:
    if output.suffix.lower() == ".png" and _kind(run) != "image":
        raise _usage(f"cannot write {output}: {run.path} was trained on {_kind(run)} data; write .npy")


def blend(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output, save_array, save_grid
    from vaekit.tasks import blend as tb

    output = check_output(Path(args.output), {".png", ".npy"})
    alphas = _floats(args.alpha, "--alpha")
    run = _load(args)
    _image_output(run, output)
    conditional = bool(getattr(run.model, "cond_dim", 0))
    a, la = _example(run, args.a, args.split, "--a")
    if args.label_a is not None:
        la = _label_index(run, args.label_a)
    if conditional and la is None:
        raise _usage("this run is conditional: give --label-a for an --a file")
    if args.b is not None:
        b, lb = _example(run, args.b, args.split, "--b")
        if args.label_b is not None:
            lb = _label_index(run, args.label_b)
        if conditional and lb is None:
            raise _usage("this run is conditional: give --label-b for a --b file")
        out = tb.blend(run, a, b, alphas, cond_a=la, cond_b=lb)
        row = [a[None], out, b[None]]
        what = f"{len(alphas)} blends of --a and --b (alphas {args.alpha})"
    else:
        from vaekit.tasks.data import split_data

        try:
            i, j = (int(v) for v in args.attribute.split(":"))
        except ValueError:
            raise _usage(f"--attribute {args.attribute!r}: give two labels as I:J, e.g. --attribute 0:7") from None
        xs, ys = split_data(run, "train")
        if ys is None:
            raise _usage(f"--attribute needs labelled training data; {run.path}'s data has no labels")
        vector = tb.attribute_vector(run, xs, ys, i, j)
        out = tb.apply_attribute(run, a, vector, alphas, cond=la)
        row = [a[None], out]
        what = f"--a moved along the attribute vector {i}->{j} (|v| = {float(vector.norm()):.2f}; strengths {args.alpha})"
    if output.suffix.lower() == ".npy":
        save_array(out, output)
    else:
        save_grid(torch.cat(row), output, nrow=sum(r.shape[0] for r in row))
    print(f"Wrote {what} to {output}")
    return 0


def restyle(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output, save_array, save_grid
    from vaekit.tasks.blend import restyle as run_restyle

    output = check_output(Path(args.output), {".png", ".npy"})
    run = _load(args)
    k = int(getattr(run.model, "cond_dim", 0))
    if not k:
        raise _usage(f"{run.path} is not conditional; restyling needs a cvae run (`vaekit train --recipe cvae`)")
    _image_output(run, output)
    x, label = _example(run, args.input, args.split, "--input")
    if args.from_label is not None:
        label = _label_index(run, args.from_label)
    if label is None:
        raise _usage("give --from-label: the input's own class (the encoder of a cvae needs it)")
    targets = list(range(k)) if args.label.strip() == "all" else [_label_index(run, v.strip()) for v in args.label.split(",")]
    out = run_restyle(run, x.expand(len(targets), *x.shape), label, torch.tensor(targets))
    if output.suffix.lower() == ".npy":
        save_array(out, output)
    else:
        save_grid(torch.cat([x[None], out]), output, nrow=len(targets) + 1)
    print(f"Wrote the input (label {label}) restyled as label(s) {', '.join(map(str, targets))} to {output}")
    return 0


# ----------------------------------------------------------------------------- augment
def augment(args: argparse.Namespace) -> int:
    from vaekit.artifacts.images import check_output
    from vaekit.core.atomic import atomic_path
    from vaekit.tasks.augment import augment as run_augment
    from vaekit.tasks.data import split_data

    output = check_output(Path(args.output), {".npz", ".csv"})
    if args.n < 1:
        raise _usage(f"-n must be at least 1 (got {args.n})")
    run = _load(args)
    table = _kind(run) == "table"
    if output.suffix.lower() == ".csv" and not table:
        raise _usage(f"cannot write {output}: .csv is for runs trained on a table; write .npz")
    mode = args.mode or ("prior" if getattr(run.model, "cond_dim", 0) else "posterior")
    x = y = None
    if mode == "posterior":
        x, y = split_data(run, args.split)
        if y is None:
            raise _usage(f"--mode posterior keeps the labels of real examples, but {run.path}'s data has no labels")
    new_x, new_y = run_augment(run, args.n, mode=mode, x=x, y=y, temperature=args.temperature, scale=args.scale,
                               seed=args.seed)
    if output.suffix.lower() == ".csv":
        from vaekit.tasks.tabular import free_name, label_values, to_table, write_csv

        pre = run.dataset.get("preprocessing")
        rows = to_table(new_x, pre)
        name, values = label_values(pre, new_y)
        write_csv(output, rows, {free_name(name, rows.names): values})
    else:
        with atomic_path(output) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, x=new_x.numpy(), y=new_y.numpy())
    print(f"Wrote {args.n} new labelled examples ({mode} mode) to {output}")
    return 0
