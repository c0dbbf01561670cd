"""Mixed precision (bf16 autocast; fp16 with a gradient scaler) and the opt-in torch.compile
path train on the CPU and stay close to fp32 / eager."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from vaekit.api import resolve_config
from vaekit.training import fit

TINY = ["data.limit=256", "model.net.hidden=[32]", "model.latent_dim=4", "train.threads=1", "train.batch_size=64"]


def _run(tmp_path: Path, name: str, extra: list[str], epochs: int = 2) -> list[dict]:
    cfg = resolve_config("vae", epochs=epochs, overrides=TINY + extra)
    fit(cfg, tmp_path / name, progress=False)
    return [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_close_to_fp32(tmp_path: Path, precision: str) -> None:
    ref = _run(tmp_path, "fp32", [])
    mixed = _run(tmp_path, precision, [f"train.precision={precision}"])
    for a, b in zip(ref, mixed):
        assert math.isfinite(b["train_loss"]) and math.isfinite(b["val_loss"])
        # bf16 keeps 8 mantissa bits: per-epoch losses of a 2-epoch run agree to a few percent.
        assert abs(a["val_loss"] - b["val_loss"]) < 0.05 * a["val_loss"], (a, b)
    assert mixed[-1]["val_loss"] < mixed[0]["val_loss"] + 1.0


def test_autocast_keeps_log_likelihoods_in_fp32() -> None:
    from vaekit.models import build_model

    from vaekit.core.build import BuildContext

    cfg = resolve_config("vae", overrides=TINY)
    model = build_model(cfg.model, BuildContext(shape=(1, 8, 8)))
    x = torch.rand(5, 1, 8, 8).round()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        log_px = out.log_px(x)
    assert log_px.dtype == torch.float32
    assert out.latents[0].q.mean.dtype == torch.float32


def test_compiled_nets_match_eager(tmp_path: Path) -> None:
    from vaekit.models import build_model

    from vaekit.core.build import BuildContext

    cfg = resolve_config("vae", overrides=TINY)
    torch.manual_seed(0)
    model = build_model(cfg.model, BuildContext(shape=(1, 8, 8)))
    x = torch.rand(16, 1, 8, 8).round()
    eager = model.decode(model.encode(x).mean).mean
    model.encoder.compile()
    model.decoder.compile()
    compiled = model.decode(model.encode(x).mean).mean
    assert torch.allclose(eager, compiled, atol=1e-5)
    # Compiling in place keeps the state-dict keys, so checkpoints stay loadable by eager models.
    assert all("_orig_mod" not in k for k in model.state_dict())
