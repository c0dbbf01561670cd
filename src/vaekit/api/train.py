"""``vaekit.training``: resolve a config from recipe + overrides, train, write the report."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

from vaekit.api.report import write_report
from vaekit.artifacts import rundir
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
    return config.with_overrides(explicit, source="arguments") if explicit else config


def default_run_dir(config: Config, recipe: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{Path(recipe).stem}-{Path(config.data.name).stem}").strip("-")
    return Path("runs") / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"


def format_epoch(row: dict[str, Any], total: int) -> str:
    return (
        f"Epoch {row['epoch']}/{total}  loss {row['train_loss']:.1f}  recon {row['train_recon']:.1f}  "
        f"KL {row['train_kl']:.1f}  val {row['val_loss']:.1f}  ({row['samples_per_s']:,.0f} samples/s)"
        + (f"  [{row['skipped_steps']} non-finite steps skipped]" if row["skipped_steps"] else "")
    )


def train(
    recipe: str = "vae", *, data: str | None = None, epochs: int | None = None, seed: int | None = None,
    out: str | Path | None = None, overrides: dict[str, Any] | list[str] | None = None,
    resume: str | Path | None = None, echo: Callable[[str], None] | None = print, progress: bool = True,
    report: bool = True, stop_after: int | None = None, device: str | None = None,
) -> Path:
    """Train a VAE and return its run directory.

    ``vaekit.training()`` trains the default recipe on the embedded ``digits`` data. With
    ``resume=DIR`` the run in DIR continues (``epochs`` may raise its epoch budget).
    """
    if resume is not None:
        run_dir = Path(resume)
        if overrides or data is not None or seed is not None:
            raise ConfigError("--resume continues a run as it was configured; only --epochs (and --device) may be given with it")
        config = Config.from_dict(rundir.read_json(run_dir / rundir.CONFIG), source=str(run_dir / rundir.CONFIG))
        if epochs is not None:
            config = config.with_overrides({"train": {"epochs": epochs}}, source="--epochs")
        if device is not None:  # where a run trains does not change what it computes
            config = config.with_overrides({"train": {"device": device}}, source="--device")
    else:
        config = resolve_config(recipe, data=data, epochs=epochs, seed=seed, overrides=overrides)
        if device is not None:
            config = config.with_overrides({"train": {"device": device}}, source="--device")
        run_dir = Path(out) if out is not None else default_run_dir(config, recipe)
        if holds_run(run_dir):
            raise RunDirError(f"{run_dir} already holds a run; resume it with --resume {run_dir} or choose another --out")

    total = config.train.epochs
    # Long runs print about 25 evenly spaced epoch lines (every line is in metrics.jsonl).
    every = 1 if total <= 50 else max(1, total // 25)

    def on_epoch(row: dict[str, Any]) -> None:
        if echo and (row["epoch"] % every == 0 or row["epoch"] in (1, total) or row["skipped_steps"]):
            echo(format_epoch(row, total))
    result = fit(config, run_dir, resume=resume is not None, on_epoch=on_epoch if echo else None, progress=progress, stop_after=stop_after)
    info: DistInfo = result.dist
    if result.stopped_early and echo and info.is_main:
        echo(f"Stopped early: validation loss did not improve for {config.train.early_stopping} epochs.")
    finished = result.stopped_early or (result.metrics and result.metrics[-1]["epoch"] >= total)
    if report and finished and info.is_main:
        write_report(run_dir, result)
        if echo:
            echo(f"Run directory: {run_dir}\nReport: {run_dir / rundir.REPORT}")
    teardown()
    return run_dir
