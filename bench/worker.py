"""One measurement in a fresh process: ``python bench/worker.py TASK '{"json": "args"}'``.

Run by the drivers (train_throughput.py, time_to_quality.py, iwae_eval.py, misc.py, scaling.py);
prints ``RESULT {json}`` as its last stdout line. vaekit tasks need vaekit installed; pythae tasks
need pythae (and vaekit, used only to load the same Fashion-MNIST splits and to score ELBOs with
one shared estimator) - e.g. /work/pythae-venv/bin/python.

Reference model (both sides): MLP 784-512-256 -> (mu, log sigma^2) of 16 dims, decoder
16-256-512-784, Bernoulli/BCE on [0,1] grey pixels summed over pixels, mean over the batch.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

TASKS = {}


def task(fn):
    TASKS[fn.__name__] = fn
    return fn


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def fashion_splits():
    from vaekit.data import load_dataset

    return load_dataset("fashion-mnist")  # train 54k / val 6k / test 10k, [0,1] floats


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def mlp_flops_fwd(widths: list[int]) -> int:
    """Multiply-add FLOPs (2 per MAC) of a chain of Linear layers, one example."""
    return sum(2 * a * b for a, b in zip(widths[:-1], widths[1:]))


# --------------------------------------------------------------------------- pythae model
def build_pythae(hidden=(512, 256), latent=16):
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self):
            BaseEncoder.__init__(self)
            layers, w = [], 784
            for h in hidden:
                layers += [nn.Linear(w, h), nn.ReLU()]
                w = h
            self.body = nn.Sequential(*layers)
            self.mu = nn.Linear(w, latent)
            self.logvar = nn.Linear(w, latent)

        def forward(self, x):
            h = self.body(x.reshape(x.shape[0], -1))
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            BaseDecoder.__init__(self)
            layers, w = [], latent
            for h in reversed(hidden):
                layers += [nn.Linear(w, h), nn.ReLU()]
                w = h
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(w, 784)

        def forward(self, z):
            probs = torch.sigmoid(self.head(self.body(z)))
            return ModelOutput(reconstruction=probs.reshape(z.shape[0], 1, 28, 28))

    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=latent, reconstruction_loss="bce")
    return VAE(config, encoder=Encoder(), decoder=Decoder())


def vaekit_to_pythae_state(sd: dict[str, torch.Tensor], latent: int) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in sd.items():
        if k.startswith("posterior.head."):
            kind = k.rsplit(".", 1)[1]
            out[f"encoder.mu.{kind}"] = v[:latent].clone()
            out[f"encoder.logvar.{kind}"] = v[latent:].clone()
        elif k.startswith(("encoder.", "decoder.")):
            out[k] = v.clone()
    return out


def pythae_to_vaekit_state(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for kind in ("weight", "bias"):
        out[f"posterior.head.{kind}"] = torch.cat([sd[f"encoder.mu.{kind}"], sd[f"encoder.logvar.{kind}"]], 0)
    for k, v in sd.items():
        if k.startswith(("encoder.body.", "decoder.")):
            out[k] = v
    return out


def vaekit_reference_model(hidden=(512, 256), latent=16):
    from vaekit.api import resolve_config
    from vaekit.models import build_model

    cfg = resolve_config("reference-mlp", overrides={"model": {"hidden": list(hidden), "latent_dim": latent}})
    return build_model(cfg.model, (1, 28, 28), 256)


def elbo_on(model, x: torch.Tensor, k: int = 10, seed: int = 0) -> float:
    """Test ELBO (nats/example, higher is better): analytic KL, log p(x|z) averaged over k samples.
    The same estimator (vaekit's evaluate_arrays) scores both systems' weights."""
    from vaekit.artifacts.metrics import evaluate_arrays

    torch.manual_seed(seed)
    model.eval()
    res = evaluate_arrays(model, (x[i : i + 500] for i in range(0, x.shape[0], 500)), k=k, chunk=k)
    return float(res["elbo"])


# --------------------------------------------------------------------------- tasks
@task
def roofline(a: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(a["threads"])
    n, reps = a.get("n", 2048), a.get("reps", 10)
    x, y = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        torch.matmul(x, y)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(x, y)
        times.append(time.perf_counter() - t0)
    times.sort()
    flops = 2 * n**3
    return {"n": n, "threads": torch.get_num_threads(), "best_gflops": flops / times[0] / 1e9,
            "median_gflops": flops / times[len(times) // 2] / 1e9}


@task
def vaekit_train(a: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(a["threads"])
    from vaekit.api import train

    overrides = [f"train.threads={a['threads']}", "train.device=cpu", *a.get("overrides", [])]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = train(a.get("recipe", "reference-mlp"), epochs=a["epochs"], out=Path(tmp) / "run", echo=None,
                    progress=False, report=False, overrides=overrides)
        wall = time.perf_counter() - t0
        rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
        from vaekit import load

        model = load(run).model
    return {"wall_s": wall, "epochs": [{k: r[k] for k in ("epoch", "seconds", "samples_per_s", "train_loss", "val_loss")}
                                       for r in rows],
            "params": n_params(model), "peak_rss_mb": peak_rss_mb(), "torch_threads": torch.get_num_threads()}


@task
def pythae_train(a: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(a["threads"])
    t_start = time.perf_counter()
    import pythae
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    hidden, latent = tuple(a.get("hidden", (512, 256))), a.get("latent", 16)
    splits = fashion_splits()
    x_train, x_val = splits.train.x, splits.val.x
    if a.get("limit"):
        x_train = x_train[: a["limit"]]
    torch.manual_seed(a.get("seed", 0))
    model = build_pythae(hidden, latent)

    epochs_out: list[dict[str, Any]] = []

    class Timer(TrainingCallback):
        """Times the training loop of each epoch (train_step: from its start to the eval step)."""

        def on_train_step_begin(self, training_config, **kw):
            self.t0 = time.perf_counter()

        def on_eval_step_begin(self, training_config, **kw):
            dt = time.perf_counter() - self.t0
            epochs_out.append({"epoch": kw.get("epoch"), "seconds": dt, "samples_per_s": x_train.shape[0] / dt})

        def on_log(self, training_config, logs, **kw):
            if epochs_out:
                epochs_out[-1].update({k: float(v) for k, v in logs.items()})

    with tempfile.TemporaryDirectory() as tmp:
        cfg = BaseTrainerConfig(
            output_dir=tmp, num_epochs=a["epochs"], per_device_train_batch_size=a.get("batch_size", 128),
            per_device_eval_batch_size=a.get("batch_size", 128), learning_rate=a.get("lr", 1e-3),
            optimizer_cls="Adam", no_cuda=True, seed=a.get("seed", 0),
        )
        pipe = TrainingPipeline(model=model, training_config=cfg)
        t0 = time.perf_counter()
        pipe(train_data=x_train, eval_data=x_val, callbacks=[Timer()])
        wall = time.perf_counter() - t0
        best = getattr(pipe.trainer, "_best_model", pipe.trainer.model)
    out = {"wall_s": wall, "wall_incl_import_and_data_s": time.perf_counter() - t_start, "epochs": epochs_out,
           "params": n_params(model), "pythae_version": pythae.__version__ if hasattr(pythae, "__version__") else None,
           "peak_rss_mb": peak_rss_mb(), "torch_threads": torch.get_num_threads()}
    if a.get("test_elbo"):
        vk = vaekit_reference_model(hidden, latent)
        vk.load_state_dict(pythae_to_vaekit_state(best.state_dict()))
        out["test_elbo"] = elbo_on(vk, splits.test.x, k=a.get("elbo_k", 10))
        # pythae's own loss (-ELBO, 1 sample, BCE sum over pixels, mean over batch) on test, as a cross-check
        best.eval()
        with torch.no_grad():
            torch.manual_seed(0)
            losses = [float(best({"data": splits.test.x[i : i + 500]}).loss) * min(500, splits.test.x.shape[0] - i)
                      for i in range(0, splits.test.x.shape[0], 500)]
        out["test_elbo_pythae_loss"] = -sum(losses) / splits.test.x.shape[0]
    return out


@task
def plain_train(a: dict[str, Any]) -> dict[str, Any]:
    """A hand-written PyTorch loop for the same model, for context (not a product)."""
    torch.set_num_threads(a["threads"])
    splits = fashion_splits()
    x = splits.train.x.reshape(-1, 784).contiguous()
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 32))
    dec = nn.Sequential(nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784))
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    bs, n = 128, x.shape[0]
    epochs = []
    for e in range(a["epochs"]):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, bs):
            xb = x[perm[i : i + bs]]
            mu, logvar = enc(xb).chunk(2, -1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            rec = F.binary_cross_entropy_with_logits(dec(z), xb, reduction="none").sum(-1)
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)
            loss = (rec + kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss) * xb.shape[0]
        dt = time.perf_counter() - t0
        epochs.append({"epoch": e + 1, "seconds": dt, "samples_per_s": n / dt, "train_loss": total / n})
    return {"epochs": epochs, "params": sum(p.numel() for p in params), "peak_rss_mb": peak_rss_mb()}


def _load_vaekit_run(run: str):
    from vaekit import load

    return load(run)


def _pythae_from_vaekit_run(run: str):
    """The identical pythae model holding a vaekit run's weights (eval mode)."""
    loaded = _load_vaekit_run(run)
    model = build_pythae((512, 256), 16)
    model.load_state_dict(vaekit_to_pythae_state(loaded.model.state_dict(), 16))
    return model.eval()


@task
def vaekit_iwae(a: dict[str, Any]) -> dict[str, Any]:
    """Like for like with pythae's get_nll(x): the test images are already in memory and only the
    estimator is timed (vaekit's default batch and chunk sizes). The whole `evaluate_run` call,
    which also loads and splits the dataset from disk, is timed separately for context."""
    torch.set_num_threads(a["threads"])
    from vaekit.tasks import evaluate as ev

    loaded = _load_vaekit_run(a["run"])
    x = fashion_splits().test.x[: a["n"]]
    batch = a.get("batch_size") or ev.DEFAULT_BATCH
    chunk = a.get("chunk")  # None: vaekit's own default
    ev.evaluate_tensor(loaded.model, x[:20], k=a["k"], batch_size=batch, chunk=chunk)  # warm-up (allocator, kernels)
    t0 = time.perf_counter()
    res = ev.evaluate_tensor(loaded.model, x, k=a["k"], batch_size=batch, chunk=chunk, seed=a.get("seed", 0))
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    ev.evaluate_run(loaded, split="test", k=a["k"], limit=a["n"], seed=a.get("seed", 0), batch_size=batch, chunk=chunk)
    dt_whole = time.perf_counter() - t1
    return {"seconds": dt, "images_per_s": a["n"] / dt, "nll": res["nll"], "elbo": res["elbo"],
            "seconds_whole_evaluate_run": dt_whole, "images_per_s_whole_evaluate_run": a["n"] / dt_whole,
            "peak_rss_mb": peak_rss_mb()}


@task
def pythae_iwae(a: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(a["threads"])
    import contextlib

    model = _pythae_from_vaekit_run(a["run"])
    x = fashion_splits().test.x[: a["n"]]
    ctx = torch.no_grad() if a.get("no_grad", True) else contextlib.nullcontext()
    with ctx:
        model.get_nll(x[:5], n_samples=a["k"], batch_size=a["batch_size"])  # warm-up
        torch.manual_seed(a.get("seed", 0))
        t0 = time.perf_counter()
        ll = model.get_nll(x, n_samples=a["k"], batch_size=a["batch_size"])
        dt = time.perf_counter() - t0
    return {"seconds": dt, "images_per_s": a["n"] / dt, "get_nll_return": float(ll), "nll": -float(ll),
            "peak_rss_mb": peak_rss_mb()}


@task
def vaekit_sample(a: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(a["threads"])
    model = _load_vaekit_run(a["run"]).model
    g = torch.Generator().manual_seed(0)
    model.sample(100, generator=g)
    t0 = time.perf_counter()
    imgs = model.sample(a["n"], generator=g)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "images_per_s": a["n"] / dt, "shape": list(imgs.shape)}


@task
def pythae_sample(a: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(a["threads"])
    from pythae.samplers import NormalSampler

    model = _pythae_from_vaekit_run(a["run"])
    sampler = NormalSampler(model=model)
    sampler.sample(num_samples=100, batch_size=a["batch_size"], return_gen=True)
    t0 = time.perf_counter()
    imgs = sampler.sample(num_samples=a["n"], batch_size=a["batch_size"], return_gen=True)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "images_per_s": a["n"] / dt, "shape": list(imgs.shape)}


@task
def vaekit_ttq(a: dict[str, Any]) -> dict[str, Any]:
    """Train a vaekit recipe; after each epoch score the saved (best-on-val) weights on the test
    split. The scoring time is excluded from the reported training wall clock."""
    torch.set_num_threads(a["threads"])
    from safetensors.torch import load_file

    from vaekit.api import resolve_config
    from vaekit.models import build_model
    from vaekit.training import fit

    t_start = time.perf_counter()
    cfg = resolve_config(a["recipe"], epochs=a.get("epochs"),
                         overrides=[f"train.threads={a['threads']}", "train.device=cpu", *a.get("overrides", [])])
    splits = fashion_splits()
    x_test = splits.test.x
    rows: list[dict[str, Any]] = []
    excluded = [0.0]
    target = a.get("target")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"

        def on_epoch(row):
            t0 = time.perf_counter()
            model = build_model(cfg.model, (1, 28, 28), 256)
            model.load_state_dict(load_file(str(out / "model.safetensors")))
            elbo = elbo_on(model, x_test, k=a.get("elbo_k", 10))
            rows.append({"epoch": row["epoch"], "elapsed_s": t0 - t_start - excluded[0], "test_elbo": elbo,
                         "val_loss": row["val_loss"], "train_loss": row["train_loss"], "seconds": row["seconds"],
                         "samples_per_s": row["samples_per_s"]})
            excluded[0] += time.perf_counter() - t0

        fit(cfg, out, on_epoch=on_epoch, progress=False)
        wall = time.perf_counter() - t_start - excluded[0]
    reached = next((r for r in rows if target is not None and r["test_elbo"] >= target), None)
    return {"recipe": a["recipe"], "overrides": a.get("overrides", []), "config_train": cfg.train.model_dump(),
            "config_model": cfg.model.model_dump(), "epochs": rows, "wall_s": wall, "final_test_elbo": rows[-1]["test_elbo"],
            "target": target, "reached_epoch": reached["epoch"] if reached else None,
            "reached_s": reached["elapsed_s"] if reached else None, "peak_rss_mb": peak_rss_mb()}


@task
def vaekit_epoch(a: dict[str, Any]) -> dict[str, Any]:
    """Seconds per epoch for one configuration (scaling); epochs after the first are kept."""
    return vaekit_train(a)


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    load0 = os.getloadavg()
    result = TASKS[name](args)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    result.setdefault("peak_rss_mb", peak_rss_mb())
    result["cpu_s"] = ru.ru_utime + ru.ru_stime
    result["loadavg_start"], result["loadavg_end"] = load0, os.getloadavg()
    print("RESULT " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
