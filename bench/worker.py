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
import math
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


# --------------------------------------------------------------------------- likelihood per CPU-minute (issue 9)
# Tasks of bench/bench_likelihood.py: dynamically binarised Fashion-MNIST, the same wall-clock
# training budget for every run, pythae 0.1.2's models trained by its TrainingPipeline and scored
# by :func:`iw_nll` (Burda et al. 2015), vaekit's runs by `vaekit evaluate`.
LK_SPLITS = ("train", "val", "test")


@task
def vaekit_export_binarised(a: dict[str, Any]) -> dict[str, Any]:
    """The data of the likelihood benchmark as vaekit sees it, for the pythae side: the training
    split in grey levels (uint8, dynamically binarised by the trainer on either side) and the
    validation and test splits in vaekit's one fixed, seeded evaluation binarisation (uint8 0/1,
    ``vaekit.artifacts.datasets.eval_view``: what `vaekit evaluate` and vaekit's validation use),
    so both libraries validate and are scored on the very same binary images."""
    import numpy as np
    from vaekit.artifacts.datasets import eval_view
    from vaekit.core.config import DataConfig
    from vaekit.data import load_dataset

    cfg = DataConfig(name=a["dataset"], binarize="dynamic", limit=a.get("limit"))
    splits = load_dataset(a["dataset"])
    arrays: dict[str, Any] = {}
    for split in LK_SPLITS:
        x = getattr(splits, split).x.float().reshape(-1, *IMAGE)  # (N, 1, 28, 28) in [0, 1]
        if split == "train":
            if a.get("limit"):
                x = x[: a["limit"]]  # vaekit's data.limit keeps the first N training examples
            u8 = torch.round(x * 255)
            if float((u8 / 255 - x).abs().max()) > 1e-6:
                raise RuntimeError("training images are not k/255 grey levels")
            arrays["train"] = u8.to(torch.uint8).numpy()
        else:
            arrays[split] = eval_view(x, cfg).to(torch.uint8).numpy()  # 0/1
    tmp = a["out"] + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, a["out"])
    return {"sizes": {s: int(v.shape[0]) for s, v in arrays.items()}}


def lk_arrays(path: str, split: str, limit: int | None = None) -> torch.Tensor:
    """float32 (N, 1, 28, 28): grey levels / 255 for "train", 0./1. for "val"/"test"."""
    import numpy as np

    with np.load(path) as f:
        arr = f[split][:limit] if limit else f[split]
    x = torch.from_numpy(arr.astype("float32"))
    return x / 255.0 if split == "train" else x


def lk_build_pythae(name: str, net: str, hp: dict[str, Any]):
    """A pythae 0.1.2 model. ``net="same"``: vaekit's default MLP (784-H1-H2 -> (mu, log var) of L,
    decoder L-H2-H1-784 with ReLU and a sigmoid output, ``hp["hidden"]`` = [H1, H2]);
    ``net="default"``: pythae's own default MLP for a 1x28x28 input (784-512 -> L, L-512-784).
    ``hp`` holds the model config's keyword arguments (latent_dim, beta, ...); the reconstruction
    loss is "bce" in both, as a Bernoulli likelihood of binary pixels needs."""
    import pythae.models as pm
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    configs = {"VAE": "VAEConfig", "IWAE": "IWAEConfig", "VAMP": "VAMPConfig", "BetaVAE": "BetaVAEConfig",
               "BetaTCVAE": "BetaTCVAEConfig", "FactorVAE": "FactorVAEConfig", "VAE_IAF": "VAE_IAF_Config",
               "VAE_LinNF": "VAE_LinNF_Config"}
    kw = {k: v for k, v in hp.items() if k != "hidden"}
    config = getattr(pm, configs[name])(input_dim=IMAGE, reconstruction_loss="bce", **kw)
    if net == "default":
        return getattr(pm, name)(config)
    latent, (h1, h2) = config.latent_dim, hp["hidden"]

    class Encoder(BaseEncoder):
        def __init__(self):
            BaseEncoder.__init__(self)
            self.body = nn.Sequential(nn.Linear(784, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU())
            self.mu, self.logvar = nn.Linear(h2, latent), nn.Linear(h2, latent)

        def forward(self, x):
            h = self.body(x.reshape(x.shape[0], -1))  # (B, H2)
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            BaseDecoder.__init__(self)
            self.body = nn.Sequential(nn.Linear(latent, h2), nn.ReLU(), nn.Linear(h2, h1), nn.ReLU())
            self.head = nn.Linear(h1, 784)

        def forward(self, z):
            probs = torch.sigmoid(self.head(self.body(z)))  # pythae's decoders return probabilities
            return ModelOutput(reconstruction=probs.reshape(z.shape[0], *IMAGE))

    return getattr(pm, name)(config, encoder=Encoder(), decoder=Decoder())


def pythae_budget(budget: float, before_epoch: Callable[[int], None] | None = None, *, hard: bool = False):
    """A pythae ``TrainingCallback`` that ends training once ``budget`` seconds have passed since
    ``on_train_begin``, with the per-epoch log it keeps and the exception it raises.

    pythae 0.1.2 has no stop signal for callbacks, and its epoch loop iterates a fixed range, so the
    callback raises ``BudgetSpent`` from ``on_log`` (the last hook of an epoch, after the best model
    was kept) once the budget is spent, validation included. ``before_epoch(epoch)`` runs at each
    epoch's start, inside the epoch's clock (e.g. a fresh binarisation: vaekit's epoch time includes
    its draw too). ``hard``: also stop at the first training step that ends with the budget spent -
    the rule of vaekit's ``train.time_budget``, which cuts its epoch in progress; ``epochs`` then
    ends with an entry ``{"partial": True, "steps": ...}``. Returns ``(callback, epochs, BudgetSpent)``."""
    from pythae.trainers.training_callbacks import TrainingCallback

    epochs: list[dict[str, Any]] = []
    clock: dict[str, float] = {}

    class BudgetSpent(Exception):
        pass

    class Budget(TrainingCallback):
        def on_train_begin(self, training_config, **kw):
            clock["start"] = time.perf_counter()

        def on_epoch_begin(self, training_config, **kw):
            clock["t0"], clock["steps"] = time.perf_counter(), 0
            if before_epoch is not None:
                before_epoch(kw.get("epoch", 1))

        def on_eval_step_begin(self, training_config, **kw):
            epochs.append({"epoch": kw.get("epoch"), "seconds": time.perf_counter() - clock["t0"]})

        def on_log(self, training_config, logs, **kw):
            elapsed = time.perf_counter() - clock["start"]
            if epochs:
                epochs[-1].update({k: float(v) for k, v in logs.items()}, elapsed_s=elapsed)
            if elapsed >= budget:
                raise BudgetSpent()

        def on_train_step_end(self, training_config, **kw):
            clock["steps"] += 1
            elapsed = time.perf_counter() - clock["start"]
            if hard and elapsed >= budget:
                epochs.append({"partial": True, "steps": clock["steps"], "seconds": time.perf_counter() - clock["t0"],
                               "elapsed_s": elapsed})
                raise BudgetSpent()

    return Budget(), epochs, BudgetSpent


@task
def pythae_train_budget(a: dict[str, Any]) -> dict[str, Any]:
    """pythae TrainingPipeline until the wall-clock budget is spent, on dynamically binarised
    training images; saves the best-on-validation weights (pythae's own ``_best_model``).

    Dynamic binarisation: a fresh Bernoulli draw of every training image at the start of every
    epoch from a generator seeded with the run's seed (as vaekit's trainer does). The budget: see
    :func:`pythae_budget` (vaekit's ``train.time_budget`` rule)."""
    set_threads(a)
    t_start = time.perf_counter()
    from pythae.data.datasets import DatasetOutput
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import AdversarialTrainerConfig, BaseTrainerConfig

    grey = lk_arrays(a["data"], "train", a.get("limit"))  # (N, 1, 28, 28) in [0, 1]
    x_val = lk_arrays(a["data"], "val", a.get("val_limit"))
    torch.manual_seed(a["seed"])
    model = lk_build_pythae(a["model"], a["net"], a.get("hp", {}))
    gen = torch.Generator().manual_seed(a["seed"])

    class Binarised(torch.utils.data.Dataset):
        def __init__(self):
            self.data = torch.bernoulli(grey, generator=gen)

        def __len__(self):
            return grey.shape[0]

        def __getitem__(self, i):
            return DatasetOutput(data=self.data[i])

    train_set = Binarised()

    def redraw(epoch: int) -> None:
        if epoch > 1:  # epoch 1 uses the draw made at construction
            train_set.data = torch.bernoulli(grey, generator=gen)

    # hard: stop at the step that crosses the budget, as vaekit's train.time_budget cuts its epoch. pythae
    # then keeps its best model of the finished epochs (vaekit validates its cut epoch too: at most one
    # partial epoch, seconds for these MLPs, separates the two rules).
    budget_cb, epochs, BudgetSpent = pythae_budget(a["budget"], before_epoch=redraw, hard=True)

    trainer = {"batch": a.get("batch_size", 64), "lr": a.get("lr")}
    with tempfile.TemporaryDirectory() as tmp:
        common = dict(output_dir=tmp, num_epochs=100_000, per_device_train_batch_size=trainer["batch"],
                      per_device_eval_batch_size=max(64, trainer["batch"]), no_cuda=True, seed=a["seed"],
                      steps_saving=None)
        if a["model"] == "FactorVAE":  # pythae trains FactorVAE with its adversarial trainer
            extra = {} if trainer["lr"] is None else {"autoencoder_learning_rate": trainer["lr"]}
            if a.get("disc_lr"):
                extra["discriminator_learning_rate"] = a["disc_lr"]
            cfg = AdversarialTrainerConfig(**common, **extra)
        else:
            cfg = BaseTrainerConfig(**common, **({} if trainer["lr"] is None else {"learning_rate": trainer["lr"]}))
        pipe = TrainingPipeline(model=model, training_config=cfg)
        stopped, diverged = False, None
        try:
            pipe(train_data=train_set, eval_data=x_val, callbacks=[budget_cb])
        except BudgetSpent:
            stopped = True
        except ArithmeticError as err:  # pythae raises on a NaN loss and drops the run; we keep its best
            diverged = f"{err} (in epoch {len(epochs) + 1})"  # model so far, and say so
            if getattr(pipe.trainer, "_best_model", None) is None:
                raise
        best = pipe.trainer._best_model
        torch.save({k: v.detach().cpu() for k, v in best.state_dict().items()}, a["out"])
    import pythae

    return {"stopped_by_budget": stopped, "diverged": diverged, "epochs": epochs, "n_epochs": len(epochs),
            "train_s": epochs[-1]["elapsed_s"] if epochs else None, "until_trained_s": time.perf_counter() - t_start,
            "n_train": int(grey.shape[0]), "pythae_version": getattr(pythae, "__version__", None),
            "torch_threads": torch.get_num_threads(), "batch_size": trainer["batch"],
            "lr": cfg.autoencoder_learning_rate if a["model"] == "FactorVAE" else cfg.learning_rate}


LOG_2PI = 1.8378770664093453


def lk_gauss_logpdf(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), normalised, summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 / logvar.exp()).sum(-1)


def lk_flow(model, z0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(zK, log|det dzK/dz0|) through the model's own posterior flows, as its loss uses them
    (VAE_IAF: ``iaf_flow.inverse``; VAE_LinNF: each layer of ``net`` in order); else (z0, 0)."""
    name = type(model).__name__
    if name == "VAE_IAF":
        out = model.iaf_flow.inverse(z0)
        return out.out, out.log_abs_det_jac
    if name == "VAE_LinNF":
        # Planar flows f(z) = z + u h(w.z + b) (Rezende & Mohamed 2015, eq. 10-12), from the layer's own
        # parameters; log|det| = log|1 + u.psi| exactly (pythae's layer adds 1e-4 inside the log).
        z, logdet = z0, torch.zeros(z0.shape[0], dtype=z0.dtype)
        for layer in model.net:
            if type(layer).__name__ != "PlanarFlow":
                raise RuntimeError(f"VAE_LinNF layer {type(layer).__name__}: only planar flows are scored")
            lin = z @ layer.w.T + layer.b  # (R, 1)
            psi = layer.activation_derivative(lin) @ layer.w  # (R, L)
            logdet = logdet + torch.log(torch.abs(1 + psi @ layer.u.T)).squeeze(-1)
            z = z + layer.u * layer.activation(lin)  # (R, L)
        return z, logdet
    return z0, torch.zeros(z0.shape[0], dtype=z0.dtype)


def lk_planar_noninvertible(model) -> int:
    """Planar layers with w.u < -1: Rezende & Mohamed's invertibility condition (their appendix A),
    which pythae's planar flow does not enforce; where it fails, log q0 - log|det| is not q's density."""
    if type(model).__name__ != "VAE_LinNF":
        return 0
    return sum(int(float(layer.w.flatten() @ layer.u.flatten()) < -1) for layer in model.net)


class LogPrior:
    """log p(z), normalised: N(0, I), or for VAMP the mixture (1/C) sum_c q(z | u_c) over the model's
    pseudo-inputs u_c = pseudo_inputs(e_c) (Tomczak & Welling 2018), from its own encoder.

    The mixture's C Gaussians are computed once (they do not depend on x), and the squared
    distances are expanded into matrix products, in float64 so the expansion does not cancel:
    sum_d (z_d - m_cd)^2 / v_cd = (z^2) @ (1/v_c) - 2 z @ (m_c / v_c) + sum_d m_cd^2 / v_cd
    ((R, L) @ (L, C) instead of an (R, C, L) tensor: about 30x faster at C = 500)."""

    def __init__(self, model):
        self.vamp = type(model).__name__ == "VAMP"
        if self.vamp:
            C = model.number_components
            u = model.pseudo_inputs(torch.eye(C)).reshape(C, *model.model_config.input_dim)
            e = model.encoder(u)
            mu, logvar = e.embedding.double(), e.log_covariance.double()  # (C, L)
            inv = (-logvar).exp()
            self.inv_t, self.mu_inv_t = inv.T.contiguous(), (mu * inv).T.contiguous()  # (L, C)
            L = mu.shape[1]
            self.const = -0.5 * (L * LOG_2PI + logvar.sum(1) + (mu * mu * inv).sum(1)) - math.log(C)  # (C,)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        if not self.vamp:
            return lk_gauss_logpdf(z, torch.zeros_like(z), torch.zeros_like(z))
        zd = z.double()  # (R, L)
        lp = self.const - 0.5 * ((zd * zd) @ self.inv_t) + zd @ self.mu_inv_t  # (R, C)
        return torch.logsumexp(lp, -1).to(z.dtype)


@torch.no_grad()
def iw_nll(model, x: torch.Tensor, k: int, *, batch: int = 50, rows: int = 2500,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """The IWAE estimate of -log p(x) per example (Burda et al. 2015, eq. 8 with k samples):
    -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x) drawn independently.

    log w = log p(x|z_K) + log p(z_K) - [log q0(z_0|x) - log|det dz_K/dz_0|] for flow posteriors
    (z_0 = mu + sigma * eps, z_K its image under the model's flows); every density is normalised
    (pythae's losses drop the 2*pi constants, which cancel in a KL but not in a likelihood).
    log p(x|z) = sum over the 784 pixels of the Bernoulli log-probability of the binary pixel
    under the decoder's probabilities, each log clamped at -100 as torch's BCE (pythae's training
    loss) does. The k samples are drawn in chunks folded into a running log-sum-exp (memory
    bounded for any k). Returns (N,) nats."""
    model.eval()
    log_prior = LogPrior(model)
    out = []
    for i in range(0, x.shape[0], batch):
        xb = x[i:i + batch]  # (B, 1, 28, 28)
        B = xb.shape[0]
        e = model.encoder(xb)
        mu, logvar = e.embedding, e.log_covariance  # (B, L)
        flat = xb.reshape(B, -1)
        acc = torch.full((B,), -math.inf)
        chunk = max(1, min(k, rows // B))
        done = 0
        while done < k:
            s = min(chunk, k - done)
            eps = torch.randn(s, B, mu.shape[1], generator=generator)  # (S, B, L)
            z0 = (mu + (0.5 * logvar).exp() * eps).reshape(s * B, -1)
            log_q0 = lk_gauss_logpdf(z0, mu.repeat(s, 1), logvar.repeat(s, 1))  # (S*B,)
            zk, logdet = lk_flow(model, z0)
            probs = model.decoder(zk)["reconstruction"].reshape(s * B, -1)  # (S*B, 784)
            xs = flat.repeat(s, 1)
            log_px = (xs * probs.log().clamp(min=-100) + (1 - xs) * (1 - probs).log().clamp(min=-100)).sum(-1)
            log_w = (log_px + log_prior(zk) - (log_q0 - logdet)).reshape(s, B)
            acc = torch.logaddexp(acc, torch.logsumexp(log_w, 0))
            done += s
        out.append(-(acc - math.log(k)))
    return torch.cat(out)


def lk_check_logdet(model, x: torch.Tensor) -> float:
    """Max |log|det J| reported by the flow - log|det J| of the autograd Jacobian| over 4 draws
    (0 for models without flows); raises when they disagree (the estimate would be wrong)."""
    if type(model).__name__ not in ("VAE_IAF", "VAE_LinNF"):
        return 0.0
    import copy

    model = copy.deepcopy(model).double().eval()  # float64: the check compares formulas, not rounding
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        e = model.encoder(x[:4].double())
        z0s = e.embedding + (0.5 * e.log_covariance).exp() * torch.randn(e.embedding.shape, generator=g, dtype=torch.float64)
    worst = 0.0
    for z0 in z0s:
        jac = torch.autograd.functional.jacobian(lambda v: lk_flow(model, v[None])[0][0], z0)  # (L, L)
        exact = torch.linalg.slogdet(jac)[1]
        with torch.no_grad():
            reported = lk_flow(model, z0[None])[1][0]
        worst = max(worst, float((exact - reported).abs()))
    if not worst < 1e-3:
        raise RuntimeError(f"{type(model).__name__}: the flow's log-det differs from its Jacobian's by {worst:.3g}")
    return worst


@task
def pythae_score_iw(a: dict[str, Any]) -> dict[str, Any]:
    """IW-k NLL (:func:`iw_nll`) of saved pythae weights on the first ``limit`` images of a
    binarised split (the same images `vaekit evaluate` scores); also the k-sample ELBO mean."""
    set_threads(a)
    model = lk_build_pythae(a["model"], a["net"], a.get("hp", {}))
    model.load_state_dict(torch.load(a["weights"], weights_only=True), strict=True)
    model.eval()
    x = lk_arrays(a["data"], a["split"], a.get("limit"))
    logdet_diff = lk_check_logdet(model, x)
    g = torch.Generator().manual_seed(a.get("seed", 0))
    t0 = time.perf_counter()
    nll = iw_nll(model, x, a["k"], generator=g)
    dt = time.perf_counter() - t0
    if not torch.isfinite(nll).all():
        raise RuntimeError(f"non-finite IW NLL for {int((~torch.isfinite(nll)).sum())} images")
    return {"split": a["split"], "nll": float(nll.mean()), "nll_sd_over_images": float(nll.std()), "k": a["k"],
            "n": int(x.shape[0]), "score_s": dt, "logdet_check": logdet_diff,
            "planar_noninvertible_layers": lk_planar_noninvertible(model)}


@task
def vaekit_iw_crosscheck(a: dict[str, Any]) -> dict[str, Any]:
    """The pythae-side estimator :func:`iw_nll` against `vaekit evaluate`'s on one vaekit run with a
    plain Gaussian posterior and N(0, I) prior: both follow Burda et al. 2015, so on the same images
    and k they must agree up to Monte-Carlo noise (independent draws). The run's model is seen
    through pythae's encoder/decoder interface (mean and log-variance of q(z|x); Bernoulli
    probabilities of p(x|z))."""
    set_threads(a)
    import vaekit
    from vaekit.tasks.data import split_data

    run = vaekit.load(a["run"])
    model = run.model.eval()

    class Out(dict):
        __getattr__ = dict.__getitem__

    class VaekitAsPythae(nn.Module):
        def encoder(self, x):
            q = model.encode(x)
            return Out(embedding=q.mean, log_covariance=2 * q.stddev.log())

        def decoder(self, z):
            return Out(reconstruction=model.decode(z).mean)

    x = split_data(run, a["split"])[0][: a["limit"]]
    ours = iw_nll(VaekitAsPythae(), x, a["k"], generator=torch.Generator().manual_seed(1))
    theirs = vaekit.evaluate(run, split=a["split"], k=a["k"], limit=a["limit"], seed=0, write=False)
    return {"split": a["split"], "k": a["k"], "n": int(x.shape[0]), "iw_nll_bench": float(ours.mean()),
            "vaekit_evaluate_nll": float(theirs["nll"]), "diff": float(ours.mean()) - float(theirs["nll"])}


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = TASKS[name](args)
    result.setdefault("peak_rss_mb_self", peak_rss_mb())
    print("RESULT " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
