"""Pictures and ``report.md`` for a finished run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from vaekit.artifacts import rundir
from vaekit.artifacts.datasets import eval_view, load_splits
from vaekit.artifacts.figures import plot_curves, plot_latent_map
from vaekit.artifacts.images import save_grid
from vaekit.artifacts.load import load
from vaekit.core.atomic import write_text_atomic
from vaekit.core.errors import RunDirError
from vaekit.tasks.embed import embed
from vaekit.tasks.evaluate import evaluate_tensor, likelihood_note
from vaekit.tasks.generate import generate
from vaekit.tasks.interpolate import interpolate
from vaekit.tasks.reconstruct import reconstruct, side_by_side

REPORT_K = 100  # importance samples for the report's quick NLL; `vaekit evaluate` defaults to 1000


def write_report(run_dir: str | Path, result: Any = None, *, echo: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """Write samples, reconstructions, interpolation, latent map, curves and report.md.

    Uses the best-validation weights (``model.safetensors``) and the test split. ``result`` is the
    :class:`~vaekit.training.trainer.FitResult` of the training that just finished (its splits
    and history are reused); without it everything is read from the run directory alone
    (``metrics.jsonl``, and the test split loaded through the run's config), which is what
    ``vaekit report RUN`` does. ``echo`` receives one progress line per step. Returns the test
    metrics (``None`` when the test split is empty).
    """
    run_dir = Path(run_dir)
    say = echo or (lambda _line: None)
    run = load(run_dir)
    model, cfg = run.model, run.config
    if result is not None:
        test, history = result.splits.test, result.metrics
    else:
        say("Report: loading the test split...")
        test = load_splits(cfg.data, preprocessing=run.dataset.get("preprocessing")).test  # applied, not re-fitted
        history = rundir.read_metrics(run_dir)
    if not history:
        raise RunDirError(f"{run_dir / rundir.METRICS} has no finished epoch; train the run before writing its report")
    x_test = eval_view(test.x, cfg.data)
    n_test = int(x_test.shape[0])
    gen = torch.Generator().manual_seed(cfg.train.seed)
    is_image = len(run.shape) == 3
    made: set[str] = set()

    say("Report: samples...")
    save_grid(generate(model, 64, generator=gen), run_dir / "samples.png")
    made.add("samples")
    n = min(16, n_test)
    if n:
        say("Report: reconstructions...")
        images, ncol = side_by_side(x_test[:n], reconstruct(model, x_test[:n]), cols=8)
        save_grid(images, run_dir / "reconstructions.png", nrow=ncol)
        made.add("reconstructions")
    pairs = min(4, n_test // 2)
    if pairs:
        say("Report: interpolations...")
        rows = [interpolate(model, x_test[2 * i], x_test[2 * i + 1], steps=10) for i in range(pairs)]
        save_grid(torch.cat(rows), run_dir / "interpolation.png", nrow=10)
        made.add("interpolation")
    if n_test:
        say("Report: latent map...")
        z = embed(model, x_test).numpy()
        plot_latent_map(z, test.y.numpy() if test.y is not None else None, run_dir / "latent_map.png")
        made.add("latent_map")
    say("Report: training curves...")
    plot_curves(history, run_dir / "curves.png")
    made.add("curves")
    metrics = None
    if n_test:
        say(f"Report: evaluating test NLL (k={REPORT_K}, {n_test:,} examples)...")
        metrics = evaluate_tensor(model, x_test, y=test.y, k=REPORT_K)  # the test split already in memory
        note = likelihood_note(run)
        if note:
            metrics["note"] = note
    # Pictures of an earlier report that could not be redrawn now would describe other weights.
    for stem in ("reconstructions", "interpolation", "latent_map"):
        if stem not in made:
            (run_dir / f"{stem}.png").unlink(missing_ok=True)
    write_text_atomic(run_dir / rundir.REPORT, _markdown(run, history, metrics, is_image, made, n_test))
    say(f"Report: wrote {run_dir / rundir.REPORT}")
    return metrics


def spec_text(spec: Any) -> str:
    """A part spec in one line: ``mlp (hidden [256, 128], activation relu)``."""
    if not isinstance(spec, dict):
        return f"{spec}"
    fields = dict(spec)
    name = fields.pop("name", "?")
    rest = ", ".join(f"{k} {spec_text(v) if isinstance(v, dict) else v}" for k, v in fields.items())
    return f"`{name}`" + (f" ({rest})" if rest else "")


RECONSTRUCTION_CAPTION = (
    "Rows come in pairs: top row: input, bottom row: reconstruction (the decoder mean at the posterior mean), "
    "column by column."
)


def _markdown(run: Any, history: list[dict[str, Any]], ev: dict[str, Any] | None, is_image: bool,
              made: set[str], n_test: int) -> str:
    cfg, ds = run.config, run.dataset
    last = history[-1]
    best = min(history, key=lambda m: m["val_loss"])
    params = sum(p.numel() for p in run.model.parameters())
    obj = cfg.objective
    lines = [
        f"# vaekit run `{run.path.name}`",
        "",
        f"Dataset **{ds['name']}** ({ds['n_train']:,} train / {ds['n_val']:,} validation / {ds['n_test']:,} test, "
        f"shape {tuple(ds['shape'])}; {ds['scaling']}; binarisation `{cfg.data.binarize}`).",
        f"Model: {spec_text(cfg.model)}; {params:,} parameters.",
        f"Objective: {spec_text(obj)}.",
        f"Trained {last['epoch']} epochs; best validation loss {best['val_loss']:.2f} nats at epoch {best['epoch']} "
        "(these weights are `model.safetensors`).",
        "",
    ]
    if ev is None:
        lines += ["## Test metrics", "", "_The test split is empty, so there are no test metrics and no pictures "
                  "of test examples._", ""]
    else:
        lines += [
            f"## Test metrics (k = {ev['k']} importance samples, {ev['n_examples']:,} examples)",
            "",
            "| metric | value | meaning |",
            "|---|---|---|",
            f"| ELBO | {ev['elbo']:.2f} nats | E_q[log p(x,z) - log q(z|x)], mean per example |",
            f"| reconstruction | {ev['recon']:.2f} nats | E_q[-log p(x|z)] |",
            f"| KL | {ev['kl']:.2f} nats | KL(q(z|x) ‖ p(z)) |",
            f"| NLL | {ev['nll']:.2f} nats | importance-weighted estimate of -log p(x) |",
            f"| bits/dim | {ev['bits_per_dim']:.4f} | NLL / (D ln 2), D = {ev['dims']} |",
            f"| active units | {ev['active_units']} / {ev['latent_dim']} | Cov_x(E_q[z_d]) > 0.01 |",
            "",
            f"For a tighter NLL run `vaekit evaluate {run.path}` (k = 1000).",
            "",
            *([f"**Note:** {ev['note']}.", ""] if ev.get("note") else []),
        ]
    lines += [
        "## Training curves (nats per example)",
        "",
        "![curves](curves.png)",
        "",
        "| epoch | train loss | recon | KL | val loss | samples/s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {m['epoch']} | {m['train_loss']:.2f} | {m['train_recon']:.2f} | {m['train_kl']:.2f} | {m['val_loss']:.2f} | "
        f"{m['samples_per_s']:,.0f} |"
        for m in history
    ]
    lines += ["", "## Samples from the prior", "", "![samples](samples.png)", ""]
    lines += ["## Reconstructions (test split)", ""]
    if "reconstructions" in made:
        lines += [RECONSTRUCTION_CAPTION, ""]
        if cfg.data.binarize != "none":
            lines += ["Inputs are shown binarised, as the model sees them; reconstructions are decoder means "
                      "(pixel probabilities).", ""]
        lines += ["![reconstructions](reconstructions.png)", ""]
    else:
        lines += ["_No test examples to reconstruct._", ""]
    lines += ["## Interpolations (slerp between posterior means of test pairs)", ""]
    lines += ["![interpolation](interpolation.png)", ""] if "interpolation" in made else [
        f"_Needs at least 2 test examples (the test split has {n_test})._", ""]
    lines += ["## Latent map (test posterior means)", ""]
    lines += ["![latent map](latent_map.png)", ""] if "latent_map" in made else ["_No test examples to embed._", ""]
    if not is_image:
        lines.insert(-1, "_Tabular data: image panels show each example as a one-pixel-high strip._")
    return "\n".join(lines) + "\n"
