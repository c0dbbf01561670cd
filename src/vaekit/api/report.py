"""Pictures and ``report.md`` for a finished run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vaekit.artifacts import rundir
from vaekit.artifacts.datasets import eval_view
from vaekit.artifacts.figures import plot_curves, plot_latent_map
from vaekit.artifacts.images import save_grid
from vaekit.artifacts.load import load
from vaekit.core.atomic import write_text_atomic
from vaekit.tasks.embed import embed
from vaekit.tasks.evaluate import evaluate_tensor
from vaekit.tasks.generate import generate
from vaekit.tasks.interpolate import interpolate
from vaekit.tasks.reconstruct import reconstruct, side_by_side

REPORT_K = 100  # importance samples for the report's quick NLL; `vaekit evaluate` defaults to 1000


def write_report(run_dir: Path, result: Any) -> dict[str, Any]:
    """Write samples, reconstructions, interpolation, latent map, curves and report.md.

    Uses the best-validation weights (``model.safetensors``) and the test split.
    """
    run = load(run_dir)
    model, cfg = run.model, run.config
    test = result.splits.test
    x_test = eval_view(test.x, cfg.data)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    is_image = len(run.shape) == 3

    save_grid(generate(model, 64, generator=gen), run_dir / "samples.png")
    n = min(16, x_test.shape[0])
    save_grid(side_by_side(x_test[:n], reconstruct(model, x_test[:n])), run_dir / "reconstructions.png", nrow=8)
    rows = [interpolate(model, x_test[2 * i], x_test[2 * i + 1], steps=10) for i in range(min(4, x_test.shape[0] // 2))]
    if rows:
        save_grid(torch.cat(rows), run_dir / "interpolation.png", nrow=10)
    z = embed(model, x_test).numpy()
    plot_latent_map(z, test.y.numpy() if test.y is not None else None, run_dir / "latent_map.png")
    plot_curves(result.metrics, run_dir / "curves.png")
    metrics = evaluate_tensor(model, x_test, k=REPORT_K)  # the test split already in memory
    write_text_atomic(run_dir / rundir.REPORT, _markdown(run, result.metrics, metrics, is_image))
    return metrics


def _markdown(run: Any, history: list[dict[str, Any]], ev: dict[str, Any], is_image: bool) -> str:
    cfg, ds = run.config, run.dataset
    last = history[-1]
    best = min(history, key=lambda m: m["val_loss"])
    params = sum(p.numel() for p in run.model.parameters())
    lines = [
        f"# vaekit run `{run.path.name}`",
        "",
        f"Dataset **{ds['name']}** ({ds['n_train']:,} train / {ds['n_val']:,} validation / {ds['n_test']:,} test, "
        f"shape {tuple(ds['shape'])}; {ds['scaling']}; binarisation `{cfg.data.binarize}`).",
        f"Model: `{cfg.model.net}` nets {list(cfg.model.hidden)}, latent {cfg.model.latent_dim}, "
        f"{cfg.model.likelihood} likelihood, {params:,} parameters. Objective `{cfg.objective.name}` "
        f"(beta {cfg.objective.beta}, warm-up {cfg.objective.warmup_epochs} epochs, k {cfg.objective.k}).",
        f"Trained {last['epoch']} epochs; best validation loss {best['val_loss']:.2f} nats at epoch {best['epoch']} "
        "(these weights are `model.safetensors`).",
        "",
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
    lines += [
        "",
        "## Samples from the prior", "", "![samples](samples.png)", "",
        "## Reconstructions (original, reconstruction pairs; test split)", "",
        *(["Originals are shown binarised, as the model sees them; reconstructions are decoder means "
           "(pixel probabilities).", ""] if run.config.data.binarize != "none" else []),
        "![reconstructions](reconstructions.png)", "",
        "## Interpolations (slerp between posterior means of test pairs)", "", "![interpolation](interpolation.png)", "",
        "## Latent map (test posterior means)", "", "![latent map](latent_map.png)", "",
    ]
    if not is_image:
        lines.insert(-1, "_Tabular data: image panels show each example as a one-pixel-high strip._")
    return "\n".join(lines) + "\n"
