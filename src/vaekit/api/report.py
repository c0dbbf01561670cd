"""Pictures and ``report.md`` for a finished run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vaekit.artifacts import rundir
from vaekit.artifacts.datasets import eval_view, load_splits
from vaekit.artifacts.figures import plot_column_distributions, plot_correlations, plot_curves, plot_latent_map
from vaekit.artifacts.images import save_grid
from vaekit.artifacts.load import load
from vaekit.core.atomic import write_text_atomic
from vaekit.core.errors import RunDirError
from vaekit.tasks.embed import embed
from vaekit.tasks.evaluate import evaluate_tensor, metrics_note
from vaekit.tasks.generate import generate
from vaekit.tasks.interpolate import interpolate
from vaekit.tasks.reconstruct import reconstruct, side_by_side
from vaekit.tasks.tabular import generate_rows, table_preprocessing, to_table

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
    if not getattr(model, "GENERATIVE", True):
        return _classifier_report(run, x_test, test.y, history, say)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    is_image = len(run.shape) == 3
    conditional = int(getattr(model, "cond_dim", 0) or 0)
    y_test = test.y if conditional else None  # a conditional model needs the labels; others ignore them
    made: set[str] = set()
    table: dict[str, Any] | None = None

    if is_table(run):
        say("Report: generated rows vs the test split (original units)...")
        table = _table_figures(run, x_test, test.y, gen, run_dir)
        made |= {"columns", "correlations"}
    else:
        say("Report: samples...")
        if conditional:  # one row of 8 per class (as many classes as fit), else labels cycling
            k = conditional
            labels = torch.arange(k).repeat_interleave(8) if k <= 16 else torch.arange(64) % k
            save_grid(generate(model, len(labels), generator=gen, cond=labels), run_dir / "samples.png", nrow=8)
        else:
            save_grid(generate(model, 64, generator=gen), run_dir / "samples.png")
        made.add("samples")
        n = min(16, n_test)
        if n:
            say("Report: reconstructions...")
            recon = reconstruct(model, x_test[:n], cond=None if y_test is None else y_test[:n])
            images, ncol = side_by_side(x_test[:n], recon, cols=8)
            save_grid(images, run_dir / "reconstructions.png", nrow=ncol)
            made.add("reconstructions")
        pairs = min(4, n_test // 2)
        if pairs:
            say("Report: interpolations...")
            rows = [interpolate(model, x_test[2 * i], x_test[2 * i + 1], steps=10,
                                cond=None if y_test is None else y_test[2 * i : 2 * i + 2]) for i in range(pairs)]
            save_grid(torch.cat(rows), run_dir / "interpolation.png", nrow=10)
            made.add("interpolation")
    if n_test:
        say("Report: latent map...")
        z = embed(model, x_test, cond=y_test).numpy()
        plot_latent_map(z, test.y.numpy() if test.y is not None else None, run_dir / "latent_map.png")
        made.add("latent_map")
    say("Report: training curves...")
    plot_curves(history, run_dir / "curves.png")
    made.add("curves")
    metrics = None
    if n_test:
        say(f"Report: evaluating test NLL (k={REPORT_K}, {n_test:,} examples)...")
        # the test split already in memory; a table with missing cells is scored on its observed cells
        metrics = evaluate_tensor(model, x_test, y=test.y, k=REPORT_K, mask=test.mask)
        note = metrics_note(run, metrics)
        if note:
            metrics["note"] = note
    # Pictures of an earlier report that could not be redrawn now would describe other weights
    # (and a table's report has no image strips).
    for stem in ("samples", "reconstructions", "interpolation", "latent_map", "columns", "correlations"):
        if stem not in made:
            (run_dir / f"{stem}.png").unlink(missing_ok=True)
    write_text_atomic(run_dir / rundir.REPORT, _markdown(run, history, metrics, is_image, made, n_test, table))
    say(f"Report: wrote {run_dir / rundir.REPORT}")
    return metrics


def _classifier_report(run: Any, x_test: torch.Tensor, y_test: torch.Tensor | None, history: list[dict[str, Any]],
                       say: Callable[[str], None]) -> dict[str, Any] | None:
    """A classifier stage's report: curves, test accuracy, per-class accuracy and confusion matrix."""
    from vaekit.tasks.classify import classifier_metrics

    say("Report: training curves...")
    plot_curves(history, run.path / "curves.png")
    metrics = classifier_metrics(run.model, x_test, y_test) if len(x_test) else None
    best = min(history, key=lambda m: m["val_loss"])
    lines = [f"# vaekit run `{run.path.name}` (classifier)", "",
             f"Dataset **{run.dataset['name']}**; model: {spec_text(run.config.model)}; "
             f"{sum(p.numel() for p in run.model.parameters()):,} parameters.",
             f"Trained {history[-1]['epoch']} epochs; best validation cross-entropy {best['val_loss']:.4f} nats at epoch "
             f"{best['epoch']} (these weights are `model.safetensors`).", ""]
    if metrics is not None:
        lines += ["## Test metrics", "", f"Accuracy **{metrics['accuracy']:.4f}**, cross-entropy "
                  f"{metrics['cross_entropy']:.4f} nats/example on {metrics['n_examples']:,} test examples.", "",
                  "| class | accuracy |", "|---|---|",
                  *[f"| {i} | {v:.3f} |" for i, v in enumerate(metrics["per_class_accuracy"])], "",
                  "Confusion matrix (rows: true class, columns: predicted):", "", "```",
                  *[" ".join(f"{v:5d}" for v in row) for row in metrics["confusion_matrix"]], "```", ""]
    lines += ["![curves](curves.png)", "",
              "Use it as the feature net of sample-quality metrics: `vaekit evaluate RUN --fid --feature-net "
              f"{run.path}` (its penultimate layer; not an Inception FID).", ""]
    for stem in ("samples", "reconstructions", "interpolation", "latent_map", "columns", "correlations"):
        (run.path / f"{stem}.png").unlink(missing_ok=True)
    write_text_atomic(run.path / rundir.REPORT, "\n".join(lines))
    say(f"Report: wrote {run.path / rundir.REPORT}")
    if metrics is not None:
        metrics["classifier"] = True
    return metrics


GENERATED_ROWS = 1_000  # rows drawn for a table's report


def is_table(run: Any) -> bool:
    """The run was trained on a table with named columns (its report compares columns, not pictures)."""
    pre = run.dataset.get("preprocessing") or {}
    return (run.dataset.get("kind") or pre.get("kind")) == "table" and pre.get("kind") == "table"


def _table_figures(run: Any, x_test: torch.Tensor, y_test: torch.Tensor | None, gen: torch.Generator,
                   run_dir: Path) -> dict[str, Any]:
    """columns.png and correlations.png of a table run; returns what the markdown needs."""
    pre = table_preprocessing(run.dataset["preprocessing"])
    columns = [dict(c) for c in pre.to_json()["columns"]]
    k = int(getattr(run.model, "cond_dim", 0) or 0)
    labels = None
    if k:  # generated labels follow the test split's label frequencies (cycle the classes without one)
        if y_test is not None and len(y_test):
            labels = y_test[torch.randint(len(y_test), (GENERATED_ROWS,), generator=gen)]
        else:
            labels = torch.arange(GENERATED_ROWS) % k
    generated, _ = generate_rows(run.model, GENERATED_ROWS, pre, generator=gen, cond=labels)
    n_test = int(x_test.shape[0])
    real = to_table(x_test, pre) if n_test else None
    as_dict = lambda t: {name: col for name, col in zip(t.names, t.columns)}
    real_cols = None if real is None else as_dict(real)
    gen_cols = as_dict(generated)
    shown = plot_column_distributions(columns, real_cols, gen_cols, run_dir / "columns.png")
    features = []
    for c in columns:
        features += [c["name"]] if c["kind"] == "numeric" else [f"{c['name']}={v}" for v in c["categories"]]
    plot_correlations(x_test.reshape(n_test, -1).numpy() if n_test >= 2 else None,
                      pre.apply(generated, "generated rows").numpy(), features, run_dir / "correlations.png")
    stats = []
    for c in columns[:shown]:
        g = gen_cols[c["name"]]
        r = None if real_cols is None else real_cols[c["name"]]
        if c["kind"] == "numeric":
            g = np.asarray(g, dtype=np.float64)
            r = None if r is None else np.asarray(r, dtype=np.float64)
            stats.append({"name": c["name"], "kind": "numeric", "real": None if r is None else (r.mean(), r.std()),
                          "generated": (g.mean(), g.std())})
        else:
            ref = r if r is not None and len(r) else g
            values, counts = np.unique(np.asarray([str(v) for v in ref]), return_counts=True)
            top = str(values[np.argmax(counts)])
            share = lambda v: float(np.mean([str(x) == top for x in v]))
            stats.append({"name": c["name"], "kind": "categorical", "category": top,
                          "real": None if r is None else share(r), "generated": share(g)})
    return {"n_generated": GENERATED_ROWS, "n_columns": len(columns), "shown": shown, "stats": stats,
            "n_features": len(features), "conditional": bool(k)}


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
              made: set[str], n_test: int, table: dict[str, Any] | None = None) -> str:
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
    if table is not None:
        lines += [""] + _table_markdown(run, table, n_test)
    else:
        lines += ["", "## Samples from the prior", "", "![samples](samples.png)", ""]
        if getattr(run.model, "cond_dim", 0):
            lines.insert(-1, "_Conditional model: each row of 8 samples is conditioned on one label (0, 1, ... top to bottom)._")
            lines.insert(-1, "")
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
    if not is_image and table is None:
        lines.insert(-1, "_Tabular data: image panels show each example as a one-pixel-high strip._")
    return "\n".join(lines) + "\n"


def _num(v: float) -> str:
    return f"{v:.4g}"


def _table_markdown(run: Any, table: dict[str, Any], n_test: int) -> list[str]:
    m = table["n_generated"]
    real = f"the {n_test:,} test rows" if n_test else "no test rows (the test split is empty)"
    lines = [
        "## Generated vs real rows, column by column (original units)",
        "",
        f"Real: {real}. Generated: {m:,} rows drawn from the model — z ~ p(z), then x ~ p(x|z): numeric values "
        "from the decoder's Gaussian, categories from its softmax"
        + (", labels drawn with the test split's label frequencies" if table["conditional"] else "")
        + f" (`vaekit sample {run.path} -n {m} -o rows.csv` writes such rows; `--mean` gives decoder means). "
        "Histograms are densities over shared bins (generated values beyond the range are piled into the "
        "end bins); bars are category shares.",
        "",
    ]
    if table["shown"] < table["n_columns"]:
        lines += [f"_Showing the first {table['shown']} of {table['n_columns']} columns._", ""]
    lines += ["![columns](columns.png)", ""]
    numeric = [st for st in table["stats"] if st["kind"] == "numeric"]
    categorical = [st for st in table["stats"] if st["kind"] != "numeric"]
    if numeric:
        lines += ["| column | real mean | real sd | generated mean | generated sd |", "|---|---|---|---|---|"]
        for st in numeric:
            r = st["real"]
            lines.append(f"| {st['name']} | {'–' if r is None else _num(r[0])} | {'–' if r is None else _num(r[1])} | "
                         f"{_num(st['generated'][0])} | {_num(st['generated'][1])} |")
        lines.append("")
    if categorical:
        lines += ["| column | most common category (real) | real share | generated share |", "|---|---|---|---|"]
        for st in categorical:
            r = st["real"]
            lines.append(f"| {st['name']} | {st['category']} | {'–' if r is None else f'{r:.2f}'} | {st['generated']:.2f} |")
        lines.append("")
    lines += [
        "## Correlations (real vs generated)",
        "",
        f"Pearson correlations between the {table['n_features']} encoded features (numeric columns, and one "
        "indicator per category), real test rows on the left, generated rows on the right.",
        "",
        "![correlations](correlations.png)",
        "",
        f"Reconstructions of test rows in original units: `vaekit reconstruct {run.path} -n 10 -o recon.csv`.",
        "",
    ]
    return lines
