"""Worker tasks of the sample-quality benchmark (bench/bench_fid.py): pythae 0.1.2's VQVAE with its
PixelCNN sampler and its VAEGAN, trained for a wall-clock budget, their samples, and the scoring of
any sample file in a vaekit feature net's space.

    python bench/worker_fid.py TASK '{"json": "args"}'      # started by bench/harness.py only

The tasks register on bench/worker.py's table and use its ``main`` (one task per process, a
``RESULT {json}`` line last). ``pythae_*`` tasks run in the pythae venv (no vaekit there): they read
the grey splits ``export_splits`` wrote. ``vaekit_*`` tasks run under vaekit's interpreter.

pythae's side is built the way pythae's own MNIST example scripts build these models (28x28 grey
images; ``examples/scripts/configs/mnist``), batch 100:

* VQVAE: ``Encoder/Decoder_ResNet_VQVAE_MNIST`` (a 4x4 grid of 16-d codes), 256 codebook entries,
  commitment 0.25, Adam at lr 1e-3 (the example's base config) - and ``use_ema=True``: without the
  EMA codebook it diverged here (bench_fid.PYTHAE says how). Then pythae's ``PixelCNNSampler``
  (van den Oord et al. 2016) with its defaults (10 layers, kernel 5), fitted on the VQVAE's codes of
  the training images as ``PixelCNNSampler.fit`` does, through pythae's ``BaseTrainer`` (lr 1e-3)
  with the budget callback (``fit`` itself takes no callbacks).
* VAEGAN, setting "mnist": ``Encoder_ResNet_VAE_MNIST``, ``Decoder_ResNet_AE_MNIST``,
  ``Discriminator_Conv_MNIST``, 16-d latent, MSE, adversarial scale 0.8, reconstruction in the
  discriminator's layer 3, margin 0.4, equilibrium 0.68 (the example's config); setting "default":
  pythae's default MLP nets and VAEGAN settings with a 16-d latent. Both with pythae's coupled
  trainer and its defaults (Adam, 1e-4 for encoder, decoder and discriminator).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import worker
from worker import IMAGE, load_split, pythae_budget, set_threads, task

LATENT = 16


def build(model: str, ema: bool = False, net: str = "mnist"):
    """A pythae VQVAE or VAEGAN with the MNIST benchmark nets (see the module docstring); a VAEGAN
    with ``net="default"``: pythae's default MLP encoder, decoder and discriminator and its default
    VAEGAN settings, latent 16."""
    import pythae.models as pm
    from pythae.models.nn.benchmarks import mnist

    if model == "VQVAE":
        cfg = pm.VQVAEConfig(input_dim=IMAGE, latent_dim=LATENT, commitment_loss_factor=0.25,
                             quantization_loss_factor=1.0, num_embeddings=256, use_ema=ema)
        return pm.VQVAE(cfg, encoder=mnist.Encoder_ResNet_VQVAE_MNIST(cfg), decoder=mnist.Decoder_ResNet_VQVAE_MNIST(cfg))
    if model == "VAEGAN" and net == "default":
        return pm.VAEGAN(pm.VAEGANConfig(input_dim=IMAGE, latent_dim=LATENT))
    if model == "VAEGAN":
        cfg = pm.VAEGANConfig(input_dim=IMAGE, latent_dim=LATENT, reconstruction_loss="mse", adversarial_loss_scale=0.8,
                              reconstruction_layer=3, margin=0.4, equilibrium=0.68)
        return pm.VAEGAN(cfg, encoder=mnist.Encoder_ResNet_VAE_MNIST(cfg), decoder=mnist.Decoder_ResNet_AE_MNIST(cfg),
                         discriminator=mnist.Discriminator_Conv_MNIST(cfg))
    raise ValueError(f"unknown pythae model {model!r}")


def train_for(model, train_set, eval_set, budget: float, cfg, *, trainer_cls=None) -> dict[str, Any]:
    """pythae's trainer until ``budget`` seconds are spent, cut at the first training step past it
    (``worker.pythae_budget(hard=True)``: pythae's VAEGAN with the MNIST nets needs ~17 min for one
    epoch of Fashion-MNIST on 2 cores). The model kept: the best on validation (pythae's
    ``_best_model``) if an epoch finished, else the weights as they stand when time ran out; and
    those last weights too (``"last"``): for a VAEGAN, pythae's validation loss mixes in the
    adversarial terms, so which of the two samples better is screened on validation FID."""
    callback, epochs, spent = pythae_budget(budget, hard=True)
    if trainer_cls is None:
        from pythae.pipelines import TrainingPipeline

        run = TrainingPipeline(model=model, training_config=cfg)
        go = lambda: run(train_data=train_set, eval_data=eval_set, callbacks=[callback])  # noqa: E731
        get_trainer = lambda: run.trainer  # noqa: E731
    else:
        trainer = trainer_cls(model=model, train_dataset=train_set, eval_dataset=eval_set, training_config=cfg,
                              callbacks=[callback])
        go, get_trainer = trainer.train, (lambda: trainer)
    stopped = False
    try:
        go()
    except spent:
        stopped = True
    last = get_trainer().model
    best = getattr(get_trainer(), "_best_model", None)
    kept = "best on validation"
    if best is None:
        best, kept = last, "last weights (no epoch finished)"
    return {"model": best, "last": last, "epochs": epochs, "stopped_by_budget": stopped, "kept": kept,
            "train_s": epochs[-1].get("elapsed_s") if epochs else None}


def vq_codes(model, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """The VQVAE's code indices of images x (N, 1, 28, 28): (N, 1, 4, 4) as floats, the layout
    pythae's PixelCNN takes (``PixelCNNSampler.fit`` builds the same)."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model({"data": x[i : i + batch]}).quantized_indices.float() for i in range(0, len(x), batch)])


@task
def pythae_fid_train(a: dict[str, Any]) -> dict[str, Any]:
    """Train pythae's ``a["model"]`` (VQVAE: then its PixelCNN prior) for ``a["budget"]`` seconds
    in all (VQVAE: ``a["share"]`` of it for the VQVAE, the rest for the PixelCNN, as vaekit's VQ
    candidate splits it) on the grey training images; saves the models with ``torch.save``."""
    set_threads(a)
    t0 = time.perf_counter()
    from pythae.data.preprocessors import DataProcessor
    from pythae.trainers import BaseTrainer, BaseTrainerConfig, CoupledOptimizerAdversarialTrainerConfig

    x_train = load_split(a["data"], "train", a.get("limit"))  # (N, 1, 28, 28) in [0, 1]
    x_val = load_split(a["data"], "val", a.get("val_limit"))
    torch.manual_seed(a["seed"])
    model = build(a["model"], ema=bool(a.get("ema")), net=a.get("net", "mnist"))
    with tempfile.TemporaryDirectory() as tmp:
        common = dict(output_dir=tmp, num_epochs=100_000, per_device_train_batch_size=100, per_device_eval_batch_size=100,
                      no_cuda=True, seed=a["seed"], steps_saving=None)
        if a["model"] == "VAEGAN":
            stage = train_for(model, x_train, x_val, a["budget"], CoupledOptimizerAdversarialTrainerConfig(**common))
            saved, stages = {"model": stage["model"], "last": stage["last"]}, {"vaegan": stage}
        else:
            first = train_for(model, x_train, x_val, a["budget"] * a["share"], BaseTrainerConfig(**common, learning_rate=a.get("lr", 1e-3)))
            from pythae.samplers import PixelCNNSampler, PixelCNNSamplerConfig

            vq = first["model"]
            sampler = PixelCNNSampler(vq, PixelCNNSamplerConfig())
            proc = DataProcessor()
            codes_train, codes_val = (proc.to_dataset(vq_codes(vq, x)) for x in (x_train, x_val))
            second = train_for(sampler.pixelcnn_model, codes_train, codes_val, a["budget"] * (1 - a["share"]),
                               BaseTrainerConfig(**common, learning_rate=1e-3), trainer_cls=BaseTrainer)
            saved, stages = {"model": vq, "pixelcnn": second["model"]}, {"vqvae": first, "pixelcnn": second}
    os.makedirs(a["out"], exist_ok=True)
    tmp_file = os.path.join(a["out"], "models.pt.tmp")
    torch.save(saved, tmp_file)
    os.replace(tmp_file, os.path.join(a["out"], "models.pt"))
    import pythae

    return {"stages": {k: {"n_epochs": sum(1 for e in v["epochs"] if not e.get("partial")), "train_s": v["train_s"],
                           "stopped_by_budget": v["stopped_by_budget"], "kept": v["kept"], "epochs": v["epochs"]}
                       for k, v in stages.items()},
            "train_s": sum(v["train_s"] or 0.0 for v in stages.values()), "until_trained_s": time.perf_counter() - t0,
            "n_train": int(x_train.shape[0]), "pythae_version": getattr(pythae, "__version__", None),
            "torch_threads": torch.get_num_threads()}


@task
def pythae_fid_sample(a: dict[str, Any]) -> dict[str, Any]:
    """``a["n"]`` samples of a trained run (seeded) as float32 (n, 1, 28, 28) in [0, 1] to ``a["out"]``
    (.npy): the decoder's output (pythae's decoders end in a sigmoid), as vaekit's decoder means;
    ``a["keep"]``: "best" (best on validation, default) or "last" (the weights when time ran out)."""
    import numpy as np

    set_threads(a)
    saved = torch.load(os.path.join(a["run"], "models.pt"), weights_only=False)
    model = saved["last" if a.get("keep") == "last" else "model"].eval()
    torch.manual_seed(a["seed"])
    t0 = time.perf_counter()
    with torch.no_grad():
        if "pixelcnn" in saved:
            from pythae.samplers import PixelCNNSampler, PixelCNNSamplerConfig

            sampler = PixelCNNSampler(model, PixelCNNSamplerConfig())
            sampler.pixelcnn_model, sampler.is_fitted = saved["pixelcnn"].eval(), True
            if not callable(model.quantizer.embeddings):
                # pythae 0.1.2's sampler looks codes up with the plain quantizer's nn.Embedding; the EMA
                # quantizer keeps its codebook as a tensor (K, D): give the sampler the same table as a lookup.
                from types import SimpleNamespace

                table = torch.nn.Embedding.from_pretrained(model.quantizer.embeddings.detach().clone())
                sampler.model = SimpleNamespace(quantizer=SimpleNamespace(embeddings=table), decoder=model.decoder)
            x = sampler.sample(num_samples=a["n"], batch_size=500)
        else:
            from pythae.samplers import NormalSampler

            x = NormalSampler(model).sample(num_samples=a["n"], batch_size=500)
    x = x.detach().float().clamp(0, 1).reshape(-1, *IMAGE).numpy()
    tmp = a["out"] + ".tmp.npy"
    np.save(tmp, x)
    os.replace(tmp, a["out"])
    return {"n": int(x.shape[0]), "sample_s": time.perf_counter() - t0}


@task
def vaekit_fid_samples(a: dict[str, Any]) -> dict[str, Any]:
    """FID / precision / recall of the samples in ``a["samples"]`` (.npy) against a split of the
    feature-net classifier run's data (``vaekit.tasks.fid.score_samples``); with ``a["grid"]``, the
    first 64 samples as a PNG grid."""
    import numpy as np
    import vaekit
    from vaekit.artifacts.images import save_grid
    from vaekit.tasks.data import split_data
    from vaekit.tasks.fid import score_samples

    set_threads(a)
    feature_run = vaekit.load(a["feature_net"])
    real, _ = split_data(feature_run, a["split"])
    fake = torch.from_numpy(np.load(a["samples"]))
    m = score_samples(fake, real, feature_run)
    if a.get("grid"):
        save_grid(fake[:64], Path(a["grid"]), nrow=8)
    return {**{k: m[k] for k in ("fid", "precision", "recall", "n_generated", "n_real")}, "split": a["split"]}


if __name__ == "__main__":
    worker.main()
