"""The training loop.

``fit`` trains the model a :class:`~vaekit.core.config.Config` describes and keeps its run
directory current after every epoch (weights, resume checkpoint, metrics), so a run killed at
any moment resumes from its last finished epoch with the same result it would have had.

Written for ``torch.distributed`` from the start: under torchrun each rank takes its shard
of every global batch (``train.batch_size`` is the *global* batch), gradients are averaged by
DDP, and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.nn.parallel import DistributedDataParallel

from vaekit.artifacts import rundir
from vaekit.artifacts.datasets import dataset_description, eval_view, load_splits, static_train_view
from vaekit.core.config import Config
from vaekit.core.devices import resolve_device
from vaekit.core.errors import ConfigError, RunDirError, TrainingError
from vaekit.data import Splits, batch_indices, binarize
from vaekit.models import VAE, build_model
from vaekit.objectives import build_objective
from vaekit.training import distributed
from vaekit.training.checkpoint import load_checkpoint, restore, save_checkpoint
from vaekit.training.schedules import lr_factor

EpochCallback = Callable[[dict[str, Any]], None]


@dataclass
class FitResult:
    run_dir: Path
    metrics: list[dict[str, Any]]
    stopped_early: bool
    splits: Splits
    model: VAE
    config: Config
    dist: distributed.DistInfo


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
    cfg = config
    device = resolve_device(cfg.train.device)
    info = distributed.setup(device)
    if device.type == "cuda" and info.world_size > 1:
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if cfg.train.batch_size % info.world_size:
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size} is the global batch and must divide evenly over "
            f"{info.world_size} processes"
        )

    # Everything that can fail on bad input happens before the first file is written.
    splits = load_splits(cfg.data)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model, splits.info.shape, splits.info.levels).to(device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.train.threads or auto_threads(model, cfg.train.batch_size // info.world_size))
    objective = build_objective(cfg.objective)
    opt_cls = torch.optim.AdamW if cfg.train.optimizer == "adamw" else torch.optim.Adam
    # The fused (single-kernel) Adam update: measured 1.28x training throughput on reference-mlp
    # (2 CPU threads, bench/step_overheads.py) against the default multi-tensor one; same maths.
    fused = device.type in {"cpu", "cuda"}
    optimizer = opt_cls(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay, fused=fused)
    shuffle_gen = torch.Generator().manual_seed(cfg.train.seed)

    state: dict[str, Any] = {"epoch": 0, "step": 0, "best_val": math.inf, "bad_epochs": 0, "finished": False}
    metrics: list[dict[str, Any]] = []
    if resume:
        tensors, meta = load_checkpoint(out / rundir.CHECKPOINT)
        state = restore(tensors, meta, model=model, optimizer=optimizer, shuffle_gen=shuffle_gen, path=out / rundir.CHECKPOINT)
        if state["finished"] and state.get("early_stopped"):
            raise RunDirError(f"{out} stopped early at epoch {state['epoch']} (no better validation loss); it is finished")
        if state["epoch"] >= cfg.train.epochs:
            raise RunDirError(
                f"{out} has already trained {state['epoch']} of {cfg.train.epochs} epochs; "
                f"pass --epochs N with N > {state['epoch']} to train further"
            )
        metrics = [m for m in rundir.read_metrics(out) if m["epoch"] <= state["epoch"]]
        state["finished"] = False
        if info.is_main:
            remove_stale_temp_files(out)
    elif info.is_main:
        _prepare_dir(out)
        rundir.write_json(out / rundir.DATASET, dataset_description(splits))
    if info.is_main:
        rundir.write_json(out / rundir.CONFIG, cfg.to_dict())
    distributed.barrier(info)

    if cfg.train.compile:
        # Compile the nets in place (state-dict keys unchanged, so checkpoints stay portable);
        # the distributions around them stay eager.
        model.encoder.compile()
        model.decoder.compile()
    scaler = torch.amp.GradScaler(device.type) if cfg.train.precision == "fp16" else None
    net: torch.nn.Module = model
    if info.world_size > 1:
        net = DistributedDataParallel(model, device_ids=[info.local_rank] if device.type == "cuda" else None)

    x_train = splits.train.x
    if cfg.data.binarize == "static":
        x_train = static_train_view(x_train, cfg.data)
    x_train_cpu = x_train  # binarised on the CPU with the CPU generator, then moved
    x_train = x_train.to(device)
    x_val = eval_view(splits.val.x, cfg.data).to(device)

    n = x_train.shape[0]
    steps_per_epoch = len(batch_indices(n, cfg.train.batch_size, shuffle=False, drop_last=False))
    total_steps = steps_per_epoch * cfg.train.epochs

    def set_lr(step: int) -> float:
        lr = cfg.train.lr * lr_factor(
            step, total_steps=total_steps, warmup_steps=cfg.train.warmup_steps,
            min_ratio=cfg.train.min_lr_ratio, kind=cfg.train.schedule,
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    stopped_early = False
    epochs_this_call = 0
    from vaekit.training.progress import EpochProgress  # rich is imported only when training

    while state["epoch"] < cfg.train.epochs:
        epoch = state["epoch"] + 1
        t0 = time.perf_counter()
        net.train()
        # Dynamic binarisation: a fresh draw of the training set every epoch (Burda et al. 2015).
        x_epoch = binarize(x_train_cpu, "dynamic", generator=shuffle_gen).to(device) if cfg.data.binarize == "dynamic" else x_train
        batches = batch_indices(
            n, cfg.train.batch_size, shuffle=True, generator=shuffle_gen, rank=info.rank, world_size=info.world_size,
        )
        sums = torch.zeros(4, dtype=torch.float64)  # loss, recon, kl (sums over examples), examples
        skipped, consecutive_bad = 0, 0
        lr = optimizer.param_groups[0]["lr"]
        with EpochProgress(f"Epoch {epoch}/{cfg.train.epochs}", len(batches), enabled=progress and info.is_main) as bar:
            for idx in batches:
                x = x_epoch[idx.to(device)]
                lr = set_lr(state["step"])
                with _autocast(device, cfg.train.precision):
                    loss = objective(net, x, progress=state["epoch"] + (bar.done / max(1, len(batches))))
                # One host sync per step for the finiteness check: negligible on the CPU (no
                # asynchronous queue to drain) and what makes "skip the step" exact.
                ok = loss_was_finite = bool(torch.isfinite(loss.total))
                optimizer.zero_grad(set_to_none=True)
                if ok:
                    if scaler is not None:
                        scaler.scale(loss.total).backward()
                        scaler.unscale_(optimizer)
                    else:
                        loss.total.backward()
                    norm = torch.nn.utils.clip_grad_norm_(
                        model.parameters(), cfg.train.clip_grad if cfg.train.clip_grad else math.inf
                    )
                    ok = bool(torch.isfinite(norm))
                if info.world_size > 1:  # every rank must agree to skip, or the ranks drift apart
                    flag = torch.tensor([0.0 if ok else 1.0])
                    ok = float(distributed.all_reduce_sum(flag, info)) == 0.0
                state["step"] += 1
                if not ok:
                    if scaler is not None and loss_was_finite:
                        scaler.update()  # an fp16 overflow: let the scaler lower its scale
                    skipped += 1
                    consecutive_bad += 1
                    optimizer.zero_grad(set_to_none=True)
                    if consecutive_bad >= cfg.train.max_bad_steps:
                        kept = (f"the last good state (epoch {state['epoch']}) is kept in {out}" if state["epoch"]
                                else f"no epoch finished, so nothing was kept (the same --out {out} can be reused)")
                        raise TrainingError(
                            f"{consecutive_bad} training steps in a row gave a non-finite loss or gradient "
                            f"(epoch {epoch}); {kept}. Try a lower --set train.lr, "
                            "--set train.clip_grad=1.0, a smaller latent or a different likelihood, and check the data"
                        )
                    bar.advance()
                    continue
                consecutive_bad = 0
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                b = x.shape[0]
                sums += torch.stack([loss.terms["loss"].double() * b, loss.terms["recon"].double() * b,
                                     loss.terms["kl"].double() * b, torch.tensor(float(b), dtype=torch.float64)])
                bar.advance()
        sums = distributed.all_reduce_sum(sums, info)
        seconds = time.perf_counter() - t0
        val = validation_terms(model, objective, x_val, cfg.train.batch_size)
        count = max(1.0, float(sums[3]))
        row = {
            "epoch": epoch,
            "train_loss": float(sums[0]) / count, "train_recon": float(sums[1]) / count, "train_kl": float(sums[2]) / count,
            "val_loss": val["loss"], "val_recon": val["recon"], "val_kl": val["kl"],
            "lr": lr, "kl_weight": getattr(objective, "kl_weight", lambda p: 1.0)(epoch),
            "seconds": seconds, "samples_per_s": float(sums[3]) / seconds, "skipped_steps": skipped,
            "threads": torch.get_num_threads() if device.type == "cpu" else None, "world_size": info.world_size,
        }
        metrics.append(row)
        improved = val["loss"] < state["best_val"]
        if improved:
            state["best_val"], state["bad_epochs"] = val["loss"], 0
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        if cfg.train.early_stopping and state["bad_epochs"] >= cfg.train.early_stopping:
            stopped_early = True
            state["finished"], state["early_stopped"] = True, True
        elif epoch >= cfg.train.epochs:
            state["finished"] = True
        if info.is_main:
            # Order matters for a kill at any moment: weights, then metrics, then the checkpoint
            # that marks the epoch done. A resume truncates metrics to the checkpoint's epoch.
            if improved or not (out / rundir.MODEL).exists():
                rundir.save_tensors(out / rundir.MODEL, model.state_dict(), metadata={"epoch": str(epoch)})
            rundir.write_metrics(out, metrics)
            save_checkpoint(out / rundir.CHECKPOINT, model=model, optimizer=optimizer, shuffle_gen=shuffle_gen, state=state)
            if on_epoch:
                on_epoch(row)
        distributed.barrier(info)
        epochs_this_call += 1
        if stopped_early or (stop_after is not None and epochs_this_call >= stop_after):
            break
    return FitResult(run_dir=out, metrics=metrics, stopped_early=stopped_early, splits=splits, model=model, config=cfg, dist=info)


@torch.no_grad()
def validation_terms(model: torch.nn.Module, objective: Any, x: torch.Tensor, batch_size: int) -> dict[str, float]:
    """The objective's terms on the validation set (warm-up finished), nats per example."""
    was_training = model.training
    model.eval()
    sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        terms = objective(model, xb).terms
        for key in sums:
            sums[key] += float(terms[key]) * xb.shape[0]
    model.train(was_training)
    return {k: v / max(1, x.shape[0]) for k, v in sums.items()}
