"""The five core mechanisms, each with a test that fails without it: part specs built through
registries, one log_weights over every latent layer, Batch/conditioning, objectives with named
steps and their exact resume after SIGKILL, and linked stages pinned by sha256."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import toy_parts  # noqa: F401  (registers the toy model and objective)
from conftest import TINY, cli_env, run_cli
from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError, RunDirError
from vaekit.core.types import Batch, StepContext, log_weights
from vaekit.models import build_model
from vaekit.objectives import build_objective

TESTS = Path(__file__).resolve().parent
CTX = BuildContext(shape=(1, 8, 8), levels=17, n_classes=10, n_train=100, latent_dim=3)


def _x(n: int = 12) -> torch.Tensor:
    return (torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()


# -- 2. one log_weights; KL over every latent -------------------------------------------------

def test_two_latent_elbo_counts_both_kls() -> None:
    torch.manual_seed(0)
    model = build_model({"name": "two-latent"}, CTX)
    objective = build_objective({"name": "elbo"}, CTX)
    x = _x()
    torch.manual_seed(1)
    loss = objective(model, Batch(x), StepContext())
    torch.manual_seed(1)
    out = model(x, samples=1)
    kl_bottom, kl_top = out.latents[0].kl(), out.latents[1].kl()
    assert float(kl_bottom.mean().detach()) != 0 and float(kl_top.mean().detach()) > 0
    assert torch.allclose(loss.terms["kl"], (kl_bottom + kl_top).mean(), atol=1e-5)
    assert torch.allclose(loss.terms["loss"], loss.terms["recon"] + (kl_bottom + kl_top).mean(), atol=1e-4)


def test_log_weights_sum_every_layer_and_drive_iwae_and_nll() -> None:
    torch.manual_seed(0)
    model = build_model({"name": "two-latent"}, CTX)
    x = _x()
    torch.manual_seed(2)
    out = model(x, samples=4)
    expected = out.log_px(x)
    for latent in out.latents:
        expected = expected + latent.log_p - latent.log_q
    assert torch.allclose(log_weights(out, x), expected)
    assert log_weights(out, x).shape == (4, 12)
    iwae = build_objective({"name": "iwae", "k": 4}, CTX)
    torch.manual_seed(2)
    bound = -iwae(model, Batch(x), StepContext()).terms["loss"]
    assert torch.allclose(bound, (torch.logsumexp(expected, 0) - math.log(4)).mean(), atol=1e-5)

    from vaekit.artifacts.metrics import evaluate_arrays

    torch.manual_seed(3)
    ev = evaluate_arrays(model, [Batch(x)], k=200, chunk=50)
    assert math.isfinite(ev["nll"]) and -ev["nll"] >= ev["elbo"] - 0.05  # IW-200 tightens the ELBO


def test_aux_losses_are_added_by_every_objective() -> None:
    """A model reporting an auxiliary loss (e.g. a VQ commitment term) gets it minimised."""
    torch.manual_seed(0)
    model = build_model({"name": "vae", "latent_dim": 3, "net": {"name": "mlp", "hidden": [8]}}, CTX)
    forward = model.forward

    def with_aux(*args, **kwargs):
        out = forward(*args, **kwargs)
        out.aux["commitment"] = torch.full((out.latents[0].z.shape[1],), 7.0)
        return out

    model.forward = with_aux  # type: ignore[method-assign]
    for spec in ({"name": "elbo"}, {"name": "iwae", "k": 3}):
        loss = build_objective(spec, CTX)(model, Batch(_x()), StepContext())
        assert torch.allclose(loss.terms["objective"], loss.terms["loss"] + 7.0, atol=1e-4), spec
        assert float(loss.terms["commitment"]) == 7.0


# -- 3. Batch and conditioning -----------------------------------------------------------------

def test_conditional_model_uses_the_labels() -> None:
    torch.manual_seed(0)
    model = build_model({"name": "vae", "latent_dim": 3, "net": {"name": "mlp", "hidden": [16]}, "conditional": True}, CTX)
    x, y0, y1 = _x(4), torch.tensor([0, 1, 2, 3]), torch.tensor([5, 6, 7, 8])
    assert not torch.allclose(model.encode(x, y0).mean, model.encode(x, y1).mean)
    z = torch.zeros(4, 3)
    assert not torch.allclose(model.decode(z, y0).mean, model.decode(z, y1).mean)
    assert model.sample(4, generator=torch.Generator().manual_seed(0), cond=y0).shape == (4, 1, 8, 8)
    with pytest.raises(Exception, match="labels"):
        model(x)  # no labels for a conditional model
    with pytest.raises(ConfigError, match="labels"):
        build_model({"name": "vae", "conditional": True}, CTX.but(n_classes=None))


def test_conditional_training_end_to_end(tmp_path: Path) -> None:
    from vaekit import load
    from vaekit.api import train

    run = train(epochs=1, out=tmp_path / "cvae", overrides=[*TINY, "model.conditional=true"], echo=None,
                progress=False, report=False)
    loaded = load(run)
    assert loaded.model.cond_dim == 10
    out = loaded.model.sample(10, generator=torch.Generator().manual_seed(0), cond=torch.arange(10))
    assert out.shape == (10, 1, 8, 8)


# -- 4. named steps, one flat checkpoint, exact resume after SIGKILL --------------------------------

TWO_STEP = [*TINY, "objective.name=critic-elbo"]
TRAIN_SCRIPT = (
    "import sys; sys.path.insert(0, {tests!r}); import toy_parts; from vaekit.api import train; "
    "train(epochs={epochs}, out={out!r}, overrides={overrides!r}, resume={resume!r}, echo=print, progress=False, report=False)"
)


def _train_subprocess(out: Path, epochs: int, resume: bool) -> subprocess.Popen:
    code = TRAIN_SCRIPT.format(tests=str(TESTS), epochs=None if resume else epochs, out=None if resume else str(out),
                               overrides=None if resume else TWO_STEP, resume=str(out) if resume else None)
    return subprocess.Popen([sys.executable, "-c", code], env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_step_objective_logs_every_term_and_resumes_bit_identically_after_sigkill(tmp_path: Path) -> None:
    from vaekit.api import train

    epochs = 12
    killed = tmp_path / "killed"
    proc = _train_subprocess(killed, epochs, resume=False)
    try:
        deadline = time.monotonic() + 120
        metrics = killed / "metrics.jsonl"
        while time.monotonic() < deadline and proc.poll() is None:
            if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()[1]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    resumed = _train_subprocess(killed, epochs, resume=True)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr

    straight = train(epochs=epochs, out=tmp_path / "straight", overrides=TWO_STEP, echo=None, progress=False, report=False)
    a, b = load_file(str(killed / "checkpoint.safetensors")), load_file(str(straight / "checkpoint.safetensors"))
    assert set(a) == set(b)
    assert any(k.startswith("objective.critic.") for k in a), "the objective's own parameters are checkpointed"
    assert any(k.startswith("optim.critic.") for k in a) and any(k.startswith("optim.model.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert {"train_loss", "train_penalty", "train_critic_fit", "lr", "lr_critic", "val_loss"} <= set(rows[-1])
    assert rows[-1]["lr_critic"] != rows[-1]["lr"]  # the critic's own optimiser settings
    assert "objective" in rows[-1] or "train_objective" in rows[-1]


def test_unknown_step_override_is_refused(tmp_path: Path) -> None:
    from vaekit.api import train

    with pytest.raises(ConfigError, match="train.steps.disc"):
        train(epochs=1, out=tmp_path / "x", overrides=[*TINY, "train.steps.disc.lr=1e-4"], echo=None, progress=False)
    assert not (tmp_path / "x" / "config.json").exists()


# -- 5. linked stages ---------------------------------------------------------------------------------

def test_parent_is_pinned_and_a_changed_parent_refused(tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    from vaekit import load
    from vaekit.api import train

    parent = tmp_path / "parent"
    shutil.copytree(tiny_run, parent)
    child = train(epochs=1, out=tmp_path / "child", overrides=[*TINY, f"parent.run={parent}"], echo=None,
                  progress=False, report=False)
    link = json.loads((child / "config.json").read_text())["parent"]
    assert link["run"] == str(parent.resolve()) and len(link["sha256"]) == 64
    run = load(child)
    assert run.parent is not None and run.parent.path == parent.resolve()

    weights = load_file(str(parent / "model.safetensors"))
    from safetensors.torch import save_file

    key = next(iter(weights))
    weights[key] = weights[key] + 1.0
    save_file(weights, str(parent / "model.safetensors"))
    with pytest.raises(RunDirError, match="parent changed"):
        load(child)
    rc, _, stderr = run_cli("info", child)
    assert rc != 0 and "parent changed" in stderr and "Traceback" not in stderr


def test_newer_run_files_are_refused_with_a_message(run_copy: Path) -> None:
    cfg = json.loads((run_copy / "config.json").read_text())
    cfg["format_version"] = 99
    (run_copy / "config.json").write_text(json.dumps(cfg))
    rc, _, stderr = run_cli("info", run_copy)
    assert rc != 0 and "newer" in stderr and "Traceback" not in stderr


def test_bernoulli_on_grey_levels_is_labelled_not_a_likelihood(tmp_path: Path) -> None:
    """Every place that prints the NLL of a Bernoulli likelihood on grey pixels says it is not a
    likelihood of the data (evaluate, info, the report, the end of training)."""
    from vaekit.api import train

    run = train(epochs=1, out=tmp_path / "grey", overrides=[*TINY, "data.binarize=none"], echo=None, progress=False)
    assert "not a likelihood" in (run / "report.md").read_text()
    rc, stdout, stderr = run_cli("evaluate", run, "--k", "5")
    assert rc == 0, stderr
    assert "not a likelihood" in stdout and "logistic" in stdout
    rc, stdout, _ = run_cli("info", run)
    assert "not a likelihood" in stdout
    binarised = train(epochs=1, out=tmp_path / "binary", overrides=list(TINY), echo=None, progress=False)
    assert "not a likelihood" not in (binarised / "report.md").read_text()


def test_minibatch_objective_refuses_batch_of_one_and_skips_a_short_last_batch(tmp_path: Path) -> None:
    from vaekit.api import train

    with pytest.raises(ConfigError, match="at least 2"):
        train("beta-tcvae", epochs=1, out=tmp_path / "one", overrides=[*TINY, "train.batch_size=1"], echo=None,
              progress=False)
    assert not (tmp_path / "one" / "config.json").exists()
    # 201 training examples in batches of 50: the last batch holds 1 example and is skipped.
    run = train("beta-tcvae", epochs=1, out=tmp_path / "odd", overrides=["data.limit=201", "train.batch_size=50"],
                echo=None, progress=False, report=False)
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(row["train_tc"]) and math.isfinite(row["val_loss"])
