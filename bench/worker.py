"""One measurement in a fresh process: ``python bench/worker.py TASK '{"json": "args"}'``.

Started only by ``bench/harness.py`` (one task per process); prints ``RESULT {json}`` as its last
stdout line. Tasks named ``vaekit_*`` (and ``roofline``, ``export_splits``) run under the
interpreter that has vaekit; tasks named ``pythae_*`` run in the pythae side venv, which does not
have vaekit: they read the data splits from the ``.npz`` file that ``export_splits`` wrote and the
weights from plain ``torch.save`` files.

vaekit is driven only through its public API (``vaekit.train``, ``vaekit.load``,
``vaekit.evaluate``; the model's ``encode``/``decode``/``sample``). Weights move between the two
systems by matching ``nn.Linear`` weight shapes (never parameter names, which vaekit may rename),
and every conversion is checked by comparing the vaekit model's q(z|x) and p(x|z) with a plain
re-implementation of the pythae architecture on random inputs.

Reference model (both sides): MLP 784-512-256 -> (mu, log sigma^2) of 16 dims, decoder
16-256-512-784 with ReLU, Bernoulli/BCE on [0,1] grey pixels summed over pixels, mean over the batch.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
LATENT = 16
HIDDEN = (512, 256)
IMAGE = (1, 28, 28)
# pythae parameter name -> weight shape of the reference model (all six shapes are distinct)
PYTHAE_LINEARS = {
    "encoder.body.0": (512, 784), "encoder.body.2": (256, 512),
    "encoder.head": (2 * LATENT, 256),  # split into pythae's encoder.mu / encoder.logvar
    "decoder.body.0": (256, LATENT), "decoder.body.2": (512, 256), "decoder.head": (784, 512),
}


def task(fn):
    TASKS[fn.__name__] = fn
    return fn


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def set_threads(a: dict[str, Any]) -> None:
    if a.get("threads"):
        torch.set_num_threads(int(a["threads"]))


# --------------------------------------------------------------------------- data (both sides)
def load_split(path: str, split: str, limit: int | None = None) -> torch.Tensor:
    """A split from the ``export_splits`` file as float32 (N, 1, 28, 28) in [0, 1]."""
    import numpy as np

    with np.load(path) as f:
        arr = f[split]
        scale = float(f[f"{split}__scale"])
    if limit:
        arr = arr[:limit]
    x = torch.from_numpy(arr.astype("float32"))
    return x / scale if scale != 1.0 else x


# --------------------------------------------------------------------------- weight conversion
def linear_layers(sd: dict[str, torch.Tensor]) -> dict[tuple[int, ...], tuple[str, str | None]]:
    """{weight shape: (weight key, bias key)} of the 2-D weights in a state dict; a shape that
    occurs twice is an error (the conversion would be ambiguous)."""
    out: dict[tuple[int, ...], tuple[str, str | None]] = {}
    for key, value in sd.items():
        if key.endswith("weight") and value.dim() == 2:
            shape = tuple(value.shape)
            if shape in out:
                raise RuntimeError(f"two 2-D weights of shape {shape} ({out[shape][0]}, {key}): cannot map by shape")
            bias = key[: -len("weight")] + "bias"
            out[shape] = (key, bias if bias in sd else None)
    return out


def vaekit_to_plain(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """vaekit state dict -> {pythae-layer.weight/.bias} by weight shape."""
    layers = linear_layers(sd)
    out = {}
    for name, shape in PYTHAE_LINEARS.items():
        if shape not in layers:
            raise RuntimeError(f"vaekit model has no Linear weight of shape {shape} (for {name}); layers: {sorted(layers)}")
        wk, bk = layers[shape]
        if bk is None:
            raise RuntimeError(f"vaekit Linear {wk} has no bias")
        out[f"{name}.weight"], out[f"{name}.bias"] = sd[wk].detach().clone(), sd[bk].detach().clone()
    return out


def plain_to_pythae(plain: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {k: v for k, v in plain.items() if not k.startswith("encoder.head.")}
    for kind in ("weight", "bias"):
        head = plain[f"encoder.head.{kind}"]
        out[f"encoder.mu.{kind}"], out[f"encoder.logvar.{kind}"] = head[:LATENT].clone(), head[LATENT:].clone()
    return out


def pythae_to_plain(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {k: v for k, v in sd.items() if k.startswith(("encoder.body.", "decoder."))}
    for kind in ("weight", "bias"):
        out[f"encoder.head.{kind}"] = torch.cat([sd[f"encoder.mu.{kind}"], sd[f"encoder.logvar.{kind}"]], 0)
    return out


def plain_into_vaekit(model: nn.Module, plain: dict[str, torch.Tensor]) -> None:
    sd = model.state_dict()
    layers = linear_layers(sd)
    new = dict(sd)
    for name, shape in PYTHAE_LINEARS.items():
        wk, bk = layers[shape]
        new[wk], new[bk] = plain[f"{name}.weight"], plain[f"{name}.bias"]
    model.load_state_dict(new, strict=True)


def plain_forward(plain: dict[str, torch.Tensor], x: torch.Tensor, z: torch.Tensor):
    """The pythae architecture in plain torch: (mu, std) of q(z|x) and Bernoulli probs of p(x|z)."""
    import torch.nn.functional as F

    h = x.reshape(x.shape[0], -1)
    for name in ("encoder.body.0", "encoder.body.2"):
        h = F.relu(F.linear(h, plain[f"{name}.weight"], plain[f"{name}.bias"]))
    out = F.linear(h, plain["encoder.head.weight"], plain["encoder.head.bias"])
    mu, logvar = out[:, :LATENT], out[:, LATENT:]
    g = z
    for name in ("decoder.body.0", "decoder.body.2"):
        g = F.relu(F.linear(g, plain[f"{name}.weight"], plain[f"{name}.bias"]))
    probs = torch.sigmoid(F.linear(g, plain["decoder.head.weight"], plain["decoder.head.bias"]))
    return mu, torch.exp(0.5 * logvar), probs


@torch.no_grad()
def check_conversion(model: nn.Module, plain: dict[str, torch.Tensor]) -> float:
    """Max abs difference between vaekit's q(z|x), p(x|z) and the plain pythae architecture on
    random inputs; raises if the two models are not the same function."""
    model.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, *IMAGE, generator=g)
    z = torch.randn(8, LATENT, generator=g)
    mu, std, probs = plain_forward(plain, x, z)
    q = model.encode(x)
    px = model.decode(z)
    diffs = [(q.mean - mu).abs().max(), (q.stddev - std).abs().max(),
             (px.mean.reshape(8, -1) - probs).abs().max()]
    worst = float(max(diffs))
    if not worst < 1e-4:
        raise RuntimeError(f"weight conversion vaekit<->pythae no longer gives the same model (max diff {worst:.3g}): "
                           "the reference model's layout or parametrisation changed; update bench/worker.py")
    return worst


# --------------------------------------------------------------------------- pythae model
def build_pythae():
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self):
            BaseEncoder.__init__(self)
            self.body = nn.Sequential(nn.Linear(784, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU())
            self.mu = nn.Linear(HIDDEN[1], LATENT)
            self.logvar = nn.Linear(HIDDEN[1], LATENT)

        def forward(self, x):
            h = self.body(x.reshape(x.shape[0], -1))
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            BaseDecoder.__init__(self)
            self.body = nn.Sequential(nn.Linear(LATENT, HIDDEN[1]), nn.ReLU(), nn.Linear(HIDDEN[1], HIDDEN[0]), nn.ReLU())
            self.head = nn.Linear(HIDDEN[0], 784)

        def forward(self, z):
            probs = torch.sigmoid(self.head(self.body(z)))
            return ModelOutput(reconstruction=probs.reshape(z.shape[0], *IMAGE))

    config = VAEConfig(input_dim=IMAGE, latent_dim=LATENT, reconstruction_loss="bce")
    return VAE(config, encoder=Encoder(), decoder=Decoder())


def load_pythae(weights: str):
    model = build_pythae()
    model.load_state_dict(torch.load(weights, weights_only=True), strict=True)
    return model.eval()


# --------------------------------------------------------------------------- tasks: any side
@task
def roofline(a: dict[str, Any]) -> dict[str, Any]:
    """fp32 matmul reference: best and median GFLOP/s of an n x n torch.matmul."""
    set_threads(a)
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
    return {"n": n, "torch_threads": torch.get_num_threads(), "best_gflops": flops / times[0] / 1e9,
            "median_gflops": flops / times[len(times) // 2] / 1e9}


@task
def torch_version(a: dict[str, Any]) -> dict[str, Any]:
    return {"torch": torch.__version__, "default_threads": torch.get_num_threads()}


# --------------------------------------------------------------------------- tasks: vaekit side
@task
def export_splits(a: dict[str, Any]) -> dict[str, Any]:
    """Write the dataset's train/val/test splits (as vaekit makes them) to an .npz for the pythae
    side; uint8 when the values are exactly k/255 (Fashion-MNIST grey levels), else float32."""
    import numpy as np

    try:  # vaekit's data loader (the splits every vaekit command uses)
        from vaekit.data import load_dataset

        splits = load_dataset(a["dataset"])
        parts = {s: getattr(splits, s).x for s in ("train", "val", "test")}
    except ImportError:  # fall back to the split of a run directory (vaekit.load + the task helper)
        import vaekit
        from vaekit.tasks.data import split_data

        run = vaekit.load(a["run"])
        parts = {s: split_data(run, s)[0] for s in ("train", "val", "test")}
    arrays = {}
    for split, x in parts.items():
        x = x.float().reshape(x.shape[0], *IMAGE)
        u8 = torch.round(x * 255)
        if float((u8 / 255 - x).abs().max()) < 1e-6 and float(u8.min()) >= 0 and float(u8.max()) <= 255:
            arrays[split], arrays[f"{split}__scale"] = u8.to(torch.uint8).numpy(), np.float32(255.0)
        else:
            arrays[split], arrays[f"{split}__scale"] = x.numpy(), np.float32(1.0)
    tmp = a["out"] + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, a["out"])
    return {"sizes": {s: int(v.shape[0]) for s, v in parts.items()}}


@task
def vaekit_train(a: dict[str, Any]) -> dict[str, Any]:
    """``vaekit.train`` (the function ``vaekit train`` calls) without the report, timed."""
    import vaekit

    t0 = time.perf_counter()
    run = vaekit.train(a["recipe"], epochs=a.get("epochs"), seed=a.get("seed"), out=a["out"], echo=None,
                       progress=False, report=False, device="cpu", overrides=list(a.get("overrides", [])))
    wall = time.perf_counter() - t0
    rows = [json.loads(ln) for ln in (Path(run) / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    return {"train_call_s": wall, "epochs": rows, "run": str(run)}


@task
def vaekit_score(a: dict[str, Any]) -> dict[str, Any]:
    """ELBO / IWAE NLL of a vaekit run, or of pythae weights loaded into a vaekit template run,
    on one split, through ``vaekit.evaluate`` (one estimator for both systems)."""
    set_threads(a)
    import vaekit

    run = vaekit.load(a["run"])
    out: dict[str, Any] = {}
    if a.get("pythae_weights"):
        plain = pythae_to_plain(torch.load(a["pythae_weights"], weights_only=True))
        plain_into_vaekit(run.model, plain)
        out["conversion_max_diff"] = check_conversion(run.model, plain)
    res = vaekit.evaluate(run, split=a["split"], k=a["k"], limit=a.get("limit"), seed=a.get("seed", 0), write=False)
    out.update({"split": a["split"], "elbo": float(res["elbo"]), "nll": float(res["nll"]), "k": a["k"],
                "n": a.get("limit")})
    return out


@task
def vaekit_export_pythae(a: dict[str, Any]) -> dict[str, Any]:
    """Write a vaekit run's weights as the identical pythae model's state dict (checked)."""
    import vaekit

    run = vaekit.load(a["run"])
    plain = vaekit_to_plain(run.model.state_dict())
    diff = check_conversion(run.model, plain)
    torch.save(plain_to_pythae(plain), a["out"])
    return {"conversion_max_diff": diff}


@task
def vaekit_sample(a: dict[str, Any]) -> dict[str, Any]:
    """Prior sampling, N images, timed after a warm-up call (same on the pythae side)."""
    set_threads(a)
    import vaekit

    model = vaekit.load(a["run"]).model
    if hasattr(model, "sample"):
        how = "model.sample(n)"
        g = torch.Generator().manual_seed(0)
        fn = lambda n: model.sample(n, generator=g)  # noqa: E731
    else:  # the documented encode/decode interface
        how = "decode(randn).mean"

        def fn(n):
            with torch.no_grad():
                return model.decode(torch.randn(n, LATENT)).mean
    fn(100)
    t0 = time.perf_counter()
    imgs = fn(a["n"])
    dt = time.perf_counter() - t0
    return {"seconds": dt, "images_per_s": a["n"] / dt, "shape": list(imgs.shape), "how": how}


# --------------------------------------------------------------------------- tasks: pythae side
@task
def pythae_train(a: dict[str, Any]) -> dict[str, Any]:
    """pythae TrainingPipeline on the reference model; per-epoch training-loop times; saves the
    best-on-validation weights (what pythae returns) to a["out"] when given."""
    set_threads(a)
    t_start = time.perf_counter()
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    x_train = load_split(a["splits"], "train", a.get("limit"))
    x_val = load_split(a["splits"], "val")
    torch.manual_seed(a.get("seed", 0))
    model = build_pythae()
    epochs_out: list[dict[str, Any]] = []

    class Timer(TrainingCallback):
        """Times each epoch's training loop (train_step start -> eval step start)."""

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
            output_dir=tmp, num_epochs=a["epochs"], per_device_train_batch_size=128, per_device_eval_batch_size=128,
            learning_rate=1e-3, optimizer_cls="Adam", no_cuda=True, seed=a.get("seed", 0),
        )
        pipe = TrainingPipeline(model=model, training_config=cfg)
        t0 = time.perf_counter()
        pipe(train_data=x_train, eval_data=x_val, callbacks=[Timer()])
        wall = time.perf_counter() - t0
        best = getattr(pipe.trainer, "_best_model", pipe.trainer.model)
        if a.get("out"):
            torch.save({k: v.detach().cpu() for k, v in best.state_dict().items()}, a["out"])
    import pythae

    return {"train_call_s": wall, "until_trained_s": time.perf_counter() - t_start, "epochs": epochs_out,
            "pythae_version": getattr(pythae, "__version__", None), "torch_threads": torch.get_num_threads()}


@task
def pythae_iwae(a: dict[str, Any]) -> dict[str, Any]:
    """pythae get_nll on the first n test images, its data loading and model loading included in
    the process time the harness measures; the get_nll call alone is timed too."""
    set_threads(a)
    model = load_pythae(a["weights"])
    x = load_split(a["splits"], "test", a["n"])
    with torch.no_grad():  # get_nll does not disable autograd itself; this is its fastest use
        torch.manual_seed(a.get("seed", 0))
        t0 = time.perf_counter()
        ll = model.get_nll(x, n_samples=a["k"], batch_size=a["batch_size"])
        dt = time.perf_counter() - t0
    return {"get_nll_s": dt, "nll": -float(ll), "n": int(x.shape[0]), "k": a["k"]}


@task
def pythae_sample(a: dict[str, Any]) -> dict[str, Any]:
    set_threads(a)
    from pythae.samplers import NormalSampler

    sampler = NormalSampler(model=load_pythae(a["weights"]))
    sampler.sample(num_samples=100, batch_size=a["batch_size"], return_gen=True)
    t0 = time.perf_counter()
    imgs = sampler.sample(num_samples=a["n"], batch_size=a["batch_size"], return_gen=True)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "images_per_s": a["n"] / dt, "shape": list(imgs.shape),
            "how": f"NormalSampler.sample(batch_size={a['batch_size']})"}


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = TASKS[name](args)
    result.setdefault("peak_rss_mb_self", peak_rss_mb())
    print("RESULT " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
