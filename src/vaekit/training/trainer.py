"""The training loop.

``fit`` trains the model a :class:`~vaekit.core.config.Config` describes and keeps its run
directory current after every epoch (weights, resume checkpoint, metrics), so a run killed at
any moment resumes from its last finished epoch with the same result it would have had.

Each batch runs the objective's named steps in order (most objectives have one, ``model``; a
FactorVAE or GAN adds a discriminator step), each with its own optimiser, schedule and gradient
clipping; every term of every step goes to ``metrics.jsonl``.

Written for ``torch.distributed`` from the start: under torchrun each rank takes its shard
of every global batch (``train.batch_size`` is the *global* batch), gradients are averaged by
DDP, and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.nn.parallel import DistributedDataParallel

from vaekit.artifacts import rundir
from vaekit.artifacts.complete import complete_config
from vaekit.artifacts.datasets import dataset_description, eval_view, load_splits, static_train_view
from vaekit.artifacts.load import load_parent, pin_parent
from vaekit.core.build import BuildContext
from vaekit.core.config import FORMAT_VERSION, Config
from vaekit.core.devices import resolve_device
from vaekit.core.errors import ConfigError, RunDirError, TrainingError
from vaekit.core.types import Batch, Loss, StepContext
from vaekit.data import Splits, batch_indices, binarize
from vaekit.models import build_model
from vaekit.objectives import MAIN_STEP, build_objective
from vaekit.training import distributed
from vaekit.training.checkpoint import load_checkpoint, restore, save_checkpoint
from vaekit.training.optim import StepSettings, check_step_names, make_optimizer, step_settings

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass
class FitResult:
    run_dir: Path
    metrics: list[dict[str, Any]]
    stopped_early: bool
    splits: Splits
    model: torch.nn.Module
    config: Config
    dist: distributed.DistInfo
    stop_reason: str | None = None  # "early_stopping" or "time_budget" when stopped before train.epochs


# Below this many FLOPs per step (~6 x parameters x batch for forward + backward) a second
# intra-op thread costs more in synchronisation than it saves; on a busy machine two threads
# spinning against another process were measured 5-100x slower than one (digits, 2 cores).
SMALL_STEP_FLOPS = 2e8
DEFAULT_THREADS = torch.get_num_threads()  # before anything here changes it


def auto_threads(model: torch.nn.Module, local_batch: int) -> int:
    """One thread for tiny steps, torch's default (one per core) otherwise."""
    flops = 6 * sum(p.numel() for p in model.parameters()) * local_batch
    return 1 if flops < SMALL_STEP_FLOPS else DEFAULT_THREADS


def _autocast(device: torch.device, precision: str):
    """Mixed-precision context for the forward pass (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def holds_run(out: Path) -> bool:
    """A folder holds a run once its first epoch finished (a checkpoint exists); a run that
    died in its first epoch left nothing worth keeping and may be started again in place."""
    return (out / rundir.CHECKPOINT).exists() or (out / rundir.MODEL).exists()


def remove_stale_temp_files(out: Path) -> None:
    """Temp files from a write interrupted by a kill (the real files are intact)."""
    for tmp in out.glob(".*.tmp*"):
        tmp.unlink(missing_ok=True)


def _prepare_dir(out: Path) -> None:
    if holds_run(out):
        raise RunDirError(f"{out} already holds a run; resume it with `vaekit train --resume {out}` or choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise RunDirError(f"cannot write the run directory {out} ({err.strerror}); choose another --out") from None


# Settings that only make sense for pixels: what a recipe or the default gives, replaced for
# tables by what the data asks for (vaekit.data.default_overrides).
IMAGE_DEFAULTS = {("data", "binarize"): "dynamic", ("model", "likelihood"): "bernoulli"}


def data_defaults(cfg: Config, splits: Splits, *, announce: bool) -> Config:
    """Apply the data's own defaults (tables: no binarisation, the ``tabular`` likelihood) where
    the config holds the image defaults, which would be meaningless on standardised columns."""
    from vaekit.data.defaults import default_overrides

    wanted = default_overrides(splits.info)
    if not wanted:
        return cfg
    current = cfg.to_dict()
    changes: dict[str, dict[str, Any]] = {}
    for (section, key), image_default in IMAGE_DEFAULTS.items():
        value = current[section].get(key)
        name = value.get("name") if isinstance(value, dict) else value
        if key in wanted.get(section, {}) and name == image_default:
            changes.setdefault(section, {})[key] = wanted[section][key]
    if changes and announce:
        said = ", ".join(f"{s}.{k}={v.get('name') if isinstance(v, dict) else v}" for s, kv in changes.items() for k, v in kv.items())
        print(f"vaekit: tabular data: using {said} (binarised pixels and a Bernoulli likelihood do not fit "
              "standardised columns; set them explicitly to override)", file=sys.stderr)
    return cfg.with_overrides(changes, source="data defaults") if changes else cfg


@dataclass
class Step:
    """One named optimisation step: its optimiser, settings and parameters."""

    name: str
    optimizer: torch.optim.Optimizer
    settings: StepSettings
    params: list[torch.nn.Parameter]


@dataclass
class EpochStats:
    """Per-step sums of every term (weighted by batch size), examples seen and skipped steps."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    examples: dict[str, float] = field(default_factory=dict)
    skipped: int = 0

    def add(self, step: str, loss: Loss, b: int) -> None:
        if step not in self.names:
            self.names[step] = list(loss.terms)
            self.sums[step] = torch.zeros(len(loss.terms), dtype=torch.float64)
            self.examples[step] = 0.0
        # One stacked tensor op per step instead of a host sync per term.
        self.sums[step] += torch.stack([loss.terms[n].detach().double() for n in self.names[step]]).cpu() * b
        self.examples[step] += b


class Trainer:
    """Holds everything one training run needs; ``fit`` drives it epoch by epoch."""

    def __init__(self, config: Config, out: Path, *, resume: bool, progress: bool) -> None:
        self.out, self.progress = out, progress
        cfg = config
        self.device = resolve_device(cfg.train.device)
        self.info = distributed.setup(self.device)
        if self.device.type == "cuda" and self.info.world_size > 1:
            self.device = torch.device("cuda", self.info.local_rank)
            torch.cuda.set_device(self.device)
        if cfg.train.batch_size % self.info.world_size:
            raise ConfigError(
                f"train.batch_size={cfg.train.batch_size} is the global batch and must divide evenly over "
                f"{self.info.world_size} processes"
            )
        # Everything that can fail on bad input happens before the first file is written.
        if resume:  # the data as it was fitted then, not re-fitted
            from vaekit.artifacts.load import read_dataset

            self.splits = load_splits(cfg.data, preprocessing=read_dataset(out).get("preprocessing"))
        else:
            self.splits = load_splits(cfg.data)
            cfg = data_defaults(cfg, self.splits, announce=self.info.is_main)
        self.dataset = dataset_description(self.splits)
        cfg = complete_config(cfg)
        if cfg.parent is not None and not resume:
            cfg = cfg.model_copy(update={"parent": pin_parent(cfg.parent)})
        parent = load_parent(cfg, device=self.device, child=out)
        ctx = BuildContext.from_dataset(self.dataset, parent=parent)
        torch.manual_seed(cfg.train.seed)
        self.model = build_model(cfg.model, ctx).to(self.device)
        # The objective sees the model's latent size (a discriminator over codes is built for it).
        self.objective = build_objective(cfg.objective, ctx.but(latent_dim=getattr(self.model, "latent_dim", 0))).to(self.device)
        if self.device.type == "cpu":
            torch.set_num_threads(cfg.train.threads or auto_threads(self.model, cfg.train.batch_size // self.info.world_size))
        masked = any(part.mask is not None for part in (self.splits.train, self.splits.val, self.splits.test))
        if masked and not getattr(self.objective, "MASKED", False):
            raise ConfigError(
                f"the data has missing cells (data.missing=mask) but objective.name={cfg.objective['name']!r} would score "
                "them as zeros; use objective.name='iwae' (MIWAE; --recipe miwae) or 'elbo'"
            )
        if masked and not getattr(getattr(self.model, "likelihood", None), "MASKABLE", False):
            raise ConfigError(
                "the data has missing cells (data.missing=mask) but this model's likelihood cannot leave them out of "
                "log p(x|z); use --set model.likelihood=tabular (the miwae recipe does)"
            )
        min_batch = getattr(self.objective, "MIN_BATCH", 1)
        if cfg.train.batch_size // self.info.world_size < min_batch:
            raise ConfigError(
                f"objective.name={cfg.objective['name']!r} needs batches of at least {min_batch} examples per process; "
                f"train.batch_size={cfg.train.batch_size} is too small"
            )
        declared = self.objective.steps(self.model)
        check_step_names(cfg.train, list(declared))
        self.steps = []
        for name, spec in declared.items():
            settings = step_settings(cfg.train, name, spec.defaults)
            self.steps.append(Step(name, make_optimizer(spec.params, settings, self.device), settings, spec.params))
        self.shuffle_gen = torch.Generator().manual_seed(cfg.train.seed)
        self.scaler = torch.amp.GradScaler(self.device.type) if cfg.train.precision == "fp16" else None
        self.cfg = cfg
        self.state: dict[str, Any] = {"epoch": 0, "step": 0, "best_val": math.inf, "bad_epochs": 0, "finished": False}
        self.metrics: list[dict[str, Any]] = []
        if resume:
            self._resume()
        elif self.info.is_main:
            _prepare_dir(out)
            rundir.write_json(out / rundir.DATASET, self.dataset)
        if self.info.is_main:
            rundir.write_json(out / rundir.CONFIG, cfg.to_dict())
        distributed.barrier(self.info)
        self._prepare_data()

    def _resume(self) -> None:
        out, cfg = self.out, self.cfg
        tensors, meta = load_checkpoint(out / rundir.CHECKPOINT)
        self.state = restore(
            tensors, meta, model=self.model, objective=self.objective, optimizers={s.name: s.optimizer for s in self.steps},
            shuffle_gen=self.shuffle_gen, scaler=self.scaler, path=out / rundir.CHECKPOINT,
        )
        if self.state["finished"] and self.state.get("budget_spent"):
            raise RunDirError(f"{out} spent its time budget ({self.state['elapsed_s']:.0f} s of training) at epoch "
                              f"{self.state['epoch']}; it is finished")
        if self.state["finished"] and self.state.get("early_stopped"):
            raise RunDirError(f"{out} stopped early at epoch {self.state['epoch']} (no better validation loss); it is finished")
        if self.state["epoch"] >= cfg.train.epochs:
            raise RunDirError(
                f"{out} has already trained {self.state['epoch']} of {cfg.train.epochs} epochs; "
                f"pass --epochs N with N > {self.state['epoch']} to train further"
            )
        self.metrics = [m for m in rundir.read_metrics(out) if m["epoch"] <= self.state["epoch"]]
        self.state["finished"] = False
        if self.info.is_main:
            remove_stale_temp_files(out)

    def _prepare_data(self) -> None:
        cfg, device = self.cfg, self.device
        if cfg.train.compile:
            # Compile the nets in place (state-dict keys unchanged, so checkpoints stay portable);
            # the distributions around them stay eager.
            self.model.encoder.compile()
            self.model.decoder.compile()
        self.net: torch.nn.Module = self.model
        if self.info.world_size > 1:
            self.net = DistributedDataParallel(
                self.model, device_ids=[self.info.local_rank] if device.type == "cuda" else None,
            )
        x_train = self.splits.train.x
        if cfg.data.binarize == "static":
            x_train = static_train_view(x_train, cfg.data)
        self.x_train_cpu = x_train  # binarised on the CPU with the CPU generator, then moved
        self.x_train = x_train.to(device)
        y = self.splits.train.y
        self.y_train = None if y is None else y.to(device)
        mask = self.splits.train.mask  # (N, *shape) bool, True = observed; None without missing cells
        self.mask_train = None if mask is None else mask.to(device)
        yv, mv = self.splits.val.y, self.splits.val.mask
        self.val = Batch(eval_view(self.splits.val.x, cfg.data).to(device), None if yv is None else yv.to(device),
                         None if mv is None else mv.to(device))
        self.n = self.x_train.shape[0]
        self.steps_per_epoch = len(batch_indices(self.n, cfg.train.batch_size, shuffle=False, drop_last=False))

    @property
    def total_steps(self) -> int:
        """Steps the schedules span: train.epochs, or with train.time_budget the epochs the budget
        was predicted to hold after the first epoch (saved in the checkpoint, so resume agrees)."""
        return self.steps_per_epoch * int(self.state.get("schedule_epochs") or self.cfg.train.epochs)

    # -- one step --------------------------------------------------------------------------
    def step_context(self, done_in_epoch: int) -> StepContext:
        return StepContext(
            step=self.state["step"], epoch=self.state["epoch"] + done_in_epoch / max(1, self.steps_per_epoch),
            total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch, n_train=self.n, generator=self.shuffle_gen,
        )

    def train_step(self, batch: Batch, ctx: StepContext, stats: EpochStats) -> bool:
        """Run every named step on one batch; False if any step was skipped (non-finite)."""
        all_ok = True
        for step in self.steps:
            lr = step.settings.lr_at(self.state["step"], self.total_steps)
            for group in step.optimizer.param_groups:
                group["lr"] = lr
            with _autocast(self.device, self.cfg.train.precision):
                loss = self.objective(self.net, batch, ctx, step=step.name)
            # One host sync per step for the finiteness check: negligible on the CPU (no
            # asynchronous queue to drain) and what makes "skip the step" exact.
            ok = loss_was_finite = bool(torch.isfinite(loss.total))
            step.optimizer.zero_grad(set_to_none=True)
            if ok:
                if self.scaler is not None:
                    self.scaler.scale(loss.total).backward()
                    self.scaler.unscale_(step.optimizer)
                else:
                    loss.total.backward()
                clip = step.settings.clip_grad
                norm = torch.nn.utils.clip_grad_norm_(step.params, clip if clip else math.inf)
                ok = bool(torch.isfinite(norm))
            if self.info.world_size > 1:  # every rank must agree to skip, or the ranks drift apart
                flag = torch.tensor([0.0 if ok else 1.0])
                ok = float(distributed.all_reduce_sum(flag, self.info)) == 0.0
            if not ok:
                if self.scaler is not None and loss_was_finite:
                    self.scaler.update()  # an fp16 overflow: let the scaler lower its scale
                step.optimizer.zero_grad(set_to_none=True)
                all_ok = False
                continue
            if self.scaler is not None:
                self.scaler.step(step.optimizer)
                self.scaler.update()
            else:
                step.optimizer.step()
            stats.add(step.name, loss, len(batch))
        self.state["step"] += 1
        return all_ok

    # -- one epoch -------------------------------------------------------------------------
    def run_epoch(self, epoch: int, deadline: float | None = None) -> tuple[EpochStats, float]:
        """One pass over the training set. ``deadline`` (a ``time.perf_counter()`` value, from
        ``train.time_budget``): the epoch is cut short after the first step that ends past it; the
        number of steps taken is then in ``self.budget_cut_after``."""
        cfg, device = self.cfg, self.device
        self.budget_cut_after: int | None = None
        from vaekit.training.progress import EpochProgress  # rich is imported only when training

        t0 = time.perf_counter()
        self.net.train()
        # Dynamic binarisation: a fresh draw of the training set every epoch (Burda et al. 2015).
        x_epoch = (binarize(self.x_train_cpu, "dynamic", generator=self.shuffle_gen).to(device)
                   if cfg.data.binarize == "dynamic" else self.x_train)
        batches = batch_indices(
            self.n, cfg.train.batch_size, shuffle=True, generator=self.shuffle_gen,
            rank=self.info.rank, world_size=self.info.world_size,
        )
        stats = EpochStats()
        consecutive_bad = 0
        with EpochProgress(f"Epoch {epoch}/{cfg.train.epochs}", len(batches), enabled=self.progress and self.info.is_main) as bar:
            for i, idx in enumerate(batches):
                if len(idx) < getattr(self.objective, "MIN_BATCH", 1):
                    bar.advance()  # a final batch too short for the objective's minibatch estimator
                    continue
                idx = idx.to(device)
                batch = Batch(x_epoch[idx], None if self.y_train is None else self.y_train[idx],
                              None if self.mask_train is None else self.mask_train[idx])
                if self.train_step(batch, self.step_context(i), stats):
                    consecutive_bad = 0
                else:
                    stats.skipped += 1
                    consecutive_bad += 1
                    if consecutive_bad >= cfg.train.max_bad_steps:
                        self._too_many_bad_steps(consecutive_bad, epoch)
                bar.advance()
                if deadline is not None and time.perf_counter() >= deadline and i + 1 < len(batches):
                    self.budget_cut_after = i + 1
                    break
        for name in stats.sums:
            stats.sums[name] = distributed.all_reduce_sum(stats.sums[name], self.info)
        return stats, time.perf_counter() - t0

    def _too_many_bad_steps(self, count: int, epoch: int) -> None:
        out, done = self.out, self.state["epoch"]
        kept = (f"the last good state (epoch {done}) is kept in {out}" if done
                else f"no epoch finished, so nothing was kept (the same --out {out} can be reused)")
        raise TrainingError(
            f"{count} training steps in a row gave a non-finite loss or gradient (epoch {epoch}); {kept}. "
            "Try a lower --set train.lr, --set train.clip_grad=1.0, a smaller latent or a different likelihood, "
            "and check the data"
        )

    def metrics_row(self, epoch: int, stats: EpochStats, seconds: float) -> dict[str, Any]:
        val = validation_terms(self.model, self.objective, self.val, self.cfg.train.batch_size, self.n)
        row: dict[str, Any] = {"epoch": epoch}
        for step, names in stats.names.items():
            count = max(1.0, stats.examples[step] * self.info.world_size)
            prefix = "train_" if step == MAIN_STEP else f"train_{step}_"
            row.update({f"{prefix}{n}": float(v) / count for n, v in zip(names, stats.sums[step])})
        for key in ("loss", "recon", "kl"):
            row.setdefault(f"train_{key}", math.nan)  # every step of the epoch was skipped
        row.update({f"val_{k}": v for k, v in val.items()})
        ctx = self.step_context(self.steps_per_epoch)
        for step in self.steps:
            row["lr" if step.name == MAIN_STEP else f"lr_{step.name}"] = step.optimizer.param_groups[0]["lr"]
        if hasattr(self.objective, "kl_weight"):
            row["kl_weight"] = self.objective.kl_weight(ctx)
        examples = stats.examples.get(MAIN_STEP, 0.0) * self.info.world_size
        row.update(
            seconds=seconds, samples_per_s=examples / seconds, skipped_steps=stats.skipped,
            threads=torch.get_num_threads() if self.device.type == "cpu" else None, world_size=self.info.world_size,
        )
        return row

    def end_epoch(self, epoch: int, row: dict[str, Any]) -> bool:
        """Record the epoch, update early stopping, write files; True if training should stop."""
        out, cfg, state = self.out, self.cfg, self.state
        self.metrics.append(row)
        improved = row["val_loss"] < state["best_val"]
        if improved:
            state["best_val"], state["bad_epochs"] = row["val_loss"], 0
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        stopped_early = bool(cfg.train.early_stopping and state["bad_epochs"] >= cfg.train.early_stopping)
        state["elapsed_s"] = float(row.get("elapsed_s", 0.0))
        budget = cfg.train.time_budget
        if stopped_early:
            state["finished"], state["early_stopped"] = True, True
        elif epoch >= cfg.train.epochs:
            state["finished"] = True
        elif budget is not None and state["elapsed_s"] >= budget:
            state["finished"], state["early_stopped"], state["budget_spent"] = True, True, True
            stopped_early = True
        if budget is not None and "schedule_epochs" not in state and state["elapsed_s"] > 0:
            # Fit the learning-rate schedule (and annealing objectives) to the budget: the epochs it
            # will hold at the first epoch's pace, so a cosine decay completes before time runs out.
            per_epoch = state["elapsed_s"] / epoch
            state["schedule_epochs"] = int(min(cfg.train.epochs, max(epoch, math.ceil(budget / per_epoch))))
        if self.info.is_main:
            # Order matters for a kill at any moment: weights, then metrics, then the checkpoint
            # that marks the epoch done. A resume truncates metrics to the checkpoint's epoch.
            if improved or not (out / rundir.MODEL).exists():
                rundir.save_tensors(out / rundir.MODEL, self.model.state_dict(),
                                    metadata={"epoch": str(epoch), "format_version": str(FORMAT_VERSION)})
            rundir.write_metrics(out, self.metrics)
            save_checkpoint(
                out / rundir.CHECKPOINT, model=self.model, objective=self.objective,
                optimizers={s.name: s.optimizer for s in self.steps}, shuffle_gen=self.shuffle_gen,
                scaler=self.scaler, state=state,
            )
        distributed.barrier(self.info)
        return stopped_early


def fit(
    config: Config, out: Path, *, resume: bool = False, on_epoch: EpochCallback | None = None,
    stop_after: int | None = None, progress: bool = True,
) -> FitResult:
    """Train (or, with ``resume=True``, continue) the run in ``out``.

    ``on_epoch`` receives each epoch's metrics row (rank 0 only). ``stop_after`` ends this call
    after that many epochs *in this call* without marking the run finished (as if killed), so
    "N epochs" and "k epochs, then resume" can be compared.
    """
    out = Path(out)
    trainer = Trainer(config, out, resume=resume, progress=progress)
    stopped_early = False
    epochs_this_call = 0
    while trainer.state["epoch"] < trainer.cfg.train.epochs:
        epoch = trainer.state["epoch"] + 1
        started = time.perf_counter()
        budget = trainer.cfg.train.time_budget
        # The time budget cuts the epoch in progress (then validated and saved as any epoch), so a
        # run never trains much past it. Not under torchrun: ranks would have to agree on the step.
        deadline = (started + budget - trainer.state.get("elapsed_s", 0.0)
                    if budget is not None and trainer.info.world_size == 1 else None)
        stats, seconds = trainer.run_epoch(epoch, deadline)
        row = trainer.metrics_row(epoch, stats, seconds)
        if trainer.budget_cut_after is not None:
            row["budget_cut_after_steps"] = trainer.budget_cut_after
        # Wall time of training so far (epochs with their validation; carried across resumes),
        # read by train.time_budget.
        row["elapsed_s"] = trainer.state.get("elapsed_s", 0.0) + (time.perf_counter() - started)
        stopped_early = trainer.end_epoch(epoch, row)
        if trainer.info.is_main and on_epoch:
            on_epoch(row)
        epochs_this_call += 1
        if stopped_early or (stop_after is not None and epochs_this_call >= stop_after):
            break
    reason = None
    if stopped_early:
        reason = "time_budget" if trainer.state.get("budget_spent") else "early_stopping"
    return FitResult(
        run_dir=out, metrics=trainer.metrics, stopped_early=stopped_early, splits=trainer.splits,
        model=trainer.model, config=trainer.cfg, dist=trainer.info, stop_reason=reason,
    )


@torch.no_grad()
def validation_terms(
    model: torch.nn.Module, objective: torch.nn.Module, data: Batch, batch_size: int, n_train: int = 0,
) -> dict[str, float]:
    """The objective's main-step terms on the validation set (warm-up finished), nats per example."""
    was_training = model.training
    model.eval()
    ctx = StepContext.evaluation(n_train)
    sums: dict[str, float] = {}
    seen = 0
    for start in range(0, len(data), batch_size):
        batch = data[start : start + batch_size]
        if len(batch) < getattr(objective, "MIN_BATCH", 1):
            continue  # too short for the objective's minibatch estimator (at most batch_size - 1 examples)
        terms = objective(model, batch, ctx).terms
        seen += len(batch)
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + float(value) * len(batch)
    model.train(was_training)
    return {k: v / max(1, seen) for k, v in sums.items()}
