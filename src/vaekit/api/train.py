"""``vaekit.train``: resolve a config from recipe + overrides, train, write the report."""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from typing import Any, Callable

from vaekit.api.report import write_report
from vaekit.artifacts import rundir
from vaekit.artifacts.feature_net import is_feature_net_file
from vaekit.artifacts.lock import RunLock, lock_applies
from vaekit.core.config import Config, load_recipe, parse_overrides
from vaekit.core.errors import ConfigError, RunDirError
from vaekit.training import fit
from vaekit.training.trainer import holds_run
from vaekit.training.distributed import DistInfo, teardown


def resolve_config(
    recipe: str = "vae", *, data: str | None = None, epochs: int | None = None, seed: int | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
) -> Config:
    """Recipe, then ``--set``-style overrides, then the explicit arguments (which win)."""
    config = load_recipe(recipe)
    if overrides:
        nested = parse_overrides(overrides) if isinstance(overrides, list) else overrides
        config = config.with_overrides(nested)
    explicit: dict[str, dict[str, Any]] = {}
    if data is not None:
        explicit.setdefault("data", {})["name"] = data
    if epochs is not None:
        explicit.setdefault("train", {})["epochs"] = epochs
    if seed is not None:
        explicit.setdefault("train", {})["seed"] = seed
    config = config.with_overrides(explicit, source="arguments") if explicit else config
    name = absolute_data_spec(config.data.name)
    return config.with_overrides({"data": {"name": name}}, source="data") if name != config.data.name else config


FILE_SPECS = ("npy", "npz", "csv", "folder")


def absolute_data_spec(spec: str) -> str:
    """``npy:data/x.npy`` -> ``npy:/abs/data/x.npy`` (likewise npz:, csv:, folder:; a ``#label=...``
    suffix is kept), so the stored config works from any directory."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in FILE_SPECS or not rest:
        return spec
    path, hash_, suffix = rest.partition("#") if kind == "csv" else (rest, "", "")
    if not path:
        return spec
    return f"{kind}:{os.path.abspath(os.path.expanduser(path))}{hash_}{suffix}"


def default_run_dir(config: Config, recipe: str, *, create: bool = False) -> Path:
    """``runs/<recipe>-<data>-<time>``; with ``create=True`` the folder is made atomically and a
    short suffix is added while the name is taken (two runs started in the same second)."""
    data_stem = Path(config.data.name.partition("#")[0]).stem
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{Path(recipe).stem}-{data_stem}").strip("-")
    base = Path("runs") / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not create:
        return base
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate = base
    for _ in range(100):
        try:
            candidate.mkdir(exist_ok=False)
            return candidate
        except FileExistsError:
            candidate = base.with_name(f"{base.name}-{secrets.token_hex(2)}")
    raise RunDirError(f"cannot find a free run directory name next to {base}; pass --out DIR")


def with_parent(config: Config, parent: str | Path) -> Config:
    """``config`` with ``parent.run`` set to ``parent`` (``--parent DIR``), checked before anything is written."""
    path = Path(parent).expanduser()
    if config.parent is not None and Path(config.parent.run).expanduser().resolve() != path.resolve():
        raise ConfigError(f"--parent {parent} and --set parent.run={config.parent.run} name different runs; give the parent once")
    if path.is_file() and path.suffix == ".safetensors":
        if not is_feature_net_file(path):
            raise ConfigError(f"--parent {parent} is a .safetensors file without feature-net metadata; a file parent "
                              "must be a classifier written by vaekit.tasks.fid.save_feature_net (or give a run directory)")
    elif not (path / rundir.MODEL).is_file():
        what = "does not exist" if not path.exists() else f"has no {rundir.MODEL} (not a finished vaekit run)"
        raise ConfigError(f"--parent {parent} {what}; give the directory of a trained run or a feature-net .safetensors file")
    return config.with_overrides({"parent": {"run": str(path.resolve())}}, source="--parent")


def _sets_data(overrides: dict[str, Any] | list[str] | None) -> bool:
    if isinstance(overrides, dict):
        return "data" in overrides
    return any(item.strip().startswith("data.") for item in overrides or [])


def parents_data(config: Config) -> Config:
    """A second stage trains on its parent's data (same dataset, splits and settings) unless
    ``--data`` or a ``data.*`` override says otherwise."""
    path = Path(config.parent.run).expanduser()
    if path.suffix == ".safetensors":  # a feature-net file carries no data settings: the run's own apply
        return config
    try:
        parent_cfg = Config.from_dict(rundir.read_json(path / rundir.CONFIG), source=str(path / rundir.CONFIG))
    except FileNotFoundError:
        raise ConfigError(f"parent run {path} has no {rundir.CONFIG}; give the directory of a trained run") from None
    return config.model_copy(update={"data": parent_cfg.data})


def format_epoch(row: dict[str, Any], total: int) -> str:
    if "train_accuracy" in row:  # a classifier: cross-entropy (nats) and accuracy
        middle = (f"loss {row['train_loss']:.3f}  acc {row['train_accuracy']:.3f}  val {row['val_loss']:.3f}  "
                  f"val acc {row.get('val_accuracy', float('nan')):.3f}")
    else:
        middle = (f"loss {row['train_loss']:.1f}  recon {row['train_recon']:.1f}  KL {row['train_kl']:.1f}  "
                  f"val {row['val_loss']:.1f}")
    return (
        f"Epoch {row['epoch']}/{total}  {middle}  ({row['samples_per_s']:,.0f} samples/s)"
        + (f"  [{row['skipped_steps']} non-finite steps skipped]" if row["skipped_steps"] else "")
    )


class Interrupted(KeyboardInterrupt):
    """Ctrl-C inside :func:`train`, with the advice that fits the phase it came in."""

    def __init__(self, phase: str, run_dir: Path) -> None:
        super().__init__(phase)
        self.phase, self.run_dir = phase, run_dir

    @property
    def advice(self) -> str:
        if self.phase == "report":
            return (f"interrupted while writing the report; training is finished and the weights are saved. "
                    f"Rebuild the report with `vaekit report {self.run_dir}`")
        if (self.run_dir / rundir.CHECKPOINT).exists():
            return (f"interrupted; {self.run_dir} keeps its last finished epoch "
                    f"(continue with `vaekit train --resume {self.run_dir}`)")
        return f"interrupted before the first epoch finished; nothing to resume in {self.run_dir} (start again)"


def format_test_metrics(ev: dict[str, Any]) -> str:
    if "accuracy" in ev:
        return (f"Test ({ev['n_examples']:,} examples): accuracy {ev['accuracy']:.4f}, "
                f"cross-entropy {ev['cross_entropy']:.4f} nats")
    return (f"Test ({ev['n_examples']:,} examples, k={ev['k']}): NLL {ev['nll']:.2f} nats, "
            f"ELBO {ev['elbo']:.2f} nats, {ev['bits_per_dim']:.4f} bits/dim"
            + (f"\nNote: {ev['note']}." if ev.get("note") else ""))


def train(
    recipe: str = "vae", *, data: str | None = None, epochs: int | None = None, seed: int | None = None,
    out: str | Path | None = None, overrides: dict[str, Any] | list[str] | None = None,
    resume: str | Path | None = None, echo: Callable[[str], None] | None = print, progress: bool = True,
    report: bool = True, stop_after: int | None = None, device: str | None = None,
    parent: str | Path | None = None,
) -> Path:
    """Train a VAE and return its run directory.

    ``vaekit.train()`` trains the default recipe on the embedded ``digits`` data. With
    ``resume=DIR`` the run in DIR continues (``epochs`` may raise its epoch budget).

    The run directory is locked (``DIR/.lock``) while this runs: a second process training,
    resuming or reporting the same directory is refused with the holder's pid.

    ``parent=DIR`` makes this run a second stage on the finished run in DIR (the same as the
    override ``parent.run=DIR``); the sha256 of the parent's weights is recorded.
    """
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs (epochs=) must be at least 1 (got {epochs})")
    if resume is not None:
        run_dir = Path(resume)
        if overrides or data is not None or seed is not None or parent is not None:
            raise ConfigError("--resume continues a run as it was configured; only --epochs (and --device) may be given with it")
        config = Config.from_dict(rundir.read_json(run_dir / rundir.CONFIG), source=str(run_dir / rundir.CONFIG))
        if epochs is not None:
            config = config.with_overrides({"train": {"epochs": epochs}}, source="--epochs")
        if device is not None:  # where a run trains does not change what it computes
            config = config.with_overrides({"train": {"device": device}}, source="--device")
    else:
        config = resolve_config(recipe, data=data, epochs=epochs, seed=seed, overrides=overrides)
        if parent is not None:
            config = with_parent(config, parent)
        if config.parent is not None and data is None and not _sets_data(overrides):
            config = parents_data(config)
        if device is not None:
            config = config.with_overrides({"train": {"device": device}}, source="--device")
        if out is not None:
            run_dir = Path(out)
        elif lock_applies():
            run_dir = default_run_dir(config, recipe, create=True)
        else:  # other torchrun ranks never write; rank 0 names the folder
            run_dir = default_run_dir(config, recipe)
        if holds_run(run_dir):
            raise RunDirError(f"{run_dir} already holds a run; resume it with --resume {run_dir} or choose another --out")

    lock = RunLock(run_dir, action="resume" if resume is not None else "train")
    locked = lock_applies()
    if locked:
        lock.acquire()
    try:
        return _train_locked(config, run_dir, resume=resume is not None, echo=echo, progress=progress,
                             report=report, stop_after=stop_after)
    finally:
        if locked:
            lock.release()
            if out is not None or resume is not None:
                lock.remove_created_if_empty()
            elif not any(run_dir.iterdir()):  # the default folder, made above, stayed empty
                run_dir.rmdir()


def _train_locked(
    config: Config, run_dir: Path, *, resume: bool, echo: Callable[[str], None] | None, progress: bool,
    report: bool, stop_after: int | None,
) -> Path:
    if not resume and holds_run(run_dir):  # checked again now that we hold the lock
        raise RunDirError(f"{run_dir} already holds a run; resume it with --resume {run_dir} or choose another --out")
    total = config.train.epochs
    # Long runs print about 25 evenly spaced epoch lines (every line is in metrics.jsonl).
    every = 1 if total <= 50 else max(1, total // 25)

    def on_epoch(row: dict[str, Any]) -> None:
        # The weights changed: an earlier `vaekit evaluate` no longer describes them.
        (run_dir / rundir.EVAL).unlink(missing_ok=True)
        if echo and (row["epoch"] % every == 0 or row["epoch"] in (1, total) or row["skipped_steps"]):
            echo(format_epoch(row, total))

    try:
        result = fit(config, run_dir, resume=resume, on_epoch=on_epoch, progress=progress, stop_after=stop_after)
    except KeyboardInterrupt:
        raise Interrupted("training", run_dir) from None
    info: DistInfo = result.dist
    if result.stop_reason == "time_budget" and echo and info.is_main:
        last = result.metrics[-1]
        echo(f"Stopped at epoch {last['epoch']} of {total}: train.time_budget of {config.train.time_budget:g} s spent "
             f"({last['elapsed_s']:.1f} s of training).")
    elif result.stopped_early and echo and info.is_main:
        last = result.metrics[-1]["epoch"]
        best = min(result.metrics, key=lambda m: m["val_loss"])
        echo(f"Stopped early at epoch {last} of {total}: validation loss did not improve for "
             f"{config.train.early_stopping} epochs (best {best['val_loss']:.2f} nats at epoch {best['epoch']}).")
    finished = result.stopped_early or (result.metrics and result.metrics[-1]["epoch"] >= total)
    if report and finished and info.is_main:
        try:
            metrics = write_report(run_dir, result, echo=echo)
        except KeyboardInterrupt:
            raise Interrupted("report", run_dir) from None
        if echo:
            if metrics is not None:
                echo(format_test_metrics(metrics))
            echo(f"Run directory: {run_dir}\nReport: {run_dir / rundir.REPORT}")
    teardown()
    return run_dir
