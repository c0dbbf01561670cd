"""Per-epoch batch index lists, identical across single-process and data-parallel runs."""

from __future__ import annotations

import torch

from vaekit.core.errors import DataError


def _check(n: int, batch_size: int, rank: int, world_size: int) -> None:
    if n < 0 or batch_size < 1:
        raise DataError(f"batch_indices needs n >= 0 and batch_size >= 1 (got n={n}, batch_size={batch_size})")
    if world_size < 1 or not 0 <= rank < world_size:
        raise DataError(f"rank {rank} is invalid for world_size {world_size}; ranks run 0..world_size-1")
    if batch_size % world_size:
        raise DataError(
            f"global batch_size {batch_size} is not divisible by world_size {world_size}; "
            "choose a batch size that is a multiple of the number of processes"
        )


def batch_indices(
    n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
    rank: int = 0, world_size: int = 1, drop_last: bool = False,
) -> list[torch.Tensor]:
    """Index tensors (int64) for one epoch over ``range(n)``.

    ``batch_size`` is the global batch. With ``world_size > 1`` each global batch is cut into
    ``world_size`` contiguous equal shards and ``rank`` gets shard ``rank``; a short final batch
    is padded by wrapping around to the start of the epoch's order so shards stay equal (unless
    ``drop_last``). All ranks must pass generators in the same state to get the same order.
    """
    _check(n, batch_size, rank, world_size)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    batches = []
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]
        if len(batch) < batch_size:
            if drop_last:
                break
            short = (-len(batch)) % world_size
            if short:
                batch = torch.cat([batch, order.repeat(short // max(n, 1) + 1)[:short]])
        shard = len(batch) // world_size
        batches.append(batch[rank * shard : (rank + 1) * shard])
    return batches
