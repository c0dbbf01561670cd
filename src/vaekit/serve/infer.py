"""The model work behind each endpoint: plain functions of a :class:`RunSlot`, run in the thread
pool with the slot's lock held (:mod:`vaekit.serve.gate`). They reuse the task functions and
raise :class:`~vaekit.serve.media.BadInput` for input that does not fit the run."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vaekit.serve import media
from vaekit.serve.slots import RunSlot
from vaekit.serve.stats import RunStats, compute_stats
from vaekit.tasks.anomaly import anomaly_scores
from vaekit.tasks.generate import generate
from vaekit.tasks.inpaint import inpaint
from vaekit.tasks.interpolate import PATHS
from vaekit.tasks.reconstruct import reconstruct
from vaekit.tasks.tabular import generate_rows


ANOMALY_K = 100  # importance samples per score (vaekit.tasks.anomaly's default)
SCORED_EXAMPLES = 500  # test examples an upload's score is ranked among (computed on the first upload)
SCORE = (f"IW-{ANOMALY_K} estimate of -log p(x) in nats (Burda et al. 2016; vaekit.tasks.anomaly, seed 0); "
         "higher = more anomalous")


def stats(slot: RunSlot) -> RunStats:
    """The run's test-split view, computed on first use (lock held by the caller)."""
    if "stats" not in slot.cache:
        slot.cache["stats"] = compute_stats(slot)
    return slot.cache["stats"]


def check_code(slot: RunSlot, z: list[float]) -> torch.Tensor:
    if len(z) != slot.latent_dim:
        raise media.BadInput(f"the code has {len(z)} numbers but this run's latent space has {slot.latent_dim} dimensions")
    return torch.tensor(z, dtype=torch.float32)


def check_label(slot: RunSlot, label: int | None, *, required: bool = True) -> torch.Tensor | None:
    """A label (1,) for a conditional run; None for an unconditional one (where a label is refused)."""
    k = slot.n_classes
    if not k:
        if label is not None:
            raise media.BadInput(f"run {slot.name} is not conditional; it takes no label")
        return None
    if label is None:
        if not required:
            return None
        raise media.BadInput(f"run {slot.name} is conditional: give a label 0 .. {k - 1}")
    if not 0 <= label < k:
        raise media.BadInput(f"label {label} is out of range: run {slot.name} has {k} classes, labels 0 .. {k - 1}")
    return torch.tensor([label])


@torch.no_grad()
def decode(slot: RunSlot, z: list[float], label: int | None) -> torch.Tensor:
    """(*shape): the decoder's mean at z."""
    code = check_code(slot, z)[None].to(slot.model.device)
    cond = check_label(slot, label)
    return slot.model.decode(code, None if cond is None else cond.to(code.device)).mean[0].cpu()


def decode_png(slot: RunSlot, z: list[float], label: int | None) -> bytes:
    """The PNG of :func:`decode` (encoded here, in the thread pool, not on the event loop)."""
    return media.png_bytes(decode(slot, z, label))


def decode_item(slot: RunSlot, z: list[float], label: int | None) -> dict[str, Any]:
    """:func:`decode` as the page shows it: ``{"png": data URL}`` or ``{"row": [...]}``."""
    return media.item(slot, decode(slot, z, label))


def to_item(slot: RunSlot, x: torch.Tensor, **extra: Any) -> dict[str, Any]:
    return {**media.item(slot, x), **extra}


@torch.no_grad()
def sample(slot: RunSlot, n: int, temperature: float, seed: int, label: int | None) -> list[dict[str, Any]]:
    """n draws from the prior at ``temperature``: decoder means (images) or rows drawn from p(x|z)."""
    check_label(slot, label, required=False)
    k = slot.n_classes
    labels = None
    if k:
        labels = torch.full((n,), label, dtype=torch.long) if label is not None else torch.arange(n) % k
    gen = torch.Generator().manual_seed(seed)
    if slot.kind == "table":
        pre = slot.run.dataset["preprocessing"]
        table, _ = generate_rows(slot.model, n, pre, generator=gen, temperature=temperature, cond=labels)
        cols = [c.tolist() for c in table.columns]
        return [{"row": [media._json_value(v) for v in r], "label": None if labels is None else int(labels[i])}
                for i, r in enumerate(zip(*cols))]
    x = generate(slot.model, n, temperature=temperature, generator=gen, cond=labels)
    return [to_item(slot, x[i], label=None if labels is None else int(labels[i])) for i in range(n)]


@torch.no_grad()
def path_frames(slot: RunSlot, z_from: list[float], z_to: list[float], steps: int, path: str,
                label_from: int | None, label_to: int | None) -> torch.Tensor:
    """(steps, *shape) decoder means along a lerp/slerp path (the interpolation task's paths);
    a conditional run's decoder sees the two ends' one-hot labels mixed linearly, as in
    :func:`vaekit.tasks.interpolate.interpolate`."""
    a, b = check_code(slot, z_from), check_code(slot, z_to)
    ca, cb = check_label(slot, label_from), check_label(slot, label_to)
    t = torch.linspace(0, 1, steps)
    z = PATHS[path](a, b, t)  # (steps, L)
    cond = None
    if ca is not None:
        onehot = slot.model.condition(torch.cat([ca, cb]))  # (2, C)
        cond = PATHS["lerp"](onehot[0], onehot[1], t)  # (steps, C)
    return slot.model.decode(z.to(slot.model.device), cond).mean.cpu()


@torch.no_grad()
def restyle(slot: RunSlot, z: list[float]) -> list[dict[str, Any]]:
    """The same code decoded under every class of a conditional run (style kept, class changed)."""
    if not slot.n_classes:
        raise media.BadInput(f"run {slot.name} is not conditional; restyling needs a run trained with "
                             "--set model.conditional=true")
    code = check_code(slot, z)
    k = slot.n_classes
    x = slot.model.decode(code[None].expand(k, -1).to(slot.model.device), torch.arange(k)).mean.cpu()
    return [to_item(slot, x[i], label=i) for i in range(k)]


def test_scores(slot: RunSlot) -> "np.ndarray | None":
    """Anomaly scores of the explorer's test examples (computed once; lock held by the caller),
    the distribution an upload's score is placed in; None when the run's model cannot be scored."""
    if "scores" not in slot.cache:
        st = stats(slot)
        n = min(SCORED_EXAMPLES, st.x.shape[0])
        cond = st.y[:n] if slot.n_classes else None
        slot.cache["scores"] = _scores(slot, st.x[:n], cond)
        if slot.cache["scores"] is not None:
            slot.cache["scores"] = np.sort(slot.cache["scores"])
    return slot.cache["scores"]


def _scores(slot: RunSlot, x: torch.Tensor, cond: torch.Tensor | None) -> "np.ndarray | None":
    """vaekit.tasks.anomaly's scores, or None (reason kept in ``slot.cache["anomaly_error"]``):
    the score is an extra on an upload, so a model it does not support must not fail the upload."""
    try:
        return anomaly_scores(slot.run, x, k=ANOMALY_K, seed=0, cond=cond)
    except Exception as exc:  # noqa: BLE001 - any model the anomaly task cannot score
        slot.cache["anomaly_error"] = f"{type(exc).__name__}: {exc}"[:300]
        return None


def example(slot: RunSlot, index: int) -> dict[str, Any]:
    st = stats(slot)
    if not 0 <= index < st.x.shape[0]:
        raise media.BadInput(f"example {index} is outside 0 .. {st.x.shape[0] - 1}")
    label = None if st.y is None else int(st.y[index])
    return to_item(slot, st.x[index], z=[float(v) for v in st.mu[index]], label=label, index=index,
                   map=[float(v) for v in st.points[index]])


@torch.no_grad()
def encode(slot: RunSlot, x: torch.Tensor, labels: list[int | None]) -> list[dict[str, Any]]:
    """x (N, *shape) in model space -> per example: code (posterior mean), reconstruction, map
    position (and, where available, the anomaly score)."""
    st = stats(slot)
    cond = None
    if slot.n_classes:
        if any(v is None for v in labels):
            raise media.BadInput(f"run {slot.name} is conditional: give the label of the upload (0 .. {slot.n_classes - 1})")
        cond = torch.cat([check_label(slot, int(v)) for v in labels])
    mu = slot.model.encode(x.to(slot.model.device), None if cond is None else cond.to(slot.model.device)).mean.cpu()
    recon = reconstruct(slot.model, x, cond=cond)
    points = st.projection(mu.double().numpy())
    reference = test_scores(slot)
    scores = None if reference is None else _scores(slot, x, cond)  # (N,) nats
    out = []
    for i in range(x.shape[0]):
        score = percentile = None
        if scores is not None:
            score = float(scores[i])
            percentile = 100.0 * float(np.searchsorted(reference, scores[i], side="left")) / max(1, len(reference))
        out.append({
            "anomaly": score, "percentile": percentile,
            "z": [float(v) for v in mu[i]], "label": None if cond is None else int(cond[i]),
            "input": media.item(slot, x[i]), "recon": media.item(slot, recon[i]),
            "map": [float(v) for v in points[i]],
        })
    return out


MAX_COMPLETIONS = 16


@torch.no_grad()
def inpaint_image(slot: RunSlot, x: torch.Tensor, mask: str, n: int, label: int | None) -> list[dict[str, Any]]:
    """``n`` completions of one image x (1, C, H, W): ``mask`` holds one character per pixel, row by
    row, ``1`` = fill in, ``0`` = keep (exactly, in every channel). Pseudo-Gibbs sampling
    (Rezende et al. 2014) through :func:`vaekit.tasks.inpaint.inpaint`, seed 0."""
    if slot.kind != "image":
        raise media.BadInput(f"run {slot.name} was trained on a {slot.kind}: inpainting here is for images "
                             "(for tables, `vaekit impute` fills empty cells)")
    c, h, w = slot.shape
    if len(mask) != h * w or set(mask) - {"0", "1"}:
        raise media.BadInput(f"the mask must be {h * w} characters 0/1 (one per pixel of the {w}x{h} image, row by "
                             f"row, 1 = fill in); got {len(mask)} characters")
    if "1" not in mask:
        raise media.BadInput("the mask marks no pixel to fill in; paint over the part to replace")
    if not 1 <= n <= MAX_COMPLETIONS:
        raise media.BadInput(f"ask for 1 .. {MAX_COMPLETIONS} completions (got {n})")
    cond = check_label(slot, label)
    fill = torch.tensor([ch == "1" for ch in mask]).reshape(1, h, w).expand(c, h, w)
    out = inpaint(slot.run, x[0], ~fill, n=n, seed=0, cond=None if cond is None else int(cond[0]))
    return [to_item(slot, out[i]) for i in range(n)]
